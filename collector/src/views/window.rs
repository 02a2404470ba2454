//! One pass over a contract's evaluation window of a period: the settled slices from the slice ledger (a week of
//! rows at a time), the rest from raw results ([`WindowChunks`], six hours at a time), each taken in by what the
//! view needs ([`WindowPass`]): the report's evaluation, what late results changed, the agents that reported,
//! and for the period view the latency sketches per region and day ([`Breakdown`]). A pass can cover part of
//! the grid ([`WindowPass::over`]) and hands what it gathered over as a [`PassPart`], which parts of the same
//! grid add up in. Memory grows with the period's slices, not with its results; time with the slices, plus the
//! raw results of what the ledger has not settled. Rule 11's stored judgements of agents are applied to every
//! slice read, from the ledger or raw.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;

use crate::ledger::cells::{SliceCells, SliceLatency, successful_latency};
use crate::ledger::merged_ranges;
use crate::store::{LedgerSlice, LedgerState, ResultFlags, SliceParts, Store, StoreError};
use slaprobe_sla::breakdown::{Breakdown, DayLatency, RegionView};
use slaprobe_sla::contract::Contract;
use slaprobe_sla::engine::{SliceVote, report_of};
use slaprobe_sla::observations::failure;
use slaprobe_sla::summary::Summary;
use slaprobe_sla::{Evaluation, Horizon, LateResults, Period, Report, evaluation_window};

/// How much raw time is read at once: six hours of the contract's checks from every region (at 15 regions
/// probing every 30 s, 10,800 results per check; an hour at a time cost a third more time in queries).
const CHUNK: SignedDuration = SignedDuration::from_hours(6);
/// How many ledger rows are read at once: a week of slices (about 10,000 rows of one-minute slices, a few MB; a
/// day at a time spent more on the queries than on the rows).
const LEDGER_CHUNK: SignedDuration = SignedDuration::from_hours(7 * 24);
/// Marks not yet handled by the ledger's upkeep that a reader takes into account; with more (a large replay in
/// progress), it reads raw results until the upkeep has caught up.
const PENDING_MARKS: u32 = 10_000;

/// The results of some checks in `[from, to)`, [`CHUNK`] at a time, in time order.
pub struct WindowChunks<'a> {
    store: &'a Store,
    checks: Vec<String>,
    next: Timestamp,
    end: Timestamp,
}

impl<'a> WindowChunks<'a> {
    /// `contract`'s results in the evaluation window of `period`.
    pub fn of(store: &'a Store, contract: &Contract, period: &Period) -> Self {
        let (from, to) = evaluation_window(contract, period);
        Self::between(store, contract, from, to)
    }

    /// `contract`'s results that started in `[from, to)`.
    pub fn between(store: &'a Store, contract: &Contract, from: Timestamp, to: Timestamp) -> Self {
        Self { store, checks: contract.terms.checks.clone(), next: from, end: to }
    }

    /// The next chunk's results with their flags, the agents' control results after them (rule 10), or `None`
    /// once the window is done.
    pub async fn next(&mut self) -> Result<Option<Vec<(ResultRecord, ResultFlags)>>, StoreError> {
        if self.next >= self.end {
            return Ok(None);
        }
        let until = self.next.checked_add(CHUNK).unwrap_or(self.end).min(self.end);
        let mut chunk = self.store.flagged_results_between(&self.checks, self.next, until).await?;
        chunk.retain(|(_, flags)| !flags.contains(ResultFlags::CONTROL));
        let controls = self.store.control_results_between(self.next, until).await?;
        chunk.extend(controls.into_iter().map(|result| (result, ResultFlags::CONTROL)));
        self.next = until;
        Ok(Some(chunk))
    }
}

/// Counts of results that arrived late, to take away again to see the period without them.
struct LateCounts {
    slice: usize,
    region: String,
    agent: String,
    check: usize,
    total: u32,
    failed: u32,
}

/// What one pass over a window gathers; see the module documentation.
pub struct WindowPass<'a> {
    contract: &'a Contract,
    evaluation: Evaluation<'a>,
    late: Vec<LateCounts>,
    late_results: u64,
    agents: BTreeMap<String, Timestamp>,
    reporting: (Timestamp, Timestamp),
    breakdown: Option<Breakdown>,
    ledger_from: Timestamp,
}

