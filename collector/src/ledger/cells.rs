//! What the ledger keeps of one slice: per region, agent and check, how many results there were and how many failed
//! (and how many of each arrived late), per agent and control check the same of its control probes (rule 10), the
//! earliest failures as incident samples, and the results that do not vote here. These are exactly the inputs of rules
//! 3–5 and 9: the engine judges a slice from them as it judges raw results ([`slaprobe_sla::observations`]), so a
//! report read from the ledger is the report computed from the raw results.
//!
//! Beside the cells, each slice keeps a latency sketch per region of the successful results of the contract's
//! checks ([`SliceLatency`]), which the period view's per-day and per-region percentiles are merged from; reports
//! do not read them.
//!
//! Cells are stored as a protobuf message (compact, fast to decode, and readable by any protobuf tool); checks
//! are their index in the contract's `checks`, which the terms hash covers. A cell's region and agent are
//! protobuf strings read as bytes that point into the row (a month of one-minute slices from 15 regions holds
//! 1.3 million of them: copying each out was a third of a claim report's time), and checked to be text where
//! they are used ([`Cell::region_and_agent`]).

use std::collections::BTreeMap;

use jiff::Timestamp;
use prost::Message;
use prost::bytes::Bytes;
use slaprobe_proto::ResultRecord;

use crate::store::LedgerSlice;
use crate::store::columns::nanos;
use slaprobe_sla::contract::Contract;
use slaprobe_sla::grid::Grid;
use slaprobe_sla::latency::{LatencySketch, SketchBins};
use slaprobe_sla::observations::{Sample, failure, keep_earliest};

/// One slice's cells.
#[derive(Clone, PartialEq, Message)]
pub struct SliceCells {
    /// Per region, agent and check.
    #[prost(message, repeated, tag = "1")]
    pub cells: Vec<Cell>,
    /// The earliest failures (at most three), as incident samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<SampleCell>,
    /// Results from regions their check is not assigned to: they do not vote.
    #[prost(uint64, tag = "3")]
    pub ignored: u64,
    /// Of those, the ones that arrived late.
    #[prost(uint64, tag = "4")]
    pub ignored_late: u64,
    /// Per agent and control check, its control probes.
    #[prost(message, repeated, tag = "5")]
    pub controls: Vec<ControlCell>,
}

/// The results of one control check from one agent in one slice.
#[derive(Clone, PartialEq, Message)]
pub struct ControlCell {
    /// The agent (a protobuf string; empty for results without one).
    #[prost(bytes = "bytes", tag = "1")]
    pub agent: Bytes,
    /// The control check's id.
    #[prost(string, tag = "2")]
    pub check: String,
    /// Results.
    #[prost(uint32, tag = "3")]
    pub total: u32,
    /// Failed results.
    #[prost(uint32, tag = "4")]
    pub failed: u32,
}

/// The results of one check from one agent in one slice.
#[derive(Clone, PartialEq, Message)]
pub struct Cell {
    /// The region (a protobuf string).
    #[prost(bytes = "bytes", tag = "1")]
    pub region: Bytes,
    /// The agent (a protobuf string; empty for results without one).
    #[prost(bytes = "bytes", tag = "2")]
    pub agent: Bytes,
    /// The check, as its index in the contract's checks.
    #[prost(uint32, tag = "3")]
    pub check: u32,
    /// Results.
    #[prost(uint32, tag = "4")]
    pub total: u32,
    /// Failed results (rule 3, `slow_ms` included).
    #[prost(uint32, tag = "5")]
    pub failed: u32,
    /// Results that arrived late (flagged `late`).
    #[prost(uint32, tag = "6")]
    pub late_total: u32,
    /// Failed results among those.
    #[prost(uint32, tag = "7")]
    pub late_failed: u32,
}

impl Cell {
    /// The cell's region and agent, or the first that is not UTF-8 text.
    pub fn region_and_agent(&self) -> Result<(&str, &str), std::str::Utf8Error> {
        Ok((std::str::from_utf8(&self.region)?, std::str::from_utf8(&self.agent)?))
    }
}

