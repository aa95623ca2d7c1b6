//! `xdploader`: thin binary over the library; anyhow lives only here.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{error::ErrorKind, CommandFactory as _};
use xdploader::{
    cli::{Cli, Command, DoctorArgs, InspectArgs, LoadArgs, Target},
    cmd,
};

fn main() -> ExitCode {
    let cli: Cli = xdploader::args::parse();
    let json = match &cli.command {
        Some(Command::Load(a)) => a.target.json,
        Some(Command::Unload(a)) => a.target.json,
        Some(Command::Inspect(a)) => a.json,
        Some(Command::Doctor(a)) => a.target.json,
        None => cli.load.target.json,
    };
    if let Some(Command::Doctor(args)) = &cli.command {
        return doctor(args, json);
    }
    match run(cli) {
        Ok(out) => {
            if !out.is_empty() {
                print!("{out}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            if json {
                println!("{}", serde_json::json!({ "error": format!("{err:#}") }));
            }
            eprintln!("xdploader: {}", xdploader::one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// Runs the command and returns what to print on stdout.
fn run(cli: Cli) -> anyhow::Result<String> {
    match cli.command {
        Some(Command::Unload(args)) => unload(&args.target),
        Some(Command::Load(args)) => load(args),
        Some(Command::Inspect(args)) => inspect(&args),
        Some(Command::Doctor(_)) => unreachable!("handled in main"),
        None if cli.unload => unload(&cli.load.target),
        None => load(cli.load),
    }
}

/// A missing flag: clap's error with the usage, exit 2.
fn missing(what: &str) -> ! {
    Cli::command()
        .error(ErrorKind::MissingRequiredArgument, what)
        .exit()
}

fn load(args: LoadArgs) -> anyhow::Result<String> {
    let Some(file) = args.file.clone() else {
        missing("the XDP object is missing: -file FILE");
    };
    if args.target.interfaces.is_empty() {
        missing("no interface given: -i IF[,IF...]");
    }
    let prepared = cmd::load::prepare(file, &args)?;
    if !args.target.json {
        // The summary comes first, so it is there even if the kernel refuses.
        let summary = cmd::load::SummaryText {
            file: &prepared.file,
            summary: &prepared.summary,
            pin_dir: &args.target.pin_dir,
        };
        print!("{summary}");
    }
    let mut report = cmd::load::execute(prepared, &args).inspect_err(|e| {
        if let (true, cmd::Error::Load(load)) = (args.verbose, e) {
            if let Some(log) = load.verifier_log() {
                eprintln!("{log}");
            }
        }
    })?;
    report.unload_command = format!("{} {}", invoked_as(), report.unload_command);
    Ok(if args.target.json {
        serde_json::to_string_pretty(&report).context("encoding the report")? + "\n"
    } else {
        report.to_string()
    })
}

/// How to run this binary again from anywhere: `xdploader` when that name on
/// the PATH is this very file, else its absolute path (scripts/start.sh runs
/// target/release/xdploader, which is on no PATH).
fn invoked_as() -> String {
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

fn inspect(args: &InspectArgs) -> anyhow::Result<String> {
    let Some(file) = args.file.clone() else {
        missing("the XDP object is missing: inspect -file FILE");
    };
    let report = cmd::inspect::run(file, args)?;
    Ok(if args.json {
        serde_json::to_string_pretty(&report).context("encoding the report")? + "\n"
    } else {
        report.to_string()
    })
}

fn unload(target: &Target) -> anyhow::Result<String> {
    if target.interfaces.is_empty() {
        missing("no interface given: unload -i IF[,IF...]");
    }
    let report = cmd::unload::run(target)?;
    Ok(if target.json {
        serde_json::to_string_pretty(&report).context("encoding the report")? + "\n"
    } else {
        report.to_string()
    })
}

/// Prints the findings; exits 1 while problems are left, so scripts can gate on it.
fn doctor(args: &DoctorArgs, json: bool) -> ExitCode {
    if args.target.interfaces.is_empty() {
        missing("no interface given: doctor -i IF[,IF...]");
    }
    match cmd::doctor::run(&args.target, args.fix) {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => eprintln!("xdploader: encoding the report: {e}"),
                }
            } else {
                print!("{report}");
            }
            if report.open_problems() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            let err = anyhow::Error::new(err);
            if json {
                println!("{}", serde_json::json!({ "error": format!("{err:#}") }));
            }
            eprintln!("xdploader: {}", xdploader::one_line(&err));
            ExitCode::FAILURE
        }
    }
}
