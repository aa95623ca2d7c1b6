// SPDX-License-Identifier: GPL-2.0
/* Reference for scripts/bench.sh: the kernel's FIB lookup alone, as the
 * router (kern/redirect.c) asks it for an IPv4 or IPv6 frame, and nothing
 * else: XDP_DROP on a hit, XDP_PASS otherwise. It does not change the frame,
 * so a test run repeats it on one buffer. The router's cost minus this one
 * is what its own code (rewrite, devmap, count) costs. */
#include "common.h"
#include "fib.h"

SEC("xdp.frags")
int xdp_bench_fib(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup fib = {};

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > data_end)
			return XDP_PASS;
		fib_from_ipv4(&fib, iph);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > data_end)
			return XDP_PASS;
		fib_from_ipv6(&fib, ip6h);
	} else {
		return XDP_PASS;
	}
	fib.ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) == BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_DROP;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
