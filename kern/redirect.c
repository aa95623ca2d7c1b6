// SPDX-License-Identifier: GPL-2.0
/* An XDP fast-path router, in the spirit of the kernel's samples/bpf/xdp_fwd:
 * for IPv4 and IPv6 it asks the kernel's FIB (bpf_fib_lookup) for the egress
 * interface and the next hop's MAC, rewrites the MACs, decrements TTL / hop
 * limit, and sends the frame out through the if_redirect devmap that
 * xdploader fills with its -i interfaces. Configured only by the ordinary
 * routing table (and net.ipv4.ip_forward / net.ipv6.conf.all.forwarding).
 *
 * Whatever the FIB cannot resolve goes to the stack (XDP_PASS): a next hop
 * without a neighbour entry (the stack's ARP/ND then fills it, and the next
 * frames take the fast path), local addresses, TTL about to expire (the
 * stack sends the ICMP error), egress interfaces not in the devmap. */
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include "common.h"
#include "fib.h"


/* Egress interfaces (key = value = ifindex), filled by the loader. A hash:
 * any ifindex fits, as on hosts with containers; 64 interfaces at most. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} if_redirect SEC(".maps");

/* TTL - 1 with the header checksum updated incrementally (RFC 1624): the
 * TTL is the high byte of its 16-bit word. */
static __always_inline void ipv4_decrease_ttl(struct iphdr *iph)
{
	__u32 check = (__u32)iph->check;

	check += (__u32)bpf_htons(0x0100);
	iph->check = (__sum16)(check + (check >= 0xffff));
	iph->ttl--;
}

SEC("xdp.frags")
int xdp_redirect_fib(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup fib = {};
	struct iphdr *iph = NULL;
	struct ipv6hdr *ip6h = NULL;
	long rc;
	__u32 action;

	if ((void *)(eth + 1) > data_end)
		return count(ctx, XDP_DROP);

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		iph = (void *)(eth + 1);
		if ((void *)(iph + 1) > data_end)
			return count(ctx, XDP_DROP);
		if (iph->ttl <= 1)
			return count(ctx, XDP_PASS);
		fib_from_ipv4(&fib, iph);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		ip6h = (void *)(eth + 1);
		if ((void *)(ip6h + 1) > data_end)
			return count(ctx, XDP_DROP);
		/* Link-local and multicast never leave the link. */
		if (ip6h->hop_limit <= 1 || ip6h->daddr.in6_u.u6_addr8[0] == 0xff ||
		    (ip6h->daddr.in6_u.u6_addr8[0] == 0xfe &&
		     (ip6h->daddr.in6_u.u6_addr8[1] & 0xc0) == 0x80))
			return count(ctx, XDP_PASS);
		fib_from_ipv6(&fib, ip6h);
	} else {
		return count(ctx, XDP_PASS);
	}
	fib.ifindex = ctx->ingress_ifindex;

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return count(ctx, XDP_PASS);
	/* Only towards interfaces the loader was given: bpf_redirect_map
	 * returns its flags (XDP_PASS) for one that is not in the devmap. It
	 * only records the target, so the frame is still intact for the stack
	 * then, and is rewritten below only when it leaves here. */
	action = bpf_redirect_map(&if_redirect, fib.ifindex, XDP_PASS);
	if (action != XDP_REDIRECT)
		return count(ctx, action);

	if (iph)
		ipv4_decrease_ttl(iph);
	else if (ip6h)
		ip6h->hop_limit--;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	dbg("redirect: %d -> %d", ctx->ingress_ifindex, fib.ifindex);
	return count(ctx, action);
}

char _license[] SEC("license") = "GPL";
