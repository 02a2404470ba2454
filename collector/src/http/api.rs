//! The JSON API, version 1 (`/api/v1/...`). Errors are `{"error": "..."}` with a fitting status.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Serialize;

use super::HttpState;
use crate::report_cmd::{Format, ReportError, render, store_reports, store_status};
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

impl From<ReportError> for ApiError {
    fn from(error: ReportError) -> Self {
        let status = match &error {
            ReportError::Usage(message) if message.starts_with("no contract") => StatusCode::NOT_FOUND,
            ReportError::Usage(_) => StatusCode::BAD_REQUEST,
            ReportError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            ReportError::Data(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self(status, error.to_string())
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
    let bound = state.config.borrow().max_clock_offset;
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

/// `GET /api/v1/contracts`: each contract's standing in its current period, now.
pub async fn contracts(State(state): State<HttpState>) -> Result<Json<serde_json::Value>, ApiError> {
    let config = state.config.borrow().clone();
    let as_of = Timestamp::now();
    let statuses = store_status(&config, &state.store, as_of, None).await?;
    let statuses: Vec<_> = statuses.into_iter().map(|(_, status)| status).collect();
    Ok(Json(serde_json::json!({ "as_of": as_of, "contracts": statuses })))
}

/// What `GET /api/v1/contracts/{id}/report` takes.
#[derive(Debug, serde::Deserialize)]
pub struct ReportQuery {
    /// The period: `2026-02` or `2026-Q1`.
    period: String,
    /// `json` (default), `csv`, `md` or `html`.
    format: Option<Format>,
}

/// `GET /api/v1/contracts/{id}/report?period=2026-02&format=html`: the claim report, as `report` makes it.
pub async fn contract_report(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let config = state.config.borrow().clone();
    if !config.contracts.iter().any(|contract| contract.terms.id == id) {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no contract {id:?}")));
    }
    let format = query.format.unwrap_or(Format::Json);
    let reports = store_reports(&config, &state.store, &query.period, Some(&id)).await?;
    let content_type = match format {
        Format::Json => "application/json",
        Format::Csv => "text/csv; charset=utf-8",
        Format::Md => "text/markdown; charset=utf-8",
        Format::Html => "text/html; charset=utf-8",
    };
    Ok(([(header::CONTENT_TYPE, content_type)], render(&reports, format)).into_response())
}

/// How a check looks from its latest result in each region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    /// Every region's latest result succeeded.
    Up,
    /// Every region's latest result failed.
    Down,
    /// Some regions' latest results failed.
    Partial,
    /// No recent result from any region.
    NoData,
}

/// `GET /api/v1/checks`: each central check with its latest result per region (within ten intervals, at least
/// five minutes) and the state they add up to.
pub async fn checks(State(state): State<HttpState>) -> Result<Json<serde_json::Value>, ApiError> {
    let config = state.config.borrow().clone();
    let now = Timestamp::now();
    let mut views = Vec::with_capacity(config.checks.len());
    for prepared in &config.checks {
        let check = &prepared.check;
        let lookback = (check.interval * 10).max(std::time::Duration::from_secs(300));
        let since = now - jiff::SignedDuration::try_from(lookback).unwrap_or(jiff::SignedDuration::from_hours(1));
        let latest = state.store.latest_per_region(&check.id, since).await?;
        let failed = latest.iter().filter(|result| !result.ok).count();
        let check_state = match (latest.len(), failed) {
            (0, _) => CheckState::NoData,
            (_, 0) => CheckState::Up,
            (all, failed) if failed == all => CheckState::Down,
            _ => CheckState::Partial,
        };
        views.push(serde_json::json!({
            "id": check.id,
            "kind": check.kind,
            "target": without_credentials(&check.target),
            "interval_seconds": check.interval.as_secs_f64(),
            "regions": check.regions,
            "state": check_state,
            "latest": latest,
        }));
    }
    Ok(Json(serde_json::json!({ "as_of": now, "checks": views })))
}

/// `target` with any `user:password@` of a URL replaced, so the API never shows credentials.
fn without_credentials(target: &str) -> String {
    let Some((scheme, rest)) = target.split_once("://") else { return target.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => target.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_in_targets_are_hidden() {
        assert_eq!(super::without_credentials("https://bob:s3cret@api.example/x@y"), "https://***@api.example/x@y");
        assert_eq!(super::without_credentials("https://api.example/health"), "https://api.example/health");
        assert_eq!(super::without_credentials("mail.example:25"), "mail.example:25");
    }
}
