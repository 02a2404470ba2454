//! `POST /api/v1/channels/{id}/test` (admin): sends a test notification (`state: "test"`) to one channel of
//! `notify.channels` and answers with every attempt: 200 when delivered, 502 when not, 404 for no such channel.
//! `GET /api/v1/deliveries?limit=100`: the delivery log, newest first (at most 1000).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::{ApiError, ApiQuery};
use crate::alerting;
use crate::http::HttpState;
use crate::notify::Notification;

/// `POST /api/v1/channels/{id}/test`.
pub async fn test(State(state): State<HttpState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let channel = state.config.borrow().notify.channels.iter().find(|channel| channel.id == id).cloned();
    let Some(channel) = channel else {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no channel {id:?} in notify.channels")));
    };
    let notification = Notification {
        state: "test".to_owned(),
        kind: "test".to_owned(),
        contract: String::new(),
        vendor: String::new(),
        service: String::new(),
        url: None,
        started_at: Timestamp::now(),
        regions: Vec::new(),
        summary: format!("Test notification from slaprobe to channel {id}."),
        alert_id: None,
        level: None,
    };
    let channels = [channel];
    let deliveries = alerting::send(&state.store, &state.notifier, &channels, &notification).await;
    let Some(delivery) = deliveries.into_iter().next() else {
        return Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, "nothing was sent".to_owned()));
    };
    let status = if delivery.delivered { StatusCode::OK } else { StatusCode::BAD_GATEWAY };
    Ok((status, Json(delivery)).into_response())
}

/// What `GET /api/v1/deliveries` takes.
#[derive(Debug, serde::Deserialize)]
pub struct DeliveriesQuery {
    limit: Option<String>,
}

/// `GET /api/v1/deliveries`.
pub async fn deliveries(
    State(state): State<HttpState>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = match query.limit.as_deref().map(str::parse::<u32>) {
        None => 100,
        Some(Ok(limit @ 1..=1000)) => limit,
        Some(_) => return Err(ApiError::bad_request("limit: give a whole number from 1 to 1000".to_owned())),
    };
    let deliveries = state.store.deliveries(None, limit).await?;
    Ok(Json(serde_json::json!({ "deliveries": deliveries })))
}
