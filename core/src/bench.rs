//! The per-packet cost of a loaded program, measured with BPF_PROG_TEST_RUN
//! (`aya::TestRun`): frames of each kind and size run in many batches, the
//! kernel's own per-run time of each batch recorded in an HdrHistogram, and
//! an empty XDP_PASS program (kern/xdp_pass.elf) run in the same loop,
//! batch for batch, so the difference is the program's own cost whatever
//! the machine does meanwhile.

use std::path::Path;

use aya::programs::{TestRun as _, TestRunOptions, Xdp};
use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, EtherType, PacketBuilder, VlanId};
use hdrhistogram::Histogram;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("BPF_PROG_TEST_RUN of {program} on the {frame} frame")]
    Run {
        program: String,
        frame: String,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("cannot read {path} as a pcap file")]
    Pcap {
        path: std::path::PathBuf,
        #[source]
        source: pcap_file::PcapError,
    },
    #[error("{path} has no frames")]
    EmptyPcap { path: std::path::PathBuf },
    #[error("{0}")]
    Frame(String),
    #[error(transparent)]
    Dispatcher(#[from] crate::dispatcher::DispatcherError),
}

/// The built-in frames' kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    Ipv4Icmp,
    Ipv4Tcp,
    Ipv4Udp,
    Ipv6Udp,
    /// IPv4 UDP behind an 802.1Q tag.
    VlanUdp,
    Arp,
}

impl FrameKind {
    pub const ALL: [Self; 6] = [
        Self::Ipv4Icmp,
        Self::Ipv4Tcp,
        Self::Ipv4Udp,
        Self::Ipv6Udp,
        Self::VlanUdp,
        Self::Arp,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Self::Ipv4Icmp => "ipv4-icmp",
            Self::Ipv4Tcp => "ipv4-tcp",
            Self::Ipv4Udp => "ipv4-udp",
            Self::Ipv6Udp => "ipv6-udp",
            Self::VlanUdp => "vlan-udp",
            Self::Arp => "arp",
        }
    }
}

/// The sizes built-in frames come in; 9000 takes the frags path (the
/// program must be `xdp.frags`).
pub const SIZES: [usize; 4] = [64, 512, 1500, 9000];

const MAC_SRC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0x01];
const MAC_DST: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0x02];
const IP_SRC: [u8; 4] = [10, 2, 2, 2];
const IP_DST: [u8; 4] = [10, 2, 2, 1];
const IP6_SRC: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const IP6_DST: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
/// The built-in frames' TTL (hop limit): the most, so that a router, which
/// decrements it on every run over the same buffer, keeps forwarding for
/// 253 runs of a batch.
const TTL: u8 = 255;

/// A frame of `kind`, `size` bytes on the wire (without FCS): the payload
/// fills what the headers leave; ARP is padded to the size.
pub fn frame(kind: FrameKind, size: usize) -> Result<Vec<u8>, BenchError> {
    let failed = |e: &dyn std::fmt::Display| BenchError::Frame(format!("{}: {e}", kind.name()));
    let builder = PacketBuilder::ethernet2(MAC_SRC, MAC_DST);
    let payload = |headers: usize| vec![0xab; size.saturating_sub(headers)];
    let mut out = Vec::with_capacity(size);
    let written = match kind {
        FrameKind::Ipv4Icmp => builder
            .ipv4(IP_SRC, IP_DST, TTL)
            .icmpv4_echo_request(7, 1)
            .write(&mut out, &payload(14 + 20 + 8)),
        FrameKind::Ipv4Tcp => builder
            .ipv4(IP_SRC, IP_DST, TTL)
            .tcp(40000, 80, 1, 65535)
            .write(&mut out, &payload(14 + 20 + 20)),
        FrameKind::Ipv4Udp => builder
            .ipv4(IP_SRC, IP_DST, TTL)
            .udp(5353, 53)
            .write(&mut out, &payload(14 + 20 + 8)),
        FrameKind::Ipv6Udp => builder
            .ipv6(IP6_SRC, IP6_DST, TTL)
            .udp(5353, 53)
            .write(&mut out, &payload(14 + 40 + 8)),
        FrameKind::VlanUdp => builder
            .single_vlan(VlanId::try_new(100).map_err(|e| failed(&e))?)
            .ipv4(IP_SRC, IP_DST, TTL)
            .udp(1000, 2000)
            .write(&mut out, &payload(18 + 20 + 8)),
        FrameKind::Arp => {
            let arp = ArpPacket::new(
                ArpHardwareId::ETHERNET,
                EtherType::IPV4,
                ArpOperation::REQUEST,
                &MAC_SRC,
                &IP_SRC,
                &[0; 6],
                &IP_DST,
            )
            .map_err(|e| failed(&e))?;
            let written = PacketBuilder::ethernet2(MAC_SRC, [0xff; 6])
                .arp(arp)
                .write(&mut out);
            // ARP is 42 bytes: padded to the size, as a NIC pads to 60.
            out.resize(size.max(out.len()), 0);
            written
        }
    };
    written.map_err(|e| failed(&e))?;
    Ok(out)
}

