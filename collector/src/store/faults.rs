//! Rule 11's judgements: one row per agent and span whose results it set aside (`agent_faults`, its record the
//! [`AgentFault`] as JSON, the same on both engines), and how far the spans are judged and under which settings
//! (`agent_fault_progress`, one row). The ledger's upkeep writes them; reports, ledger folds and alert
//! evaluations read the faults of the time they cover. Kept as long as the results.

use jiff::{SignedDuration, Timestamp};
use slaprobe_sla::faults::{AgentFault, FaultRule};

use super::columns::nanos;
use super::ledger::CONTROL_MARK;
use super::periods::document;
use super::records::Write;
use super::{Store, StoreError};

/// How far rule 11's spans are judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultProgress {
    /// The settings they were judged under, as [`describe`] writes them.
    pub rule: String,
    /// When judging began under these settings: earlier spans are not judged.
    pub judged_from: Timestamp,
    /// Every span from `judged_from` that ends at or before this is judged.
    pub judged_until: Timestamp,
}

/// The settings as [`FaultProgress::rule`] keeps them: spans judged under other settings are not judged again.
pub fn describe(rule: &FaultRule) -> String {
    format!("vendors {} span {}s", rule.vendors, rule.span.as_secs())
}

/// The judgement of the spans that start in `[from, to)`, in place of the stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultsWrite {
    /// The first span's start.
    pub from: Timestamp,
    /// The end of the last span.
    pub to: Timestamp,
    /// The faults found there.
    pub faults: Vec<AgentFault>,
    /// Whether they differ from what was stored: the slices of every contract in `[from, to)` that a ledger
    /// settled are then folded again (a ledger mark).
    pub changed: bool,
    /// How far the spans are judged once this is written, when it moves.
    pub progress: Option<FaultProgress>,
}

/// A [`FaultsWrite`] as the engines write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FaultRows {
    pub from_ns: i64,
    pub to_ns: i64,
    /// Per fault: start, agent, end, record.
    pub rows: Vec<(i64, String, i64, String)>,
    /// The mark's check and range of `started_at`, when the judgement changed.
    pub mark: Option<(&'static str, i64, i64)>,
    /// The progress's settings, `judged_from` and `judged_until`, when it moves.
    pub progress: Option<(String, i64, i64)>,
}

/// The statements of a [`FaultsWrite`], in order, with `$n` parameters: delete the spans' faults, insert one,
/// leave a mark, set the progress.
pub(crate) const REPLACE: &str = "DELETE FROM agent_faults WHERE start_ns >= $1 AND start_ns < $2";
/// See [`REPLACE`].
pub(crate) const INSERT: &str =
    "INSERT INTO agent_faults (start_ns, agent_id, end_ns, record) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
/// See [`REPLACE`].
pub(crate) const MARK: &str = "INSERT INTO ledger_marks (check_id, from_ns, to_ns) VALUES ($1, $2, $3)";
/// See [`REPLACE`].
pub(crate) const PROGRESS: &str = "INSERT INTO agent_fault_progress (id, rule, judged_from_ns, judged_until_ns)
     VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE
     SET rule = excluded.rule, judged_from_ns = excluded.judged_from_ns, judged_until_ns = excluded.judged_until_ns";
/// Deletes the faults of spans that started before `$1` (with the results they speak for).
pub(crate) const PRUNE: &str = "DELETE FROM agent_faults WHERE start_ns < $1";

impl Store {
    /// Writes the judgement of some spans (one transaction).
    pub async fn write_faults(&self, judged: FaultsWrite) -> Result<(), StoreError> {
        let rows = (judged.faults.iter())
            .map(|fault| Ok((nanos(fault.start), fault.agent_id.clone(), nanos(fault.end), document(fault)?)))
            .collect::<Result<_, StoreError>>()?;
        let (from_ns, to_ns) = (nanos(judged.from), nanos(judged.to));
        let write = FaultRows {
            from_ns,
            to_ns,
            rows,
            mark: judged.changed.then_some((CONTROL_MARK, from_ns, to_ns - 1)),
            progress: (judged.progress)
                .map(|progress| (progress.rule, nanos(progress.judged_from), nanos(progress.judged_until))),
        };
        self.write(Write::Faults(Box::new(write))).await.map(drop)
    }

    /// The faults whose span overlaps `[from, to)`, in order of start and agent.
    pub async fn agent_faults_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<AgentFault>, StoreError> {
        let longest = SignedDuration::try_from(FaultRule::LONGEST_SPAN).unwrap_or(SignedDuration::ZERO);
        let earliest = from.saturating_sub(longest).unwrap_or(from);
        let query = "SELECT record FROM agent_faults WHERE start_ns >= $1 AND start_ns < $3 AND end_ns > $2
                     ORDER BY start_ns, agent_id";
        self.json_records(query, vec![nanos(earliest), nanos(from), nanos(to)], "agent_faults.record").await
    }

    /// How far the spans are judged, if they ever were.
    pub async fn fault_progress(&self) -> Result<Option<FaultProgress>, StoreError> {
        let query = "SELECT rule, judged_from_ns, judged_until_ns FROM agent_fault_progress WHERE id = 1";
        let row: Option<(String, i64, i64)> = match self {
            Self::Sqlite(store) => {
                store
                    .read(move |connection| {
                        let mut statement = connection.prepare_cached(query)?;
                        let mut rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
                        rows.next().transpose()
                    })
                    .await?
            }
            Self::Postgres(store) => {
                let row = store.connection().await?.query_opt(query, &[]).await?;
                row.map(|row| (row.get(0), row.get(1), row.get(2)))
            }
        };
        let instant = |ns: i64| Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(Timestamp::MIN);
        Ok(row.map(|(rule, from, until)| FaultProgress {
            rule,
            judged_from: instant(from),
            judged_until: instant(until),
        }))
    }
}
