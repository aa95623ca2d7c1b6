// SPDX-License-Identifier: GPL-2.0
/* Reference for scripts/bench.sh, as xdp-bench's `tx` with MACs swapped:
 * count the frame and send it back out of the interface it came in by. The
 * least an XDP_TX responder (kern/echo.c) can do per frame. */
#include "common.h"

SEC("xdp.frags")
int xdp_bench_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	unsigned char mac[ETH_ALEN];

	if ((void *)(eth + 1) > data_end)
		return count(ctx, XDP_DROP);
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	return count(ctx, XDP_TX);
}

char _license[] SEC("license") = "GPL";
