//! `xdploader capture`: recorders in a running chain's slots and on its
//! link show every stage's view of each frame and the chain's verdict; the
//! real programs are back, by id, however the capture ends.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use testkit::{bin, kern_object, run, wait_exit, Bpffs, Testbed};

/// The 3-stage fixture, its entry and slots named.
const CHAIN_ARGS: [&str; 8] = [
    "--prog",
    "cap_entry",
    "--tail",
    "stages:0=cap_parse",
    "--tail",
    "stages:1=cap_rewrite",
    "--tail",
    "stages:2=cap_judge",
];

fn capture_dir(pins: &Bpffs, iface: &str) -> PathBuf {
    pins.path().join("xdploader").join(iface).join("capture")
}

/// `xdploader capture -i <if_a> ARGS` in namespace a, in the background;
/// its output is read when it ends (a capture blocks when its pipe is full,
/// as tcpdump does: give --count, -w or --json with few frames).
fn spawn_capture(bed: &Testbed, pins: &Bpffs, args: &[&str]) -> Child {
    Command::new("ip")
        .args(["netns", "exec", &bed.ns_a])
        .arg(bin("xdploader"))
        .args(["capture", "-i", &bed.if_a, "--pin-dir", &pins.arg()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn xdploader capture")
}

/// Until the link runs the entry recorder: every recorder is in (the
/// stages' go in first).
fn wait_ready(bed: &Testbed, pins: &Bpffs, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = bed
            .xdploader(pins, &["status", "-i", &bed.if_a, "--json"])
            .json();
        let running = status["interfaces"][0]["prog_name"].as_str().unwrap_or("");
        if running.starts_with("xdpcap_entry") {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "capture exited early: {status}: {:?}",
                child.stderr.take().map(std::io::read_to_string)
            );
        }
        assert!(Instant::now() < deadline, "capture not ready in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The entry's program id and every slot of its prog arrays, by id.
fn chain_ids(bed: &Testbed, pins: &Bpffs) -> (u64, Vec<(String, u64, u64)>) {
    let status = bed
        .xdploader(pins, &["status", "-i", &bed.if_a, "--json"])
        .json();
    let iface = &status["interfaces"][0];
    let slots = iface["jump_tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| {
            t["slots"].as_array().unwrap().iter().map(|s| {
                (
                    t["map"].as_str().unwrap().to_owned(),
                    s["slot"].as_u64().unwrap(),
                    s["prog_id"].as_u64().unwrap(),
                )
            })
        })
        .collect();
    (iface["prog_id"].as_u64().unwrap(), slots)
}

/// No program of ours (a recorder) is loaded for this chain any more.
fn assert_no_recorder(bed: &Testbed, pins: &Bpffs) {
    let status = bed
        .xdploader(pins, &["status", "-i", &bed.if_a, "--json"])
        .json();
    assert!(
        !status.to_string().contains("xdpcap_"),
        "a recorder is left: {status:#}"
    );
    assert!(!capture_dir(pins, &bed.if_a).exists());
}

fn tshark_fields(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec![
        "-r",
        file.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "separator=|",
    ];
    for f in fields {
        args.extend(["-e", f]);
    }
    let out = run(None, "tshark", &args);
    out.success()
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn every_stage_of_a_three_stage_chain_is_in_the_pcapng_with_the_verdict_and_who_decided() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    bed.load(&pins, &kern_object("tests/capture_chain.elf"), &CHAIN_ARGS)
        .success();
    let before = chain_ids(&bed, &pins);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chain.pcapng");
    let mut capture = spawn_capture(&bed, &pins, &["-w", file.to_str().unwrap(), "--count", "4"]);
    wait_ready(&bed, &pins, &mut capture);
    // Sequence 1..4: the judge drops the odd ones.
    assert_eq!(bed.ping_a_from_b(4, 56), 2);
    let out = wait_exit(capture, "capture");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("4 frame(s) shown") && stderr.contains("0 record(s) lost"),
        "{stderr}"
    );

    let rows = tshark_fields(
        &file,
        &[
            "frame.interface_name",
            "eth.src",
            "icmp.seq",
            "frame.comment",
        ],
    );
    let stages = [
        format!("{} entry", bed.if_a),
        format!("{} stages[0] cap_parse", bed.if_a),
        format!("{} stages[1] cap_rewrite", bed.if_a),
        format!("{} stages[2] cap_judge", bed.if_a),
        format!("{} verdict", bed.if_a),
    ];
    assert_eq!(rows.len(), 4 * stages.len(), "{rows:#?}");
    for (n, frame) in rows.chunks(stages.len()).enumerate() {
        let seq = n + 1;
        let verdict = if seq % 2 == 1 { "XDP_DROP" } else { "XDP_PASS" };
        for (i, row) in frame.iter().enumerate() {
            assert_eq!(row[0], stages[i], "{frame:#?}");
            assert_eq!(row[2], seq.to_string(), "{frame:#?}");
            // The rewrite is seen by the stage after it, not before.
            let rewritten = row[1] == "02:00:00:00:00:2b";
            assert_eq!(rewritten, i >= 3, "stage {i}: {frame:#?}");
            assert!(
                row[3].ends_with(&format!("verdict {verdict} by stages[2] cap_judge")),
                "{frame:#?}"
            );
        }
    }
    assert_eq!(chain_ids(&bed, &pins), before);
    assert_no_recorder(&bed, &pins);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_declarative_chain_with_two_prog_arrays_is_followed_into_both_as_json() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    bed.load(&pins, &kern_object("tests/declarative.elf"), &[])
        .success();
    let mut capture = spawn_capture(&bed, &pins, &["--json", "--count", "2"]);
    wait_ready(&bed, &pins, &mut capture);
    assert_eq!(bed.ping_a_from_b(2, 56), 2);
    let out = wait_exit(capture, "capture");
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "2 frames and the totals: {lines:#?}");
    for frame in &lines[..2] {
        let labels: Vec<&str> = frame["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["label"].as_str().unwrap())
            .collect();
        // classify's slot comes from .data: every filled slot of `stages`
        // is a stage; stage_a's call is constant: more[0], not more[1].
        assert_eq!(
            labels,
            [
                "entry classify",
                "stages[3] stage_a",
                "more[0] stage_b",
                "verdict"
            ],
            "{frame:#}"
        );
        assert_eq!(frame["verdict"], "XDP_PASS");
        assert_eq!(frame["decided_by"], "more[0] stage_b");
    }
    assert_eq!(lines[2]["summary"]["lost"], 0);
    assert_no_recorder(&bed, &pins);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn captures_started_and_stopped_during_a_ping_flood_lose_no_frame_and_put_every_slot_back() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    bed.load(&pins, &kern_object("xdp.elf"), &[]).success();
    let before = chain_ids(&bed, &pins);
    // 500 a second until the captures below are done (the ping itself
    // ends it at 10 minutes if the test dies before it does).
    let flood = Command::new("ip")
        .args([
            "netns", "exec", &bed.ns_b, "ping", "-q", "-i", "0.002", "-w", "600", bed.addr_a,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut shown = 0;
    for _ in 0..3 {
        // Not waited for: on a slow guest the capture may be over before
        // a status would see it; what it did, it says.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flood.pcapng");
        let capture = spawn_capture(
            &bed,
            &pins,
            &[
                "--duration",
                "0.5",
                "--snaplen",
                "64",
                "-w",
                file.to_str().unwrap(),
            ],
        );
        let out = wait_exit(capture, "capture");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.contains("xdp_skeleton back on the link"),
            "{stderr}"
        );
        shown += stderr
            .split_once(" frame(s) shown")
            .and_then(|(head, _)| head.rsplit('\n').next()?.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{stderr}"));
    }
    std::thread::sleep(Duration::from_millis(500));
    // SIGINT: ping prints its totals and stops.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(flood.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let flood = flood.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&flood.stdout);
    let number_before = |what: &str| -> u64 {
        summary
            .split_once(what)
            .and_then(|(head, _)| head.rsplit([' ', '\n']).next()?.parse().ok())
            .unwrap_or_else(|| panic!("no '{what}' in {summary}"))
    };
    let (sent, received) = (
        number_before(" packets transmitted"),
        number_before(" received"),
    );
    assert!(shown > 0, "the captures saw none of the flood");
    // The one in flight when ping was stopped may be unanswered: no other.
    assert!(
        received + 1 >= sent && sent > 100,
        "{sent} sent, {received} answered: {summary}"
    );
    assert_eq!(chain_ids(&bed, &pins), before);
    assert_no_recorder(&bed, &pins);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_killed_capture_keeps_the_chain_working_and_the_next_command_puts_the_programs_back() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    bed.load(&pins, &kern_object("tests/capture_chain.elf"), &CHAIN_ARGS)
        .success();
    let before = chain_ids(&bed, &pins);
    for next in ["status", "load", "unload"] {
        let mut capture = spawn_capture(&bed, &pins, &["--duration", "60"]);
        wait_ready(&bed, &pins, &mut capture);
        capture.kill().unwrap();
        capture.wait().unwrap();
        // The recorders' targets are pinned: the chain still judges.
        assert_eq!(bed.ping_a_from_b(2, 56), 1);
        let out = match next {
            "load" => bed.load(&pins, &kern_object("tests/capture_chain.elf"), &CHAIN_ARGS),
            other => bed.xdploader(&pins, &[other, "-i", &bed.if_a]),
        };
        let stdout = out.success();
        assert!(
            stdout.contains("back on the link (the capture that put recorders there is gone)"),
            "{next}: {stdout}"
        );
        if next == "unload" {
            assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
            assert!(pins.pins().is_empty(), "{:?}", pins.pins());
        } else {
            assert_no_recorder(&bed, &pins);
            if next == "status" {
                assert_eq!(chain_ids(&bed, &pins), before);
            }
            assert_eq!(bed.ping_a_from_b(2, 56), 1);
        }
    }
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_reload_or_unload_during_a_capture_ends_it_and_leaves_no_recorder() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let object = kern_object("tests/capture_chain.elf");
    bed.load(&pins, &object, &CHAIN_ARGS).success();
    let mut capture = spawn_capture(&bed, &pins, &["--duration", "60"]);
    wait_ready(&bed, &pins, &mut capture);
    bed.load(&pins, &object, &CHAIN_ARGS).success();
    let out = wait_exit(capture, "capture");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains("was replaced or detached"),
        "{stderr}"
    );
    assert_no_recorder(&bed, &pins);
    assert_eq!(bed.ping_a_from_b(2, 56), 1);

    let mut capture = spawn_capture(&bed, &pins, &["--duration", "60"]);
    wait_ready(&bed, &pins, &mut capture);
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
    let out = wait_exit(capture, "capture");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
    assert!(pins.pins().is_empty(), "{:?}", pins.pins());
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_chain_too_deep_for_recorders_is_refused_and_nothing_changes() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let tails: Vec<String> = (1..=17).map(|n| format!("deep:{n}=deep_{n}")).collect();
    let mut args = vec!["--prog", "deep_entry"];
    for t in &tails {
        args.extend(["--tail", t.as_str()]);
    }
    bed.load(&pins, &kern_object("tests/capture_deep.elf"), &args)
        .success();
    let before = chain_ids(&bed, &pins);
    let out = bed.xdploader(&pins, &["capture", "-i", &bed.if_a, "--count", "1"]);
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr
            .contains("a frame can make 17 tail calls through this chain; with recorders it would make 35, over the kernel's 33"),
        "{}",
        out.stderr
    );
    assert_eq!(chain_ids(&bed, &pins), before);
    assert_no_recorder(&bed, &pins);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn statswatch_stages_counts_each_stage_and_who_decided_then_takes_its_recorders_out() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    bed.load(&pins, &kern_object("tests/capture_chain.elf"), &CHAIN_ARGS)
        .success();
    let before = chain_ids(&bed, &pins);
    let mut watch = Command::new("ip")
        .args(["netns", "exec", &bed.ns_a])
        .arg(bin("statswatch"))
        .args([
            "--stages",
            "-i",
            &bed.if_a,
            "--interval",
            "4",
            "--count",
            "1",
            "--json",
        ])
        .args(["--pin-dir", &pins.arg()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&bed, &pins, &mut watch);
    assert_eq!(bed.ping_a_from_b(6, 56), 3);
    let out = wait_exit(watch, "statswatch --stages");
    assert!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["frames"], 6, "{report:#}");
    let rows = report["stages"].as_array().unwrap();
    let labels: Vec<&str> = rows.iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["entry", "stages[0]", "stages[1]", "stages[2]"]);
    for row in rows {
        assert_eq!(row["frames"], 6, "{row:#}");
        assert!(row["ns_p50"].as_u64().unwrap() > 0, "{row:#}");
    }
    assert_eq!(rows[3]["program"], "cap_judge");
    assert_eq!(rows[3]["decided"]["XDP_DROP"], 3);
    assert_eq!(rows[3]["decided"]["XDP_PASS"], 3);
    assert_eq!(rows[3]["decided_share"], 1.0);
    assert_eq!(chain_ids(&bed, &pins), before);
    assert_no_recorder(&bed, &pins);
}

