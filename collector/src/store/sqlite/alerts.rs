//! Alerts and leases in SQLite: the writer's statements and the reads. An alert row is only ever updated while
//! it is firing, so the evaluator cannot reopen an alert a person resolved meanwhile, and a person's action
//! changes nothing once the alert is over.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::read::{conversion_error, optional_timestamp, timestamp};
use crate::store::alerts::{AlertAction, AlertChange, AlertRecord, AlertState, LeaseClaim};
use crate::store::columns::nanos;

const COLUMNS: &str = "id, contract, kind, policy, state, started_at_ns, fired_at_ns, resolved_at_ns, resolved_by,
    acknowledged_at_ns, acknowledged_by, levels_notified, last_notified_at_ns, regions, summary, rearmed";

fn json_error(error: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(error))
}

/// Inserts `alert` or updates its evaluation fields while it is firing; returns the rows changed.
pub fn upsert(transaction: &Transaction, alert: &AlertRecord) -> rusqlite::Result<u64> {
    let regions = serde_json::to_string(&alert.regions).map_err(json_error)?;
    let changed = transaction
        .prepare_cached(&format!(
            "INSERT INTO alerts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, resolved_at_ns = excluded.resolved_at_ns,
                 resolved_by = excluded.resolved_by, levels_notified = excluded.levels_notified,
                 last_notified_at_ns = excluded.last_notified_at_ns, regions = excluded.regions,
                 summary = excluded.summary
             WHERE alerts.state = 'firing'"
        ))?
        .execute(params![
            alert.id,
            alert.contract,
            alert.kind,
            alert.policy,
            alert.state.as_str(),
            nanos(alert.started_at),
            nanos(alert.fired_at),
            alert.resolved_at.map(nanos),
            alert.resolved_by,
            alert.acknowledged_at.map(nanos),
            alert.acknowledged_by,
            alert.levels_notified,
            alert.last_notified_at.map(nanos),
            regions,
            alert.summary,
            alert.rearmed
        ])?;
    Ok(changed as u64)
}

/// A person acknowledges or resolves a firing alert; returns the rows changed (0: no such firing alert, or
/// already acknowledged).
pub fn change(transaction: &Transaction, change: &AlertChange) -> rusqlite::Result<u64> {
    let statement = match change.action {
        AlertAction::Acknowledge => {
            "UPDATE alerts SET acknowledged_at_ns = ?2, acknowledged_by = ?3
             WHERE id = ?1 AND state = 'firing' AND acknowledged_at_ns IS NULL"
        }
        AlertAction::Resolve => {
            "UPDATE alerts SET state = 'resolved', resolved_at_ns = ?2, resolved_by = ?3, rearmed = 0
             WHERE id = ?1 AND state = 'firing'"
        }
    };
    let changed = transaction.prepare_cached(statement)?.execute(params![change.id, nanos(change.at), change.by])?;
    Ok(changed as u64)
}

/// Marks a resolved alert's condition as cleared since, so the rule may fire again.
pub fn rearm(transaction: &Transaction, id: &str) -> rusqlite::Result<u64> {
    let changed = transaction
        .prepare_cached("UPDATE alerts SET rearmed = 1 WHERE id = ?1 AND state = 'resolved'")?
        .execute(params![id])?;
    Ok(changed as u64)
}

/// Grants `claim` when the lease is free, expired or already the claimant's; returns 1 when granted.
pub fn claim_lease(transaction: &Transaction, claim: &LeaseClaim) -> rusqlite::Result<u64> {
    let changed = transaction
        .prepare_cached(
            "INSERT INTO leases (name, holder, expires_at_ns) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at_ns = excluded.expires_at_ns
             WHERE leases.holder = excluded.holder OR leases.expires_at_ns <= ?4",
        )?
        .execute(params![claim.name, claim.holder, nanos(claim.until), nanos(claim.now)])?;
    Ok(changed as u64)
}

fn alert_from(row: &Row) -> rusqlite::Result<AlertRecord> {
    let state: String = row.get(4)?;
    let regions: String = row.get(13)?;
    Ok(AlertRecord {
        id: row.get(0)?,
        contract: row.get(1)?,
        kind: row.get(2)?,
        policy: row.get(3)?,
        state: AlertState::parse(&state)
            .ok_or_else(|| conversion_error(4, std::io::Error::other(format!("unknown alert state {state:?}"))))?,
        started_at: timestamp(row, 5)?,
        fired_at: timestamp(row, 6)?,
        resolved_at: optional_timestamp(row, 7)?,
        resolved_by: row.get(8)?,
        acknowledged_at: optional_timestamp(row, 9)?,
        acknowledged_by: row.get(10)?,
        levels_notified: row.get(11)?,
        last_notified_at: optional_timestamp(row, 12)?,
        regions: serde_json::from_str(&regions).map_err(|error| conversion_error(13, error))?,
        summary: row.get(14)?,
        rearmed: row.get(15)?,
    })
}

/// Alerts newest first: only those in `state` when given, at most `limit`.
pub fn alerts(connection: &Connection, state: Option<AlertState>, limit: u32) -> rusqlite::Result<Vec<AlertRecord>> {
    let mut query = connection.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE ?1 IS NULL OR state = ?1 ORDER BY fired_at_ns DESC, id LIMIT ?2"
    ))?;
    let rows = query.query_map(params![state.map(AlertState::as_str), limit], alert_from)?;
    rows.collect()
}

/// The alert `id`, if any.
pub fn alert(connection: &Connection, id: &str) -> rusqlite::Result<Option<AlertRecord>> {
    connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1"))?
        .query_row(params![id], alert_from)
        .optional()
}

/// Each rule's latest alert (by contract and kind).
pub fn latest_per_rule(connection: &Connection) -> rusqlite::Result<Vec<AlertRecord>> {
    let mut query = connection.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM alerts AS a
         WHERE fired_at_ns = (SELECT max(fired_at_ns) FROM alerts AS b WHERE b.contract = a.contract AND b.kind = a.kind)
         ORDER BY contract, kind"
    ))?;
    let rows = query.query_map([], alert_from)?;
    rows.collect()
}
