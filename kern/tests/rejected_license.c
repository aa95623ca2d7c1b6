// SPDX-License-Identifier: GPL-2.0
/* Fixture (verifier explanation): a GPL-only helper in a program whose
 * license is not GPL-compatible. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_not_gpl(struct xdp_md *ctx)
{
	char fmt[] = "xdp\n";

	bpf_trace_printk(fmt, sizeof(fmt));
	return XDP_PASS;
}

char _license[] SEC("license") = "Proprietary";
