//! Rules 2–9 of `DESIGN.md` section 5, exactly as written: results → per (check, region, slice) state → region
//! votes → slice states → maintenance → runs → uptime, credit and incidents. Pure: no clock, no I/O.
//!
//! Only results from the regions a check is assigned to vote ([`Contract::placement`], from the collector's
//! configuration): the set of regions is the configuration's, not whichever results arrived.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use slaprobe_proto::ResultRecord;

use super::credit::{Uptime, credit_amount, credit_percent};
use super::grid::Grid;
use super::period::Period;
use super::report::{Day, Incident, Report};
use crate::contract::{Combine, Contract, Maintenance, NoData};

/// Failed results kept per slice as incident samples.
const SAMPLES_PER_SLICE: usize = 3;

/// A slice's state (rule 5), after runs are judged (rule 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceState {
    /// Up.
    Up,
    /// Down.
    Down,
    /// Too few regions reported.
    Unknown,
    /// Starts inside a maintenance window.
    Excluded,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    total: u32,
    failed: u32,
}

/// A failed result kept for incident reports.
struct Sample {
    started_at: Timestamp,
    check: usize,
    error: String,
}

/// Results laid out on the grid: counts per (region, check, slice), and a few failure samples per slice.
struct Observations {
    regions: Vec<String>,
    checks: usize,
    slices: usize,
    counts: Vec<Counts>,
    samples: Vec<Vec<Sample>>,
    used: u64,
    ignored: u64,
}

