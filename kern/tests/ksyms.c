// SPDX-License-Identifier: GPL-2.0
/* Fixture: kernel symbols as libbpf resolves them (issue 27), beside a
 * kfunc-free program:
 * - a typed ksym (`extern const int bpf_prog_active __ksym`): vmlinux's BTF
 *   VAR, read per CPU through bpf_this_cpu_ptr(), as the kernel's selftest
 *   test_ksyms_btf does;
 * - an untyped ksym (`extern const void bpf_prog_put __ksym`): its address
 *   from /proc/kallsyms, only checked to be a kernel address (top bit set);
 * - a __weak typed ksym no kernel has, whose address reads 0.
 * Every frame passes when both resolved, and is dropped otherwise. */
#include "../common.h"

extern const int bpf_prog_active __ksym;
extern const void bpf_prog_put __ksym;
extern const int bpf_xdploader_made_up_var __ksym __weak;

SEC("xdp")
int xdp_ksyms(struct xdp_md *ctx)
{
	const int *active = bpf_this_cpu_ptr(&bpf_prog_active);

	if (&bpf_xdploader_made_up_var)
		return count(ctx, XDP_ABORTED);
	if (!((__u64)&bpf_prog_put >> 63))
		return count(ctx, XDP_DROP);
	/* XDP does not run inside a tracing program here: 0 on this CPU. */
	if (*active > 1000)
		return count(ctx, XDP_DROP);
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