/// What trafficgen's template frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// UDP to the discard port.
    Udp,
    /// An ICMP echo request, for an echo responder.
    IcmpEcho,
}

/// trafficgen's template: an IPv4 frame of `size` bytes from
/// 52:54:00:00:00:01 to `dst_mac`.
pub fn template_frame(
    template: Template,
    dst_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    size: usize,
) -> Result<Vec<u8>, BenchError> {
    let mut out = Vec::with_capacity(size);
    let payload = vec![0; size.saturating_sub(14 + 20 + 8)];
    let builder = PacketBuilder::ethernet2(MAC_SRC, dst_mac).ipv4(src, dst, 64);
    match template {
        Template::Udp => builder.udp(9, 9).write(&mut out, &payload),
        Template::IcmpEcho => builder.icmpv4_echo_request(7, 1).write(&mut out, &payload),
    }
    .map_err(|e| BenchError::Frame(format!("trafficgen template: {e}")))?;
    Ok(out)
}

/// The frames of a pcap file (at most `limit`), labelled `pcap#N`.
pub fn pcap_frames(path: &Path, limit: usize) -> Result<Vec<(String, Vec<u8>)>, BenchError> {
    let pcap_err = |source| BenchError::Pcap {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|e| pcap_err(pcap_file::PcapError::IoError(e)))?;
    let mut reader = pcap_file::pcap::PcapReader::new(file).map_err(pcap_err)?;
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.map_err(pcap_err)?;
        frames.push((
            format!("pcap#{}", frames.len() + 1),
            packet.data.into_owned(),
        ));
        if frames.len() == limit {
            break;
        }
    }
    if frames.is_empty() {
        return Err(BenchError::EmptyPcap {
            path: path.to_owned(),
        });
    }
    Ok(frames)
}

/// Nanoseconds per packet, as HdrHistogram percentiles.
#[derive(Clone, Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// One frame's results.
#[derive(Clone, Debug, Serialize)]
pub struct FrameResult {
    pub frame: String,
    pub bytes: usize,
    /// The program's verdict on it: a benchmark must not time the wrong path.
    pub verdict: String,
    /// The program, ns per packet over the batches.
    pub program_ns: Percentiles,
    /// The empty XDP_PASS program, in the same batches.
    pub floor_ns: Percentiles,
    /// p50 of the program minus p50 of the floor: the program's own cost.
    pub own_ns: f64,
    /// Packets per second at the program's p50, in millions.
    pub mpps: f64,
    /// Runs per batch actually used for this frame.
    pub repeat: u32,
    /// Why this frame was timed differently, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How long to measure.
#[derive(Clone, Copy, Debug)]
pub struct Effort {
    /// Batches per frame (one histogram sample each).
    pub batches: u32,
    /// Runs per batch (the kernel averages the time over them).
    pub repeat: u32,
}

/// Histogram resolution: ns per packet, kept to 1/10 ns (values x10).
const SCALE: f64 = 10.0;

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let at = |q: f64| h.value_at_quantile(q) as f64 / SCALE;
    Percentiles {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: h.max() as f64 / SCALE,
    }
}

/// The `struct xdp_md` a test run starts from: { data, data_end, data_meta,
/// ingress_ifindex, rx_queue_index, egress_ifindex }. The kernel wants
/// data_end = the frame's size and data, data_meta 0; an ingress ifindex
/// makes the frame arrive on that interface of the caller's netns.
pub fn xdp_md(frame_len: usize, ingress_ifindex: u32) -> [u8; 24] {
    let mut ctx = [0u8; 24];
    let size = u32::try_from(frame_len).unwrap_or(u32::MAX);
    ctx[4..8].copy_from_slice(&size.to_ne_bytes());
    ctx[12..16].copy_from_slice(&ingress_ifindex.to_ne_bytes());
    ctx
}

