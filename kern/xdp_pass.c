// SPDX-License-Identifier: GPL-2.0
/* What xdploader attaches to the peer of a veth it loads a program on in
 * native mode. A veth only receives XDP_TX and XDP_REDIRECT frames (as
 * xdp_frames, on its NAPI ring) when its peer has an XDP program; without
 * one they are dropped with ENXIO (xdp:xdp_bulk_tx err=-6). Passing every
 * frame to the stack is all this program needs to do. xdp.frags, so it does
 * not stop the peer from running at MTU 9000. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp.frags")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
