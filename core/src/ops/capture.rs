//! `xdploader capture`: recorders into the chain on one interface, frames
//! out of the ring as whole frames (filtered), recorders out again.

use std::{path::PathBuf, time::Duration};

use serde::Serialize;

use super::Error;
use crate::{
    capture::{
        frames::{Assembler, Frame, Record, STAGE_ENTRY, STAGE_VERDICT},
        recorders::{self, Recorders},
        Chain,
    },
    iface,
    state::PinLayout,
};

#[derive(Clone, Debug)]
pub struct CaptureOptions {
    pub iface: String,
    pub pin_dir: PathBuf,
    pub snaplen: u32,
    /// Only these stages' records (a program name, a slot number, a map
    /// `name[slot]`, `entry`, `verdict`); empty: all.
    pub stages: Vec<String>,
    /// Only frames the chain ended so (XDP action numbers); empty: all.
    pub verdicts: Vec<u32>,
}

impl CaptureOptions {
    /// For per-stage counts and time (`statswatch --stages`, `status
    /// --stages`): every stage and verdict, and only the Ethernet header of
    /// each frame, which nothing shows.
    pub fn for_stages(iface: &str, pin_dir: PathBuf) -> Self {
        Self {
            iface: iface.to_owned(),
            pin_dir,
            snaplen: 14,
            stages: Vec::new(),
            verdicts: Vec::new(),
        }
    }
}

/// A capture running on one interface.
#[derive(Debug)]
pub struct Capture {
    pub iface: String,
    recorders: Recorders,
    assembler: Assembler,
    pub frames: u64,
    pub records: u64,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC when it started, ns.
    pub realtime_offset_ns: u64,
    stages: Vec<u16>,
    verdicts: Vec<u32>,
}

/// One interval of per-stage counts and time.
#[derive(Debug, Serialize)]
pub struct StageSample {
    pub frames: u64,
    /// Records lost so far (all intervals).
    pub lost: u64,
    pub stages: Vec<crate::capture::stage_stats::StageRow>,
}

/// What a capture saw and left, when it ends.
#[derive(Debug, Serialize)]
pub struct CaptureSummary {
    pub iface: String,
    pub frames: u64,
    pub records: u64,
    /// Records the ring had no room for: frames shown without them are
    /// missing stages, and `lost` says how many records.
    pub lost: u64,
    /// Records of frames mid-chain when the recorders went in or out.
    pub partial: u64,
    /// Why the capture ended early, if it did (a reload, an unload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
    pub undone: Vec<String>,
}

fn clock_ns(clock: nix::time::ClockId) -> u64 {
    nix::time::clock_gettime(clock).map_or(0, |t| {
        (t.tv_sec() as u64).saturating_mul(1_000_000_000) + t.tv_nsec() as u64
    })
}

/// Which stage numbers `wanted` names in `chain` (0 entry, 0xffff verdict).
pub fn stage_numbers(chain: &Chain, wanted: &[String]) -> Result<Vec<u16>, String> {
    let mut numbers = Vec::new();
    for want in wanted {
        let before = numbers.len();
        match want.as_str() {
            "entry" => numbers.push(STAGE_ENTRY),
            "verdict" => numbers.push(STAGE_VERDICT),
            _ => {}
        }
        if want == &chain.entry_name {
            numbers.push(STAGE_ENTRY);
        }
        for stage in &chain.stages {
            let indexed = format!("{}[{}]", stage.map_name, stage.slot);
            if want == &stage.prog_name || want == &indexed || want == &stage.slot.to_string() {
                numbers.push(stage.number);
            }
        }
        if numbers.len() == before {
            let known: Vec<String> = std::iter::once(chain.entry_name.clone())
                .chain(chain.stages.iter().map(crate::capture::Stage::label))
                .collect();
            return Err(format!(
                "--stage {want}: no such stage in this chain (it has: {}; or entry, verdict)",
                known.join(", ")
            ));
        }
    }
    Ok(numbers)
}

