// SPDX-License-Identifier: GPL-2.0
/* Fixture: a map the kernel refuses to create: an array's key must be 4
 * bytes, this one declares 8. The load must name the map once and say the
 * cause, not "map error: failed to create map `wide_key`: EINVAL". */
#include "../common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u64);
	__type(value, __u32);
} wide_key SEC(".maps");

SEC("xdp")
int xdp_bad_map(struct xdp_md *ctx)
{
	__u64 key = 0;

	if (bpf_map_lookup_elem(&wide_key, &key))
		return count(ctx, XDP_DROP);
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
