//! `xdploader doctor`: each finding made true for real in a netns, named by
//! doctor, and cleared by `--fix` when its fix is safe.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use testkit::{bin, kern_object, run, sh, Bpffs, Run, Testbed};

/// `xdploader doctor --json -i <if_a> EXTRA…` in namespace a.
fn doctor(bed: &Testbed, pins: &str, extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["doctor", "--json", "-i", &bed.if_a, "--pin-dir", pins];
    args.extend_from_slice(extra);
    let out = run(Some(&bed.ns_a), bin("xdploader"), &args);
    let report = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor printed no JSON ({e}): {out:#?}"));
    (out, report)
}

fn checks(report: &Value, severity: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == severity && f["fixed"] != true)
        .map(|f| f["check"].as_str().unwrap().to_owned())
        .collect()
}

fn finding<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} in {report}"))
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn peer_without_xdp_and_with_tx_checksums_is_found_and_fixed() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    bed.load(
        &pins,
        &kern_object("echo.elf"),
        &["--mode", "native", "--no-peer-fix"],
    )
    .success();
    let (out, report) = doctor(&bed, &pins.arg(), &[]);
    assert_eq!(out.code, Some(1), "problems found: exit 1");
    assert_eq!(
        checks(&report, "problem"),
        ["peer-no-xdp", "peer-tx-checksum"]
    );
    let tx = finding(&report, "peer-tx-checksum");
    assert_eq!(
        tx["fix"]["command"],
        format!("ip netns exec {} ethtool -K {} tx off", bed.ns_b, bed.if_b)
    );
    assert!(finding(&report, "peer-no-xdp")["message"]
        .as_str()
        .unwrap()
        .contains("ENXIO"));
    assert!(finding(&report, "xdp-mode")["message"]
        .as_str()
        .unwrap()
        .contains("native mode"));

    let (out, report) = doctor(&bed, &pins.arg(), &["--fix"]);
    assert!(out.ok(), "{report}");
    assert_eq!(finding(&report, "peer-no-xdp")["fixed"], true);
    let (out, report) = doctor(&bed, &pins.arg(), &[]);
    assert!(out.ok(), "{report}");
    assert_eq!(checks(&report, "problem"), Vec::<String>::new());
    assert!(bed.xdp_prog_id(&bed.ns_b, &bed.if_b).is_some());

    // The loader's own records: unload undoes doctor's fix too.
    let text = bed.xdploader(&pins, &["unload", "-i", &bed.if_a]);
    assert!(
        text.success().contains("tx checksum offload back on"),
        "{text:?}"
    );
    assert_eq!(bed.xdp_prog_id(&bed.ns_b, &bed.if_b), None);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn another_tools_netlink_attachment_and_strict_rp_filter_are_found_and_fixed() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    bed.attach_netlink_generic(&bed.if_a);
    sh(&[
        "ip",
        "netns",
        "exec",
        &bed.ns_a,
        "sysctl",
        "-qw",
        "net.ipv4.conf.all.rp_filter=1",
    ]);
    let (out, report) = doctor(&bed, &pins.arg(), &[]);
    assert_eq!(out.code, Some(1));
    assert_eq!(
        checks(&report, "problem"),
        ["netlink-attachment", "rp-filter"]
    );
    assert!(checks(&report, "info").contains(&"generic-mode".to_owned()));
    assert!(finding(&report, "netlink-attachment")["message"]
        .as_str()
        .unwrap()
        .contains("EBUSY"));
    // What it is about: our load would be refused.
    let refused = bed.load(&pins, &kern_object("xdp.elf"), &["--mode", "skb"]);
    assert!(!refused.ok());

    let (out, _) = doctor(&bed, &pins.arg(), &["--fix"]);
    assert!(out.ok(), "{out:#?}");
    let (out, report) = doctor(&bed, &pins.arg(), &[]);
    assert!(out.ok(), "{report}");
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
    bed.load(&pins, &kern_object("xdp.elf"), &[]).success();
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn mtu_too_large_for_a_program_without_frags_is_named_but_not_auto_fixed() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    for (ns, ifname) in [(&bed.ns_a, &bed.if_a), (&bed.ns_b, &bed.if_b)] {
        sh(&["ip", "-n", ns, "link", "set", "dev", ifname, "mtu", "9000"]);
    }
    let out = bed.load(&pins, &kern_object("tests/pass_nofrags.elf"), &["--json"]);
    assert_eq!(out.json()["attached"][0]["mode"], "skb");
    let (out, report) = doctor(&bed, &pins.arg(), &["--fix"]);
    assert_eq!(out.code, Some(1), "not safe to fix by itself");
    let mtu = finding(&report, "mtu-native");
    assert!(
        mtu["message"].as_str().unwrap().contains("MTU 9000"),
        "{mtu}"
    );
    assert_eq!(mtu["fix"]["safe"], false);
    assert!(mtu["fixed"].is_null());
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_pin_dir_not_on_bpffs_is_found_and_mounted() {
    if !testkit::kernel() {
        return;
    }
    // In this namespace, not under `ip netns exec`: its private mount
    // namespace would keep the mount from being seen by the next run.
    let dir = tempfile::tempdir().unwrap();
    let pin_dir = dir.path().join("pins");
    let pin_dir = pin_dir.to_str().unwrap().to_owned();
    // Unmounted however the test ends.
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).output();
        }
    }
    let _unmount = Unmount(pin_dir.clone());
    let doctor = |extra: &[&str]| {
        let mut args = vec!["doctor", "--json", "-i", "lo", "--pin-dir", &pin_dir];
        args.extend_from_slice(extra);
        let out = run(None, bin("xdploader"), &args);
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        (out, report)
    };
    let (out, report) = doctor(&[]);
    assert_eq!(out.code, Some(1));
    assert!(
        checks(&report, "problem").contains(&"bpffs".to_owned()),
        "{report}"
    );
    let (_, report) = doctor(&["--fix"]);
    assert_eq!(finding(&report, "bpffs")["fixed"], true, "{report}");
    let (_, report) = doctor(&[]);
    assert!(
        !checks(&report, "problem").contains(&"bpffs".to_owned()),
        "{report}"
    );
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn fixes_never_go_through_a_shell_even_for_a_name_full_of_metacharacters() {
    if !testkit::kernel() {
        return;
    }
    // Linux allows `, $, { and } in interface names. Had --fix pasted this
    // one into `sh -c`, the shell would run `touch q` in the working directory.
    const NAME: &str = "`touch${IFS}q`";
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let peer = format!("{}p", bed.if_a);
    sh(&[
        "ip", "-n", &bed.ns_a, "link", "add", NAME, "type", "veth", "peer", "name", &peer,
    ]);
    sh(&["ip", "-n", &bed.ns_a, "link", "set", NAME, "up"]);
    bed.attach_netlink_generic(NAME);
    sh(&[
        "ip",
        "netns",
        "exec",
        &bed.ns_a,
        "sysctl",
        "-qw",
        "net.ipv4.conf.all.rp_filter=1",
    ]);
    let cwd = tempfile::tempdir().unwrap();
    let doctor = |extra: &[&str]| -> (Option<i32>, Value) {
        let mut args = vec!["doctor", "--json", "-i", NAME, "--pin-dir"];
        let pin_dir = pins.arg();
        args.push(&pin_dir);
        args.extend_from_slice(extra);
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &bed.ns_a])
            .arg(bin("xdploader"))
            .args(&args)
            .current_dir(cwd.path())
            .output()
            .unwrap();
        let report = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), report)
    };

    let (code, report) = doctor(&[]);
    assert_eq!(code, Some(1));
    // The advice is quoted, so it too is safe to paste.
    assert_eq!(
        finding(&report, "netlink-attachment")["fix"]["command"],
        format!("ip link set dev '{NAME}' xdpgeneric off")
    );
    assert_eq!(
        finding(&report, "rp-filter")["fix"]["command"],
        format!("sysctl -qw net.ipv4.conf.all.rp_filter=2 'net.ipv4.conf.{NAME}.rp_filter=2'")
    );

    let (code, report) = doctor(&["--fix"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(finding(&report, "netlink-attachment")["fixed"], true);
    assert_eq!(finding(&report, "rp-filter")["fixed"], true);
    assert_eq!(
        bed.xdp_prog_id(&bed.ns_a, NAME),
        None,
        "detached through netlink"
    );
    let rp = run(
        Some(&bed.ns_a),
        "cat",
        &[format!("/proc/sys/net/ipv4/conf/{NAME}/rp_filter")],
    );
    assert_eq!(rp.success().trim(), "2");
    let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(left.is_empty(), "a shell ran the name: {left:?}");
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn without_interfaces_doctor_checks_every_one_running_xdp_or_shows_its_own_usage() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    // Nothing runs XDP in the namespace yet: doctor's own usage, exit 2.
    let out = run(Some(&bed.ns_a), bin("xdploader"), &["doctor"]);
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(
        out.stderr.contains("no interface here runs an XDP program")
            && out.stderr.contains("Usage: xdploader doctor [OPTIONS]"),
        "{}",
        out.stderr
    );
    bed.load(&pins, &kern_object("xdp.elf"), &[]).success();
    let out = run(
        Some(&bed.ns_a),
        bin("xdploader"),
        &["doctor", "--json", "--pin-dir", &pins.arg()],
    );
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let checked: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["iface"].as_str())
        .collect();
    assert!(checked.contains(&bed.if_a.as_str()), "{report}");
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_qemu_guest_without_kvm_and_with_several_cpus_is_named_and_no_other_machine_is() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let (_, report) = doctor(&bed, &pins.arg(), &[]);
    // Told apart here by another sign than doctor's (DMI and CPUID): the
    // CPU model QEMU's TCG gives its guests (`-cpu max`, as the suite's).
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let tcg = cpuinfo.contains("QEMU TCG CPU");
    let named = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "emulated-cpus");
    match named {
        Some(f) => {
            assert!(
                tcg && cpus > 1,
                "named on a machine that is not TCG with CPUs: {f}"
            );
            assert_eq!(f["severity"], "info");
            assert!(
                f["message"].as_str().unwrap().contains("thread=single"),
                "{f}"
            );
        }
        None => assert!(
            !(tcg && cpus > 1),
            "a TCG guest with {cpus} CPUs not named: {report}"
        ),
    }
}
