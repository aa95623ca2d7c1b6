//! `statswatch --stages -i IF`: frames per second into each stage of the
//! chain on IF, the share of frames each stage decided (by verdict), and ns
//! per stage (p50/p99), every interval. Recorders go into the chain's slots
//! only while it runs (xdp_core::capture); with nothing asked, the data
//! path runs exactly the programs the user loaded. With --prometheus the
//! same figures are served as counters labelled by stage and program.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use xdp_core::ops::{
    self,
    capture::{CaptureOptions, CaptureSummary, StageSample},
};

/// What --stages counted since its recorders went in: /metrics serves it.
#[derive(Debug, Default)]
pub struct StageTotals {
    pub iface: String,
    /// Frames seen whole (entry to verdict).
    pub frames: u64,
    /// Records the ring had no room for.
    pub lost: u64,
    /// By stage number.
    pub stages: BTreeMap<u16, StageTotal>,
}

#[derive(Debug, Default)]
pub struct StageTotal {
    /// `entry`, or the slot it sits in: `jmp_table[1]`.
    pub label: String,
    pub program: String,
    pub frames: u64,
    /// Frames whose verdict this stage decided, by verdict.
    pub decided: BTreeMap<String, u64>,
    /// Over the last interval.
    pub ns_p50: u64,
    pub ns_p99: u64,
}

impl StageTotals {
    fn add(&mut self, sample: &StageSample) {
        self.frames += sample.frames;
        self.lost = sample.lost;
        for row in &sample.stages {
            let stage = self.stages.entry(row.stage).or_default();
            stage.label.clone_from(&row.label);
            stage.program.clone_from(&row.program);
            stage.frames += row.frames;
            for (verdict, n) in &row.decided {
                *stage.decided.entry(verdict.clone()).or_default() += n;
            }
            stage.ns_p50 = row.ns_p50;
            stage.ns_p99 = row.ns_p99;
        }
    }
}

pub fn run(
    iface: &str,
    pin_dir: std::path::PathBuf,
    interval: Duration,
    count: Option<u64>,
    json: bool,
    prometheus: Option<&str>,
) -> anyhow::Result<()> {
    ops::require_capabilities("statswatch --stages")?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))?;
    let totals = Arc::new(Mutex::new(StageTotals {
        iface: iface.to_owned(),
        ..StageTotals::default()
    }));
    // Bound before the recorders go in: a port in use changes nothing.
    let exporter = prometheus
        .map(|addr| crate::prometheus::serve_stages(addr, Arc::clone(&totals)))
        .transpose()?;
    let mut capture = ops::capture::start(&CaptureOptions::for_stages(iface, pin_dir))?;
    let chain = capture.chain().clone();
    if !json {
        eprintln!(
            "statswatch: recorders in the {} stage(s) of {iface}'s chain while this runs (each costs one tail call); Ctrl-C stops",
            chain.stages.len()
        );
    }
    if let Some(exporter) = &exporter {
        eprintln!("statswatch: serving http://{}/metrics", exporter.addr);
    }
    let mut intervals = 0u64;
    let stopped = || stop.load(Ordering::Relaxed);
    let result = (|| -> anyhow::Result<Option<String>> {
        loop {
            match capture.sample_stages(interval, &stopped) {
                Ok(Some(sample)) => {
                    if let Ok(mut totals) = totals.lock() {
                        totals.add(&sample);
                    }
                    // An exporter prints nothing per interval, unless asked for JSON.
                    if exporter.is_none() || json {
                        print(&sample, json)?;
                    }
                }
                Ok(None) => return Ok(None),
                Err(why) => return Ok(Some(why)),
            }
            intervals += 1;
            if count.is_some_and(|n| intervals >= n) {
                return Ok(None);
            }
        }
    })();
    let ended_by = result.as_ref().ok().cloned().flatten();
    let (summary, _) = capture.stop(ended_by)?;
    result?;
    report(&summary, json);
    Ok(())
}

fn print(sample: &StageSample, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(sample)?);
        return Ok(());
    }
    print!("{}", xdp_core::capture::stage_stats::table(&sample.stages));
    println!(
        "{} frame(s), {} record(s) lost so far",
        sample.frames, sample.lost
    );
    Ok(())
}

fn report(summary: &CaptureSummary, json: bool) {
    if json {
        return;
    }
    if let Some(why) = &summary.ended_by {
        eprintln!("statswatch: stopped: {why}");
    }
    for line in &summary.undone {
        eprintln!("statswatch: {line}");
    }
}
