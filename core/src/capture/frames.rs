//! The ring's records (struct capture_record in kern/xdp_capture.c), parsed,
//! and put together frame by frame: a frame is the entry's record, its
//! stages' in the order they ran, and the verdict's.

use std::collections::HashMap;

use serde::Serialize;

/// The stage number of the chain's input (the entry recorder, before the chain).
pub const STAGE_ENTRY: u16 = 0;
/// The stage number of the chain's verdict and outgoing frame.
pub const STAGE_VERDICT: u16 = 0xffff;
/// struct capture_record without its data.
const HEADER: usize = 40;

/// One record: a frame as one stage received it, or as the chain left it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    /// CLOCK_MONOTONIC, ns.
    pub timestamp_ns: u64,
    pub frame: u32,
    pub cpu: u16,
    pub stage: u16,
    pub ifindex: u32,
    pub rx_queue: u32,
    /// The frame's length; `data` holds its first bytes (the snap length).
    pub len: u32,
    /// The chain's verdict, in the verdict record.
    pub verdict: u32,
    #[serde(skip)]
    pub data: Vec<u8>,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([bytes[at], bytes[at + 1]])
}

impl Record {
    /// None for a record shorter than its header says.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < HEADER {
            return None;
        }
        let caplen = u32_at(bytes, 28) as usize;
        let data = bytes.get(HEADER..HEADER + caplen)?.to_vec();
        Some(Self {
            timestamp_ns: u64::from(u32_at(bytes, 0)) | (u64::from(u32_at(bytes, 4)) << 32),
            frame: u32_at(bytes, 8),
            cpu: u16_at(bytes, 12),
            stage: u16_at(bytes, 14),
            ifindex: u32_at(bytes, 16),
            rx_queue: u32_at(bytes, 20),
            len: u32_at(bytes, 24),
            verdict: u32_at(bytes, 32),
            data,
        })
    }
}

/// One frame through the chain, whole.
#[derive(Clone, Debug, Serialize)]
pub struct Frame {
    pub cpu: u16,
    pub number: u32,
    /// The entry's record first, the verdict's last.
    pub records: Vec<Record>,
}

impl Frame {
    pub fn verdict(&self) -> u32 {
        self.records.last().map_or(0, |r| r.verdict)
    }

    /// The stage that decided the verdict: the last one the frame reached
    /// (0: the entry, which tail-called nothing).
    pub fn deciding_stage(&self) -> u16 {
        self.records
            .iter()
            .rev()
            .map(|r| r.stage)
            .find(|s| *s != STAGE_VERDICT)
            .unwrap_or(STAGE_ENTRY)
    }

    /// The stages the frame went through, entry and verdict excluded.
    pub fn stages(&self) -> impl Iterator<Item = &Record> {
        self.records
            .iter()
            .filter(|r| r.stage != STAGE_ENTRY && r.stage != STAGE_VERDICT)
    }
}

/// Puts records together into frames. A frame's records come from one CPU,
/// in order (XDP runs a chain on one CPU, unpreempted); records of frames
/// that were mid-chain when the recorders went in or out are counted as
/// `partial`, never shown as a frame.
#[derive(Debug, Default)]
pub struct Assembler {
    pending: HashMap<u16, Vec<Record>>,
    pub partial: u64,
}

impl Assembler {
    /// The frame `record` completes, if it does.
    pub fn push(&mut self, record: Record) -> Option<Frame> {
        let cpu = record.cpu;
        match record.stage {
            STAGE_ENTRY => {
                if let Some(stale) = self.pending.insert(cpu, vec![record]) {
                    self.partial += stale.len() as u64;
                }
                None
            }
            STAGE_VERDICT => {
                let Some(mut records) = self.pending.remove(&cpu) else {
                    self.partial += 1;
                    return None;
                };
                if records[0].stage != STAGE_ENTRY || records[0].frame != record.frame {
                    self.partial += records.len() as u64 + 1;
                    return None;
                }
                let number = record.frame;
                records.push(record);
                Some(Frame {
                    cpu,
                    number,
                    records,
                })
            }
            _ => {
                match self.pending.get_mut(&cpu) {
                    Some(records) if records[0].frame == record.frame => records.push(record),
                    _ => {
                        // A stage whose frame entered before the entry recorder did.
                        let stale = self.pending.insert(cpu, vec![record]);
                        self.partial += stale.map_or(0, |s| s.len() as u64);
                    }
                }
                None
            }
        }
    }

    /// Records still waiting for their verdict, counted as partial.
    pub fn finish(&mut self) {
        self.partial += self
            .pending
            .drain()
            .map(|(_, r)| r.len() as u64)
            .sum::<u64>();
    }
}