impl Observations {
    fn collect(contract: &Contract, grid: &Grid, results: &[ResultRecord]) -> Self {
        let checks = &contract.terms.checks;
        let slow_ms = contract.terms.slow_ms;
        let regions: Vec<String> = results
            .iter()
            .filter(|result| checks.contains(&result.check_id) && grid.index_of(result.started_at).is_some())
            .filter(|result| contract.admits(&result.check_id, &result.region))
            .map(|result| result.region.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let slices = grid.slices();
        let mut observations = Self {
            counts: vec![Counts::default(); regions.len() * checks.len() * slices],
            samples: (0..slices).map(|_| Vec::new()).collect(),
            regions,
            checks: checks.len(),
            slices,
            used: 0,
            ignored: 0,
        };
        for result in results {
            let Some(check) = checks.iter().position(|id| *id == result.check_id) else {
                observations.ignored += 1;
                continue;
            };
            if !contract.admits(&result.check_id, &result.region) {
                observations.ignored += 1;
                continue;
            }
            let Some(slice) = grid.index_of(result.started_at) else { continue };
            let region = observations.regions.binary_search(&result.region).unwrap_or_default();
            let slow = matches!((slow_ms, result.duration_ms), (Some(limit), Some(took)) if took > limit);
            let failed = !result.ok || slow;
            let counts = &mut observations.counts[(region * observations.checks + check) * slices + slice];
            counts.total += 1;
            counts.failed += u32::from(failed);
            observations.used += 1;
            let samples = &mut observations.samples[slice];
            if failed && samples.len() < SAMPLES_PER_SLICE {
                let error = match (&result.error, &result.error_kind) {
                    (Some(error), _) => error.clone(),
                    (None, Some(kind)) => kind.clone(),
                    (None, None) if slow => format!("slower than {} ms", slow_ms.unwrap_or_default()),
                    (None, None) => "failed".to_owned(),
                };
                samples.push(Sample { started_at: result.started_at, check, error });
            }
        }
        observations
    }

    /// Rule 3: `None` without data, else whether (check, region) is down in `slice`.
    fn check_down(&self, contract: &Contract, region: usize, check: usize, slice: usize) -> Option<bool> {
        let counts = self.counts[(region * self.checks + check) * self.slices + slice];
        (counts.total > 0)
            .then(|| Decimal::from(counts.failed) >= contract.terms.failed_ratio * Decimal::from(counts.total))
    }

    /// Rule 4: `None` if the region does not vote, else whether it votes down.
    fn region_vote(&self, contract: &Contract, region: usize, slice: usize) -> Option<bool> {
        let states: Vec<Option<bool>> =
            (0..self.checks).map(|check| self.check_down(contract, region, check, slice)).collect();
        let down = match contract.terms.combine {
            Combine::Any => states.contains(&Some(true)),
            Combine::All => states.iter().all(|state| *state == Some(true)),
        };
        if down {
            Some(true)
        } else if states.iter().any(Option::is_some) {
            Some(false)
        } else {
            None
        }
    }
}

/// The results that can matter to `contract` over `period`: those starting in `[from, to)`, the period widened
/// by the slices that runs across its boundaries are judged on (rule 6).
pub fn evaluation_window(contract: &Contract, period: &Period) -> (Timestamp, Timestamp) {
    let margin = usize::try_from(contract.terms.min_down_run.saturating_sub(1)).unwrap_or(0);
    let grid = Grid::new(period, contract.terms.slice, margin);
    (grid.slice_start(0), grid.slice_end(grid.slices() - 1))
}

/// Computes the report of `contract` over `period` from `results` (any order; results off the period and its
/// run margins are ignored).
pub fn evaluate(contract: &Contract, period: &Period, results: &[ResultRecord]) -> Report {
    let terms = &contract.terms;
    let margin = usize::try_from(terms.min_down_run.saturating_sub(1)).unwrap_or(0);
    let grid = Grid::new(period, terms.slice, margin);
    let observations = Observations::collect(contract, &grid, results);
    let mut states = slice_states(contract, &grid, &observations);
    let runs = forgive_short_runs(&mut states, terms.min_down_run as usize);

    let inside = grid.period();
    let tally = Tally::of(&states[inside.clone()]);
    let (eligible, counted_down) = tally.eligible_and_down(terms.no_data);
    let uptime = Uptime::new(eligible - counted_down, eligible);
    let credit_percent = credit_percent(&terms.credits.tiers, terms.credits.cap, uptime);
    let slice_seconds = grid.slice_seconds();
    let objective = terms.objective;
    let budget_fraction = f64::try_from((Decimal::ONE_HUNDRED - objective) / Decimal::ONE_HUNDRED).unwrap_or(0.0);
    Report {
        contract: terms.id.clone(),
        vendor: terms.vendor.clone(),
        service: terms.service.clone(),
        period: period.label.clone(),
        timezone: terms.timezone.clone(),
        period_start: period.start,
        period_end: period.end,
        slice_seconds,
        total_slices: tally.total,
        excluded_slices: tally.excluded,
        unknown_slices: tally.unknown,
        down_slices: tally.down,
        eligible_slices: eligible,
        uptime_percent: uptime.map(Uptime::percent),
        objective,
        met: uptime.map(|uptime| !uptime.is_below(objective)),
        credit_percent,
        credit_amount: credit_amount(terms.credits.fee, credit_percent, terms.credits.min_amount),
        currency: terms.credits.currency.clone(),
        claim_deadline: terms
            .claim_window
            .and_then(|window| SignedDuration::try_from(window).ok())
            .and_then(|window| period.end.checked_add(window).ok()),
        budget_seconds: eligible as f64 * slice_seconds as f64 * budget_fraction,
        budget_used_seconds: counted_down as f64 * slice_seconds as f64,
        incidents: runs
            .into_iter()
            .filter_map(|run| {
                let clipped = run.start.max(inside.start)..run.end.min(inside.end);
                (!clipped.is_empty()).then(|| incident(contract, &grid, &observations, clipped))
            })
            .collect(),
        days: days(contract, &grid, &states),
        regions: observations.regions.clone(),
        results_used: observations.used,
        results_ignored: observations.ignored,
        silent_agents: None,
        late: None,
    }
}

/// Rules 4–5 and maintenance for every slice of `grid`, before short runs are forgiven (rule 6).
fn slice_states(contract: &Contract, grid: &Grid, observations: &Observations) -> Vec<SliceState> {
    let windows = maintenance_windows(contract, grid);
    (0..grid.slices())
        .map(|slice| {
            let start = grid.slice_start(slice);
            if windows.iter().any(|(from, to)| *from <= start && start < *to) {
                return SliceState::Excluded;
            }
            let votes: Vec<bool> = (0..observations.regions.len())
                .filter_map(|region| observations.region_vote(contract, region, slice))
                .collect();
            let down = votes.iter().filter(|down| **down).count();
            if down >= contract.terms.min_regions_down as usize {
                SliceState::Down
            } else if votes.len() < contract.min_regions_reporting as usize {
                SliceState::Unknown
            } else {
                SliceState::Up
            }
        })
        .collect()
}

/// One slice as rules 2–5 and the maintenance windows judge it, before short runs are forgiven: what alerting
/// watches, since it must decide while a run is still growing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceVote {
    /// Slice start.
    pub start: Timestamp,
    /// Slice end (exclusive).
    pub end: Timestamp,
    /// Its state.
    pub state: SliceState,
    /// The regions voting down in it.
    pub down_regions: Vec<String>,
}

