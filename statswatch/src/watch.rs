//! Watch mode: a sample each interval, rates since the last one, counter
//! resets told apart from traffic, and an HdrHistogram of each action's
//! per-interval packet rate for the summary at exit.

use std::{
    path::Path,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use hdrhistogram::Histogram;
use serde::Serialize;
use xdp_core::{
    state::InterfaceNames,
    stats::{ActionStats, StatsError, StatsMap},
};

use crate::xdp_errors::{ErrorCounters, ErrorRow, XdpErrorsError};

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Stats(#[from] StatsError),
    #[error(transparent)]
    Errors(#[from] XdpErrorsError),
}

/// Counters read at one instant.
#[derive(Debug)]
pub struct Sample {
    at: Instant,
    rows: Vec<ActionStats>,
}

/// One CPU's share of a row over an interval.
#[derive(Debug, Serialize)]
pub struct CpuRate {
    pub cpu: usize,
    pub packets: u64,
    pub bytes: u64,
    pub pps: f64,
    pub bps: f64,
}

/// One action over one interval: totals now, and rates since the last sample.
#[derive(Debug, Serialize)]
pub struct RateRow {
    pub index: u32,
    pub action: String,
    pub packets: u64,
    pub bytes: u64,
    /// Packets per second over the interval.
    pub pps: f64,
    /// Bits per second over the interval.
    pub bps: f64,
    /// The counters went down (map recreated, program reloaded): the rate
    /// counts from zero, not from the old value.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_cpu: Vec<CpuRate>,
}

/// One interval: what `--json` prints as one NDJSON line.
#[derive(Debug, Serialize)]
pub struct Interval {
    /// 1 for the first interval.
    pub interval: u64,
    /// Wall-clock time of the sample, milliseconds since the Unix epoch.
    pub timestamp_ms: u128,
    /// Length of the interval, from the monotonic clock.
    pub seconds: f64,
    pub map: String,
    /// The loads of ours whose program uses the map ("veth1's xdp_skeleton").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<String>,
    /// A different map is pinned at the path now (reloaded with a new map):
    /// it is read from here on.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub map_replaced: bool,
    pub actions: Vec<RateRow>,
    /// With --errors: every error key seen since the start, with what this
    /// interval added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ErrorDelta>>,
}

/// An XDP error row: totals since statswatch attached, and this interval's share.
#[derive(Debug, Serialize)]
pub struct ErrorDelta {
    #[serde(flatten)]
    pub row: ErrorRow,
    pub new_events: u64,
    pub new_drops: u64,
}

/// Reads the map, following the pin if a reload put a new map there.
#[derive(Debug)]
pub struct Watcher {
    map: StatsMap,
    per_cpu: bool,
    last: Sample,
    intervals: u64,
    rates: Vec<(String, RateHistogram)>,
    /// Where each action's histogram is in `rates`.
    rate_slots: std::collections::HashMap<String, usize>,
    /// With --errors: the counters and their last reading.
    errors: Option<(ErrorCounters, Vec<ErrorRow>)>,
    names: InterfaceNames,
    /// Who uses the map, read again when a new one is pinned.
    used_by: Vec<String>,
}

impl Watcher {
    pub fn new(
        map: StatsMap,
        per_cpu: bool,
        errors: Option<ErrorCounters>,
    ) -> Result<Self, WatchError> {
        let last = sample(&map, per_cpu)?;
        Ok(Self {
            per_cpu,
            last,
            intervals: 0,
            rates: Vec::new(),
            rate_slots: std::collections::HashMap::new(),
            names: InterfaceNames::for_pins(map.path()),
            used_by: used_by(&map),
            map,
            errors: errors.map(|counters| (counters, Vec::new())),
        })
    }

    /// Samples now and returns the interval since the previous sample.
    pub fn tick(&mut self) -> Result<Interval, WatchError> {
        let path = self.map.path().to_owned();
        let map_replaced = StatsMap::pinned_id(&path).is_some_and(|id| id != self.map.id());
        if map_replaced {
            self.map = StatsMap::open(&path)?;
            self.names = InterfaceNames::for_pins(&path);
            self.used_by = used_by(&self.map);
        }
        let now = sample(&self.map, self.per_cpu)?;
        let seconds = now.at.duration_since(self.last.at).as_secs_f64().max(1e-9);
        // Rows come in index order every time: the same position is the
        // same row, looked for elsewhere only if not (a 4,096-entry map
        // would otherwise cost 16M comparisons a tick).
        let actions: Vec<RateRow> = now
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let before = if map_replaced {
                    None
                } else {
                    self.last
                        .rows
                        .get(i)
                        .filter(|r| r.index == row.index)
                        .or_else(|| self.last.rows.iter().find(|r| r.index == row.index))
                };
                rate_row(row, before, seconds)
            })
            .collect();
        for (i, row) in actions.iter().enumerate() {
            let pps = row.pps.round() as u64;
            let known = match self.rates.get(i) {
                Some((action, _)) if *action == row.action => Some(i),
                _ => self.rate_slots.get(&row.action).copied(),
            };
            match known.map(|k| &mut self.rates[k]) {
                Some((_, histogram)) => histogram.record(pps),
                None => {
                    let mut histogram = RateHistogram::new();
                    histogram.record(pps);
                    self.rate_slots.insert(row.action.clone(), self.rates.len());
                    self.rates.push((row.action.clone(), histogram));
                }
            }
        }
        let errors = match &mut self.errors {
            Some((counters, last)) => {
                let now = counters.read(&self.names)?;
                let deltas = error_deltas(&now, last);
                *last = now;
                Some(deltas)
            }
            None => None,
        };
        self.intervals += 1;
        self.last = now;
        Ok(Interval {
            interval: self.intervals,
            timestamp_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_millis(),
            seconds,
            map: path.display().to_string(),
            used_by: self.used_by.clone(),
            map_replaced,
            actions,
            errors,
        })
    }

    /// Percentiles of each action's per-interval packet rate.
    pub fn summary(&self) -> Summary {
        Summary {
            intervals: self.intervals,
            actions: self
                .rates
                .iter()
                .map(|(action, h)| h.summary(action))
                .collect(),
            errors: self.errors.as_ref().map(|(_, rows)| rows.clone()),
        }
    }

    pub fn path(&self) -> &Path {
        self.map.path()
    }
}

