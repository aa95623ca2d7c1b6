//! `xdploader tracelog`: what XDP programs print with bpf_printk, line by
//! line as it comes, until Ctrl-C, `--count` or `--duration`.

use std::{
    io::Write as _,
    process::ExitCode,
    time::{Duration, Instant},
};

use xdp_core::{bpffs, ops, tracelog::TraceLog};

use crate::{cli::TracelogArgs, signals};

/// How often the instance's pipe is looked at: reading it blocks no signal.
const POLL: Duration = Duration::from_millis(100);

pub fn run(args: &TracelogArgs) -> anyhow::Result<ExitCode> {
    if let Some(secs) = args.duration {
        anyhow::ensure!(
            (0.0..=86_400.0).contains(&secs),
            "--duration {secs}: give 0 to 86400 seconds"
        );
    }
    ops::require_capabilities("tracelog")?;
    // tracefs, if not mounted, is mounted where only this process sees it.
    let _ = bpffs::isolate_mounts(false);
    signals::hold_back();
    let mut log = TraceLog::open()?;
    let deadline = args
        .duration
        .map(|secs| Instant::now() + Duration::from_secs_f64(secs));
    let mut stdout = std::io::stdout().lock();
    let mut printed = 0u64;
    while signals::pending().is_none() && deadline.is_none_or(|d| Instant::now() < d) {
        for line in log.read()? {
            if args.json {
                writeln!(stdout, "{}", serde_json::to_string(&line)?)?;
            } else {
                writeln!(
                    stdout,
                    "[{:03}] {} {}: {}",
                    line.cpu, line.time, line.task, line.message
                )?;
            }
            printed += 1;
            if args.count.is_some_and(|n| printed >= n) {
                stdout.flush()?;
                return Ok(ExitCode::SUCCESS);
            }
        }
        stdout.flush()?;
        std::thread::sleep(POLL);
    }
    Ok(ExitCode::SUCCESS)
}
