//! `xdploader -file FILE -i IF[,IF]` (also `load`): the summary first, so it
//! is there even if the kernel refuses, then what was done, and how to undo it.

use std::{fmt, process::ExitCode};

use xdp_core::{
    bpffs,
    devmap::DevmapPlan,
    ops::{self, load::LoadReport},
    transaction::PinAction,
};

use crate::{
    cli::LoadArgs,
    missing, print_report, signals,
    text::{JumpTablesText, SummaryText},
};

pub fn run(args: &LoadArgs) -> anyhow::Result<ExitCode> {
    let Some(file) = args.file.clone() else {
        missing("the XDP object is missing: -file FILE");
    };
    if args.target.interfaces.is_empty() {
        missing("no interface given: -i IF[,IF...]");
    }
    let mut opts = args.options(std::path::absolute(file)?);
    let prepared = ops::load::prepare(&opts)?;
    if !args.target.json {
        let summary = SummaryText {
            file: &prepared.file,
            summary: &prepared.summary,
            pin_dir: &opts.pin_dir,
            first_iface: opts.interfaces.first().map(String::as_str),
        };
        print!("{summary}");
    }
    // The pin dir is mounted here, in the namespace the pins must outlive
    // us in; then our own mounts (the hidden BTF, tracefs) go private.
    // Isolation is refused in a multi-threaded process: then only slower.
    ops::require_capabilities("load")?;
    clikit::pins_where_the_host_sees_them("xdploader", &mut opts.pin_dir)?;
    bpffs::ensure_bpffs(&opts.pin_dir)?;
    let _ = bpffs::isolate_mounts(!prepared.needs_kernel_btf());
    // Ctrl-C or SIGTERM from here on is held back and looked at between the
    // steps: before the commit point the load is rolled back, after it done.
    signals::hold_back();
    let result = ops::load::execute_unless(prepared, &opts, &signals::pending);
    if result.is_err() {
        // The load rolled its pins back; a bpffs mounted for it goes too.
        bpffs::undo_unused_mounts();
    }
    if let Err(err @ ops::Error::Interrupted(signal)) = &result {
        eprintln!("xdploader: {}", xdp_core::error_chain(err));
        return Ok(ExitCode::from(signals::exit_status(signal)));
    }
    let mut report = match result {
        Err(ops::Error::Load(load)) => match load.verifier_rejection() {
            Some((rejection, log)) => {
                return rejected(args, &xdp_core::error_chain(&load), rejection, log)
            }
            None => return Err(ops::Error::Load(load).into()),
        },
        other => other?,
    };
    report.unload_command = format!("{} {}", invoked_as(), report.unload_command);
    print_report(&report, args.target.json, |r| LoadText(r).to_string())?;
    if let Some(signal) = signals::pending() {
        eprintln!("xdploader: {signal} came after the commit point: the load is complete");
    }
    Ok(ExitCode::SUCCESS)
}

/// A verifier rejection: the error line, then what it means (source line,
/// instruction, cause, fix), and the whole log where asked for.
fn rejected(
    args: &LoadArgs,
    line: &str,
    rejection: &xdp_core::verifier::Rejection,
    log: &str,
) -> anyhow::Result<ExitCode> {
    let mut saved = None;
    if let Some(path) = &args.verifier_log {
        std::fs::write(path, log)
            .map_err(|e| anyhow::anyhow!("writing the verifier log to {}: {e}", path.display()))?;
        saved = Some(path.display().to_string());
    }
    if args.target.json {
        let doc =
            serde_json::json!({ "error": line, "rejection": rejection, "verifier_log": saved });
        println!("{doc}");
    }
    eprintln!("xdploader: {line}");
    if args.verbose {
        eprintln!("{log}");
    }
    eprint!("{}", RejectionText(rejection));
    match saved {
        Some(path) => eprintln!("  the verifier's log: {path}"),
        None if !args.verbose => {
            eprintln!("  the verifier's log: --verbose, or --verifier-log FILE")
        }
        None => {}
    }
    Ok(ExitCode::FAILURE)
}

/// The lines under a rejection's error line, indented.
struct RejectionText<'a>(&'a xdp_core::verifier::Rejection);

impl fmt::Display for RejectionText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        if let Some(source) = &r.source {
            writeln!(f, "  source: {source}")?;
        }
        if let Some(insn) = &r.insn {
            writeln!(f, "  insn:   {insn}")?;
        }
        if let Some(cause) = r.cause {
            writeln!(f, "  cause:  {cause}")?;
        }
        if let Some(fix) = r.fix {
            writeln!(f, "  fix:    {fix}")?;
        }
        Ok(())
    }
}

/// How to run this binary again from anywhere: `xdploader` when that name on
/// the PATH is this very file, else its absolute path (scripts/start.sh runs
/// target/release/xdploader, which is on no PATH).
pub fn invoked_as() -> String {
    let Ok(me) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return "xdploader".to_owned();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .any(|dir| std::fs::canonicalize(dir.join("xdploader")).is_ok_and(|p| p == me))
    });
    if on_path {
        "xdploader".to_owned()
    } else {
        me.display().to_string()
    }
}

/// What the load did, after the summary.
struct LoadText<'a>(&'a LoadReport);

impl fmt::Display for LoadText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.0;
        for line in &report.cleaned {
            writeln!(f, "cleaned up: {line}")?;
        }
        write!(f, "{}", JumpTablesText(&report.jump_tables))?;
        match &report.devmap {
            DevmapPlan::Fill { map, .. } => {
                let ifs: Vec<_> = report
                    .attached
                    .iter()
                    .map(|a| format!("{} ({})", a.iface, a.ifindex))
                    .collect();
                writeln!(f, "devmap {map}: {}", ifs.join(", "))?;
            }
            DevmapPlan::Skipped { reason } => writeln!(f, "devmap: skipped, {reason}")?,
        }
        let pins: Vec<_> = report
            .pins
            .iter()
            .map(|p| {
                let how = match p.action {
                    PinAction::Create => "new".to_owned(),
                    PinAction::Reuse if !p.shared_with.is_empty() => format!(
                        "reused: also used by {}, so its counts are theirs too",
                        p.shared_with.join(", ")
                    ),
                    PinAction::Reuse => "reused".to_owned(),
                    PinAction::Borrow => "reused, another tool's: unload leaves it".to_owned(),
                    PinAction::Replace => "replaced".to_owned(),
                };
                format!("{} ({how})", p.path.display())
            })
            .collect();
        writeln!(f, "pinned: {}", pins.join(", "))?;
        for path in &report.released {
            writeln!(f, "removed {} (not in this object)", path.display())?;
        }
        for a in &report.attached {
            if let Some(forced) = &a.forced {
                writeln!(f, "{}: {forced}", a.iface)?;
            }
            if let Some(reason) = &a.native_refused {
                writeln!(f, "{}: native mode refused: {reason}", a.iface)?;
            }
            let verb = if a.replaced {
                "replaced the program on"
            } else {
                "attached to"
            };
            let mode = if a.replaced {
                String::new()
            } else {
                format!(" in {} mode", a.mode)
            };
            writeln!(
                f,
                "{}: {} {verb} {}{mode}, link pinned at {}",
                a.iface,
                report.entry,
                a.iface,
                a.link.display()
            )?;
        }
        for action in report.peers.iter().flat_map(|p| &p.actions) {
            writeln!(f, "peer {action}")?;
        }
        for warning in &report.peer_warnings {
            writeln!(f, "warning: {warning}")?;
        }
        for note in &report.degraded {
            writeln!(f, "note: {note}")?;
        }
        writeln!(f, "detach with: {}", report.unload_command)
    }
}
