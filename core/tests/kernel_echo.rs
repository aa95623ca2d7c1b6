//! kern/echo.elf under BPF_PROG_TEST_RUN: the reply bytes it builds, and
//! their checksums verified by an RFC 1071 sum computed here, independently
//! of the program's incremental update. Real kernel, no interface.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aya::{
    maps::Map,
    programs::{TestRun, TestRunOptions, Xdp},
    Ebpf,
};
use etherparse::PacketBuilder;
use xdp_core::stats::StatsMap;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

const MAC_CLIENT: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0x01];
const MAC_XDP: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0x02];
const IP_CLIENT: [u8; 4] = [10, 2, 2, 1];
const IP_NOBODY: [u8; 4] = [10, 2, 2, 99];
const IP6_CLIENT: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const IP6_NOBODY: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99];

fn echo() -> Ebpf {
    common::load_in_private_bpffs("echo.elf").0
}

/// Runs the program on `frame`: the verdict and the frame it leaves.
fn run(ebpf: &Ebpf, frame: &[u8]) -> (u32, Vec<u8>) {
    let prog: &Xdp = ebpf.program("xdp_echo").unwrap().try_into().unwrap();
    let mut out = vec![0u8; frame.len() + 256];
    let result = prog
        .test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..TestRunOptions::default()
        })
        .expect("BPF_PROG_TEST_RUN");
    out.truncate(result.data_size_out as usize);
    (result.return_value, out)
}

