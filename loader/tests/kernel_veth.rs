//! The walls of XDP on veth, live: XDP_TX into a veth whose peer has no XDP
//! program, checksum offload on the peer, MTU 9000 in native mode. The
//! loader's peer fix makes them disappear and `unload` puts them back.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use testkit::{kern_object, run, sh, Bpffs, Testbed};

const NOBODY: &str = "10.11.12.99";
const NOBODY6: &str = "fd00:11:12::99";

/// Routes pings for addresses no stack owns from b to a's MAC, over IPv4
/// and IPv6 (which the testbed keeps off; b gets it for this test).
fn route_nobody_to_a(bed: &Testbed) {
    let mac_a = bed.mac(&bed.if_a, &bed.ns_a);
    let b = bed.ns_b.as_str();
    sh(&[
        "ip",
        "-n",
        b,
        "neigh",
        "replace",
        NOBODY,
        "lladdr",
        &mac_a,
        "dev",
        &bed.if_b,
        "nud",
        "permanent",
    ]);
    sh(&[
        "ip",
        "netns",
        "exec",
        b,
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{}.disable_ipv6=0", bed.if_b),
    ]);
    sh(&[
        "ip",
        "-n",
        b,
        "addr",
        "add",
        "fd00:11:12::2/64",
        "dev",
        &bed.if_b,
        "nodad",
    ]);
    sh(&[
        "ip",
        "-n",
        b,
        "neigh",
        "replace",
        NOBODY6,
        "lladdr",
        &mac_a,
        "dev",
        &bed.if_b,
        "nud",
        "permanent",
    ]);
}

/// Echo replies `ping` got, from b.
fn ping_from_b(bed: &Testbed, target: &str, count: u32, size: u32) -> u32 {
    let out = run(
        Some(&bed.ns_b),
        "ping",
        &[
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            "0.05",
            "-W",
            "1",
            "-s",
            &size.to_string(),
            target,
        ],
    );
    out.stdout
        .split(", ")
        .find_map(|p| {
            p.strip_suffix(" received")
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn tx_checksum_on(ns: &str, ifname: &str) -> bool {
    let out = run(Some(ns), "ethtool", &["-k", ifname]);
    out.success()
        .lines()
        .find_map(|l| l.strip_prefix("tx-checksumming: "))
        .expect("ethtool -k prints tx-checksumming")
        .starts_with("on")
}

#[test]
fn echo_answers_ping_and_ping6_for_an_address_nobody_owns() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    route_nobody_to_a(&bed);
    assert!(tx_checksum_on(&bed.ns_b, &bed.if_b));

    let out = bed.load(&pins, &kern_object("echo.elf"), &["--mode", "native"]);
    let text = out.success();
    let place = format!("peer {} (in netns {})", bed.if_b, bed.ns_b);
    assert!(
        text.contains(&format!("{place}: attached xdp_pass")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{place}: turned tx checksum offload off")),
        "{text}"
    );
    assert!(bed.xdp_prog_id(&bed.ns_b, &bed.if_b).is_some());
    assert!(!tx_checksum_on(&bed.ns_b, &bed.if_b));

    // Nothing owns these addresses: only XDP can answer.
    assert_eq!(ping_from_b(&bed, NOBODY, 5, 56), 5);
    assert_eq!(ping_from_b(&bed, NOBODY6, 5, 56), 5);
    let (tx, _) = testkit::counters(&pins.path().join("stats_map"), "XDP_TX");
    assert_eq!(tx, 10);

    let out = bed.xdploader(&pins, &["unload", "-i", &bed.if_a]);
    let text = out.success();
    assert!(text.contains("peer: detached xdp_pass"), "{text}");
    assert!(text.contains("tx checksum offload back on"), "{text}");
    assert_eq!(bed.xdp_prog_id(&bed.ns_b, &bed.if_b), None);
    assert!(tx_checksum_on(&bed.ns_b, &bed.if_b));
    assert_eq!(pins.pins(), Vec::<String>::new());
}

#[test]
fn a_second_load_keeps_the_peer_fix_and_unload_still_restores_it() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    route_nobody_to_a(&bed);
    let echo = kern_object("echo.elf");
    bed.load(&pins, &echo, &["--mode", "native"]).success();
    let peer_prog = bed.xdp_prog_id(&bed.ns_b, &bed.if_b);
    // The peer has a program and tx is off now: nothing more to do.
    let again = bed.load(&pins, &echo, &["--mode", "native"]);
    assert!(!again.success().contains("peer "), "{}", again.stdout);
    assert_eq!(bed.xdp_prog_id(&bed.ns_b, &bed.if_b), peer_prog);
    assert_eq!(ping_from_b(&bed, NOBODY, 3, 56), 3);
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
    assert_eq!(bed.xdp_prog_id(&bed.ns_b, &bed.if_b), None);
    assert!(tx_checksum_on(&bed.ns_b, &bed.if_b));
}

#[test]
fn no_peer_fix_leaves_the_peer_alone_and_xdp_tx_is_lost() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    route_nobody_to_a(&bed);
    let out = bed.load(
        &pins,
        &kern_object("echo.elf"),
        &["--mode", "native", "--no-peer-fix"],
    );
    assert!(!out.success().contains("peer "));
    assert_eq!(bed.xdp_prog_id(&bed.ns_b, &bed.if_b), None);
    assert!(tx_checksum_on(&bed.ns_b, &bed.if_b));
    assert_eq!(ping_from_b(&bed, NOBODY, 3, 56), 0, "ENXIO on the peer");
    let (tx, _) = testkit::counters(&pins.path().join("stats_map"), "XDP_TX");
    assert_eq!(tx, 3, "XDP answered; the veth dropped the answers");
}

#[test]
fn echo_at_mtu_9000_in_native_mode_answers_jumbo_pings() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    route_nobody_to_a(&bed);
    for (ns, ifname) in [(&bed.ns_a, &bed.if_a), (&bed.ns_b, &bed.if_b)] {
        sh(&["ip", "-n", ns, "link", "set", "dev", ifname, "mtu", "9000"]);
    }
    let out = bed.load(
        &pins,
        &kern_object("echo.elf"),
        &["--mode", "native", "--json"],
    );
    let report = out.json();
    assert_eq!(report["attached"][0]["mode"], "native");
    assert_eq!(report["peer_warnings"], serde_json::json!([]));
    // 8000-byte payloads: frames over a page, so multi-buffer (xdp.frags).
    assert_eq!(ping_from_b(&bed, NOBODY, 3, 8000), 3);
    assert_eq!(ping_from_b(&bed, NOBODY6, 3, 8000), 3);
    let (tx, bytes) = testkit::counters(&pins.path().join("stats_map"), "XDP_TX");
    assert_eq!(tx, 6);
    // Whole frames, fragments included: 14 + 20 + 8 + 8000 and 14 + 40 + 8 + 8000.
    assert_eq!(bytes, 3 * 8042 + 3 * 8062);
}
