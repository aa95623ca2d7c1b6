//! README.md's commands, run as written, in a testbed of the test's own.
//!
//! The README speaks of the testbed start.sh makes: `veth1`, the netns
//! `xdp`, 10.2.2.1, pins under /sys/fs/bpf. Here each line's words are
//! swapped for the test's own (its veth end, its peer's namespace and
//! address, a private bpffs), `sudo` is dropped (tests run as root), and
//! nothing else changes; a line's `# comment` is its expected result where
//! it states one. Watches that run until Ctrl-C end after one interval
//! (STATSWATCH_COUNT=1, capture's `--count 1`). The verb table is checked
//! against each verb's `--help`: every verb and flag it names exists.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use testkit::{bin, kern_object, wait_exit, workspace, Bpffs, Testbed};

/// The README's fenced blocks: (language, lines).
fn blocks() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let mut blocks = Vec::new();
    let mut open: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        match (line.strip_prefix("```"), open.take()) {
            (Some(lang), None) => open = Some((lang.trim().to_owned(), Vec::new())),
            (Some(_), Some(block)) => blocks.push(block),
            (None, Some((lang, mut lines))) => {
                lines.push(line.to_owned());
                open = Some((lang, lines));
            }
            (None, None) => {}
        }
    }
    blocks
}

/// The `sh` block whose first line starts with `first`.
fn sh_block(first: &str) -> Vec<String> {
    blocks()
        .into_iter()
        .find(|(lang, lines)| lang == "sh" && lines.first().is_some_and(|l| l.starts_with(first)))
        .unwrap_or_else(|| panic!("README.md has no sh block starting with {first:?}"))
        .1
}

/// A README line: the command and its comment.
fn split(line: &str) -> (&str, &str) {
    match line.split_once(" #") {
        Some((command, comment)) => (command.trim(), comment.trim()),
        None => (line.trim(), ""),
    }
}

/// The README's words for its testbed, and the test's.
struct Words<'a> {
    bed: &'a Testbed,
    pins: &'a Bpffs,
}

