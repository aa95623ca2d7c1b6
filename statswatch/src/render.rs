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
    let mut out = format!(
        "{} interval {} ({:.3} s){}\n{:<14} {:>14} {:>12} {:>18} {:>14}\n",
        i.map,
        i.interval,
        i.seconds,
        if i.map_replaced {
            ": a new map is pinned there, counting from zero"
        } else {
            ""
        },
        "action",
        "packets",
        "pps",
        "bytes",
        "bits/s"
    );
    for r in &i.actions {
        let _ = writeln!(
            out,
            "{:<14} {:>14} {:>12} {:>18} {:>14}{}",
            r.action,
            r.packets,
            human(r.pps),
            r.bytes,
            human(r.bps),
            if r.reset { "  (counter reset)" } else { "" }
        );
        for c in r.per_cpu.iter().filter(|c| c.packets != 0) {
            let _ = writeln!(
                out,
                "  cpu{:<9} {:>14} {:>12} {:>18} {:>14}",
                c.cpu,
                c.packets,
                human(c.pps),
                c.bytes,
                human(c.bps)
            );
        }
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
fn human(value: f64) -> String {
    match value {
        v if v >= 1e9 => format!("{:.2}G", v / 1e9),
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.2}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn rates_are_human() {
        assert_eq!(human(0.4), "0");
        assert_eq!(human(999.0), "999");
        assert_eq!(human(1_500.0), "1.50k");
        assert_eq!(human(2_000_000.0), "2.00M");
        assert_eq!(human(9.9e9), "9.90G");
    }
}
