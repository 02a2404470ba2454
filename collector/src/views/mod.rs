//! What the API, the dashboard, `/metrics`, alerting and the `report`/`export` commands read from the store: each
//! contract's standing in its current period ([`store_status`]), one period's view with the results behind it
//! ([`store_period_view`]), reports of any period ([`store_reports`]) and the results a report is computed from
//! ([`export`]). A report computed from an export equals the report computed from the store: the export covers
//! the same window (the period plus the slices runs across its boundaries are judged on) and carries the
//! contract's first stored result, so both know when monitoring began.
//!
//! Reports and standings read the slices the ledger settled from the ledger and the rest from raw results,
//! exports read raw results, six hours at a time ([`window`]). The period view reads the same way, and its
//! per-region figures and daily latency percentiles come from the same pass (the ledger keeps latency sketches).
//! Vendor scorecards ([`scorecard`]) read the frozen reports of closed periods instead.
//! Reports and period views then read the raw results of each incident for what we observed in it (one failed
//! result per region, with its failure captures), and what the vendor's status page declared
//! (kept by `status_pages`).

pub mod measurement;
pub mod scorecard;
mod standings;
mod window;

use std::collections::BTreeSet;

use jiff::Timestamp;
use slaprobe_proto::ResultRecord;

pub use self::standings::{Standings, keep_up};
use self::window::{PassPart, WindowChunks, WindowPass};
use crate::config::CollectorConfig;
use crate::ledger::earliest_of;
use crate::store::enrolments::{EnrolledAgent, EnrolmentState};
use crate::store::{LedgerState, Store, StoreError};
use slaprobe_sla::breakdown::{DayLatency, RegionView};
use slaprobe_sla::contract::Contract;
use slaprobe_sla::engine::{SliceVote, slice_boundary, vote_window};
use slaprobe_sla::observed::Sampler;
use slaprobe_sla::status::{ContractStatus, current_period, standing_of};
use slaprobe_sla::{Horizon, Period, Report, evaluation_window, parse_period};

/// How much of an incident's raw results is read at once while looking for its samples: most are found in its
/// first minutes.
const SAMPLE_CHUNK: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// Why a view could not be made; the API maps each to its status, the commands to their exit status.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// No contract has this id (404; exit 64).
    #[error("no contract {0:?}")]
    NoContract(String),
    /// The configuration has no contract at all (exit 64).
    #[error("no contract is configured")]
    NoContracts,
    /// The period is malformed (400; exit 64).
    #[error("period {problem} (contract {contract})")]
    BadPeriod {
        /// The contract.
        contract: String,
        /// What is wrong with the period.
        problem: String,
    },
    /// A well-formed period the contract does not have: a month of a quarterly contract or the other way
    /// round (404; exit 64).
    #[error("contract {contract:?} has no period {problem}")]
    NoPeriod {
        /// The contract.
        contract: String,
        /// What is wrong with the period.
        problem: String,
    },
    /// The contract's current period cannot be cut (a time zone without the moment; exit 64).
    #[error("no current period: {0}")]
    NoCurrentPeriod(String),
    /// The store could not be read (503; exit 1).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The contracts to report on (all, or `only`), each with its period parsed.
pub fn select<'a>(
    contracts: &'a [Contract],
    period: &str,
    only: Option<&str>,
) -> Result<Vec<(&'a Contract, Period)>, ViewError> {
    let selected: Vec<&Contract> =
        contracts.iter().filter(|contract| only.is_none_or(|id| contract.terms.id == id)).collect();
    if selected.is_empty() {
        return Err(match only {
            Some(id) => ViewError::NoContract(id.to_owned()),
            None => ViewError::NoContracts,
        });
    }
    selected
        .into_iter()
        .map(|contract| {
            parse_period(period, contract.terms.period, &contract.tz).map(|period| (contract, period)).map_err(
                |problem| {
                    let contract = contract.terms.id.clone();
                    if is_period_label(period) {
                        ViewError::NoPeriod { contract, problem }
                    } else {
                        ViewError::BadPeriod { contract, problem }
                    }
                },
            )
        })
        .collect()
}

