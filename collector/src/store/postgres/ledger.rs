//! The slice ledger in PostgreSQL, with the same effects as the SQLite engine's.

use jiff::Timestamp;
use slaprobe_proto::ResultRecord;
use tokio_postgres::Transaction;

use super::PostgresStore;
use super::read::{optional_timestamp, timestamp};
use crate::store::StoreError;
use crate::store::columns::nanos;
use crate::store::ledger::{LedgerMark, LedgerSlice, LedgerState, LedgerWrite, SliceParts, marks_of};
use crate::store::records::ResultFlags;

/// Leaves the marks of `results`, received at `received_at` (see [`crate::store::ledger`]).
pub(super) async fn mark(
    transaction: &Transaction<'_>,
    results: &[(ResultRecord, ResultFlags)],
    received_at: Option<Timestamp>,
) -> Result<(), tokio_postgres::Error> {
    let marks = marks_of(results.iter(), received_at);
    if marks.is_empty() {
        return Ok(());
    }
    let checks: Vec<&str> = marks.iter().map(|(check, ..)| check.as_str()).collect();
    let froms: Vec<i64> = marks.iter().map(|(_, from, _)| nanos(*from)).collect();
    let tos: Vec<i64> = marks.iter().map(|(.., to)| nanos(*to)).collect();
    transaction
        .execute(
            "INSERT INTO ledger_marks (check_id, from_ns, to_ns)
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[])",
            &[&checks, &froms, &tos],
        )
        .await?;
    Ok(())
}

/// One ledger step; the rows written.
pub(super) async fn write(transaction: &Transaction<'_>, step: &LedgerWrite) -> Result<u64, tokio_postgres::Error> {
    let contract = &step.state.contract;
    if step.reset {
        transaction.execute("DELETE FROM ledger_slices WHERE contract = $1", &[contract]).await?;
    } else {
        let earliest = step.after.saturating_sub(step.slice).unwrap_or(Timestamp::MIN);
        transaction
            .execute(
                "DELETE FROM ledger_slices WHERE contract = $1 AND start_ns > $2 AND start_ns < $4
                   AND end_ns > $3 AND end_ns <= $4",
                &[contract, &nanos(earliest), &nanos(step.after), &nanos(step.until)],
            )
            .await?;
    }
    let starts: Vec<i64> = step.slices.iter().map(|slice| nanos(slice.start)).collect();
    let ends: Vec<i64> = step.slices.iter().map(|slice| nanos(slice.end)).collect();
    let cells: Vec<&[u8]> = step.slices.iter().map(|slice| slice.cells.as_slice()).collect();
    let latency: Vec<&[u8]> = step.slices.iter().map(|slice| slice.latency.as_slice()).collect();
    transaction
        .execute(
            "INSERT INTO ledger_slices (contract, start_ns, end_ns, cells, latency)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::bytea[], $5::bytea[])
             ON CONFLICT (contract, start_ns, end_ns) DO UPDATE SET cells = excluded.cells, latency = excluded.latency",
            &[contract, &starts, &ends, &cells, &latency],
        )
        .await?;
    let state = &step.state;
    transaction
        .execute(
            "INSERT INTO ledger_state
                 (contract, terms_hash, rebuilt_from_ns, settled_until_ns, monitored_from_ns, refolds)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (contract) DO UPDATE SET terms_hash = excluded.terms_hash,
                 rebuilt_from_ns = excluded.rebuilt_from_ns, settled_until_ns = excluded.settled_until_ns,
                 monitored_from_ns = excluded.monitored_from_ns, refolds = excluded.refolds",
            &[
                contract,
                &state.terms_hash,
                &nanos(state.rebuilt_from),
                &nanos(state.settled_until),
                &state.monitored_from.map(nanos),
                &i64::try_from(state.refolds).unwrap_or(i64::MAX),
            ],
        )
        .await?;
    Ok(step.slices.len() as u64)
}

impl PostgresStore {
    /// See [`crate::store::Store::ledger_states`].
    pub async fn ledger_states(&self) -> Result<Vec<LedgerState>, StoreError> {
        let rows = self
            .rows(
                "SELECT contract, terms_hash, rebuilt_from_ns, settled_until_ns, monitored_from_ns, refolds
                 FROM ledger_state
                 ORDER BY contract",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(LedgerState {
                    contract: row.try_get("contract")?,
                    terms_hash: row.try_get("terms_hash")?,
                    rebuilt_from: timestamp(row, "rebuilt_from_ns")?,
                    settled_until: timestamp(row, "settled_until_ns")?,
                    monitored_from: optional_timestamp(row, "monitored_from_ns")?,
                    refolds: u64::try_from(row.try_get::<_, i64>("refolds")?).unwrap_or(0),
                })
            })
            .collect()
    }

    /// See [`crate::store::Store::ledger_slices`].
    pub async fn ledger_slices(
        &self,
        contract: &str,
        (from, to): (Timestamp, Timestamp),
        parts: SliceParts,
    ) -> Result<Vec<LedgerSlice>, StoreError> {
        let query = match parts {
            SliceParts::Counts => {
                "SELECT start_ns, end_ns, cells, ''::bytea AS latency FROM ledger_slices
                 WHERE contract = $1 AND start_ns >= $2 AND start_ns < $3 ORDER BY start_ns, end_ns"
            }
            SliceParts::CountsAndLatency => {
                "SELECT start_ns, end_ns, cells, latency FROM ledger_slices
                 WHERE contract = $1 AND start_ns >= $2 AND start_ns < $3 ORDER BY start_ns, end_ns"
            }
        };
        let rows = self.rows(query, &[&contract, &nanos(from), &nanos(to)]).await?;
        rows.iter()
            .map(|row| {
                Ok(LedgerSlice {
                    start: timestamp(row, "start_ns")?,
                    end: timestamp(row, "end_ns")?,
                    cells: row.try_get("cells")?,
                    latency: row.try_get("latency")?,
                })
            })
            .collect()
    }

    /// See [`crate::store::Store::ledger_marks`].
    pub async fn ledger_marks(&self, limit: u32) -> Result<Vec<LedgerMark>, StoreError> {
        let rows = self
            .rows("SELECT id, check_id, from_ns, to_ns FROM ledger_marks ORDER BY id LIMIT $1", &[&i64::from(limit)])
            .await?;
        rows.iter()
            .map(|row| {
                Ok(LedgerMark {
                    id: row.try_get("id")?,
                    check_id: row.try_get("check_id")?,
                    from: timestamp(row, "from_ns")?,
                    to: timestamp(row, "to_ns")?,
                })
            })
            .collect()
    }
}
