//! The agents' keys, signed checkpoints and gap statements in PostgreSQL, written and read: the same effects as
//! the SQLite engine's.

use slaprobe_proto::evidence::{Chain, PublicKey, chain_from_bytes};
use tokio_postgres::{Row, Transaction};

use super::PostgresStore;
use super::read::{timestamp, undecodable};
use crate::store::StoreError;
use crate::store::columns::{nanos, seq_column};
use crate::store::evidence::{AgentKey, AgentRow, StoredCheckpoint, StoredGapStatement};
use crate::store::records::{GapReport, IngestBatch, SignedCheckpoint, SignedGap};

/// Records `key` for `agent_id`: over the one on record when `pinned`, else only if there is none.
pub async fn record_key(
    transaction: &Transaction<'_>,
    agent_id: &str,
    key: &PublicKey,
    pinned: bool,
) -> Result<u64, tokio_postgres::Error> {
    let statement = if pinned {
        "INSERT INTO agent_keys (agent_id, public_key, recorded_at_ns) VALUES ($1, $2, $3)
         ON CONFLICT (agent_id) DO UPDATE SET public_key = excluded.public_key, recorded_at_ns = excluded.recorded_at_ns
         WHERE agent_keys.public_key <> excluded.public_key"
    } else {
        "INSERT INTO agent_keys (agent_id, public_key, recorded_at_ns) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    };
    let key: &[u8] = key.as_bytes();
    transaction.execute(statement, &[&agent_id, &key, &nanos(jiff::Timestamp::now())]).await
}

/// Stores the batch's checkpoint, if it has one (a checkpoint already stored stays as it was).
pub async fn insert_checkpoint(
    transaction: &Transaction<'_>,
    batch: &IngestBatch,
) -> Result<(), tokio_postgres::Error> {
    let Some(SignedCheckpoint { seq, chain, signature, public_key }) = &batch.checkpoint else { return Ok(()) };
    let (chain, key): (&[u8], &[u8]) = (chain, public_key.as_bytes());
    transaction
        .execute(
            "INSERT INTO checkpoints (agent_id, seq, chain, signature, public_key, received_at_ns)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[&batch.agent_id, &seq_column(*seq), &chain, signature, &key, &nanos(batch.received_at)],
        )
        .await?;
    Ok(())
}

/// Stores the agent's signed statement of `gap`, if it has one.
pub async fn insert_gap_statement(transaction: &Transaction<'_>, gap: &GapReport) -> Result<(), tokio_postgres::Error> {
    let Some(SignedGap { chain_before, chain_after, signature, public_key }) = &gap.statement else { return Ok(()) };
    let bytes = |chain: &Option<Chain>| chain.map(Vec::from).unwrap_or_default();
    let key: &[u8] = public_key.as_bytes();
    transaction
        .execute(
            "INSERT INTO gap_statements (agent_id, first_seq, last_seq, reason, chain_before, chain_after, signature,
                                         public_key, reported_at_ns)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            &[
                &gap.agent_id,
                &seq_column(gap.first_seq),
                &seq_column(gap.last_seq),
                &gap.reason,
                &bytes(chain_before),
                &bytes(chain_after),
                signature,
                &key,
                &nanos(gap.reported_at),
            ],
        )
        .await?;
    Ok(())
}

impl PostgresStore {
    /// See [`crate::store::Store::agent_keys`].
    pub async fn agent_keys(&self, only: Option<&str>) -> Result<Vec<AgentKey>, StoreError> {
        let rows = self
            .rows(
                "SELECT agent_id, public_key, recorded_at_ns FROM agent_keys
                 WHERE $1::text IS NULL OR agent_id = $1 ORDER BY agent_id",
                &[&only],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AgentKey {
                    agent_id: row.try_get("agent_id")?,
                    public_key: key(row)?,
                    recorded_at: timestamp(row, "recorded_at_ns")?,
                })
            })
            .collect()
    }

    /// See [`crate::store::Store::checkpoints`].
    pub async fn checkpoints(
        &self,
        agent_id: &str,
        (from, to): (u64, u64),
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows = self
            .rows(
                "SELECT seq, chain, signature, public_key, received_at_ns FROM checkpoints
                 WHERE agent_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
                &[&agent_id, &seq_column(from), &seq_column(to)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredCheckpoint {
                    checkpoint: SignedCheckpoint {
                        seq: seq(row, "seq")?,
                        chain: chain(row, "chain")?.ok_or_else(|| undecodable("chain", "no chain value"))?,
                        signature: row.try_get("signature")?,
                        public_key: key(row)?,
                    },
                    received_at: timestamp(row, "received_at_ns")?,
                })
            })
            .collect()
    }

    /// See [`crate::store::Store::gap_statements`].
    pub async fn gap_statements(&self, agent_id: &str) -> Result<Vec<StoredGapStatement>, StoreError> {
        let rows = self
            .rows(
                "SELECT first_seq, last_seq, reason, chain_before, chain_after, signature, public_key, reported_at_ns
                 FROM gap_statements WHERE agent_id = $1 ORDER BY first_seq, last_seq",
                &[&agent_id],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredGapStatement {
                    first_seq: seq(row, "first_seq")?,
                    last_seq: seq(row, "last_seq")?,
                    reason: row.try_get("reason")?,
                    statement: SignedGap {
                        chain_before: chain(row, "chain_before")?,
                        chain_after: chain(row, "chain_after")?,
                        signature: row.try_get("signature")?,
                        public_key: key(row)?,
                    },
                    reported_at: timestamp(row, "reported_at_ns")?,
                })
            })
            .collect()
    }
}

