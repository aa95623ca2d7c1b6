// SPDX-License-Identifier: GPL-2.0
/* Fixture: a devmap with __u32 values named tx_port, as the kernel's
 * samples/bpf/xdp_redirect_map and most tutorials declare it. aya 0.14
 * creates DEVMAP/CPUMAP values 8 bytes wide whatever the object says, and
 * bpftool, iproute2 and the program's own user space then fail to write
 * them ("value expected 8 bytes got 4"): the loader creates it as declared.
 * Not named if_redirect, so the loader fills it only with --devmap tx_port. */
#include "../common.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} tx_port SEC(".maps");

SEC("xdp")
int xdp_redirect_map_u32(struct xdp_md *ctx)
{
	__u32 in = ctx->ingress_ifindex;

	/* Frames from an interface in the map pass (counted); the rest too. */
	if (bpf_map_lookup_elem(&tx_port, &in))
		return count(ctx, XDP_PASS);
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
