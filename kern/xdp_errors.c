// SPDX-License-Identifier: GPL-2.0
/* Why packets vanish: counters on the kernel's XDP error tracepoints, for
 * `statswatch --errors` (which embeds this object, loads it while it runs and
 * detaches it when it exits). Not an XDP program: xdploader refuses it.
 *
 *   xdp:xdp_exception        a program returned XDP_ABORTED or an invalid
 *                            action, or XDP_TX failed in generic mode
 *   xdp:xdp_redirect_err     bpf_redirect*() chose a target that cannot take
 *                            the frame (empty devmap slot, down interface)
 *   xdp:xdp_redirect_map_err the same, on kernels that still split it out
 *   xdp:xdp_devmap_xmit      a redirected batch the target driver dropped
 *   xdp:xdp_bulk_tx          an XDP_TX batch the driver dropped: on veth,
 *                            -ENXIO when the peer has no XDP program
 *
 * devmap_xmit and bulk_tx fire for every flushed batch; only batches with
 * drops or an error are counted. Counts are keyed by tracepoint, action,
 * errno and interfaces, per CPU so no atomics are needed.
 *
 * The argument structs mirror /sys/kernel/tracing/events/xdp/<name>/format;
 * statswatch checks those offsets against the running kernel before
 * attaching (xdploader::xdp_errors::check_formats). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The numbering userspace decodes: xdploader::xdp_errors::TRACEPOINTS. */
enum xdp_error_event {
	EV_EXCEPTION = 0,
	EV_REDIRECT_ERR = 1,
	EV_REDIRECT_MAP_ERR = 2,
	EV_DEVMAP_XMIT = 3,
	EV_BULK_TX = 4,
};

struct xdp_error_key {
	__u32 event;   /* enum xdp_error_event */
	__u32 action;  /* enum xdp_action */
	__s32 err;     /* negative errno, 0 when the tracepoint has none */
	__s32 ifindex; /* where the frame came in (or was sent, for bulk_tx) */
	__s32 to_ifindex; /* redirect target, 0 when none */
};

struct xdp_error_count {
	__u64 events; /* tracepoint hits */
	__u64 drops;  /* frames lost */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct xdp_error_key);
	__type(value, struct xdp_error_count);
} xdp_errors SEC(".maps");

/* The first 8 bytes of every tracepoint record (common_type .. common_pid). */
struct trace_common {
	__u64 pad;
};

struct xdp_exception_args {
	struct trace_common common;
	__s32 prog_id;
	__u32 act;
	__s32 ifindex;
};

/* Shared by xdp_redirect_err and xdp_redirect_map_err. */
struct xdp_redirect_err_args {
	struct trace_common common;
	__s32 prog_id;
	__u32 act;
	__s32 ifindex;
	__s32 err;
	__s32 to_ifindex;
	__u32 map_id;
	__s32 map_index;
};

struct xdp_devmap_xmit_args {
	struct trace_common common;
	__s32 from_ifindex;
	__u32 act;
	__s32 to_ifindex;
	__s32 drops;
	__s32 sent;
	__s32 err;
};

struct xdp_bulk_tx_args {
	struct trace_common common;
	__s32 ifindex;
	__u32 act;
	__s32 drops;
	__s32 sent;
	__s32 err;
};

static __always_inline void record(__u32 event, __u32 action, __s32 err, __s32 ifindex,
				   __s32 to_ifindex, __u64 drops)
{
	struct xdp_error_key key = {
		.event = event,
		.action = action,
		.err = err,
		.ifindex = ifindex,
		.to_ifindex = to_ifindex,
	};
	struct xdp_error_count *count = bpf_map_lookup_elem(&xdp_errors, &key);

	if (!count) {
		struct xdp_error_count zero = {};

		/* A full map loses the new key, never an existing count. */
		bpf_map_update_elem(&xdp_errors, &key, &zero, BPF_NOEXIST);
		count = bpf_map_lookup_elem(&xdp_errors, &key);
		if (!count)
			return;
	}
	count->events++;
	count->drops += drops;
}

SEC("tracepoint/xdp/xdp_exception")
int xdp_exception(struct xdp_exception_args *args)
{
	record(EV_EXCEPTION, args->act, 0, args->ifindex, 0, 1);
	return 0;
}

SEC("tracepoint/xdp/xdp_redirect_err")
int xdp_redirect_err(struct xdp_redirect_err_args *args)
{
	record(EV_REDIRECT_ERR, args->act, args->err, args->ifindex, args->to_ifindex, 1);
	return 0;
}

SEC("tracepoint/xdp/xdp_redirect_map_err")
int xdp_redirect_map_err(struct xdp_redirect_err_args *args)
{
	record(EV_REDIRECT_MAP_ERR, args->act, args->err, args->ifindex, args->to_ifindex, 1);
	return 0;
}

SEC("tracepoint/xdp/xdp_devmap_xmit")
int xdp_devmap_xmit(struct xdp_devmap_xmit_args *args)
{
	if (args->drops > 0 || args->err)
		record(EV_DEVMAP_XMIT, args->act, args->err, args->from_ifindex,
		       args->to_ifindex, args->drops > 0 ? args->drops : 0);
	return 0;
}

SEC("tracepoint/xdp/xdp_bulk_tx")
int xdp_bulk_tx(struct xdp_bulk_tx_args *args)
{
	if (args->drops > 0 || args->err)
		record(EV_BULK_TX, args->act, args->err, args->ifindex, 0,
		       args->drops > 0 ? args->drops : 0);
	return 0;
}

char _license[] SEC("license") = "GPL";
