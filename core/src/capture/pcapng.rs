//! The capture file: pcapng, which Wireshark and tshark read. One interface
//! block per stage (`veth1 entry`, `veth1 jmp_table[1] parse_ip`, …, and
//! `veth1 verdict` for the frame as the chain let it go), so a display
//! filter on `frame.interface_name` picks a stage; every packet carries a
//! comment with its frame, stage and the chain's verdict and deciding stage
//! (`frame.comment` in tshark).

use std::{borrow::Cow, io::Write, time::Duration};

use pcap_file::{
    pcapng::{
        blocks::{
            enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption},
            interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
        },
        PcapNgWriter,
    },
    DataLink,
};

use super::{
    frames::{Frame, STAGE_ENTRY, STAGE_VERDICT},
    Chain,
};
use crate::stats::row_label;

/// A pcapng writer of whole frames, its interfaces named after `chain`.
pub struct CaptureFile<W: Write> {
    writer: PcapNgWriter<W>,
    stages: usize,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC, ns: records carry the latter.
    realtime_offset_ns: u64,
}

impl<W: Write> std::fmt::Debug for CaptureFile<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureFile")
            .field("stages", &self.stages)
            .finish_non_exhaustive()
    }
}

impl<W: Write> CaptureFile<W> {
    pub fn new(
        out: W,
        iface: &str,
        chain: &Chain,
        snaplen: u32,
        realtime_offset_ns: u64,
    ) -> Result<Self, pcap_file::PcapError> {
        let mut writer = PcapNgWriter::new(out)?;
        let names = std::iter::once((
            format!("{iface} entry"),
            format!("{} as the chain receives it", chain.entry_name),
        ))
        .chain(chain.stages.iter().map(|s| {
            (
                format!("{iface} {}", s.label()),
                format!("stage {}: what {} receives", s.number, s.prog_name),
            )
        }))
        .chain(std::iter::once((
            format!("{iface} verdict"),
            "the frame as the chain lets it go, with its verdict".to_owned(),
        )));
        for (name, description) in names {
            writer.write_pcapng_block(InterfaceDescriptionBlock {
                linktype: DataLink::ETHERNET,
                snaplen,
                options: vec![
                    InterfaceDescriptionOption::IfName(Cow::Owned(name)),
                    InterfaceDescriptionOption::IfDescription(Cow::Owned(description)),
                    // Nanoseconds, as the recorders take them.
                    InterfaceDescriptionOption::IfTsResol(9),
                ],
            })?;
        }
        Ok(Self {
            writer,
            stages: chain.stages.len(),
            realtime_offset_ns,
        })
    }

    /// The interface block a record's stage went to.
    fn interface(&self, stage: u16) -> u32 {
        match stage {
            STAGE_ENTRY => 0,
            STAGE_VERDICT => self.stages as u32 + 1,
            n => u32::from(n).min(self.stages as u32),
        }
    }

    /// Writes every record of `frame`, each with its comment; `label` names
    /// a stage by number.
    pub fn write(
        &mut self,
        frame: &Frame,
        label: impl Fn(u16) -> String,
    ) -> Result<(), pcap_file::PcapError> {
        let verdict = row_label(frame.verdict());
        let decided = label(frame.deciding_stage());
        for record in &frame.records {
            let comment = format!(
                "frame {}/{} {}; verdict {verdict} by {decided}",
                frame.cpu,
                frame.number,
                label(record.stage),
            );
            self.writer.write_pcapng_block(EnhancedPacketBlock {
                interface_id: self.interface(record.stage),
                timestamp: Duration::from_nanos(record.timestamp_ns + self.realtime_offset_ns),
                original_len: record.len,
                data: Cow::Borrowed(&record.data),
                options: vec![EnhancedPacketOption::Comment(Cow::Owned(comment))],
            })?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.writer.get_mut().flush()
    }
}
