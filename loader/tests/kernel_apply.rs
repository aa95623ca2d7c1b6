//! `xdploader apply`: the config file made true in a testbed, run from the
//! host with the interfaces in the testbed's namespace (`netns = …`), and
//! the state checked with the loader gone.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use testkit::{bin, kern_object, run, Bpffs, Run, Testbed};

/// A config file of the test's own.
struct ConfigFile {
    dir: tempfile::TempDir,
}

impl ConfigFile {
    fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("xdptest-apply-")
                .tempdir()
                .unwrap(),
        }
    }
    fn path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }
    /// Writes one `[[attach]]` per (file, interfaces, extra lines).
    fn write(&self, bed: &Testbed, pins: &Bpffs, entries: &[(&Path, &str, &str)]) {
        let text: String = entries
            .iter()
            .map(|(file, ifs, extra)| {
                let ifs: Vec<String> = ifs.split(',').map(|i| format!("{i:?}")).collect();
                format!(
                    "[[attach]]\nfile = {:?}\ninterfaces = [{}]\nnetns = {:?}\npin_dir = {:?}\n{extra}\n",
                    file.display().to_string(),
                    ifs.join(", "),
                    bed.ns_a,
                    pins.arg()
                )
            })
            .collect();
        std::fs::write(self.path(), text).unwrap();
    }
    fn apply(&self, extra: &[&str]) -> Run {
        let path = self.path().display().to_string();
        let mut args = vec!["apply", "-c", path.as_str(), "--json"];
        args.extend_from_slice(extra);
        run(None, bin("xdploader"), &args)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        // What an apply records in /run for its config file goes with it.
        let _ = std::fs::write(self.path(), "");
        let _ = self.apply(&[]);
    }
}