/// Whether `label` has the form of a period, `YYYY-MM` or `YYYY-Qn` (whichever kind the contract has).
pub fn is_period_label(label: &str) -> bool {
    let Some((year, rest)) = label.split_once('-') else { return false };
    let month_or_quarter = match rest.strip_prefix('Q') {
        Some(quarter) => matches!(quarter, "1" | "2" | "3" | "4"),
        None => {
            rest.len() == 2
                && rest.bytes().all(|byte| byte.is_ascii_digit())
                && rest.parse::<u8>().is_ok_and(|month| (1..=12).contains(&month))
        }
    };
    year.len() == 4 && year.bytes().all(|byte| byte.is_ascii_digit()) && month_or_quarter
}

/// Reports for `period` from the store as known at `now`, each with its contract; `only` limits them to one
/// contract. Unlike offline reports, these know which agents should have probed, and name the silent ones, and
/// say what each report would be without the results that arrived after its period closed.
pub async fn store_reports<'a>(
    config: &'a CollectorConfig,
    store: &Store,
    period: &str,
    only: Option<&str>,
    now: Timestamp,
) -> Result<Vec<(&'a Contract, Report)>, ViewError> {
    let mut reports = Vec::new();
    let selected = select(&config.contracts, period, only)?;
    let states = store.ledger_states().await?;
    for (contract, period) in selected {
        let ledger = crate::ledger::usable(&states, contract);
        let horizon = store_horizon(contract, store, ledger, now).await?;
        let mut pass = report_pass(contract, &period);
        pass.read(store, &period, ledger).await?;
        let enrolled = store.enrolled_agents().await?;
        let named = naming_silent(config, &enrolled, contract, pass.finish(&horizon));
        let report = with_observations(config, store, contract, named).await?;
        reports.push((contract, report));
    }
    Ok(reports)
}

/// The horizon of a report made from the store at `now` (see [`monitored_from`]).
async fn store_horizon(
    contract: &Contract,
    store: &Store,
    ledger: Option<&LedgerState>,
    now: Timestamp,
) -> Result<Horizon, StoreError> {
    Ok(Horizon { monitored_from: monitored_from(contract, store, ledger).await?, now })
}

/// When monitoring of `contract` began, as its reports from the store take it (see [`monitored_from`]).
pub async fn monitoring_began(store: &Store, contract: &Contract) -> Result<Option<Timestamp>, StoreError> {
    let states = store.ledger_states().await?;
    monitored_from(contract, store, crate::ledger::usable(&states, contract)).await
}

/// When monitoring of `contract` began: its first result, as stored or as its ledger remembers it (retention may
/// have deleted it since).
async fn monitored_from(
    contract: &Contract,
    store: &Store,
    ledger: Option<&LedgerState>,
) -> Result<Option<Timestamp>, StoreError> {
    let stored = store.first_result_at(&contract.terms.checks).await?;
    Ok(earliest_of(stored, ledger.and_then(|state| state.monitored_from)))
}

/// Each contract's standing in its current period at `as_of`, from the store through what `standings` keeps;
/// `only` limits it to one contract.
pub async fn store_status<'a>(
    config: &'a CollectorConfig,
    store: &Store,
    standings: &Standings,
    as_of: Timestamp,
    only: Option<&str>,
) -> Result<Vec<(&'a Contract, ContractStatus)>, ViewError> {
    let selected: Vec<&Contract> =
        config.contracts.iter().filter(|contract| only.is_none_or(|id| contract.terms.id == id)).collect();
    if let (Some(id), true) = (only, selected.is_empty()) {
        return Err(ViewError::NoContract(id.to_owned()));
    }
    standings.retain(&config.contracts);
    let mut statuses = Vec::new();
    let states = store.ledger_states().await?;
    for contract in selected {
        let period = current_period(contract, as_of).map_err(ViewError::NoCurrentPeriod)?;
        statuses.push((contract, standing(config, store, standings, &states, contract, &period, as_of).await?));
    }
    Ok(statuses)
}

