//! Rules 2–9 of `docs/sla.md`, exactly as written: results → per (check, region, slice) state → region
//! votes → slice states → maintenance → runs → uptime, credit and incidents. Pure: no clock, no I/O; the moment
//! of the report and the start of monitoring come in as a [`Horizon`].
//!
//! Only results from the regions a check is assigned to vote ([`Contract::placement`], from the collector's
//! configuration): the set of regions is the configuration's, not whichever results arrived.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use slaprobe_proto::ResultRecord;

use super::credit::{Uptime, credit_amount, credit_percent};
use super::faults::AgentFault;
use super::grid::Grid;
use super::horizon::Horizon;
use super::observations::{Observations, Sample};
use super::period::Period;
use super::report::{Coverage, Day, Incident, PeriodStatus, RegionCoverage, Report};
use super::summary::Summary;
use crate::contract::{Contract, Maintenance, NoData};

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
    /// Ended before the contract's first stored result: monitoring had not begun (rule 7).
    NotMonitored,
    /// Not yet ended when the report was made (rule 7).
    Future,
}

/// The results that can matter to `contract` over `period`: those starting in `[from, to)`, the period widened
/// by the slices that runs across its boundaries are judged on (rule 6).
pub fn evaluation_window(contract: &Contract, period: &Period) -> (Timestamp, Timestamp) {
    let grid = grid_of(contract, period);
    (grid.slice_start(0), grid.slice_end(grid.slices() - 1))
}

/// Computes the report of `contract` over `period` from `results` (any order; results off the period and its
/// run margins are ignored), as known at `horizon`.
pub fn evaluate(contract: &Contract, period: &Period, results: &[ResultRecord], horizon: &Horizon) -> Report {
    let mut evaluation = Evaluation::new(contract, period);
    for result in results {
        evaluation.add(result);
    }
    evaluation.report(horizon)
}

/// A report made while results stream past, one [`Evaluation::add`] at a time (a results file read line by
/// line): the memory it takes grows with the period's slices and regions, not with the number of results. The
/// slice ledger feeds one slice's counts at a time instead ([`Evaluation::observations`]).
#[derive(Clone)]
pub struct Evaluation<'a> {
    contract: &'a Contract,
    period: Period,
    grid: Grid,
    observations: Observations,
    first_result: Option<Timestamp>,
}

impl<'a> Evaluation<'a> {
    /// Nothing seen yet of `contract` over `period`.
    pub fn new(contract: &'a Contract, period: &Period) -> Self {
        let grid = grid_of(contract, period);
        Self::over(contract, period, 0..grid.slices())
    }

    /// Nothing seen yet of `contract` over the slices `covered` of `period`'s grid (results in other slices are
    /// left out).
    pub fn over(contract: &'a Contract, period: &Period, covered: std::ops::Range<usize>) -> Self {
        let grid = grid_of(contract, period);
        let observations = Observations::over(contract, &grid, covered);
        Self { contract, period: period.clone(), grid, observations, first_result: None }
    }

    /// Takes one result into account (those off the period and its run margins are left out).
    pub fn add(&mut self, result: &ResultRecord) {
        if !result.control && self.contract.terms.checks.contains(&result.check_id) {
            self.first_result = Some(self.first_result.map_or(result.started_at, |first| first.min(result.started_at)));
        }
        self.observations.add(self.contract, &self.grid, result);
    }

    /// Sets aside the results `fault` names (rule 11); a fault off the covered slices changes nothing.
    pub fn add_fault(&mut self, fault: &AgentFault) {
        self.observations.add_fault(&self.grid, &fault.agent_id, (fault.start, fault.end));
    }

    /// The results laid out so far, to lay out counts a slice ledger kept.
    pub fn observations(&mut self) -> &mut Observations {
        &mut self.observations
    }

    /// The slice of the evaluation grid that is exactly `[start, end)`, if there is one and it is covered.
    pub fn slice_at(&self, start: Timestamp, end: Timestamp) -> Option<usize> {
        let slice = self.slice_of(start)?;
        (self.grid.slice_start(slice) == start && self.grid.slice_end(slice) == end).then_some(slice)
    }

    /// The evaluation grid's slice that contains `at`, if it lies on the grid and is covered.
    pub fn slice_of(&self, at: Timestamp) -> Option<usize> {
        self.grid.index_of(at).filter(|slice| self.observations.covered().contains(slice))
    }

