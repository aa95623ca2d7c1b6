// SPDX-License-Identifier: GPL-2.0
/* ICMP echo in XDP: answers ICMPv4 and ICMPv6 echo requests itself with
 * XDP_TX, so `ping` gets replies even for an address no network stack owns.
 * Everything else passes to the stack. Verdicts are counted in stats_map.
 *
 * The reply is the request turned around in place: MACs and IP addresses
 * swapped, type set to echo reply, and the ICMP checksum updated
 * incrementally (RFC 1624, eqn. 3) for the one 16-bit word that changed.
 * Swapping addresses changes neither the IPv4 header checksum nor the
 * ICMPv6 pseudo-header sum (a one's-complement sum does not depend on order).
 *
 * Not answered (passed): multicast or broadcast destinations (a reply must
 * come from a unicast address), IPv4 fragments, VLAN-tagged frames.
 *
 * On veth in native mode, XDP_TX frames are dropped with ENXIO unless the
 * peer veth has an XDP program: xdploader attaches one (see its peer fix). */
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include "common.h"

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

/* linux/icmp.h drags in glibc's socket headers, which -target bpf cannot
 * build: the two fields used here are spelled out instead. */
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest; /* identifier and sequence: echoed unchanged */
};

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), on network-order words (the
 * one's-complement sum is byte-order independent). */
static __always_inline __u16 csum_replace(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u32) new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline void swap_macs(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

static __always_inline int echo_ipv4(struct xdp_md *ctx, struct ethhdr *eth, void *data_end)
{
	struct iphdr *iph = (void *)(eth + 1);
	struct icmphdr *icmp;
	__u32 addr;
	__u16 old;

	if ((void *)(iph + 1) > data_end || iph->ihl < 5)
		return count(ctx, XDP_DROP);
	if (iph->protocol != IPPROTO_ICMP || (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return count(ctx, XDP_PASS);
	/* 224.0.0.0/4 and above: multicast, reserved, broadcast. */
	if ((bpf_ntohl(iph->daddr) >> 28) >= 0xe)
		return count(ctx, XDP_PASS);
	icmp = (void *)iph + iph->ihl * 4;
	if ((void *)(icmp + 1) > data_end)
		return count(ctx, XDP_DROP);
	if (icmp->type != ICMP_ECHO || icmp->code != 0)
		return count(ctx, XDP_PASS);

	old = *(__u16 *)icmp; /* type and code, as they sit in the packet */
	icmp->type = ICMP_ECHOREPLY;
	icmp->checksum = csum_replace(icmp->checksum, old, *(__u16 *)icmp);
	addr = iph->saddr;
	iph->saddr = iph->daddr;
	iph->daddr = addr;
	swap_macs(eth);
	return count(ctx, XDP_TX);
}

static __always_inline int echo_ipv6(struct xdp_md *ctx, struct ethhdr *eth, void *data_end)
{
	struct ipv6hdr *ip6h = (void *)(eth + 1);
	struct icmp6hdr *icmp6;
	struct in6_addr addr;
	__u16 old;

	if ((void *)(ip6h + 1) > data_end)
		return count(ctx, XDP_DROP);
	/* Echo requests carry no extension headers in practice; anything else
	 * (or multicast ff00::/8) is the stack's. */
	if (ip6h->nexthdr != IPPROTO_ICMPV6 || ip6h->daddr.in6_u.u6_addr8[0] == 0xff)
		return count(ctx, XDP_PASS);
	icmp6 = (void *)(ip6h + 1);
	if ((void *)(icmp6 + 1) > data_end)
		return count(ctx, XDP_DROP);
	if (icmp6->icmp6_type != ICMPV6_ECHO_REQUEST || icmp6->icmp6_code != 0)
		return count(ctx, XDP_PASS);

	old = *(__u16 *)icmp6;
	icmp6->icmp6_type = ICMPV6_ECHO_REPLY;
	icmp6->icmp6_cksum = csum_replace(icmp6->icmp6_cksum, old, *(__u16 *)icmp6);
	addr = ip6h->saddr;
	ip6h->saddr = ip6h->daddr;
	ip6h->daddr = addr;
	swap_macs(eth);
	return count(ctx, XDP_TX);
}

SEC("xdp.frags")
int xdp_echo(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return count(ctx, XDP_DROP);
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return echo_ipv4(ctx, eth, data_end);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return echo_ipv6(ctx, eth, data_end);
	return count(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
