// SPDX-License-Identifier: GPL-2.0
/* Fixture (verifier explanation): a loop whose bound comes from the packet,
 * which the verifier cannot bound: it walks it until its instruction limit. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_unbounded(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	volatile __u32 sum = 0;
	__u32 n, i;

	if (data + 4 > data_end)
		return XDP_DROP;
	n = *(__u32 *)data;
	for (i = 0; i < n; i++)
		sum += i;
	return sum ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