/// A failure kept as an incident sample.
#[derive(Clone, PartialEq, Message)]
pub struct SampleCell {
    /// When the attempt started, nanoseconds since the epoch.
    #[prost(int64, tag = "1")]
    pub started_at_ns: i64,
    /// The check, as its index in the contract's checks.
    #[prost(uint32, tag = "2")]
    pub check: u32,
    /// Its error.
    #[prost(string, tag = "3")]
    pub error: String,
}

/// One slice's latency sketches, per region.
#[derive(Clone, PartialEq, Message)]
pub struct SliceLatency {
    /// Per region that had successful results, by region.
    #[prost(message, repeated, tag = "1")]
    pub regions: Vec<RegionLatency>,
}

/// The latency of one region's successful results of the contract's checks in one slice.
#[derive(Clone, PartialEq, Message)]
pub struct RegionLatency {
    /// The region (a protobuf string).
    #[prost(bytes = "bytes", tag = "1")]
    pub region: Bytes,
    /// Its sketch.
    #[prost(message, optional, tag = "2")]
    pub sketch: Option<SketchBins>,
}

impl SliceLatency {
    /// The sketches a stored row holds (none for a row read without them); their regions point into `latency`.
    pub fn decode_row(latency: Vec<u8>) -> Result<Self, prost::DecodeError> {
        Self::decode(Bytes::from(latency))
    }
}

impl SliceCells {
    /// The cells a stored row holds; their regions and agents point into `cells`.
    pub fn decode_row(cells: Vec<u8>) -> Result<Self, prost::DecodeError> {
        Self::decode(Bytes::from(cells))
    }

    /// Each sample as the engine takes it.
    pub fn samples(&self) -> impl Iterator<Item = (Timestamp, usize, &str)> {
        self.samples.iter().filter_map(|sample| {
            let started_at = Timestamp::from_nanosecond(i128::from(sample.started_at_ns)).ok()?;
            Some((started_at, sample.check as usize, sample.error.as_str()))
        })
    }
}

/// A slice being folded.
#[derive(Default)]
struct Folding {
    cells: SliceCells,
    samples: Vec<Sample>,
    latency: Vec<(Bytes, LatencySketch)>,
}

/// The slices of some grids being folded from raw results: every slice is keyed by its interval, so a slice two
/// grids share (the margin of one period is the start of the next) is folded once.
pub struct Fold<'a> {
    contract: &'a Contract,
    grids: Vec<(Grid, std::ops::Range<usize>)>,
    slices: BTreeMap<(Timestamp, Timestamp), Folding>,
    /// Every region and agent name met, once: each slice's cells and sketches share them.
    names: Vec<Bytes>,
}

impl<'a> Fold<'a> {
    /// Folds the slices `range` of each grid.
    pub fn new(contract: &'a Contract, grids: Vec<(Grid, std::ops::Range<usize>)>) -> Self {
        Self { contract, grids, slices: BTreeMap::new(), names: Vec::new() }
    }

    /// `text` as a name shared with every cell that has it.
    fn name(names: &mut Vec<Bytes>, text: &str) -> Bytes {
        match names.iter().find(|name| *name == text.as_bytes()) {
            Some(name) => name.clone(),
            None => {
                let name = Bytes::copy_from_slice(text.as_bytes());
                names.push(name.clone());
                name
            }
        }
    }

