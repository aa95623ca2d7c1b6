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
    testkit::ping(&bed.ns_b, target, count, size)
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
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
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
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
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
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
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
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
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
    if !testkit::has_xdp_frags() {
        // Before 5.18 a veth takes no native XDP above a page.
        testkit::assert_refused_for_the_mtu(&out);
        return;
    }
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

/// The topology of a load-balancer bench: a client and a server namespace on
/// two subnets, joined through a router namespace by two veth pairs.
struct Routed {
    ns: testkit::Namespaces,
    router_a: String,
    router_b: String,
    client_if: String,
    server_if: String,
}

impl Routed {
    fn new() -> Self {
        let ns = testkit::Namespaces::new(&["c", "r", "s"]);
        let id = ns.names[0].trim_end_matches("-c").to_owned();
        let bed = Self {
            router_a: format!("{id}ra"),
            router_b: format!("{id}rb"),
            client_if: format!("{id}c0"),
            server_if: format!("{id}s0"),
            ns,
        };
        let (c, r, s) = (bed.client(), bed.router(), bed.server());
        // The router's ends get large ifindexes, as on a host with containers:
        // redirect.elf's DEVMAP_HASH must take them.
        sh(&[
            "ip",
            "-n",
            r,
            "link",
            "add",
            &bed.router_a,
            "index",
            "300",
            "type",
            "veth",
            "peer",
            "name",
            &bed.client_if,
            "netns",
            c,
        ]);
        sh(&[
            "ip",
            "-n",
            r,
            "link",
            "add",
            &bed.router_b,
            "index",
            "4000",
            "type",
            "veth",
            "peer",
            "name",
            &bed.server_if,
            "netns",
            s,
        ]);
        for (ns, ifname, v4, v6) in [
            (c, &bed.client_if, "10.21.1.2/24", "fd21:1::2/64"),
            (r, &bed.router_a, "10.21.1.1/24", "fd21:1::1/64"),
            (r, &bed.router_b, "10.21.2.1/24", "fd21:2::1/64"),
            (s, &bed.server_if, "10.21.2.2/24", "fd21:2::2/64"),
        ] {
            sh(&["ip", "-n", ns, "addr", "add", v4, "dev", ifname]);
            sh(&["ip", "-n", ns, "addr", "add", v6, "dev", ifname, "nodad"]);
            sh(&["ip", "-n", ns, "link", "set", ifname, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        for (ns, gw4, gw6) in [(c, "10.21.1.1", "fd21:1::1"), (s, "10.21.2.1", "fd21:2::1")] {
            sh(&["ip", "-n", ns, "route", "add", "default", "via", gw4]);
            sh(&["ip", "-n", ns, "-6", "route", "add", "default", "via", gw6]);
        }
        for key in ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"] {
            sh(&["ip", "netns", "exec", r, "sysctl", "-qw", key]);
        }
        bed
    }
    fn client(&self) -> &str {
        &self.ns.names[0]
    }
    fn router(&self) -> &str {
        &self.ns.names[1]
    }
    fn server(&self) -> &str {
        &self.ns.names[2]
    }
}

/// What the router's stack forwarded itself (not XDP).
fn stack_forwarded(ns: &str) -> u64 {
    let snmp = run(Some(ns), "cat", &["/proc/net/snmp"]);
    let mut ip = snmp.success().lines().filter(|l| l.starts_with("Ip:"));
    let (names, values) = (ip.next().unwrap(), ip.next().unwrap());
    let at = names
        .split_whitespace()
        .position(|n| n == "ForwDatagrams")
        .unwrap();
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

/// A deterministic 1 MiB pattern, so corruption cannot hide.
fn pattern(seed: u8) -> Vec<u8> {
    (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(31) as u8) ^ seed)
        .collect()
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn redirect_routes_ping_tcp_and_udp_between_namespaces_through_xdp() {
    use std::{
        io::{Read as _, Write as _},
        net::{Shutdown, TcpListener, TcpStream, UdpSocket},
        time::{Duration, Instant},
    };
    if !testkit::kernel() {
        return;
    }
    let bed = Routed::new();
    let pins = Bpffs::new();
    let elf = kern_object("redirect.elf");
    let ifaces = format!("{},{}", bed.router_a, bed.router_b);
    let out = run(
        Some(bed.router()),
        testkit::bin("xdploader"),
        &[
            "-file",
            elf.to_str().unwrap(),
            "-i",
            &ifaces,
            "--mode",
            "native",
            "--pin-dir",
            &pins.arg(),
        ],
    );
    let text = out.success();
    for (peer, ns) in [
        (&bed.client_if, bed.client()),
        (&bed.server_if, bed.server()),
    ] {
        let place = format!("peer {peer} (in netns {ns})");
        assert!(
            text.contains(&format!("{place}: attached xdp_pass")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{place}: turned tx checksum offload off")),
            "{text}"
        );
    }

    // Fresh interfaces: IPv6 needs its link-local addresses (DAD) before
    // neighbour discovery works, so wait for the path once, then count.
    for target in ["10.21.2.2", "fd21:2::2"] {
        let deadline = Instant::now() + Duration::from_secs(5);
        while ping_from(bed.client(), target, 1) != 1 {
            assert!(Instant::now() < deadline, "no path to {target}");
        }
        assert_eq!(ping_from(bed.client(), target, 5), 5, "{target}");
    }

    // TCP: 1 MiB each way on one connection, checked byte for byte.
    let server = testkit::spawn_in_netns(bed.server(), || {
        let listener = TcpListener::bind("10.21.2.2:5001").unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        conn.write_all(&pattern(2)).unwrap();
        got == pattern(1)
    });
    let reply = testkit::in_netns(bed.client(), || {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut conn = loop {
            match TcpStream::connect("10.21.2.2:5001") {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("connect: {e}"),
            }
        };
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        conn.write_all(&pattern(1)).unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        got
    });
    assert!(
        server.join().unwrap(),
        "the server got the client's MiB intact"
    );
    assert!(
        reply == pattern(2),
        "the client got {} bytes back",
        reply.len()
    );

    // UDP: 50 datagrams echoed.
    // The server echoes until the client's empty datagram says stop (or 10 s
    // of silence): a resent datagram is echoed again, never miscounted.
    let server = testkit::spawn_in_netns(bed.server(), || {
        let socket = UdpSocket::bind("10.21.2.2:5002").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if n == 0 {
                break;
            }
            socket.send_to(&buf[..n], from).unwrap();
        }
    });
    let (echoed, resent) = testkit::in_netns(bed.client(), || {
        let socket = UdpSocket::bind("10.21.1.2:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let (mut echoed, mut resent) = (0, 0);
        let mut buf = [0u8; 2048];
        let deadline = Instant::now() + Duration::from_secs(30);
        for i in 0..50u8 {
            let datagram = vec![i; 1000];
            // The server may not be bound yet for the first one: resend.
            while Instant::now() < deadline {
                socket.send_to(&datagram, "10.21.2.2:5002").unwrap();
                // Skip late echoes of an earlier datagram.
                match socket.recv(&mut buf) {
                    Ok(n) if buf[..n] == datagram[..] => {
                        echoed += 1;
                        break;
                    }
                    _ => resent += 1,
                }
            }
        }
        socket.send_to(&[], "10.21.2.2:5002").unwrap();
        (echoed, resent)
    });
    server.join().unwrap();
    assert_eq!(echoed, 50, "UDP echoes through XDP (resent {resent})");

    // XDP forwarded the traffic, not the router's stack: a MiB each way is
    // ~1450 segments, plus ACKs; the stack only saw the frames that found
    // no neighbour entry yet.
    let (redirected, _) = testkit::counters(&pins.path().join("stats_map"), "XDP_REDIRECT");
    let forwarded = stack_forwarded(bed.router());
    assert!(redirected > 1500, "XDP_REDIRECT {redirected}");
    assert!(
        forwarded < 50,
        "the stack forwarded {forwarded} (XDP {redirected})"
    );
}

fn ping_from(ns: &str, target: &str, count: u32) -> u32 {
    testkit::ping(ns, target, count, 56)
}
