// SPDX-License-Identifier: GPL-2.0
/* The recorders of `xdploader capture` (embedded in xdp-core).
 *
 * fentry/fexit never fire on a tail-called program (x86-64 jumps past the
 * trampoline's slot), so a chain's stages are seen from the loader's side,
 * as cloudflare/xdpcap does: while a capture runs, every filled slot of the
 * chain's prog arrays holds an xdpcap_stage (one load per slot, its stage
 * number in stage_id) that records the frame as that stage receives it and
 * tail-calls the real stage, kept in its own capture_target. The pinned
 * link runs xdpcap_entry, which records the chain's input, calls the real
 * entry through a subprogram that tail-calls it (a tail call from a
 * subprogram returns to its caller: the chain's verdict comes back here),
 * and records the verdict with the frame as it leaves.
 *
 * Records go through one ring buffer per capture, copied from a per-CPU
 * scratch record so that a 64-byte frame takes 64 bytes of the ring, not
 * the largest snap length. A record the ring has no room for is counted in
 * capture_lost: never lost silently. A frame's records are told apart from
 * other frames' by (cpu, frame): XDP runs a whole chain on one CPU without
 * being preempted, and xdpcap_entry numbers the frames of each CPU.
 *
 * The xdp.frags twins exist because a prog array takes only programs whose
 * frags flag matches its owner's. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The largest snap length: a jumbo frame's first 4 KiB. */
#define CAPTURE_MAX 4096
/* stage of the record of the chain's verdict and outgoing frame. */
#define STAGE_VERDICT 0xffff

struct capture_record {
	__u64 timestamp_ns; /* bpf_ktime_get_ns */
	__u32 frame;        /* per CPU, numbered by xdpcap_entry */
	__u16 cpu;
	__u16 stage; /* 0: the entry's input; 1..: a slot; STAGE_VERDICT */
	__u32 ifindex;
	__u32 rx_queue;
	__u32 len;    /* the frame's length (its linear part) */
	__u32 caplen; /* bytes that follow */
	__u32 verdict;
	__u32 reserved;
	__u8 data[CAPTURE_MAX];
};

#define RECORD_HEADER (sizeof(struct capture_record) - CAPTURE_MAX)

/* Shared by every recorder of one capture: pinned by the loader under the
 * interface's capture directory and reused by name. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} capture_records SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct capture_record);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} capture_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} capture_frame SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} capture_lost SEC(".maps");

/* Each recorder's own: the real program, at 0. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} capture_target SEC(".maps");

const volatile __u16 stage_id = 0;
const volatile __u32 snaplen = CAPTURE_MAX;

static __always_inline void record(struct xdp_md *ctx, __u16 stage, __u32 verdict)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct capture_record *r = bpf_map_lookup_elem(&capture_scratch, &zero);
	__u32 *frame = bpf_map_lookup_elem(&capture_frame, &zero);
	__u64 *lost;
	__u64 n;
	__u32 len, caplen;

	if (!r || !frame)
		return;
	n = data_end - data;
	len = n;
	/* The bounds are checked on the register that is used: without the
	 * barrier, clang copies the length before the checks and passes the
	 * unchecked copy, which the verifier refuses. */
	asm volatile("" : "+r"(n));
	if (n > snaplen)
		n = snaplen;
	if (n > CAPTURE_MAX)
		n = CAPTURE_MAX;
	caplen = n;
	r->timestamp_ns = bpf_ktime_get_ns();
	r->frame = *frame;
	r->cpu = bpf_get_smp_processor_id();
	r->stage = stage;
	r->ifindex = ctx->ingress_ifindex;
	r->rx_queue = ctx->rx_queue_index;
	r->len = len;
	r->verdict = verdict;
	r->reserved = 0;
	if (caplen > 0 && bpf_probe_read_kernel(r->data, caplen, data) < 0)
		caplen = 0;
	r->caplen = caplen;
	/* No wakeup: the reader drains the ring on a timer, which costs the
	 * data path nothing per record. */
	if (bpf_ringbuf_output(&capture_records, r, RECORD_HEADER + caplen, BPF_RB_NO_WAKEUP) < 0) {
		lost = bpf_map_lookup_elem(&capture_lost, &zero);
		if (lost)
			*lost += 1;
	}
}

static __always_inline int stage(struct xdp_md *ctx)
{
	record(ctx, stage_id, 0);
	bpf_tail_call(ctx, &capture_target, 0);
	/* The real stage is gone (the capture is being undone): a frame must
	 * not pass unseen by the program meant to judge it. */
	return XDP_ABORTED;
}

/* A tail call that succeeds in a subprogram returns to its caller with the
 * called program's verdict (x86-64 JIT, 5.10+), which the compiler cannot
 * know: the fall-through value is hidden from it, or it would fold
 * XDP_ABORTED into the caller and lose the chain's verdict. */
static __noinline int chain(struct xdp_md *ctx)
{
	int unreached = XDP_ABORTED;

	bpf_tail_call(ctx, &capture_target, 0);
	asm volatile("" : "+r"(unreached));
	return unreached;
}

static __always_inline int entry(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u32 *frame = bpf_map_lookup_elem(&capture_frame, &zero);
	int verdict;

	if (frame)
		*frame += 1;
	record(ctx, 0, 0);
	verdict = chain(ctx);
	record(ctx, STAGE_VERDICT, verdict);
	return verdict;
}

SEC("xdp")
int xdpcap_stage(struct xdp_md *ctx)
{
	return stage(ctx);
}

SEC("xdp")
int xdpcap_entry(struct xdp_md *ctx)
{
	return entry(ctx);
}

SEC("xdp.frags")
int xdpcap_stage_mb(struct xdp_md *ctx)
{
	return stage(ctx);
}

SEC("xdp.frags")
int xdpcap_entry_mb(struct xdp_md *ctx)
{
	return entry(ctx);
}

char _license[] SEC("license") = "GPL";
