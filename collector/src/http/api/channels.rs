//! `POST /api/v1/channels/{id}/test` (admin): sends a test notification (`state: "test"`) to one channel of
//! `notify.channels` and answers with every attempt: 200 when delivered, 502 when not, 404 for no such channel.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::ApiError;
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
        started_at: Timestamp::now(),
        regions: Vec::new(),
        summary: format!("Test notification from slaprobe to channel {id}."),
    };
    let delivery = state.notifier.deliver(&channel, &notification).await;
    let status = if delivery.delivered { StatusCode::OK } else { StatusCode::BAD_GATEWAY };
    Ok((status, Json(delivery)).into_response())
}
