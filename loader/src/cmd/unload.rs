//! `xdploader unload -i IF[,IF]` (also `--unload`): detach and remove the
//! pins the load made, restoring the peer fix.

use std::{fmt, process::ExitCode};

use xdp_core::ops::{self, unload::UnloadReport};

use crate::{cli::Target, missing, print_report};

pub fn run(target: &Target, all: bool) -> anyhow::Result<ExitCode> {
    if target.interfaces.is_empty() && !all {
        missing("no interface given: unload -i IF[,IF...] (or --all)");
    }
    let mut opts = target.unload_options();
    ops::require_capabilities("unload")?;
    clikit::pins_where_the_host_sees_them("xdploader", &mut opts.pin_dir)?;
    let report = if all {
        ops::unload::run_all(&opts.pin_dir, opts.lock_wait)?
    } else {
        ops::unload::run(&opts)?
    };
    if all && report.unloaded.is_empty() && !target.json {
        println!(
            "nothing to unload: no load of ours under {}",
            opts.pin_dir.display()
        );
    }
    print_report(&report, target.json, |r| UnloadText(r).to_string())?;
    Ok(ExitCode::SUCCESS)
}

struct UnloadText<'a>(&'a UnloadReport);

impl fmt::Display for UnloadText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.0;
        for line in &report.cleaned {
            writeln!(f, "cleaned up: {line}")?;
        }
        for u in &report.unloaded {
            write!(f, "{}: detached", u.iface)?;
            if u.removed.is_empty() {
                writeln!(f)?;
            } else {
                let removed: Vec<_> = u.removed.iter().map(|p| p.display().to_string()).collect();
                writeln!(f, ", removed {}", removed.join(" "))?;
            }
        }
        for line in &report.peers_restored {
            writeln!(f, "{line}")?;
        }
        for dir in report.unloaded.iter().filter_map(|u| u.unmounted.as_ref()) {
            writeln!(
                f,
                "unmounted the bpffs xdploader had mounted at {}",
                dir.display()
            )?;
        }
        if report.unloaded.iter().any(|u| u.removed_pin_dir) {
            writeln!(f, "removed the pin directory xdploader had created")?;
        }
        Ok(())
    }
}
