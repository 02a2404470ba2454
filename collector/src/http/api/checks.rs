//! `GET /api/v1/checks`: each central check (target URLs without credentials or query values) with its latest result per
//! region within ten intervals (at least five minutes), and the state those add up to.

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use slaprobe_checks::CheckKind;
use slaprobe_proto::ResultRecord;

use slaprobe_proto::redact::redacted_url;

use super::ApiError;
use crate::http::HttpState;

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

/// A check as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckView {
    /// Check id.
    pub id: String,
    /// Probe kind.
    pub kind: CheckKind,
    /// What is probed, without credentials.
    pub target: String,
    /// Seconds between probes.
    pub interval_seconds: f64,
    /// Regions it runs in (`null`: every region).
    pub regions: Option<Vec<String>>,
    /// What the latest results add up to.
    pub state: CheckState,
    /// The latest result of each region, by region.
    pub latest: Vec<ResultRecord>,
}

/// Every central check as of `now`, in configuration order.
pub async fn check_views(state: &HttpState, now: Timestamp) -> Result<Vec<CheckView>, ApiError> {
    let config = state.config.borrow().clone();
    let mut views = Vec::with_capacity(config.checks.len());
    for prepared in &config.checks {
        let check = &prepared.check;
        let lookback = (check.interval * 10).max(std::time::Duration::from_secs(300));
        let since = now - SignedDuration::try_from(lookback).unwrap_or(SignedDuration::from_hours(1));
        let latest = state.store.latest_per_region(&check.id, since).await?;
        let failed = latest.iter().filter(|result| !result.ok).count();
        let check_state = match (latest.len(), failed) {
            (0, _) => CheckState::NoData,
            (_, 0) => CheckState::Up,
            (all, failed) if failed == all => CheckState::Down,
            _ => CheckState::Partial,
        };
        views.push(CheckView {
            id: check.id.clone(),
            kind: check.kind,
            target: redacted_url(&check.target),
            interval_seconds: check.interval.as_secs_f64(),
            regions: check.regions.clone(),
            state: check_state,
            latest,
        });
    }
    Ok(views)
}

/// `GET /api/v1/checks`.
pub async fn checks(State(state): State<HttpState>) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Timestamp::now();
    let views = check_views(&state, now).await?;
    Ok(Json(serde_json::json!({ "as_of": now, "checks": views })))
}
