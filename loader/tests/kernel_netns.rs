//! One host, many network namespaces, each with an interface of the same
//! name (every container has its eth0): a load, reload or unload in one
//! never touches another's. Loads in a namespace other than the host's pin
//! under /sys/fs/bpf/netns-NAME by default (xdp_core::netns); a shared
//! --pin-dir is refused rather than misused.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use testkit::{bin, kern_object, run, sh, HostPinDir, Run, Testbed};

const IFACE: &str = "ux0";

/// Two testbeds whose namespace-a interfaces are both called ux0.
fn two_beds() -> (Testbed, Testbed) {
    (Testbed::with_if_a(IFACE), Testbed::with_if_a(IFACE))
}

/// `xdploader ARGS` inside `ns`, entered with `ip netns exec` or `nsenter --net`.
fn xdploader_in(ns: &str, nsenter: bool, args: &[&str]) -> Run {
    let loader = bin("xdploader");
    let loader = loader.to_str().unwrap();
    if nsenter {
        let net = format!("--net=/run/netns/{ns}");
        let mut all = vec![net.as_str(), loader];
        all.extend_from_slice(args);
        run(None, "nsenter", &all)
    } else {
        let mut all = vec!["netns", "exec", ns, loader];
        all.extend_from_slice(args);
        run(None, "ip", &all)
    }
}

fn load_args(elf: &Path) -> Vec<&str> {
    vec!["-file", elf.to_str().unwrap(), "-i", IFACE]
}

fn passed(pin_dir: &Path) -> u64 {
    testkit::counters(&pin_dir.join("stats_map"), "XDP_PASS").0
}