/// RFC 1071: the one's-complement sum of 16-bit big-endian words.
fn ones_sum(data: &[u8], mut sum: u32) -> u32 {
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// A message whose checksum field is right sums to 0xffff.
fn verifies(data: &[u8], pseudo: u32) -> bool {
    ones_sum(data, pseudo) == 0xffff
}

fn icmpv4_request(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(MAC_CLIENT, MAC_XDP)
        .ipv4(IP_CLIENT, IP_NOBODY, 64)
        .icmpv4_echo_request(id, seq)
        .write(&mut f, payload)
        .unwrap();
    f
}

fn icmpv6_request(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(MAC_CLIENT, MAC_XDP)
        .ipv6(IP6_CLIENT, IP6_NOBODY, 64)
        .icmpv6_echo_request(id, seq)
        .write(&mut f, payload)
        .unwrap();
    f
}

/// Checks an IPv4 echo reply against its request, byte by byte.
#[track_caller]
fn assert_ipv4_reply(request: &[u8], reply: &[u8]) {
    assert_eq!(reply.len(), request.len());
    assert_eq!(
        &reply[0..6],
        &request[6..12],
        "destination MAC = request's source"
    );
    assert_eq!(
        &reply[6..12],
        &request[0..6],
        "source MAC = request's destination"
    );
    let ip = &reply[14..34];
    assert_eq!(&ip[12..16], &IP_NOBODY, "replies from the address pinged");
    assert_eq!(&ip[16..20], &IP_CLIENT);
    assert!(verifies(ip, 0), "IPv4 header checksum");
    let icmp = &reply[34..];
    assert_eq!((icmp[0], icmp[1]), (0, 0), "echo reply, code 0");
    assert_eq!(
        &icmp[4..],
        &request[38..],
        "identifier, sequence and payload echoed"
    );
    assert!(verifies(icmp, 0), "ICMP checksum of {:02x?}", &icmp[..8]);
}

#[track_caller]
fn assert_ipv6_reply(request: &[u8], reply: &[u8]) {
    assert_eq!(reply.len(), request.len());
    assert_eq!(&reply[0..6], &request[6..12]);
    assert_eq!(&reply[6..12], &request[0..6]);
    let ip = &reply[14..54];
    assert_eq!(&ip[8..24], &IP6_NOBODY);
    assert_eq!(&ip[24..40], &IP6_CLIENT);
    let icmp = &reply[54..];
    assert_eq!((icmp[0], icmp[1]), (129, 0), "ICMPv6 echo reply, code 0");
    assert_eq!(&icmp[4..], &request[58..]);
    // The pseudo-header: addresses, upper-layer length, next header 58.
    let mut pseudo = ones_sum(&ip[8..40], 0);
    pseudo = ones_sum(&(icmp.len() as u32).to_be_bytes(), pseudo);
    pseudo = ones_sum(&[0, 0, 0, 58], pseudo);
    assert!(verifies(icmp, pseudo), "ICMPv6 checksum");
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn echo_requests_get_replies_with_valid_checksums() {
    if !testkit::kernel() {
        return;
    }
    let mut ebpf = echo();
    let v4 = icmpv4_request(0x1234, 1, &[0xab; 56]);
    let (verdict, reply) = run(&ebpf, &v4);
    assert_eq!(verdict, XDP_TX);
    assert_ipv4_reply(&v4, &reply);

    let v6 = icmpv6_request(0x4321, 7, b"xdp echo over ipv6");
    let (verdict, reply) = run(&ebpf, &v6);
    assert_eq!(verdict, XDP_TX);
    assert_ipv6_reply(&v6, &reply);

    let Some(Map::PerCpuArray(data)) = ebpf.take_map("stats_map") else {
        panic!("stats_map is a per-CPU array")
    };
    let rows = StatsMap::from_map_data("stats_map".as_ref(), data)
        .unwrap()
        .read(false)
        .unwrap();
    assert_eq!(rows[3].packets, 2, "two XDP_TX");
    assert_eq!(rows[3].bytes, (v4.len() + v6.len()) as u64);
    assert_eq!(rows.iter().map(|r| r.packets).sum::<u64>(), 2);
}

/// The incremental update (RFC 1624) has corner cases around 0x0000 and
/// 0xffff: thousands of requests with varied identifiers, sequences and
/// payloads, every reply checked with a full sum.
#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn incremental_checksums_hold_over_many_requests() {
    if !testkit::kernel() {
        return;
    }
    let ebpf = echo();
    // A fixed xorshift: varied, and the same on every run.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for n in 0..3000 {
        let id = (next() & 0xffff) as u16;
        let seq = (next() & 0xffff) as u16;
        let len = (next() % 64) as usize;
        let payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let (request, v6) = if n % 2 == 0 {
            (icmpv4_request(id, seq, &payload), false)
        } else {
            (icmpv6_request(id, seq, &payload), true)
        };
        let (verdict, reply) = run(&ebpf, &request);
        assert_eq!(verdict, XDP_TX, "request {n}");
        if v6 {
            assert_ipv6_reply(&request, &reply);
        } else {
            assert_ipv4_reply(&request, &reply);
        }
    }
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn everything_else_passes_untouched_and_truncated_frames_drop() {
    if !testkit::kernel() {
        return;
    }
    let ebpf = echo();
    let mut passes: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut f = Vec::new();
    PacketBuilder::ethernet2(MAC_CLIENT, MAC_XDP)
        .ipv4(IP_CLIENT, IP_NOBODY, 64)
        .icmpv4_echo_reply(1, 1)
        .write(&mut f, b"reply")
        .unwrap();
    passes.push(("an echo reply", f));
    let mut f = Vec::new();
    PacketBuilder::ethernet2(MAC_CLIENT, MAC_XDP)
        .ipv4(IP_CLIENT, IP_NOBODY, 64)
        .tcp(40000, 80, 1, 65535)
        .syn()
        .write(&mut f, &[])
        .unwrap();
    passes.push(("TCP", f));
    let mut f = Vec::new();
    PacketBuilder::ethernet2(MAC_CLIENT, MAC_XDP)
        .ipv4(IP_CLIENT, [255, 255, 255, 255], 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut f, b"broadcast")
        .unwrap();
    passes.push(("a broadcast ping", f));
    let mut f = Vec::new();
    PacketBuilder::ethernet2(MAC_CLIENT, MAC_XDP)
        .ipv4(IP_CLIENT, [224, 0, 0, 1], 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut f, b"multicast")
        .unwrap();
    passes.push(("a multicast ping", f));
    let mut f = Vec::new();
    PacketBuilder::ethernet2(MAC_CLIENT, MAC_XDP)
        .ipv6(
            IP6_CLIENT,
            [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            64,
        )
        .icmpv6_echo_request(1, 1)
        .write(&mut f, b"all nodes")
        .unwrap();
    passes.push(("an IPv6 multicast ping", f));
    let mut fragment = icmpv4_request(1, 1, &[0; 32]);
    fragment[20] |= 0x20; // more fragments
    passes.push(("an IPv4 fragment", fragment));
    let mut arp = vec![0xff; 6];
    arp.extend(MAC_CLIENT);
    arp.extend([0x08, 0x06]);
    arp.extend([0; 28]);
    passes.push(("ARP", arp));
    for (what, frame) in &passes {
        let (verdict, out) = run(&ebpf, frame);
        assert_eq!(verdict, XDP_PASS, "{what}");
        assert_eq!(&out, frame, "{what} left untouched");
    }
    let request = icmpv4_request(1, 1, &[]);
    // The kernel refuses test frames shorter than an Ethernet header.
    for cut in [14, 20, 37] {
        let (verdict, _) = run(&ebpf, &request[..cut]);
        assert_eq!(verdict, XDP_DROP, "cut at {cut}");
    }
}
