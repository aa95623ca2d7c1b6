// SPDX-License-Identifier: GPL-2.0
/* Fixture (verifier explanation): a map value used without the NULL check
 * bpf_map_lookup_elem's result needs. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counter SEC(".maps");

SEC("xdp")
int xdp_no_null_check(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&counter, &key);

	*value += 1;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
