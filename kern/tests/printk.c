// SPDX-License-Identifier: GPL-2.0
/* Fixture: a program that says what it sees with bpf_printk, as users
 * debug theirs; `xdploader tracelog` shows it. */
#include "../common.h"

SEC("xdp")
int printk_pass(struct xdp_md *ctx)
{
	bpf_printk("xdp-skeleton printk: frame on ifindex %u", ctx->ingress_ifindex);
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