/// A frame's first bytes in tcpdump's words: `IPv4 10.0.0.1 > 10.0.0.2 ICMP`.
/// Lax: a frame cut at the snap length still names what its headers say.
pub fn summary(data: &[u8]) -> String {
    use etherparse::{LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice};
    let Ok(packet) = LaxSlicedPacket::from_ethernet(data) else {
        return "(not Ethernet)".to_owned();
    };
    let transport = match &packet.transport {
        Some(TransportSlice::Udp(u)) => {
            format!("UDP {} > {}", u.source_port(), u.destination_port())
        }
        Some(TransportSlice::Tcp(t)) => {
            format!("TCP {} > {}", t.source_port(), t.destination_port())
        }
        Some(TransportSlice::Icmpv4(i)) => format!("ICMP type {}", i.type_u8()),
        Some(TransportSlice::Icmpv6(i)) => format!("ICMPv6 type {}", i.type_u8()),
        None => String::new(),
    };
    let net = match &packet.net {
        Some(LaxNetSlice::Ipv4(ip)) => format!(
            "IPv4 {} > {} ttl {}",
            ip.header().source_addr(),
            ip.header().destination_addr(),
            ip.header().ttl()
        ),
        Some(LaxNetSlice::Ipv6(ip)) => format!(
            "IPv6 {} > {}",
            ip.header().source_addr(),
            ip.header().destination_addr()
        ),
        Some(LaxNetSlice::Arp(_)) => "ARP".to_owned(),
        None => match packet.link.as_ref() {
            Some(LinkSlice::Ethernet2(e)) => format!("ethertype 0x{:04x}", e.ether_type().0),
            _ => "(no network layer)".to_owned(),
        },
    };
    if transport.is_empty() {
        net
    } else {
        format!("{net} {transport}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cpu: u16, frame: u32, stage: u16) -> Record {
        Record {
            timestamp_ns: u64::from(stage),
            frame,
            cpu,
            stage,
            ifindex: 1,
            rx_queue: 0,
            len: 60,
            verdict: if stage == STAGE_VERDICT { 1 } else { 0 },
            data: vec![0; 4],
        }
    }

    fn bytes(r: &Record) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&r.timestamp_ns.to_ne_bytes());
        b.extend_from_slice(&r.frame.to_ne_bytes());
        b.extend_from_slice(&r.cpu.to_ne_bytes());
        b.extend_from_slice(&r.stage.to_ne_bytes());
        b.extend_from_slice(&r.ifindex.to_ne_bytes());
        b.extend_from_slice(&r.rx_queue.to_ne_bytes());
        b.extend_from_slice(&r.len.to_ne_bytes());
        b.extend_from_slice(&(r.data.len() as u32).to_ne_bytes());
        b.extend_from_slice(&r.verdict.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&r.data);
        b
    }

    #[test]
    fn a_record_parses_back_and_a_short_one_is_refused() {
        let r = record(1, 7, 2);
        assert_eq!(Record::parse(&bytes(&r)), Some(r.clone()));
        let b = bytes(&r);
        assert_eq!(Record::parse(&b[..b.len() - 1]), None);
        assert_eq!(Record::parse(&b[..10]), None);
    }

    #[test]
    fn frames_interleaved_across_cpus_come_out_whole_and_strays_are_partial() {
        let mut a = Assembler::default();
        // A stage record of a frame that entered before the entry recorder.
        assert!(a.push(record(0, 0, 2)).is_none());
        assert!(a.push(record(0, 1, STAGE_ENTRY)).is_none());
        assert!(a.push(record(1, 9, STAGE_ENTRY)).is_none());
        assert!(a.push(record(0, 1, 1)).is_none());
        assert!(a.push(record(1, 9, 1)).is_none());
        assert!(a.push(record(0, 1, 3)).is_none());
        let frame = a.push(record(0, 1, STAGE_VERDICT)).expect("cpu 0's frame");
        assert_eq!(frame.records.len(), 4);
        assert_eq!(frame.deciding_stage(), 3);
        assert_eq!(frame.stages().count(), 2);
        let frame = a.push(record(1, 9, STAGE_VERDICT)).expect("cpu 1's frame");
        assert_eq!((frame.cpu, frame.number, frame.deciding_stage()), (1, 9, 1));
        // A verdict with nothing before it: the entry recorder went in mid-frame.
        assert!(a.push(record(1, 10, STAGE_VERDICT)).is_none());
        assert!(a.push(record(0, 2, STAGE_ENTRY)).is_none());
        a.finish();
        assert_eq!(a.partial, 3);
    }

    #[test]
    fn a_summary_names_addresses_and_protocol() {
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1000, 53)
            .write(&mut frame, &[0; 8])
            .expect("frame");
        assert_eq!(
            summary(&frame),
            "IPv4 10.0.0.1 > 10.0.0.2 ttl 64 UDP 1000 > 53"
        );
        assert_eq!(summary(&[0; 4]), "(not Ethernet)");
    }
}
