//! Each agent's view of itself over time, as its batches carried it (clock, resolver, spool, controls): one row
//! per agent and moment, its record a JSON document the same on both engines. Sessions write a row when
//! something that matters changed, and at least once a minute while results flow; claim reports read them to say
//! how each region was measuring during an incident. Kept as long as the results.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::columns::nanos;
use super::periods::document;
use super::records::Write;
use super::{Store, StoreError};

/// What an agent said of itself with one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthRecord {
    /// The agent.
    pub agent_id: String,
    /// Its region.
    pub region: String,
    /// When the batch arrived.
    pub at: Timestamp,
    /// Its latest clock estimate, collector minus agent, milliseconds; `None` before its first.
    pub clock_offset_ms: Option<f64>,
    /// The nameserver its probes resolve names with, or why it has none.
    pub resolver: String,
    /// Results in its spool not yet acknowledged.
    pub spool_backlog: u64,
    /// Results its spool dropped since the agent started.
    pub dropped_results: u64,
    /// Control checks with a recent result, and of those the ones whose latest attempt failed.
    pub controls_probed: u32,
    /// See `controls_probed`.
    pub controls_failing: u32,
}

/// A record as the engines write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthRow {
    pub agent_id: String,
    pub at_ns: i64,
    pub record: String,
}

impl Store {
    /// Appends `record` to its agent's history.
    pub async fn record_health(&self, record: &HealthRecord) -> Result<(), StoreError> {
        let row = HealthRow { agent_id: record.agent_id.clone(), at_ns: nanos(record.at), record: document(record)? };
        self.write(Write::Health(Box::new(row))).await.map(drop)
    }

    /// Every agent's records from `[from, to)`, in time order.
    pub async fn health_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<HealthRecord>, StoreError> {
        let query = "SELECT record FROM agent_health WHERE at_ns >= $1 AND at_ns < $2 ORDER BY at_ns, agent_id";
        self.json_records(query, vec![nanos(from), nanos(to)], "agent_health.record").await
    }
}