/// `contract`'s standing in `period` (its current one) at `as_of`: through what `standings` keeps of the ledger
/// `states` describe, or read like a report when that cannot be used.
async fn standing(
    config: &CollectorConfig,
    store: &Store,
    standings: &Standings,
    states: &[LedgerState],
    contract: &Contract,
    period: &Period,
    as_of: Timestamp,
) -> Result<ContractStatus, StoreError> {
    let current = CurrentRead::with_states(store, standings, states.to_vec(), contract, period).await?;
    current.standing(config, store, as_of).await
}

/// One contract's current period as alerting reads it in one evaluation: its standing and any window of slice
/// votes come from one read, through what [`Standings`] keeps (or, when that cannot be used, read like a report).
pub struct CurrentRead {
    contract: Contract,
    period: Period,
    states: Vec<LedgerState>,
    monitored_from: Option<Timestamp>,
    part: Option<PassPart>,
}

impl CurrentRead {
    /// Reads `contract`'s current `period` from `store` through what `standings` keeps.
    pub async fn new(
        store: &Store,
        standings: &Standings,
        contract: &Contract,
        period: &Period,
    ) -> Result<Self, StoreError> {
        Self::with_states(store, standings, store.ledger_states().await?, contract, period).await
    }

    async fn with_states(
        store: &Store,
        standings: &Standings,
        states: Vec<LedgerState>,
        contract: &Contract,
        period: &Period,
    ) -> Result<Self, StoreError> {
        let monitored_from = monitored_from(contract, store, crate::ledger::usable(&states, contract)).await?;
        let part = standings.current_part(store, &states, contract, period).await?;
        Ok(Self { contract: contract.clone(), period: period.clone(), states, monitored_from, part })
    }

    /// The standing at `as_of`: what the breach forecast, `/api/v1/contracts` and `/metrics` show.
    pub async fn standing(
        &self,
        config: &CollectorConfig,
        store: &Store,
        as_of: Timestamp,
    ) -> Result<ContractStatus, StoreError> {
        let (contract, period) = (&self.contract, &self.period);
        let horizon = Horizon { monitored_from: self.monitored_from, now: as_of };
        let enrolled = store.enrolled_agents().await?;
        if let Some(part) = &self.part {
            let until_now = as_of.clamp(period.start, period.end);
            let so_far = naming_silent(config, &enrolled, contract, part.report(contract, period, &horizon, until_now));
            return Ok(standing_of(contract, period, as_of, so_far));
        }
        let mut pass = standing_pass(contract, period, &horizon);
        pass.read(store, period, crate::ledger::usable(&self.states, contract)).await?;
        Ok(standing_at((config, &enrolled), contract, period, &horizon, pass))
    }

    /// The whole slices in `[from, to)` on the current period's grid, judged before short runs are forgiven
    /// (what alerting watches), oldest first. Those before the period's evaluation window (a window reaching back
    /// into the previous period, whose slices may lie on another grid) are read from raw results.
    pub async fn votes(&self, store: &Store, window: (Timestamp, Timestamp)) -> Result<Vec<SliceVote>, StoreError> {
        let (contract, current) = (&self.contract, &self.period);
        let Some(window) = vote_window(contract, current.start, window) else { return Ok(Vec::new()) };
        let (from, to) = evaluation_window(contract, current);
        if let (Some(part), true) = (&self.part, window.end <= to) {
            let mut votes = Vec::new();
            if window.start < from {
                let before = Period { end: from, ..window.clone() };
                let mut pass = WindowPass::new(contract, &before, (before.start, before.end)).with_ledger_from(from);
                pass.read(store, &before, None).await?;
                votes = pass.votes(self.monitored_from);
            }
            votes.extend(part.votes(contract, current, self.monitored_from, (window.start.max(from), window.end)));
            return Ok(votes);
        }
        let mut pass = WindowPass::new(contract, &window, (window.start, window.end)).with_ledger_from(from);
        pass.read(store, &window, crate::ledger::usable(&self.states, contract)).await?;
        Ok(pass.votes(self.monitored_from))
    }
}

