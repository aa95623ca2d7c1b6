//! `statswatch --stages -i IF`: frames per second into each stage of the
//! chain on IF, the share of frames each stage decided (by verdict), and ns
//! per stage (p50/p99), every interval. Recorders go into the chain's slots
//! only while it runs (xdp_core::capture); with nothing asked, the data
//! path runs exactly the programs the user loaded.

use std::{
    fmt::Write as _,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use xdp_core::{
    capture::stage_stats::{StageRow, StageStats},
    ops::{
        self,
        capture::{CaptureOptions, CaptureSummary},
    },
};

/// Bytes kept of each frame: none are shown, the Ethernet header is enough.
const SNAPLEN: u32 = 14;
const POLL: Duration = Duration::from_millis(10);

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
    let mut capture = ops::capture::start(&CaptureOptions {
        iface: iface.to_owned(),
        pin_dir,
        snaplen: SNAPLEN,
        stages: Vec::new(),
        verdicts: Vec::new(),
    })?;
    let chain = capture.chain().clone();
    if !json {
        eprintln!(
            "statswatch: recorders in the {} stage(s) of {iface}'s chain while this runs (each costs one tail call); Ctrl-C stops",
            chain.stages.len()
        );
    }
    let mut intervals = 0u64;
    let result = (|| -> anyhow::Result<Option<String>> {
        loop {
            let mut stats = StageStats::default();
            let start = Instant::now();
            while start.elapsed() < interval {
                if stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                if !capture.still_attached() {
                    return Ok(Some(format!(
                        "the chain on {iface} was replaced or detached (a load, apply or unload)"
                    )));
                }
                for frame in capture.poll() {
                    stats.add(&frame);
                }
                std::thread::sleep(POLL);
            }
            let rows = stats.rows(&chain, start.elapsed().as_secs_f64());
            print(&rows, stats.frames, capture.lost(), json)?;
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

fn print(rows: &[StageRow], frames: u64, lost: u64, json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::json!({ "frames": frames, "lost": lost, "stages": rows })
        );
        return Ok(());
    }
    let mut out = String::new();
    writeln!(
        out,
        "{:<14} {:<20} {:>10} {:>9} {:>9} {:>8}  decided",
        "stage", "program", "pps", "ns p50", "ns p99", "share"
    )?;
    for row in rows {
        let decided: Vec<String> = row
            .decided
            .iter()
            .map(|(verdict, n)| format!("{verdict} {n}"))
            .collect();
        writeln!(
            out,
            "{:<14} {:<20} {:>10.0} {:>9} {:>9} {:>7.1}%  {}",
            row.label,
            row.program,
            row.pps,
            row.ns_p50,
            row.ns_p99,
            row.decided_share * 100.0,
            decided.join(", ")
        )?;
    }
    writeln!(out, "{frames} frame(s), {lost} record(s) lost so far")?;
    print!("{out}");
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