fn tx_checksum_off(bed: &Testbed) -> bool {
    let out = run(Some(&bed.ns_b), "ethtool", &["-k", &bed.if_b]);
    out.success().contains("tx-checksumming: off")
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn same_named_interfaces_in_two_namespaces_keep_their_own_programs_pins_and_peer_fix() {
    if !testkit::kernel() {
        return;
    }
    let elf = kern_object("xdp.elf");
    // Both orders, and both ways into a namespace.
    for (first_nsenter, second_nsenter) in [(false, true), (true, false)] {
        let (a, b) = two_beds();
        let (pins_a, pins_b) = (HostPinDir::of_netns(&a.ns_a), HostPinDir::of_netns(&b.ns_a));
        let out = xdploader_in(&a.ns_a, first_nsenter, &load_args(&elf));
        out.success();
        assert!(out.stdout.contains(&pins_a.arg()), "{}", out.stdout);
        xdploader_in(&b.ns_a, second_nsenter, &load_args(&elf)).success();
        let id_a = a.xdp_prog_id(&a.ns_a, IFACE).expect("a runs a program");
        let id_b = b.xdp_prog_id(&b.ns_a, IFACE).expect("b runs a program");
        assert_ne!(id_a, id_b);

        // Each counts its own pings only.
        assert_eq!(a.ping_a_from_b(3, 56), 3);
        assert_eq!(b.ping_a_from_b(5, 56), 5);
        assert_eq!((passed(pins_a.path()), passed(pins_b.path())), (3, 5));

        // A reload in b replaces b's program, never a's.
        xdploader_in(&b.ns_a, second_nsenter, &load_args(&elf)).success();
        assert_eq!(a.xdp_prog_id(&a.ns_a, IFACE), Some(id_a));
        assert_ne!(b.xdp_prog_id(&b.ns_a, IFACE), Some(id_b));

        // Unloading in b leaves a running, its peer fix in force.
        assert!(tx_checksum_off(&a) && tx_checksum_off(&b));
        xdploader_in(&b.ns_a, second_nsenter, &["unload", "-i", IFACE]).success();
        assert_eq!(b.xdp_prog_id(&b.ns_a, IFACE), None);
        assert!(!tx_checksum_off(&b), "b's peer fix was not undone");
        assert_eq!(a.xdp_prog_id(&a.ns_a, IFACE), Some(id_a));
        assert!(tx_checksum_off(&a), "b's unload undid a's peer fix");
        assert_eq!(a.ping_a_from_b(2, 56), 2);
        assert_eq!(passed(pins_a.path()), 5);

        xdploader_in(&a.ns_a, first_nsenter, &["unload", "-i", IFACE]).success();
        // The pin directories the loads made go with their last load.
        assert!(!pins_a.path().exists() && !pins_b.path().exists());
    }
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_pin_dir_shared_by_two_namespaces_is_refused_before_anything_changes() {
    if !testkit::kernel() {
        return;
    }
    let elf = kern_object("xdp.elf");
    let (a, b) = two_beds();
    let shared = HostPinDir::new();
    let mut args = load_args(&elf);
    let dir = shared.arg();
    args.extend(["--pin-dir", &dir]);
    xdploader_in(&a.ns_a, false, &args).success();
    let id_a = a.xdp_prog_id(&a.ns_a, IFACE);

    // The link pinned for ux0 is a's: b's load and unload are refused.
    for verb in [args.clone(), vec!["unload", "-i", IFACE, "--pin-dir", &dir]] {
        let out = xdploader_in(&b.ns_a, false, &verb);
        assert_eq!(out.code, Some(1), "{out:#?}");
        // (Beside ip netns exec's note on the mount namespace.)
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.starts_with("xdploader: note:"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", out.stderr);
        assert!(
            out.stderr.contains("is attached to ifindex")
                && out
                    .stderr
                    .contains("of another network namespace, not to ux0")
                && out.stderr.contains("nothing changed"),
            "{}",
            out.stderr
        );
        assert_eq!(a.xdp_prog_id(&a.ns_a, IFACE), id_a);
        assert_eq!(b.xdp_prog_id(&b.ns_a, IFACE), None);
        assert!(tx_checksum_off(&a));
    }
    xdploader_in(&a.ns_a, false, &["unload", "-i", IFACE, "--pin-dir", &dir]).success();
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_namespace_deleted_under_a_running_load_is_named_then_its_pins_removed() {
    if !testkit::kernel() {
        return;
    }
    let elf = kern_object("xdp.elf");
    let (a, b) = two_beds();
    let pins_a = HostPinDir::of_netns(&a.ns_a);
    let pins_b = HostPinDir::of_netns(&b.ns_a);
    xdploader_in(&a.ns_a, false, &load_args(&elf)).success();
    xdploader_in(&b.ns_a, false, &load_args(&elf)).success();
    let id_b = b.xdp_prog_id(&b.ns_a, IFACE);

    // On the host: both counted, and the way to see them.
    let status = run(None, bin("xdploader"), &["status"]);
    assert!(
        status.success().contains("xdploader status --all-netns")
            && status.stdout.contains(&pins_a.arg())
            && status.stdout.contains(&pins_b.arg()),
        "{}",
        status.stdout
    );
    let all = run(None, bin("xdploader"), &["status", "--all-netns", "--json"]).json();
    let ours: Vec<&str> = all["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["ours"] == true && i["iface"] == IFACE)
        .filter_map(|i| i["netns"].as_str())
        .collect();
    for ns in [&a.ns_a, &b.ns_a] {
        assert!(ours.contains(&format!("netns {ns}").as_str()), "{all}");
    }

    // The kernel tears a namespace down in the background: its interfaces,
    // and so the link's, go a moment after `ip netns del`.
    sh(&["ip", "netns", "del", &a.ns_a]);
    let gone = format!("{}: ux0 gone with its network namespace", pins_a.arg());
    let start = std::time::Instant::now();
    let status = loop {
        let status = run(None, bin("xdploader"), &["status"]);
        if status.success().contains(&gone) || start.elapsed() > std::time::Duration::from_secs(20)
        {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.stdout.contains(&gone), "{}", status.stdout);
    let dir = pins_a.arg();
    run(
        None,
        bin("xdploader"),
        &["unload", "--all", "--pin-dir", &dir],
    )
    .success();
    assert!(!pins_a.path().join("xdploader").join(IFACE).exists());
    assert_eq!(b.xdp_prog_id(&b.ns_a, IFACE), id_b, "b was touched");
    assert_eq!(b.ping_a_from_b(2, 56), 2);
    xdploader_in(&b.ns_a, false, &["unload", "-i", IFACE]).success();
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn status_of_an_interface_that_does_not_exist_is_one_line_and_exit_1() {
    if !testkit::kernel() {
        return;
    }
    let out = run(None, bin("xdploader"), &["status", "-i", "nosuchif0"]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("nosuchif0"), "{}", out.stderr);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_load_pinned_by_an_earlier_version_under_the_hosts_dir_is_named_with_the_way_out() {
    if !testkit::kernel() {
        return;
    }
    let elf = kern_object("xdp.elf");
    let bed = Testbed::with_if_a(IFACE);
    let own = HostPinDir::of_netns(&bed.ns_a);
    let shared = HostPinDir::new();
    let dir = shared.arg();
    let mut args = load_args(&elf);
    args.extend(["--pin-dir", &dir]);
    xdploader_in(&bed.ns_a, false, &args).success();
    let id = bed.xdp_prog_id(&bed.ns_a, IFACE);

    // Where versions before per-namespace pin dirs kept a namespace's link:
    // /sys/fs/bpf/xdploader/IF (moved there, and back whatever happens).
    struct MovedBack {
        from: std::path::PathBuf,
        to: std::path::PathBuf,
    }
    impl Drop for MovedBack {
        fn drop(&mut self) {
            let _ = std::fs::rename(&self.to, &self.from);
            let _ = std::fs::remove_dir(self.to.parent().unwrap());
            let _ = std::fs::remove_dir(self.to.parent().unwrap().parent().unwrap());
        }
    }
    let from = shared.path().join("xdploader").join(IFACE).join("link");
    let to = Path::new("/sys/fs/bpf/xdploader").join(IFACE).join("link");
    assert!(!to.exists(), "{} exists already", to.display());
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::rename(&from, &to).unwrap();
    let moved = MovedBack { from, to };

    let out = xdploader_in(&bed.ns_a, false, &load_args(&elf));
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr.contains(
            "ux0 runs a load that an earlier xdploader pinned under /sys/fs/bpf/xdploader/ux0/link"
        ) && out
            .stderr
            .contains("run `xdploader unload -i ux0 --pin-dir /sys/fs/bpf` once, then load again"),
        "{}",
        out.stderr
    );
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, IFACE), id);
    assert!(!own.path().exists(), "the refused load left its pin dir");
    drop(moved);
    xdploader_in(
        &bed.ns_a,
        false,
        &["unload", "-i", IFACE, "--pin-dir", &dir],
    )
    .success();
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn apply_with_two_namespaces_of_the_same_interface_name_keeps_them_apart() {
    if !testkit::kernel() {
        return;
    }
    let elf = kern_object("xdp.elf");
    let (a, b) = two_beds();
    let (pins_a, pins_b) = (HostPinDir::of_netns(&a.ns_a), HostPinDir::of_netns(&b.ns_a));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    // Made empty and applied again on the way out, whatever happens: what
    // the config made goes.
    struct Emptied(std::path::PathBuf);
    impl Drop for Emptied {
        fn drop(&mut self) {
            let _ = std::fs::write(&self.0, "");
            let _ = run(
                None,
                bin("xdploader"),
                &["apply", "-c", self.0.to_str().unwrap()],
            );
        }
    }
    let _emptied = Emptied(config.clone());
    let text: String = [&a.ns_a, &b.ns_a]
        .iter()
        .map(|ns| {
            format!(
                "[[attach]]\nfile = {:?}\ninterfaces = [\"{IFACE}\"]\nnetns = {ns:?}\n",
                elf.display().to_string()
            )
        })
        .collect();
    std::fs::write(&config, text).unwrap();
    let apply = || {
        run(
            None,
            bin("xdploader"),
            &["apply", "-c", config.to_str().unwrap()],
        )
    };
    apply().success();
    let ids = (a.xdp_prog_id(&a.ns_a, IFACE), b.xdp_prog_id(&b.ns_a, IFACE));
    assert!(
        ids.0.is_some() && ids.1.is_some() && ids.0 != ids.1,
        "{ids:?}"
    );
    assert_eq!((a.ping_a_from_b(2, 56), b.ping_a_from_b(4, 56)), (2, 4));
    assert_eq!((passed(pins_a.path()), passed(pins_b.path())), (2, 4));
    // Converged: a second apply changes neither.
    apply().success();
    assert_eq!(
        (a.xdp_prog_id(&a.ns_a, IFACE), b.xdp_prog_id(&b.ns_a, IFACE)),
        ids
    );
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn statswatch_i_reads_the_stats_map_of_what_runs_on_that_interface_in_its_namespace() {
    if !testkit::kernel() {
        return;
    }
    let elf = kern_object("xdp.elf");
    let (a, b) = two_beds();
    let (_pins_a, _pins_b) = (HostPinDir::of_netns(&a.ns_a), HostPinDir::of_netns(&b.ns_a));
    for bed in [&a, &b] {
        xdploader_in(&bed.ns_a, false, &load_args(&elf)).success();
    }
    assert_eq!((a.ping_a_from_b(2, 56), b.ping_a_from_b(3, 56)), (2, 3));
    for (bed, pings) in [(&a, 2), (&b, 3)] {
        let stats = run(Some(&bed.ns_a), bin("statswatch"), &["-i", IFACE, "--json"]).json();
        let pass = stats["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == "XDP_PASS")
            .unwrap()["packets"]
            .as_u64();
        assert_eq!(pass, Some(pings), "{stats}");
    }
    // An interface with no program, one that is not there: one line each.
    for (iface, why) in [
        ("lo", "lo runs no XDP program"),
        ("nosuch0", "nosuch0: no such interface"),
    ] {
        let out = run(Some(&a.ns_a), bin("statswatch"), &["-i", iface]);
        assert_eq!(out.code, Some(1));
        assert!(out.stderr.contains(why), "{}", out.stderr);
    }
    // The peer runs the peer fix's xdp_pass, which counts nothing: said so.
    let out = run(Some(&a.ns_b), bin("statswatch"), &["-i", &a.if_b]);
    assert!(
        out.stderr.contains("none of its maps is a stats map"),
        "{}",
        out.stderr
    );
    for bed in [&a, &b] {
        xdploader_in(&bed.ns_a, false, &["unload", "-i", IFACE]).success();
    }
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_load_in_an_unnamed_namespace_pins_under_its_cookie_and_outlives_nothing() {
    if !testkit::kernel() {
        return;
    }
    use std::io::{BufRead as _, Write as _};
    let elf = kern_object("xdp.elf");
    let before = unnamed_dirs();
    // A container's namespace: no name in /run/netns, alive while the
    // process holding it is (until its stdin closes).
    let script = format!(
        "ip link add {IFACE} type veth peer name {IFACE}p && ip link set {IFACE} up && \
         ip link set {IFACE}p up && {} -file {} -i {IFACE} >/dev/null && echo ready && read _",
        bin("xdploader").display(),
        elf.display()
    );
    let mut holder = std::process::Command::new("unshare")
        .args(["--net", "--", "sh", "-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // Removed whatever happens: the directory the load made.
    struct Removed(Vec<std::path::PathBuf>);
    impl Drop for Removed {
        fn drop(&mut self) {
            for dir in &self.0 {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
    let made: Vec<_> = unnamed_dirs()
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    let _removed = Removed(made.clone());
    assert_eq!(line.trim(), "ready");
    assert_eq!(made.len(), 1, "{made:?}");
    let dir = &made[0];
    assert!(dir.join("xdploader").join(IFACE).join("link").exists());
    assert!(dir.join("stats_map").exists());

    let status = run(None, bin("xdploader"), &["status"]);
    assert!(
        status.success().contains("run programs of ours")
            && status.stdout.contains(&dir.display().to_string()),
        "{}",
        status.stdout
    );
    // The namespace goes with its last process: its program with it; the
    // pins stay, named, until unload --all.
    holder.stdin.take().unwrap().write_all(b"\n").unwrap();
    holder.wait().unwrap();
    let gone = format!("{}: {IFACE} gone with its network namespace", dir.display());
    let start = std::time::Instant::now();
    while !run(None, bin("xdploader"), &["status"])
        .success()
        .contains(&gone)
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "never said gone"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let dir_arg = dir.display().to_string();
    run(
        None,
        bin("xdploader"),
        &["unload", "--all", "--pin-dir", &dir_arg],
    )
    .success();
    assert!(!dir.join("xdploader").join(IFACE).exists());
}

/// /sys/fs/bpf/netns-cookie-* (netns-ino-* before 5.14) now.
fn unnamed_dirs() -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/sys/fs/bpf")
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("netns-cookie-") || name.starts_with("netns-ino-")
        })
        .map(|e| e.path())
        .collect()
}