/// One batch: `repeat` runs of `program` on `data`; the verdict, ns per
/// run, and whether the frame came out changed.
fn batch(
    program: &Xdp,
    name: &str,
    label: &str,
    data: &[u8],
    repeat: u32,
    ingress: Option<u32>,
) -> Result<(u32, f64, bool), BenchError> {
    // Room for what the program may grow the frame to (XDP_TX replies).
    let mut out = vec![0u8; data.len() + 512];
    let ctx = ingress.map(|ifindex| xdp_md(data.len(), ifindex));
    let result = program
        .test_run(TestRunOptions {
            data_in: Some(data),
            data_out: Some(&mut out),
            ctx_in: ctx.as_ref().map(|c| &c[..]),
            repeat,
            ..TestRunOptions::default()
        })
        .map_err(|source| BenchError::Run {
            program: name.to_owned(),
            frame: label.to_owned(),
            source,
        })?;
    // The kernel reports the mean time of one run over the repeats.
    let out_len = (result.data_size_out as usize).min(out.len());
    Ok((
        result.return_value,
        result.duration.as_nanos() as f64,
        out[..out_len] != *data,
    ))
}

/// Measures `program` against `floor` on each frame, alternating batch by
/// batch; frames arrive on `ingress` (an ifindex) when given, else on the
/// loopback, as the kernel's test runs do.
pub fn measure(
    program: (&Xdp, &str),
    floor: &Xdp,
    frames: &[(String, Vec<u8>)],
    effort: Effort,
    ingress: Option<u32>,
) -> Result<Vec<FrameResult>, BenchError> {
    let (program, name) = program;
    // Both stay in the XDP dispatcher until the last batch, so the batches
    // (repeat > 1) do not rewrite it under live XDP traffic (issue 24).
    let _holds = (
        crate::dispatcher::DispatcherHold::new(program, name)?,
        crate::dispatcher::DispatcherHold::new(floor, "the XDP_PASS floor")?,
    );
    let mut results = Vec::new();
    for (label, data) in frames {
        let new_histogram = || {
            Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
                .map_err(|e| BenchError::Frame(format!("histogram: {e}")))
        };
        let (mut prog_h, mut floor_h) = (new_histogram()?, new_histogram()?);
        // A test run repeats on one buffer: a program that rewrites the
        // frame sees its own output from the second run on, and could be
        // timed on another path (an echo meets its own reply; a router runs
        // the TTL out after 63 runs). Such a frame gets the most runs per
        // batch, halving from --repeat, whose last run still gives the
        // first run's verdict (the kernel returns the last one's).
        let (verdict, _, rewritten) = batch(program, name, label, data, 1, ingress)?;
        let mut repeat = effort.repeat;
        let mut note = None;
        if rewritten {
            while repeat > 1 && batch(program, name, label, data, repeat, ingress)?.0 != verdict {
                repeat /= 2;
            }
            note = Some(format!(
                "the program rewrites this frame: {repeat} run(s) per batch, the most that keep its verdict"
            ));
        }
        for _ in 0..effort.batches {
            let (_, ns, _) = batch(floor, "the XDP_PASS floor", label, data, repeat, ingress)?;
            let _ = floor_h.record(((ns * SCALE) as u64).max(1));
            let (_, ns, _) = batch(program, name, label, data, repeat, ingress)?;
            let _ = prog_h.record(((ns * SCALE) as u64).max(1));
        }
        let (program_ns, floor_ns) = (percentiles(&prog_h), percentiles(&floor_h));
        results.push(FrameResult {
            frame: label.clone(),
            bytes: data.len(),
            verdict: crate::stats::row_label(verdict),
            own_ns: program_ns.p50 - floor_ns.p50,
            mpps: if program_ns.p50 > 0.0 {
                1000.0 / program_ns.p50
            } else {
                0.0
            },
            program_ns,
            floor_ns,
            repeat,
            note,
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_frames_have_the_size_asked_for_and_parse() {
        for kind in FrameKind::ALL {
            for size in SIZES {
                let data = frame(kind, size)
                    .map_err(|e| crate::error_chain(&e))
                    .expect("frame");
                assert_eq!(data.len(), size, "{} {size}", kind.name());
                let parsed = etherparse::SlicedPacket::from_ethernet(&data);
                assert!(parsed.is_ok(), "{} {size}: {parsed:?}", kind.name());
            }
        }
    }
}
