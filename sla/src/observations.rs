//! Results laid out on a contract's slice grid (rules 2–3 and 10): per (region, agent, check, slice) how many
//! results there were and how many failed, the earliest failures of each slice as incident samples, and per
//! (agent, control check, slice) the same counts of the agents' control probes, and the slices rule 11 set an
//! agent's results aside in ([`Observations::add_fault`]). Rules 3 and 4 are read off it
//! ([`Observations::region_vote`]), without the results of an agent in a slice its controls or rule 11 made
//! inconclusive ([`Observations::inconclusive`]).
//!
//! Results are added one at a time, in any order, so a report can be made while a results file streams past:
//! the memory it takes grows with the slices, regions and agents of the period, not with the number of results.

use std::borrow::Cow;
use std::collections::HashMap;

use jiff::Timestamp;
use rust_decimal::Decimal;
use slaprobe_proto::ResultRecord;

use super::grid::Grid;
use crate::contract::{Combine, Contract};

/// Failed results kept per slice as incident samples: the earliest ones.
const SAMPLES_PER_SLICE: usize = 3;

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    total: u32,
    failed: u32,
}

impl Counts {
    /// Rule 3: `None` without results, else whether they are down at `ratio`.
    fn down(self, ratio: Decimal) -> Option<bool> {
        (self.total > 0).then(|| Decimal::from(self.failed) >= ratio * Decimal::from(self.total))
    }
}

/// A failed result kept for incident reports.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When the attempt started.
    pub started_at: Timestamp,
    /// The check, as its index in the contract's checks.
    pub check: usize,
    /// Its error, or what made it count as failed.
    pub error: String,
}

/// One agent's results from one region: a row of `checks × slices` counts.
#[derive(Debug, Clone)]
struct Source {
    agent: usize,
    counts: Vec<Counts>,
}

/// One agent's results of one control check: `slices` counts.
#[derive(Debug, Clone)]
struct ControlRow {
    counts: Vec<Counts>,
}

/// Results on the grid; see the module documentation.
#[derive(Debug, Clone)]
pub struct Observations {
    /// The regions that reported, in order of arrival.
    pub regions: Vec<String>,
    region_index: HashMap<String, usize>,
    /// The agents that reported (results or controls), numbered in order of arrival; `""` for results without
    /// one.
    agent_index: HashMap<String, usize>,
    /// Per region, its sources (indices into `sources`).
    region_sources: Vec<Vec<usize>>,
    sources: Vec<Source>,
    source_index: HashMap<(usize, usize), usize>,
    /// Per (agent, control check id), its row in `controls`.
    control_index: HashMap<(usize, String), usize>,
    controls: Vec<ControlRow>,
    /// Per agent, its rows in `controls`.
    agent_controls: Vec<Vec<usize>>,
    /// Per agent, the covered slices rule 11 set its results aside in (empty for an agent without any).
    faulted: Vec<Vec<bool>>,
    /// The failed ratio controls are judged with (the contract's, without `slow_ms`).
    failed_ratio: Decimal,
    checks: usize,
    /// The slices of the grid laid out: `first..first + slices`.
    first: usize,
    slices: usize,
    grid_slices: usize,
    samples: Vec<Vec<Sample>>,
    has_data: Vec<bool>,
    /// Results laid out.
    pub used: u64,
    /// Results of other checks, or from regions the contract's checks are not assigned to.
    pub ignored: u64,
}

impl Observations {
    /// Nothing observed yet over `grid`'s slices.
    pub fn new(contract: &Contract, grid: &Grid) -> Self {
        Self::over(contract, grid, 0..grid.slices())
    }

    /// Nothing observed yet over the slices `covered` of `grid` (results in other slices are left out).
    pub fn over(contract: &Contract, grid: &Grid, covered: std::ops::Range<usize>) -> Self {
        let grid_slices = grid.slices();
        let first = covered.start.min(grid_slices);
        let slices = covered.end.min(grid_slices).saturating_sub(first);
        Self {
            regions: Vec::new(),
            region_index: HashMap::new(),
            agent_index: HashMap::new(),
            region_sources: Vec::new(),
            sources: Vec::new(),
            source_index: HashMap::new(),
            control_index: HashMap::new(),
            controls: Vec::new(),
            agent_controls: Vec::new(),
            faulted: Vec::new(),
            failed_ratio: contract.terms.failed_ratio,
            checks: contract.terms.checks.len(),
            first,
            slices,
            grid_slices,
            samples: vec![Vec::new(); slices],
            has_data: vec![false; slices],
            used: 0,
            ignored: 0,
        }
    }

