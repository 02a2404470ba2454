//! The slice ledger: each contract's settled slices, folded once from the raw results into the counts the engine
//! judges a slice from ([`cells`]), so a report, a standing or a scrape reads a row per slice instead of every
//! raw result of the period. It is the engine's input stored, not a second set of rules: the same
//! [`slaprobe_sla`] code judges a slice whether its counts come from the ledger or from raw results, and the rules
//! that depend on the whole period (runs, uptime, credits) are applied when a period is read.
//!
//! A slice is settled [`SETTLE_EXTRA`] after the contract's settle time has passed its end ([`upkeep`] folds
//! it then). A result that arrives for a settled slice leaves a mark in the store as it is written, and the
//! slices it falls in are folded again. The ledger remembers the hash of the terms its counts depend on
//! ([`terms_hash`]); when they change, the contract's ledger is rebuilt from the raw results in the background.
//! Readers never wait for the ledger: what is not settled under the current terms is read from raw results, so
//! every figure is the same whether the ledger is complete, being rebuilt, or empty; only its cost differs.
//!
//! Layout:
//! - [`cells`]: one slice's counts and samples, and folding raw results into them.
//! - [`upkeep`]: the background task that settles slices, folds marked ones again and rebuilds.
//! - [`faults`]: rule 11's judgements of agents across every contract, made by the same task.
//! - [`progress`]: how far each contract's ledger is, for `/readyz`.

pub mod cells;
pub mod faults;
pub mod progress;
pub mod upkeep;

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use crate::config::CollectorConfig;
use crate::store::{LedgerSlice, LedgerState, ResultFlags, Store, StoreError};
use slaprobe_sla::contract::Contract;
use slaprobe_sla::grid::Grid;
use slaprobe_sla::status::current_period;

use self::cells::Fold;

/// Added to a contract's settle time before its slices are settled in the ledger: results still arriving a
/// little after the settle time (a slow batch) land before the slice is folded, not as a re-fold.
pub const SETTLE_EXTRA: SignedDuration = SignedDuration::from_secs(60);

/// How much time one read of raw results covers when slices are folded (of every contract folded together: at
/// most [`upkeep::CHECKS_PER_READ`] checks, 15 regions probing each every 30 s make 28,800 results).
const READ_SPAN: SignedDuration = SignedDuration::from_hours(1);

/// The hash of what a contract's ledger cells depend on: its checks (in order), slice length, `slow_ms`, time
/// zone, period kind, `min_down_run` (the margins periods are judged with) and where its checks are placed.
/// Quorum, ratios, `no_data`, maintenance and credits are applied when a period is read, so changing them needs
/// no rebuild. The first line names the layout of the rows (v2: slices carry latency sketches; v3: and the
/// agents' control probes), so a ledger written before a change of layout is rebuilt too.
pub fn terms_hash(contract: &Contract) -> String {
    let terms = &contract.terms;
    let placement: Vec<(&String, &std::collections::BTreeSet<String>)> =
        contract.placement.iter().filter(|(check, _)| terms.checks.contains(check)).collect();
    let described = format!(
        "ledger v3\nchecks {:?}\nslice_ns {}\nslow_ms {:?}\ntimezone {}\nperiod {:?}\nmin_down_run {}\nplacement {:?}",
        terms.checks,
        terms.slice.as_nanos(),
        terms.slow_ms,
        terms.timezone,
        terms.period,
        terms.min_down_run,
        placement
    );
    crate::digest::token_hash(&described)
}

/// The instant up to which `contract`'s slices are settled at `now`: its settle time and [`SETTLE_EXTRA`] ago.
pub fn settle_horizon(config: &CollectorConfig, contract: &Contract, now: Timestamp) -> Timestamp {
    now.saturating_sub(config.settle_time(contract)).and_then(|at| at.saturating_sub(SETTLE_EXTRA)).unwrap_or(now)
}

/// The earlier of two instants when both are known, else whichever is.
pub fn earliest_of(known: Option<Timestamp>, seen: Option<Timestamp>) -> Option<Timestamp> {
    match (known, seen) {
        (Some(known), Some(seen)) => Some(known.min(seen)),
        (known, seen) => known.or(seen),
    }
}

/// `ranges` sorted, with overlapping or touching ones merged.
pub fn merged_ranges(mut ranges: Vec<(Timestamp, Timestamp)>) -> Vec<(Timestamp, Timestamp)> {
    ranges.retain(|(first, last)| first <= last);
    ranges.sort();
    let mut merged: Vec<(Timestamp, Timestamp)> = Vec::new();
    for (first, last) in ranges {
        match merged.last_mut() {
            Some((_, end)) if first <= *end => *end = (*end).max(last),
            _ => merged.push((first, last)),
        }
    }
    merged
}

