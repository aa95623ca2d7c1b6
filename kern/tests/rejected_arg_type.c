// SPDX-License-Identifier: GPL-2.0
/* Fixture (verifier explanation): a helper given the wrong kind of argument:
 * a number where bpf_map_lookup_elem wants a map. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_bad_arg(struct xdp_md *ctx)
{
	__u32 key = 0;
	void *not_a_map = (void *)(long)ctx->ingress_ifindex;

	return bpf_map_lookup_elem(not_a_map, &key) ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
