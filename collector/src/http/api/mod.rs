//! The JSON API, version 1 (`/api/v1/...`). Errors are `{"error": "..."}` with a fitting status. Each module
//! builds its views as typed values, which the dashboard renders too, so both show the same numbers.
//!
//! Layout:
//! - [`agents`]: the agent registry.
//! - [`alerts`]: alerts, acknowledged and resolved by hand.
//! - [`channels`]: test notifications to the configured channels, and the delivery log.
//! - [`enrolments`]: agents that joined with a fleet token, approved and revoked by hand.
//! - [`cluster`]: the replicas serving the store, and the leases they hold.
//! - [`claims`]: closed periods with their frozen reports, and the claims they open.
//! - [`checks`]: central checks with their latest result per region.
//! - [`contracts`]: standing, period views, incidents and claim reports.
//! - [`results`]: raw results, paged.
//! - [`rollups`]: per-minute counts, kept longer than raw results.
//! - [`vendors`]: vendors and their scorecards.

pub mod agents;
pub mod alerts;
pub mod channels;
pub mod checks;
pub mod claims;
pub mod cluster;
pub mod contracts;
pub mod enrolments;
pub mod results;
pub mod rollups;
pub mod vendors;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::views::ViewError;

/// An API failure: the status and what went wrong.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    /// No such route.
    pub fn not_found() -> Self {
        Self(StatusCode::NOT_FOUND, "no such endpoint; the API lives under /api/v1".to_owned())
    }

    /// A request parameter is unusable.
    pub fn bad_request(message: String) -> Self {
        Self(StatusCode::BAD_REQUEST, message)
    }
}

/// A query string deserialised into `T`; an unusable one (a repeated or malformed parameter) is a 400 in the
/// API's JSON error shape, like every other bad parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|error| ApiError::bad_request(format!("query string: {error}")))
    }
}

/// `value` of query parameter `name` when it is an id or region label (`[a-z0-9._-]{1,64}`), else a 400.
pub fn label(name: &str, value: String) -> Result<String, ApiError> {
    if slaprobe_checks::is_valid_label(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!("{name}={value:?}: not an id like [a-z0-9._-]{{1,64}}")))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<ViewError> for ApiError {
    fn from(error: ViewError) -> Self {
        match error {
            ViewError::NoContract(_) | ViewError::NoPeriod { .. } => Self(StatusCode::NOT_FOUND, error.to_string()),
            ViewError::BadPeriod { .. } | ViewError::NoContracts | ViewError::NoCurrentPeriod(_) => {
                Self(StatusCode::BAD_REQUEST, error.to_string())
            }
            ViewError::Store(store) => Self::store_failed(&store),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::store_failed(&error)
    }
}

impl ApiError {
    /// 503 for a store failure: the detail (file paths, hosts, users) goes to the log, not to the caller.
    fn store_failed(error: &dyn std::fmt::Display) -> Self {
        tracing::warn!(%error, "The store failed during an API request.");
        let message = "the store did not answer; try again shortly (the collector's log says why)".to_owned();
        Self(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}
