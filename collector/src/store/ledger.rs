//! The slice ledger as the store keeps it: per contract, one row per slice that had results (its cells, encoded
//! by the ledger itself and opaque here), the contract's ledger state (the terms it was computed under, how far
//! it is settled), and marks left by writes of results that may belong to slices already settled.
//!
//! A mark is written in the same transaction as the results it stands for, so a late result can never be stored
//! without the ledger hearing of it, whichever collector received it and even if one dies just after: every
//! result that started more than [`MARK_AFTER`] before it arrived (a spool replay, a late region), and every
//! result written without an arrival time (imports, tools), leaves one mark per check and write with the range of
//! `started_at` it covers.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;

use super::records::{ResultFlags, Write};
use super::{Store, StoreError, sqlite};

/// A result that started longer than this before the collector received it leaves a mark. The ledger settles a
/// slice much later than this after its end, so a result that can fall in a settled slice always leaves one.
pub const MARK_AFTER: SignedDuration = SignedDuration::from_secs(30);

/// One settled slice of a contract that had results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSlice {
    /// Slice start.
    pub start: Timestamp,
    /// Slice end (exclusive).
    pub end: Timestamp,
    /// Its cells, as the ledger encodes them.
    pub cells: Vec<u8>,
    /// Its latency sketches, as the ledger encodes them (empty when read with [`SliceParts::Counts`]).
    pub latency: Vec<u8>,
}

/// What is read of each ledger row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceParts {
    /// The cells only: what reports and standings need.
    Counts,
    /// The cells and the latency sketches: what the period view needs.
    CountsAndLatency,
}

/// How far a contract's ledger is computed, and under which terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerState {
    /// The contract.
    pub contract: String,
    /// The hash of the terms its slices were computed under.
    pub terms_hash: String,
    /// Where the latest rebuild started: the slices before it had no results then.
    pub rebuilt_from: Timestamp,
    /// Every slice that ends at or before this is in the ledger (a slice without a row had no results).
    pub settled_until: Timestamp,
    /// The earliest `started_at` of a result of the contract's checks the ledger has seen: when monitoring began,
    /// even after retention deleted that result.
    pub monitored_from: Option<Timestamp>,
    /// How many times slices already settled were folded again (for late results) since the latest rebuild:
    /// a reader that keeps what it read of the ledger reads it again when this changes.
    pub refolds: u64,
}

/// Results of `check` that started in `[from, to]` were written and may fall in settled slices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerMark {
    /// The mark's id, to clear it once handled.
    pub id: i64,
    /// The check.
    pub check_id: String,
    /// The earliest `started_at` among the results.
    pub from: Timestamp,
    /// The latest `started_at` among the results.
    pub to: Timestamp,
}

impl LedgerMark {
    /// Whether the mark's results can change `contract`'s slices: results of its checks, or control probes'
    /// (which decide whether any agent's results are conclusive).
    pub fn concerns(&self, contract: &slaprobe_sla::contract::Contract) -> bool {
        self.check_id == CONTROL_MARK || contract.terms.checks.contains(&self.check_id)
    }
}

/// One step of a contract's ledger, written in one transaction: the slices that end in `(after, until]` are
/// replaced by `slices`, and the state is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerWrite {
    /// The contract's state once the step is done.
    pub state: LedgerState,
    /// Delete every slice of the contract first (its terms changed).
    pub reset: bool,
    /// Slices ending after this (and at or before `until`) are replaced.
    pub after: Timestamp,
    /// See `after`.
    pub until: Timestamp,
    /// The longest slice, to bound the rows replaced by their start.
    pub slice: SignedDuration,
    /// The new rows.
    pub slices: Vec<LedgerSlice>,
}

/// The check a control result's mark names instead of its own, and the mark of spans whose rule 11 judgement
/// changed: the slices of every contract are folded again for it (an agent's controls and faults decide whether
/// its results of every contract are conclusive). Not a valid check id, so no check has it.
pub const CONTROL_MARK: &str = "*control";

