// SPDX-License-Identifier: GPL-2.0
/* Fixture: a program calling a function another object was meant to define
 * (compiled alone, never linked). aya loaded the call into nothing and the
 * verifier said "the call stack of 9 frames is too deep"; the loader names
 * the missing function instead, and inspect predicts it. */
#include "../common.h"

extern int classify(struct xdp_md *ctx);

SEC("xdp")
int xdp_calls_elsewhere(struct xdp_md *ctx)
{
	return count(ctx, classify(ctx) ? XDP_DROP : XDP_PASS);
}

char _license[] SEC("license") = "GPL";