impl PostgresStore {
    /// See [`crate::store::Store::agent_rows`].
    pub async fn agent_rows(
        &self,
        agent_id: &str,
        (from, to): (u64, u64),
        limit: u32,
    ) -> Result<Vec<AgentRow>, StoreError> {
        let (from, to, limit) = (seq_column(from), seq_column(to), i64::from(limit));
        let stored = self
            .rows(
                "SELECT seq, record FROM results WHERE agent_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq LIMIT $4",
                &[&agent_id, &from, &to, &limit],
            )
            .await?;
        let refused = self
            .rows(
                "SELECT seq, record, reason FROM refused_results WHERE agent_id = $1 AND seq BETWEEN $2 AND $3
                 ORDER BY seq LIMIT $4",
                &[&agent_id, &from, &to, &limit],
            )
            .await?;
        let mut rows = Vec::with_capacity(stored.len() + refused.len());
        for row in &stored {
            rows.push(AgentRow { seq: seq(row, "seq")?, record: row.try_get("record")?, refused: None });
        }
        for row in &refused {
            rows.push(AgentRow {
                seq: seq(row, "seq")?,
                record: row.try_get("record")?,
                refused: Some(row.try_get("reason")?),
            });
        }
        Ok(rows)
    }

    /// See [`crate::store::Store::latest_row`].
    pub async fn latest_row(&self, agent_id: &str) -> Result<Option<AgentRow>, StoreError> {
        let stored = self
            .rows("SELECT seq, record FROM results WHERE agent_id = $1 ORDER BY seq DESC LIMIT 1", &[&agent_id])
            .await?;
        let refused = self
            .rows(
                "SELECT seq, record, reason FROM refused_results WHERE agent_id = $1 ORDER BY seq DESC LIMIT 1",
                &[&agent_id],
            )
            .await?;
        let mut latest: Option<AgentRow> = None;
        for (row, refused) in stored.iter().map(|row| (row, false)).chain(refused.iter().map(|row| (row, true))) {
            let seq = seq(row, "seq")?;
            if latest.as_ref().is_none_or(|latest| seq > latest.seq) {
                let reason = if refused { Some(row.try_get("reason")?) } else { None };
                latest = Some(AgentRow { seq, record: row.try_get("record")?, refused: reason });
            }
        }
        Ok(latest)
    }

    /// See [`crate::store::Store::seq_spans`].
    pub async fn seq_spans(
        &self,
        checks: &[String],
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, u64, u64)>, StoreError> {
        let rows = self
            .rows(
                "SELECT agent_id, MIN(seq) AS first, MAX(seq) AS last FROM results WHERE check_id = ANY($1)
                 AND started_at_ns >= $2 AND started_at_ns < $3 GROUP BY agent_id",
                &[&checks, &from, &to],
            )
            .await?;
        rows.iter().map(|row| Ok((row.try_get("agent_id")?, seq(row, "first")?, seq(row, "last")?))).collect()
    }
}

fn seq(row: &Row, column: &str) -> Result<u64, StoreError> {
    u64::try_from(row.try_get::<_, i64>(column)?).map_err(|error| undecodable(column, error))
}

fn key(row: &Row) -> Result<PublicKey, StoreError> {
    PublicKey::from_bytes(row.try_get("public_key")?).map_err(|error| undecodable("public_key", error))
}

fn chain(row: &Row, column: &str) -> Result<Option<Chain>, StoreError> {
    chain_from_bytes(row.try_get(column)?).map_err(|problem| undecodable(column, problem))
}
