//! The lifecycle guarantees: each failure made real in a netns, and the
//! state checked afterwards, with the loader gone.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aya::maps::MapInfo;
use testkit::{kern_object, sh, Bpffs, Run, Testbed};

/// Bytes of one ping frame with a 56-byte payload.
const PING_FRAME: u64 = 98;

fn load(bed: &Testbed, pins: &Bpffs, ifaces: &str, extra: &[&str]) -> Run {
    let elf = kern_object("xdp.elf");
    let mut args = vec!["-file", elf.to_str().unwrap(), "-i", ifaces];
    args.extend_from_slice(extra);
    bed.xdploader(pins, &args)
}

/// What a failed load must leave exactly as it was: the program on each
/// interface, and every pin with the map behind it.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    programs: Vec<Option<u64>>,
    pins: Vec<(String, Option<u32>)>,
}

fn snapshot(bed: &Testbed, pins: &Bpffs, ifaces: &[&str]) -> Snapshot {
    Snapshot {
        programs: ifaces
            .iter()
            .map(|i| bed.xdp_prog_id(&bed.ns_a, i))
            .collect(),
        pins: pins
            .pins()
            .into_iter()
            .map(|p| {
                let id = MapInfo::from_pin(pins.path().join(&p)).ok().map(|i| i.id());
                (p, id)
            })
            .collect(),
    }
}

