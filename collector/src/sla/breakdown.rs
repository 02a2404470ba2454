//! Views of a period's results that explain a report without deciding money: each region's own uptime (the
//! contract evaluated from that region's results alone, as if that region were the only judge: one region
//! down and one reporting suffice) and probe latency percentiles per local day.
//!
//! Latency is the `duration_ms` of successful results only: a timeout says nothing about how fast the vendor
//! answers. Percentiles use the nearest-rank method (the smallest value with at least p % of values at or below
//! it), so every figure shown is a latency that was measured.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;
use slaprobe_proto::ResultRecord;

use super::{Horizon, Period, evaluate};
use crate::contract::Contract;

/// The 50th, 95th and 99th percentile of a set of latencies, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

/// One region's view of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionView {
    /// Region label.
    pub region: String,
    /// Results from this region in the period.
    pub results: u64,
    /// Of those, failed.
    pub failed: u64,
    /// The contract's uptime as this region alone saw it (rules of `docs/sla.md`, one region).
    pub uptime_percent: Option<f64>,
    /// Down slices as this region alone saw them.
    pub down_slices: u64,
    /// Latency of this region's successful results.
    pub latency: Option<Percentiles>,
}

/// Latency of one local day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayLatency {
    /// The day in the contract's time zone.
    pub date: Date,
    /// Successful results that day.
    pub samples: u64,
    /// Their latency.
    pub latency: Option<Percentiles>,
}

/// Nearest-rank percentiles of `values`; `None` when there are none.
pub fn percentiles(values: &mut [f64]) -> Option<Percentiles> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = |percent: usize| {
        let index = (percent * values.len()).div_ceil(100).max(1) - 1;
        values[index.min(values.len() - 1)]
    };
    Some(Percentiles { p50_ms: rank(50), p95_ms: rank(95), p99_ms: rank(99) })
}

fn in_period<'a>(period: &'a Period, results: &'a [ResultRecord]) -> impl Iterator<Item = &'a ResultRecord> {
    results.iter().filter(|result| period.start <= result.started_at && result.started_at < period.end)
}

fn latencies<'a>(results: impl Iterator<Item = &'a ResultRecord>) -> Vec<f64> {
    results.filter(|result| result.ok).filter_map(|result| result.duration_ms).collect()
}

/// Each region that reported for `contract`'s checks in `period`, by region label, as known at `horizon`.
pub fn regions(contract: &Contract, period: &Period, results: &[ResultRecord], horizon: &Horizon) -> Vec<RegionView> {
    let mut by_region: BTreeMap<&str, Vec<ResultRecord>> = BTreeMap::new();
    for result in results.iter().filter(|result| contract.terms.checks.contains(&result.check_id)) {
        by_region.entry(result.region.as_str()).or_default().push(result.clone());
    }
    let mut single_judge = contract.clone();
    (single_judge.terms.min_regions_down, single_judge.min_regions_reporting) = (1, 1);
    by_region
        .into_iter()
        .map(|(region, own)| {
            let report = evaluate(&single_judge, period, &own, horizon);
            let counted: Vec<&ResultRecord> = in_period(period, &own).collect();
            RegionView {
                region: region.to_owned(),
                results: counted.len() as u64,
                failed: counted.iter().filter(|result| !result.ok).count() as u64,
                uptime_percent: report.uptime_percent,
                down_slices: report.down_slices,
                latency: percentiles(&mut latencies(counted.into_iter())),
            }
        })
        .collect()
}

/// Latency percentiles of `contract`'s checks for each local day of `period` that has results.
pub fn daily_latency(contract: &Contract, period: &Period, results: &[ResultRecord]) -> Vec<DayLatency> {
    let mut by_day: BTreeMap<Date, Vec<&ResultRecord>> = BTreeMap::new();
    for result in in_period(period, results).filter(|result| contract.terms.checks.contains(&result.check_id)) {
        by_day.entry(contract.tz.to_datetime(result.started_at).date()).or_default().push(result);
    }
    by_day
        .into_iter()
        .map(|(date, day)| {
            let mut values = latencies(day.into_iter());
            DayLatency { date, samples: values.len() as u64, latency: percentiles(&mut values) }
        })
        .collect()
}
