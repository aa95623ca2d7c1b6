/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by every program in kern/: the stats record that statswatch reads and
 * the helpers that count a verdict. The layout of struct datarec is a contract
 * with userspace (xdploader::stats::Datarec): two u64, 16 bytes, per CPU. */
#ifndef XDP_SKELETON_COMMON_H
#define XDP_SKELETON_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct datarec {
	__u64 rx_packets;
	__u64 rx_bytes;
};

/* One slot per XDP action: XDP_ABORTED(0) .. XDP_REDIRECT(4). Pinned by name
 * (<pin-dir>/stats_map, where statswatch looks); a map that asks for no
 * pinning goes to <pin-dir>/<interface>/ instead. The fixtures
 * that show other map-definition formats (kern/tests/) declare their own
 * stats_map in that format and define XDP_OWN_STATS_MAP before this file. */
#ifndef XDP_OWN_STATS_MAP
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDP_REDIRECT + 1);
	__type(key, __u32);
	__type(value, struct datarec);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats_map SEC(".maps");
#endif

#ifdef XDP_DEBUG
#define dbg(fmt, ...) bpf_printk(fmt, ##__VA_ARGS__)
#else
#define dbg(fmt, ...) do { } while (0)
#endif

/* Whether the kernel has multi-buffer XDP (xdp.frags and
 * bpf_xdp_get_buff_len, Linux 5.18+). xdploader sets it to 0 before loading
 * where its probe says no, and loads the xdp.frags programs as plain XDP.
 * The verifier reads it as a constant and never walks the branch not taken,
 * so an older kernel never meets the helper it lacks; there every frame is
 * linear, and data_end - data is all of it. Other loaders leave it at 1. */
const volatile __u8 xdp_has_frags = 1;

static __always_inline __u64 frame_len(struct xdp_md *ctx)
{
	if (!xdp_has_frags)
		return ctx->data_end - ctx->data;
	return bpf_xdp_get_buff_len(ctx);
}

/* Counts the frame under its verdict and returns the verdict, so every exit
 * path reads `return count(ctx, XDP_X);`. Bytes are the whole frame, all
 * fragments included (xdp.frags), not just the linear part. */
static __always_inline int count(struct xdp_md *ctx, __u32 action)
{
	struct datarec *rec = bpf_map_lookup_elem(&stats_map, &action);

	if (rec) {
		/* Per-CPU value: no other CPU writes it, no atomics needed. */
		rec->rx_packets++;
		rec->rx_bytes += frame_len(ctx);
	}
	return action;
}

#endif
