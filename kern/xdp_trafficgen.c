// SPDX-License-Identifier: GPL-2.0
/* The traffic generator's program (xdploader trafficgen, embedded in
 * xdp-core): BPF_PROG_TEST_RUN in live-frames mode runs it on copies of a
 * template frame, and XDP_TX sends each one out of the interface the run
 * names, as xdp-trafficgen does with a redirect. Nothing is counted here:
 * the receiver counts. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_trafficgen(struct xdp_md *ctx)
{
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
