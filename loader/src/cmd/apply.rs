//! `xdploader apply [-c FILE] [--dry-run]`: one line per step (what, on
//! which interfaces, why, and how it went), then a count. Exits 1 when a
//! step failed, the others carried out all the same.

use std::{fmt, process::ExitCode};

use xdp_core::{
    bpffs,
    config::Config,
    ops::{
        self,
        apply::{Action, ApplyReport, Outcome},
    },
};

use crate::{cli::ApplyArgs, print_report, signals};

pub fn run(args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::read(&args.config, args.lock_wait)?;
    ops::require_capabilities("apply")?;
    for entry in &mut config.entries {
        clikit::pins_where_the_host_sees_them("xdploader", &mut entry.load.pin_dir)?;
    }
    let plan = ops::apply::plan(&config)?;
    if args.dry_run {
        let report = plan.into_report(true);
        print_report(&report, args.json, |r| ApplyText(r).to_string())?;
        return Ok(exit_status(&report));
    }
    // Mounted here, in the namespace the pins must outlive us in; then our
    // own mounts go private (as a load does).
    for dir in plan.pin_dirs() {
        bpffs::ensure_bpffs(&dir)?;
    }
    let _ = bpffs::isolate_mounts(!plan.needs_kernel_btf());
    signals::hold_back();
    let (report, stopped_by) = ops::apply::execute(plan, &signals::pending);
    print_report(&report, args.json, |r| ApplyText(r).to_string())?;
    if let Some(signal) = stopped_by {
        eprintln!("xdploader: apply stopped by {signal}: the steps marked skipped were not tried");
        return Ok(ExitCode::from(signals::exit_status(signal)));
    }
    Ok(exit_status(&report))
}

fn exit_status(report: &ApplyReport) -> ExitCode {
    if report.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

struct ApplyText<'a>(&'a ApplyReport);

impl fmt::Display for ApplyText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.0;
        let unchanged = report
            .steps
            .iter()
            .filter(|s| s.action == Action::Unchanged)
            .count();
        if report.changes == 0 && report.failed == 0 {
            return writeln!(
                f,
                "{}: nothing to change, {unchanged} entr{} as declared",
                report.config.display(),
                if unchanged == 1 { "y" } else { "ies" }
            );
        }
        for step in &report.steps {
            let action = match step.action {
                Action::Load => "load",
                Action::Replace => "replace",
                Action::Reattach => "reattach",
                Action::Unload => "unload",
                Action::Unchanged => "unchanged",
                Action::Invalid => "invalid",
            };
            let outcome = match (step.action, step.outcome) {
                (Action::Unchanged, _) => String::new(),
                (_, Outcome::Planned) => " (planned)".to_owned(),
                (_, Outcome::Done) => ": done".to_owned(),
                (_, Outcome::Skipped) => ": skipped".to_owned(),
                (_, Outcome::Failed) => format!(
                    ": FAILED: {}",
                    step.error.as_deref().unwrap_or("no reason given")
                ),
            };
            writeln!(f, "{action:<9} {}: {}{outcome}", step.label(), step.why)?;
        }
        let verb = if report.dry_run {
            "to change"
        } else {
            "changed"
        };
        writeln!(
            f,
            "{}: {} {verb}, {unchanged} unchanged, {} failed",
            report.config.display(),
            report.changes,
            report.failed
        )
    }
}
