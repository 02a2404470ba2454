//! Results laid out on a contract's slice grid (rules 2–3): per (region, check, slice) how many results there
//! were and how many failed, and the earliest failures of each slice as incident samples. Rules 3 and 4 are read
//! off it ([`Observations::region_vote`]).
//!
//! Results are added one at a time, in any order, so a report can be made while a results file streams past:
//! the memory it takes grows with the slices and regions of the period, not with the number of results.

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

/// Results on the grid; see the module documentation.
#[derive(Debug, Clone)]
pub struct Observations {
    /// The regions that reported, in order of arrival.
    pub regions: Vec<String>,
    region_index: HashMap<String, usize>,
    checks: usize,
    /// The slices of the grid laid out: `first..first + slices`.
    first: usize,
    slices: usize,
    grid_slices: usize,
    /// Per region, `checks × slices` counts.
    counts: Vec<Vec<Counts>>,
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
            checks: contract.terms.checks.len(),
            first,
            slices,
            grid_slices,
            counts: Vec::new(),
            samples: vec![Vec::new(); slices],
            has_data: vec![false; slices],
            used: 0,
            ignored: 0,
        }
    }

    /// Lays out one result (rule 2); one off the grid is left out, one of another check or a region the check is
    /// not assigned to is counted as ignored.
    pub fn add(&mut self, contract: &Contract, grid: &Grid, result: &ResultRecord) {
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
        self.add_counts(&result.region, check, slice, 1, u32::from(failure.is_some()));
        if let Some(error) = failure {
            keep_earliest(&mut self.samples[slice - self.first], result.started_at, check, error);
        }
    }

    /// Lays out `total` results of `check` from `region` in `slice`, `failed` of them failed (rule 3's counts,
    /// as the slice ledger keeps them).
    pub fn add_counts(&mut self, region: &str, check: usize, slice: usize, total: u32, failed: u32) {
        if check >= self.checks || !self.covered().contains(&slice) || total == 0 {
            return;
        }
        let region = self.region(region);
        let at = self.at(check, slice);
        let counts = &mut self.counts[region][at];
        counts.total += total;
        counts.failed += failed;
        self.has_data[slice - self.first] = true;
        self.used += u64::from(total);
    }

    /// Takes away counts laid out before (the results that arrived late, to see the period without them).
    pub fn remove_counts(&mut self, region: &str, check: usize, slice: usize, total: u32, failed: u32) {
        let Some(region) = self.region_index.get(region).copied() else { return };
        if check >= self.checks || !self.covered().contains(&slice) {
            return;
        }
        let at = self.at(check, slice);
        let counts = &mut self.counts[region][at];
        counts.total = counts.total.saturating_sub(total);
        counts.failed = counts.failed.saturating_sub(failed);
        self.used = self.used.saturating_sub(u64::from(total));
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
        let counts = self.counts[index].clone();
        let has_data: Vec<bool> = (0..self.slices)
            .map(|slice| (0..self.checks).any(|check| counts[check * self.slices + slice].total > 0))
            .collect();
        Some(Self {
            regions: vec![region.to_owned()],
            region_index: HashMap::from([(region.to_owned(), 0)]),
            checks: self.checks,
            first: self.first,
            slices: self.slices,
            grid_slices: self.grid_slices,
            used: counts.iter().map(|counts| u64::from(counts.total)).sum(),
            counts: vec![counts],
            samples: vec![Vec::new(); self.slices],
            has_data,
            ignored: 0,
        })
    }

    /// The results `region` had in `slices`, and how many of them failed (rule 3).
    pub fn region_totals(&self, region: &str, slices: std::ops::Range<usize>) -> (u64, u64) {
        let Some(index) = self.region_index.get(region) else { return (0, 0) };
        let covered = self.covered();
        let (start, end) = (slices.start.max(covered.start), slices.end.min(covered.end));
        let mut totals = (0, 0);
        if start >= end {
            return totals;
        }
        for check in 0..self.checks {
            for counts in &self.counts[*index][self.at(check, start)..self.at(check, end)] {
                totals.0 += u64::from(counts.total);
                totals.1 += u64::from(counts.failed);
            }
        }
        totals
    }

    fn region(&mut self, name: &str) -> usize {
        if let Some(index) = self.region_index.get(name) {
            return *index;
        }
        let index = self.regions.len();
        self.regions.push(name.to_owned());
        self.region_index.insert(name.to_owned(), index);
        self.counts.push(vec![Counts::default(); self.checks * self.slices]);
        index
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

    /// Rule 3: `None` without data, else whether (check, region) is down in `slice`.
    pub fn check_down(&self, contract: &Contract, region: usize, check: usize, slice: usize) -> Option<bool> {
        if !self.covered().contains(&slice) {
            return None;
        }
        let counts = self.counts[region][self.at(check, slice)];
        (counts.total > 0)
            .then(|| Decimal::from(counts.failed) >= contract.terms.failed_ratio * Decimal::from(counts.total))
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
