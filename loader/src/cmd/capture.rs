//! `xdploader capture`: a line per frame and stage (tcpdump's habit), a JSON
//! object per frame, or pcapng; the recorders out again on Ctrl-C,
//! SIGTERM, `--count`, `--duration` or an error.

use std::{
    fs::File,
    io::{BufWriter, Write as _},
    process::ExitCode,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context as _;
use serde_json::json;
use xdp_core::{
    capture::{
        frames::{summary, Frame, STAGE_VERDICT},
        pcapng::CaptureFile,
    },
    ops::{
        self,
        capture::{Capture, CaptureOptions, CaptureSummary},
    },
    stats,
};

use crate::{
    cli::{pin_dir_or_default, CaptureArgs},
    signals,
};

/// How often the ring is drained: the recorders never wake the reader, so
/// the data path pays nothing per record for it.
const POLL: Duration = Duration::from_millis(10);

pub fn run(args: &CaptureArgs) -> anyhow::Result<ExitCode> {
    let verdicts = args
        .verdict
        .iter()
        .map(|v| {
            let name = v.to_ascii_uppercase();
            let name = if name.starts_with("XDP_") {
                name
            } else {
                format!("XDP_{name}")
            };
            stats::action_index(&name).with_context(|| {
                format!(
                    "--verdict {v}: not an XDP verdict ({})",
                    stats::XDP_ACTIONS.join(", ")
                )
            })
        })
        .collect::<anyhow::Result<Vec<u32>>>()?;
    ops::require_capabilities("capture")?;
    signals::hold_back();
    let mut pin_dir = pin_dir_or_default(args.pin_dir.as_ref());
    clikit::pins_where_the_host_sees_them("xdploader", &mut pin_dir)?;
    let opts = CaptureOptions {
        iface: args.interface.clone(),
        pin_dir,
        snaplen: args.snaplen,
        stages: args.stages.clone(),
        verdicts,
    };
    let mut capture = ops::capture::start(&opts)?;
    let chain = capture.chain().clone();
    let mut file = match &args.write {
        Some(path) => {
            let out =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            Some(CaptureFile::new(
                BufWriter::new(out),
                &args.interface,
                &chain,
                args.snaplen,
                capture.realtime_offset_ns,
            )?)
        }
        None => None,
    };
    if !args.json {
        eprintln!(
            "capturing on {}: entry {} and {} stage(s) ({}); Ctrl-C stops",
            args.interface,
            chain.entry_name,
            chain.stages.len(),
            chain
                .stages
                .iter()
                .map(xdp_core::capture::Stage::label)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let deadline = args.duration.map(|d| Instant::now() + d);
    let mut shown = 0u64;
    let mut ended_by = None;
    let mut stdout = std::io::stdout().lock();
    let mut output =
        |capture: &Capture, frames: Vec<Frame>, shown: &mut u64| -> anyhow::Result<bool> {
            for frame in frames {
                if args.count.is_some_and(|n| *shown >= n) {
                    return Ok(true);
                }
                if let Some(file) = file.as_mut() {
                    file.write(&frame, |stage| capture.stage_label(stage))?;
                } else if args.json {
                    writeln!(stdout, "{}", frame_json(capture, &frame))?;
                } else {
                    write_lines(&mut stdout, capture, &frame)?;
                }
                *shown += 1;
            }
            stdout.flush()?;
            Ok(args.count.is_some_and(|n| *shown >= n))
        };
    let result = (|| -> anyhow::Result<()> {
        loop {
            if let Some(signal) = signals::pending() {
                ended_by = Some(signal.to_owned());
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(());
            }
            if !capture.still_attached() {
                ended_by = Some(format!(
                    "the chain on {} was replaced or detached (a load, apply or unload): its recorders went with it",
                    args.interface
                ));
                return Ok(());
            }
            let frames = capture.poll();
            if output(&capture, frames, &mut shown)? {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
    })();
    // The recorders come out whatever happened above.
    let (summary, rest) = capture.stop(ended_by.clone())?;
    result?;
    output(&capture, rest, &mut shown)?;
    if let Some(file) = file.as_mut() {
        file.flush()?;
    }
    report(&summary, shown, args)?;
    Ok(ExitCode::SUCCESS)
}

/// Wall-clock time of day of a record, to the microsecond.
fn time_of_day(capture: &Capture, timestamp_ns: u64) -> String {
    let at = SystemTime::UNIX_EPOCH
        + Duration::from_nanos(timestamp_ns.saturating_add(capture.realtime_offset_ns));
    let text = humantime::format_rfc3339_micros(at).to_string();
    text.get(11..26).unwrap_or(&text).to_owned()
}

fn write_lines(
    out: &mut impl std::io::Write,
    capture: &Capture,
    frame: &Frame,
) -> std::io::Result<()> {
    let decided = capture.stage_label(frame.deciding_stage());
    for record in &frame.records {
        let what = if record.stage == STAGE_VERDICT {
            format!("verdict {} by {decided}", stats::row_label(record.verdict))
        } else {
            capture.stage_label(record.stage)
        };
        writeln!(
            out,
            "{} {} cpu{} #{} {what} len {}: {}",
            time_of_day(capture, record.timestamp_ns),
            capture.iface,
            frame.cpu,
            frame.number,
            record.len,
            summary(&record.data)
        )?;
    }
    Ok(())
}

fn frame_json(capture: &Capture, frame: &Frame) -> serde_json::Value {
    let records: Vec<_> = frame
        .records
        .iter()
        .map(|r| {
            json!({
                "stage": r.stage,
                "label": capture.stage_label(r.stage),
                "timestamp_ns": r.timestamp_ns.saturating_add(capture.realtime_offset_ns),
                "ifindex": r.ifindex,
                "rx_queue": r.rx_queue,
                "len": r.len,
                "caplen": r.data.len(),
                "summary": summary(&r.data),
                "data": r.data.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            })
        })
        .collect();
    json!({
        "iface": capture.iface,
        "cpu": frame.cpu,
        "frame": frame.number,
        "verdict": stats::row_label(frame.verdict()),
        "decided_by": capture.stage_label(frame.deciding_stage()),
        "records": records,
    })
}

fn report(summary: &CaptureSummary, shown: u64, args: &CaptureArgs) -> anyhow::Result<()> {
    if args.json {
        println!("{}", json!({ "summary": summary, "shown": shown }));
        return Ok(());
    }
    for line in &summary.undone {
        eprintln!("{line}");
    }
    if let Some(why) = &summary.ended_by {
        eprintln!("stopped: {why}");
    }
    eprintln!(
        "{shown} frame(s) shown, {} whole frame(s) captured from {} record(s); {} record(s) lost (the ring was full){}",
        summary.frames,
        summary.records,
        summary.lost,
        if summary.partial > 0 {
            format!(
                "; {} record(s) of frames mid-chain when the recorders went in or out",
                summary.partial
            )
        } else {
            String::new()
        }
    );
    if summary.lost > 0 {
        eprintln!("warning: {} record(s) lost: frames were captured without some of their stages; a smaller --snaplen or --stage keeps up", summary.lost);
    }
    Ok(())
}
