// SPDX-License-Identifier: GPL-2.0
/* Fixture: the map layout of goebpf (github.com/dropbox/goebpf), which the
 * Go original of this project used: 40-byte entries in SEC("maps") whose
 * persistent_path pointer is relocated (.relmaps) to a string; the map must
 * be pinned at that path. Chain: skeleton tail-calls slot 1 of "programs". */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* goebpf bpf_helpers.h */
struct bpf_map_def {
	__u32 map_type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
	void *inner_map_def;         /* map-in-map template */
	const char *persistent_path; /* pin here */
};
#define BPF_MAP_DEF(x) struct bpf_map_def SEC("maps") x

BPF_MAP_DEF(stats_map) = {
	.map_type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = 2 * sizeof(__u64), /* struct datarec */
	.max_entries = XDP_REDIRECT + 1,
	.persistent_path = "/sys/fs/bpf/goebpf_fixture/stats_map",
};

BPF_MAP_DEF(programs) = {
	.map_type = BPF_MAP_TYPE_PROG_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 4,
};

#define XDP_OWN_STATS_MAP
#include "../common.h"

SEC("xdp")
int skeleton(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &programs, 1);
	return count(ctx, XDP_ABORTED);
}

SEC("xdp")
int skeleton_1(struct xdp_md *ctx)
{
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
