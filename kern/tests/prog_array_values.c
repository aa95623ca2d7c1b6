// SPDX-License-Identifier: GPL-2.0
/* Fixture: a prog array declared as libbpf's examples declare it, with
 * `__array(values, int (void *))` and no initialiser: aya 0.14 reads any
 * `values` member as a map-in-map's inner map and refused the object
 * ("unexpected BTF type id"). The slot is filled with --tail jmp:0=next. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (void *));
} jmp SEC(".maps");

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp, 0);
	return XDP_DROP;
}

SEC("xdp")
int next(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