    /// Takes one raw result in (`late`: it arrived late); one of another check or off the slices is left out, a
    /// control probe's is counted for its agent.
    pub fn add(&mut self, result: &ResultRecord, late: bool) {
        let check = self.contract.terms.checks.iter().position(|id| *id == result.check_id);
        if check.is_none() && !result.control {
            return;
        }
        let key_in = |(grid, range): &(Grid, std::ops::Range<usize>)| {
            let slice = grid.index_of(result.started_at).filter(|slice| range.contains(slice))?;
            Some((grid.slice_start(slice), grid.slice_end(slice)))
        };
        // Each slice once, where two grids share it (there are a few grids: no list is made for each result).
        let keys = (self.grids.iter().enumerate())
            .filter_map(|(index, grid)| Some((index, key_in(grid)?)))
            .filter(|(index, key)| !self.grids[..*index].iter().any(|earlier| key_in(earlier) == Some(*key)))
            .map(|(_, key)| key);
        let (Some(check), false) = (check, result.control) else {
            for key in keys {
                Self::add_control(&mut self.slices, &mut self.names, key, result);
            }
            return;
        };
        let admitted = self.contract.admits(&result.check_id, &result.region);
        let failure = admitted.then(|| failure(self.contract, result)).flatten();
        for key in keys {
            let folding = self.slices.entry(key).or_default();
            if !admitted {
                folding.cells.ignored += 1;
                folding.cells.ignored_late += u64::from(late);
                continue;
            }
            let agent = result.agent_id.as_deref().unwrap_or_default();
            let index = folding.cells.cells.iter().position(|cell| {
                cell.check as usize == check
                    && cell.region == result.region.as_bytes()
                    && cell.agent == agent.as_bytes()
            });
            let cell = match index {
                Some(index) => &mut folding.cells.cells[index],
                None => {
                    folding.cells.cells.push(Cell {
                        region: Self::name(&mut self.names, &result.region),
                        agent: Self::name(&mut self.names, agent),
                        check: u32::try_from(check).unwrap_or(u32::MAX),
                        ..Cell::default()
                    });
                    folding.cells.cells.last_mut().expect("just pushed")
                }
            };
            let failed = u32::from(failure.is_some());
            cell.total += 1;
            cell.failed += failed;
            cell.late_total += u32::from(late);
            cell.late_failed += failed * u32::from(late);
            if let Some(error) = &failure {
                keep_earliest(&mut folding.samples, result.started_at, check, error.clone());
            }
            if let Some(ms) = successful_latency(result) {
                match folding.latency.iter_mut().find(|(region, _)| *region == result.region.as_bytes()) {
                    Some((_, sketch)) => sketch.add(ms),
                    None => {
                        let mut sketch = LatencySketch::default();
                        sketch.add(ms);
                        folding.latency.push((Self::name(&mut self.names, &result.region), sketch));
                    }
                }
            }
        }
    }

    /// Counts a control probe's result in the slice `key`.
    fn add_control(
        slices: &mut BTreeMap<(Timestamp, Timestamp), Folding>,
        names: &mut Vec<Bytes>,
        key: (Timestamp, Timestamp),
        result: &ResultRecord,
    ) {
        let agent = result.agent_id.as_deref().unwrap_or_default();
        let folding = slices.entry(key).or_default();
        let controls = &mut folding.cells.controls;
        let index = controls.iter().position(|cell| cell.check == result.check_id && cell.agent == agent.as_bytes());
        let cell = match index {
            Some(index) => &mut controls[index],
            None => {
                let agent = Self::name(names, agent);
                controls.push(ControlCell { agent, check: result.check_id.clone(), ..ControlCell::default() });
                controls.last_mut().expect("just pushed")
            }
        };
        cell.total += 1;
        cell.failed += u32::from(!result.ok);
    }

    /// The folded slices that had results, as rows for the store.
    pub fn finish(self) -> Vec<LedgerSlice> {
        self.slices
            .into_iter()
            .map(|((start, end), mut folding)| {
                folding.cells.samples = folding
                    .samples
                    .into_iter()
                    .map(|sample| SampleCell {
                        started_at_ns: nanos(sample.started_at),
                        check: u32::try_from(sample.check).unwrap_or(u32::MAX),
                        error: sample.error,
                    })
                    .collect();
                folding.latency.sort_by(|(one, _), (other, _)| one.cmp(other));
                let latency = SliceLatency {
                    regions: (folding.latency.into_iter())
                        .map(|(region, sketch)| RegionLatency { region, sketch: Some(sketch.bins()) })
                        .collect(),
                };
                LedgerSlice { start, end, cells: folding.cells.encode_to_vec(), latency: latency.encode_to_vec() }
            })
            .collect()
    }
}

/// The latency of `result` when it succeeded: what the period view's percentiles are made of (a timeout says
/// nothing about how fast the vendor answers).
pub fn successful_latency(result: &ResultRecord) -> Option<f64> {
    result.ok.then_some(result.duration_ms).flatten()
}
