// SPDX-License-Identifier: GPL-2.0
/* Fixture: an entry that tail-calls slots 3 and 5 of jmp_map, two XDP
 * programs no rule puts there (their names do not say parse_<N>), and an
 * xdp/devmap program, which runs from a devmap entry and is never the
 * entry. The loader must say which programs are left out and which flags
 * would place them. */
#include "../common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} jmp_map SEC(".maps");

SEC("xdp")
int parse(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp_map, 3);
	bpf_tail_call(ctx, &jmp_map, 5);
	return count(ctx, XDP_PASS);
}

SEC("xdp")
int filter_v4(struct xdp_md *ctx)
{
	return count(ctx, XDP_PASS);
}

SEC("xdp")
int filter_v6(struct xdp_md *ctx)
{
	return count(ctx, XDP_PASS);
}

SEC("xdp/devmap")
int on_egress(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
