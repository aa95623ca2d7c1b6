// SPDX-License-Identifier: GPL-2.0
/* Reference for scripts/bench.sh: an object of 32 programs, an entry and 31
 * stages chained by tail calls through slots 1..31 of jmp_map (the loader's
 * naming rule fills them), to measure what each extra program costs a load.
 * The last stage counts the frame and passes it. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u32);
} jmp_map SEC(".maps");

#define STAGE(n, next)                                                         \
	SEC("xdp.frags")                                                       \
	int xdp_chain32_##n(struct xdp_md *ctx)                                \
	{                                                                      \
		bpf_tail_call(ctx, &jmp_map, next);                            \
		return count(ctx, XDP_ABORTED);                                \
	}

SEC("xdp.frags")
int xdp_chain32(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp_map, 1);
	return count(ctx, XDP_ABORTED);
}

STAGE(1, 2)
STAGE(2, 3)
STAGE(3, 4)
STAGE(4, 5)
STAGE(5, 6)
STAGE(6, 7)
STAGE(7, 8)
STAGE(8, 9)
STAGE(9, 10)
STAGE(10, 11)
STAGE(11, 12)
STAGE(12, 13)
STAGE(13, 14)
STAGE(14, 15)
STAGE(15, 16)
STAGE(16, 17)
STAGE(17, 18)
STAGE(18, 19)
STAGE(19, 20)
STAGE(20, 21)
STAGE(21, 22)
STAGE(22, 23)
STAGE(23, 24)
STAGE(24, 25)
STAGE(25, 26)
STAGE(26, 27)
STAGE(27, 28)
STAGE(28, 29)
STAGE(29, 30)
STAGE(30, 31)

SEC("xdp.frags")
int xdp_chain32_31(struct xdp_md *ctx)
{
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
