// SPDX-License-Identifier: GPL-2.0
/* Reference receiver for scripts/bench.sh, as xdp-bench's `drop`: count the
 * frame and drop it. */
#include "common.h"

SEC("xdp.frags")
int xdp_bench_drop(struct xdp_md *ctx)
{
	return count(ctx, XDP_DROP);
}

char _license[] SEC("license") = "GPL";
