//! `xdploader bench`: a tiny run of each benchmark (a few batches, no
//! timing asserted): the verdicts say the right path was timed, the numbers
//! are there, and nothing outlives the process.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use testkit::{bin, kern_object, run};

fn bench(file: &str, extra: &[&str]) -> Value {
    let file = kern_object(file).display().to_string();
    let mut args = vec![
        "bench",
        "-file",
        file.as_str(),
        "--batches",
        "3",
        "--repeat",
        "10",
        "--json",
    ];
    args.extend_from_slice(extra);
    run(None, bin("xdploader"), &args).json()
}

/// (frame, bytes) -> verdict.
fn verdicts(report: &Value) -> Vec<(String, u64, String)> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["frame"].as_str().unwrap().to_owned(),
                r["bytes"].as_u64().unwrap(),
                r["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn loaded_program_ids() -> Vec<u64> {
    let out = run(None, "bpftool", &["-j", "prog", "show"]);
    let v: Value = serde_json::from_str(out.success()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "xdp")
        .map(|p| p["id"].as_u64().unwrap())
        .collect()
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn the_skeleton_passes_every_frame_kind_and_size_against_the_floor() {
    if !testkit::kernel() {
        return;
    }
    let report = bench("xdp.elf", &[]);
    assert_eq!(report["entry"], "xdp_skeleton");
    let seen = verdicts(&report);
    for (frame, bytes, verdict) in &seen {
        assert_eq!(verdict, "XDP_PASS", "{frame} {bytes}");
    }
    if testkit::has_xdp_frags() {
        // Six kinds, four sizes (9000 through the frags path: the skeleton is xdp.frags).
        assert_eq!(seen.len(), 24, "{report:#}");
        assert!(seen.iter().any(|(f, b, _)| f == "vlan-udp" && *b == 9000));
    } else {
        // Before 5.18 it is loaded as plain XDP: 9000 bytes is said, not run.
        assert_eq!(seen.len(), 18, "{report:#}");
        let skipped = report["skipped"][0].as_str().unwrap();
        assert!(skipped.contains("need xdp.frags"), "{skipped}");
    }
    for r in report["results"].as_array().unwrap() {
        let p50 = r["program_ns"]["p50"].as_f64().unwrap();
        assert!(
            p50 > 0.0 && r["floor_ns"]["p50"].as_f64().unwrap() > 0.0,
            "{r}"
        );
        assert!(r["program_ns"]["max"].as_f64().unwrap() >= p50, "{r}");
        assert!(r["mpps"].as_f64().unwrap() > 0.0, "{r}");
    }
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn echo_is_timed_on_its_reply_path_and_a_plain_xdp_program_skips_jumbo_frames() {
    if !testkit::kernel() {
        return;
    }
    let before = loaded_program_ids();
    let report = bench(
        "echo.elf",
        &["--frames", "ipv4-icmp,arp", "--sizes", "64,1500"],
    );
    let seen = verdicts(&report);
    assert!(
        seen.contains(&("ipv4-icmp".to_owned(), 64, "XDP_TX".to_owned())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("arp".to_owned(), 64, "XDP_PASS".to_owned())),
        "{seen:?}"
    );
    // A plain `xdp` program cannot take frames past a page: said, not run.
    let plain = bench(
        "tests/pass_nofrags.elf",
        &["--frames", "ipv4-udp", "--sizes", "64,9000"],
    );
    assert_eq!(verdicts(&plain).len(), 1, "{plain:#}");
    let skipped = plain["skipped"][0].as_str().unwrap();
    assert!(skipped.contains("need xdp.frags"), "{skipped}");
    // Nothing of a benchmark outlives it: no program, no pin.
    let after = loaded_program_ids();
    let leaked: Vec<_> = after.iter().filter(|id| !before.contains(id)).collect();
    // Other tests load programs meanwhile: ours would be named so.
    for id in leaked {
        let show = run(
            None,
            "bpftool",
            &["-j", "prog", "show", "id", &id.to_string()],
        );
        let name = serde_json::from_str::<Value>(&show.stdout).map(|v| v["name"].clone());
        assert!(
            !matches!(
                name.as_ref().ok().and_then(Value::as_str),
                Some("xdp_echo" | "xdp_pass_nofrags")
            ),
            "bench left program {id} loaded"
        );
    }
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_pcap_file_is_run_frame_by_frame() {
    if !testkit::kernel() {
        return;
    }
    // A pcap of two frames, written here: classic header + two records.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.pcap");
    let mut pcap = Vec::new();
    for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        pcap.extend_from_slice(&word.to_le_bytes());
    }
    let arp = {
        // Ethernet broadcast ARP request, 42 bytes.
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0x52, 0x54, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&[
            0x52, 0x54, 0, 0, 0, 1, 10, 2, 2, 2, 0, 0, 0, 0, 0, 0, 10, 2, 2, 1,
        ]);
        f
    };
    for _ in 0..2 {
        for word in [0u32, 0, arp.len() as u32, arp.len() as u32] {
            pcap.extend_from_slice(&word.to_le_bytes());
        }
        pcap.extend_from_slice(&arp);
    }
    std::fs::write(&path, pcap).unwrap();
    let report = bench("xdp.elf", &["--pcap", path.to_str().unwrap()]);
    let seen = verdicts(&report);
    assert_eq!(
        seen,
        [
            ("pcap#1".to_owned(), 42, "XDP_PASS".to_owned()),
            ("pcap#2".to_owned(), 42, "XDP_PASS".to_owned())
        ]
    );
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_router_with_interfaces_is_timed_on_its_fib_hit_with_as_many_runs_as_keep_it() {
    if !testkit::kernel() {
        return;
    }
    // In a: 10.2.2.1 (the built-in frames' destination) routed out of if_a
    // to b, whose MAC a knows; forwarding on, so the FIB lookup succeeds.
    let bed = testkit::Testbed::new();
    testkit::sh(&[
        "ip",
        "-n",
        &bed.ns_a,
        "route",
        "add",
        "10.2.2.1/32",
        "via",
        bed.addr_b,
        "dev",
        &bed.if_a,
    ]);
    testkit::sh(&[
        "ip",
        "netns",
        "exec",
        &bed.ns_a,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    let file = kern_object("redirect.elf").display().to_string();
    let args = [
        "bench",
        "-file",
        &file,
        "-i",
        &bed.if_a,
        "--frames",
        "ipv4-udp",
        "--sizes",
        "64",
        "--batches",
        "3",
        "--repeat",
        "300",
        "--json",
    ];
    let report = run(Some(&bed.ns_a), bin("xdploader"), &args).json();
    assert_eq!(report["ingress"], bed.if_a.as_str(), "{report:#}");
    let result = &report["results"][0];
    assert_eq!(result["verdict"], "XDP_REDIRECT", "{report:#}");
    // Each run decrements the TTL of the one buffer (255): 300 runs would
    // end on the stack's path, 150 do not.
    assert_eq!(result["repeat"], 150, "{report:#}");
    assert!(
        result["note"].as_str().unwrap().contains("rewrites"),
        "{report:#}"
    );

    // Routed out of an interface not in the devmap (not given with -i): the
    // stack gets the frame as it came, so it is not rewritten either.
    for args in [
        &["link", "add", "d0", "type", "veth", "peer", "name", "d0p"][..],
        &["link", "set", "d0", "up"],
        &["addr", "add", "10.9.9.1/24", "dev", "d0"],
        &[
            "neigh",
            "add",
            "10.9.9.2",
            "lladdr",
            "52:54:00:00:09:02",
            "dev",
            "d0",
            "nud",
            "permanent",
        ],
        &[
            "route",
            "replace",
            "10.2.2.1/32",
            "via",
            "10.9.9.2",
            "dev",
            "d0",
        ],
    ] {
        testkit::sh(&[&["ip", "-n", &bed.ns_a][..], args].concat());
    }
    let report = run(Some(&bed.ns_a), bin("xdploader"), &args).json();
    let result = &report["results"][0];
    assert_eq!(result["verdict"], "XDP_PASS", "{report:#}");
    assert_eq!(result["repeat"], 300, "{report:#}");
    assert!(result.get("note").is_none(), "{report:#}");
}

/// `object` loaded on a of a fresh testbed in native mode (a veth delivers
/// what is sent into it only to a peer with XDP), trafficgen run from b with
/// `args` for half a second: (frames sent, what a's `action` row counted:
/// packets, bytes).
fn send_to_a(object: &str, action: &str, args: &[&str]) -> (u64, u64, u64) {
    let bed = testkit::Testbed::new();
    let pins = testkit::Bpffs::new();
    bed.load(&pins, &kern_object(object), &["--mode", "native"])
        .success();
    let stats = pins.path().join("stats_map");
    let before = testkit::counters(&stats, action);
    let mac_a = bed.mac(&bed.if_a, &bed.ns_a);
    let mut argv = vec![
        "trafficgen",
        "-i",
        &bed.if_b,
        "--dst",
        bed.addr_a,
        "--dst-mac",
        &mac_a,
        "--duration",
        "0.5",
        "--json",
    ];
    argv.extend_from_slice(args);
    let sent = run(Some(&bed.ns_b), bin("xdploader"), &argv).json();
    let frames = sent["frames"].as_u64().unwrap();
    assert!(frames > 0 && sent["mpps"].as_f64().unwrap() > 0.0, "{sent}");
    let after = testkit::counters(&stats, action);
    (frames, after.0 - before.0, after.1 - before.1)
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn trafficgen_sends_live_frames_that_the_peer_counts() {
    if !testkit::kernel() {
        return;
    }
    let (frames, received, bytes) = send_to_a("bench_drop.elf", "XDP_DROP", &["--size", "128"]);
    // A veth ring may overflow under load: most arrive, none is invented.
    assert!(
        received <= frames && received * 2 > frames,
        "sent {frames}, counted {received}"
    );
    assert_eq!(bytes, received * 128, "frames of 128 bytes: {bytes}");
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn trafficgen_icmp_requests_are_all_answered_by_echo_though_the_kernel_recycles_frames() {
    if !testkit::kernel() {
        return;
    }
    let (frames, answered, _) = send_to_a("echo.elf", "XDP_TX", &["--icmp"]);
    // A sent frame's page comes back to the generator with the echo's reply
    // in it; unless the generator puts its headers back, only the first
    // pool's worth (~512) would be requests.
    assert!(
        answered <= frames && answered * 2 > frames && frames > 4096,
        "sent {frames}, answered {answered}"
    );
}
