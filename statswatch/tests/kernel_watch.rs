//! statswatch against a live program: watch mode while pings flow, a reload
//! that pins a new map while it watches, and the Prometheus endpoint scraped
//! over real HTTP.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpStream,
    process::{Command, Stdio},
};

use serde_json::Value;
use testkit::{bin, kern_object, Bpffs, Testbed};

/// Bytes of one ping frame with a 56-byte payload.
const PING_FRAME: u64 = 98;

fn loaded() -> (Testbed, Bpffs) {
    let bed = Testbed::new();
    let pins = Bpffs::new();
    bed.load(&pins, &kern_object("xdp.elf"), &[]).success();
    (bed, pins)
}

fn statswatch(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("statswatch"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn pass_row(interval: &Value) -> Value {
    interval["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "XDP_PASS")
        .unwrap()
        .clone()
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn watch_prints_ndjson_rates_and_an_hdr_summary() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins) = loaded();
    let stats = pins.path().join("stats_map");
    let child = statswatch(&[
        "-file",
        stats.to_str().unwrap(),
        "--interval",
        "0.3",
        "--count",
        "6",
        "--json",
        "--per-cpu",
    ])
    .spawn()
    .unwrap();
    assert_eq!(bed.ping_a_from_b(10, 56), 10);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7, "6 intervals and a summary: {lines:?}");
    let intervals = &lines[..6];
    for (n, i) in intervals.iter().enumerate() {
        assert_eq!(i["interval"], n as u64 + 1);
        assert!(i["timestamp_ms"].as_u64().unwrap() > 1_600_000_000_000);
        // What the clock says passed. Ticks keep to a grid of 0.3 s: one
        // that a loaded machine runs late makes the next one shorter, so
        // one interval may be below 0.3 s; their sum is not (below).
        let seconds = i["seconds"].as_f64().unwrap();
        assert!(seconds > 0.0, "interval of {seconds} s");
        if n > 0 {
            let ms = |i: &Value| i["timestamp_ms"].as_f64().unwrap();
            let passed = (ms(i) - ms(&intervals[n - 1])) / 1000.0;
            assert!(
                (seconds - passed).abs() < 0.05,
                "interval of {seconds} s, timestamps {passed} s apart"
            );
        }
    }
    let total: f64 = intervals
        .iter()
        .map(|i| i["seconds"].as_f64().unwrap())
        .sum();
    assert!(
        total >= 6.0 * 0.3 - 0.01,
        "6 intervals of 0.3 s took {total} s"
    );
    // Rates are the deltas: what was there before the first interval plus
    // Σ pps × seconds is the final total (pings may start before the baseline).
    let last = pass_row(&intervals[5]);
    assert_eq!(last["packets"], 10);
    assert_eq!(last["bytes"], 10 * PING_FRAME);
    let first = pass_row(&intervals[0]);
    let rate_x_time =
        |i: &Value| pass_row(i)["pps"].as_f64().unwrap() * i["seconds"].as_f64().unwrap();
    let baseline = first["packets"].as_f64().unwrap() - rate_x_time(&intervals[0]);
    let counted: f64 = intervals.iter().map(rate_x_time).sum();
    assert!(
        (baseline + counted - 10.0).abs() < 0.01,
        "baseline {baseline} + rates {counted} != 10"
    );
    let per_cpu: u64 = last["per_cpu"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(per_cpu, 10);
    // The summary: percentiles of XDP_PASS packets/s over the 6 intervals.
    let summary = &lines[6]["summary"];
    assert_eq!(summary["intervals"], 6);
    let pass = summary["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "XDP_PASS")
        .unwrap();
    let (p50, max) = (pass["p50"].as_u64().unwrap(), pass["max"].as_u64().unwrap());
    assert!(max >= p50 && max > 0, "{pass}");
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_reload_with_a_new_map_is_a_reset_not_a_negative_rate() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins) = loaded();
    assert_eq!(bed.ping_a_from_b(4, 56), 4);
    let stats = pins.path().join("stats_map");
    let mut child = statswatch(&[
        "-file",
        stats.to_str().unwrap(),
        "--interval",
        "0.4",
        // Enough intervals for the reload below on a slow (emulated) guest;
        // the test stops reading once the new map has been counted.
        "--count",
        "150",
        "--json",
    ])
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(pass_row(&first)["packets"], 4);
    // Unload and load again: a new stats_map is pinned at the same path.
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
    bed.load(&pins, &kern_object("xdp.elf"), &[]).success();
    assert_eq!(bed.ping_a_from_b(1, 56), 1);
    let mut rest: Vec<Value> = Vec::new();
    for line in lines.by_ref() {
        let interval: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let counted_new = rest.iter().any(|i| i["map_replaced"] == true)
            && interval["interval"].is_u64()
            && pass_row(&interval)["packets"] == 1;
        rest.push(interval);
        if counted_new {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let replaced = rest
        .iter()
        .find(|i| i["map_replaced"] == true)
        .unwrap_or_else(|| panic!("no map_replaced interval in {rest:?}"));
    assert!(pass_row(replaced)["pps"].as_f64().unwrap() >= 0.0);
    let last = rest.iter().rev().find(|i| i["interval"].is_u64()).unwrap();
    assert_eq!(pass_row(last)["packets"], 1, "counting the new map");
    assert!(
        rest.iter()
            .filter(|i| i["interval"].is_u64())
            .all(|i| pass_row(i)["pps"].as_f64().unwrap() >= 0.0),
        "negative rate in {rest:?}"
    );
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn prometheus_metrics_over_http() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins) = loaded();
    assert_eq!(bed.ping_a_from_b(3, 56), 3);
    let stats = pins.path().join("stats_map");
    let mut child = statswatch(&[
        "-file",
        stats.to_str().unwrap(),
        "--prometheus",
        "127.0.0.1:0",
        "--per-cpu",
        "--interval",
        "0.5",
        "--count",
        "20",
    ])
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("statswatch: serving http://")
        .and_then(|l| l.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let mut http = TcpStream::connect(&addr).unwrap();
    write!(http, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    http.read_to_string(&mut response).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    assert!(
        response.contains("# TYPE xdp_packets_total counter"),
        "{response}"
    );
    let map = stats.display();
    assert!(
        response.contains(&format!(
            "xdp_packets_total{{map=\"{map}\",action=\"XDP_PASS\"}} 3\n"
        )),
        "{response}"
    );
    assert!(response.contains(&format!(
        "xdp_bytes_total{{map=\"{map}\",action=\"XDP_PASS\"}} {}\n",
        3 * PING_FRAME
    )));
    assert!(response.contains("xdp_cpu_packets_total{"), "{response}");
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn statswatch_count_in_the_environment_ends_a_watch_at_once() {
    if !testkit::kernel() {
        return;
    }
    let (_bed, pins) = loaded();
    let stats = pins.path().join("stats_map");
    let out = statswatch(&["-w", "--interval", "0.1", "-file", stats.to_str().unwrap()])
        .env("STATSWATCH_COUNT", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("interval 1 ("), "{text}");
    assert!(!text.contains("interval 2 ("), "{text}");
    assert!(text.contains("packets/s over 1 interval:"), "{text}");
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn ctrl_c_stops_a_watch_cleanly_with_the_summary() {
    if !testkit::kernel() {
        return;
    }
    let (_bed, pins) = loaded();
    let stats = pins.path().join("stats_map");
    let mut child = statswatch(&["-w", "--interval", "0.2", "-file", stats.to_str().unwrap()])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait for the first interval, so the handler is installed.
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("interval 1 ("), "{first}");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let rest: String = lines.map(|l| l.unwrap() + "\n").collect();
    assert!(rest.contains("packets/s over "), "{rest}");
}