/// The marks the results of one write leave: per check ([`CONTROL_MARK`] for control results), the range of
/// `started_at` of those that started more than [`MARK_AFTER`] before `received_at` (all of them without an
/// arrival time).
pub(crate) fn marks_of<'a>(
    results: impl Iterator<Item = &'a (ResultRecord, ResultFlags)>,
    received_at: Option<Timestamp>,
) -> Vec<(String, Timestamp, Timestamp)> {
    let threshold = received_at.map(|at| at.saturating_sub(MARK_AFTER).unwrap_or(at));
    let mut marks: BTreeMap<&str, (Timestamp, Timestamp)> = BTreeMap::new();
    for (result, flags) in results {
        if threshold.is_some_and(|threshold| result.started_at >= threshold) {
            continue;
        }
        let check = if flags.contains(ResultFlags::CONTROL) { CONTROL_MARK } else { result.check_id.as_str() };
        let (from, to) = marks.entry(check).or_insert((result.started_at, result.started_at));
        *from = (*from).min(result.started_at);
        *to = (*to).max(result.started_at);
    }
    marks.into_iter().map(|(check, (from, to))| (check.to_owned(), from, to)).collect()
}

impl Store {
    /// Writes one step of a contract's ledger.
    pub async fn write_ledger(&self, write: LedgerWrite) -> Result<(), StoreError> {
        self.write(Write::Ledger(Box::new(write))).await.map(drop)
    }

    /// Clears the marks `ids` once they are handled.
    pub async fn clear_ledger_marks(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        self.write(Write::ClearMarks(ids)).await.map(drop)
    }

    /// Deletes the ledger rows of slices that ended before `cutoff`; how many went.
    pub async fn prune_ledger(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        Ok(self.write(Write::PruneLedger(cutoff)).await?.changed)
    }

    /// Every contract's ledger state, by contract.
    pub async fn ledger_states(&self) -> Result<Vec<LedgerState>, StoreError> {
        match self {
            Self::Sqlite(store) => store.read(sqlite::ledger::states).await,
            Self::Postgres(store) => store.ledger_states().await,
        }
    }

    /// The ledger rows of `contract` whose slice starts in `[from, to)`, by start, with `parts` of each.
    pub async fn ledger_slices(
        &self,
        contract: &str,
        (from, to): (Timestamp, Timestamp),
        parts: SliceParts,
    ) -> Result<Vec<LedgerSlice>, StoreError> {
        let contract = contract.to_owned();
        match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::ledger::slices(connection, &contract, (from, to), parts)).await
            }
            Self::Postgres(store) => store.ledger_slices(&contract, (from, to), parts).await,
        }
    }

    /// The oldest `limit` marks not yet cleared, by id.
    pub async fn ledger_marks(&self, limit: u32) -> Result<Vec<LedgerMark>, StoreError> {
        match self {
            Self::Sqlite(store) => store.read(move |connection| sqlite::ledger::marks(connection, limit)).await,
            Self::Postgres(store) => store.ledger_marks(limit).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::{SignedDuration, Timestamp};

    use super::{MARK_AFTER, marks_of};
    use crate::store::ResultFlags;
    use crate::store::sqlite::tests::result;

    #[test]
    fn only_results_that_arrive_late_leave_marks_one_per_check() {
        // The fixture's results start at 2026-02-01T00:00Z plus the given minutes; they arrive at minute 60.
        let received: Timestamp = "2026-02-01T01:00:00Z".parse().expect("an instant");
        let minute =
            |minutes: i64| "2026-02-01T00:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes);
        let results: Vec<_> = [("api", 60), ("api", 59), ("api", 0), ("dns", 30)]
            .into_iter()
            .enumerate()
            .map(|(seq, (check, at))| (result("agent-1", seq as u64, check, at), ResultFlags::NONE))
            .collect();
        let marks = marks_of(results.iter(), Some(received));
        assert_eq!(marks, vec![("api".to_owned(), minute(0), minute(59)), ("dns".to_owned(), minute(30), minute(30))]);
        let mut just_in_time = result("agent-1", 9, "api", 0);
        just_in_time.started_at = received.saturating_sub(MARK_AFTER).expect("an instant");
        let just_in_time = [(just_in_time, ResultFlags::NONE)];
        assert!(marks_of(just_in_time.iter(), Some(received)).is_empty());
        assert_eq!(marks_of(just_in_time.iter(), None).len(), 1, "a write without an arrival time always marks");
    }
}
