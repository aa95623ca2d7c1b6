// SPDX-License-Identifier: GPL-2.0
/* Fixture: a plain "xdp" section beside one aya renames to "xdp"
 * (xdp_stage). aya 0.14 looks BTF.ext line info up by section name, so the
 * renamed program was handed the plain one's source lines (wrong lines, or
 * the verifier's "Invalid insn code at line_info[N].insn_off"). Built with
 * -g, with bounds checks, so both have line info to confuse. */
#include "../common.h"
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u32); } jmp_map SEC(".maps");
SEC("xdp")
int xdp_mixed(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (data + 14 > end)
		return count(ctx, XDP_DROP);
	bpf_tail_call(ctx, &jmp_map, 1);
	return count(ctx, XDP_ABORTED);
}
SEC("xdp_stage")
int xdp_mixed_1(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (data + 34 > end)
		return count(ctx, XDP_DROP);
	return count(ctx, XDP_PASS);
}
char _license[] SEC("license") = "GPL";
