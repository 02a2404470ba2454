//! The JSON API, version 1 (`/api/v1/...`). Errors are `{"error": "..."}` with a fitting status.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Serialize;

use super::HttpState;
use crate::store::AgentRecord;

/// An API failure.
pub struct ApiError(StatusCode, String);

impl ApiError {
    /// No such route.
    pub fn not_found() -> Self {
        Self(StatusCode::NOT_FOUND, "no such endpoint; the API lives under /api/v1".to_owned())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        Self(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
    }
}

/// An agent as the API shows it.
#[derive(Debug, Serialize)]
pub struct AgentView {
    /// Agent id.
    pub agent_id: String,
    /// Region label.
    pub region: String,
    /// Agent software version at its last session.
    pub version: String,
    /// Whether it holds a session with this collector now.
    pub connected: bool,
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

/// `GET /api/v1/agents`: every agent that ever opened a session, by id.
pub async fn agents(State(state): State<HttpState>) -> Result<Json<serde_json::Value>, ApiError> {
    let bound = state.settings.borrow().max_clock_offset;
    let records = state.store.agents().await?;
    let views: Vec<AgentView> = records
        .into_iter()
        .map(|record: AgentRecord| {
            let connected = state.metrics.is_connected(&record.agent_id);
            let clock = record.clock;
            AgentView {
                connected,
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
        .collect();
    Ok(Json(serde_json::json!({ "agents": views })))
}
