//! What rules 2–4 and 10 make of a contract's results, slice by slice, before anything that depends on the moment of
//! the report, its maintenance windows or its quorums: which regions voted in a slice and which of them voted down,
//! which had results set aside as inconclusive, whether any result fell in it, and for a slice with a down vote the
//! checks that were down and its earliest failures (an incident's evidence). The engine makes a report from a summary
//! and a horizon alone ([`crate::engine::report_of`]), so a summary of the settled slices can be kept between requests
//! and a standing made again from it and the few slices that changed.
//!
//! Region sets are bits, `words` 64-bit words per slice, laid out flat; regions are numbered in the order they
//! first appear (reports list them by name).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use super::observations::{Observations, Sample};
use crate::contract::Contract;

/// What an incident needs of a slice in which some region voted down.
#[derive(Debug, Clone)]
pub struct DownDetail {
    /// The checks (their index in the contract's checks) down in a region that voted down, ascending.
    pub checks: Vec<usize>,
    /// The slice's earliest failures.
    pub samples: Vec<Sample>,
}

/// Rules 2–4 over a grid's slices; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    regions: Vec<String>,
    index: HashMap<String, usize>,
    slices: usize,
    words: usize,
    voted: Vec<u64>,
    down: Vec<u64>,
    /// Regions some of whose results were set aside as inconclusive (rule 10).
    inconclusive: Vec<u64>,
    has_data: Vec<bool>,
    details: BTreeMap<usize, DownDetail>,
    /// Results the slices summarised were laid out from.
    pub used: u64,
    /// Results of other checks, or from regions the contract's checks are not assigned to.
    pub ignored: u64,
}

impl Summary {
    /// A grid of `slices` slices, none with data yet.
    pub fn empty(slices: usize) -> Self {
        Self { slices, has_data: vec![false; slices], ..Self::default() }
    }

    /// What rules 3–4 make of `observations` (laid out for `contract`), over the slices they cover.
    pub fn of(contract: &Contract, observations: &Observations) -> Self {
        let mut summary = Self::empty(observations.grid_slices());
        for (region, name) in observations.regions.iter().enumerate() {
            let id = summary.region_id(name);
            for slice in observations.covered() {
                if observations.inconclusive(region, slice) {
                    set(&mut summary.inconclusive, summary.words, slice, id);
                }
                let Some(down) = observations.region_vote(contract, region, slice) else { continue };
                set(&mut summary.voted, summary.words, slice, id);
                if !down {
                    continue;
                }
                set(&mut summary.down, summary.words, slice, id);
                let checks = (0..contract.terms.checks.len())
                    .filter(|check| observations.check_down(contract, region, *check, slice) == Some(true));
                let detail = summary.details.entry(slice).or_insert_with(|| DownDetail {
                    checks: Vec::new(),
                    samples: observations.samples(slice).to_vec(),
                });
                detail.checks.extend(checks);
                detail.checks.sort_unstable();
                detail.checks.dedup();
            }
        }
        for slice in observations.covered() {
            summary.has_data[slice] = observations.has_data(slice);
        }
        summary.used = observations.used;
        summary.ignored = observations.ignored;
        summary
    }

    /// Takes in `other`'s slices in `slices` (a summary of the same grid), which this one has nothing of yet,
    /// and its result counts.
    pub fn absorb(&mut self, other: &Summary, slices: Range<usize>) {
        let ids: Vec<usize> = other.regions.iter().map(|name| self.region_id(name)).collect();
        for slice in slices.start..slices.end.min(self.slices).min(other.slices) {
            for (from, to) in ids.iter().enumerate() {
                if contains(&other.voted, other.words, slice, from) {
                    set(&mut self.voted, self.words, slice, *to);
                }
                if contains(&other.down, other.words, slice, from) {
                    set(&mut self.down, self.words, slice, *to);
                }
                if contains(&other.inconclusive, other.words, slice, from) {
                    set(&mut self.inconclusive, self.words, slice, *to);
                }
            }
            self.has_data[slice] |= other.has_data[slice];
            if let Some(detail) = other.details.get(&slice) {
                self.details.insert(slice, detail.clone());
            }
        }
        self.used += other.used;
        self.ignored += other.ignored;
    }

