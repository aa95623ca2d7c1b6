//! `xdploader doctor [-i IF[,IF]]` (default: every interface running XDP
//! here): the findings, each with its cause and the
//! command that fixes it; exits 1 while problems are left, so scripts can
//! gate on it.

use std::{fmt, process::ExitCode};

use xdp_core::ops::{
    self,
    doctor::{DoctorReport, Severity},
};

use crate::{cli::DoctorArgs, missing_in, print_report};

pub fn run(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let mut opts = args.options();
    // No -i: every interface of this namespace that runs an XDP program.
    if opts.interfaces.is_empty() {
        opts.interfaces = xdp_core::netdev::interfaces()?
            .into_iter()
            .filter(|(ifindex, _)| {
                xdp_core::netdev::link(*ifindex)
                    .is_ok_and(|l| l.xdp != xdp_core::netdev::XdpMode::None)
            })
            .map(|(_, name)| name)
            .collect();
        if opts.interfaces.is_empty() {
            missing_in(
                "doctor",
                "no interface here runs an XDP program: name the ones to check with -i IF[,IF...]",
            );
        }
    }
    ops::require_capabilities("doctor")?;
    clikit::pins_where_the_host_sees_them("xdploader", &mut opts.pin_dir)?;
    let report = ops::doctor::run(&opts)?;
    print_report(&report, args.target.json, |r| DoctorText(r).to_string())?;
    Ok(if report.open_problems() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

struct DoctorText<'a>(&'a DoctorReport);

impl fmt::Display for DoctorText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.0;
        for finding in &report.findings {
            let tag = match (finding.severity, finding.fixed) {
                (_, true) => "fixed",
                (Severity::Problem, false) => "problem",
                (Severity::Info, false) => "info",
            };
            writeln!(f, "{tag}: [{}] {}", finding.check, finding.message)?;
            if let (Some(fix), false) = (&finding.fix, finding.fixed) {
                writeln!(f, "  fix: {}", fix.command)?;
            }
            if let Some(why) = &finding.fix_failed {
                writeln!(f, "  fix failed: {why}")?;
            }
        }
        let open = report.open_problems();
        if open == 0 {
            writeln!(f, "no problems left")
        } else {
            writeln!(f, "{open} problem{} left", if open == 1 { "" } else { "s" })
        }
    }
}
