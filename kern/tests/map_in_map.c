// SPDX-License-Identifier: GPL-2.0
/* Fixture: map-in-map as libbpf declares it (issue 27). An array of per-CPU
 * LRU hash maps, Katran-style: the outer map's slots are initialised from
 * .rel.maps relocations to two inner maps declared beside it; slot 2 is left
 * empty (a lookup of it gives NULL). count_flows counts each IPv4 source
 * address in the inner map of slot (protocol & 1): ICMP and UDP in
 * flows_odd, TCP in flows_even; then it tail-calls finish through a
 * declaratively initialised prog array, so one object holds both kinds of
 * `values` (the prog array's hidden from aya, the outer map's kept). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct flow_table {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);   /* IPv4 source address, network order */
	__type(value, __u64); /* frames */
} flows_even SEC(".maps"), flows_odd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__type(key, __u32);
	__array(values, struct flow_table);
} flow_tables SEC(".maps") = {
	.values = { [0] = &flows_even, [1] = &flows_odd },
};

int finish(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, int (void *));
} next_stage SEC(".maps") = {
	.values = { [0] = (void *)&finish },
};

SEC("xdp")
int count_flows(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__u64 one = 1, *frames;
	__u32 slot, saddr;
	void *table;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		goto out;
	slot = ip->protocol & 1;
	saddr = ip->saddr;
	table = bpf_map_lookup_elem(&flow_tables, &slot);
	if (!table)
		goto out;
	frames = bpf_map_lookup_elem(table, &saddr);
	if (frames)
		*frames += 1;
	else
		bpf_map_update_elem(table, &saddr, &one, BPF_NOEXIST);
out:
	bpf_tail_call(ctx, &next_stage, 0);
	/* finish is missing from its slot: drop, so a test sees it. */
	return XDP_DROP;
}

SEC("xdp")
int finish(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
