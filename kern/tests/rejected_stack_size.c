// SPDX-License-Identifier: GPL-2.0
/* Fixture (verifier explanation): two functions whose stacks together pass
 * the 512 bytes a BPF call chain may use (clang checks each one alone). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) int checksum(struct xdp_md *ctx)
{
	volatile char scratch[320];

	scratch[ctx->ingress_ifindex & 255] = 1;
	return scratch[7];
}

SEC("xdp")
int xdp_deep_stack(struct xdp_md *ctx)
{
	volatile char buffer[320];

	buffer[ctx->rx_queue_index & 255] = 2;
	return checksum(ctx) + buffer[3] ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
