//! `xdploader trafficgen -i IF`: what was sent, in one line.

use std::process::ExitCode;

use xdp_core::ops;

use crate::{cli::TrafficgenArgs, print_report};

pub fn run(args: &TrafficgenArgs) -> anyhow::Result<ExitCode> {
    let sent = ops::trafficgen::run(&args.options())?;
    print_report(&sent, args.json, |s| {
        format!(
            "{}: sent {} frames of {} bytes in {:.2} s: {:.2} Mpps ({} thread{})\n",
            args.interface,
            s.frames,
            args.size,
            s.seconds,
            s.mpps,
            s.threads,
            if s.threads == 1 { "" } else { "s" }
        )
    })?;
    Ok(ExitCode::SUCCESS)
}