/// One action's per-interval packet rates. Two significant digits (1%)
/// are plenty for rate percentiles, and a tenth of the memory of three: a
/// 4,096-entry map keeps one of these a row. It grows to the largest rate
/// seen: hdrhistogram's `saturating_record` clamps to the range it has
/// (2 for `Histogram::new`) instead, which summarised 5,000 pps as 2.
#[derive(Debug)]
struct RateHistogram(Histogram<u64>);

impl RateHistogram {
    fn new() -> Self {
        Self(Histogram::new(2).expect("2 significant digits is a valid precision"))
    }

    fn record(&mut self, pps: u64) {
        // An auto-resizing histogram only refuses what no resize can hold
        // (beyond u64's range at this precision): then it saturates.
        if self.0.record(pps).is_err() {
            self.0.saturating_record(pps);
        }
    }

    fn summary(&self, action: &str) -> RateSummary {
        let h = &self.0;
        RateSummary {
            action: action.to_owned(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// Which loads of ours use `map`, from the records in its pin directory
/// (`<pin-dir>/stats_map` or `<pin-dir>/<iface>/stats_map`).
fn used_by(map: &StatsMap) -> Vec<String> {
    map.path()
        .ancestors()
        .skip(1)
        .take(2)
        .flat_map(|dir| {
            xdp_core::state::users_of_map(&xdp_core::state::PinLayout::new(dir), map.id(), &[])
        })
        .collect()
}

fn sample(map: &StatsMap, per_cpu: bool) -> Result<Sample, StatsError> {
    Ok(Sample {
        at: Instant::now(),
        rows: map.read(per_cpu)?,
    })
}

/// Rates of `row` since `before`. A counter below its previous value was
/// reset: what it holds now was counted since then.
fn rate_row(row: &ActionStats, before: Option<&ActionStats>, seconds: f64) -> RateRow {
    let delta = |now: u64, then: Option<u64>| match then {
        Some(then) if now >= then => (now - then, false),
        Some(_) => (now, true),
        None => (now, false),
    };
    let (packets, packets_reset) = delta(row.packets, before.map(|b| b.packets));
    let (bytes, bytes_reset) = delta(row.bytes, before.map(|b| b.bytes));
    let per_cpu = row
        .per_cpu
        .iter()
        .enumerate()
        .map(|(cpu, rec)| {
            let then = before.and_then(|b| b.per_cpu.get(cpu));
            let (p, _) = delta(rec.rx_packets, then.map(|t| t.rx_packets));
            let (b, _) = delta(rec.rx_bytes, then.map(|t| t.rx_bytes));
            CpuRate {
                cpu,
                packets: rec.rx_packets,
                bytes: rec.rx_bytes,
                pps: p as f64 / seconds,
                bps: b as f64 * 8.0 / seconds,
            }
        })
        .collect();
    RateRow {
        index: row.index,
        action: row.action.clone(),
        packets: row.packets,
        bytes: row.bytes,
        pps: packets as f64 / seconds,
        bps: bytes as f64 * 8.0 / seconds,
        reset: packets_reset || bytes_reset,
        per_cpu,
    }
}

/// What each error row added since the last reading. The tracer's map only
/// grows while statswatch runs, so a key absent before counts from zero.
fn error_deltas(now: &[ErrorRow], before: &[ErrorRow]) -> Vec<ErrorDelta> {
    now.iter()
        .map(|row| {
            let then = before.iter().find(|b| b.same_key(row));
            ErrorDelta {
                row: row.clone(),
                new_events: row.events.saturating_sub(then.map_or(0, |t| t.events)),
                new_drops: row.drops.saturating_sub(then.map_or(0, |t| t.drops)),
            }
        })
        .collect()
}

/// How steady each action's packet rate was over the watch.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub intervals: u64,
    pub actions: Vec<RateSummary>,
    /// With --errors: the error totals over the whole watch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ErrorRow>>,
}

#[derive(Debug, Serialize)]
pub struct RateSummary {
    pub action: String,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_summaries_hold_rates_from_ten_to_ten_million_pps() {
        for rate in [
            10u64, 100, 1_000, 5_000, 10_000, 100_000, 1_000_000, 10_000_000,
        ] {
            let mut h = RateHistogram::new();
            // A steady rate, then one interval at twice it.
            for _ in 0..9 {
                h.record(rate);
            }
            h.record(rate * 2);
            let s = h.summary("XDP_PASS");
            let near = |v: u64, want: u64| v.abs_diff(want) * 100 <= want; // 1%
            assert!(near(s.p50, rate), "{rate} pps: p50 {}", s.p50);
            assert!(near(s.max, rate * 2), "{rate} pps: max {}", s.max);
            let mean = rate as f64 * 1.1;
            assert!(
                (s.mean - mean).abs() <= mean / 100.0,
                "{rate} pps: mean {}",
                s.mean
            );
        }
    }
    use xdp_core::stats::Datarec;

    fn row(packets: u64, bytes: u64) -> ActionStats {
        ActionStats {
            index: 2,
            action: "XDP_PASS".into(),
            packets,
            bytes,
            per_cpu: vec![Datarec {
                rx_packets: packets,
                rx_bytes: bytes,
            }],
        }
    }

    #[test]
    fn rates_are_deltas_over_the_interval() {
        let r = rate_row(&row(300, 30_000), Some(&row(100, 10_000)), 2.0);
        assert_eq!((r.pps, r.bps, r.reset), (100.0, 80_000.0, false));
        assert_eq!(r.per_cpu[0].pps, 100.0);
    }

    #[test]
    fn a_counter_that_went_down_is_a_reset_not_a_negative_rate() {
        let r = rate_row(&row(5, 500), Some(&row(1_000, 100_000)), 1.0);
        assert!(r.reset);
        assert_eq!((r.pps, r.bps), (5.0, 4_000.0));
    }
}
