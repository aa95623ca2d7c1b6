//! `xdploader`: a thin binary over xdp-core. It owns argument parsing (with
//! the Go-style single-dash flags), rendering and exit codes; anyhow lives
//! only here and in statswatch.

mod cli;
mod cmd;
mod dot;
mod man;
mod signals;
mod text;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{error::ErrorKind, CommandFactory as _};
use serde::Serialize;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli: Cli = clikit::parse();
    if let Some(dir) = &cli.generate_assets {
        return match clikit::generate_assets(Cli::command(), dir, &man::sections) {
            Ok(_) => ExitCode::SUCCESS,
            Err(err) => clikit::fail("xdploader", &err, false),
        };
    }
    let json = match &cli.command {
        Some(Command::Load(a)) => a.target.json,
        Some(Command::Unload(a)) => a.target.json,
        Some(Command::Apply(a)) => a.json,
        Some(Command::Bench(a)) => a.json,
        Some(Command::Trafficgen(a)) => a.json,
        Some(Command::Tracelog(a)) => a.json,
        Some(Command::Capture(a)) => a.json,
        Some(Command::Inspect(a)) => a.json,
        Some(Command::Doctor(a)) => a.target.json,
        Some(Command::Status(a)) => a.target.json,
        None => cli.load.target.json,
    };
    let result = match &cli.command {
        Some(Command::Unload(args)) => cmd::unload::run(&args.target, args.all),
        Some(Command::Apply(args)) => cmd::apply::run(args),
        Some(Command::Bench(args)) => cmd::bench::run(args),
        Some(Command::Trafficgen(args)) => cmd::trafficgen::run(args),
        Some(Command::Tracelog(args)) => cmd::tracelog::run(args),
        Some(Command::Capture(args)) => cmd::capture::run(args),
        Some(Command::Load(args)) => cmd::load::run(args),
        Some(Command::Inspect(args)) => cmd::inspect::run(args),
        Some(Command::Doctor(args)) => cmd::doctor::run(args),
        Some(Command::Status(args)) => cmd::status::run(args),
        None if cli.unload => cmd::unload::run(&cli.load.target, false),
        None => cmd::load::run(&cli.load),
    };
    result.unwrap_or_else(|err| clikit::fail("xdploader", &err, json))
}

/// A missing flag: clap's error with the usage, exit 2.
fn missing(what: &str) -> ! {
    Cli::command()
        .error(ErrorKind::MissingRequiredArgument, what)
        .exit()
}

/// As [`missing`], with the usage of subcommand `verb`, not the top level's.
fn missing_in(verb: &str, what: &str) -> ! {
    let mut cli = Cli::command();
    cli.build();
    match cli.find_subcommand_mut(verb) {
        Some(sub) => sub.error(ErrorKind::MissingRequiredArgument, what).exit(),
        None => missing(what),
    }
}

/// Prints a report as one JSON document, or as `text` renders it.
fn print_report<T: Serialize>(
    report: &T,
    json: bool,
    text: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).context("encoding the report")?
        );
    } else {
        print!("{}", text(report));
    }
    Ok(())
}
