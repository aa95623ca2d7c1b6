// SPDX-License-Identifier: GPL-2.0
/* Fixture: a plain array "initialised" with a map, which libbpf refuses too
 * ("should be map-in-map or prog-array"): inspect names the map. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct inner);
} not_outer SEC(".maps") = {
	.values = { [0] = &inner },
};

SEC("xdp")
int pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