    /// The slices of the evaluation grid that end in `(after, until]`.
    pub fn slices_ending_within(&self, after: Timestamp, until: Timestamp) -> std::ops::Range<usize> {
        self.grid.first_ending_after(after)..self.grid.first_ending_after(until)
    }

    /// The period evaluated.
    pub fn period(&self) -> &Period {
        &self.period
    }

    /// The start and end of the evaluation grid's slice `slice`.
    pub fn slice_bounds(&self, slice: usize) -> (Timestamp, Timestamp) {
        (self.grid.slice_start(slice), self.grid.slice_end(slice))
    }

    /// The contract evaluated.
    pub fn contract(&self) -> &'a Contract {
        self.contract
    }

    /// The regions that reported so far.
    pub fn regions(&self) -> &[String] {
        &self.observations.regions
    }

    /// The slices of the grid that lie within `[from, until)`, a range of indices.
    pub fn slices_within(&self, from: Timestamp, until: Timestamp) -> std::ops::Range<usize> {
        let slices = self.grid.slices();
        let first = (0..slices).find(|slice| self.grid.slice_start(*slice) >= from).unwrap_or(slices);
        let end = (first..slices).find(|slice| self.grid.slice_end(*slice) > until).unwrap_or(slices);
        first..end
    }

    /// The results `region` had in `slices` of the grid, and how many of them failed (rule 3).
    pub fn region_totals(&self, region: &str, slices: std::ops::Range<usize>) -> (u64, u64) {
        self.observations.region_totals(region, slices)
    }

    /// This evaluation as `judge` (the same contract with other quorums) would make it from `region`'s results
    /// alone; `None` when the region did not report.
    pub fn of_region<'b>(&self, judge: &'b Contract, region: &str) -> Option<Evaluation<'b>> {
        Some(Evaluation {
            contract: judge,
            period: self.period.clone(),
            grid: self.grid.clone(),
            observations: self.observations.of_region(region)?,
            first_result: self.first_result,
        })
    }

    /// The earliest start of a result of the contract's checks seen, anywhere in time: when monitoring began, as
    /// far as these results tell.
    pub fn first_result(&self) -> Option<Timestamp> {
        self.first_result
    }

    /// What rules 2–4 make of the results taken in so far, slice by slice.
    pub fn summary(&self) -> Summary {
        Summary::of(self.contract, &self.observations)
    }

    /// The period's slices as rules 2–5 and the maintenance windows judge them, before short runs are forgiven,
    /// oldest first (see [`slice_votes`]).
    pub fn votes(self, monitored_from: Option<Timestamp>) -> Vec<SliceVote> {
        let within = (self.period.start, self.period.end);
        votes_of(self.contract, &self.period, &self.summary(), monitored_from, within)
    }

    /// The report, as known at `horizon`.
    pub fn report(self, horizon: &Horizon) -> Report {
        report_of(self.contract, &self.period, &self.summary(), horizon)
    }
}

/// The slices of the grid of `contract` over `period` that lie within `[from, to)`, as rules 2–5 and the
/// maintenance windows judge them from `summary` (of that grid), before short runs are forgiven, oldest first.
pub fn votes_of(
    contract: &Contract,
    period: &Period,
    summary: &Summary,
    monitored_from: Option<Timestamp>,
    (from, to): (Timestamp, Timestamp),
) -> Vec<SliceVote> {
    let grid = grid_of(contract, period);
    let within = grid.first_ending_after(from)..grid.first_ending_after(to);
    let horizon = Horizon { monitored_from, now: Timestamp::MAX };
    let judged = judge_slices(contract, &grid, summary, &horizon, within.clone());
    let by_name = summary.by_name();
    within
        .filter(|slice| grid.slice_start(*slice) >= from)
        .map(|slice| {
            let down: Vec<usize> = summary.down(slice).collect();
            SliceVote {
                start: grid.slice_start(slice),
                end: grid.slice_end(slice),
                state: judged.states[slice],
                down_regions: (by_name.iter().filter(|region| down.contains(region)))
                    .map(|region| summary.regions()[*region].clone())
                    .collect(),
            }
        })
        .collect()
}

/// The grid `contract`'s `period` is judged on: its slices, and the margins runs across its boundaries are
/// judged on (rule 6).
pub fn grid_of(contract: &Contract, period: &Period) -> Grid {
    let margin = usize::try_from(contract.terms.min_down_run.saturating_sub(1)).unwrap_or(0);
    Grid::new(period, contract.terms.slice, margin)
}