/// The whole slices of `contract` inside `[from, to)`, on the slice grid that starts at `anchor` (the start of
/// the contract's current period), oldest first.
pub fn slice_votes(
    contract: &Contract,
    anchor: Timestamp,
    from: Timestamp,
    to: Timestamp,
    results: &[ResultRecord],
) -> Vec<SliceVote> {
    let slice = i128::from(contract.terms.slice.as_secs().max(1)) * 1_000_000_000;
    let (anchor, from, to) = (anchor.as_nanosecond(), from.as_nanosecond(), to.as_nanosecond());
    let first = anchor + (from - anchor + slice - 1).div_euclid(slice) * slice;
    let end = anchor + (to - anchor).div_euclid(slice) * slice;
    let (Ok(start), Ok(end)) = (Timestamp::from_nanosecond(first), Timestamp::from_nanosecond(end)) else {
        return Vec::new();
    };
    if start >= end {
        return Vec::new();
    }
    let grid = Grid::new(&Period { label: String::new(), start, end }, contract.terms.slice, 0);
    let observations = Observations::collect(contract, &grid, results);
    slice_states(contract, &grid, &observations)
        .into_iter()
        .enumerate()
        .map(|(slice, state)| SliceVote {
            start: grid.slice_start(slice),
            end: grid.slice_end(slice),
            state,
            down_regions: (0..observations.regions.len())
                .filter(|region| observations.region_vote(contract, *region, slice) == Some(true))
                .map(|region| observations.regions[region].clone())
                .collect(),
        })
        .collect()
}

/// Whether `at` lies inside one of `contract`'s maintenance windows.
pub fn in_maintenance(contract: &Contract, at: Timestamp) -> bool {
    let grid = Grid::new(&Period { label: String::new(), start: at, end: at }, contract.terms.slice, 1);
    maintenance_windows(contract, &grid).iter().any(|(from, to)| *from <= at && at < *to)
}

/// Slice counts by state.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    total: u64,
    excluded: u64,
    unknown: u64,
    down: u64,
}

impl Tally {
    fn of(states: &[SliceState]) -> Self {
        let mut tally = Self { total: states.len() as u64, ..Self::default() };
        for state in states {
            match state {
                SliceState::Excluded => tally.excluded += 1,
                SliceState::Unknown => tally.unknown += 1,
                SliceState::Down => tally.down += 1,
                SliceState::Up => {}
            }
        }
        tally
    }

    /// Rule 7: eligible slices and the slices counted down, by the `no_data` rule.
    fn eligible_and_down(self, no_data: NoData) -> (u64, u64) {
        match no_data {
            NoData::Exclude => (self.total - self.excluded - self.unknown, self.down),
            NoData::Up => (self.total - self.excluded, self.down),
            NoData::Down => (self.total - self.excluded, self.down + self.unknown),
        }
    }
}

