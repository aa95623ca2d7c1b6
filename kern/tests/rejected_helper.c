// SPDX-License-Identifier: GPL-2.0
/* Fixture (verifier explanation): a helper of tc programs, which an XDP
 * program may not call (bpf_xdp_load_bytes is XDP's). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_wrong_helper(struct xdp_md *ctx)
{
	char head[4];

	if (bpf_skb_load_bytes(ctx, 0, head, sizeof(head)) < 0)
		return XDP_DROP;
	return head[0] ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
