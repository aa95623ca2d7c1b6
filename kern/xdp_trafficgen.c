// SPDX-License-Identifier: GPL-2.0
/* The traffic generator's program (xdploader trafficgen, embedded in
 * xdp-core): BPF_PROG_TEST_RUN in live-frames mode runs it on copies of a
 * template frame, and XDP_TX sends each one out of the interface the run
 * names, as xdp-trafficgen does with a redirect. Nothing is counted here:
 * the receiver counts.
 *
 * The kernel recycles a sent frame's page without copying the template in
 * again, so whatever the far end rewrote in place (a router's TTL and MACs,
 * an echo's reply) would come back in the next frames: a router would see
 * the TTL run out after 63 rounds. The headers are put back from
 * trafficgen_header (filled by xdploader with the template's first
 * TRAFFICGEN_HEADER bytes) before every send. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Ethernet + IPv4 + UDP or ICMP is 42 bytes; frames are at least 60. */
#define TRAFFICGEN_HEADER 48

struct header {
	__u8 bytes[TRAFFICGEN_HEADER];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct header);
} trafficgen_header SEC(".maps");

SEC("xdp")
int xdp_trafficgen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct header *h = bpf_map_lookup_elem(&trafficgen_header, &zero);

	if (h && data + sizeof(*h) <= data_end)
		__builtin_memcpy(data, h->bytes, sizeof(*h));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
