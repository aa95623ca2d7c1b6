//! `statswatch --errors` against an error made for real: kern/echo.elf
//! answers pings with XDP_TX in native mode on a veth whose peer has no XDP
//! program, so the kernel drops every reply with ENXIO in xdp:xdp_bulk_tx.
//! And a stats map wider than the five XDP actions, made with bpftool.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpStream,
    process::{Command, Stdio},
};

use serde_json::Value;
use testkit::{bin, kern_object, run, sh, Bpffs, Testbed};

/// Tracepoint programs named like kern/xdp_errors.c's, loaded now.
fn error_tracers_loaded() -> usize {
    let progs = run(None, "bpftool", &["-j", "prog", "show"]).json();
    progs
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "tracepoint" && p["name"] == "xdp_bulk_tx")
        .count()
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn errors_name_the_enxio_of_xdp_tx_towards_a_peer_without_xdp() {
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
    let stats = pins.path().join("stats_map");
    let mut child = Command::new(bin("statswatch"))
        .args([
            "--errors",
            "--json",
            "--interval",
            "0.3",
            "--count",
            "8",
            "--prometheus",
            "127.0.0.1:0",
            "-file",
            stats.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first line says the tracepoints are attached; the second, where
    // /metrics is served. Only then is it worth making errors.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut attached = String::new();
    stderr.read_line(&mut attached).unwrap();
    assert!(
        attached.contains("counting XDP errors on xdp:xdp_exception")
            && attached.contains("xdp:xdp_bulk_tx"),
        "{attached}"
    );
    let mut serving = String::new();
    stderr.read_line(&mut serving).unwrap();
    let addr = serving
        .trim()
        .strip_prefix("statswatch: serving http://")
        .and_then(|l| l.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no address in {serving:?}"))
        .to_owned();

    // echo.elf answers all three with XDP_TX; the peer (no XDP) loses them.
    assert_eq!(bed.ping_a_from_b(3, 56), 0, "replies got through");

    let mut http = TcpStream::connect(&addr).unwrap();
    write!(http, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut metrics = String::new();
    http.read_to_string(&mut metrics).unwrap();

    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = &lines[lines.len() - 2];
    let tx = last["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "XDP_TX")
        .unwrap();
    assert_eq!(tx["packets"], 3, "echo.elf sent 3 replies: {last}");

    let errors = last["errors"].as_array().unwrap();
    let enxio: Vec<&Value> = errors
        .iter()
        .filter(|e| e["tracepoint"] == "xdp_bulk_tx" && e["errno"] == "ENXIO")
        .collect();
    assert_eq!(enxio.len(), 1, "{errors:?}");
    let enxio = enxio[0];
    assert_eq!(enxio["action"], "XDP_TX");
    assert_eq!(enxio["err"], -6);
    // Named from xdploader's link pin, though it lives in another namespace.
    assert_eq!(enxio["ifname"], bed.if_a.as_str(), "{enxio}");
    assert_eq!(enxio["drops"], 3, "{enxio}");
    let events = enxio["events"].as_u64().unwrap();
    assert!((1..=3).contains(&events), "{enxio}");
    // The intervals' shares add up to the total.
    let new_drops: u64 = lines
        .iter()
        .filter_map(|l| l["errors"].as_array())
        .flatten()
        .filter(|e| e["tracepoint"] == "xdp_bulk_tx")
        .map(|e| e["new_drops"].as_u64().unwrap())
        .sum();
    assert_eq!(new_drops, 3);
    // The exit summary carries the totals.
    let summary = &lines[lines.len() - 1]["summary"];
    assert_eq!(summary["errors"][0]["errno"], "ENXIO", "{summary}");

    assert!(metrics.starts_with("HTTP/1.0 200"), "{metrics}");
    let drops = format!(
        "xdp_error_drops_total{{tracepoint=\"xdp_bulk_tx\",ifindex=\"{}\",ifname=\"{}\",to_ifindex=\"0\",action=\"XDP_TX\",errno=\"ENXIO\"}} 3\n",
        enxio["ifindex"], bed.if_a
    );
    assert!(metrics.contains(&drops), "{drops} not in {metrics}");

    // Nothing stays attached once statswatch has exited.
    assert_eq!(error_tracers_loaded(), 0);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_wide_stats_map_labels_rows_past_the_actions_by_index() {
    if !testkit::kernel() {
        return;
    }
    let pins = Bpffs::new();
    let wide = pins.path().join("wide");
    let wide = wide.to_str().unwrap();
    sh(&[
        "bpftool",
        "map",
        "create",
        wide,
        "type",
        "percpu_array",
        "key",
        "4",
        "value",
        "16",
        "entries",
        "8",
        "name",
        "wide",
    ]);
    // bpftool writes the one value given to every possible CPU.
    let mut update = vec![
        "bpftool", "map", "update", "pinned", wide, "key", "6", "0", "0", "0",
    ];
    update.push("value");
    update.extend(["3", "0", "0", "0", "0", "0", "0", "0"]);
    update.extend(["200", "0", "0", "0", "0", "0", "0", "0"]);
    sh(&update);
    let cpus = run(
        None,
        bin("statswatch"),
        &["--json", "--per-cpu", "-file", wide],
    )
    .json()["actions"][6]["per_cpu"]
        .as_array()
        .unwrap()
        .len() as u64;
    let v = run(None, bin("statswatch"), &["--json", "-file", wide]).json();
    let rows = v["actions"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    let labels: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        [
            "XDP_ABORTED",
            "XDP_DROP",
            "XDP_PASS",
            "XDP_TX",
            "XDP_REDIRECT",
            "index 5",
            "index 6",
            "index 7"
        ]
    );
    assert_eq!(rows[6]["packets"], 3 * cpus);
    assert_eq!(rows[6]["bytes"], 200 * cpus);
    let text = run(None, bin("statswatch"), &["-file", wide]);
    assert!(
        text.success()
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [
                    "index",
                    "6",
                    &(3 * cpus).to_string(),
                    &(200 * cpus).to_string()
                ]),
        "{}",
        text.stdout
    );
    // Watching works past five rows too.
    let watch = run(
        None,
        bin("statswatch"),
        &[
            "--json",
            "--count",
            "1",
            "--interval",
            "0.05",
            "-file",
            wide,
        ],
    );
    let first: Value = serde_json::from_str(watch.success().lines().next().unwrap()).unwrap();
    assert_eq!(first["actions"].as_array().unwrap().len(), 8);
}
