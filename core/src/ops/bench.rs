//! `xdploader bench -file FILE`: the object loaded as `load` would (jump
//! tables filled, the devmap too with `-i`; nothing attached), its entry run
//! on frames through BPF_PROG_TEST_RUN against an empty XDP_PASS program (see
//! [`crate::bench`]). With `-i` the frames arrive on the first interface, so
//! a FIB lookup and a redirect take the path they would there.

use std::path::PathBuf;

use serde::Serialize;

use super::{
    load::{self as load_op, LoadOptions},
    require_capabilities, Error,
};
use crate::{
    bench::{self, Effort, FrameKind, FrameResult},
    jump_table::{ChainOptions, JumpTables},
    load,
};

/// Which frames to run.
#[derive(Clone, Debug)]
pub enum Frames {
    /// Built-in frames of these kinds, in these sizes.
    BuiltIn {
        kinds: Vec<FrameKind>,
        sizes: Vec<usize>,
    },
    /// The first frames of a pcap file.
    Pcap { path: PathBuf, limit: usize },
}

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub file: PathBuf,
    /// Interfaces the devmap is filled with, as a load would (nothing is
    /// attached); frames arrive on the first.
    pub interfaces: Vec<String>,
    pub chain: ChainOptions,
    pub max_entries: Vec<load::MaxEntries>,
    pub frames: Frames,
    pub effort: Effort,
    /// A bpffs the object's maps are pinned in while measured, and that dies
    /// with the process ([`crate::bpffs::scratch_bpffs`]).
    pub scratch: PathBuf,
    /// Time the chain with `xdploader capture`'s recorders in place against
    /// the chain without them (the floor), instead of against XDP_PASS.
    pub capture: bool,
}

/// What `--capture` measured against: the recorders a frame passes.
#[derive(Debug, Serialize)]
pub struct CaptureCost {
    pub stages: usize,
    /// Records each frame makes: the entry's input, one per stage it
    /// passes, the verdict.
    pub records_per_frame: usize,
    /// Bytes of each frame a record keeps.
    pub snaplen: u32,
}

/// Snap length of `bench --capture`: headers only, the case a capture of
/// a flood would use.
const CAPTURE_SNAPLEN: u32 = 64;

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub file: PathBuf,
    pub entry: String,
    pub jump_tables: JumpTables,
    /// The interface frames arrive on (`-i`), if not the loopback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    pub batches: u32,
    pub repeat: u32,
    pub results: Vec<FrameResult>,
    /// Frames not run, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// With `--capture`: the floor is the chain without recorders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureCost>,
}

pub fn run(opts: &BenchOptions) -> Result<BenchReport, Error> {
    require_capabilities("bench")?;
    // Read, inspected and planned exactly as a load would, on no interface.
    let prepared = load_op::prepare(&LoadOptions {
        file: opts.file.clone(),
        interfaces: opts.interfaces.clone(),
        pin_dir: opts.scratch.clone(),
        chain: opts.chain.clone(),
        devmap: None,
        max_entries: opts.max_entries.clone(),
        mode: crate::attach::Mode::Auto,
        fresh: true,
        peer_fix: false,
        lock_wait: std::time::Duration::ZERO,
        pin_mode: crate::state::PinMode::default(),
        force: false,
    })?;
    let pins: Vec<(String, PathBuf)> = prepared
        .summary
        .maps
        .iter()
        .filter(|m| !m.global_data)
        .map(|m| (m.name.clone(), opts.scratch.join(&m.name)))
        .collect();
    let ebpf = load::load(&prepared.data, &prepared.summary, &pins)?;
    prepared.fill_tables(&ebpf)?;
    let ingress = prepared.interfaces.first();
    let program: &aya::programs::Xdp = ebpf
        .program(&prepared.entry)
        .and_then(|p| p.try_into().ok())
        .ok_or_else(|| {
            Error::Load(load::LoadError::Program {
                name: prepared.entry.clone(),
                source: aya::programs::ProgramError::NotLoaded,
            })
        })?;
    let frags = prepared
        .summary
        .programs
        .iter()
        .any(|p| p.name == prepared.entry && p.frags);

    let mut skipped = Vec::new();
    let frames = match &opts.frames {
        Frames::Pcap { path, limit } => bench::pcap_frames(path, *limit)?,
        Frames::BuiltIn { kinds, sizes } => {
            let mut frames = Vec::new();
            for kind in kinds {
                for size in sizes {
                    // Beyond one page of linear data only the frags path runs.
                    if *size > 3520 && !frags {
                        skipped.push(format!(
                            "{} {size}: {} is plain xdp; frames past a page need xdp.frags",
                            kind.name(),
                            prepared.entry
                        ));
                        continue;
                    }
                    frames.push((kind.name().to_owned(), bench::frame(*kind, *size)?));
                }
            }
            frames
        }
    };
    let (results, capture) = if opts.capture {
        let entry_id = program
            .info()
            .map_err(|source| {
                Error::Load(load::LoadError::Program {
                    name: prepared.entry.clone(),
                    source,
                })
            })?
            .id();
        let mut recorders = crate::capture::recorders::install_unattached(
            &opts.scratch.join("capture"),
            entry_id,
            CAPTURE_SNAPLEN,
        )?;
        let stages = recorders.stages;
        let (recorded, ring) = recorders.entry_and_ring();
        let recorded = recorded.ok_or_else(|| {
            Error::Load(load::LoadError::Program {
                name: "xdpcap_entry".into(),
                source: aya::programs::ProgramError::NotLoaded,
            })
        })?;
        // The ring is drained as a capture's reader would: a full ring
        // makes recorders fail fast, which would time the cheap path.
        let done = std::sync::atomic::AtomicBool::new(false);
        let results = std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    while ring.next().is_some() {}
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            });
            let results = bench::measure(
                (recorded, &prepared.entry),
                program,
                &frames,
                opts.effort,
                ingress.map(|i| i.ifindex),
            );
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            results
        })?;
        let cost = CaptureCost {
            stages,
            records_per_frame: stages + 2,
            snaplen: CAPTURE_SNAPLEN,
        };
        (results, Some(cost))
    } else {
        // The floor: an empty XDP_PASS program (frags, so every size runs).
        let mut floor_obj =
            load::load_embedded(crate::peer::PASS_OBJECT, crate::peer::PASS_PROGRAM)
                .map_err(Error::Load)?;
        let floor = load::embedded_program(&mut floor_obj, crate::peer::PASS_PROGRAM)
            .map_err(Error::Load)?;
        let results = bench::measure(
            (program, &prepared.entry),
            floor,
            &frames,
            opts.effort,
            ingress.map(|i| i.ifindex),
        )?;
        (results, None)
    };
    Ok(BenchReport {
        file: opts.file.clone(),
        entry: prepared.entry,
        jump_tables: prepared.jump_tables,
        ingress: ingress.map(|i| i.name.clone()),
        batches: opts.effort.batches,
        repeat: opts.effort.repeat,
        results,
        skipped,
        capture,
    })
}
