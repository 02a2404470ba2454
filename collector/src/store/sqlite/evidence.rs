//! The agents' keys, signed checkpoints and gap statements in SQLite, written and read.

use rusqlite::{Connection, Row, Transaction, params};
use slaprobe_proto::evidence::{Chain, PublicKey, chain_from_bytes};

use super::read::{conversion_error, timestamp};
use crate::store::columns::{nanos, seq_column};
use crate::store::evidence::{AgentKey, AgentRow, StoredCheckpoint, StoredGapStatement};
use crate::store::records::{GapReport, IngestBatch, SignedCheckpoint, SignedGap};

/// Records `key` for `agent_id`: over the one on record when `pinned`, else only if there is none.
pub fn record_key(transaction: &Transaction, agent_id: &str, key: &PublicKey, pinned: bool) -> rusqlite::Result<u64> {
    let statement = if pinned {
        "INSERT INTO agent_keys (agent_id, public_key, recorded_at_ns) VALUES (?1, ?2, ?3)
         ON CONFLICT (agent_id) DO UPDATE SET public_key = excluded.public_key, recorded_at_ns = excluded.recorded_at_ns
         WHERE public_key <> excluded.public_key"
    } else {
        "INSERT INTO agent_keys (agent_id, public_key, recorded_at_ns) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"
    };
    let changed = transaction.prepare_cached(statement)?.execute(params![
        agent_id,
        key.as_bytes().as_slice(),
        nanos(jiff::Timestamp::now())
    ])?;
    Ok(changed as u64)
}

/// Stores the batch's checkpoint, if it has one (a checkpoint already stored stays as it was).
pub fn insert_checkpoint(transaction: &Transaction, batch: &IngestBatch) -> rusqlite::Result<()> {
    let Some(SignedCheckpoint { seq, chain, signature, public_key }) = &batch.checkpoint else { return Ok(()) };
    transaction
        .prepare_cached(
            "INSERT OR IGNORE INTO checkpoints (agent_id, seq, chain, signature, public_key, received_at_ns)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            batch.agent_id,
            seq_column(*seq),
            chain.as_slice(),
            signature,
            public_key.as_bytes().as_slice(),
            nanos(batch.received_at)
        ])?;
    Ok(())
}

/// Stores the agent's signed statement of `gap`, if it has one.
pub fn insert_gap_statement(transaction: &Transaction, gap: &GapReport) -> rusqlite::Result<()> {
    let Some(SignedGap { chain_before, chain_after, signature, public_key }) = &gap.statement else { return Ok(()) };
    let bytes = |chain: &Option<Chain>| chain.map(Vec::from).unwrap_or_default();
    transaction
        .prepare_cached(
            "INSERT OR IGNORE INTO gap_statements (agent_id, first_seq, last_seq, reason, chain_before, chain_after,
                                                   signature, public_key, reported_at_ns)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            gap.agent_id,
            seq_column(gap.first_seq),
            seq_column(gap.last_seq),
            gap.reason,
            bytes(chain_before),
            bytes(chain_after),
            signature,
            public_key.as_bytes().as_slice(),
            nanos(gap.reported_at)
        ])?;
    Ok(())
}

/// The keys on record, by agent: every agent's, or `only` one's.
pub fn agent_keys(connection: &Connection, only: Option<&str>) -> rusqlite::Result<Vec<AgentKey>> {
    let mut query = connection.prepare_cached(
        "SELECT agent_id, public_key, recorded_at_ns FROM agent_keys WHERE ?1 IS NULL OR agent_id = ?1
         ORDER BY agent_id",
    )?;
    query
        .query_map([only], |row| {
            Ok(AgentKey { agent_id: row.get(0)?, public_key: key(row, 1)?, recorded_at: timestamp(row, 2)? })
        })?
        .collect()
}

/// `agent_id`'s checkpoints with `seq` in `from..=to`, by sequence number.
pub fn checkpoints(
    connection: &Connection,
    agent_id: &str,
    (from, to): (u64, u64),
) -> rusqlite::Result<Vec<StoredCheckpoint>> {
    let mut query = connection.prepare_cached(
        "SELECT seq, chain, signature, public_key, received_at_ns FROM checkpoints
         WHERE agent_id = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq",
    )?;
    query
        .query_map(params![agent_id, seq_column(from), seq_column(to)], |row| {
            Ok(StoredCheckpoint {
                checkpoint: SignedCheckpoint {
                    seq: u64::try_from(row.get::<_, i64>(0)?).map_err(|error| conversion_error(0, error))?,
                    chain: chain(row, 1)?
                        .ok_or_else(|| conversion_error(1, std::io::Error::other("no chain value")))?,
                    signature: row.get(2)?,
                    public_key: key(row, 3)?,
                },
                received_at: timestamp(row, 4)?,
            })
        })?
        .collect()
}

