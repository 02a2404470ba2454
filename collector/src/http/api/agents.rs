//! `GET /api/v1/agents`: the agent registry, with whether each agent holds a session now and whether its clock
//! is within `max_clock_offset`. An agent that has not sent results for [`SILENT_AFTER`] is marked silent.

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::ApiError;
use crate::http::HttpState;

/// An agent with no results for this long is silent.
pub const SILENT_AFTER: SignedDuration = SignedDuration::from_mins(5);

/// An agent as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
    /// Agent id.
    pub agent_id: String,
    /// Region label.
    pub region: String,
    /// Agent software version at its last session.
    pub version: String,
    /// Whether it holds a session with this collector now.
    pub connected: bool,
    /// Whether it sent nothing for [`SILENT_AFTER`].
    pub silent: bool,
    /// When its last session opened.
    pub connected_at: Timestamp,
    /// When it last sent results.
    pub last_seen: Timestamp,
    /// Results waiting in its spool when its last session opened.
    pub spool_backlog: u64,
    /// Collector clock minus agent clock, milliseconds (`null` before the first estimate).
    pub clock_offset_ms: Option<f64>,
    /// Round trip of that estimate, milliseconds.
    pub clock_round_trip_ms: Option<f64>,
    /// Whether the offset is within `max_clock_offset` (results beyond it are flagged `clock_suspect`).
    pub clock_within_bound: Option<bool>,
}

/// Every agent that ever opened a session, by id, as of `now`.
pub async fn agent_views(state: &HttpState, now: Timestamp) -> Result<Vec<AgentView>, ApiError> {
    let bound = state.config.borrow().max_clock_offset;
    let records = state.store.agents().await?;
    Ok(records
        .into_iter()
        .map(|record| {
            let clock = record.clock;
            AgentView {
                connected: state.metrics.is_connected(&record.agent_id),
                silent: now.duration_since(record.last_seen) > SILENT_AFTER,
                clock_offset_ms: clock.map(|clock| clock.offset_nanos as f64 / 1e6),
                clock_round_trip_ms: clock.map(|clock| clock.round_trip_nanos as f64 / 1e6),
                clock_within_bound: clock.map(|clock| clock.offset_nanos.unsigned_abs() <= bound.as_nanos() as u64),
                agent_id: record.agent_id,
                region: record.region,
                version: record.version,
                connected_at: record.connected_at,
                last_seen: record.last_seen,
                spool_backlog: record.spool_backlog,
            }
        })
        .collect())
}

/// `GET /api/v1/agents`.
pub async fn agents(State(state): State<HttpState>) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Timestamp::now();
    let views = agent_views(&state, now).await?;
    let refused = state.refusals.sources();
    Ok(Json(serde_json::json!({ "as_of": now, "agents": views, "refused_sessions": refused })))
}