/// `contract`'s ledger state among `states`, if it was computed under the contract's current terms.
pub fn usable<'s>(states: &'s [LedgerState], contract: &Contract) -> Option<&'s LedgerState> {
    let hash = terms_hash(contract);
    states.iter().find(|state| state.contract == contract.terms.id && state.terms_hash == hash)
}

/// The slice length of `contract`.
pub fn slice_length(contract: &Contract) -> SignedDuration {
    SignedDuration::try_from(contract.terms.slice).unwrap_or(SignedDuration::MAX)
}

/// The slices whose end lies in `(after, until]`, on the grids of every period that has some (each with the
/// margins its runs are judged on), and the earliest instant one of them starts.
fn slices_ending_between(
    contract: &Contract,
    after: Timestamp,
    until: Timestamp,
) -> (Vec<(Grid, std::ops::Range<usize>)>, Timestamp) {
    let margin = usize::try_from(contract.terms.min_down_run.saturating_sub(1)).unwrap_or(0);
    let slice = slice_length(contract);
    let reach = slice.checked_mul(i32::try_from(margin + 1).unwrap_or(i32::MAX)).unwrap_or(SignedDuration::MAX);
    let mut grids = Vec::new();
    let mut earliest = after;
    let Ok(mut period) = current_period(contract, after.saturating_sub(reach).unwrap_or(after)) else {
        return (grids, earliest);
    };
    loop {
        if period.start.saturating_sub(reach).unwrap_or(period.start) > until {
            break;
        }
        let grid = Grid::new(&period, contract.terms.slice, margin);
        let first = first_index(grid.slices(), |index| grid.slice_end(index) > after);
        let end = first_index(grid.slices(), |index| grid.slice_end(index) > until);
        if first < end {
            earliest = earliest.min(grid.slice_start(first));
            grids.push((grid, first..end));
        }
        match current_period(contract, period.end) {
            Ok(next) if next.start > period.start => period = next,
            _ => break,
        }
    }
    (grids, earliest)
}

/// The first index in `0..count` where `holds` (which, once true, stays true), or `count`.
fn first_index(count: usize, holds: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, count);
    while low < high {
        let middle = low + (high - low) / 2;
        if holds(middle) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    low
}

/// Folds the slices ending in `(after, until]` of each of `contracts` from the raw results in the store, read
/// [`READ_SPAN`] at a time for all of them at once (results of the same time lie on the same pages, which one
/// query reads once where a query per contract read them once per contract): per contract, the rows to replace
/// them with and the earliest `started_at` among its results.
pub async fn fold_between(
    store: &Store,
    contracts: &[&Contract],
    after: Timestamp,
    until: Timestamp,
) -> Result<Vec<(Vec<LedgerSlice>, Option<Timestamp>)>, StoreError> {
    let spans: Vec<_> = contracts.iter().map(|contract| slices_ending_between(contract, after, until)).collect();
    let folded = contracts.iter().zip(&spans).filter(|(_, (grids, _))| !grids.is_empty());
    let Some(from) = folded.clone().map(|(_, (_, from))| *from).min() else {
        return Ok(contracts.iter().map(|_| (Vec::new(), None)).collect());
    };
    let mut checks: Vec<String> = folded.flat_map(|(contract, _)| contract.terms.checks.iter().cloned()).collect();
    checks.sort_unstable();
    checks.dedup();
    let mut folds: Vec<Option<(Fold<'_>, Timestamp, Option<Timestamp>)>> = contracts
        .iter()
        .zip(spans)
        .map(|(contract, (grids, from))| (!grids.is_empty()).then(|| (Fold::new(contract, grids), from, None)))
        .collect();
    let mut folding: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, contract) in contracts.iter().enumerate().filter(|(index, _)| folds[*index].is_some()) {
        for check in &contract.terms.checks {
            folding.entry(check.as_str()).or_default().push(index);
        }
    }
    let mut read_from = from;
    while read_from < until {
        let read_to = read_from.saturating_add(READ_SPAN).unwrap_or(until).min(until);
        for result in &store.control_results_between(read_from, read_to).await? {
            for (fold, from, _) in folds.iter_mut().flatten() {
                if result.started_at >= *from {
                    fold.add(result, false);
                }
            }
        }
        let measured = store.flagged_results_between(&checks, read_from, read_to).await?;
        for (result, flags) in measured.iter().filter(|(_, flags)| !flags.contains(ResultFlags::CONTROL)) {
            for index in folding.get(result.check_id.as_str()).into_iter().flatten() {
                if let Some((fold, from, earliest)) = &mut folds[*index]
                    && result.started_at >= *from
                {
                    *earliest = earliest_of(*earliest, Some(result.started_at));
                    fold.add(result, flags.contains(ResultFlags::LATE));
                }
            }
        }
        read_from = read_to;
    }
    Ok(folds
        .into_iter()
        .map(|fold| fold.map_or((Vec::new(), None), |(fold, _, earliest)| (fold.finish(), earliest)))
        .collect())
}
