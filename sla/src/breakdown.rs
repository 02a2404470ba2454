//! Views of a period that explain a report without deciding money: each region's own uptime (the contract
//! evaluated from that region's results alone, as if that region were the only judge: one region down and one
//! reporting suffice) and probe latency percentiles per region and per local day.
//!
//! Latency is the `duration_ms` of successful results only: a timeout says nothing about how fast the vendor
//! answers. Percentiles are nearest-rank (the smallest value with at least p % of values at or below it), read
//! from latency sketches ([`super::latency`]), so every figure is within 1 % of a latency that was measured and
//! costs the same whether a month holds a thousand results or a million. A slice's latencies count to the local
//! day its slice starts in.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::latency::{LatencySketch, SketchBins};
use super::{Evaluation, Horizon};
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
    /// Results from this region in the period that vote (its checks are assigned to it).
    pub results: u64,
    /// Of those, failed (rule 3, `slow_ms` included).
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

/// The latencies of the slices within a span, gathered per region and local day as slices or results come in,
/// in any order; see the module documentation.
#[derive(Debug, Clone)]
pub struct Breakdown {
    from: Timestamp,
    until: Timestamp,
    regions: BTreeMap<String, LatencySketch>,
    days: BTreeMap<Date, LatencySketch>,
}

impl Breakdown {
    /// Nothing gathered yet of the slices within `[from, until)`.
    pub fn new((from, until): (Timestamp, Timestamp)) -> Self {
        Self { from, until, regions: BTreeMap::new(), days: BTreeMap::new() }
    }

    /// Whether the slice `[start, end)` is one of those gathered.
    pub fn covers(&self, start: Timestamp, end: Timestamp) -> bool {
        self.from <= start && end <= self.until
    }

    /// Adds one successful result's latency `ms`, from `region`, in the slice starting at `slice_start`.
    pub fn add_latency(&mut self, contract: &Contract, slice_start: Timestamp, region: &str, ms: f64) {
        self.sketches(contract, slice_start, region).into_iter().for_each(|sketch| sketch.add(ms));
    }

    /// Adds a stored sketch of `region`'s latencies in the slice starting at `slice_start`.
    pub fn add_sketch(&mut self, contract: &Contract, slice_start: Timestamp, region: &str, bins: &SketchBins) {
        self.sketches(contract, slice_start, region).into_iter().for_each(|sketch| sketch.merge_bins(bins));
    }

    /// The sketches a latency of `region` in the slice starting at `slice_start` goes into.
    fn sketches(&mut self, contract: &Contract, slice_start: Timestamp, region: &str) -> [&mut LatencySketch; 2] {
        if !self.regions.contains_key(region) {
            self.regions.insert(region.to_owned(), LatencySketch::default());
        }
        let day = contract.tz.to_datetime(slice_start).date();
        let by_region = self.regions.get_mut(region).expect("just inserted");
        [by_region, self.days.entry(day).or_default()]
    }

    /// Each region that reported in `evaluation`, by name, as known at `horizon`, and each local day that had
    /// successful results, in order.
    pub fn finish(self, evaluation: &Evaluation<'_>, horizon: &Horizon) -> (Vec<RegionView>, Vec<DayLatency>) {
        let slices = evaluation.slices_within(self.from, self.until);
        let mut judge = evaluation.contract().clone();
        (judge.terms.min_regions_down, judge.min_regions_reporting) = (1, 1);
        let mut names: Vec<&String> = evaluation.regions().iter().collect();
        names.sort();
        let regions = names
            .into_iter()
            .filter_map(|region| {
                let (results, failed) = evaluation.region_totals(region, slices.clone());
                let report = evaluation.of_region(&judge, region)?.report(horizon);
                Some(RegionView {
                    region: region.clone(),
                    results,
                    failed,
                    uptime_percent: report.uptime_percent,
                    down_slices: report.down_slices,
                    latency: self.regions.get(region).and_then(LatencySketch::percentiles),
                })
            })
            .collect();
        let days = (self.days.into_iter())
            .map(|(date, sketch)| DayLatency { date, samples: sketch.count(), latency: sketch.percentiles() })
            .collect();
        (regions, days)
    }
}