/// Puts the recorders in; the capture runs until [`Capture::stop`] (or drop).
pub fn start(opts: &CaptureOptions) -> Result<Capture, Error> {
    let ifindex = iface::resolve(std::slice::from_ref(&opts.iface))?[0].ifindex;
    let layout = PinLayout::new(&opts.pin_dir);
    // A link of another namespace's same-named interface is not ours to swap.
    if let Ok(facts) = crate::sys::pinned_link_facts(&layout.link(&opts.iface)) {
        crate::netns::check_link(&facts, &layout.link(&opts.iface), &opts.iface, ifindex)?;
    }
    let realtime_offset_ns = clock_ns(nix::time::ClockId::CLOCK_REALTIME)
        .saturating_sub(clock_ns(nix::time::ClockId::CLOCK_MONOTONIC));
    let recorders = recorders::install(&layout, &opts.iface, opts.snaplen)?;
    let stages = match stage_numbers(&recorders.chain, &opts.stages) {
        Ok(s) => s,
        Err(why) => {
            let mut recorders = recorders;
            let _ = recorders.undo();
            return Err(Error::Usage(why));
        }
    };
    Ok(Capture {
        iface: opts.iface.clone(),
        recorders,
        assembler: Assembler::default(),
        frames: 0,
        records: 0,
        realtime_offset_ns,
        stages,
        verdicts: opts.verdicts.clone(),
    })
}

impl Capture {
    pub fn chain(&self) -> &Chain {
        &self.recorders.chain
    }

    /// The frames completed since the last call, filtered: a frame the
    /// verdict filter keeps, with only the records of the stages asked for.
    pub fn poll(&mut self) -> Vec<Frame> {
        let mut done = Vec::new();
        while let Some(item) = self.recorders.ring.next() {
            let Some(record) = Record::parse(&item) else {
                continue;
            };
            drop(item);
            self.records += 1;
            if let Some(mut frame) = self.assembler.push(record) {
                if !self.verdicts.is_empty() && !self.verdicts.contains(&frame.verdict()) {
                    continue;
                }
                if !self.stages.is_empty() {
                    let keep = &self.stages;
                    frame.records.retain(|r| keep.contains(&r.stage));
                }
                self.frames += 1;
                done.push(frame);
            }
        }
        done
    }

    /// Records lost so far.
    pub fn lost(&self) -> u64 {
        self.recorders.lost()
    }

    /// Whether the chain still runs this capture's entry recorder.
    pub fn still_attached(&self) -> bool {
        self.recorders.still_attached()
    }

    /// A stage's name by number, as output shows it.
    pub fn stage_label(&self, stage: u16) -> String {
        let chain = &self.recorders.chain;
        match stage {
            STAGE_ENTRY => format!("entry {}", chain.entry_name),
            STAGE_VERDICT => "verdict".to_owned(),
            n => chain
                .stages
                .iter()
                .find(|s| s.number == n)
                .map_or_else(|| format!("stage {n}"), crate::capture::Stage::label),
        }
    }

    /// Folds the frames of `interval` into per-stage rows; stops early (None)
    /// when `stop` says so or the chain was replaced (`Err` with why).
    pub fn sample_stages(
        &mut self,
        interval: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<StageSample>, String> {
        let mut stats = crate::capture::stage_stats::StageStats::default();
        let start = std::time::Instant::now();
        while start.elapsed() < interval {
            if stop() {
                return Ok(None);
            }
            if !self.still_attached() {
                return Err(format!(
                    "the chain on {} was replaced or detached (a load, apply or unload)",
                    self.iface
                ));
            }
            for frame in self.poll() {
                stats.add(&frame);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Some(StageSample {
            frames: stats.frames,
            lost: self.lost(),
            stages: stats.rows(self.chain(), start.elapsed().as_secs_f64()),
        }))
    }

    /// Takes the recorders out, then reads what was still in the ring.
    pub fn stop(
        &mut self,
        ended_by: Option<String>,
    ) -> Result<(CaptureSummary, Vec<Frame>), Error> {
        // The ring outlives the recorders: the frames that ran before the
        // undo are read after it.
        let undone = self.recorders.undo()?;
        std::thread::sleep(Duration::from_millis(20));
        let rest = self.poll();
        self.assembler.finish();
        let summary = CaptureSummary {
            iface: self.iface.clone(),
            frames: self.frames,
            records: self.records,
            lost: self.lost(),
            partial: self.assembler.partial,
            ended_by,
            undone,
        };
        Ok((summary, rest))
    }
}