impl<'a> WindowPass<'a> {
    /// A pass for `contract` over `period`; the agents whose results that vote started in `reporting` count as
    /// reporting.
    pub fn new(contract: &'a Contract, period: &Period, reporting: (Timestamp, Timestamp)) -> Self {
        Self {
            contract,
            evaluation: Evaluation::new(contract, period),
            late: Vec::new(),
            late_results: 0,
            agents: BTreeMap::new(),
            reporting,
            breakdown: None,
            ledger_from: Timestamp::MIN,
        }
    }

    /// A pass for `contract` over the slices `covered` of `period`'s grid only (results and rows of other slices
    /// are left out); agents count as reporting from `reporting_from` on.
    pub fn over(contract: &'a Contract, period: &Period, covered: Range<usize>, reporting_from: Timestamp) -> Self {
        Self {
            evaluation: Evaluation::over(contract, period, covered),
            ..Self::new(contract, period, (reporting_from, Timestamp::MAX))
        }
    }

    /// This pass, reading only the slices that start at or after `at` from the ledger: for a window whose grid
    /// is the ledger's from `at` on only (a window of alerting reaching back into the previous period, whose
    /// slices may lie on another grid).
    pub fn with_ledger_from(self, at: Timestamp) -> Self {
        Self { ledger_from: at, ..self }
    }

    /// This pass, gathering the latencies of the slices within `span` as well (see [`Breakdown`]).
    pub fn with_breakdown(self, span: (Timestamp, Timestamp)) -> Self {
        Self { breakdown: Some(Breakdown::new(span)), ..self }
    }

    /// Takes one raw result in (`late`: it arrived after its period closed); one off the slices this pass
    /// covers is left out.
    pub fn add(&mut self, result: &ResultRecord, late: bool) {
        let Some(slice) = self.evaluation.slice_of(result.started_at) else { return };
        self.evaluation.add(result);
        if result.control {
            return;
        }
        let check = self.contract.terms.checks.iter().position(|id| *id == result.check_id);
        let Some(check) = check.filter(|_| self.contract.admits(&result.check_id, &result.region)) else {
            self.late_results += u64::from(late);
            return;
        };
        if late {
            self.late_results += 1;
            let failed = u32::from(failure(self.contract, result).is_some());
            let agent = result.agent_id.clone().unwrap_or_default();
            self.late.push(LateCounts { slice, region: result.region.clone(), agent, check, total: 1, failed });
        }
        if let Some(agent) = &result.agent_id {
            self.reported_by(agent, result.started_at);
        }
        if let (Some(breakdown), Some(ms)) = (&mut self.breakdown, successful_latency(result)) {
            let (start, end) = self.evaluation.slice_bounds(slice);
            if breakdown.covers(start, end) {
                breakdown.add_latency(self.contract, start, &result.region, ms);
            }
        }
    }

    /// Takes in one settled slice `[start, end)` from the ledger, with its latency sketches when this pass
    /// gathers them; one not on this window's grid is left out. A region or agent name that is not text is the
    /// error, with the column it is in.
    fn add_slice(
        &mut self,
        start: Timestamp,
        end: Timestamp,
        cells: &SliceCells,
        latency: Option<&SliceLatency>,
    ) -> Result<(), (&'static str, std::str::Utf8Error)> {
        let Some(slice) = self.evaluation.slice_at(start, end) else { return Ok(()) };
        if let (Some(breakdown), Some(latency)) = (&mut self.breakdown, latency)
            && breakdown.covers(start, end)
        {
            for region in &latency.regions {
                if let Some(sketch) = &region.sketch {
                    let name = std::str::from_utf8(&region.region).map_err(|error| ("latency", error))?;
                    breakdown.add_sketch(self.contract, start, name, sketch);
                }
            }
        }
        for cell in &cells.cells {
            let (region, agent) = cell.region_and_agent().map_err(|error| ("cells", error))?;
            let observations = self.evaluation.observations();
            observations.add_counts((region, agent), cell.check as usize, slice, cell.total, cell.failed);
            if cell.late_total > 0 {
                self.late_results += u64::from(cell.late_total);
                self.late.push(LateCounts {
                    slice,
                    region: region.to_owned(),
                    agent: agent.to_owned(),
                    check: cell.check as usize,
                    total: cell.late_total,
                    failed: cell.late_failed,
                });
            }
            if !agent.is_empty() && cell.total > 0 {
                self.reported_by(agent, start);
            }
        }
        let observations = self.evaluation.observations();
        for control in &cells.controls {
            let agent = std::str::from_utf8(&control.agent).map_err(|error| ("cells", error))?;
            observations.add_control_counts(agent, &control.check, slice, control.total, control.failed);
        }
        for (started_at, check, error) in cells.samples() {
            observations.add_sample(slice, started_at, check, error);
        }
        observations.add_ignored(cells.ignored);
        self.late_results += cells.ignored_late;
        Ok(())
    }

