// SPDX-License-Identifier: GPL-2.0
/* Fixture: libbpf <= 0.x legacy maps (struct bpf_map_def in SEC("maps"),
 * removed in libbpf 1.0) with the "xdp/<name>" section names of older
 * tutorials. Chain: firewall tail-calls slot 1 of jmp_map, firewall_1 passes. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The libbpf 0.x layout: five u32, 20 bytes. */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") stats_map = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = 2 * sizeof(__u64), /* struct datarec */
	.max_entries = XDP_REDIRECT + 1,
};

struct bpf_map_def SEC("maps") jmp_map = {
	.type = BPF_MAP_TYPE_PROG_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 8,
};

#define XDP_OWN_STATS_MAP
#include "../common.h"

SEC("xdp/firewall_1")
int firewall_1(struct xdp_md *ctx)
{
	return count(ctx, XDP_PASS);
}

SEC("xdp/firewall")
int firewall(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp_map, 1);
	return count(ctx, XDP_ABORTED);
}

char _license[] SEC("license") = "GPL";
