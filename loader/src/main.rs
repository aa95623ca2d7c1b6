//! `xdploader`: thin binary over the library; anyhow lives only here.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{error::ErrorKind, CommandFactory as _, FromArgMatches as _};
use xdploader::{
    cli::{Cli, Command, LoadArgs, Target},
    cmd,
};

fn main() -> ExitCode {
    let mut command = Cli::command();
    let argv = xdploader::args::go_style(&command, std::env::args_os());
    let cli = match command
        .try_get_matches_from_mut(argv)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let json = match &cli.command {
        Some(Command::Load(a)) => a.target.json,
        Some(Command::Unload(a)) => a.target.json,
        None => cli.load.target.json,
    };
    match run(cli, &mut command) {
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
            eprintln!("xdploader: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command and returns what to print on stdout.
fn run(cli: Cli, command: &mut clap::Command) -> anyhow::Result<String> {
    match cli.command {
        Some(Command::Unload(args)) => unload(&args.target, command),
        Some(Command::Load(args)) => load(args, command),
        None if cli.unload => unload(&cli.load.target, command),
        None => load(cli.load, command),
    }
}

fn missing(command: &mut clap::Command, what: &str) -> ! {
    command
        .error(ErrorKind::MissingRequiredArgument, what)
        .exit()
}

fn load(args: LoadArgs, command: &mut clap::Command) -> anyhow::Result<String> {
    let Some(file) = args.file.clone() else {
        missing(command, "the XDP object is missing: -file FILE");
    };
    if args.target.interfaces.is_empty() {
        missing(command, "no interface given: -i IF[,IF...]");
    }
    let prepared = cmd::load::prepare(file, &args)?;
    if !args.target.json {
        // The summary comes first, so it is there even if the kernel refuses.
        print!(
            "{}",
            cmd::load::SummaryText(&prepared.file, &prepared.summary)
        );
    }
    let report = cmd::load::execute(prepared, &args).inspect_err(|e| {
        if let (true, cmd::Error::Load(load)) = (args.verbose, e) {
            if let Some(log) = load.verifier_log() {
                eprintln!("{log}");
            }
        }
    })?;
    Ok(if args.target.json {
        serde_json::to_string_pretty(&report).context("encoding the report")? + "\n"
    } else {
        report.to_string()
    })
}

fn unload(target: &Target, command: &mut clap::Command) -> anyhow::Result<String> {
    if target.interfaces.is_empty() {
        missing(command, "no interface given: unload -i IF[,IF...]");
    }
    let report = cmd::unload::run(target)?;
    Ok(if target.json {
        serde_json::to_string_pretty(&report).context("encoding the report")? + "\n"
    } else {
        report.to_string()
    })
}
