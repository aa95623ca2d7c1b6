//! A real Prometheus server (Debian's `prometheus`) scraping statswatch with
//! the configuration and rules the repository ships (prometheus/), while
//! pings flow through the skeleton: the rate it computes is positive and the
//! counter it stores is the map's. Both run inside the testbed's namespace,
//! on its own loopback.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use testkit::{bin, kern_object, workspace, Bpffs, Testbed};

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_in(ns: &str, program: &str, args: &[&str]) -> Killed {
    let child = Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/setup.sh --test installs it)"));
    Killed(child)
}

/// GET `path` from 127.0.0.1:`port` in namespace `ns`: the body, if 200.
fn get(ns: &str, port: u16, path: &str) -> Option<String> {
    let path = path.to_owned();
    testkit::in_netns(ns, move || {
        let mut http = TcpStream::connect(("127.0.0.1", port)).ok()?;
        http.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(http, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut response = String::new();
        http.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.").then_some(())?;
        head.contains(" 200 ").then(|| body.to_owned())
    })
}

/// The query's single value, if Prometheus has one.
fn query(ns: &str, promql: &str) -> Option<f64> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = get(ns, 9090, &format!("/api/v1/query?query={encoded}"))?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let result = v["data"]["result"].as_array()?;
    let [one] = result.as_slice() else {
        return None;
    };
    one["value"][1].as_str()?.parse().ok()
}

/// Polls `f` every 250 ms until it is true, for at most `limit`.
fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn prometheus_scrapes_statswatch_and_its_rate_and_counter_match_the_map() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    bed.load(&pins, &kern_object("xdp.elf"), &[]).success();
    let stats = pins.path().join("stats_map");

    // The shipped configuration and rules, scraping every second.
    let dir = tempfile::tempdir().unwrap();
    let shipped = workspace().join("prometheus");
    let config = std::fs::read_to_string(shipped.join("prometheus.yml"))
        .unwrap()
        .replace("15s", "1s");
    assert!(config.contains("127.0.0.1:9435"), "{config}");
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    std::fs::copy(
        shipped.join("xdp-rules.yml"),
        dir.path().join("xdp-rules.yml"),
    )
    .unwrap();

    let ns = bed.ns_a.clone();
    let stats_arg = stats.display().to_string();
    let _exporter = spawn_in(
        &ns,
        bin("statswatch").to_str().unwrap(),
        &["--prometheus", "127.0.0.1:9435", "-file", &stats_arg],
    );
    let config_arg = format!("--config.file={}/prometheus.yml", dir.path().display());
    let tsdb_arg = format!("--storage.tsdb.path={}/data", dir.path().display());
    let _prometheus = spawn_in(
        &ns,
        "prometheus",
        &[
            &config_arg,
            &tsdb_arg,
            "--web.listen-address=127.0.0.1:9090",
        ],
    );
    assert!(
        wait_for(Duration::from_secs(30), || query(&ns, "up{job=\"xdp\"}")
            == Some(1.0)),
        "Prometheus never scraped statswatch (up != 1)"
    );
    let rules = get(&ns, 9090, "/api/v1/rules").unwrap_or_default();
    for rule in ["XdpAborted", "XdpErrorDrops", "xdp:packets:rate1m"] {
        assert!(rules.contains(rule), "rule {rule} not loaded: {rules}");
    }

    // Pings while Prometheus scrapes: the rate over the last seconds rises.
    let pings = spawn_in(
        &bed.ns_b,
        "ping",
        &["-q", "-i", "0.05", "-c", "200", bed.addr_a],
    );
    assert!(
        wait_for(Duration::from_secs(30), || {
            query(&ns, "rate(xdp_packets_total{action=\"XDP_PASS\"}[5s])")
                .is_some_and(|rate| rate > 0.0)
        }),
        "the XDP_PASS rate never became positive"
    );
    drop(pings);
    // Traffic over: what Prometheus stores catches up with the map.
    let mut last = (0, None);
    let caught_up = wait_for(Duration::from_secs(20), || {
        let map = testkit::counters(&stats, "XDP_PASS").0;
        let stored = query(&ns, "xdp_packets_total{action=\"XDP_PASS\"}");
        last = (map, stored);
        map > 0 && stored == Some(map as f64)
    });
    assert!(
        caught_up,
        "xdp_packets_total in Prometheus is not the map's count: (map, stored) = {last:?}"
    );
}
