// SPDX-License-Identifier: GPL-2.0
/* Fixture: an LPM trie in goebpf's 40-byte map layout, without
 * BPF_F_NO_PREALLOC: goebpf adds that flag to every LPM trie itself, so its
 * programs never set it, and the kernel refuses an LPM trie without it
 * (EINVAL). The loader adds it, as goebpf does, and says so. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	__u32 map_type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
	void *inner_map_def;
	const char *persistent_path;
};
#define BPF_MAP_DEF(x) struct bpf_map_def SEC("maps") x

struct lpm_v4_key {
	__u32 prefixlen;
	__u32 addr;
};

BPF_MAP_DEF(blocklist) = {
	.map_type = BPF_MAP_TYPE_LPM_TRIE,
	.key_size = sizeof(struct lpm_v4_key),
	.value_size = sizeof(__u32),
	.max_entries = 256,
};

BPF_MAP_DEF(stats_map) = {
	.map_type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = 2 * sizeof(__u64),
	.max_entries = XDP_REDIRECT + 1,
};

#define XDP_OWN_STATS_MAP
#include "../common.h"

SEC("xdp")
int xdp_lpm_filter(struct xdp_md *ctx)
{
	struct lpm_v4_key key = { .prefixlen = 32, .addr = 0 };

	/* A real filter parses the source address; a lookup is enough to use the trie. */
	if (bpf_map_lookup_elem(&blocklist, &key))
		return count(ctx, XDP_DROP);
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
