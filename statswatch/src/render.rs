//! Text output: the one-shot table, the table of one watch interval, and
//! the summary at exit. JSON is serde's, straight from the structs.

use std::fmt::Write as _;

use xdp_core::stats::ActionStats;

use crate::xdp_errors::ErrorRow;

use crate::watch::{Interval, Summary};

/// Totals, once.
pub fn totals(rows: &[ActionStats]) -> String {
    let mut out = format!("{:<14} {:>14} {:>18}\n", "action", "packets", "bytes");
    for r in rows {
        let _ = writeln!(out, "{:<14} {:>14} {:>18}", r.action, r.packets, r.bytes);
        for (cpu, rec) in r.per_cpu.iter().enumerate() {
            if rec.rx_packets != 0 || rec.rx_bytes != 0 {
                let _ = writeln!(
                    out,
                    "  cpu{:<9} {:>14} {:>18}",
                    cpu, rec.rx_packets, rec.rx_bytes
                );
            }
        }
    }
    out
}

/// One interval: totals and rates per action (and per CPU that moved).
pub fn interval(i: &Interval) -> String {
    let used_by = if i.used_by.is_empty() {
        String::new()
    } else {
        format!(" ({})", i.used_by.join(", "))
    };
    let clock = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(i.timestamp_ms).unwrap_or(u64::MAX));
    // Totals since the map was made beside rates over this interval: the
    // header says which is which.
    let mut out = format!(
        "{}{used_by} interval {} ({:.3} s, {}){}\n{:<14} {:>14} {:>12} {:>18} {:>14}\n",
        i.map,
        i.interval,
        i.seconds,
        humantime::format_rfc3339_seconds(clock),
        if i.map_replaced {
            ": a new map is pinned there, counting from zero"
        } else {
            ""
        },
        "action",
        "total packets",
        "packets/s",
        "total bytes",
        "bits/s"
    );
    // A row per action, every second: on a 4,096-entry map this loop is
    // most of a tick, so it writes columns itself (see Line).
    let mut rate = String::new();
    let mut line = Line(&mut out);
    for r in &i.actions {
        line.left(&r.action, 14)
            .space()
            .number(r.packets, 14)
            .space();
        line.right(human_into(&mut rate, r.pps), 12).space();
        line.number(r.bytes, 18).space();
        line.right(human_into(&mut rate, r.bps), 14);
        line.0
            .push_str(if r.reset { "  (counter reset)\n" } else { "\n" });
        for c in r.per_cpu.iter().filter(|c| c.packets != 0) {
            line.0.push_str("  cpu");
            let cpu = c.cpu.to_string();
            line.left(&cpu, 9).space().number(c.packets, 14).space();
            line.right(human_into(&mut rate, c.pps), 12).space();
            line.number(c.bytes, 18).space();
            line.right(human_into(&mut rate, c.bps), 14);
            line.0.push('\n');
        }
    }
    // The share of this interval's frames the program dropped (XDP_DROP and
    // XDP_ABORTED: rows 1 and 0), when any came.
    let all: f64 = i
        .actions
        .iter()
        .filter(|r| r.index < 5)
        .map(|r| r.pps)
        .sum();
    if all > 0.0 {
        let dropped: f64 = i
            .actions
            .iter()
            .filter(|r| r.index < 2)
            .map(|r| r.pps)
            .sum();
        let _ = writeln!(
            out,
            "dropped this interval: {:.1}% of {}/s (XDP_DROP and XDP_ABORTED)",
            dropped / all * 100.0,
            human_into(&mut rate, all)
        );
    }
    if let Some(errors) = &i.errors {
        if errors.is_empty() {
            out.push_str("XDP errors: none since the start\n");
        } else {
            out.push_str(&error_header("new"));
            for e in errors {
                let _ = writeln!(
                    out,
                    "{}  {:>8} {:>8}",
                    error_line(&e.row),
                    e.new_events,
                    e.new_drops
                );
            }
        }
    }
    out
}

fn error_header(extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!("  {:>8} {:>8}", format!("{extra} ev"), "drops")
    };
    format!(
        "XDP errors since the start:\n{:<21} {:<24} {:<13} {:<8} {:>10} {:>10}{extra}\n",
        "tracepoint", "interface", "action", "errno", "events", "drops"
    )
}

/// One error row: where, what, why, how many.
fn error_line(e: &ErrorRow) -> String {
    let interface = |index: i32, name: &Option<String>| match name {
        Some(name) => format!("{name}({index})"),
        None => format!("ifindex {index}"),
    };
    let mut place = interface(e.ifindex, &e.ifname);
    if let Some(to) = e.to_ifindex {
        place = format!("{place}->{}", interface(to, &e.to_ifname));
    }
    format!(
        "{:<21} {:<24} {:<13} {:<8} {:>10} {:>10}",
        e.tracepoint,
        place,
        e.action,
        e.errno.as_deref().unwrap_or("-"),
        e.events,
        e.drops
    )
}

