//! Closed periods, their artifacts and claims in SQLite: the writer's statements and the reads. A revision is
//! only ever inserted; a claim is updated only from the version its change was made from.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::store::periods::{ClaimRow, DELIVERY_STALE, DELIVERY_TRIES, DeliveryStep, RevisionRow};

/// Inserts a revision and its artifacts; 0 when that revision is stored already (it stays as it was).
pub(crate) fn insert_revision(transaction: &Transaction, row: &RevisionRow) -> rusqlite::Result<u64> {
    let inserted = transaction
        .prepare_cached(
            "INSERT INTO closed_periods (contract, period, revision, record) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![row.contract, row.period, row.revision, row.record])?;
    if inserted == 0 {
        return Ok(0);
    }
    let mut artifact = transaction.prepare_cached(
        "INSERT INTO period_artifacts (contract, period, revision, name, content) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (name, content) in &row.artifacts {
        artifact.execute(params![row.contract, row.period, row.revision, name, content])?;
    }
    Ok(1)
}

/// Applies a claim change if the claim is still at the version it was made from; 1 when applied.
pub(crate) fn write_claim(transaction: &Transaction, row: &ClaimRow) -> rusqlite::Result<u64> {
    let applied = if row.from_version == 0 {
        transaction
            .prepare_cached(
                "INSERT INTO claims (contract, period, version, record) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            )?
            .execute(params![row.contract, row.period, row.version, row.record])?
    } else {
        transaction
            .prepare_cached(
                "UPDATE claims SET version = ?3, record = ?4 WHERE contract = ?1 AND period = ?2 AND version = ?5",
            )?
            .execute(params![row.contract, row.period, row.version, row.record, row.from_version])?
    };
    if applied == 0 {
        return Ok(0);
    }
    transaction
        .prepare_cached("INSERT INTO claim_events (contract, period, version, record) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![row.contract, row.period, row.version, row.event])?;
    Ok(1)
}

/// Takes a report delivery (1 when this collector is to send it) or records how it went.
pub(crate) fn delivery_step(transaction: &Transaction, step: &DeliveryStep) -> rusqlite::Result<u64> {
    let key = &step.key;
    let changed = match step.finished {
        None => transaction
            .prepare_cached(
                "INSERT INTO report_deliveries (contract, period, revision, channel, kind, state, tries, updated_at_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'sending', 1, ?6)
                 ON CONFLICT (contract, period, revision, channel, kind) DO UPDATE
                 SET state = 'sending', tries = tries + 1, updated_at_ns = excluded.updated_at_ns
                 WHERE (state = 'failed' AND tries < ?7) OR (state = 'sending' AND updated_at_ns < ?8)",
            )?
            .execute(params![
                key.contract,
                key.period,
                step.revision,
                key.channel,
                key.kind,
                step.at_ns,
                DELIVERY_TRIES,
                step.at_ns.saturating_sub(DELIVERY_STALE.as_nanos() as i64)
            ])?,
        Some(sent) => transaction
            .prepare_cached(
                "UPDATE report_deliveries SET state = ?6, updated_at_ns = ?7
                 WHERE contract = ?1 AND period = ?2 AND revision = ?3 AND channel = ?4 AND kind = ?5",
            )?
            .execute(params![
                key.contract,
                key.period,
                step.revision,
                key.channel,
                key.kind,
                if sent { "sent" } else { "failed" },
                step.at_ns
            ])?,
    };
    Ok(changed as u64)
}

/// Every revision's record (of `contract` only, when given), by contract, period, revision.
pub fn closed_periods(connection: &Connection, contract: Option<&str>) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection.prepare_cached(
        "SELECT record FROM closed_periods WHERE ?1 IS NULL OR contract = ?1 ORDER BY contract, period, revision",
    )?;
    statement.query_map(params![contract], |row| row.get(0))?.collect()
}

/// One artifact's content: `key` is contract, period and name.
pub fn artifact(connection: &Connection, key: &[String; 3], revision: u32) -> rusqlite::Result<Option<Vec<u8>>> {
    connection
        .prepare_cached(
            "SELECT content FROM period_artifacts WHERE contract = ?1 AND period = ?2 AND revision = ?3 AND name = ?4",
        )?
        .query_row(params![key[0], key[1], revision, key[2]], |row| row.get(0))
        .optional()
}

/// Every claim's record, by contract and period.
pub fn claims(connection: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection.prepare_cached("SELECT record FROM claims ORDER BY contract, period")?;
    statement.query_map([], |row| row.get(0))?.collect()
}

/// The events of one claim (`key`: contract and period), oldest first.
pub fn claim_events(connection: &Connection, key: &[String; 2]) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection
        .prepare_cached("SELECT record FROM claim_events WHERE contract = ?1 AND period = ?2 ORDER BY version")?;
    statement.query_map(params![key[0], key[1]], |row| row.get(0))?.collect()
}
