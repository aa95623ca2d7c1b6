//! The skeleton's programs under BPF_PROG_TEST_RUN: crafted frames in, the
//! verdict and the per-action counters out. Real kernel, no interface.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aya::{
    maps::Map,
    programs::{TestRun, TestRunOptions, Xdp},
    Ebpf,
};
use etherparse::{PacketBuilder, VlanId};
use xdp_core::{
    jump_table,
    stats::{action_index, ActionStats, StatsMap},
};

const XDP_ABORTED: u32 = 0;
const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

const MAC_A: [u8; 6] = [0x52, 0x54, 0x27, 0x27, 0x27, 0x25];
const MAC_B: [u8; 6] = [0x52, 0x54, 0x27, 0x27, 0x27, 0x26];
const IP_A: [u8; 4] = [10, 2, 2, 1];
const IP_B: [u8; 4] = [10, 2, 2, 2];
const IP6_A: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const IP6_B: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// The skeleton loaded (not attached) with its jump table filled.
fn skeleton() -> Ebpf {
    let (ebpf, summary) = common::load_in_private_bpffs("xdp.elf");
    let entry = jump_table::entry_program(&summary, &Default::default(), &[]).unwrap();
    assert_eq!(entry, "xdp_skeleton");
    let tables = jump_table::plan(&summary, &entry, None, &[]).unwrap();
    assert_eq!(tables.tables.len(), 1, "the skeleton has a jump table");
    jump_table::fill(&ebpf, &tables).unwrap();
    ebpf
}

fn run(ebpf: &Ebpf, frame: &[u8]) -> u32 {
    let prog: &Xdp = ebpf.program("xdp_skeleton").unwrap().try_into().unwrap();
    prog.test_run(TestRunOptions {
        data_in: Some(frame),
        ..TestRunOptions::default()
    })
    .expect("BPF_PROG_TEST_RUN")
    .return_value
}

fn stats(ebpf: &mut Ebpf) -> Vec<ActionStats> {
    let Some(Map::PerCpuArray(data)) = ebpf.take_map("stats_map") else {
        panic!("stats_map is a per-CPU array")
    };
    StatsMap::from_map_data("stats_map".as_ref(), data)
        .unwrap()
        .read(false)
        .unwrap()
}

/// Asserts that exactly `frames` went to `action`, with their bytes, and nothing else was counted.
#[track_caller]
fn assert_counted(ebpf: &mut Ebpf, action: &str, frames: &[&[u8]]) {
    let index = action_index(action).unwrap();
    for row in stats(ebpf) {
        if row.index == index {
            assert_eq!(row.packets, frames.len() as u64, "{action} packets");
            let bytes: usize = frames.iter().map(|f| f.len()).sum();
            assert_eq!(row.bytes, bytes as u64, "{action} bytes");
        } else {
            assert_eq!(
                (row.packets, row.bytes),
                (0, 0),
                "{} must stay 0",
                row.action
            );
        }
    }
}

fn build(builder: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut frame = Vec::new();
    builder(&mut frame);
    frame
}

fn ipv4_icmp() -> Vec<u8> {
    build(|f| {
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv4(IP_B, IP_A, 64)
            .icmpv4_echo_request(7, 1)
            .write(f, &[0xab; 56])
            .unwrap()
    })
}

fn ipv4_tcp() -> Vec<u8> {
    build(|f| {
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv4(IP_B, IP_A, 64)
            .tcp(40000, 80, 1, 65535)
            .syn()
            .write(f, &[])
            .unwrap()
    })
}

fn ipv4_udp() -> Vec<u8> {
    build(|f| {
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv4(IP_B, IP_A, 64)
            .udp(5353, 53)
            .write(f, b"query")
            .unwrap()
    })
}

fn ipv6_icmp() -> Vec<u8> {
    build(|f| {
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv6(IP6_B, IP6_A, 64)
            .icmpv6_echo_request(7, 1)
            .write(f, &[0xcd; 32])
            .unwrap()
    })
}

fn vlan_udp() -> Vec<u8> {
    build(|f| {
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .single_vlan(VlanId::try_new(100).unwrap())
            .ipv4(IP_B, IP_A, 64)
            .udp(1000, 2000)
            .write(f, b"tagged")
            .unwrap()
    })
}

fn qinq_tcp6() -> Vec<u8> {
    build(|f| {
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .double_vlan(VlanId::try_new(200).unwrap(), VlanId::try_new(300).unwrap())
            .ipv6(IP6_B, IP6_A, 64)
            .tcp(40000, 443, 1, 65535)
            .write(f, b"q-in-q")
            .unwrap()
    })
}

fn arp() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&MAC_B);
    f.extend_from_slice(&[0x08, 0x06]); // ETH_P_ARP
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]); // Ethernet/IPv4 request
    f.extend_from_slice(&MAC_B);
    f.extend_from_slice(&IP_B);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&IP_A);
    f
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn ip_frames_run_the_whole_chain_and_pass() {
    if !testkit::kernel() {
        return;
    }
    let mut ebpf = skeleton();
    let frames = [
        ipv4_icmp(),
        ipv4_tcp(),
        ipv4_udp(),
        ipv6_icmp(),
        vlan_udp(),
        qinq_tcp6(),
    ];
    for frame in &frames {
        assert_eq!(run(&ebpf, frame), XDP_PASS, "frame {frame:02x?}");
    }
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    assert_counted(&mut ebpf, "XDP_PASS", &refs);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn arp_passes_without_entering_the_chain() {
    if !testkit::kernel() {
        return;
    }
    let mut ebpf = skeleton();
    // With slot 1 empty, anything that enters the chain would be ABORTED.
    let jmp: &mut Map = ebpf.map_mut("jmp_map").unwrap();
    aya::maps::ProgramArray::try_from(jmp)
        .unwrap()
        .clear_index(&1)
        .unwrap();
    let frame = arp();
    assert_eq!(run(&ebpf, &frame), XDP_PASS);
    assert_counted(&mut ebpf, "XDP_PASS", &[&frame]);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn truncated_headers_are_dropped() {
    if !testkit::kernel() {
        return;
    }
    let mut ebpf = skeleton();
    let v4 = ipv4_udp();
    let v6 = ipv6_icmp();
    let vlan = vlan_udp();
    let mut bad_ihl = ipv4_udp();
    bad_ihl[14] = 0x44; // version 4, ihl 4: shorter than the fixed header
    let frames: [&[u8]; 4] = [&v4[..14 + 12], &v6[..14 + 30], &vlan[..16], &bad_ihl];
    for frame in frames {
        assert_eq!(run(&ebpf, frame), XDP_DROP, "frame {frame:02x?}");
    }
    assert_counted(&mut ebpf, "XDP_DROP", &frames);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn an_empty_slot_is_counted_as_aborted() {
    if !testkit::kernel() {
        return;
    }
    for slot in [1u32, 2] {
        let mut ebpf = skeleton();
        let jmp: &mut Map = ebpf.map_mut("jmp_map").unwrap();
        aya::maps::ProgramArray::try_from(jmp)
            .unwrap()
            .clear_index(&slot)
            .unwrap();
        let frame = ipv4_tcp();
        assert_eq!(run(&ebpf, &frame), XDP_ABORTED, "slot {slot} empty");
        assert_counted(&mut ebpf, "XDP_ABORTED", &[&frame]);
    }
}
