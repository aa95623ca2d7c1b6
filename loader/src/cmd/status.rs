//! `xdploader status [-i IF] [--all-netns]`: one line per interface with an
//! XDP program, and for ours what it came from and what it holds.

use std::{fmt, process::ExitCode};

use xdp_core::ops::{self, status::StatusReport};

use crate::{cli::StatusArgs, print_report};

pub fn run(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let mut opts = args.options();
    ops::require_capabilities("status")?;
    clikit::pins_where_the_host_sees_them("xdploader", &mut opts.pin_dir)?;
    let report = ops::status::run(&opts)?;
    if args.dot {
        print!("{}", crate::dot::status(&report, &counters));
        return Ok(ExitCode::SUCCESS);
    }
    if args.stages {
        let [iface] = args.target.interfaces.as_slice() else {
            anyhow::bail!("--stages: name one interface with -i");
        };
        let sample = stages_once(iface, &opts.pin_dir)?;
        if args.target.json {
            let mut doc = serde_json::to_value(&report)?;
            doc["stages"] = serde_json::to_value(&sample)?;
            println!("{doc}");
        } else {
            print!("{}", StatusText(&report));
            print!("{}", xdp_core::capture::stage_stats::table(&sample.stages));
            println!(
                "{} frame(s) in 1 s, {} record(s) lost",
                sample.frames, sample.lost
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    print_report(&report, args.target.json, |r| StatusText(r).to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// One second of per-stage counts and time, recorders in the chain for it.
fn stages_once(
    iface: &str,
    pin_dir: &std::path::Path,
) -> anyhow::Result<ops::capture::StageSample> {
    crate::signals::hold_back();
    let mut capture = ops::capture::start(&ops::capture::CaptureOptions::for_stages(
        iface,
        pin_dir.to_owned(),
    ))?;
    let stopped = || crate::signals::pending().is_some();
    let sample = capture.sample_stages(std::time::Duration::from_secs(1), &stopped);
    capture.stop(None)?;
    match sample {
        Ok(Some(sample)) => Ok(sample),
        Ok(None) => anyhow::bail!("interrupted"),
        Err(why) => anyhow::bail!(why),
    }
}

struct StatusText<'a>(&'a StatusReport);

impl fmt::Display for StatusText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.0;
        for line in &report.cleaned_up {
            writeln!(f, "cleaned up: {line}")?;
        }
        if report.interfaces.is_empty() {
            writeln!(f, "no XDP program attached")?;
        }
        for i in &report.interfaces {
            write!(f, "{} ({})", i.iface, i.ifindex)?;
            if let Some(ns) = &i.netns {
                write!(f, " in {ns}")?;
            }
            write!(f, ": {}", i.mode.name())?;
            if let Some(id) = i.prog_id {
                write!(f, ", prog {id} {}", i.prog_name.as_deref().unwrap_or("?"))?;
            }
            match (&i.load, i.ours, &i.peer_fix_of) {
                (Some(load), true, _) => write!(f, ", ours: {}", load.object.display())?,
                (None, true, _) => write!(f, ", ours")?,
                (_, false, Some(of)) => write!(f, ", ours: the veth peer fix of {of}")?,
                (_, false, None) if i.prog_id.is_some() => write!(f, ", not ours")?,
                _ => {}
            }
            if let Some(secs) = i.loaded_at {
                let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
                write!(f, ", loaded {}", humantime::format_rfc3339_seconds(at))?;
            }
            if let Some(config) = i.load.as_ref().and_then(|l| l.applied_from.as_ref()) {
                write!(f, ", applied from {}", config.display())?;
            }
            writeln!(f)?;
            if !i.pins.is_empty() {
                let pins: Vec<_> = i.pins.iter().map(|p| p.display().to_string()).collect();
                writeln!(f, "  pins: {}", pins.join(" "))?;
            }
            for table in &i.jump_tables {
                let slots = slot_list(
                    table
                        .slots
                        .iter()
                        .map(|s| format!("{} <- {} (prog {})", s.slot, s.prog_name, s.prog_id)),
                );
                writeln!(f, "  jump table {}: {slots}", table.map)?;
            }
            for outer in &i.maps_of_maps {
                let slots = slot_list(
                    outer
                        .slots
                        .iter()
                        .map(|s| format!("{} <- {} (map {})", s.slot, s.map_name, s.map_id)),
                );
                writeln!(f, "  map of maps {}: {slots}", outer.map)?;
            }
            if let Some(capture) = &i.capture {
                writeln!(
                    f,
                    "  capture: recorders in the chain for xdploader capture (pid {}, since {}, {} stage(s))",
                    capture.pid,
                    capture.since_text(),
                    capture.stages
                )?;
            }
            for line in &i.peer_fix {
                writeln!(f, "  peer fix: {line}")?;
            }
        }
        let running: Vec<String> = report
            .elsewhere
            .iter()
            .filter(|ns| !ns.running.is_empty())
            .map(|ns| ns.pin_dir.display().to_string())
            .collect();
        if !running.is_empty() {
            writeln!(
                f,
                "{} other network namespace(s) run programs of ours (pins: {}): xdploader status --all-netns",
                running.len(),
                running.join(", ")
            )?;
        }
        for ns in report.elsewhere.iter().filter(|ns| !ns.gone.is_empty()) {
            writeln!(
                f,
                "{}: {} gone with its network namespace; its pins stay until `xdploader unload --all`",
                ns.pin_dir.display(),
                ns.gone.join(", ")
            )?;
        }
        Ok(())
    }
}

/// `XDP_PASS 12, XDP_DROP 3`: the verdicts a stats map counted, for `--dot`.
fn counters(path: &std::path::Path) -> Option<String> {
    let rows = xdp_core::stats::StatsMap::open(path)
        .ok()?
        .read(false)
        .ok()?;
    let lines: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {}", r.action, r.packets))
        .collect();
    Some(format!("{}\n{}", path.display(), lines.join("\n")))
}

/// A table's filled slots, comma-separated, or "empty".
fn slot_list(slots: impl Iterator<Item = String>) -> String {
    let slots: Vec<String> = slots.collect();
    if slots.is_empty() {
        "empty".to_owned()
    } else {
        slots.join(", ")
    }
}
