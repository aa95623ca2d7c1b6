// SPDX-License-Identifier: GPL-2.0
/* Fixture: iproute2's struct bpf_elf_map in SEC("maps") with PIN_GLOBAL_NS
 * (iproute2 pins it at <bpffs>/tc/globals/<name>, and so must we, for tc
 * programs to share it), and "xdp_<name>" section names. Chain: ingress
 * tail-calls slot 2 of the prog array "tails", ingress_2 passes. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* iproute2 include/bpf_elf.h: nine u32, 36 bytes. */
struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
	__u32 inner_id;
	__u32 inner_idx;
};

#define PIN_NONE 0
#define PIN_OBJECT_NS 1
#define PIN_GLOBAL_NS 2

struct bpf_elf_map SEC("maps") stats_map = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = 2 * sizeof(__u64), /* struct datarec */
	.max_elem = XDP_REDIRECT + 1,
	.pinning = PIN_GLOBAL_NS,
};

struct bpf_elf_map SEC("maps") tails = {
	.type = BPF_MAP_TYPE_PROG_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 4,
	.pinning = PIN_NONE,
};

#define XDP_OWN_STATS_MAP
#include "../common.h"

SEC("xdp_ingress")
int ingress(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &tails, 2);
	return count(ctx, XDP_ABORTED);
}

SEC("xdp_ingress_2")
int ingress_2(struct xdp_md *ctx)
{
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
