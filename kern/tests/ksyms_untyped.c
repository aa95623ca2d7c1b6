// SPDX-License-Identifier: GPL-2.0
/* Fixture: the kernel symbols of tests/ksyms.c that every kernel can give
 * (no CONFIG_KALLSYMS_ALL needed): an untyped ksym, a function's address
 * from kallsyms, and a __weak typed one no kernel has, which reads 0. */
#include "../common.h"

extern const void bpf_prog_put __ksym;
extern const int bpf_xdploader_made_up_var __ksym __weak;

SEC("xdp")
int xdp_ksyms_untyped(struct xdp_md *ctx)
{
	if (&bpf_xdploader_made_up_var)
		return count(ctx, XDP_ABORTED);
	/* A kernel address: the top bit set. */
	if (!((__u64)&bpf_prog_put >> 63))
		return count(ctx, XDP_DROP);
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