/// The HdrHistogram summary of per-interval packet rates.
pub fn summary(s: &Summary) -> String {
    let mut out = format!(
        "packets/s over {} interval{}:\n{:<14} {:>10} {:>10} {:>10} {:>10}\n",
        s.intervals,
        if s.intervals == 1 { "" } else { "s" },
        "action",
        "p50",
        "p90",
        "p99",
        "max"
    );
    for a in &s.actions {
        let _ = writeln!(
            out,
            "{:<14} {:>10} {:>10} {:>10} {:>10}",
            a.action, a.p50, a.p90, a.p99, a.max
        );
    }
    if let Some(errors) = &s.errors {
        if errors.is_empty() {
            out.push_str("XDP errors: none\n");
        } else {
            out.push_str(&error_header(""));
            for e in errors {
                let _ = writeln!(out, "{}", error_line(e));
            }
        }
    }
    out
}

/// 1234567.0 → "1.23M": rates read at a glance.
#[cfg(test)]
fn human(value: f64) -> String {
    let mut out = String::new();
    human_into(&mut out, value);
    out
}

/// [`human`] into a buffer the caller reuses (one per table, not per cell).
fn human_into(out: &mut String, value: f64) -> &str {
    out.clear();
    let _ = match value {
        v if v >= 1e9 => write!(out, "{:.2}G", v / 1e9),
        v if v >= 1e6 => write!(out, "{:.2}M", v / 1e6),
        v if v >= 1e3 => write!(out, "{:.2}k", v / 1e3),
        v => write!(out, "{v:.0}"),
    };
    out
}

/// A table line's columns, padded with `push_str`: std's `{:>N}` writes
/// each fill character through `fmt::Write`, which was a third of a watch
/// tick on a 4,096-entry map (callgrind). The same text as `{:<N}`/`{:>N}`.
struct Line<'a>(&'a mut String);

impl Line<'_> {
    fn pad(&mut self, mut n: usize) {
        const SPACES: &str = "                        ";
        while n > 0 {
            let k = n.min(SPACES.len());
            self.0.push_str(&SPACES[..k]);
            n -= k;
        }
    }

    fn space(&mut self) -> &mut Self {
        self.0.push(' ');
        self
    }

    fn left(&mut self, text: &str, width: usize) -> &mut Self {
        self.0.push_str(text);
        self.pad(width.saturating_sub(text.chars().count()));
        self
    }

    fn right(&mut self, text: &str, width: usize) -> &mut Self {
        self.pad(width.saturating_sub(text.chars().count()));
        self.0.push_str(text);
        self
    }

    fn number(&mut self, n: u64, width: usize) -> &mut Self {
        self.right(itoa::Buffer::new().format(n), width)
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn the_watch_screen_says_what_each_column_is_who_uses_the_map_and_the_drop_share() {
        use crate::watch::{Interval, RateRow};
        let row = |index: u32, action: &str, pps: f64| RateRow {
            index,
            action: action.into(),
            packets: 10,
            bytes: 980,
            pps,
            bps: pps * 784.0,
            reset: false,
            per_cpu: Vec::new(),
        };
        let tick = Interval {
            interval: 3,
            timestamp_ms: 1_796_289_260_000,
            seconds: 1.0,
            map: "/sys/fs/bpf/stats_map".into(),
            used_by: vec!["veth1's xdp_skeleton".into()],
            map_replaced: false,
            actions: vec![
                row(0, "XDP_ABORTED", 0.0),
                row(1, "XDP_DROP", 1_000.0),
                row(2, "XDP_PASS", 3_000.0),
            ],
            errors: None,
        };
        let text = super::interval(&tick);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("/sys/fs/bpf/stats_map (veth1's xdp_skeleton) interval 3 (1.000 s, 2026-12-03T09:14:20Z)")
        );
        let header = lines.next().unwrap();
        for column in ["total packets", "packets/s", "total bytes", "bits/s"] {
            assert!(header.contains(column), "{header}");
        }
        assert!(
            text.contains("dropped this interval: 25.0% of 4.00k/s (XDP_DROP and XDP_ABORTED)"),
            "{text}"
        );
    }

    #[test]
    fn a_line_pads_as_format_does() {
        let mut out = String::new();
        let mut line = super::Line(&mut out);
        line.left("XDP_PASS", 14).space().number(12345, 14).space();
        line.right("1.50k", 12).space().left("wider than ten", 10);
        line.right("é", 3);
        assert_eq!(
            out,
            format!(
                "{:<14} {:>14} {:>12} {:<10}{:>3}",
                "XDP_PASS", 12345, "1.50k", "wider than ten", "é"
            )
        );
    }

    #[test]
    fn rates_are_human() {
        assert_eq!(human(0.4), "0");
        assert_eq!(human(999.0), "999");
        assert_eq!(human(1_500.0), "1.50k");
        assert_eq!(human(2_000_000.0), "2.00M");
        assert_eq!(human(9.9e9), "9.90G");
    }
}