    /// Remembers the earliest result of `agent` in the reporting window.
    fn reported_by(&mut self, agent: &str, started_at: Timestamp) {
        let (from, to) = self.reporting;
        if from <= started_at && started_at < to {
            match self.agents.get_mut(agent) {
                Some(earliest) => *earliest = (*earliest).min(started_at),
                None => {
                    self.agents.insert(agent.to_owned(), started_at);
                }
            }
        }
    }

    /// Takes in the whole evaluation window of `period` from `store`: the slices `ledger` settled (when it is
    /// the contract's ledger under its current terms) from the ledger, the others from raw results. Slices that
    /// results marked as late fall in, and which the upkeep has not folded again yet, are read from raw results
    /// too, so a result is in every figure from the moment it is stored.
    pub async fn read(
        &mut self,
        store: &Store,
        period: &Period,
        ledger: Option<&LedgerState>,
    ) -> Result<(), StoreError> {
        let (from, to) = evaluation_window(self.contract, period);
        let ledger_from = self.ledger_from.clamp(from, to);
        let mut settled = ledger.map_or(ledger_from, |state| state.settled_until).clamp(ledger_from, to);
        let dirty = match pending_marks(store, self.contract, ledger_from, settled).await? {
            Some(dirty) => dirty,
            None => {
                settled = ledger_from;
                Vec::new()
            }
        };
        let is_dirty =
            |start: Timestamp, end: Timestamp| dirty.iter().any(|(first, last)| *first < end && *last >= start);
        self.read_ledger(store, (ledger_from, settled), is_dirty).await?;
        let slice = SignedDuration::try_from(self.contract.terms.slice).unwrap_or(SignedDuration::MAX);
        let widened = |(first, last): (Timestamp, Timestamp)| {
            (first.saturating_sub(slice).unwrap_or(from).max(from), last.saturating_add(slice).unwrap_or(to).min(to))
        };
        let mut raw: Vec<(Timestamp, Timestamp)> = dirty.iter().copied().map(widened).collect();
        raw.push((settled.saturating_sub(slice).unwrap_or(from).max(from), to));
        if ledger_from > from {
            raw.push(widened((from, ledger_from)));
        }
        let wanted = |start: Timestamp, end: Timestamp| start < ledger_from || end > settled || is_dirty(start, end);
        self.read_raw(store, merged_ranges(raw), wanted).await
    }

    /// Takes in the ledger rows of the slices that lie within `[from, settled)`, except those `skipped` says. The
    /// next [`LEDGER_CHUNK`] of rows is read while this one is taken in.
    pub async fn read_ledger(
        &mut self,
        store: &Store,
        (from, settled): (Timestamp, Timestamp),
        skipped: impl Fn(Timestamp, Timestamp) -> bool,
    ) -> Result<(), StoreError> {
        if from < settled {
            self.read_faults(store, (from, settled)).await?;
        }
        let parts = if self.breakdown.is_some() { SliceParts::CountsAndLatency } else { SliceParts::Counts };
        let contract = self.contract.terms.id.clone();
        let read = |chunk: (Timestamp, Timestamp)| {
            let (store, contract) = (store.clone(), contract.clone());
            tokio::spawn(async move { store.ledger_slices(&contract, chunk, parts).await })
        };
        let chunk_from = |at: Timestamp| (at, at.checked_add(LEDGER_CHUNK).unwrap_or(settled).min(settled));
        let mut chunk = chunk_from(from);
        let mut pending = (from < settled).then(|| read(chunk));
        while let Some(reading) = pending.take() {
            if chunk.1 < settled {
                chunk = chunk_from(chunk.1);
                pending = Some(read(chunk));
            }
            let rows = reading.await.map_err(|error| StoreError::Unusable(format!("a ledger read failed: {error}")))?;
            for row in rows? {
                if row.end <= settled && !skipped(row.start, row.end) {
                    self.add_row(row)?;
                }
            }
        }
        Ok(())
    }

