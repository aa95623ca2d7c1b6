//! `statswatch --stages -i IF`: frames per second into each stage of the
//! chain on IF, the share of frames each stage decided (by verdict), and ns
//! per stage (p50/p99), every interval. Recorders go into the chain's slots
//! only while it runs (xdp_core::capture); with nothing asked, the data
//! path runs exactly the programs the user loaded.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use xdp_core::ops::{
    self,
    capture::{CaptureOptions, CaptureSummary, StageSample},
};

pub fn run(
    iface: &str,
    pin_dir: std::path::PathBuf,
    interval: Duration,
    count: Option<u64>,
    json: bool,
) -> anyhow::Result<()> {
    ops::require_capabilities("statswatch --stages")?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))?;
    let mut capture = ops::capture::start(&CaptureOptions::for_stages(iface, pin_dir))?;
    let chain = capture.chain().clone();
    if !json {
        eprintln!(
            "statswatch: recorders in the {} stage(s) of {iface}'s chain while this runs (each costs one tail call); Ctrl-C stops",
            chain.stages.len()
        );
    }
    let mut intervals = 0u64;
    let stopped = || stop.load(Ordering::Relaxed);
    let result = (|| -> anyhow::Result<Option<String>> {
        loop {
            match capture.sample_stages(interval, &stopped) {
                Ok(Some(sample)) => print(&sample, json)?,
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
