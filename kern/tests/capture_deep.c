// SPDX-License-Identifier: GPL-2.0
/* Fixture for `xdploader capture`: a chain 17 tail calls deep (deep_entry,
 * then deep_1 … deep_17, each calling the next slot). 17 tail calls are
 * fine; with a recorder before every stage a frame would make 35, over the
 * kernel's 33, so a capture must refuse it and change nothing. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 18);
	__type(key, __u32);
	__type(value, __u32);
} deep SEC(".maps");

SEC("xdp")
int deep_entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &deep, 1);
	return XDP_ABORTED;
}

#define STAGE(n, next)                                   \
	SEC("xdp")                                       \
	int deep_##n(struct xdp_md *ctx)                 \
	{                                                \
		bpf_tail_call(ctx, &deep, next);         \
		return XDP_PASS;                         \
	}

STAGE(1, 2) STAGE(2, 3) STAGE(3, 4) STAGE(4, 5) STAGE(5, 6) STAGE(6, 7)
STAGE(7, 8) STAGE(8, 9) STAGE(9, 10) STAGE(10, 11) STAGE(11, 12)
STAGE(12, 13) STAGE(13, 14) STAGE(14, 15) STAGE(15, 16) STAGE(16, 17)

SEC("xdp")
int deep_17(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
