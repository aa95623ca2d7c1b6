// SPDX-License-Identifier: GPL-2.0
/* Fixture: a program written as XDP programs are today, with kfuncs
 * (extern … __ksym) that libbpf links and aya 0.14 does not: it reads the
 * Ethernet header through an XDP dynptr (bpf_dynptr_from_xdp and
 * bpf_dynptr_slice, vmlinux kfuncs of Linux 6.3+), and calls a __weak kfunc
 * no kernel has only where bpf_ksym_exists() says it is there, so one
 * object runs on kernels with and without it. */
#include "../common.h"

extern int bpf_dynptr_from_xdp(struct xdp_md *xdp, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *ptr, __u32 offset,
			      void *buffer, __u32 buffer__szk) __ksym;
extern int bpf_xdploader_made_up(struct xdp_md *xdp) __ksym __weak;

/* libbpf 1.2's bpf_helpers.h has it; Debian 12's 1.1 does not. */
#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) (!!(sym))
#endif

SEC("xdp")
int xdp_dynptr_eth(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr;
	struct ethhdr copy, *eth;

	if (bpf_ksym_exists(bpf_xdploader_made_up) && bpf_xdploader_made_up(ctx))
		return count(ctx, XDP_DROP);
	if (bpf_dynptr_from_xdp(ctx, 0, &ptr))
		return count(ctx, XDP_ABORTED);
	eth = bpf_dynptr_slice(&ptr, 0, &copy, sizeof(copy));
	if (!eth)
		return count(ctx, XDP_DROP);
	/* Frames the testbed sends: IPv4, ARP, IPv6. */
	if (eth->h_proto == bpf_htons(ETH_P_IP) || eth->h_proto == bpf_htons(ETH_P_ARP) ||
	    eth->h_proto == bpf_htons(ETH_P_IPV6))
		return count(ctx, XDP_PASS);
	return count(ctx, XDP_DROP);
}

char _license[] SEC("license") = "GPL";
