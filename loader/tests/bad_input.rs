//! Bad input: one clear error line naming the cause, a non-zero exit, no
//! panic, and nothing left pinned or attached. Cases refused before the
//! kernel is touched run anywhere; the others are kernel tests.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use testkit::{bin, kern_object, run, Bpffs, Run, Testbed};

/// Asserts a failure reported as one `prog: …` line containing `cause`.
#[track_caller]
fn assert_one_line_error(out: &Run, prog: &str, cause: &str) {
    assert_ne!(out.code, Some(0), "must fail: {out:#?}");
    assert!(!out.stderr.contains("panicked"), "panic: {}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one error line, got: {}", out.stderr);
    assert!(lines[0].starts_with(&format!("{prog}: ")), "{}", lines[0]);
    assert!(
        lines[0].contains(cause),
        "expected {cause:?} in: {}",
        lines[0]
    );
}

fn xdploader(args: &[&str]) -> Run {
    run(None, bin("xdploader"), args)
}

fn temp_file(name: &str, contents: &[u8]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path.display().to_string())
}

#[test]
fn missing_file() {
    let out = xdploader(&["-file", "/nonexistent/xdp.elf", "-i", "lo"]);
    assert_one_line_error(
        &out,
        "xdploader",
        "cannot read /nonexistent/xdp.elf: ENOENT",
    );
}

#[test]
fn not_an_elf() {
    let (_dir, path) = temp_file("notes.txt", b"just some text\n");
    let out = xdploader(&["-file", &path, "-i", "lo"]);
    assert_one_line_error(&out, "xdploader", "not an ELF file");
}

#[test]
fn truncated_elf() {
    let whole = std::fs::read(kern_object("xdp.elf")).unwrap();
    for len in [20, 64, 300, whole.len() / 2] {
        let (_dir, path) = temp_file("cut.elf", &whole[..len]);
        let out = xdploader(&["-file", &path, "-i", "lo"]);
        assert_one_line_error(&out, "xdploader", "malformed");
    }
}

#[test]
fn elf_for_another_machine() {
    let out = xdploader(&["-file", "/bin/true", "-i", "lo"]);
    assert_one_line_error(&out, "xdploader", "not BPF");
}

#[test]
fn no_xdp_program() {
    let fixture = kern_object("tests/no_xdp.elf");
    let out = xdploader(&["-file", fixture.to_str().unwrap(), "-i", "lo"]);
    assert_one_line_error(
        &out,
        "xdploader",
        "no XDP program in this object (program sections: socket)",
    );
}

#[test]
fn unknown_interface_even_as_the_second() {
    let elf = kern_object("xdp.elf");
    for list in ["nosuchif0", "lo,nosuchif0"] {
        let out = xdploader(&["-file", elf.to_str().unwrap(), "-i", list]);
        assert_one_line_error(&out, "xdploader", "unknown interface nosuchif0");
    }
}

#[test]
fn missing_flags_print_usage() {
    let elf = kern_object("xdp.elf");
    for args in [
        &[][..],
        &["-i", "lo"][..],
        &["-file", elf.to_str().unwrap()][..],
        &["unload"][..],
    ] {
        let out = xdploader(args);
        assert_eq!(out.code, Some(2), "{out:#?}");
        assert!(out.stderr.contains("Usage:"), "{}", out.stderr);
        assert!(!out.stderr.contains("panicked"));
    }
}

#[test]
fn statswatch_missing_pin_and_flags() {
    let out = run(
        None,
        bin("statswatch"),
        &["-file", "/sys/fs/bpf/nonexistent_stats_map"],
    );
    assert_one_line_error(
        &out,
        "statswatch",
        "no pinned map at /sys/fs/bpf/nonexistent_stats_map",
    );
    let (_dir, path) = temp_file("plain", b"not a map");
    let out = run(None, bin("statswatch"), &["-file", &path]);
    assert_one_line_error(
        &out,
        "statswatch",
        "plain is a regular file not on bpffs, not a pinned map",
    );
    // No -file: the stats map where a load of kern/xdp.c pins it.
    let out = run(None, bin("statswatch"), &[] as &[&str]);
    if Path::new("/sys/fs/bpf/stats_map").exists() {
        out.success();
    } else {
        assert_one_line_error(&out, "statswatch", "no pinned map at /sys/fs/bpf/stats_map");
    }
}

