//! A traffic generator for veth benches, the way xdp-trafficgen works (its
//! Debian 12 build fails on 6.18, and this kernel has no pktgen):
//! BPF_PROG_TEST_RUN in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES, 5.18+)
//! runs kern/xdp_trafficgen.c on copies of a template frame, and its XDP_TX
//! sends each copy out of the interface the run's context names. One
//! thread per CPU asked for, each in the calling thread's network
//! namespace, until the time is up.
//!
//! A veth delivers what is sent into it only to a peer with NAPI: an XDP
//! program on the peer, or GRO on (`ethtool -K PEER gro on`).

use std::time::{Duration, Instant};

use aya::programs::{TestRun as _, TestRunAttrs, TestRunOptions, Xdp};
use serde::Serialize;

/// kern/xdp_trafficgen.elf, built by build.rs.
const OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xdp_trafficgen.elf"));
const PROGRAM: &str = "xdp_trafficgen";
/// Its map of the template's headers, and their size (TRAFFICGEN_HEADER).
const HEADER_MAP: &str = "trafficgen_header";
const HEADER: usize = 48;

#[derive(Debug, thiserror::Error)]
pub enum TrafficgenError {
    #[error("loading kern/xdp_trafficgen.elf")]
    Load(#[source] crate::load::LoadError),
    #[error("sending on ifindex {ifindex} (BPF_PROG_TEST_RUN with live frames needs kernel 5.18)")]
    Send {
        ifindex: u32,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("filling {HEADER_MAP} with the template's headers")]
    Header(#[source] aya::maps::MapError),
    #[error("a sender thread panicked")]
    Thread,
    #[error(transparent)]
    Dispatcher(#[from] crate::dispatcher::DispatcherError),
}

/// What to send.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// The interface it leaves by (in the calling thread's namespace).
    pub ifindex: u32,
    /// The template frame, sent as is.
    pub frame: Vec<u8>,
    pub duration: Duration,
    /// Sender threads.
    pub threads: usize,
    /// Frames per kernel batch (the live-frames batch size).
    pub batch: u32,
}

#[derive(Debug, Serialize)]
pub struct Sent {
    pub frames: u64,
    pub seconds: f64,
    pub mpps: f64,
    pub threads: usize,
}

/// Frames per BPF_PROG_TEST_RUN call: long enough that the syscall is noise,
/// short enough to stop close to the deadline.
const PER_CALL: u32 = 1 << 18;

/// Sends `traffic` until its duration is up; returns how much was sent.
pub fn send(traffic: &Traffic) -> Result<Sent, TrafficgenError> {
    let mut ebpf = crate::load::load_embedded(OBJECT, PROGRAM).map_err(TrafficgenError::Load)?;
    // The headers the program puts back before every send (see its source).
    let mut header = [0u8; HEADER];
    let n = traffic.frame.len().min(HEADER);
    header[..n].copy_from_slice(&traffic.frame[..n]);
    let map = ebpf
        .map_mut(HEADER_MAP)
        .ok_or_else(|| aya::maps::MapError::InvalidName {
            name: HEADER_MAP.to_owned(),
        })
        .map_err(TrafficgenError::Header)?;
    aya::maps::Array::<_, [u8; HEADER]>::try_from(map)
        .and_then(|mut a| a.set(0, header, 0))
        .map_err(TrafficgenError::Header)?;
    let program: &Xdp =
        crate::load::embedded_program(&mut ebpf, PROGRAM).map_err(TrafficgenError::Load)?;
    // Live frames leave by the interface they "arrive" on.
    let ctx = crate::bench::xdp_md(traffic.frame.len(), traffic.ifindex);
    // In the XDP dispatcher for the whole run: each call (repeat > 1) would
    // otherwise rewrite it twice while the frames it sends run through it
    // on the peer's CPU (issue 24; see crate::dispatcher).
    let _hold = crate::dispatcher::DispatcherHold::new(program, PROGRAM)?;
    let start = Instant::now();
    let deadline = start + traffic.duration;
    let netns = std::fs::File::open("/proc/thread-self/ns/net").ok();
    let frames = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..traffic.threads.max(1))
            .map(|_| {
                let netns = netns.as_ref().and_then(|f| f.try_clone().ok());
                scope.spawn(move || -> Result<u64, TrafficgenError> {
                    // Each thread starts where the caller is: in its netns.
                    if let Some(ns) = netns {
                        let _ = nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET);
                    }
                    let mut sent = 0u64;
                    while Instant::now() < deadline {
                        program
                            .test_run(TestRunOptions {
                                data_in: Some(&traffic.frame),
                                ctx_in: Some(&ctx),
                                repeat: PER_CALL,
                                attrs: TestRunAttrs::new().xdp_live_frames(traffic.batch),
                                ..TestRunOptions::default()
                            })
                            .map_err(|source| TrafficgenError::Send {
                                ifindex: traffic.ifindex,
                                source,
                            })?;
                        sent += u64::from(PER_CALL);
                    }
                    Ok(sent)
                })
            })
            .collect();
        senders
            .into_iter()
            .map(|s| s.join().map_err(|_| TrafficgenError::Thread)?)
            .sum::<Result<u64, TrafficgenError>>()
    })?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(Sent {
        frames,
        seconds,
        mpps: frames as f64 / seconds / 1e6,
        threads: traffic.threads.max(1),
    })
}
