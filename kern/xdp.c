// SPDX-License-Identifier: GPL-2.0
/* The XDP skeleton: an entry program that parses L2/L3 and two tail-called
 * stages. It shows the three things every real XDP program needs: a parser
 * that the verifier accepts, a jump table (prog array) filled by the loader,
 * and per-CPU verdict counters that statswatch reads.
 *
 *   xdp_skeleton   parse Ethernet (+ up to two 802.1Q/802.1ad tags), IPv4/IPv6;
 *                  store what it found in scratch_map; tail-call slot 1
 *   xdp_skeleton_1 check the stored L4 protocol against the packet; slot 2
 *   xdp_skeleton_2 end of the chain: XDP_PASS (XDP_SKELETON_VERDICT; the
 *                  benchmark builds kern/xdp_drop.elf with XDP_DROP, so the
 *                  chain's cost is seen without the stack's)
 *
 * The loader puts `<entry>_<N>` into slot N of jmp_map. A tail call into an
 * empty slot falls through: that path counts XDP_ABORTED, so a broken chain
 * shows up in statswatch (and in the xdp:xdp_exception tracepoint).
 * Truncated headers are dropped (XDP_DROP); non-IP traffic such as ARP passes.
 *
 * Each program has one exit (`goto out`), so count() is inlined once per
 * program: a copy at every exit made the chain ~2 ns slower per frame
 * (scripts/bench.sh, against kern/bench_chain.c, the chain with no parsing). */
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <stddef.h>
#include "common.h"

#define MAX_VLAN_DEPTH 2
#define SLOT_CHECK 1
#define SLOT_END 2

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} jmp_map SEC(".maps");

/* Interfaces the loader was given (key = value = ifindex), for programs that
 * redirect with bpf_redirect_map(&if_redirect, ifindex, 0). A hash, not an
 * array: an array devmap is indexed by ifindex, and hosts with containers
 * have ifindexes in the hundreds. 64 is the number of interfaces it holds. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} if_redirect SEC(".maps");

/* What one stage tells the next: a tail call keeps only ctx, so state that
 * must cross it lives in a per-CPU map (a frame is processed on one CPU from
 * entry to verdict, so the slot cannot be overwritten in between). */
struct scratch {
	__u16 l3_proto;  /* ETH_P_IP or ETH_P_IPV6, host order */
	__u16 l3_offset; /* bytes from the start of the frame to the IP header */
	__u8 l4_proto;   /* IPPROTO_* from the IP header */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} scratch_map SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

static __always_inline int is_vlan(__u16 h_proto)
{
	return h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD);
}

SEC("xdp.frags")
int xdp_skeleton(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 verdict = XDP_DROP; /* until the headers are known to be whole */
	struct scratch *s;
	__u32 zero = 0;
	__u16 proto;
	__u16 off;
	__u8 l4_proto;

	if ((void *)(eth + 1) > data_end)
		goto out;
	proto = eth->h_proto;
	off = sizeof(*eth);

#pragma unroll
	for (int i = 0; i < MAX_VLAN_DEPTH; i++) {
		struct vlan_hdr *vh = data + off;

		if (!is_vlan(proto))
			break;
		if ((void *)(vh + 1) > data_end)
			goto out;
		proto = vh->encapsulated_proto;
		off += sizeof(*vh);
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = data + off;

		if ((void *)(iph + 1) > data_end || iph->ihl < 5 ||
		    data + off + iph->ihl * 4 > data_end)
			goto out;
		l4_proto = iph->protocol;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = data + off;

		if ((void *)(ip6h + 1) > data_end)
			goto out;
		l4_proto = ip6h->nexthdr;
	} else {
		verdict = XDP_PASS;
		goto out;
	}

	verdict = XDP_ABORTED;
	s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		goto out;
	s->l3_proto = bpf_ntohs(proto);
	s->l3_offset = off;
	s->l4_proto = l4_proto;
	dbg("xdp_skeleton: l3 0x%x l4 %u", s->l3_proto, s->l4_proto);

	bpf_tail_call(ctx, &jmp_map, SLOT_CHECK);
	/* slot 1 empty: the chain is broken (XDP_ABORTED) */
out:
	return count(ctx, verdict);
}

SEC("xdp.frags")
int xdp_skeleton_1(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 verdict = XDP_ABORTED;
	struct scratch *s;
	__u32 zero = 0;
	__u8 *l4_proto;

	s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		goto out;
	/* The mask bounds the offset for the verifier: Ethernet plus two VLAN
	 * tags is 22 bytes, well inside 63. */
	l4_proto = data + (s->l3_offset & 0x3f) +
		   (s->l3_proto == ETH_P_IP ? offsetof(struct iphdr, protocol)
					    : offsetof(struct ipv6hdr, nexthdr));
	if ((void *)(l4_proto + 1) > data_end) {
		verdict = XDP_DROP;
		goto out;
	}
	/* A mismatch means the scratch slot was not written for this frame:
	 * a bug in the chain, so report it as one. */
	if (*l4_proto != s->l4_proto)
		goto out;

	bpf_tail_call(ctx, &jmp_map, SLOT_END);
	/* slot 2 empty: the chain is broken (XDP_ABORTED) */
out:
	return count(ctx, verdict);
}

#ifndef XDP_SKELETON_VERDICT
#define XDP_SKELETON_VERDICT XDP_PASS
#endif

SEC("xdp.frags")
int xdp_skeleton_2(struct xdp_md *ctx)
{
	return count(ctx, XDP_SKELETON_VERDICT);
}

char _license[] SEC("license") = "GPL";
