//! Alerts: `GET /api/v1/alerts?state=firing|resolved&limit=100` (newest first), `GET /api/v1/alerts/{id}` (with
//! its deliveries), and, for admins, `POST /api/v1/alerts/{id}/acknowledge` (escalation and repeats stop) and
//! `POST /api/v1/alerts/{id}/resolve` (closed now; every level told so far hears it; the rule fires again only
//! after its condition has cleared). Acting on an alert that is not firing (or acknowledging twice) is a 409.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use jiff::Timestamp;

use super::{ApiError, ApiQuery};
use crate::alerting::evaluator::announce_resolved;
use crate::http::HttpState;
use crate::http::auth::Caller;
use crate::store::{AlertAction, AlertChange, AlertRecord, AlertState};

/// What `GET /api/v1/alerts` takes.
#[derive(Debug, serde::Deserialize)]
pub struct AlertsQuery {
    state: Option<String>,
    limit: Option<String>,
}

/// `GET /api/v1/alerts`.
pub async fn alerts(
    State(state): State<HttpState>,
    ApiQuery(query): ApiQuery<AlertsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let wanted = match query.state.as_deref() {
        None | Some("all") => None,
        Some(text) => Some(
            AlertState::parse(text)
                .ok_or_else(|| ApiError::bad_request(format!("state: {text:?} is not one of firing, resolved, all")))?,
        ),
    };
    let limit = match query.limit.as_deref().map(str::parse::<u32>) {
        None => 100,
        Some(Ok(limit @ 1..=1000)) => limit,
        Some(_) => return Err(ApiError::bad_request("limit: give a whole number from 1 to 1000".to_owned())),
    };
    let alerts = state.store.alerts(wanted, limit).await?;
    Ok(Json(serde_json::json!({ "alerts": alerts })))
}

/// `GET /api/v1/alerts/{id}`.
pub async fn alert(
    State(state): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let alert = find(&state, &id).await?;
    let deliveries = state.store.deliveries(Some(&id), 1000).await?;
    Ok(Json(serde_json::json!({ "alert": alert, "deliveries": deliveries })))
}

async fn find(state: &HttpState, id: &str) -> Result<AlertRecord, ApiError> {
    state.store.alert(id).await?.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no alert {id:?}")))
}

/// `POST /api/v1/alerts/{id}/acknowledge`.
pub async fn acknowledge(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    act(&state, &caller, &id, AlertAction::Acknowledge).await.map(|alert| Json(serde_json::json!({ "alert": alert })))
}

/// `POST /api/v1/alerts/{id}/resolve`.
pub async fn resolve(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    act(&state, &caller, &id, AlertAction::Resolve).await.map(|alert| Json(serde_json::json!({ "alert": alert })))
}

/// Applies `action` to alert `id` for `caller` (the API and the dashboard's buttons); the alert afterwards.
pub async fn act(state: &HttpState, caller: &Caller, id: &str, action: AlertAction) -> Result<AlertRecord, ApiError> {
    let by = caller.name.clone().unwrap_or_else(|| "anonymous".to_owned());
    let change = AlertChange { id: id.to_owned(), action, by, at: Timestamp::now() };
    if !state.store.change_alert(change).await? {
        let alert = find(state, id).await?;
        let why =
            if alert.state == AlertState::Resolved { "it is already resolved" } else { "it is already acknowledged" };
        return Err(ApiError(StatusCode::CONFLICT, format!("alert {id:?} was not changed: {why}")));
    }
    let alert = find(state, id).await?;
    tracing::info!(alert = %alert.id, ?action, by = ?caller.name, "An alert was changed by hand.");
    if action == AlertAction::Resolve {
        let (store, notifier, config, resolved) =
            (state.store.clone(), state.notifier.clone(), state.config.borrow().clone(), alert.clone());
        tokio::spawn(async move { announce_resolved(&store, &notifier, &config, &resolved).await });
    }
    Ok(alert)
}
