// SPDX-License-Identifier: GPL-2.0
/* Fixture for `xdploader capture`: a three-stage chain whose stages a
 * capture must tell apart.
 *   cap_entry --stages[0]--> cap_parse --stages[1]--> cap_rewrite
 *             --stages[2]--> cap_judge
 * cap_rewrite sets the Ethernet source to 02:00:00:00:00:2b (the stack does
 * not look at it, so pings still work): the capture shows the frame before
 * and after. cap_judge drops ICMP echo requests with an odd sequence number
 * and passes the rest: stage 3 decides, XDP_DROP or XDP_PASS. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* linux/icmp.h pulls in libc headers -target bpf cannot take. */
struct echo {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__u16 id;
	__u16 sequence;
};
#define ICMP_ECHO 8
#define PROTO_ICMP 1

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} stages SEC(".maps");

SEC("xdp")
int cap_entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &stages, 0);
	return XDP_ABORTED;
}

SEC("xdp")
int cap_parse(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &stages, 1);
	return XDP_ABORTED;
}

SEC("xdp")
int cap_rewrite(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) <= data_end) {
		eth->h_source[0] = 0x02;
		eth->h_source[1] = 0;
		eth->h_source[2] = 0;
		eth->h_source[3] = 0;
		eth->h_source[4] = 0;
		eth->h_source[5] = 0x2b;
	}
	bpf_tail_call(ctx, &stages, 2);
	return XDP_ABORTED;
}

SEC("xdp")
int cap_judge(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct echo *icmp = (void *)(ip + 1);

	if ((void *)(icmp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != PROTO_ICMP || icmp->type != ICMP_ECHO)
		return XDP_PASS;
	return bpf_ntohs(icmp->sequence) & 1 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