impl Words<'_> {
    fn swap(&self, command: &str) -> String {
        let command = command.strip_prefix("sudo ").unwrap_or(command);
        let command = command
            .replace(
                "ip netns exec xdp ",
                &format!("ip netns exec {} ", self.bed.ns_b),
            )
            .replace("10.2.2.1", self.bed.addr_a)
            .replace("veth1", &self.bed.if_a)
            .replace("/sys/fs/bpf", &self.pins.arg());
        // A load's unpinned maps and records go to the pin directory; on
        // the README's host that is /sys/fs/bpf, named by no flag.
        let ours = command.starts_with("xdploader") || command.starts_with("statswatch");
        if ours && command.contains(" -i ") {
            format!("{command} --pin-dir {}", self.pins.arg())
        } else {
            command
        }
    }

    /// `sh -c COMMAND` (after [`Words::swap`]) in namespace a, with the
    /// built binaries first on PATH, in `dir`.
    fn command(&self, line: &str, dir: &Path) -> Command {
        let command = self.swap(split(line).0);
        let bins = bin("xdploader").parent().unwrap().to_owned();
        let path = format!(
            "{}:{}",
            bins.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // A ping goes from the peer's namespace, as the README's does.
        let mut cmd = if command.starts_with("ip netns exec") {
            Command::new("env")
        } else {
            let mut ip = Command::new("ip");
            ip.args(["netns", "exec", &self.bed.ns_a, "env"]);
            ip
        };
        cmd.args([
            &format!("PATH={path}"),
            "STATSWATCH_COUNT=1",
            "sh",
            "-c",
            &command,
        ])
        .current_dir(dir);
        cmd
    }

    #[track_caller]
    fn run(&self, line: &str, dir: &Path) -> String {
        let out = self.command(line, dir).output().expect("sh");
        assert!(
            out.status.success(),
            "README line `{line}` (run as `{}`) failed: {}\n{}",
            self.swap(split(line).0),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A capture line run while a ping goes through: in the background
    /// until its recorders are in, with `--count 1` where the line gives
    /// none; what it printed.
    fn capture_during_ping(&self, line: &str, dir: &Path) -> String {
        let (command, _) = split(line);
        let line = if command.contains("--count") {
            command.to_owned()
        } else {
            format!("{command} --count 1")
        };
        let mut child = self
            .command(&line, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the capture");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self
                .bed
                .xdploader(self.pins, &["status", "-i", &self.bed.if_a, "--json"])
                .json();
            let running = status["interfaces"][0]["prog_name"].as_str().unwrap_or("");
            if running.starts_with("xdpcap_entry") {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "`{line}` ended early: {status}: {:?}",
                    child.wait_with_output()
                );
            }
            assert!(Instant::now() < deadline, "`{line}`: no recorder in 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(self.bed.ping_a_from_b(1, 56), 1, "a ping during `{line}`");
        let out = wait_exit(child, &format!("`{line}`"));
        assert!(out.status.success(), "`{line}` failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[test]
fn the_quick_start_commands_run_against_the_skeleton_as_start_sh_loads_it() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let words = Words {
        bed: &bed,
        pins: &pins,
    };
    // What start.sh does on its testbed.
    bed.load(&pins, &kern_object("xdp.elf"), &[]).success();
    let dir = workspace();
    let lines = sh_block("ip netns exec xdp ping");
    assert_eq!(lines.len(), 6, "the quick-start block changed: {lines:#?}");
    for line in &lines {
        let (command, _) = split(line);
        if command.contains("xdploader capture") {
            let out = words.capture_during_ping(line, &dir);
            assert!(
                out.contains("verdict"),
                "`{line}` showed no verdict:\n{out}"
            );
            continue;
        }
        let out = words.run(line, &dir);
        if command.contains("ping -c 3") {
            assert!(out.contains("3 received"), "`{line}`:\n{out}");
        } else if command.starts_with("statswatch -file") {
            // The pings went through the chain and were counted.
            let passed: u64 = out
                .lines()
                .find_map(|l| l.strip_prefix("XDP_PASS"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("`{line}` printed no XDP_PASS row:\n{out}"));
            assert!(
                passed >= 3,
                "`{line}` counted {passed} passed frames:\n{out}"
            );
        } else if command == "xdploader status" {
            assert!(
                out.contains(&bed.if_a),
                "`{line}` did not show the interface:\n{out}"
            );
        }
    }
}

#[test]
fn your_own_program_compiles_inspects_loads_captures_reloads_and_unloads_as_written() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let words = Words {
        bed: &bed,
        pins: &pins,
    };
    let dir = tempfile::tempdir().unwrap();
    let source = blocks()
        .into_iter()
        .find(|(lang, lines)| {
            lang == "c" && lines.first().map(String::as_str) == Some("// my_xdp.c")
        })
        .expect("README.md's my_xdp.c block")
        .1;
    std::fs::write(dir.path().join("my_xdp.c"), source.join("\n")).unwrap();

    let lines = sh_block("clang ");
    assert_eq!(
        lines.len(),
        4,
        "the your-own-program block changed: {lines:#?}"
    );
    words.run(&lines[0], dir.path());
    assert!(
        dir.path().join("my_xdp.elf").exists(),
        "`{}` made no my_xdp.elf",
        lines[0]
    );

    // inspect: "entry my_entry, jump table jmp_map: 1 <- my_entry_1 (naming)".
    let out = words.run(&lines[1], dir.path());
    for said in ["my_entry", "jmp_map", "my_entry_1", "naming"] {
        assert!(
            out.contains(said),
            "`{}` does not say {said}:\n{out}",
            lines[1]
        );
    }

    words.run(&lines[2], dir.path());
    assert!(
        bed.xdp_prog_id(&bed.ns_a, &bed.if_a).is_some(),
        "nothing attached"
    );
    // "jmp_map asked for no pinning, so it is pinned at /sys/fs/bpf/veth1/jmp_map".
    let jmp_map: PathBuf = pins.path().join(&bed.if_a).join("jmp_map");
    assert!(jmp_map.exists(), "{} is not pinned", jmp_map.display());

    // The capture, while a ping runs: the frame at each stage, then the verdict.
    let out = words.capture_during_ping(&lines[3], dir.path());
    for said in [
        "entry my_entry",
        "jmp_map[1] my_entry_1",
        "verdict XDP_PASS by jmp_map[1] my_entry_1",
    ] {
        assert!(
            out.contains(said),
            "`{}` does not show {said}:\n{out}",
            lines[3]
        );
    }

    // "Loading again replaces the chain in one step", then unload.
    words.run("sudo xdploader -file my_xdp.elf -i veth1", dir.path());
    assert_eq!(
        bed.ping_a_from_b(2, 56),
        2,
        "pings through the reloaded chain"
    );
    words.run("sudo xdploader unload -i veth1", dir.path());
    assert!(
        bed.xdp_prog_id(&bed.ns_a, &bed.if_a).is_none(),
        "unload left a program"
    );
    assert!(!jmp_map.exists(), "unload left {}", jmp_map.display());
}

#[test]
fn every_verb_and_flag_in_the_verb_table_exists() {
    let lines = sh_block("xdploader -file prog.elf");
    assert!(lines.len() >= 10, "the verb table shrank: {lines:#?}");
    for line in &lines {
        let (command, _) = split(line);
        let words: Vec<&str> = command.split_whitespace().collect();
        let (tool, rest) = words.split_first().unwrap();
        // A verb is a plain word right after the tool.
        let verb = rest
            .first()
            .filter(|w| w.chars().all(|c| c.is_ascii_lowercase()))
            .copied();
        let mut args: Vec<&str> = verb.into_iter().collect();
        args.push("--help");
        let out = Command::new(bin(tool)).args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "`{tool} {}` failed: {out:?}",
            args.join(" ")
        );
        let help = String::from_utf8_lossy(&out.stdout);
        for word in rest {
            let flag = word.trim_matches(|c| "[]|".contains(c));
            let Some(name) = flag.strip_prefix('-') else {
                continue;
            };
            // Go-style -file is --file.
            let long = name.trim_start_matches('-');
            let spelled = if long.len() > 1 {
                format!("--{long}")
            } else {
                format!("-{long}")
            };
            assert!(
                help.contains(&spelled),
                "README's `{line}` names {flag}, which `{tool} {}` does not list",
                args.join(" ")
            );
        }
    }
}
