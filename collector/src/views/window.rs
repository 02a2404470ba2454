//! One pass over a contract's results in the evaluation window of a period: read from the store six hours at a time
//! ([`WindowChunks`]), each result taken in by what the view needs ([`WindowPass`]): the report's evaluation, the
//! same without the results that arrived after the period closed, and the agents that reported. Memory grows with
//! the period's slices and six hours of results, not with the period's results.

use std::collections::{BTreeSet, HashSet};

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;

use crate::contract::Contract;
use crate::sla::{Evaluation, Horizon, LateResults, Period, Report, evaluation_window};
use crate::store::{Store, StoreError};

/// How much of the window is read at once: six hours of the contract's checks from every region (at 15 regions
/// probing every 30 s, 10,800 results per check; an hour at a time cost a third more time in queries).
const CHUNK: SignedDuration = SignedDuration::from_hours(6);

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
        let (next, end) = evaluation_window(contract, period);
        Self { store, checks: contract.terms.checks.clone(), next, end }
    }

    /// The next chunk's results, or `None` once the window is done.
    pub async fn next(&mut self) -> Result<Option<Vec<ResultRecord>>, StoreError> {
        if self.next >= self.end {
            return Ok(None);
        }
        let until = self.next.checked_add(CHUNK).unwrap_or(self.end).min(self.end);
        let chunk = self.store.results_between(&self.checks, self.next, until).await?;
        self.next = until;
        Ok(Some(chunk))
    }
}

/// What one pass over a window gathers; see the module documentation.
pub struct WindowPass<'a> {
    evaluation: Evaluation<'a>,
    late: HashSet<(String, u64)>,
    without_late: Option<Evaluation<'a>>,
    reported: BTreeSet<String>,
    reporting: (Timestamp, Timestamp),
}

impl<'a> WindowPass<'a> {
    /// A pass for `contract` over `period`; `late` are the `(agent_id, seq)` of the window's results that
    /// arrived late, and the agents that sent a result starting in `reporting` count as reporting.
    pub fn new(
        contract: &'a Contract,
        period: &Period,
        late: HashSet<(String, u64)>,
        reporting: (Timestamp, Timestamp),
    ) -> Self {
        let without_late = (!late.is_empty()).then(|| Evaluation::new(contract, period));
        Self { evaluation: Evaluation::new(contract, period), late, without_late, reported: BTreeSet::new(), reporting }
    }

    /// Takes one result in.
    pub fn add(&mut self, result: &ResultRecord) {
        self.evaluation.add(result);
        if let Some(without) = &mut self.without_late {
            let key = (result.agent_id.clone().unwrap_or_else(|| result.region.clone()), result.seq.unwrap_or(0));
            if !self.late.contains(&key) {
                without.add(result);
            }
        }
        let (from, to) = self.reporting;
        if let Some(agent) = &result.agent_id
            && from <= result.started_at
            && result.started_at < to
            && !self.reported.contains(agent)
        {
            self.reported.insert(agent.clone());
        }
    }

    /// Takes in every result of `chunks`.
    pub async fn read(&mut self, mut chunks: WindowChunks<'_>) -> Result<(), StoreError> {
        while let Some(chunk) = chunks.next().await? {
            chunk.iter().for_each(|result| self.add(result));
        }
        Ok(())
    }

    /// The agents that reported, the report as known at `horizon`, and what it would say without the late
    /// results (when some arrived late).
    pub fn finish(self, horizon: &Horizon) -> (BTreeSet<String>, Report) {
        let mut report = self.evaluation.report(horizon);
        if let Some(without) = self.without_late {
            let without = without.report(horizon);
            report.late = Some(LateResults {
                results: self.late.len() as u64,
                down_slices_without: without.down_slices,
                uptime_percent_without: without.uptime_percent,
                credit_amount_without: without.credit_amount,
            });
        }
        (self.reported, report)
    }
}