/// The report of `contract` over `period` from `summary` (of the grid of `contract` over `period`), as known at
/// `horizon`.
pub fn report_of(contract: &Contract, period: &Period, summary: &Summary, horizon: &Horizon) -> Report {
    let terms = &contract.terms;
    let grid = &grid_of(contract, period);
    let judged = judge(contract, grid, summary, horizon);
    let by_name = summary.by_name();
    let mut states = judged.states;
    let runs = forgive_short_runs(&mut states, terms.min_down_run as usize);

    let inside = grid.period();
    let tally = Tally::of(&states[inside.clone()]);
    let (eligible, counted_down) = tally.eligible_and_down(terms.no_data);
    let uptime = Uptime::new(eligible - counted_down, eligible);
    let credit_percent = credit_percent_of(contract, uptime);
    let best_case = Uptime::new(eligible + tally.future - counted_down, eligible + tally.future);
    let credit_certain_percent = credit_percent_of(contract, best_case);
    let slice_seconds = grid.slice_seconds();
    let objective = terms.objective;
    let budget_fraction = f64::try_from((Decimal::ONE_HUNDRED - objective) / Decimal::ONE_HUNDRED).unwrap_or(0.0);
    let with_data = |slice: &usize| summary.has_data(*slice) && states[*slice] != SliceState::Future;
    let monitored_from = inside.clone().find(with_data);
    let monitored_until = inside.clone().rev().find(with_data);
    let measurable = tally.total - tally.future - tally.excluded;
    let share = |slices: u64| (measurable > 0).then(|| 100.0 * slices as f64 / measurable as f64);
    let percent = share(tally.decided());
    let coverage = Coverage {
        measurable_slices: measurable,
        reported_slices: tally.decided(),
        percent,
        warn_below_percent: terms.min_coverage,
        low: percent.is_some_and(|percent| percent < terms.min_coverage),
        regions: by_name
            .iter()
            .map(|region| RegionCoverage {
                region: summary.regions()[*region].clone(),
                reported_slices: judged.reported_by_region[*region],
                percent: share(judged.reported_by_region[*region]),
                inconclusive_slices: judged.inconclusive_by_region[*region],
            })
            .collect(),
    };
    Report {
        contract: terms.id.clone(),
        vendor: terms.vendor.clone(),
        service: terms.service.clone(),
        period: period.label.clone(),
        timezone: terms.timezone.clone(),
        period_start: period.start,
        period_end: period.end,
        generated_at: horizon.now,
        period_status: if tally.future == 0 { PeriodStatus::Complete } else { PeriodStatus::InProgress },
        preliminary: tally.future > 0,
        slice_seconds,
        total_slices: tally.total,
        excluded_slices: tally.excluded,
        unknown_slices: tally.unknown,
        down_slices: tally.down,
        not_monitored_slices: tally.not_monitored,
        future_slices: tally.future,
        eligible_slices: eligible,
        monitored_from: monitored_from.map(|slice| grid.slice_start(slice)),
        monitored_until: monitored_until.map(|slice| grid.slice_end(slice)),
        coverage,
        uptime_percent: uptime.map(Uptime::percent),
        objective,
        met: uptime.map(|uptime| !uptime.is_below(objective)),
        credit_percent,
        credit_amount: credit_amount(terms.credits.fee, credit_percent, terms.credits.min_amount),
        best_case_uptime_percent: best_case.map(Uptime::percent),
        met_at_best: best_case.map(|best| !best.is_below(objective)),
        credit_certain_percent,
        credit_certain_amount: credit_amount(terms.credits.fee, credit_certain_percent, terms.credits.min_amount),
        currency: terms.credits.currency.clone(),
        claim_deadline: terms
            .claim_window
            .and_then(|window| SignedDuration::try_from(window).ok())
            .and_then(|window| period.end.checked_add(window).ok()),
        budget_seconds: eligible as f64 * slice_seconds as f64 * budget_fraction,
        budget_period_seconds: (tally.total - judged.maintenance) as f64 * slice_seconds as f64 * budget_fraction,
        budget_used_seconds: counted_down as f64 * slice_seconds as f64,
        incidents: runs
            .into_iter()
            .filter_map(|run| {
                let clipped = run.start.max(inside.start)..run.end.min(inside.end);
                (!clipped.is_empty()).then(|| incident(contract, grid, summary, clipped))
            })
            .collect(),
        days: days(contract, grid, &states),
        regions: by_name.iter().map(|region| summary.regions()[*region].clone()).collect(),
        results_used: summary.used,
        results_ignored: summary.ignored,
        silent_agents: None,
        late: None,
        vendor_status: None,
    }
}

