// SPDX-License-Identifier: GPL-2.0
/* Reference for scripts/bench.sh: the kernel's FIB lookup alone, as the
 * router (kern/redirect.c) asks it for an IPv4 or IPv6 frame, and nothing
 * else: XDP_DROP on a hit, XDP_PASS otherwise. It does not change the frame,
 * so a test run repeats it on one buffer. The router's cost minus this one
 * is what its own code (rewrite, devmap, count) costs. */
#include <linux/ip.h>
#include <linux/ipv6.h>
#include "common.h"

#define AF_INET 2
#define AF_INET6 10

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
		fib.family = AF_INET;
		fib.tos = iph->tos;
		fib.l4_protocol = iph->protocol;
		fib.tot_len = bpf_ntohs(iph->tot_len);
		fib.ipv4_src = iph->saddr;
		fib.ipv4_dst = iph->daddr;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > data_end)
			return XDP_PASS;
		fib.family = AF_INET6;
		fib.l4_protocol = ip6h->nexthdr;
		fib.tot_len = bpf_ntohs(ip6h->payload_len);
		__builtin_memcpy(fib.ipv6_src, &ip6h->saddr, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, &ip6h->daddr, sizeof(fib.ipv6_dst));
	} else {
		return XDP_PASS;
	}
	fib.ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) == BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_DROP;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
