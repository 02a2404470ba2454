//! The evidence behind the results (`docs/evidence.md`): each agent's public key on record, the checkpoints it
//! signed over its hash chain, and its signed statements of the gaps its spool had to drop. Every one was
//! verified at ingest; they are kept as received so that a bundle can be checked by anyone later.

use jiff::Timestamp;
use slaprobe_proto::evidence::PublicKey;

use super::columns::nanos;
use super::records::{SignedCheckpoint, SignedGap, Write};
use super::{Store, StoreError, sqlite};

/// An agent's key on record: pinned in the configuration, or the first one it presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentKey {
    /// The agent.
    pub agent_id: String,
    /// Its key.
    pub public_key: PublicKey,
    /// When this key was recorded.
    pub recorded_at: Timestamp,
}

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The checkpoint.
    pub checkpoint: SignedCheckpoint,
    /// When it arrived.
    pub received_at: Timestamp,
}

/// A stored gap statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGapStatement {
    /// First dropped sequence number.
    pub first_seq: u64,
    /// Last dropped sequence number (inclusive).
    pub last_seq: u64,
    /// Why the agent dropped them.
    pub reason: String,
    /// The signed statement.
    pub statement: SignedGap,
    /// When it arrived.
    pub reported_at: Timestamp,
}

/// One row of an agent's history: a stored result, or a refused one with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    /// Its sequence number.
    pub seq: u64,
    /// Its protobuf encoding, with the chain value it arrived with.
    pub record: Vec<u8>,
    /// Why it was refused, when it was.
    pub refused: Option<String>,
}

impl Store {
    /// `agent_id`'s stored and refused results with `seq` in `range` (inclusive), by seq: the first `limit` of
    /// each kind, merged (a seq both stored and refused shows as stored).
    pub async fn agent_rows(&self, agent_id: &str, range: (u64, u64), limit: u32) -> Result<Vec<AgentRow>, StoreError> {
        let agent = agent_id.to_owned();
        let mut rows = match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::evidence::agent_rows(connection, &agent, range, limit)).await?
            }
            Self::Postgres(store) => store.agent_rows(&agent, range, limit).await?,
        };
        // Each kind is complete up to its own last seq; past the smaller of the two, one kind may be cut short.
        let last_of = |refused: bool| {
            let seqs: Vec<u64> =
                rows.iter().filter(|row| row.refused.is_some() == refused).map(|row| row.seq).collect();
            (seqs.len() >= limit as usize).then(|| seqs.last().copied().unwrap_or(range.1))
        };
        let complete_through = [last_of(false), last_of(true)].into_iter().flatten().min().unwrap_or(range.1);
        rows.retain(|row| row.seq <= complete_through);
        rows.sort_by_key(|row| (row.seq, row.refused.is_some()));
        rows.dedup_by_key(|row| row.seq);
        Ok(rows)
    }

    /// `agent_id`'s stored or refused result with the highest seq: where its chain stood when it last sent.
    pub async fn latest_row(&self, agent_id: &str) -> Result<Option<AgentRow>, StoreError> {
        let agent = agent_id.to_owned();
        match self {
            Self::Sqlite(store) => store.read(move |connection| sqlite::evidence::latest_row(connection, &agent)).await,
            Self::Postgres(store) => store.latest_row(&agent).await,
        }
    }

    /// The lowest and highest seq of each agent's results of `checks` that started in `[from, to)`, by agent.
    pub async fn seq_spans(
        &self,
        checks: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, u64, u64)>, StoreError> {
        let (from, to) = (nanos(from), nanos(to));
        let spans = match self {
            Self::Sqlite(store) => {
                let checks = checks.to_vec();
                store
                    .read(move |connection| {
                        let mut spans = Vec::new();
                        for check in &checks {
                            spans.extend(sqlite::evidence::seq_spans(connection, check, from, to)?);
                        }
                        Ok(spans)
                    })
                    .await?
            }
            Self::Postgres(store) => store.seq_spans(checks, from, to).await?,
        };
        let mut merged: std::collections::BTreeMap<String, (u64, u64)> = std::collections::BTreeMap::new();
        for (agent, first, last) in spans {
            let entry = merged.entry(agent).or_insert((first, last));
            *entry = (entry.0.min(first), entry.1.max(last));
        }
        Ok(merged.into_iter().map(|(agent, (first, last))| (agent, first, last)).collect())
    }

    /// The key on record for `agent_id` after it presented `presented`: with `pinned`, the presented key is the
    /// configuration's and replaces any other; otherwise the first key an agent presents is recorded and kept.
    /// The caller compares: a different key on record means the agent is not who it was.
    pub async fn settle_agent_key(
        &self,
        agent_id: &str,
        presented: PublicKey,
        pinned: bool,
    ) -> Result<Option<PublicKey>, StoreError> {
        let changed = self.write(Write::AgentKey(agent_id.to_owned(), presented, pinned)).await?.changed;
        if changed > 0 {
            tracing::info!(%agent_id, public_key = %presented, pinned, "Recorded the agent's key.");
        }
        self.agent_key(agent_id).await
    }

    /// Every agent's key on record, by agent.
    pub async fn agent_keys(&self) -> Result<Vec<AgentKey>, StoreError> {
        self.keys_on_record(None).await
    }

    /// `agent_id`'s key on record, if any.
    pub async fn agent_key(&self, agent_id: &str) -> Result<Option<PublicKey>, StoreError> {
        Ok(self.keys_on_record(Some(agent_id)).await?.pop().map(|key| key.public_key))
    }

    async fn keys_on_record(&self, only: Option<&str>) -> Result<Vec<AgentKey>, StoreError> {
        let only = only.map(str::to_owned);
        match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::evidence::agent_keys(connection, only.as_deref())).await
            }
            Self::Postgres(store) => store.agent_keys(only.as_deref()).await,
        }
    }

    /// `agent_id`'s signed checkpoints with `seq` in `range` (inclusive), by sequence number.
    pub async fn checkpoints(&self, agent_id: &str, range: (u64, u64)) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let agent_id = agent_id.to_owned();
        match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::evidence::checkpoints(connection, &agent_id, range)).await
            }
            Self::Postgres(store) => store.checkpoints(&agent_id, range).await,
        }
    }

    /// `agent_id`'s signed gap statements, by first sequence number.
    pub async fn gap_statements(&self, agent_id: &str) -> Result<Vec<StoredGapStatement>, StoreError> {
        let agent_id = agent_id.to_owned();
        match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::evidence::gap_statements(connection, &agent_id)).await
            }
            Self::Postgres(store) => store.gap_statements(&agent_id).await,
        }
    }
}
