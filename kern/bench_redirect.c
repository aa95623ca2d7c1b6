// SPDX-License-Identifier: GPL-2.0
/* Reference for scripts/bench.sh, as xdp-bench's `redirect-map`: count the
 * frame and redirect it, unchanged, to the interface in slot 0 of
 * bench_egress (bench.sh writes its ifindex there) through the if_redirect
 * devmap the loader fills. No FIB lookup, no rewrite: what the router
 * (kern/redirect.c) costs beyond this is its own. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} if_redirect SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bench_egress SEC(".maps");

SEC("xdp.frags")
int xdp_bench_redirect(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u32 *egress = bpf_map_lookup_elem(&bench_egress, &zero);

	if (!egress)
		return count(ctx, XDP_ABORTED);
	return count(ctx, bpf_redirect_map(&if_redirect, *egress, 0));
}

char _license[] SEC("license") = "GPL";