// ---- kernel tests: the load gets far enough that something could be left behind

/// Loads on a testbed and checks that the failure left nothing but `pins_before`.
#[track_caller]
fn assert_fails_cleanly(
    bed: &Testbed,
    pins: &Bpffs,
    pins_before: &[String],
    file: &Path,
    extra: &[&str],
    cause: &str,
) {
    let out = bed.load(pins, file, extra);
    assert_one_line_error(&out, "xdploader", cause);
    assert_eq!(pins.pins(), pins_before, "pins left behind");
    assert_eq!(
        bed.xdp_prog_id(&bed.ns_a, &bed.if_a),
        None,
        "attachment left behind"
    );
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn verifier_rejection() {
    if !testkit::kernel() {
        return;
    }
    // One error line, and under it the explanation, indented
    // (kernel_verifier checks its contents for each cause).
    let (bed, pins) = (Testbed::new(), Bpffs::new());
    let out = bed.load(&pins, &kern_object("tests/verifier_reject.elf"), &[]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    let (first, rest) = out.stderr.split_once('\n').unwrap();
    assert!(
        first.starts_with(
            "xdploader: program xdp_unchecked was rejected by the kernel verifier (EACCES"
        ),
        "{first}"
    );
    assert!(rest.lines().all(|l| l.starts_with("  ")), "{rest}");
    assert_eq!(pins.pins(), Vec::<String>::new(), "pins left behind");
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_map_the_kernel_refuses_is_named_once_with_the_cause() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins) = (Testbed::new(), Bpffs::new());
    assert_fails_cleanly(
        &bed,
        &pins,
        &[],
        &kern_object("tests/bad_map.elf"),
        &[],
        "the kernel refused to create map wide_key: its definition breaks the kernel's rules for its type (key or value size, max_entries, flags): EINVAL",
    );
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn array_devmap_refuses_an_ifindex_beyond_its_size() {
    if !testkit::kernel() {
        return;
    }
    // A user object's array devmap is indexed by ifindex: 64 entries hold
    // ifindexes 0..63 only. (Our own programs use a DEVMAP_HASH: kernel_e2e.)
    let (bed, pins) = (Testbed::with_ifindex(Some(1000)), Bpffs::new());
    assert_fails_cleanly(
        &bed,
        &pins,
        &[],
        &kern_object("tests/array_devmap.elf"),
        &[],
        &format!(
            "{} has ifindex 1000, beyond devmap if_redirect's 64 entries",
            bed.if_a
        ),
    );
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn mismatched_pin_is_refused_then_replaced_with_fresh() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins) = (Testbed::new(), Bpffs::new());
    let stats = pins.path().join("stats_map");
    testkit::sh(&[
        "bpftool",
        "map",
        "create",
        stats.to_str().unwrap(),
        "type",
        "percpu_array",
        "key",
        "4",
        "value",
        "8",
        "entries",
        "5",
        "name",
        "stats_map",
    ]);
    let before = pins.pins();
    let elf = kern_object("xdp.elf");
    assert_fails_cleanly(
        &bed,
        &pins,
        &before,
        &elf,
        &[],
        "does not match stats_map in the object: value_size is 8 in the pin, 16 in the object (--fresh replaces it)",
    );
    let out = bed.load(&pins, &elf, &["--fresh"]);
    assert!(out.success().contains("stats_map (replaced)"));
    let out = run(None, bin("statswatch"), &["-file", stats.to_str().unwrap()]);
    assert!(out.success().contains("XDP_PASS"));
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn native_refusal_names_the_kernel_reason_and_auto_falls_back() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins) = (Testbed::new(), Bpffs::new());
    for (ns, ifname) in [(&bed.ns_a, &bed.if_a), (&bed.ns_b, &bed.if_b)] {
        testkit::sh(&["ip", "-n", ns, "link", "set", "dev", ifname, "mtu", "9000"]);
    }
    let fixture = kern_object("tests/pass_nofrags.elf");
    // The kernel says why on a tracepoint since 6.3; before, the loader says
    // that it cannot know, and what ERANGE nearly always means.
    let (reason, fallback_reason) = if testkit::has_tracepoint("bpf_xdp_link_attach_failed") {
        (
            "native XDP attach refused: veth: Peer MTU is too large to set XDP (ERANGE",
            "native mode refused: veth: Peer MTU is too large to set XDP",
        )
    } else {
        (
            "native XDP attach refused: ERANGE: Math result not representable (this kernel has no xdp:bpf_xdp_link_attach_failed tracepoint, Linux 6.3+, to say why, likely the MTU",
            "native mode refused: ERANGE: Math result not representable (this kernel has no xdp:bpf_xdp_link_attach_failed tracepoint",
        )
    };
    assert_fails_cleanly(&bed, &pins, &[], &fixture, &["--mode", "native"], reason);
    let out = bed.load(&pins, &fixture, &[]);
    let stdout = out.success();
    assert!(stdout.contains(fallback_reason), "{stdout}");
    assert!(stdout.contains("in skb mode"), "{stdout}");
    assert_eq!(bed.ping_a_from_b(2, 8000), 2);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn statswatch_wrong_map_type() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins) = (Testbed::new(), Bpffs::new());
    let elf = kern_object("xdp.elf");
    bed.load(&pins, &elf, &[]).success();
    let jmp = pins.path().join("jmp_map");
    let out = run(None, bin("statswatch"), &["-file", jmp.to_str().unwrap()]);
    assert_one_line_error(&out, "statswatch", "is a prog_array map");
    let scratch = pins.path().join("scratch_map");
    let out = run(
        None,
        bin("statswatch"),
        &["-file", scratch.to_str().unwrap()],
    );
    assert_one_line_error(&out, "statswatch", "8-byte values");
    // Pins and paths that are no map at all: say what they are.
    let link = pins.path().join("xdploader").join(&bed.if_a).join("link");
    for (path, what) in [
        (
            link.display().to_string(),
            "is a pinned BPF link, not a pinned map",
        ),
        (pins.arg(), "is a directory, not a pinned map"),
        (
            "/etc/passwd".to_owned(),
            "is a regular file not on bpffs, not a pinned map",
        ),
    ] {
        let out = run(None, bin("statswatch"), &["-file", &path]);
        assert_one_line_error(&out, "statswatch", what);
    }
}