/// The period's slices grouped by the local date of their start.
fn days(contract: &Contract, grid: &Grid, states: &[SliceState]) -> Vec<Day> {
    let mut days: Vec<Day> = Vec::new();
    let mut first_slice = grid.period().start;
    for slice in grid.period() {
        let date = grid.slice_start(slice).to_zoned_datetime(contract.tz.clone()).date();
        let next_date = (slice + 1 < grid.period().end)
            .then(|| grid.slice_start(slice + 1).to_zoned_datetime(contract.tz.clone()).date());
        if next_date == Some(date) {
            continue;
        }
        let tally = Tally::of(&states[first_slice..=slice]);
        let (eligible, down) = tally.eligible_and_down(contract.terms.no_data);
        days.push(Day {
            date,
            total_slices: tally.total,
            excluded_slices: tally.excluded,
            unknown_slices: tally.unknown,
            down_slices: tally.down,
            uptime_percent: Uptime::new(eligible - down, eligible).map(Uptime::percent),
        });
        first_slice = slice + 1;
    }
    days
}

/// Rule 6: maximal runs of `Down` shorter than `min_down_run` become `Up`; returns the runs that count.
pub fn forgive_short_runs(states: &mut [SliceState], min_down_run: usize) -> Vec<std::ops::Range<usize>> {
    let mut counted = Vec::new();
    let mut index = 0;
    while index < states.len() {
        if states[index] != SliceState::Down {
            index += 1;
            continue;
        }
        let start = index;
        while index < states.len() && states[index] == SliceState::Down {
            index += 1;
        }
        if index - start < min_down_run {
            states[start..index].fill(SliceState::Up);
        } else {
            counted.push(start..index);
        }
    }
    counted
}

/// Maintenance windows as `[start, end)` instants covering the grid; weekly ones are laid out in the contract's
/// time zone, a week before the grid to its end.
fn maintenance_windows(contract: &Contract, grid: &Grid) -> Vec<(Timestamp, Timestamp)> {
    let (first, last) = (grid.slice_start(0), grid.slice_end(grid.slices().saturating_sub(1)));
    let mut windows = Vec::new();
    for window in &contract.maintenance {
        match window {
            Maintenance::Explicit { start, end } => windows.push((*start, *end)),
            Maintenance::Weekly { day, at, duration } => {
                let Ok(length) = SignedDuration::try_from(*duration) else { continue };
                let mut date =
                    first.to_zoned_datetime(contract.tz.clone()).date().saturating_sub(jiff::Span::new().days(7));
                let end_date = last.to_zoned_datetime(contract.tz.clone()).date();
                while date <= end_date {
                    if date.weekday() == *day
                        && let Ok(start) = date.to_datetime(*at).to_zoned_datetime(contract.tz.clone())
                    {
                        let start = start.timestamp();
                        windows.push((start, start.saturating_add(length).unwrap_or(Timestamp::MAX)));
                    }
                    date = date.saturating_add(jiff::Span::new().days(1));
                }
            }
        }
    }
    windows
}

/// Rule 9: the regions and checks that were down during `slices`, and up to three distinct sample errors.
fn incident(contract: &Contract, grid: &Grid, observations: &Observations, slices: std::ops::Range<usize>) -> Incident {
    let mut regions = BTreeSet::new();
    let mut checks = BTreeSet::new();
    let mut samples: Vec<&Sample> = Vec::new();
    for slice in slices.clone() {
        for (region, name) in observations.regions.iter().enumerate() {
            if observations.region_vote(contract, region, slice) != Some(true) {
                continue;
            }
            regions.insert(name.clone());
            for (check, id) in contract.terms.checks.iter().enumerate() {
                if observations.check_down(contract, region, check, slice) == Some(true) {
                    checks.insert(id.clone());
                }
            }
        }
        samples.extend(observations.samples[slice].iter());
    }
    samples.sort_by_key(|sample| sample.started_at);
    let mut sample_errors: Vec<String> = Vec::new();
    for sample in samples {
        let down_check = checks.contains(&contract.terms.checks[sample.check]);
        if down_check && !sample_errors.contains(&sample.error) && sample_errors.len() < 3 {
            sample_errors.push(sample.error.clone());
        }
    }
    let (start, end) = (grid.slice_start(slices.start), grid.slice_end(slices.end - 1));
    Incident {
        start,
        end,
        duration_seconds: end.as_second() - start.as_second(),
        regions: regions.into_iter().collect(),
        checks: checks.into_iter().collect(),
        sample_errors,
    }
}
