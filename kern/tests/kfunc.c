// SPDX-License-Identifier: GPL-2.0
/* Fixture: a program calling kfuncs (extern … __ksym), the XDP RX metadata
 * kfuncs of Linux 6.3+. aya 0.14 cannot load such an object ("Unable to
 * determine the size of section .ksyms"): the loader refuses it, naming
 * each kfunc, before the kernel is asked. */
#include "../common.h"

extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp) __ksym;
extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash, int *rss_type) __ksym;

SEC("xdp")
int xdp_rx_metadata(struct xdp_md *ctx)
{
	__u64 ts = 0;
	__u32 hash = 0;
	int type = 0;

	bpf_xdp_metadata_rx_timestamp(ctx, &ts);
	bpf_xdp_metadata_rx_hash(ctx, &hash, &type);
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
