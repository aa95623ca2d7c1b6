//! `xdploader bench -file FILE`: the object loaded as `load` would (jump
//! tables filled; no interface, no attach), its entry run on frames through
//! BPF_PROG_TEST_RUN against an empty XDP_PASS program (see [`crate::bench`]).

use std::path::PathBuf;

use serde::Serialize;

use super::{
    load::{self as load_op, LoadOptions},
    require_capabilities, Error,
};
use crate::{
    bench::{self, Effort, FrameKind, FrameResult},
    jump_table::{self, ChainOptions, JumpTables},
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
    pub chain: ChainOptions,
    pub max_entries: Vec<load::MaxEntries>,
    pub frames: Frames,
    pub effort: Effort,
    /// A bpffs the object's maps are pinned in while measured, and that dies
    /// with the process ([`crate::bpffs::scratch_bpffs`]).
    pub scratch: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub file: PathBuf,
    pub entry: String,
    pub jump_tables: JumpTables,
    pub batches: u32,
    pub repeat: u32,
    pub results: Vec<FrameResult>,
    /// Frames not run, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

pub fn run(opts: &BenchOptions) -> Result<BenchReport, Error> {
    require_capabilities("bench")?;
    // Read, inspected and planned exactly as a load would, on no interface.
    let prepared = load_op::prepare(&LoadOptions {
        file: opts.file.clone(),
        interfaces: Vec::new(),
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
    jump_table::fill(&ebpf, &prepared.jump_tables)?;
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

    // The floor: an empty XDP_PASS program (frags, so every size runs).
    let mut floor_obj = load::load_embedded(crate::peer::PASS_OBJECT, crate::peer::PASS_PROGRAM)
        .map_err(Error::Load)?;
    let floor =
        load::embedded_program(&mut floor_obj, crate::peer::PASS_PROGRAM).map_err(Error::Load)?;

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
    let results = bench::measure((program, &prepared.entry), floor, &frames, opts.effort)?;
    Ok(BenchReport {
        file: opts.file.clone(),
        entry: prepared.entry,
        jump_tables: prepared.jump_tables,
        batches: opts.effort.batches,
        repeat: opts.effort.repeat,
        results,
        skipped,
    })
}