/// One contract in one period with what explains its figures: the current period part way (with its
/// standing), or a past period whole.
pub struct PeriodView<'a> {
    /// The contract.
    pub contract: &'a Contract,
    /// The period as far as it has elapsed: for the current period, up to the last whole slice before `as_of`.
    pub period: Period,
    /// The standing, for the current period only.
    pub status: Option<ContractStatus>,
    /// The period's report (so far, for the current period).
    pub report: Report,
    /// Each region's own view of the elapsed period.
    pub regions: Vec<RegionView>,
    /// Latency percentiles per local day of the elapsed period.
    pub latency: Vec<DayLatency>,
    /// When monitoring began and the moment of the view.
    pub horizon: Horizon,
}

/// Contract `id` in `period` (its current period when `None`), from the store, as of `as_of`: read like a report,
/// the settled slices from the ledger (with their latency sketches) and the rest from raw results.
pub async fn store_period_view<'a>(
    config: &'a CollectorConfig,
    store: &Store,
    id: &str,
    period: Option<&str>,
    as_of: Timestamp,
) -> Result<PeriodView<'a>, ViewError> {
    let contract = config
        .contracts
        .iter()
        .find(|contract| contract.terms.id == id)
        .ok_or_else(|| ViewError::NoContract(id.to_owned()))?;
    let current = current_period(contract, as_of).map_err(ViewError::NoCurrentPeriod)?;
    let period = match period {
        Some(label) if label != current.label => select(std::slice::from_ref(contract), label, None)?.remove(0).1,
        _ => current,
    };
    let states = store.ledger_states().await?;
    let ledger = crate::ledger::usable(&states, contract);
    let horizon = store_horizon(contract, store, ledger, as_of).await?;
    let enrolled = store.enrolled_agents().await?;
    if period.end <= as_of {
        let mut pass = report_pass(contract, &period).with_breakdown((period.start, period.end));
        pass.read(store, &period, ledger).await?;
        let (regions, latency) = pass.breakdown(&horizon).unwrap_or_default();
        let named = naming_silent(config, &enrolled, contract, pass.finish(&horizon));
        let report = with_observations(config, store, contract, named).await?;
        return Ok(PeriodView { contract, period, status: None, report, regions, latency, horizon });
    }
    // Up to the last whole slice before `as_of`.
    let elapsed_until = slice_boundary(contract, period.start, as_of.max(period.start)).min(period.end);
    let elapsed = Period { end: elapsed_until, ..period.clone() };
    let mut pass = standing_pass(contract, &period, &horizon).with_breakdown((elapsed.start, elapsed.end));
    pass.read(store, &period, ledger).await?;
    let (regions, latency) = pass.breakdown(&horizon).unwrap_or_default();
    let standing = standing_at((config, &enrolled), contract, &period, &horizon, pass);
    let report = with_observations(config, store, contract, standing.so_far.clone()).await?;
    Ok(PeriodView { contract, period: elapsed, status: Some(standing), report, regions, latency, horizon })
}

/// `report` with what we observed in each of its incidents ([`Sampler`]): each incident's raw results read
/// [`SAMPLE_CHUNK`] at a time from its start until every region that voted down in it has its sample; with how
/// each region was measuring then ([`measurement`]); and with the vendor's word against them.
async fn with_observations(
    config: &CollectorConfig,
    store: &Store,
    contract: &Contract,
    mut report: Report,
) -> Result<Report, StoreError> {
    let mut sampler = Sampler::new(contract, &report.incidents);
    let spans: Vec<(Timestamp, Timestamp)> = sampler.spans().collect();
    for (index, (start, end)) in spans.into_iter().enumerate() {
        let mut from = start;
        while from < end && !sampler.is_complete(index) {
            let until = from.checked_add(SAMPLE_CHUNK).unwrap_or(end).min(end);
            for result in store.results_between(&contract.terms.checks, from, until).await? {
                sampler.offer(&result);
            }
            from = until;
        }
    }
    sampler.finish(&mut report.incidents);
    let report = measurement::with_measurement(store, config.max_clock_offset, report).await?;
    with_vendor_word(store, contract, report).await
}

/// `report` with what the vendor's status page declared against its incidents, when the contract names one.
async fn with_vendor_word(store: &Store, contract: &Contract, mut report: Report) -> Result<Report, StoreError> {
    if let Some(page) = &contract.terms.status_page {
        let read = store.status_page_read(&page.url).await?;
        report.vendor_status = Some(slaprobe_sla::vendor::compare(read, contract, &report));
    }
    Ok(report)
}

