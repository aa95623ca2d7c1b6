// SPDX-License-Identifier: GPL-2.0
/* Fixture: another tool's program, as the tests attach it with `ip link set
 * dev X xdpgeneric obj` (testkit's attach_netlink_generic): XDP_PASS in a
 * plain "xdp" section with no maps and no helpers, which every kernel with
 * XDP loads (an xdp.frags one would need 5.18). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_other_tool(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
