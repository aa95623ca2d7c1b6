//! What both binaries share, and only they need: Go-style flags and the
//! one-line error report. The library (xdp-core) has no clap and no anyhow.
//!
//! Go-style flags: the Go tools this project replaces took `-file` and `-i`,
//! and scripts written for them must keep working. clap only knows `--file`,
//! so single-dash long flags are rewritten to double-dash before parsing,
//! using the long names clap itself declares (no second list to keep in sync).

use std::{ffi::OsString, path::PathBuf, process::ExitCode};

use xdp_core::bpffs::{self, PinReach};

/// Makes `pin_dir` absolute and, when this process runs in a mount namespace
/// of its own where `pin_dir` is not what the host sees (`ip netns exec`
/// gives every command a fresh /sys: a bpffs mounted there, and every pin in
/// it, vanishes when the command exits), moves the process into the host's
/// mount namespace, keeping its network namespace, and says so on stderr.
/// Call it before anything is mounted or pinned, while single-threaded.
pub fn pins_where_the_host_sees_them(prog: &str, pin_dir: &mut PathBuf) -> anyhow::Result<()> {
    *pin_dir = std::path::absolute(&*pin_dir)?;
    match bpffs::pin_reach(pin_dir) {
        PinReach::Private => {
            bpffs::enter_host_mount_namespace(pin_dir)?;
            eprintln!(
                "{prog}: note: this process runs in a mount namespace of its own (ip netns exec?): using {} as the host sees it, so pins outlive the process",
                pin_dir.display()
            );
        }
        // The same directory either way, but a bpffs mounted or unmounted
        // from a namespace of our own would not change the host's: work in
        // the host's when it can be entered.
        PinReach::Host if bpffs::in_foreign_mount_namespace() => {
            let _ = bpffs::enter_host_mount_namespace(pin_dir);
        }
        PinReach::Host => {}
    }
    Ok(())
}

/// Prints `err` as the one error line `PROG: cause: cause…` on stderr (and,
/// for `--json`, as `{"error": …}` on stdout) and returns the failure code.
pub fn fail(prog: &str, err: &anyhow::Error, json: bool) -> ExitCode {
    let line = xdp_core::error_chain(err.as_ref());
    if json {
        println!("{}", serde_json::json!({ "error": line }));
    }
    eprintln!("{prog}: {line}");
    ExitCode::FAILURE
}

/// Rewrites `-name` and `-name=value` to `--name…` when `name` is a long flag
/// (or alias) of `cmd` or of one of its subcommands. Short flags (`-i`),
/// values and everything after `--` are left as they are.
pub fn go_style(cmd: &clap::Command, args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut longs: Vec<String> = Vec::new();
    collect_longs(cmd, &mut longs);
    let mut out = Vec::new();
    let mut rest_verbatim = false;
    for arg in args {
        if rest_verbatim {
            out.push(arg);
            continue;
        }
        let rewritten = arg.to_str().and_then(|s| {
            if s == "--" {
                rest_verbatim = true;
                return None;
            }
            let body = s.strip_prefix('-').filter(|b| !b.starts_with('-'))?;
            let name = body.split_once('=').map_or(body, |(n, _)| n);
            (name.len() > 1 && longs.iter().any(|l| l == name)).then(|| format!("-{s}"))
        });
        out.push(rewritten.map_or(arg, OsString::from));
    }
    out
}

/// Parses the process arguments into `T`, Go-style flags included; on a
/// usage error prints clap's message with the usage and exits with 2.
pub fn parse<T: clap::Parser>() -> T {
    // `xdploader status | head`: a closed pipe ends the process quietly, as
    // it does a C tool, instead of a panic in println!.
    // SAFETY: setting a signal's disposition to its default, before any
    // thread exists.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
    let mut command = T::command();
    let argv = go_style(&command, std::env::args_os());
    command
        .try_get_matches_from_mut(argv)
        .and_then(|m| T::from_arg_matches(&m))
        .unwrap_or_else(|e| e.exit())
}

