//! `xdploader inspect -file FILE`: what a load would do; no root needed.

use std::{fmt, process::ExitCode};

use xdp_core::ops::{self, inspect::InspectReport};

use crate::{
    cli::InspectArgs,
    missing, print_report,
    text::{JumpTablesText, SummaryText},
};

pub fn run(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let Some(file) = args.file.clone() else {
        missing("the XDP object is missing: inspect -file FILE");
    };
    let report = ops::inspect::run(&args.options(file))?;
    if args.dot {
        print!("{}", crate::dot::inspect(&report));
    } else {
        print_report(&report, args.json, |r| InspectText(r).to_string())?;
    }
    // A script asks "would this load?": 1 where the report says it would fail.
    Ok(if report.problem.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

struct InspectText<'a>(&'a InspectReport);

impl fmt::Display for InspectText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.0;
        write!(
            f,
            "{}",
            SummaryText {
                file: &report.file,
                summary: &report.summary,
                pin_dir: &report.pin_dir,
                first_iface: None,
            }
        )?;
        for ksym in &report.kfuncs {
            let what = if ksym.variable.is_some() {
                "ksym "
            } else {
                "kfunc"
            };
            writeln!(f, "  {what} {}", ksym.describe())?;
        }
        if let Some(entry) = &report.entry {
            writeln!(f, "entry: {entry}")?;
        }
        if let Some(tables) = &report.jump_tables {
            write!(f, "{}", JumpTablesText(tables))?;
        }
        if let Some(problem) = &report.problem {
            writeln!(f, "a load would fail: {problem}")?;
        }
        Ok(())
    }
}
