//! Agents that joined with a fleet token (`enrolments:`): one row per agent id, its record an [`EnrolledAgent`]
//! as JSON, the same on both engines, with the enrolment and state beside it for counting. An agent's first
//! session records it (pending, or approved where the enrolment approves at once); an admin approves or revokes
//! it; later sessions refresh when, from where and with which version it was last seen.

use std::net::IpAddr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use slaprobe_proto::evidence::PublicKey;

use super::periods::{decoded, document};
use super::records::Write;
use super::{Store, StoreError};

/// Where an enrolled agent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnrolmentState {
    /// Recorded, waiting for an admin: its sessions are refused.
    Pending,
    /// Admitted.
    Approved,
    /// Refused from now on, until approved again.
    Revoked,
}

impl EnrolmentState {
    /// The state as stored and shown (`pending`, `approved`, `revoked`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Revoked => "revoked",
        }
    }
}

/// One enrolled agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolledAgent {
    /// The agent id its Hello named.
    pub agent_id: String,
    /// The enrolment (`enrolments[].name`) it joined with.
    pub enrolment: String,
    /// The enrolment's region, which it measures from.
    pub region: String,
    /// Pending, approved or revoked.
    pub state: EnrolmentState,
    /// The key it presented at its first session: every later session must present the same one.
    pub public_key: PublicKey,
    /// Its first session.
    pub first_seen_at: Timestamp,
    /// Its latest session, refused or not (kept at most a minute stale while it is refused).
    pub last_seen_at: Timestamp,
    /// The address that session came from.
    pub remote: Option<IpAddr>,
    /// Its software version then.
    pub version: String,
    /// When it was last approved or revoked.
    pub decided_at: Option<Timestamp>,
    /// Who decided: the API token's name, `auto_approve` or `open access` (no tokens configured).
    pub decided_by: Option<String>,
}

/// A change to the enrolled agents, as the engines write it: the agent, its enrolment, its state's label and the
/// record as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnrolmentWrite {
    /// Records an agent unless it is on record already.
    Insert([String; 4]),
    /// Replaces an agent's record.
    Replace([String; 4]),
}

/// The statements of each [`EnrolmentWrite`], with `$n` parameters in order.
pub(crate) const INSERT: &str = "INSERT INTO enrolled_agents (agent_id, enrolment, state, record)
     VALUES ($1, $2, $3, $4) ON CONFLICT (agent_id) DO NOTHING";
/// See [`INSERT`].
pub(crate) const REPLACE: &str =
    "UPDATE enrolled_agents SET enrolment = $2, state = $3, record = $4 WHERE agent_id = $1";

fn row(agent: &EnrolledAgent) -> Result<[String; 4], StoreError> {
    Ok([agent.agent_id.clone(), agent.enrolment.clone(), agent.state.label().to_owned(), document(agent)?])
}

impl Store {
    /// Records `agent` unless an agent of its id is on record; returns the one on record afterwards.
    pub async fn enrol(&self, agent: &EnrolledAgent) -> Result<EnrolledAgent, StoreError> {
        self.write(Write::Enrolment(Box::new(EnrolmentWrite::Insert(row(agent)?)))).await?;
        self.enrolled_agent(&agent.agent_id).await?.ok_or_else(|| {
            StoreError::Unusable(format!(
                "enrolled agent {:?} is not on record right after recording it",
                agent.agent_id
            ))
        })
    }

    /// Replaces the record of `agent` (its id on record); `false` when it is not on record.
    pub async fn put_enrolled_agent(&self, agent: &EnrolledAgent) -> Result<bool, StoreError> {
        let outcome = self.write(Write::Enrolment(Box::new(EnrolmentWrite::Replace(row(agent)?)))).await?;
        Ok(outcome.changed > 0)
    }

    /// The enrolled agent `agent_id`, if on record.
    pub async fn enrolled_agent(&self, agent_id: &str) -> Result<Option<EnrolledAgent>, StoreError> {
        let agent_id = agent_id.to_owned();
        let query = "SELECT record FROM enrolled_agents WHERE agent_id = $1";
        let stored = match self {
            Self::Sqlite(store) => {
                store
                    .read(move |connection| {
                        use rusqlite::OptionalExtension as _;
                        connection
                            .prepare_cached(&query.replace('$', "?"))?
                            .query_row([agent_id], |row| row.get::<_, String>(0))
                            .optional()
                    })
                    .await?
            }
            Self::Postgres(store) => {
                store.connection().await?.query_opt(query, &[&agent_id]).await?.map(|row| row.get::<_, String>(0))
            }
        };
        stored.map(|text| decoded("enrolled_agents.record", &text)).transpose()
    }

    /// Every enrolled agent, by id.
    pub async fn enrolled_agents(&self) -> Result<Vec<EnrolledAgent>, StoreError> {
        self.json_records("SELECT record FROM enrolled_agents ORDER BY agent_id", Vec::new(), "enrolled_agents.record")
            .await
    }

    /// The revoked agents, by id.
    pub async fn revoked_agents(&self) -> Result<Vec<EnrolledAgent>, StoreError> {
        let query = "SELECT record FROM enrolled_agents WHERE state = 'revoked' ORDER BY agent_id";
        self.json_records(query, Vec::new(), "enrolled_agents.record").await
    }

    /// How many agents are on record for `enrolment`, and how many of them wait for approval.
    pub async fn enrolment_counts(&self, enrolment: &str) -> Result<(u64, u64), StoreError> {
        let enrolment = enrolment.to_owned();
        let query = "SELECT count(*), coalesce(sum(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0)
                     FROM enrolled_agents WHERE enrolment = $1";
        let (all, pending): (i64, i64) = match self {
            Self::Sqlite(store) => {
                store
                    .read(move |connection| {
                        let mut statement = connection.prepare_cached(&query.replace('$', "?"))?;
                        statement.query_row([enrolment], |row| Ok((row.get(0)?, row.get(1)?)))
                    })
                    .await?
            }
            Self::Postgres(store) => {
                let row = store.connection().await?.query_one(query, &[&enrolment]).await?;
                (row.get(0), row.get(1))
            }
        };
        Ok((u64::try_from(all).unwrap_or(0), u64::try_from(pending).unwrap_or(0)))
    }
}
