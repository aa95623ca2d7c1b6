// SPDX-License-Identifier: GPL-2.0
/* Fixture: XDP_PASS in a plain "xdp" section (not frags-aware), so native
 * mode on a veth with MTU 9000 is refused by the kernel. */
#include "../common.h"

SEC("xdp")
int xdp_pass_nofrags(struct xdp_md *ctx)
{
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
