// SPDX-License-Identifier: GPL-2.0
/* Fixture: a map whose size is left to user space (max_entries 0), as
 * xdp-tools' xdp-bench programs leave theirs: the loader refuses it, naming
 * the map, until --max-entries flows=N gives the size. */
#include "../common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 0);
	__type(key, __u32);
	__type(value, __u64);
} flows SEC(".maps");

SEC("xdp")
int xdp_sized_by_user(struct xdp_md *ctx)
{
	__u32 in = ctx->ingress_ifindex;

	if (bpf_map_lookup_elem(&flows, &in))
		return count(ctx, XDP_PASS);
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
