// SPDX-License-Identifier: GPL-2.0
/* Fixture: section names as the old samples/bpf loader (bpf_load.c) took
 * them, any section starting with "xdp" being an XDP program: SEC("xdp1")
 * and SEC("xdp_prog"), with a tc program in the same object, which a
 * loader of XDP programs lists and skips. Chain: xdp1 tail-calls slot 1. */
#include "../common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jmp_map SEC(".maps");

SEC("xdp1")
int xdp_entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp_map, 1);
	return count(ctx, XDP_ABORTED);
}

SEC("xdp_prog")
int xdp_entry_1(struct xdp_md *ctx)
{
	return count(ctx, XDP_PASS);
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	return 0;
}

char _license[] SEC("license") = "GPL";