/// A pass for `contract`'s standing in `period` (its current one) at `horizon`: the agents that reported so far,
/// the slice in progress included, count as reporting.
fn standing_pass<'a>(contract: &'a Contract, period: &Period, horizon: &Horizon) -> WindowPass<'a> {
    let until_now = horizon.now.clamp(period.start, period.end);
    WindowPass::new(contract, period, (period.start, until_now))
}

/// `contract`'s standing in `period` from `pass`, naming the silent agents.
fn standing_at(
    (config, enrolled): (&CollectorConfig, &[EnrolledAgent]),
    contract: &Contract,
    period: &Period,
    horizon: &Horizon,
    pass: WindowPass<'_>,
) -> ContractStatus {
    standing_of(contract, period, horizon.now, naming_silent(config, enrolled, contract, pass.finish(horizon)))
}

/// `report` naming the agents whose region runs one of `contract`'s checks (by the central check list) but that
/// are not among `reported`: the configured agents, and the `enrolled` ones approved.
fn naming_silent(
    config: &CollectorConfig,
    enrolled: &[EnrolledAgent],
    contract: &Contract,
    (reported, mut report): (BTreeSet<String>, Report),
) -> Report {
    let configured = config.agents.iter().map(|agent| (&agent.agent_id, &agent.region));
    let approved = enrolled.iter().filter(|agent| agent.state == EnrolmentState::Approved);
    let expected = configured.chain(approved.map(|agent| (&agent.agent_id, &agent.region)));
    report.silent_agents = Some(
        expected
            .filter(|(agent_id, region)| config.serves_region(contract, region) && !reported.contains(*agent_id))
            .map(|(agent_id, _)| agent_id.clone())
            .collect(),
    );
    report
}

/// A pass for the report of `contract`'s whole `period`: every agent that sent a result during the period
/// counts as reporting.
fn report_pass<'a>(contract: &'a Contract, period: &Period) -> WindowPass<'a> {
    WindowPass::new(contract, period, (period.start, period.end))
}

/// The results one contract's report for a period is computed from, in time order, read from the store six
/// hours at a time so that exporting a month takes the memory of six hours. When monitoring of the contract
/// began before that window, the contract's first stored result comes first, so that a report made from the
/// export knows when monitoring began, as the store does, and says the same.
pub struct Export<'a> {
    first: Option<ResultRecord>,
    chunks: WindowChunks<'a>,
}

impl Export<'_> {
    /// The next results in time order, or `None` once the window is done.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<ResultRecord>>, ViewError> {
        match self.first.take() {
            Some(first) => Ok(Some(vec![first])),
            None => Ok(self.chunks.next().await?.map(|chunk| chunk.into_iter().map(|(result, _)| result).collect())),
        }
    }
}

/// The export of `contract`'s results for `period` from `store`.
pub async fn export<'a>(
    contracts: &[Contract],
    store: &'a Store,
    contract: &str,
    period: &str,
) -> Result<Export<'a>, ViewError> {
    let (contract, period) = select(contracts, period, Some(contract))?.remove(0);
    let (from, _) = evaluation_window(contract, &period);
    let checks = &contract.terms.checks;
    let mut first = None;
    if let Some(at) = store.first_result_at(checks).await?
        && at < from
    {
        let just_after = at.checked_add(jiff::SignedDuration::from_nanos(1)).unwrap_or(at);
        first = store.results_between(checks, at, just_after).await?.into_iter().next();
    }
    Ok(Export { first, chunks: WindowChunks::of(store, contract, &period) })
}

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod ledger_tests;

#[cfg(test)]
mod tests {
    #[test]
    fn period_labels_are_months_or_quarters() {
        for label in ["2026-02", "2026-12", "2026-Q1", "0000-01"] {
            assert!(super::is_period_label(label), "{label}");
        }
        for label in ["2026-13", "2026-00", "2026-2", "2026-Q5", "26-02", "2026_02", "", "2026-+1"] {
            assert!(!super::is_period_label(label), "{label}");
        }
    }
}
