// SPDX-License-Identifier: GPL-2.0
/* Fixture: reads the packet without a bounds check, which the verifier refuses. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_unchecked(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;

	return data[100] ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