/// Rule 8's credit percent of `contract` for `uptime`.
fn credit_percent_of(contract: &Contract, uptime: Option<Uptime>) -> Decimal {
    credit_percent(&contract.terms.credits.tiers, contract.terms.credits.cap, uptime)
}

/// Every slice of a grid judged (rules 4–5, maintenance and rule 7's edges), before short runs are forgiven,
/// with what coverage needs from the slices inside the period.
struct Judged {
    states: Vec<SliceState>,
    /// Per region (by its number in the summary): slices inside the period, monitored, ended and outside
    /// maintenance, in which it voted.
    reported_by_region: Vec<u64>,
    /// Per region: of those slices, the ones in which some of its results were inconclusive (rule 10).
    inconclusive_by_region: Vec<u64>,
    /// Slices inside the period that start in a maintenance window, whether or not they have ended.
    maintenance: u64,
}

/// Judges every slice of `grid`, before short runs are forgiven (rule 6).
fn judge(contract: &Contract, grid: &Grid, summary: &Summary, horizon: &Horizon) -> Judged {
    judge_slices(contract, grid, summary, horizon, 0..grid.slices())
}

/// Judges the slices `slices` of `grid` as [`judge`] does; the others are left `Future`.
fn judge_slices(
    contract: &Contract,
    grid: &Grid,
    summary: &Summary,
    horizon: &Horizon,
    slices: std::ops::Range<usize>,
) -> Judged {
    let windows = maintenance_windows(contract, grid);
    let inside = grid.period();
    let mut judged = Judged {
        states: vec![SliceState::Future; grid.slices()],
        reported_by_region: vec![0; summary.regions().len()],
        inconclusive_by_region: vec![0; summary.regions().len()],
        maintenance: 0,
    };
    for slice in slices.start..slices.end.min(grid.slices()) {
        let (start, end) = (grid.slice_start(slice), grid.slice_end(slice));
        let maintenance = windows.iter().any(|(from, to)| *from <= start && start < *to);
        let counted = inside.contains(&slice);
        judged.maintenance += u64::from(counted && maintenance);
        let state = if !horizon.has_ended(end) {
            SliceState::Future
        } else if horizon.before_monitoring(end) {
            SliceState::NotMonitored
        } else if maintenance {
            SliceState::Excluded
        } else {
            let (voted, down) = summary.votes(slice);
            if counted {
                for region in summary.voted(slice) {
                    judged.reported_by_region[region] += 1;
                }
                for region in summary.inconclusive(slice) {
                    judged.inconclusive_by_region[region] += 1;
                }
            }
            if down >= contract.terms.min_regions_down as usize {
                SliceState::Down
            } else if voted < contract.min_regions_reporting as usize {
                SliceState::Unknown
            } else {
                SliceState::Up
            }
        };
        judged.states[slice] = state;
    }
    judged
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

/// The last slice boundary at or before `at`, on `contract`'s slice grid starting at `anchor`.
pub fn slice_boundary(contract: &Contract, anchor: Timestamp, at: Timestamp) -> Timestamp {
    let slice = i128::from(contract.terms.slice.as_secs().max(1)) * 1_000_000_000;
    let offset = (at.as_nanosecond() - anchor.as_nanosecond()).div_euclid(slice) * slice;
    Timestamp::from_nanosecond(anchor.as_nanosecond() + offset).unwrap_or(at)
}

/// The whole slices of `contract` inside `[from, to)`, on the slice grid that starts at `anchor` (the start of
/// the contract's current period), as a period to judge; `None` when no whole slice fits.
pub fn vote_window(contract: &Contract, anchor: Timestamp, (from, to): (Timestamp, Timestamp)) -> Option<Period> {
    let before = slice_boundary(contract, anchor, from);
    let slice = SignedDuration::from_secs(i64::try_from(contract.terms.slice.as_secs().max(1)).ok()?);
    let start = if before < from { before.checked_add(slice).ok()? } else { before };
    let end = slice_boundary(contract, anchor, to);
    (start < end).then(|| Period { label: String::new(), start, end })
}

/// The whole slices of `contract` inside `[from, to)`, on the slice grid that starts at `anchor`, judged from
/// `results` and the agents' `faults` (rule 11), oldest first; slices that ended before `monitored_from` (the
/// contract's first stored result) are `NotMonitored` (rule 7), so they neither burn budget nor count as unknown.
pub fn slice_votes(
    contract: &Contract,
    anchor: Timestamp,
    window: (Timestamp, Timestamp),
    monitored_from: Option<Timestamp>,
    results: &[ResultRecord],
    faults: &[AgentFault],
) -> Vec<SliceVote> {
    let Some(window) = vote_window(contract, anchor, window) else { return Vec::new() };
    let mut evaluation = Evaluation::new(contract, &window);
    results.iter().for_each(|result| evaluation.add(result));
    faults.iter().for_each(|fault| evaluation.add_fault(fault));
    evaluation.votes(monitored_from)
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
    not_monitored: u64,
    future: u64,
}

impl Tally {
    fn of(states: &[SliceState]) -> Self {
        let mut tally = Self { total: states.len() as u64, ..Self::default() };
        for state in states {
            match state {
                SliceState::Excluded => tally.excluded += 1,
                SliceState::Unknown => tally.unknown += 1,
                SliceState::Down => tally.down += 1,
                SliceState::NotMonitored => tally.not_monitored += 1,
                SliceState::Future => tally.future += 1,
                SliceState::Up => {}
            }
        }
        tally
    }

    /// Slices whose state the votes decided (up or down; forgiving short runs keeps them decided).
    fn decided(self) -> u64 {
        self.total - self.excluded - self.unknown - self.not_monitored - self.future
    }

    /// Rule 7: eligible slices and the slices counted down, by the `no_data` rule; slices not monitored or
    /// still to come are never eligible.
    fn eligible_and_down(self, no_data: NoData) -> (u64, u64) {
        let known = self.total - self.excluded - self.not_monitored - self.future;
        match no_data {
            NoData::Exclude => (known - self.unknown, self.down),
            NoData::Up => (known, self.down),
            NoData::Down => (known, self.down + self.unknown),
        }
    }
}

/// The period's slices grouped by the local date of their start; days wholly in the future are left out.
fn days(contract: &Contract, grid: &Grid, states: &[SliceState]) -> Vec<Day> {
    let mut days: Vec<Day> = Vec::new();
    let inside = grid.period();
    let mut first_slice = inside.start;
    while first_slice < inside.end {
        let date = grid.slice_start(first_slice).to_zoned_datetime(contract.tz.clone()).date();
        let end = first_slice_from(grid, next_midnight(contract, date)).clamp(first_slice + 1, inside.end);
        let slice = end - 1;
        let tally = Tally::of(&states[first_slice..=slice]);
        let (eligible, down) = tally.eligible_and_down(contract.terms.no_data);
        if tally.future < tally.total {
            days.push(Day {
                date,
                total_slices: tally.total,
                excluded_slices: tally.excluded,
                unknown_slices: tally.unknown,
                down_slices: tally.down,
                not_monitored_slices: tally.not_monitored,
                future_slices: tally.future,
                uptime_percent: Uptime::new(eligible - down, eligible).map(Uptime::percent),
            });
        }
        first_slice = slice + 1;
    }
    days
}

/// The first instant of the local day after `date` in `contract`'s time zone (`None` past the end of time).
fn next_midnight(contract: &Contract, date: jiff::civil::Date) -> Option<Timestamp> {
    let next = date.tomorrow().ok()?.to_zoned_datetime(contract.tz.clone()).ok()?;
    Some(next.start_of_day().ok()?.timestamp())
}

/// The first slice of `grid` that starts at or after `at` (the grid's end when none does).
fn first_slice_from(grid: &Grid, at: Option<Timestamp>) -> usize {
    let Some(at) = at else { return grid.slices() };
    match grid.index_of(at) {
        Some(slice) if grid.slice_start(slice) < at => slice + 1,
        Some(slice) => slice,
        None if at < grid.slice_start(0) => 0,
        None => grid.slices(),
    }
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
fn incident(contract: &Contract, grid: &Grid, summary: &Summary, slices: std::ops::Range<usize>) -> Incident {
    let mut regions = BTreeSet::new();
    let mut checks = BTreeSet::new();
    let mut samples: Vec<&Sample> = Vec::new();
    for slice in slices.clone() {
        regions.extend(summary.down(slice).map(|region| summary.regions()[region].clone()));
        if let Some(detail) = summary.detail(slice) {
            checks.extend(detail.checks.iter().filter_map(|check| contract.terms.checks.get(*check)).cloned());
            samples.extend(&detail.samples);
        }
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
        observed: Vec::new(),
        measurement: Vec::new(),
    }
}