    /// Takes in the raw results that started in `ranges` (sorted, apart) and fall in slices `wanted` says.
    pub async fn read_raw(
        &mut self,
        store: &Store,
        ranges: Vec<(Timestamp, Timestamp)>,
        wanted: impl Fn(Timestamp, Timestamp) -> bool,
    ) -> Result<(), StoreError> {
        for (first, last) in ranges {
            self.read_faults(store, (first, last)).await?;
            let mut chunks = WindowChunks::between(store, self.contract, first, last);
            while let Some(chunk) = chunks.next().await? {
                for (result, flags) in &chunk {
                    let Some(slice) = self.evaluation.slice_of(result.started_at) else { continue };
                    let (start, end) = self.evaluation.slice_bounds(slice);
                    if wanted(start, end) {
                        self.add(result, flags.contains(ResultFlags::LATE));
                    }
                }
            }
        }
        Ok(())
    }

    /// Sets aside the results rule 11 found inconclusive in `[from, to)`, in the slices this pass covers. The
    /// ledger's rows do not hold these judgements: every read applies them as stored, so a slice reads the same
    /// from the ledger and from raw results, and applying them twice changes nothing.
    async fn read_faults(&mut self, store: &Store, (from, to): (Timestamp, Timestamp)) -> Result<(), StoreError> {
        for fault in store.agent_faults_between(from, to).await? {
            self.evaluation.add_fault(&fault);
        }
        Ok(())
    }

    /// Takes in one stored ledger row.
    fn add_row(&mut self, row: LedgerSlice) -> Result<(), StoreError> {
        let undecodable = |column: &str, problem: String| StoreError::Undecodable {
            column: format!("ledger_slices.{column}"),
            problem: format!("the slice starting {}: {problem}", row.start),
        };
        let latency = match self.breakdown {
            Some(_) => {
                Some(SliceLatency::decode_row(row.latency).map_err(|error| undecodable("latency", error.to_string()))?)
            }
            None => None,
        };
        let cells = SliceCells::decode_row(row.cells).map_err(|error| undecodable("cells", error.to_string()))?;
        self.add_slice(row.start, row.end, &cells, latency.as_ref()).map_err(|(column, error)| {
            undecodable(column, format!("a region or agent name is not UTF-8 text: {error}"))
        })
    }

    /// The per-region views and daily latency of the slices this pass gathered them for, as known at `horizon`
    /// (`None` for a pass without [`WindowPass::with_breakdown`]); call before [`WindowPass::finish`].
    pub fn breakdown(&mut self, horizon: &Horizon) -> Option<(Vec<RegionView>, Vec<DayLatency>)> {
        Some(self.breakdown.take()?.finish(&self.evaluation, horizon))
    }

    /// The window's slices as judged before short runs are forgiven (see [`slaprobe_sla::engine::slice_votes`]).
    pub fn votes(self, monitored_from: Option<Timestamp>) -> Vec<SliceVote> {
        self.evaluation.votes(monitored_from)
    }

    /// What this pass gathered, to make reports from (alone or with other parts of the same period's grid).
    pub fn part(self) -> PassPart {
        let without = (self.late_results > 0).then(|| {
            let mut without = self.evaluation.clone();
            for late in &self.late {
                let source = (late.region.as_str(), late.agent.as_str());
                without.observations().remove_counts(source, late.check, late.slice, late.total, late.failed);
            }
            without.summary()
        });
        PassPart { summary: self.evaluation.summary(), without, late_results: self.late_results, agents: self.agents }
    }

