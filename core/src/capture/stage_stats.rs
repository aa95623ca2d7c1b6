//! Per-stage counts and time from captured frames (`statswatch --stages`):
//! what `bpf_stats_enabled` cannot say, since it counts the entry program
//! only. A stage's time runs from its recorder to the next one (the last
//! stage's to the verdict), so it includes one recorder's cost.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{
    frames::{Frame, STAGE_ENTRY},
    Chain,
};
use crate::stats::row_label;

#[derive(Debug)]
struct Stage {
    frames: u64,
    /// Verdict → frames this stage decided.
    decided: BTreeMap<u32, u64>,
    ns: Histogram<u64>,
}

impl Stage {
    fn new() -> Self {
        Self {
            frames: 0,
            decided: BTreeMap::new(),
            // 1 ns to 10 s, 3 significant digits.
            ns: Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid histogram bounds"),
        }
    }
}

/// Frames folded into per-stage counts and time.
#[derive(Debug, Default)]
pub struct StageStats {
    stages: BTreeMap<u16, Stage>,
    pub frames: u64,
}

/// One stage's row.
#[derive(Debug, Serialize)]
pub struct StageRow {
    pub stage: u16,
    pub label: String,
    pub program: String,
    pub frames: u64,
    pub pps: f64,
    /// Frames whose verdict this stage decided, by verdict.
    pub decided: BTreeMap<String, u64>,
    /// Of all frames, the share this stage decided.
    pub decided_share: f64,
    pub ns_p50: u64,
    pub ns_p99: u64,
}

impl StageStats {
    pub fn add(&mut self, frame: &Frame) {
        self.frames += 1;
        let records = &frame.records;
        for (i, record) in records.iter().enumerate() {
            let Some(next) = records.get(i + 1) else {
                break; // the verdict record: not a stage
            };
            let stage = self.stages.entry(record.stage).or_insert_with(Stage::new);
            stage.frames += 1;
            let _ = stage
                .ns
                .record(next.timestamp_ns.saturating_sub(record.timestamp_ns).max(1));
        }
        *self
            .stages
            .entry(frame.deciding_stage())
            .or_insert_with(Stage::new)
            .decided
            .entry(frame.verdict())
            .or_default() += 1;
    }

    /// The rows, in stage order, over `seconds` of capture.
    pub fn rows(&self, chain: &Chain, seconds: f64) -> Vec<StageRow> {
        self.stages
            .iter()
            .map(|(&number, s)| {
                let (label, program) = if number == STAGE_ENTRY {
                    ("entry".to_owned(), chain.entry_name.clone())
                } else {
                    chain
                        .stages
                        .iter()
                        .find(|st| st.number == number)
                        .map_or_else(
                            || (format!("stage {number}"), "?".to_owned()),
                            |st| {
                                (
                                    format!("{}[{}]", st.map_name, st.slot),
                                    st.prog_name.clone(),
                                )
                            },
                        )
                };
                let decided_total: u64 = s.decided.values().sum();
                StageRow {
                    stage: number,
                    label,
                    program,
                    frames: s.frames,
                    pps: if seconds > 0.0 {
                        s.frames as f64 / seconds
                    } else {
                        0.0
                    },
                    decided: s.decided.iter().map(|(v, n)| (row_label(*v), *n)).collect(),
                    decided_share: if self.frames > 0 {
                        decided_total as f64 / self.frames as f64
                    } else {
                        0.0
                    },
                    ns_p50: s.ns.value_at_quantile(0.5),
                    ns_p99: s.ns.value_at_quantile(0.99),
                }
            })
            .collect()
    }
}

/// The rows as a table, a line each (statswatch --stages, status --stages).
pub fn table(rows: &[StageRow]) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "{:<14} {:<20} {:>10} {:>9} {:>9} {:>8}  decided\n",
        "stage", "program", "pps", "ns p50", "ns p99", "share"
    );
    for row in rows {
        let decided: Vec<String> = row
            .decided
            .iter()
            .map(|(verdict, n)| format!("{verdict} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "{:<14} {:<20} {:>10.0} {:>9} {:>9} {:>7.1}%  {}",
            row.label,
            row.program,
            row.pps,
            row.ns_p50,
            row.ns_p99,
            row.decided_share * 100.0,
            decided.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::frames::{Record, STAGE_VERDICT};

    fn frame(times: &[(u16, u64)], verdict: u32) -> Frame {
        Frame {
            cpu: 0,
            number: 1,
            records: times
                .iter()
                .map(|&(stage, ts)| Record {
                    timestamp_ns: ts,
                    frame: 1,
                    cpu: 0,
                    stage,
                    ifindex: 1,
                    rx_queue: 0,
                    len: 60,
                    verdict: if stage == STAGE_VERDICT { verdict } else { 0 },
                    data: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn each_stage_gets_the_time_to_the_next_record_and_the_decider_its_verdict() {
        let chain = Chain {
            entry_id: 1,
            entry_name: "entry_prog".into(),
            stages: vec![super::super::Stage {
                number: 1,
                map_id: 9,
                map_name: "jmp".into(),
                slot: 2,
                prog_id: 2,
                prog_name: "judge".into(),
            }],
            longest_path: Some(1),
        };
        let mut stats = StageStats::default();
        stats.add(&frame(&[(0, 100), (1, 130), (STAGE_VERDICT, 200)], 1));
        stats.add(&frame(&[(0, 100), (1, 140), (STAGE_VERDICT, 210)], 2));
        stats.add(&frame(&[(0, 100), (STAGE_VERDICT, 120)], 2));
        let rows = stats.rows(&chain, 1.0);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].label.as_str(), rows[0].frames), ("entry", 3));
        assert_eq!(rows[0].decided.get("XDP_PASS"), Some(&1));
        assert_eq!(rows[1].label, "jmp[2]");
        assert_eq!(rows[1].program, "judge");
        assert_eq!(rows[1].frames, 2);
        assert_eq!(rows[1].decided.get("XDP_DROP"), Some(&1));
        assert_eq!(rows[1].decided.get("XDP_PASS"), Some(&1));
        assert!((rows[1].decided_share - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(rows[1].ns_p99, 70);
        assert_eq!(rows[0].ns_p50, 30);
    }
}
