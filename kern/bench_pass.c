// SPDX-License-Identifier: GPL-2.0
/* Reference receiver for scripts/bench.sh, as xdp-bench's `pass`: count the
 * frame (the per-CPU stats_map every program here has) and pass it. */
#include "common.h"

SEC("xdp.frags")
int xdp_bench_pass(struct xdp_md *ctx)
{
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