    /// Lays out one result (rule 2); one off the grid is left out, one of another check or a region the check is
    /// not assigned to is counted as ignored. A control probe's result is laid out as its agent's control.
    pub fn add(&mut self, contract: &Contract, grid: &Grid, result: &ResultRecord) {
        let agent = result.agent_id.as_deref().unwrap_or_default();
        if result.control {
            if let Some(slice) = grid.index_of(result.started_at).filter(|slice| self.covered().contains(slice)) {
                self.add_control_counts(agent, &result.check_id, slice, 1, u32::from(!result.ok));
            }
            return;
        }
        let Some(check) = contract.terms.checks.iter().position(|id| *id == result.check_id) else {
            self.ignored += 1;
            return;
        };
        if !contract.admits(&result.check_id, &result.region) {
            self.ignored += 1;
            return;
        }
        let Some(slice) = grid.index_of(result.started_at).filter(|slice| self.covered().contains(slice)) else {
            return;
        };
        let failure = failure(contract, result);
        self.add_counts((&result.region, agent), check, slice, 1, u32::from(failure.is_some()));
        if let Some(error) = failure {
            keep_earliest(&mut self.samples[slice - self.first], result.started_at, check, error);
        }
    }

    /// Lays out `total` results of `check` from (`region`, `agent`) in `slice`, `failed` of them failed (rule
    /// 3's counts, as the slice ledger keeps them).
    pub fn add_counts(&mut self, (region, agent): (&str, &str), check: usize, slice: usize, total: u32, failed: u32) {
        if check >= self.checks || !self.covered().contains(&slice) || total == 0 {
            return;
        }
        let source = self.source(region, agent);
        let at = self.at(check, slice);
        let counts = &mut self.sources[source].counts[at];
        counts.total += total;
        counts.failed += failed;
        self.has_data[slice - self.first] = true;
        self.used += u64::from(total);
    }

    /// Lays out `total` results of the control check `control` from `agent` in `slice`, `failed` of them failed.
    pub fn add_control_counts(&mut self, agent: &str, control: &str, slice: usize, total: u32, failed: u32) {
        if !self.covered().contains(&slice) || total == 0 {
            return;
        }
        let agent = self.agent(agent);
        let row = match self.control_index.get(&(agent, control.to_owned())) {
            Some(row) => *row,
            None => {
                self.controls.push(ControlRow { counts: vec![Counts::default(); self.slices] });
                let row = self.controls.len() - 1;
                self.control_index.insert((agent, control.to_owned()), row);
                self.agent_controls[agent].push(row);
                row
            }
        };
        let counts = &mut self.controls[row].counts[slice - self.first];
        counts.total += total;
        counts.failed += failed;
    }

    /// Rule 11: sets aside the results of `agent` in every covered slice of `grid` that overlaps `[start, end)`.
    pub fn add_fault(&mut self, grid: &Grid, agent: &str, (start, end): (Timestamp, Timestamp)) {
        let covered = self.covered();
        let first = grid.first_ending_after(start).max(covered.start);
        for slice in (first..covered.end).take_while(|slice| grid.slice_start(*slice) < end) {
            self.add_fault_in(agent, slice);
        }
    }

    /// Rule 11: sets aside the results of `agent` in `slice` (as the slice ledger keeps it).
    pub fn add_fault_in(&mut self, agent: &str, slice: usize) {
        if !self.covered().contains(&slice) {
            return;
        }
        let slices = self.slices;
        let agent = self.agent(agent);
        let faulted = &mut self.faulted[agent];
        if faulted.is_empty() {
            *faulted = vec![false; slices];
        }
        faulted[slice - self.first] = true;
    }

    /// Takes away counts laid out before (the results that arrived late, to see the period without them).
    pub fn remove_counts(
        &mut self,
        (region, agent): (&str, &str),
        check: usize,
        slice: usize,
        total: u32,
        failed: u32,
    ) {
        let Some(region) = self.region_index.get(region).copied() else { return };
        let Some(agent) = self.agent_index.get(agent).copied() else { return };
        let Some(source) = self.source_index.get(&(region, agent)).copied() else { return };
        if check >= self.checks || !self.covered().contains(&slice) {
            return;
        }
        let at = self.at(check, slice);
        let counts = &mut self.sources[source].counts[at];
        counts.total = counts.total.saturating_sub(total);
        counts.failed = counts.failed.saturating_sub(failed);
        self.used = self.used.saturating_sub(u64::from(total));
    }

