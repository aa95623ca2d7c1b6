// SPDX-License-Identifier: GPL-2.0
/* Reference for scripts/bench.sh: the skeleton's chain with nothing in it.
 * An entry and two stages joined by tail calls through jmp_map (slots 1 and
 * 2, filled by the loader's naming rule), the last one counting the frame
 * and passing it. The skeleton's cost minus this one is what its parsing and
 * checks cost; this one minus the empty program is what the chain costs. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jmp_map SEC(".maps");

SEC("xdp.frags")
int xdp_bench_chain(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp_map, 1);
	return count(ctx, XDP_ABORTED);
}

SEC("xdp.frags")
int xdp_bench_chain_1(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp_map, 2);
	return count(ctx, XDP_ABORTED);
}

SEC("xdp.frags")
int xdp_bench_chain_2(struct xdp_md *ctx)
{
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