/// `agent_id`'s signed gap statements, by first sequence number.
pub fn gap_statements(connection: &Connection, agent_id: &str) -> rusqlite::Result<Vec<StoredGapStatement>> {
    let mut query = connection.prepare_cached(
        "SELECT first_seq, last_seq, reason, chain_before, chain_after, signature, public_key, reported_at_ns
         FROM gap_statements WHERE agent_id = ?1 ORDER BY first_seq, last_seq",
    )?;
    query
        .query_map([agent_id], |row| {
            let seq =
                |column| u64::try_from(row.get::<_, i64>(column)?).map_err(|error| conversion_error(column, error));
            Ok(StoredGapStatement {
                first_seq: seq(0)?,
                last_seq: seq(1)?,
                reason: row.get(2)?,
                statement: SignedGap {
                    chain_before: chain(row, 3)?,
                    chain_after: chain(row, 4)?,
                    signature: row.get(5)?,
                    public_key: key(row, 6)?,
                },
                reported_at: timestamp(row, 7)?,
            })
        })?
        .collect()
}

fn key(row: &Row, column: usize) -> rusqlite::Result<PublicKey> {
    PublicKey::from_bytes(&row.get::<_, Vec<u8>>(column)?).map_err(|error| conversion_error(column, error))
}

fn chain(row: &Row, column: usize) -> rusqlite::Result<Option<Chain>> {
    chain_from_bytes(&row.get::<_, Vec<u8>>(column)?)
        .map_err(|problem| conversion_error(column, std::io::Error::other(problem)))
}

/// `agent_id`'s results and refusals with `seq` in `from..=to`, by seq, at most `limit` of each.
pub fn agent_rows(
    connection: &Connection,
    agent_id: &str,
    (from, to): (u64, u64),
    limit: u32,
) -> rusqlite::Result<Vec<AgentRow>> {
    let mut rows = Vec::new();
    let range = params![agent_id, seq_column(from), seq_column(to), limit];
    let mut stored = connection.prepare_cached(
        "SELECT seq, record FROM results WHERE agent_id = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq LIMIT ?4",
    )?;
    for row in stored.query_map(range, |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)))? {
        let (seq, record) = row?;
        rows.push(AgentRow { seq: u64::try_from(seq).unwrap_or_default(), record, refused: None });
    }
    let mut refused = connection.prepare_cached(
        "SELECT seq, record, reason FROM refused_results WHERE agent_id = ?1 AND seq BETWEEN ?2 AND ?3
         ORDER BY seq LIMIT ?4",
    )?;
    for row in refused.query_map(range, |row| Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get(2)?)))? {
        let (seq, record, reason) = row?;
        rows.push(AgentRow { seq: u64::try_from(seq).unwrap_or_default(), record, refused: Some(reason) });
    }
    Ok(rows)
}

/// The lowest and highest seq of each agent's results of `check` that started in `[from, to)`.
pub fn seq_spans(
    connection: &Connection,
    check: &str,
    from: i64,
    to: i64,
) -> rusqlite::Result<Vec<(String, u64, u64)>> {
    let mut query = connection.prepare_cached(
        "SELECT agent_id, MIN(seq), MAX(seq) FROM results WHERE check_id = ?1 AND started_at_ns >= ?2
         AND started_at_ns < ?3 GROUP BY agent_id",
    )?;
    query
        .query_map(params![check, from, to], |row| {
            let seq =
                |column| u64::try_from(row.get::<_, i64>(column)?).map_err(|error| conversion_error(column, error));
            Ok((row.get(0)?, seq(1)?, seq(2)?))
        })?
        .collect()
}

/// `agent_id`'s result or refusal with the highest seq.
pub fn latest_row(connection: &Connection, agent_id: &str) -> rusqlite::Result<Option<AgentRow>> {
    let mut latest: Option<AgentRow> = None;
    for (query, refused) in [
        ("SELECT seq, record, NULL FROM results WHERE agent_id = ?1 ORDER BY seq DESC LIMIT 1", false),
        ("SELECT seq, record, reason FROM refused_results WHERE agent_id = ?1 ORDER BY seq DESC LIMIT 1", true),
    ] {
        let mut statement = connection.prepare_cached(query)?;
        let mut rows = statement.query([agent_id])?;
        if let Some(row) = rows.next()? {
            let seq = u64::try_from(row.get::<_, i64>(0)?).unwrap_or_default();
            let reason: Option<String> = if refused { row.get(2)? } else { None };
            if latest.as_ref().is_none_or(|latest| seq > latest.seq) {
                latest = Some(AgentRow { seq, record: row.get(1)?, refused: reason });
            }
        }
    }
    Ok(latest)
}