    /// Rules 10 and 11: whether the results of the agent numbered `agent` in `slice` are inconclusive, because
    /// rule 11 set them aside or most of its control checks with results there are down (rule 3 with the
    /// contract's `failed_ratio`; `slow_ms` does not apply to controls). An agent without control results in a
    /// slice and no fault there is conclusive there.
    fn agent_inconclusive(&self, agent: usize, slice: usize) -> bool {
        if self.faulted[agent].get(slice - self.first) == Some(&true) {
            return true;
        }
        let (mut measured, mut down) = (0_u32, 0_u32);
        for row in self.agent_controls[agent].iter().map(|row| &self.controls[*row]) {
            if let Some(failing) = row.counts[slice - self.first].down(self.failed_ratio) {
                measured += 1;
                down += u32::from(failing);
            }
        }
        most_failing(down, measured)
    }

    /// Whether, in `slice`, results of the region numbered `region` were set aside because their agent's controls
    /// or rule 11 made them inconclusive (rules 10 and 11).
    pub fn inconclusive(&self, region: usize, slice: usize) -> bool {
        let judged = !self.controls.is_empty() || self.faulted.iter().any(|slices| !slices.is_empty());
        if !judged || !self.covered().contains(&slice) {
            return false;
        }
        self.region_sources[region].iter().map(|source| &self.sources[*source]).any(|source| {
            (0..self.checks).any(|check| source.counts[self.at(check, slice)].total > 0)
                && self.agent_inconclusive(source.agent, slice)
        })
    }

    /// Offers a failure as an incident sample of `slice`: kept if it is among the earliest.
    pub fn add_sample(&mut self, slice: usize, started_at: Timestamp, check: usize, error: &str) {
        if let Some(kept) = slice.checked_sub(self.first).and_then(|slice| self.samples.get_mut(slice)) {
            keep_earliest(kept, started_at, check, Cow::Borrowed(error));
        }
    }

    /// Counts `count` results that do not vote here (see [`Observations::ignored`]).
    pub fn add_ignored(&mut self, count: u64) {
        self.ignored += count;
    }

    /// These observations as if `region` had been the only region to report (without incident samples);
    /// `None` when it did not report.
    pub fn of_region(&self, region: &str) -> Option<Self> {
        let index = *self.region_index.get(region)?;
        let sources: Vec<Source> =
            (self.region_sources[index].iter()).map(|source| self.sources[*source].clone()).collect();
        let has_data: Vec<bool> = (0..self.slices)
            .map(|slice| {
                let at = |check: usize| check * self.slices + slice;
                sources.iter().any(|source| (0..self.checks).any(|check| source.counts[at(check)].total > 0))
            })
            .collect();
        let used = sources.iter().flat_map(|source| &source.counts).map(|counts| u64::from(counts.total)).sum();
        Some(Self {
            regions: vec![region.to_owned()],
            region_index: HashMap::from([(region.to_owned(), 0)]),
            agent_index: self.agent_index.clone(),
            region_sources: vec![(0..sources.len()).collect()],
            source_index: sources.iter().enumerate().map(|(at, source)| ((0, source.agent), at)).collect(),
            sources,
            control_index: self.control_index.clone(),
            controls: self.controls.clone(),
            agent_controls: self.agent_controls.clone(),
            faulted: self.faulted.clone(),
            failed_ratio: self.failed_ratio,
            checks: self.checks,
            first: self.first,
            slices: self.slices,
            grid_slices: self.grid_slices,
            samples: vec![Vec::new(); self.slices],
            has_data,
            used,
            ignored: 0,
        })
    }

    /// The results `region` had in `slices`, and how many of them failed (rule 3), those an agent's controls
    /// made inconclusive left out.
    pub fn region_totals(&self, region: &str, slices: std::ops::Range<usize>) -> (u64, u64) {
        let Some(index) = self.region_index.get(region).copied() else { return (0, 0) };
        let covered = self.covered();
        let mut totals = (0, 0);
        for slice in slices.start.max(covered.start)..slices.end.min(covered.end) {
            for check in 0..self.checks {
                let counts = self.region_counts(index, check, slice);
                totals.0 += u64::from(counts.total);
                totals.1 += u64::from(counts.failed);
            }
        }
        totals
    }

    /// The counts of `check` in `slice` (a covered one) summed over the region's agents, without those whose
    /// controls made them inconclusive there (rule 10).
    fn region_counts(&self, region: usize, check: usize, slice: usize) -> Counts {
        let at = self.at(check, slice);
        let mut counts = Counts::default();
        for source in self.region_sources[region].iter().map(|source| &self.sources[*source]) {
            let own = source.counts[at];
            if own.total > 0 && !self.agent_inconclusive(source.agent, slice) {
                counts.total += own.total;
                counts.failed += own.failed;
            }
        }
        counts
    }

    /// The number of `name`, numbering it if it is new.
    fn region(&mut self, name: &str) -> usize {
        if let Some(index) = self.region_index.get(name) {
            return *index;
        }
        let index = self.regions.len();
        self.regions.push(name.to_owned());
        self.region_index.insert(name.to_owned(), index);
        self.region_sources.push(Vec::new());
        index
    }