    /// The regions, numbered in the order they first appeared.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// The regions' numbers in the order of their names.
    pub fn by_name(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.regions.len()).collect();
        order.sort_by(|a, b| self.regions[*a].cmp(&self.regions[*b]));
        order
    }

    /// The number of slices of the grid.
    pub fn slices(&self) -> usize {
        self.slices
    }

    /// Whether any result fell in `slice`.
    pub fn has_data(&self, slice: usize) -> bool {
        self.has_data.get(slice).copied().unwrap_or(false)
    }

    /// The regions that voted in `slice`.
    pub fn voted(&self, slice: usize) -> impl Iterator<Item = usize> + '_ {
        members(&self.voted, self.words, slice)
    }

    /// The regions that voted down in `slice`.
    pub fn down(&self, slice: usize) -> impl Iterator<Item = usize> + '_ {
        members(&self.down, self.words, slice)
    }

    /// The regions some of whose results in `slice` were set aside as inconclusive (rule 10).
    pub fn inconclusive(&self, slice: usize) -> impl Iterator<Item = usize> + '_ {
        members(&self.inconclusive, self.words, slice)
    }

    /// How many regions voted in `slice`, and how many of them voted down.
    pub fn votes(&self, slice: usize) -> (usize, usize) {
        let count = |bits: &[u64]| bits.iter().map(|word| word.count_ones() as usize).sum();
        (count(words_of(&self.voted, self.words, slice)), count(words_of(&self.down, self.words, slice)))
    }

    /// The checks down and the samples of `slice`, if a region voted down in it.
    pub fn detail(&self, slice: usize) -> Option<&DownDetail> {
        self.details.get(&slice)
    }

    /// The number of `name`, numbering it if it is new (the bit sets grow a word when needed).
    fn region_id(&mut self, name: &str) -> usize {
        if let Some(id) = self.index.get(name) {
            return *id;
        }
        let id = self.regions.len();
        self.regions.push(name.to_owned());
        self.index.insert(name.to_owned(), id);
        if id >= self.words * 64 {
            let words = self.words + 1;
            self.voted = widened(&self.voted, self.words, words, self.slices);
            self.down = widened(&self.down, self.words, words, self.slices);
            self.inconclusive = widened(&self.inconclusive, self.words, words, self.slices);
            self.words = words;
        }
        id
    }
}

fn words_of(bits: &[u64], words: usize, slice: usize) -> &[u64] {
    bits.get(slice * words..(slice + 1) * words).unwrap_or(&[])
}

fn set(bits: &mut [u64], words: usize, slice: usize, region: usize) {
    if let Some(word) = bits.get_mut(slice * words + region / 64) {
        *word |= 1 << (region % 64);
    }
}

fn contains(bits: &[u64], words: usize, slice: usize, region: usize) -> bool {
    words_of(bits, words, slice).get(region / 64).is_some_and(|word| word & (1 << (region % 64)) != 0)
}

fn members(bits: &[u64], words: usize, slice: usize) -> impl Iterator<Item = usize> + '_ {
    words_of(bits, words, slice).iter().enumerate().flat_map(|(word, value)| {
        let mut left = *value;
        std::iter::from_fn(move || {
            (left != 0).then(|| {
                let bit = left.trailing_zeros() as usize;
                left &= left - 1;
                word * 64 + bit
            })
        })
    })
}

/// `bits` laid out with `to` words per slice instead of `from`.
fn widened(bits: &[u64], from: usize, to: usize, slices: usize) -> Vec<u64> {
    let mut wider = vec![0; to * slices];
    if from > 0 {
        for (slice, chunk) in bits.chunks(from).enumerate() {
            wider[slice * to..slice * to + from].copy_from_slice(chunk);
        }
    }
    wider
}

#[cfg(test)]
mod tests {
    use super::Summary;
    use crate::fixtures::{at, contract};
    use crate::grid::Grid;
    use crate::observations::Observations;
    use crate::{Period, engine::report_of};

    /// Observations of `regions` regions over the minutes `slices` of an hour: region `r` reports in every
    /// slice, and fails in slice 1 when `r` is even.
    fn observed(slices: std::ops::Range<usize>, order: impl Iterator<Item = usize>) -> (Observations, Period) {
        let period =
            Period { label: String::new(), start: at("2026-04-01T00:00:00Z"), end: at("2026-04-01T01:00:00Z") };
        let grid = Grid::new(&period, std::time::Duration::from_secs(60), 0);
        let mut observations = Observations::over(&contract(""), &grid, slices.clone());
        for region in order {
            for slice in slices.clone() {
                let failed = u32::from(slice == 1 && region % 2 == 0);
                observations.add_counts((&format!("region-{region:03}"), ""), 0, slice, 1, failed);
            }
        }
        (observations, period)
    }

    #[test]
    fn more_than_64_regions_widen_the_region_sets() {
        let contract = contract("");
        let (observations, period) = observed(0..3, 0..130);
        let summary = Summary::of(&contract, &observations);
        assert_eq!(summary.votes(0), (130, 0));
        assert_eq!(summary.votes(1), (130, 65));
        assert_eq!(summary.down(1).map(|region| summary.regions()[region].clone()).last().unwrap(), "region-128");
        assert_eq!(summary.votes(3), (0, 0), "a slice not covered has no votes");
        assert!(summary.has_data(2) && !summary.has_data(3));

        // The same regions arriving in another order, summarised apart and absorbed: the same report.
        let (first, _) = observed(0..2, (0..130).rev());
        let (rest, _) = observed(2..3, (0..130).rev());
        let mut parts = Summary::of(&contract, &first);
        parts.absorb(&Summary::of(&contract, &rest), 2..3);
        let horizon = crate::Horizon { monitored_from: Some(period.start), now: period.end };
        assert_eq!(report_of(&contract, &period, &parts, &horizon), report_of(&contract, &period, &summary, &horizon));
    }
}
