//! The XDP dispatcher hold (xdp_core::dispatcher, issue 24): while a
//! program is held, its test runs with repeat > 1 rewrite no dispatcher
//! code; without the hold each one does.
//!
//! Seen through what every rewrite ends with: `bpf_dispatcher_update` waits
//! for an RCU grace period (`synchronize_rcu`), and the thread that waits
//! sleeps, which the kernel counts as a voluntary context switch of that
//! thread (/proc/thread-self/status). A test run of a 64-byte frame
//! sleeps for nothing else. (This machine's kernel allows neither kprobes
//! nor fentry, which would count the rewrites themselves.) Real kernel, no
//! interface of the test's.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aya::programs::{TestRun as _, TestRunOptions, Xdp};
use xdp_core::dispatcher::DispatcherHold;

/// This thread's voluntary context switches so far.
fn sleeps() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").expect("/proc/thread-self");
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .expect("voluntary_ctxt_switches in /proc/thread-self/status")
        .trim()
        .parse()
        .expect("a count")
}

/// How often this thread slept during `runs` test runs of `program`, two
/// repeats each (the kernel changes the dispatcher around a run only when
/// repeat > 1).
fn sleeps_in_test_runs(program: &Xdp, runs: u64) -> u64 {
    let frame = [0u8; 64];
    let before = sleeps();
    for _ in 0..runs {
        let result = program
            .test_run(TestRunOptions {
                data_in: Some(&frame),
                repeat: 2,
                ..TestRunOptions::default()
            })
            .expect("BPF_PROG_TEST_RUN");
        assert_eq!(result.return_value, 2, "xdp_bench_pass passes every frame");
    }
    sleeps() - before
}

/// The ids of the XDP links that run `prog_id` (Debian 12's bpftool does not
/// print an XDP link's ifindex).
fn xdp_links(prog_id: u32) -> Vec<u64> {
    let out = std::process::Command::new("bpftool")
        .args(["-j", "link", "show"])
        .output()
        .expect("bpftool");
    assert!(out.status.success(), "bpftool link show: {out:?}");
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool's JSON");
    links
        .as_array()
        .expect("a list of links")
        .iter()
        .filter(|l| l["type"] == "xdp" && l["prog_id"] == u64::from(prog_id))
        .map(|l| l["id"].as_u64().expect("a link id"))
        .collect()
}

#[test]
fn a_held_program_is_test_run_without_rewriting_the_dispatcher_and_the_hold_leaves_nothing() {
    if !testkit::kernel() {
        return;
    }
    let (ebpf, _) = common::load_in_private_bpffs("bench_pass.elf");
    let program: &Xdp = ebpf.program("xdp_bench_pass").unwrap().try_into().unwrap();
    let prog_id = program.info().expect("the program's info").id();
    const RUNS: u64 = 20;

    // Without a hold, every run adds the program and removes it again, and
    // each change waits for a grace period.
    let unheld = sleeps_in_test_runs(program, RUNS);
    assert!(
        unheld >= RUNS,
        "{RUNS} test runs without a hold slept {unheld} times: the kernel no longer \
         rewrites the dispatcher around a run (or no longer waits after it)"
    );

    let hold = DispatcherHold::new(program, "xdp_bench_pass").expect("a hold");
    let links = xdp_links(prog_id);
    assert_eq!(links.len(), 1, "one XDP link holds the program: {links:?}");
    let host_lo = std::process::Command::new("ip")
        .args(["-d", "link", "show", "lo"])
        .output()
        .expect("ip");
    assert!(
        !String::from_utf8_lossy(&host_lo.stdout).contains("prog/xdp"),
        "the hold touched this namespace's loopback: {host_lo:?}"
    );
    // A stray sleep (a page fault, a preemption counted as voluntary) is not
    // a rewrite; a rewrite per run would be RUNS of them at least.
    let held = sleeps_in_test_runs(program, RUNS);
    assert!(
        held < RUNS / 4,
        "{RUNS} test runs of a held program slept {held} times (without the hold: {unheld}): \
         the dispatcher is still rewritten around each run"
    );

    eprintln!("{RUNS} test runs slept {unheld} times without a hold, {held} with one");
    drop(hold);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !xdp_links(prog_id).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the hold's link outlived it: {:?}",
            xdp_links(prog_id)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