#[test]
fn statswatch_refuses_intervals_and_counts_it_cannot_honour() {
    // Checked before the map is opened: no kernel needed. 1e20 and 1e19
    // panicked in Duration, 1e10 waited for 317 years, --count 0 ran once.
    for (args, cause) in [
        (
            &["--interval", "1e20"][..],
            "--interval 100000000000000000000: give 0.01 to 86400 seconds",
        ),
        (&["--interval", "1e19"], "give 0.01 to 86400 seconds"),
        (&["--interval", "1e10"], "give 0.01 to 86400 seconds"),
        (&["--interval", "0"], "give 0.01 to 86400 seconds"),
        (&["--interval", "NaN"], "give 0.01 to 86400 seconds"),
        (&["--count", "0"], "--count 0: give at least 1 interval"),
    ] {
        let mut all = args.to_vec();
        all.extend(["-file", "/sys/fs/bpf/stats_map"]);
        let out = run(None, bin("statswatch"), &all);
        assert_one_line_error(&out, "statswatch", cause);
    }
}

#[test]
fn object_files_that_are_not_regular_or_too_large_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // A sparse file one byte over the bound: refused by its size, not read.
    let huge = dir.path().join("huge.o");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    for (path, cause) in [
        (fifo.display().to_string(), "is a FIFO, not an object file"),
        (
            "/dev/zero".to_owned(),
            "is a character device, not an object file",
        ),
        (
            dir.path().display().to_string(),
            "is a directory, not an object file",
        ),
        (
            huge.display().to_string(),
            "has 67108865 bytes, more than the 67108864",
        ),
    ] {
        // A FIFO would block the old loader forever: a timeout makes that a failure.
        let out = testkit::run_with_timeout(
            std::time::Duration::from_secs(10),
            bin("xdploader"),
            &["inspect", "-file", &path],
        );
        assert_one_line_error(&out, "xdploader", cause);
        let out = testkit::run_with_timeout(
            std::time::Duration::from_secs(10),
            bin("xdploader"),
            &["-file", &path, "-i", "lo"],
        );
        assert_one_line_error(&out, "xdploader", cause);
    }
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn not_root() {
    if !testkit::kernel() {
        return;
    }
    let elf = kern_object("xdp.elf");
    // Drop to nobody: the binary must say why instead of failing on a syscall.
    let out = run(
        None,
        "setpriv",
        &[
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            bin("xdploader").to_str().unwrap(),
            "-file",
            elf.to_str().unwrap(),
            "-i",
            "lo",
        ],
    );
    assert_one_line_error(
        &out,
        "xdploader",
        "load needs CAP_NET_ADMIN and CAP_SYS_ADMIN (and CAP_BPF), which this process does not have",
    );
    assert!(Path::new(&elf).exists());
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn unload_refuses_names_that_are_paths_and_touches_nothing() {
    if !testkit::kernel() {
        return;
    }
    // `unload -i ..` used to exit 0, print "detached" and delete the pins
    // one directory up: names become paths only when they are valid names.
    let (bed, pins) = (Testbed::new(), Bpffs::new());
    bed.load(&pins, &kern_object("xdp.elf"), &[]).success();
    let before = pins.pins();
    for name in ["..", ".", "", "a/b", "../..", "a b", "x:1"] {
        let out = bed.xdploader(&pins, &["unload", "-i", name]);
        assert_one_line_error(&out, "xdploader", "invalid interface name");
        assert_eq!(pins.pins(), before, "after unload -i {name:?}");
    }
    assert!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a).is_some());
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
    assert_eq!(pins.pins(), Vec::<String>::new());
}