    /// The agents that reported, and the report as known at `horizon` (with what it would say without the late
    /// results, when some arrived late).
    pub fn finish(self, horizon: &Horizon) -> (BTreeSet<String>, Report) {
        let (contract, period) = (self.contract, self.evaluation.period().clone());
        self.part().report(contract, &period, horizon, Timestamp::MAX)
    }
}

/// What a pass over some of a period's slices gathered: what rules 2–4 make of them, the same without the
/// results that arrived late (when some did), and when each agent first reported in the reporting window.
#[derive(Debug, Clone)]
pub struct PassPart {
    summary: Summary,
    without: Option<Summary>,
    late_results: u64,
    agents: BTreeMap<String, Timestamp>,
}

impl PassPart {
    /// Nothing gathered of a grid of `slices` slices.
    pub fn empty(slices: usize) -> Self {
        Self { summary: Summary::empty(slices), without: None, late_results: 0, agents: BTreeMap::new() }
    }

    /// Takes in `other`'s slices in `slices` (a part of the same grid), which this one has nothing of yet.
    pub fn absorb(&mut self, other: &PassPart, slices: Range<usize>) {
        match (&mut self.without, &other.without) {
            (Some(without), other_without) => {
                without.absorb(other_without.as_ref().unwrap_or(&other.summary), slices.clone());
            }
            (None, Some(other_without)) => {
                let mut without = self.summary.clone();
                without.absorb(other_without, slices.clone());
                self.without = Some(without);
            }
            (None, None) => {}
        }
        self.summary.absorb(&other.summary, slices);
        self.late_results += other.late_results;
        for (agent, at) in &other.agents {
            let earliest = self.agents.entry(agent.clone()).or_insert(*at);
            *earliest = (*earliest).min(*at);
        }
    }

    /// The agents that first reported before `reported_before`, and `contract`'s report over `period` as known
    /// at `horizon` (with what it would say without the late results, when some arrived late).
    pub fn report(
        &self,
        contract: &Contract,
        period: &Period,
        horizon: &Horizon,
        reported_before: Timestamp,
    ) -> (BTreeSet<String>, Report) {
        let mut report = report_of(contract, period, &self.summary, horizon);
        if let Some(without) = &self.without {
            let without = report_of(contract, period, without, horizon);
            report.late = Some(LateResults {
                results: self.late_results,
                down_slices_without: without.down_slices,
                uptime_percent_without: without.uptime_percent,
                credit_amount_without: without.credit_amount,
            });
        }
        let reported = self.agents.iter().filter(|(_, first)| **first < reported_before);
        (reported.map(|(agent, _)| agent.clone()).collect(), report)
    }

    /// The slices of `contract`'s grid over `period` (this part's grid) within `[from, to)`, as judged before
    /// short runs are forgiven (see [`slaprobe_sla::engine::slice_votes`]).
    pub fn votes(
        &self,
        contract: &Contract,
        period: &Period,
        monitored_from: Option<Timestamp>,
        within: (Timestamp, Timestamp),
    ) -> Vec<SliceVote> {
        slaprobe_sla::engine::votes_of(contract, period, &self.summary, monitored_from, within)
    }
}

/// The ranges of `started_at` of the contract's results (and of control probes) that were marked late before `settled`
/// and not yet folded again, merged; `None` when there are too many marks to tell (the ledger is then not used).
pub async fn pending_marks(
    store: &Store,
    contract: &Contract,
    from: Timestamp,
    settled: Timestamp,
) -> Result<Option<Vec<(Timestamp, Timestamp)>>, StoreError> {
    if settled <= from {
        return Ok(Some(Vec::new()));
    }
    let marks = store.ledger_marks(PENDING_MARKS).await?;
    if marks.len() >= PENDING_MARKS as usize {
        return Ok(None);
    }
    let ranges = marks
        .into_iter()
        .filter(|mark| mark.concerns(contract) && mark.from < settled)
        .map(|mark| (mark.from, mark.to));
    Ok(Some(merged_ranges(ranges.collect())))
}
