// SPDX-License-Identifier: GPL-2.0
/* A user object with an array devmap, as samples/bpf's xdp_redirect_map has:
 * indexed by ifindex, so it holds only interfaces whose ifindex is below its
 * max_entries. The loader must refuse a larger ifindex with a clear error,
 * before anything is loaded. */
#include "../common.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} if_redirect SEC(".maps");

SEC("xdp")
int xdp_redirect_array(struct xdp_md *ctx)
{
	return count(ctx, bpf_redirect_map(&if_redirect, ctx->ingress_ifindex, XDP_PASS));
}

char _license[] SEC("license") = "GPL";
