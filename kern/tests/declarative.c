// SPDX-License-Identifier: GPL-2.0
/* Fixture: libbpf's declarative prog-array initialisation (slots come from
 * the .rel.maps relocations), two prog arrays, LIBBPF_PIN_BY_NAME, and global
 * data in .rodata, .data and .bss. Chain:
 *   classify --stages[start_slot = 3]--> stage_a --more[0]--> stage_b: pass_verdict
 * more[1] holds stage_drop, for tests that point the chain at it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDP_REDIRECT + 1);
	__type(key, __u32);
	__type(value, struct { __u64 rx_packets; __u64 rx_bytes; });
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats_map SEC(".maps");

#define XDP_OWN_STATS_MAP
#include "../common.h"

const volatile __u32 pass_verdict = XDP_PASS; /* .rodata */
__u32 start_slot = 3;                         /* .data */
__u64 chain_runs;                             /* .bss */

int stage_a(struct xdp_md *ctx);
int stage_b(struct xdp_md *ctx);
int stage_drop(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, int (void *));
} stages SEC(".maps") = {
	.values = { [3] = (void *)&stage_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} more SEC(".maps") = {
	.values = { [0] = (void *)&stage_b, [1] = (void *)&stage_drop },
};

SEC("xdp")
int classify(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &stages, start_slot);
	return count(ctx, XDP_ABORTED);
}

SEC("xdp")
int stage_a(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &more, 0);
	return count(ctx, XDP_ABORTED);
}

SEC("xdp")
int stage_b(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&chain_runs, 1);
	return count(ctx, pass_verdict);
}

SEC("xdp")
int stage_drop(struct xdp_md *ctx)
{
	return count(ctx, XDP_DROP);
}

char _license[] SEC("license") = "GPL";