/// GET /metrics from `addr`, in namespace `ns` (where the exporter listens).
fn scrape_in(ns: &str, addr: &str) -> String {
    use std::io::{Read as _, Write as _};
    let addr = addr.to_owned();
    testkit::in_netns(ns, move || {
        let mut http = std::net::TcpStream::connect(&addr).unwrap();
        write!(http, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut reply = String::new();
        http.read_to_string(&mut reply).unwrap();
        reply
    })
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn statswatch_stages_serves_prometheus_counters_labelled_by_stage_and_program() {
    use std::io::BufRead as _;
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    bed.load(&pins, &kern_object("tests/capture_chain.elf"), &CHAIN_ARGS)
        .success();
    let before = chain_ids(&bed, &pins);
    let mut watch = Command::new("ip")
        .args(["netns", "exec", &bed.ns_a])
        .arg(bin("statswatch"))
        .args(["--stages", "-i", &bed.if_a, "--interval", "0.5"])
        .args(["--prometheus", "127.0.0.1:0", "--pin-dir", &pins.arg()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(watch.stderr.take().unwrap());
    let addr = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "statswatch ended without serving"
        );
        if let Some(rest) = line.trim().strip_prefix("statswatch: serving http://") {
            break rest.trim_end_matches("/metrics").to_owned();
        }
    };
    wait_ready(&bed, &pins, &mut watch);
    assert_eq!(bed.ping_a_from_b(6, 56), 3);

    let judge = format!(
        "interface=\"{}\",stage=\"stages[2]\",program=\"cap_judge\"",
        bed.if_a
    );
    let counted = format!("xdp_stage_frames_total{{{judge}}} 6");
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let metrics = scrape_in(&bed.ns_a, &addr);
        if metrics.contains(&counted) {
            break metrics;
        }
        assert!(
            Instant::now() < deadline,
            "{counted} never served:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for line in [
        "# TYPE xdp_stage_frames_total counter".to_owned(),
        format!(
            "xdp_stage_frames_total{{interface=\"{}\",stage=\"entry\",program=\"cap_entry\"}} 6",
            bed.if_a
        ),
        format!("xdp_stage_decided_total{{{judge},action=\"XDP_DROP\"}} 3"),
        format!("xdp_stage_decided_total{{{judge},action=\"XDP_PASS\"}} 3"),
        format!(
            "xdp_stage_chain_frames_total{{interface=\"{}\"}} 6",
            bed.if_a
        ),
        format!(
            "xdp_stage_records_lost_total{{interface=\"{}\"}} 0",
            bed.if_a
        ),
    ] {
        assert!(metrics.contains(&line), "{line} missing in\n{metrics}");
    }
    assert!(
        metrics.contains(&format!("xdp_stage_ns{{{judge},quantile=\"0.99\"}}")),
        "{metrics}"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(watch.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = wait_exit(watch, "statswatch --stages --prometheus");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(chain_ids(&bed, &pins), before);
    assert_no_recorder(&bed, &pins);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn bench_capture_times_the_chain_with_recorders_against_the_chain_without() {
    if !testkit::kernel() {
        return;
    }
    let object = kern_object("tests/capture_chain.elf");
    let mut args = vec!["bench", "-file", object.to_str().unwrap()];
    args.extend(CHAIN_ARGS);
    args.extend([
        "--capture",
        "--frames",
        "ipv4-udp",
        "--sizes",
        "64",
        "--batches",
        "20",
        "--json",
    ]);
    let report = run(None, bin("xdploader"), &args).json();
    assert_eq!(report["capture"]["stages"], 3, "{report:#}");
    assert_eq!(report["capture"]["records_per_frame"], 5, "{report:#}");
    let result = &report["results"][0];
    // Not an echo request: the judge passes it, and so does the chain with recorders.
    assert_eq!(result["verdict"], "XDP_PASS", "{report:#}");
    let (with, without) = (
        result["program_ns"]["p50"].as_f64().unwrap(),
        result["floor_ns"]["p50"].as_f64().unwrap(),
    );
    // How much more is the bench's to say (bench/results.md), not a test's.
    assert!(with > 0.0 && without > 0.0, "{report:#}");
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn status_stages_samples_one_second_of_the_chain_and_leaves_it_as_it_was() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    bed.load(&pins, &kern_object("tests/capture_chain.elf"), &CHAIN_ARGS)
        .success();
    let before = chain_ids(&bed, &pins);
    // Pings all through the sample, whenever its second starts.
    let mut pinger = Command::new("ip")
        .args([
            "netns", "exec", &bed.ns_b, "ping", "-q", "-i", "0.05", "-w", "600", bed.addr_a,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = bed.xdploader(&pins, &["status", "-i", &bed.if_a, "--stages", "--json"]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pinger.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    pinger.wait().unwrap();
    let doc = out.json();
    assert_eq!(doc["interfaces"][0]["prog_name"], "cap_entry", "{doc:#}");
    let rows = doc["stages"]["stages"].as_array().unwrap();
    let labels: Vec<&str> = rows.iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        ["entry", "stages[0]", "stages[1]", "stages[2]"],
        "{doc:#}"
    );
    assert!(doc["stages"]["frames"].as_u64().unwrap() > 0, "{doc:#}");
    assert_eq!(chain_ids(&bed, &pins), before);
    assert_no_recorder(&bed, &pins);
}