fn collect_longs(cmd: &clap::Command, out: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        out.extend(arg.get_long().map(str::to_owned));
        out.extend(
            arg.get_all_aliases()
                .into_iter()
                .flatten()
                .map(str::to_owned),
        );
    }
    out.extend(["help", "version"].map(str::to_owned));
    for sub in cmd.get_subcommands() {
        collect_longs(sub, out);
    }
}

/// What a man page has beyond the clap definitions, as Debian users look
/// for it: each entry a `.TP` paragraph (tag, text).
#[derive(Debug, Default)]
pub struct ManSections {
    pub exit_status: Vec<(String, String)>,
    pub files: Vec<(String, String)>,
    pub see_also: Vec<&'static str>,
}

/// `--generate-assets DIR` (hidden): man pages (`NAME.1`, and
/// `NAME-SUB.1` for each subcommand) and bash, zsh and fish completions,
/// from the clap definitions, for packages and `make install`-style use.
/// `sections` gives each page (by name: `xdploader`, `xdploader-doctor`)
/// its EXIT STATUS, FILES and SEE ALSO. Returns the files written.
pub fn generate_assets(
    mut cmd: clap::Command,
    dir: &std::path::Path,
    sections: &dyn Fn(&str) -> ManSections,
) -> anyhow::Result<Vec<PathBuf>> {
    use anyhow::Context as _;
    use clap_complete::{generate_to, Shell};
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = cmd.get_name().to_owned();
    cmd.build();
    let mut written = Vec::new();
    let mut pages = vec![(name.clone(), cmd.clone())];
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let page = format!("{name}-{}", sub.get_name());
        pages.push((
            page.clone(),
            sub.clone()
                .name(page)
                .display_name(format!("{name} {}", sub.get_name())),
        ));
    }
    for (page, command) in pages {
        let path = dir.join(format!("{page}.1"));
        let out = man_page(command, &sections(&page))
            .with_context(|| format!("rendering {}", path.display()))?;
        std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path = generate_to(shell, &mut cmd, &name, dir)
            .with_context(|| format!("writing the {shell} completions in {}", dir.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// One man page: clap_mangen's sections, but a SYNOPSIS that names each
/// option's argument, EXAMPLES that man does not reflow (the help's
/// examples, one command a line), then EXIT STATUS, FILES and SEE ALSO.
fn man_page(command: clap::Command, extra: &ManSections) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let man = clap_mangen::Man::new(command.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    writeln!(out, ".SH SYNOPSIS\n{}", synopsis(&command))?;
    man.render_description_section(&mut out)?;
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if command.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }
    if let Some(after) = command
        .get_after_long_help()
        .or_else(|| command.get_after_help())
    {
        writeln!(out, ".SH EXAMPLES\n.nf")?;
        for line in after.to_string().lines().filter(|l| *l != "Examples:") {
            writeln!(out, "{}", roff_text(line))?;
        }
        writeln!(out, ".fi")?;
    }
    for (title, entries) in [("EXIT STATUS", &extra.exit_status), ("FILES", &extra.files)] {
        if entries.is_empty() {
            continue;
        }
        writeln!(out, ".SH \"{title}\"")?;
        for (tag, text) in entries {
            writeln!(out, ".TP\n\\fB{}\\fR\n{}", roff_text(tag), roff_text(text))?;
        }
    }
    if !extra.see_also.is_empty() {
        let refs: Vec<String> = extra
            .see_also
            .iter()
            .map(|r| match r.split_once('(') {
                Some((name, section)) => format!("\\fB{}\\fR({section}", roff_text(name)),
                None => roff_text(r),
            })
            .collect();
        writeln!(out, ".SH \"SEE ALSO\"\n{}", refs.join(", "))?;
    }
    if command
        .get_version()
        .or(command.get_long_version())
        .is_some()
    {
        man.render_version_section(&mut out)?;
    }
    Ok(out)
}

/// `\fBxdploader doctor\fR [\fB\-i\fR \fIIF[,IF...]\fR] [\fB\-\-json\fR]`:
/// every visible option with its argument's placeholder.
fn synopsis(command: &clap::Command) -> String {
    let name = command.get_display_name().unwrap_or(command.get_name());
    let mut words = vec![format!("\\fB{}\\fR", roff_text(name))];
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        // The short form where there is one, as man pages write it.
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(short), _) => format!("-{short}"),
            (None, Some(long)) => format!("--{long}"),
            (None, None) => String::new(),
        };
        let takes_value = arg.get_action().takes_values();
        let value = arg
            .get_value_names()
            .map(|names| {
                names
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|| id.to_uppercase());
        let word = match (flag.is_empty(), takes_value) {
            (true, _) => format!("\\fI{}\\fR", roff_text(&value)),
            (false, true) => format!("\\fB{}\\fR \\fI{}\\fR", roff_text(&flag), roff_text(&value)),
            (false, false) => format!("\\fB{}\\fR", roff_text(&flag)),
        };
        words.push(if arg.is_required_set() {
            word
        } else {
            format!("[{word}]")
        });
    }
    if command.get_subcommands().any(|s| !s.is_hide_set()) {
        words.push("\\fICOMMAND\\fR".to_owned());
    }
    words.join(" ")
}