/// (action, outcome) of each step.
fn steps(report: &serde_json::Value) -> Vec<(String, String)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["action"].as_str().unwrap().to_owned(),
                s["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(action: &str, outcome: &str) -> (String, String) {
    (action.to_owned(), outcome.to_owned())
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn apply_converges_from_empty_and_a_second_run_changes_nothing() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins, config) = (Testbed::new(), Bpffs::new(), ConfigFile::new());
    let elf = kern_object("xdp.elf");
    config.write(&bed, &pins, &[(&elf, &bed.if_a, "")]);

    let dry = config.apply(&["--dry-run"]).json();
    assert_eq!(steps(&dry), [pair("load", "planned")], "{dry:#}");
    assert_eq!(
        bed.xdp_prog_id(&bed.ns_a, &bed.if_a),
        None,
        "a dry run loaded"
    );

    let first = config.apply(&[]).json();
    assert_eq!(steps(&first), [pair("load", "done")], "{first:#}");
    let prog = bed.xdp_prog_id(&bed.ns_a, &bed.if_a).expect("attached");
    assert_eq!(bed.ping_a_from_b(3, 56), 3);
    let stats = pins.path().join("stats_map");
    assert_eq!(testkit::counters(&stats, "XDP_PASS").0, 3);

    let second = config.apply(&[]).json();
    assert_eq!(steps(&second), [pair("unchanged", "planned")]);
    assert_eq!(second["changes"], 0);
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), Some(prog));
    // And says so in text.
    let path = config.path().display().to_string();
    let text = run(None, bin("xdploader"), &["apply", "-c", &path]);
    assert!(
        text.success()
            .contains("nothing to change, 1 entry as declared"),
        "{text:#?}"
    );
    // The status names the config the load came from.
    let status = bed.xdploader(&pins, &["status", "-i", &bed.if_a, "--json"]);
    assert!(status.success().contains(&path), "{status:#?}");
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_changed_object_is_replaced_on_the_link_with_no_packet_lost() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins, config) = (Testbed::new(), Bpffs::new(), ConfigFile::new());
    let elf = config.dir.path().join("prog.elf");
    std::fs::copy(kern_object("xdp.elf"), &elf).unwrap();
    config.write(&bed, &pins, &[(&elf, &bed.if_a, "")]);
    config.apply(&[]).success();
    let before = bed.xdp_prog_id(&bed.ns_a, &bed.if_a).expect("attached");

    // A flood of pings runs through the replacement.
    let flood = std::process::Command::new("ip")
        .args(["netns", "exec", &bed.ns_b, "ping", "-q", "-n"])
        .args(["-i", "0.002", "-c", "400", "-W", "1", bed.addr_a])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Another build of the program: the same code, other bytes.
    let mut bytes = std::fs::read(&elf).unwrap();
    bytes.extend_from_slice(&[0; 64]);
    std::fs::write(&elf, bytes).unwrap();
    let replaced = config.apply(&[]).json();
    assert_eq!(steps(&replaced), [pair("replace", "done")], "{replaced:#}");
    let why = replaced["steps"][0]["why"].as_str().unwrap();
    assert!(why.contains("object changed"), "{why}");

    let out = flood.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("400 packets transmitted, 400 received"),
        "packets lost across the replacement: {summary}"
    );
    let after = bed
        .xdp_prog_id(&bed.ns_a, &bed.if_a)
        .expect("still attached");
    assert_ne!(before, after, "the program was not replaced");
    // The counters are the same map: every echo request counted once.
    let stats = pins.path().join("stats_map");
    assert_eq!(testkit::counters(&stats, "XDP_PASS").0, 400);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn entries_removed_from_the_config_are_unloaded_and_a_foreign_program_is_left_alone() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins, config) = (Testbed::new(), Bpffs::new(), ConfigFile::new());
    let (c, d) = bed.second_pair();
    let foreign = bed.attach_netlink_generic(&d);
    let elf = kern_object("xdp.elf");
    config.write(
        &bed,
        &pins,
        &[(&elf, &bed.if_a, ""), (&elf, &c, "mode = \"skb\"")],
    );
    let first = config.apply(&[]).json();
    assert_eq!(
        steps(&first),
        [pair("load", "done"), pair("load", "done")],
        "{first:#}"
    );
    let kept = bed.xdp_prog_id(&bed.ns_a, &bed.if_a).expect("attached");

    // A changed mode needs a new link.
    config.write(
        &bed,
        &pins,
        &[(&elf, &bed.if_a, ""), (&elf, &c, "mode = \"native\"")],
    );
    let moved = config.apply(&[]).json();
    assert_eq!(
        steps(&moved),
        [pair("unchanged", "planned"), pair("reattach", "done")],
        "{moved:#}"
    );

    // Entry 2 gone: c is unloaded, if_a untouched, d's program not ours.
    config.write(&bed, &pins, &[(&elf, &bed.if_a, "")]);
    let removed = config.apply(&[]).json();
    assert_eq!(
        steps(&removed),
        [pair("unchanged", "planned"), pair("unload", "done")],
        "{removed:#}"
    );
    assert_eq!(
        bed.xdp_prog_id(&bed.ns_a, &c),
        None,
        "c still has a program"
    );
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), Some(kept));
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &d), Some(foreign));

    // An empty config: the last one goes, from a pin dir only the record
    // of the earlier applies names, and nothing of ours is left there.
    std::fs::write(config.path(), "").unwrap();
    let emptied = config.apply(&[]).json();
    assert_eq!(steps(&emptied), [pair("unload", "done")], "{emptied:#}");
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &d), Some(foreign));
    assert_eq!(pins.pins(), Vec::<String>::new());
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_failing_entry_does_not_undo_the_others_and_the_exit_status_says_so() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins, config) = (Testbed::new(), Bpffs::new(), ConfigFile::new());
    let (_c, d) = bed.second_pair();
    let foreign = bed.attach_netlink_generic(&d);
    let elf = kern_object("xdp.elf");
    // Entry 2: another tool's program, not to be replaced without force.
    // Entry 3: an interface that does not exist.
    config.write(
        &bed,
        &pins,
        &[
            (&elf, &bed.if_a, ""),
            (&elf, &d, ""),
            (&elf, "nosuchif0", ""),
        ],
    );
    let out = config.apply(&[]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        steps(&report),
        [
            pair("load", "done"),
            pair("load", "failed"),
            pair("invalid", "failed")
        ],
        "{report:#}"
    );
    assert_eq!(report["failed"], 2);
    let error = report["steps"][1]["error"].as_str().unwrap();
    assert!(error.contains("another tool attached"), "{error}");
    assert!(report["steps"][2]["error"]
        .as_str()
        .unwrap()
        .contains("nosuchif0"));
    assert!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a).is_some());
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &d), Some(foreign));
    assert_eq!(bed.ping_a_from_b(2, 56), 2);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn unload_all_removes_every_load_of_ours_below_the_pin_dir() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins) = (Testbed::new(), Bpffs::new());
    let (c, _d) = bed.second_pair();
    let elf = kern_object("xdp.elf");
    bed.load(&pins, &elf, &[]).success();
    // A second load in a pin dir below the first.
    let nested = format!("{}/lab", pins.arg());
    let file = elf.display().to_string();
    let args = [
        "-file",
        file.as_str(),
        "-i",
        c.as_str(),
        "--pin-dir",
        nested.as_str(),
    ];
    run(Some(&bed.ns_a), bin("xdploader"), &args).success();

    let out = bed.xdploader(&pins, &["unload", "--all", "--json"]).json();
    let mut ifaces: Vec<&str> = out["unloaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["iface"].as_str().unwrap())
        .collect();
    ifaces.sort_unstable();
    let mut expected = vec![bed.if_a.as_str(), c.as_str()];
    expected.sort_unstable();
    assert_eq!(ifaces, expected);
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &c), None);
    assert_eq!(pins.pins(), Vec::<String>::new());
    let again = bed.xdploader(&pins, &["unload", "--all"]);
    assert!(again.success().contains("nothing to unload"), "{again:#?}");
}
