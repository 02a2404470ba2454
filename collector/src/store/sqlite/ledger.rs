//! The slice ledger in SQLite: marks written with results, ledger steps and cleared marks written by the
//! writer, and the reads.

use jiff::Timestamp;
use rusqlite::{Connection, Row, Transaction, params};
use slaprobe_proto::ResultRecord;

use super::read::{optional_timestamp, timestamp};
use crate::store::columns::nanos;
use crate::store::ledger::{LedgerMark, LedgerSlice, LedgerState, LedgerWrite, SliceParts, marks_of};
use crate::store::records::ResultFlags;

/// Leaves the marks of `results`, received at `received_at` (see [`crate::store::ledger`]).
pub(super) fn mark(
    transaction: &Transaction,
    results: &[(ResultRecord, ResultFlags)],
    received_at: Option<Timestamp>,
) -> rusqlite::Result<()> {
    let marks = marks_of(results.iter(), received_at);
    if marks.is_empty() {
        return Ok(());
    }
    let mut insert =
        transaction.prepare_cached("INSERT INTO ledger_marks (check_id, from_ns, to_ns) VALUES (?1, ?2, ?3)")?;
    for (check, from, to) in marks {
        insert.execute(params![check, nanos(from), nanos(to)])?;
    }
    Ok(())
}

/// One ledger step; the rows written.
pub(super) fn write(transaction: &Transaction, step: &LedgerWrite) -> rusqlite::Result<u64> {
    let contract = &step.state.contract;
    if step.reset {
        transaction.prepare_cached("DELETE FROM ledger_slices WHERE contract = ?1")?.execute(params![contract])?;
    } else {
        let earliest = step.after.saturating_sub(step.slice).unwrap_or(Timestamp::MIN);
        transaction
            .prepare_cached(
                "DELETE FROM ledger_slices WHERE contract = ?1 AND start_ns > ?2 AND start_ns < ?4
                   AND end_ns > ?3 AND end_ns <= ?4",
            )?
            .execute(params![contract, nanos(earliest), nanos(step.after), nanos(step.until)])?;
    }
    let mut insert = transaction.prepare_cached(
        "INSERT OR REPLACE INTO ledger_slices (contract, start_ns, end_ns, cells, latency) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for slice in &step.slices {
        insert.execute(params![contract, nanos(slice.start), nanos(slice.end), slice.cells, slice.latency])?;
    }
    let state = &step.state;
    transaction
        .prepare_cached(
            "INSERT OR REPLACE INTO ledger_state
                 (contract, terms_hash, rebuilt_from_ns, settled_until_ns, monitored_from_ns, refolds)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            contract,
            state.terms_hash,
            nanos(state.rebuilt_from),
            nanos(state.settled_until),
            state.monitored_from.map(nanos),
            i64::try_from(state.refolds).unwrap_or(i64::MAX)
        ])?;
    Ok(step.slices.len() as u64)
}

/// Deletes the marks `ids`; how many went.
pub(super) fn clear_marks(transaction: &Transaction, ids: &[i64]) -> rusqlite::Result<u64> {
    let mut delete = transaction.prepare_cached("DELETE FROM ledger_marks WHERE id = ?1")?;
    let mut deleted = 0;
    for id in ids {
        deleted += delete.execute(params![id])? as u64;
    }
    Ok(deleted)
}

fn state(row: &Row) -> rusqlite::Result<LedgerState> {
    Ok(LedgerState {
        contract: row.get(0)?,
        terms_hash: row.get(1)?,
        rebuilt_from: timestamp(row, 2)?,
        settled_until: timestamp(row, 3)?,
        monitored_from: optional_timestamp(row, 4)?,
        refolds: u64::try_from(row.get::<_, i64>(5)?).unwrap_or(0),
    })
}

/// Every contract's ledger state.
pub fn states(connection: &Connection) -> rusqlite::Result<Vec<LedgerState>> {
    let mut query = connection.prepare_cached(
        "SELECT contract, terms_hash, rebuilt_from_ns, settled_until_ns, monitored_from_ns, refolds FROM ledger_state
         ORDER BY contract",
    )?;
    query.query_map([], state)?.collect()
}

/// The rows of `contract` starting in `[from, to)`, with `parts` of each.
pub fn slices(
    connection: &Connection,
    contract: &str,
    (from, to): (Timestamp, Timestamp),
    parts: SliceParts,
) -> rusqlite::Result<Vec<LedgerSlice>> {
    let mut query = connection.prepare_cached(match parts {
        SliceParts::Counts => {
            "SELECT start_ns, end_ns, cells, x'' FROM ledger_slices
             WHERE contract = ?1 AND start_ns >= ?2 AND start_ns < ?3 ORDER BY start_ns, end_ns"
        }
        SliceParts::CountsAndLatency => {
            "SELECT start_ns, end_ns, cells, latency FROM ledger_slices
             WHERE contract = ?1 AND start_ns >= ?2 AND start_ns < ?3 ORDER BY start_ns, end_ns"
        }
    })?;
    query
        .query_map(params![contract, nanos(from), nanos(to)], |row| {
            Ok(LedgerSlice {
                start: timestamp(row, 0)?,
                end: timestamp(row, 1)?,
                cells: row.get(2)?,
                latency: row.get(3)?,
            })
        })?
        .collect()
}

/// The oldest `limit` marks.
pub fn marks(connection: &Connection, limit: u32) -> rusqlite::Result<Vec<LedgerMark>> {
    let mut query =
        connection.prepare_cached("SELECT id, check_id, from_ns, to_ns FROM ledger_marks ORDER BY id LIMIT ?1")?;
    query
        .query_map(params![limit], |row| {
            Ok(LedgerMark { id: row.get(0)?, check_id: row.get(1)?, from: timestamp(row, 2)?, to: timestamp(row, 3)? })
        })?
        .collect()
}