/// Text as roff takes it literally: backslashes and hyphens escaped, and a
/// line that would start with a control character protected.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_have_a_synopsis_with_placeholders_examples_unreflowed_and_exit_status() {
        let cmd = clap::Command::new("tool")
            .arg(
                clap::Arg::new("file")
                    .short('f')
                    .long("file")
                    .value_name("FILE")
                    .required(true),
            )
            .arg(
                clap::Arg::new("json")
                    .long("json")
                    .action(clap::ArgAction::SetTrue),
            )
            .after_help("Examples:\n  tool -f x.o --json      one JSON document");
        let extra = ManSections {
            exit_status: vec![("0".into(), "done".into()), ("1".into(), "an error".into())],
            files: vec![("/sys/fs/bpf".into(), "the pins".into())],
            see_also: vec!["bpftool(8)"],
        };
        let page = String::from_utf8(man_page(cmd, &extra).unwrap()).unwrap();
        assert!(
            page.contains(
                ".SH SYNOPSIS\n\\fBtool\\fR \\fB\\-f\\fR \\fIFILE\\fR [\\fB\\-\\-json\\fR]"
            ),
            "{page}"
        );
        assert!(
            page.contains(
                ".SH EXAMPLES\n.nf\n  tool \\-f x.o \\-\\-json      one JSON document\n.fi"
            ),
            "{page}"
        );
        assert!(
            page.contains(".SH \"EXIT STATUS\"\n.TP\n\\fB0\\fR\ndone\n.TP\n\\fB1\\fR\nan error"),
            "{page}"
        );
        assert!(
            page.contains(".SH FILES") || page.contains(".SH \"FILES\""),
            "{page}"
        );
        assert!(
            page.contains(".SH \"SEE ALSO\"\n\\fBbpftool\\fR(8)"),
            "{page}"
        );
        assert!(!page.contains(".SH EXTRA"), "{page}");
    }

    fn cmd() -> clap::Command {
        clap::Command::new("t")
            .arg(clap::Arg::new("file").long("file"))
            .arg(
                clap::Arg::new("ifs")
                    .short('i')
                    .long("interfaces")
                    .alias("interface"),
            )
    }

    fn run(args: &[&str]) -> Vec<String> {
        go_style(&cmd(), args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().expect("utf-8"))
            .collect()
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        assert_eq!(
            run(&["t", "-file", "x.elf", "-i", "veth1"]),
            ["t", "--file", "x.elf", "-i", "veth1"]
        );
        assert_eq!(run(&["t", "-file=x.elf"]), ["t", "--file=x.elf"]);
        assert_eq!(run(&["t", "-interface", "a"]), ["t", "--interface", "a"]);
    }

    #[test]
    fn other_arguments_are_untouched() {
        assert_eq!(
            run(&["t", "--file", "x", "-i", "a,b"]),
            ["t", "--file", "x", "-i", "a,b"]
        );
        assert_eq!(
            run(&["t", "-x", "-fil", "--", "-file"]),
            ["t", "-x", "-fil", "--", "-file"]
        );
    }
}