#[test]
fn apply_with_a_config_that_does_not_parse() {
    let out = xdploader(&["apply", "-c", "/nonexistent/config.toml"]);
    assert_one_line_error(
        &out,
        "xdploader",
        "cannot read /nonexistent/config.toml: ENOENT",
    );
    let (_dir, path) = temp_file(
        "config.toml",
        b"[[attach]]\nfile = \"x.o\"\ninterfaces = [\"veth1\"]\nmod = \"skb\"\n",
    );
    let out = xdploader(&["apply", "-c", &path]);
    assert_one_line_error(&out, "xdploader", "config.toml:4: unknown field `mod`");
    let (_dir, path) = temp_file(
        "config.toml",
        b"[[attach]]\nfile = \"x.o\"\ninterfaces = [\"veth1\"]\ntail = [\"jmp_map:x=y\"]\n",
    );
    let out = xdploader(&["apply", "-c", &path, "--dry-run"]);
    assert_one_line_error(&out, "xdploader", "attach entry 1 (x.o): tail: ");
}

#[test]
fn a_closed_pipe_ends_the_tools_quietly() {
    // The reader is gone before the report is written (`| true` exits at
    // once): the write gets EPIPE.
    let file = kern_object("xdp.elf").display().to_string();
    for tool in ["xdploader", "statswatch"] {
        let cmd = match tool {
            "xdploader" => format!(
                "'{}' inspect --json -file '{file}' | true",
                bin(tool).display()
            ),
            _ => format!("'{}' --help | true", bin(tool).display()),
        };
        let out = run(None, "bash", &["-c", &format!("set -o pipefail; {cmd}")]);
        assert!(!out.stderr.contains("panicked"), "{tool}: {}", out.stderr);
    }
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_failed_first_load_leaves_no_bpffs_mount_and_no_pin_dir() {
    if !testkit::kernel() {
        return;
    }
    // A pin dir that is not bpffs yet: the load mounts one there, then the
    // verifier refuses the program.
    let bed = Testbed::new();
    let parent = tempfile::tempdir().unwrap();
    let pin_dir = parent.path().join("pins");
    let fixture = kern_object("tests/verifier_reject.elf");
    let args = [
        "-file",
        fixture.to_str().unwrap(),
        "-i",
        bed.if_a.as_str(),
        "--pin-dir",
        pin_dir.to_str().unwrap(),
    ];
    let out = run(Some(&bed.ns_a), bin("xdploader"), &args);
    assert_eq!(out.code, Some(1), "{out:#?}");
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(pin_dir.to_str().unwrap()),
        "a bpffs was left mounted at {}",
        pin_dir.display()
    );
    assert!(!pin_dir.exists(), "the pin dir was left behind");
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
}
