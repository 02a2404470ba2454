//! Judging rule 11 as the ledger is kept: each span of `agent_faults.span` is judged once it has ended
//! [`JUDGE_AFTER`] ago, from the results of every contract's checks in it, and judged again when results arrive
//! for it later (they leave a ledger mark). The judgement of a span is stored in place of the previous one; when
//! it changed, a ledger mark makes every contract fold those slices again, so that what readers keep of settled
//! slices is read afresh. The spans are judged from the moment the rule's settings are first seen, not back
//! through history.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;

use super::merged_ranges;
use crate::config::CollectorConfig;
use crate::store::faults::{FaultProgress, FaultsWrite, describe};
use crate::store::ledger::MARK_AFTER;
use crate::store::{LedgerMark, Store, StoreError};
use slaprobe_sla::faults::{AgentFault, FaultRule, judge_span, vendors_of_checks};

/// A span is judged this long after it ends: longer than a result may arrive after it started without leaving a
/// ledger mark ([`MARK_AFTER`]), so a result that arrives after its span was judged has left a mark and the span
/// is judged again.
pub const JUDGE_AFTER: SignedDuration = SignedDuration::from_secs(MARK_AFTER.as_secs() + 15);

/// The most time judged in one read of results (and one write), and the most new time one run judges.
const READ_SPAN: SignedDuration = SignedDuration::from_hours(1);

/// Judges the spans due at `now` and those `marks` sent back; how many writes it made.
pub async fn judge(
    store: &Store,
    config: &CollectorConfig,
    marks: &[LedgerMark],
    now: Timestamp,
) -> Result<u64, StoreError> {
    let rule = config.agent_faults;
    let vendors = vendors_of_checks(&config.contracts);
    if !can_find_faults(&rule, &vendors) {
        return Ok(0);
    }
    let due = rule.span_start(now.saturating_sub(JUDGE_AFTER).unwrap_or(now));
    let described = describe(&rule);
    let recorded = store.fault_progress().await?.filter(|progress| progress.rule == described);
    let (judged_from, judged_until) =
        recorded.as_ref().map_or((due, due), |progress| (progress.judged_from, progress.judged_until));
    // Control probes' marks (and those of changed judgements) name no check of a contract.
    let marked = merged_ranges(
        (marks.iter())
            .filter(|mark| vendors.contains_key(&mark.check_id))
            .map(|mark| {
                let from = rule.span_start(mark.from).max(judged_from);
                (from, rule.span_end(rule.span_start(mark.to)).min(judged_until))
            })
            .filter(|(from, to)| from < to)
            .collect(),
    );
    let judge = Judge { store, rule, vendors };
    let mut writes = 0;
    for (from, to) in marked {
        let mut at = from;
        while at < to {
            // Spans are at most READ_SPAN long, so each read moves on by at least one span.
            let until = rule.span_start(at.saturating_add(READ_SPAN).unwrap_or(to)).min(to);
            writes += judge.range((at, until), None).await?;
            at = until;
        }
    }
    // Not `clamp`: a clock set back puts `due` before `judged_until`, and then nothing new is judged.
    let moved = rule.span_start(judged_until.saturating_add(READ_SPAN).unwrap_or(due)).min(due);
    if moved > judged_until || recorded.is_none() {
        let progress = FaultProgress { rule: described, judged_from, judged_until: moved };
        writes += judge.range((judged_until, moved), Some(progress)).await?;
    }
    Ok(writes)
}

/// Rule 11 over the spans that have ended by `to` and overlap `[from, to)`, judged at once from the results
/// stored so far: for alerts, which cannot wait until the spans are judged for good.
pub async fn judge_now(
    store: &Store,
    config: &CollectorConfig,
    (from, to): (Timestamp, Timestamp),
) -> Result<Vec<AgentFault>, StoreError> {
    let (rule, vendors) = (config.agent_faults, vendors_of_checks(&config.contracts));
    if !can_find_faults(&rule, &vendors) {
        return Ok(Vec::new());
    }
    let judge = Judge { store, rule, vendors };
    judge.spans((rule.span_start(from), rule.span_start(to))).await
}

/// Whether the contracts name enough vendors for `rule` to find a fault (it is on, and they name at least
/// `vendors`): otherwise nothing is read.
fn can_find_faults(rule: &FaultRule, vendors: &HashMap<String, BTreeSet<String>>) -> bool {
    let distinct: BTreeSet<&String> = vendors.values().flatten().collect();
    rule.vendors > 0 && distinct.len() >= rule.vendors
}

/// What judging needs.
struct Judge<'a> {
    store: &'a Store,
    rule: FaultRule,
    vendors: HashMap<String, BTreeSet<String>>,
}

impl Judge<'_> {
    /// Judges the spans that start in `[from, to)` and stores the judgement if it changed or `progress` moves;
    /// how many writes that was (0 or 1).
    async fn range(
        &self,
        (from, to): (Timestamp, Timestamp),
        progress: Option<FaultProgress>,
    ) -> Result<u64, StoreError> {
        let faults = self.spans((from, to)).await?;
        let mut stored = self.store.agent_faults_between(from, to).await?;
        stored.retain(|fault| from <= fault.start && fault.start < to);
        let changed = faults != stored;
        if !changed && progress.is_none() {
            return Ok(0);
        }
        self.store.write_faults(FaultsWrite { from, to, faults, changed, progress }).await?;
        Ok(1)
    }

    /// Rule 11 over the spans that start in `[from, to)`, from the stored results of every contract's checks.
    async fn spans(&self, (from, to): (Timestamp, Timestamp)) -> Result<Vec<AgentFault>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let checks: Vec<String> = self.vendors.keys().cloned().collect();
        let mut spans: BTreeMap<Timestamp, Vec<ResultRecord>> = BTreeMap::new();
        for result in self.store.results_between(&checks, from, to).await? {
            spans.entry(self.rule.span_start(result.started_at)).or_default().push(result);
        }
        Ok((spans.iter()).flat_map(|(start, results)| judge_span(&self.rule, *start, results, &self.vendors)).collect())
    }
}