/// After a failed reload, with the loader gone: the old chain still runs
/// (a jump table emptied by the kernel would turn every ping into XDP_ABORTED).
#[track_caller]
fn still_counts(bed: &Testbed, pins: &Bpffs, before: u64) {
    assert_eq!(bed.ping_a_from_b(3, 56), 3, "traffic black-holed");
    let stats = pins.path().join("stats_map");
    assert_eq!(
        testkit::counters(&stats, "XDP_PASS"),
        (before + 3, (before + 3) * PING_FRAME)
    );
    assert_eq!(testkit::counters(&stats, "XDP_ABORTED"), (0, 0));
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_reload_that_fails_on_the_second_interface_keeps_the_first_as_it_was() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    load(&bed, &pins, &bed.if_a, &[]).success();
    assert_eq!(bed.ping_a_from_b(2, 56), 2);

    // A second interface where our attach fails: another tool's program,
    // attached through netlink, makes BPF_LINK_CREATE return EBUSY.
    let (c, _d) = bed.second_pair();
    bed.attach_netlink_generic(&c);
    let ifaces = [bed.if_a.as_str(), c.as_str()];
    let before = snapshot(&bed, &pins, &ifaces);

    let out = load(&bed, &pins, &ifaces.join(","), &[]);
    assert!(!out.ok(), "{out:#?}");
    // The fix named must work for a generic program: `xdp off` alone would not.
    assert!(
        out.stderr
            .contains(&format!("ip link set dev {c} xdpgeneric off")),
        "{}",
        out.stderr
    );
    assert_eq!(snapshot(&bed, &pins, &ifaces), before);
    still_counts(&bed, &pins, 2);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn mode_native_refused_by_one_interface_leaves_the_others_as_they_were() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    load(&bed, &pins, &bed.if_a, &["--mode", "native"]).success();
    assert_eq!(bed.ping_a_from_b(2, 56), 2);
    // A bridge has no native XDP: BPF_LINK_CREATE says EOPNOTSUPP.
    let bridge = bed.bridge();
    let ifaces = [bed.if_a.as_str(), bridge.as_str()];
    let before = snapshot(&bed, &pins, &ifaces);

    let out = load(&bed, &pins, &ifaces.join(","), &["--mode", "native"]);
    assert!(!out.ok(), "{out:#?}");
    assert!(
        out.stderr
            .contains(&format!("{bridge}: native XDP attach refused")),
        "{}",
        out.stderr
    );
    assert_eq!(snapshot(&bed, &pins, &ifaces), before);
    still_counts(&bed, &pins, 2);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn auto_mode_falls_back_to_skb_on_a_device_without_native_xdp_and_says_why() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let bridge = bed.bridge();
    // A tracefs instance a killed loader left (instances are kernel-wide):
    // the refused native attach listens on one of its own, and removes that.
    let tracefs = tempfile::tempdir().unwrap();
    sh(&[
        "mount",
        "-t",
        "tracefs",
        "nodev",
        tracefs.path().to_str().unwrap(),
    ]);
    let leaked = tracefs
        .path()
        .join("instances")
        .join(format!("xdploader-{}", dead_pid()));
    std::fs::create_dir(&leaked).unwrap();
    let out = load(&bed, &pins, &bridge, &["--json"]);
    let leaked_left = leaked.exists();
    let _ = std::fs::remove_dir(&leaked);
    sh(&["umount", tracefs.path().to_str().unwrap()]);
    assert!(!leaked_left, "a dead loader's tracefs instance was left");
    let report = out.json();
    assert_eq!(report["attached"][0]["mode"], "skb", "{report}");
    let why = report["attached"][0]["native_refused"].as_str().unwrap();
    assert!(why.contains("EOPNOTSUPP"), "{why}");
    assert!(bed.xdp_prog_id(&bed.ns_a, &bridge).is_some());
    bed.xdploader(&pins, &["unload", "-i", &bridge]).success();
    assert_eq!(pins.pins(), Vec::<String>::new());
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_second_loader_waits_for_the_pin_dir_lock_then_names_its_holder() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    // This test process holds an flock on the pin directory, as a running
    // loader does.
    let held = nix::fcntl::Flock::lock(
        std::fs::File::open(pins.path()).unwrap(),
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    )
    .unwrap();
    let out = load(&bed, &pins, &bed.if_a, &["--lock-wait", "0.3"]);
    drop(held);
    assert!(!out.ok());
    assert!(
        out.stderr
            .contains(&format!("is locked by pid {}", std::process::id())),
        "{}",
        out.stderr
    );
    assert_eq!(pins.pins(), Vec::<String>::new(), "nothing pinned");
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
    // The holder gone, the next load goes through.
    load(&bed, &pins, &bed.if_a, &[]).success();
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn concurrent_loads_on_two_interfaces_share_the_one_pinned_stats_map() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let (c, _d) = bed.second_pair();
    for round in 0..10 {
        let runs: Vec<Run> = std::thread::scope(|s| {
            let a = s.spawn(|| load(&bed, &pins, &bed.if_a, &[]));
            let b = s.spawn(|| load(&bed, &pins, &c, &[]));
            vec![a.join().unwrap(), b.join().unwrap()]
        });
        for run in &runs {
            assert!(run.ok(), "round {round}: {run:#?}");
        }
        // Both programs count into the map that is pinned, not into one
        // that a concurrent load replaced.
        let pinned = MapInfo::from_pin(pins.path().join("stats_map"))
            .unwrap()
            .id();
        for iface in [bed.if_a.as_str(), c.as_str()] {
            let prog = bed.xdp_prog_id(&bed.ns_a, iface).unwrap();
            let show = testkit::run(
                None,
                "bpftool",
                &["-j", "prog", "show", "id", &prog.to_string()],
            );
            let info: serde_json::Value = serde_json::from_str(show.success()).unwrap();
            let maps: Vec<u64> = info["map_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_u64().unwrap())
                .collect();
            assert!(
                maps.contains(&u64::from(pinned)),
                "round {round}: {iface} runs with maps {maps:?}, stats_map pinned is {pinned}"
            );
        }
    }
    for iface in [bed.if_a.as_str(), c.as_str()] {
        bed.xdploader(&pins, &["unload", "-i", iface]).success();
    }
    assert_eq!(pins.pins(), Vec::<String>::new());
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn unload_leaves_a_map_another_tool_pinned_first() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let stats = pins.path().join("stats_map");
    // Another tool's stats_map, exactly as the object declares it.
    sh(&[
        "bpftool",
        "map",
        "create",
        stats.to_str().unwrap(),
        "type",
        "percpu_array",
        "key",
        "4",
        "value",
        "16",
        "entries",
        "5",
        "name",
        "stats_map",
    ]);
    let theirs = MapInfo::from_pin(&stats).unwrap().id();
    let out = load(&bed, &pins, &bed.if_a, &["--json"]);
    let report = out.json();
    let action = report["pins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "stats_map")
        .unwrap()["action"]
        .clone();
    assert_eq!(action, "borrow", "{report}");
    // It is used: the pings are counted in their map.
    assert_eq!(bed.ping_a_from_b(2, 56), 2);
    assert_eq!(testkit::counters(&stats, "XDP_PASS").0, 2);
    // A reload on the same interface still leaves it theirs.
    load(&bed, &pins, &bed.if_a, &[]).success();

    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
    assert_eq!(
        pins.pins(),
        ["stats_map"],
        "only the other tool's pin is left"
    );
    assert_eq!(MapInfo::from_pin(&stats).unwrap().id(), theirs);
}

/// A pid no process has: one that just exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// What SIGKILL between the link update and the renames leaves: a loader
/// that pointed the link at its program, before it moved the pins or
/// recorded them. The running jump table is pinned only in its staging (the
/// records still name the table it replaced, here gone). Returns the dead
/// pid, its staging directory and the interface's jump-table record.
fn killed_after_link_update(
    bed: &Testbed,
    pins: &Bpffs,
) -> (u32, std::path::PathBuf, std::path::PathBuf) {
    let state = pins.path().join("xdploader");
    let pid = dead_pid();
    let staging = state.join(format!("load-in-progress-{pid}"));
    std::fs::create_dir_all(staging.join("m")).unwrap();
    std::fs::rename(pins.path().join("jmp_map"), staging.join("m/jmp_map")).unwrap();
    let record = state.join(&bed.if_a).join("maps/jmp_map");
    std::fs::remove_file(&record).unwrap();
    (pid, staging, record)
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn what_a_killed_loader_left_is_undone_or_completed_never_black_holing() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    load(&bed, &pins, &bed.if_a, &[]).success();
    let jmp = pins.path().join("jmp_map");
    let jmp_id = MapInfo::from_pin(&jmp).unwrap().id();
    let state = pins.path().join("xdploader");

    // 1. A loader killed before it attached: its staging holds maps nobody
    // runs (named as earlier versions named it: still cleaned up).
    let early = state.join(format!("tmp-{}", dead_pid()));
    std::fs::create_dir_all(early.join("m")).unwrap();
    sh(&[
        "bpftool",
        "map",
        "create",
        early.join("m/stats_map").to_str().unwrap(),
        "type",
        "percpu_array",
        "key",
        "4",
        "value",
        "16",
        "entries",
        "5",
        "name",
        "stats_map",
    ]);
    // 2. A loader killed after it pointed the link at its program.
    let (late_pid, late, record) = killed_after_link_update(&bed, &pins);

    // 3. A loader killed while listening to its tracefs instance (kernel-wide,
    // seen wherever tracefs is mounted; mounted here for the test if need be).
    let tracing = std::path::Path::new("/sys/kernel/tracing");
    let mounted_here = !testkit::run(None, "mountpoint", &["-q", "/sys/kernel/tracing"]).ok();
    if mounted_here {
        sh(&["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"]);
    }
    let instance = tracing
        .join("instances")
        .join(format!("xdploader-{}", dead_pid()));
    std::fs::create_dir(&instance).unwrap();

    // The next load (on another interface, so the first is left as it runs)
    // cleans up all three, and the first interface's chain never breaks.
    let (c, _d) = bed.second_pair();
    let out = load(&bed, &pins, &c, &[]);
    let instance_left = instance.exists();
    let _ = std::fs::remove_dir(&instance);
    if mounted_here {
        sh(&["umount", "/sys/kernel/tracing"]);
    }
    assert!(!instance_left, "a dead loader's tracefs instance was left");
    let stdout = out.success();
    // Had the staging pin simply been removed, the kernel would have emptied
    // the table: every ping XDP_ABORTED.
    still_counts(&bed, &pins, 0);
    assert!(stdout.contains("cleaned up: removed what pid"), "{stdout}");
    assert!(
        stdout.contains(&format!("cleaned up: completed the load of pid {late_pid}")),
        "{stdout}"
    );
    assert!(!early.exists() && !late.exists(), "staging left");
    // The record names the running table, so unload finds it.
    assert_eq!(MapInfo::from_pin(&record).unwrap().id(), jmp_id);
    for iface in [bed.if_a.as_str(), c.as_str()] {
        bed.xdploader(&pins, &["unload", "-i", iface]).success();
    }
    assert_eq!(pins.pins(), Vec::<String>::new());
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn status_finishes_a_load_killed_after_its_link_update_and_statswatch_names_it() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    load(&bed, &pins, &bed.if_a, &[]).success();
    let jmp = pins.path().join("jmp_map");
    let jmp_id = MapInfo::from_pin(&jmp).unwrap().id();
    let (pid, staging, record) = killed_after_link_update(&bed, &pins);

    let stats = pins.path().join("stats_map");
    let out = testkit::run(
        None,
        testkit::bin("statswatch"),
        &["-file", stats.to_str().unwrap()],
    );
    out.success();
    assert!(
        out.stderr.contains(&format!(
            "xdploader pid {pid} died mid-load and left {}",
            staging.display()
        )),
        "{}",
        out.stderr
    );
    let out = bed.xdploader(&pins, &["status", "-i", &bed.if_a]);
    assert!(
        out.success()
            .contains(&format!("cleaned up: completed the load of pid {pid}")),
        "{}",
        out.stdout
    );
    assert!(!staging.exists());
    assert_eq!(MapInfo::from_pin(&jmp).unwrap().id(), jmp_id);
    assert_eq!(MapInfo::from_pin(&record).unwrap().id(), jmp_id);
    // The chain never broke: the table kept a user reference throughout.
    still_counts(&bed, &pins, 0);
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
    assert_eq!(pins.pins(), Vec::<String>::new());
}

/// The permission bits of `path`.
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn pins_are_0600_and_directories_0700_whatever_the_umask() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let elf = kern_object("xdp.elf");
    let loader = testkit::bin("xdploader");
    let umask_000 = |extra: &[&str]| {
        let mut args = vec![
            "-c",
            "umask 000; exec \"$0\" \"$@\"",
            loader.to_str().unwrap(),
            "-file",
            elf.to_str().unwrap(),
            "-i",
            &bed.if_a,
        ];
        let pin_dir = pins.arg();
        args.extend(["--pin-dir", &pin_dir]);
        args.extend_from_slice(extra);
        testkit::run(Some(&bed.ns_a), "sh", &args)
            .success()
            .to_owned()
    };
    umask_000(&[]);
    let state = pins.path().join("xdploader");
    let iface = state.join(&bed.if_a);
    for dir in [&state, &iface, &iface.join("maps")] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    for pin in [
        pins.path().join("stats_map"),
        pins.path().join("jmp_map"),
        iface.join("link"),
        iface.join("maps/stats_map"),
    ] {
        assert_eq!(mode(&pin), 0o600, "{}", pin.display());
    }
    // So a user other than root cannot detach the program by removing its link.
    let link = iface.join("link");
    let rm = testkit::run(
        None,
        "setpriv",
        &[
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "rm",
            "-f",
            link.to_str().unwrap(),
        ],
    );
    assert!(!rm.ok(), "nobody removed the link pin");
    assert!(link.exists());

    // --pin-mode 0640: a group may read the pins (statswatch as a monitoring user).
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
    umask_000(&["--pin-mode", "0640"]);
    assert_eq!(mode(&pins.path().join("stats_map")), 0o640);
    assert_eq!(mode(&state.join(&bed.if_a)), 0o750);
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();

    // A pin directory the loader makes itself is not left 0777 by the umask.
    let made = pins.path().join("made");
    let pin_dir = made.join("here");
    let pin_dir_arg = pin_dir.to_str().unwrap();
    for (extra, expected) in [(&[][..], 0o700), (&["--pin-mode", "0640"][..], 0o750)] {
        let mut args = vec![
            "-c",
            "umask 000; exec \"$0\" \"$@\"",
            loader.to_str().unwrap(),
            "-file",
            elf.to_str().unwrap(),
            "-i",
            &bed.if_a,
            "--pin-dir",
            pin_dir_arg,
        ];
        args.extend_from_slice(extra);
        testkit::run(Some(&bed.ns_a), "sh", &args).success();
        assert_eq!(mode(&made), 0o700, "{}", made.display());
        assert_eq!(
            mode(&pin_dir),
            expected,
            "{} with {extra:?}",
            pin_dir.display()
        );
        let unload = ["unload", "-i", &bed.if_a, "--pin-dir", pin_dir_arg];
        testkit::run(Some(&bed.ns_a), &loader, &unload).success();
        let _ = std::fs::remove_dir_all(&made);
    }
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn capabilities_decide_not_the_uid() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let elf = kern_object("xdp.elf");
    let loader = testkit::bin("xdploader");
    let job = [
        loader.to_str().unwrap(),
        "-file",
        elf.to_str().unwrap(),
        "-i",
        &bed.if_a,
        "--pin-dir",
        &pins.arg(),
    ];

    // Root without CAP_NET_ADMIN: told which capability, before anything exists.
    let mut args = vec!["--bounding-set=-net_admin", "--inh-caps=-all"];
    args.extend(job);
    let out = testkit::run(Some(&bed.ns_a), "setpriv", &args);
    assert!(!out.ok());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("load needs CAP_NET_ADMIN, which this process does not have"),
        "{}",
        out.stderr
    );
    assert_eq!(pins.pins(), Vec::<String>::new());

    // Not root, but holding the three capabilities (and owning the pin dir):
    // the load goes through.
    sh(&["chown", "nobody:nogroup", &pins.arg()]);
    let caps = "+bpf,+net_admin,+sys_admin,+perfmon";
    let inh = format!("--inh-caps={caps}");
    let ambient = format!("--ambient-caps={caps}");
    let mut args = vec![
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        &inh,
        &ambient,
    ];
    args.extend(job);
    // Over root's 0600 pins, those capabilities do not open the maps: said
    // so, with the owner and mode, and nothing changes.
    testkit::run(Some(&bed.ns_a), job[0], &job[1..]).success();
    let root_prog = bed.xdp_prog_id(&bed.ns_a, &bed.if_a);
    let out = testkit::run(Some(&bed.ns_a), "setpriv", &args);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "is a pinned BPF map this process may not open (owner uid 0, mode 0600): run as its owner (root)"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), root_prog);
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();

    let out = testkit::run(Some(&bed.ns_a), "setpriv", &args);
    assert!(out.ok(), "{out:#?}");
    assert!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a).is_some());
    assert_eq!(bed.ping_a_from_b(2, 56), 2);
    assert_eq!(
        testkit::counters(&pins.path().join("stats_map"), "XDP_PASS").0,
        2
    );
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn unload_unmounts_the_bpffs_the_loader_mounted_once_nothing_is_pinned_there() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let plain = tempfile::tempdir().unwrap();
    let dir = plain.path().join("pins");
    let dir_arg = dir.display().to_string();
    // Whatever bpffs is left on it goes on drop, a failed assertion included
    // (declared after `plain`, so it runs before the directory is removed).
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            while std::process::Command::new("umount")
                .arg(&self.0)
                .status()
                .is_ok_and(|s| s.success())
            {}
        }
    }
    let _unmount = Unmount(dir.clone());
    let is_bpffs = |d: &std::path::Path| {
        testkit::run(None, "stat", &["-f", "-c", "%T", d.to_str().unwrap()])
            .stdout
            .trim()
            == "bpf_fs"
    };
    let elf = kern_object("xdp.elf");
    let xdploader = |args: &[&str]| testkit::run(Some(&bed.ns_a), testkit::bin("xdploader"), args);
    let load_args = [
        "-file",
        elf.to_str().unwrap(),
        "-i",
        &bed.if_a,
        "--pin-dir",
        &dir_arg,
    ];
    xdploader(&load_args).success();
    assert!(is_bpffs(&dir), "the loader mounts bpffs on a plain pin dir");
    let out = xdploader(&["unload", "-i", &bed.if_a, "--pin-dir", &dir_arg]);
    assert!(
        out.success()
            .contains("unmounted the bpffs xdploader had mounted at"),
        "{}",
        out.stdout
    );
    assert!(!is_bpffs(&dir), "still mounted after unload");

    // Another tool's pin in that bpffs keeps it mounted.
    xdploader(&load_args).success();
    let theirs = dir.join("theirs");
    sh(&[
        "bpftool",
        "map",
        "create",
        theirs.to_str().unwrap(),
        "type",
        "array",
        "key",
        "4",
        "value",
        "4",
        "entries",
        "1",
        "name",
        "theirs",
    ]);
    xdploader(&["unload", "-i", &bed.if_a, "--pin-dir", &dir_arg]).success();
    assert!(
        is_bpffs(&dir) && theirs.exists(),
        "another tool's pin was lost"
    );
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn sigint_or_sigterm_at_any_moment_of_a_load_leaves_nothing_half_done() {
    use nix::sys::signal::{kill, Signal};
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let elf = kern_object("xdp.elf");
    let pin_dir = pins.arg();
    let (mut completed, mut rolled_back, mut before_start) = (0, 0, 0);
    // Delays spread over the whole run of a (debug-built) load.
    for step in 0..30u64 {
        let signal = if step % 2 == 0 {
            Signal::SIGINT
        } else {
            Signal::SIGTERM
        };
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &bed.ns_a])
            .arg(testkit::bin("xdploader"))
            .args([
                "-file",
                elf.to_str().unwrap(),
                "-i",
                &bed.if_a,
                "--pin-dir",
                &pin_dir,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(step * 1500));
        // ip netns exec execs the loader: the same pid.
        let _ = kill(nix::unistd::Pid::from_raw(child.id() as i32), signal);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let attached = bed.xdp_prog_id(&bed.ns_a, &bed.if_a).is_some();
        match out.status.code() {
            Some(0) => {
                completed += 1;
                assert!(attached, "exit 0 but not attached: {stderr}");
                bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
            }
            Some(code) if code == 128 + signal as i32 => {
                rolled_back += 1;
                assert!(stderr.contains("the load was rolled back"), "{stderr}");
                assert_eq!(stderr.lines().count(), 1, "{stderr}");
                assert!(!attached, "rolled back but attached");
            }
            // Killed by the signal's default action, before the loader held it back.
            None => {
                before_start += 1;
                assert!(!attached, "killed early but attached");
            }
            Some(code) => panic!("exit {code}: {stderr}"),
        }
        assert_eq!(
            pins.pins(),
            Vec::<String>::new(),
            "step {step}: left behind"
        );
    }
    eprintln!(
        "completed {completed}, rolled back {rolled_back}, killed before start {before_start}"
    );
    assert_eq!(completed + rolled_back + before_start, 30);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn status_tells_ours_from_others_with_object_pins_slots_and_peer_fix() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let elf = kern_object("xdp.elf");
    load(&bed, &pins, &bed.if_a, &["--mode", "native"]).success();
    // Another tool's program on a second interface.
    let (c, _d) = bed.second_pair();
    bed.attach_netlink_generic(&c);

    let report = bed
        .xdploader(&pins, &["status", "--json", "--all-netns"])
        .json();
    let entry = |name: &str| {
        report["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["iface"] == name)
            .unwrap_or_else(|| panic!("no {name} in {report}"))
            .clone()
    };
    let ours = entry(&bed.if_a);
    assert_eq!(ours["ours"], true);
    assert_eq!(ours["mode"], "native");
    assert_eq!(ours["prog_name"], "xdp_skeleton");
    assert_eq!(ours["load"]["object"], elf.to_str().unwrap());
    let sha = testkit::run(None, "sha256sum", &[elf.to_str().unwrap()]);
    assert_eq!(
        ours["load"]["sha256"].as_str().unwrap(),
        sha.success().split_whitespace().next().unwrap()
    );
    let stats = pins.path().join("stats_map").display().to_string();
    assert!(
        ours["pins"].as_array().unwrap().iter().any(|p| p == &stats),
        "{ours}"
    );
    let slots: Vec<(u64, String)> = ours["jump_tables"][0]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["slot"].as_u64().unwrap(),
                s["prog_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        slots,
        [
            (1, "xdp_skeleton_1".to_owned()),
            (2, "xdp_skeleton_2".to_owned())
        ]
    );
    assert!(
        ours["peer_fix"][0].as_str().unwrap().contains("xdp_pass"),
        "{ours}"
    );

    let theirs = entry(&c);
    assert_eq!(theirs["ours"], false);
    assert_eq!(theirs["mode"], "skb");
    assert!(theirs.get("load").is_none());
    // The peer, in the other namespace: our peer fix, named as such.
    let peer = entry(&bed.if_b);
    assert_eq!(peer["netns"], format!("netns {}", bed.ns_b));
    assert_eq!(peer["peer_fix_of"], bed.if_a.as_str());

    // The text form says the same in one line per interface.
    let text = bed.xdploader(&pins, &["status", "-i", &bed.if_a]);
    let first = text.success().lines().next().unwrap().to_owned();
    assert!(
        first.contains(&format!("ours: {}", elf.display())),
        "{first}"
    );
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
    assert_eq!(pins.pins(), Vec::<String>::new());
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn force_replaces_another_tools_program_and_puts_it_back_when_the_load_fails() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    // Another tool's program, attached through netlink.
    let foreign = bed.attach_netlink_generic(&bed.if_a);
    // Without --force: refused (EBUSY), theirs stays.
    assert!(!load(&bed, &pins, &bed.if_a, &[]).ok());
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), Some(foreign));

    // --force, and the load fails on a second interface (a bridge refuses
    // native mode): theirs is back, the very same program.
    let bridge = bed.bridge();
    let native = load(
        &bed,
        &pins,
        &format!("{},{bridge}", bed.if_a),
        &["--force", "--mode", "native"],
    );
    assert!(!native.ok(), "{native:#?}");
    assert_eq!(
        bed.xdp_prog_id(&bed.ns_a, &bed.if_a),
        Some(foreign),
        "their program was not put back"
    );
    assert_eq!(pins.pins(), Vec::<String>::new());

    // --force alone: says what it replaces, and ours runs.
    let out = load(&bed, &pins, &bed.if_a, &["--force", "--mode", "skb"]);
    let stdout = out.success();
    assert!(
        stdout.contains("replaced xdp_other_tool")
            && stdout.contains("through netlink in skb mode"),
        "{stdout}"
    );
    assert_eq!(bed.ping_a_from_b(2, 56), 2);
    assert_eq!(
        testkit::counters(&pins.path().join("stats_map"), "XDP_PASS").0,
        2
    );
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_map_pinned_by_name_that_another_interface_uses_is_said_to_be_shared() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    load(&bed, &pins, &bed.if_a, &[]).success();
    let (c, _d) = bed.second_pair();
    // A second interface, the same object: its stats_map is the first one's.
    let out = load(&bed, &pins, &c, &[]);
    let stats = pins.path().join("stats_map");
    assert!(
        out.success().contains(&format!(
            "{} (reused: also used by {}'s xdp_skeleton, so its counts are theirs too)",
            stats.display(),
            bed.if_a
        )),
        "{}",
        out.stdout
    );
    // A reload of the first names the second, never itself.
    let out = load(&bed, &pins, &bed.if_a, &[]);
    assert!(
        out.success()
            .contains(&format!("(reused: also used by {c}'s xdp_skeleton")),
        "{}",
        out.stdout
    );
    for iface in [bed.if_a.as_str(), c.as_str()] {
        bed.xdploader(&pins, &["unload", "-i", iface]).success();
    }
}