    /// The number of agent `name`, numbering it if it is new.
    fn agent(&mut self, name: &str) -> usize {
        if let Some(index) = self.agent_index.get(name) {
            return *index;
        }
        let index = self.agent_index.len();
        self.agent_index.insert(name.to_owned(), index);
        self.agent_controls.push(Vec::new());
        self.faulted.push(Vec::new());
        index
    }

    /// The row of (`region`, `agent`)'s counts, made if it is new.
    fn source(&mut self, region: &str, agent: &str) -> usize {
        let (region, agent) = (self.region(region), self.agent(agent));
        if let Some(source) = self.source_index.get(&(region, agent)) {
            return *source;
        }
        let source = self.sources.len();
        self.sources.push(Source { agent, counts: vec![Counts::default(); self.checks * self.slices] });
        self.source_index.insert((region, agent), source);
        self.region_sources[region].push(source);
        source
    }

    /// The slices of the grid laid out.
    pub fn covered(&self) -> std::ops::Range<usize> {
        self.first..self.first + self.slices
    }

    /// The number of slices of the whole grid.
    pub fn grid_slices(&self) -> usize {
        self.grid_slices
    }

    /// Whether any result fell in `slice`.
    pub fn has_data(&self, slice: usize) -> bool {
        slice.checked_sub(self.first).and_then(|slice| self.has_data.get(slice)).copied().unwrap_or(false)
    }

    /// The earliest failures of `slice`.
    pub fn samples(&self, slice: usize) -> &[Sample] {
        slice.checked_sub(self.first).and_then(|slice| self.samples.get(slice)).map_or(&[], Vec::as_slice)
    }

    /// Rule 3: `None` without data, else whether (check, region) is down in `slice`; results an agent's controls
    /// made inconclusive there are no data (rule 10).
    pub fn check_down(&self, contract: &Contract, region: usize, check: usize, slice: usize) -> Option<bool> {
        if !self.covered().contains(&slice) {
            return None;
        }
        self.region_counts(region, check, slice).down(contract.terms.failed_ratio)
    }

    /// Rule 4: `None` if the region does not vote, else whether it votes down.
    pub fn region_vote(&self, contract: &Contract, region: usize, slice: usize) -> Option<bool> {
        let (mut voted, mut down, mut all_down) = (false, false, true);
        for check in 0..self.checks {
            let state = self.check_down(contract, region, check, slice);
            voted |= state.is_some();
            down |= state == Some(true);
            all_down &= state == Some(true);
        }
        let down = match contract.terms.combine {
            Combine::Any => down,
            Combine::All => all_down,
        };
        if down {
            Some(true)
        } else if voted {
            Some(false)
        } else {
            None
        }
    }

    /// Where the counts of `check` in `slice` (a covered one) lie in a region's counts.
    fn at(&self, check: usize, slice: usize) -> usize {
        check * self.slices + slice - self.first
    }
}

/// Rule 10's majority: whether `failing` of an agent's `measured` control checks (those with results) make its
/// results inconclusive, that is, more than half of them.
pub fn most_failing(failing: u32, measured: u32) -> bool {
    failing.saturating_mul(2) > measured
}

/// Rule 3's verdict on one result: `None` when it passed, else the text of its failure (its error, or what made it
/// count as failed).
pub fn failure<'r>(contract: &Contract, result: &'r ResultRecord) -> Option<Cow<'r, str>> {
    let slow_ms = contract.terms.slow_ms;
    let slow = matches!((slow_ms, result.duration_ms), (Some(limit), Some(took)) if took > limit);
    if result.ok && !slow {
        return None;
    }
    Some(match (&result.error, &result.error_kind) {
        (Some(error), _) => Cow::Borrowed(error),
        (None, Some(kind)) => Cow::Borrowed(kind),
        (None, None) if slow => Cow::Owned(format!("slower than {} ms", slow_ms.unwrap_or_default())),
        (None, None) => Cow::Borrowed("failed"),
    })
}

/// Keeps the failure (`started_at`, `check`, `error`) in `kept` if it is among the earliest
/// [`SAMPLES_PER_SLICE`] (ties broken by check and error text), so the samples do not depend on the order results
/// arrive in. The error is copied only when it is kept.
pub fn keep_earliest(kept: &mut Vec<Sample>, started_at: Timestamp, check: usize, error: Cow<'_, str>) {
    let key = (started_at, check, error.as_ref());
    let at = kept.partition_point(|kept| (kept.started_at, kept.check, kept.error.as_str()) <= key);
    if at < SAMPLES_PER_SLICE {
        kept.insert(at, Sample { started_at, check, error: error.into_owned() });
        kept.truncate(SAMPLES_PER_SLICE);
    }
}
