//! The evidence behind the results (`docs/evidence.md`): each agent's public key on record, the checkpoints it
//! signed over its hash chain, and its signed statements of the gaps its spool had to drop. Every one was
//! verified at ingest; they are kept as received so that a bundle can be checked by anyone later.

use jiff::Timestamp;
use slaprobe_proto::evidence::PublicKey;

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

impl Store {
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
        let keys = self.agent_keys().await?;
        Ok(keys.into_iter().find(|key| key.agent_id == agent_id).map(|key| key.public_key))
    }

    /// Every agent's key on record, by agent.
    pub async fn agent_keys(&self) -> Result<Vec<AgentKey>, StoreError> {
        match self {
            Self::Sqlite(store) => store.read(sqlite::evidence::agent_keys).await,
            Self::Postgres(store) => store.agent_keys().await,
        }
    }

    /// `agent_id`'s signed checkpoints, by sequence number.
    pub async fn checkpoints(&self, agent_id: &str) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let agent_id = agent_id.to_owned();
        match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::evidence::checkpoints(connection, &agent_id)).await
            }
            Self::Postgres(store) => store.checkpoints(&agent_id).await,
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
