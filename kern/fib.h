/* SPDX-License-Identifier: GPL-2.0 */
/* The FIB lookup's parameters from an IPv4 or IPv6 header: what the router
 * (redirect.c) asks bpf_fib_lookup, and what bench_fib.c times it asking. */
#ifndef XDP_SKELETON_FIB_H
#define XDP_SKELETON_FIB_H

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* From linux/socket.h, which -target bpf cannot include. */
#define AF_INET 2
#define AF_INET6 10
#define IPV6_FLOWINFO_MASK bpf_htonl(0x0fffffff)

static __always_inline void fib_from_ipv4(struct bpf_fib_lookup *fib, const struct iphdr *iph)
{
	fib->family = AF_INET;
	fib->tos = iph->tos;
	fib->l4_protocol = iph->protocol;
	fib->tot_len = bpf_ntohs(iph->tot_len);
	fib->ipv4_src = iph->saddr;
	fib->ipv4_dst = iph->daddr;
}

static __always_inline void fib_from_ipv6(struct bpf_fib_lookup *fib, const struct ipv6hdr *ip6h)
{
	fib->family = AF_INET6;
	fib->flowinfo = *(const __be32 *)ip6h & IPV6_FLOWINFO_MASK;
	fib->l4_protocol = ip6h->nexthdr;
	fib->tot_len = bpf_ntohs(ip6h->payload_len);
	__builtin_memcpy(fib->ipv6_src, &ip6h->saddr, sizeof(fib->ipv6_src));
	__builtin_memcpy(fib->ipv6_dst, &ip6h->daddr, sizeof(fib->ipv6_dst));
}

#endif
