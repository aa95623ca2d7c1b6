//! `xdploader doctor -i IF[,IF]`: the findings, each with its cause and the
//! command that fixes it; exits 1 while problems are left, so scripts can
//! gate on it.

use std::{fmt, process::ExitCode};

use xdp_core::ops::{
    self,
    doctor::{DoctorReport, Severity},
};

use crate::{cli::DoctorArgs, missing, print_report};

pub fn run(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    if args.target.interfaces.is_empty() {
        missing("no interface given: doctor -i IF[,IF...]");
    }
    let mut opts = args.options();
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
