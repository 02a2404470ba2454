//! Vendors: `GET /api/v1/vendors` (each vendor of the configured contracts, with its slug and contracts) and
//! `GET /api/v1/vendors/{slug}` (its scorecard: the last twelve closed periods per contract, the worst incidents,
//! the regions that saw most of the down time, credit owed and recovered; [`crate::views::scorecard`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;

use super::ApiError;
use crate::http::HttpState;
use crate::views::scorecard::{Scorecard, scorecard, slug, vendors};

/// `GET /api/v1/vendors`.
pub async fn list(State(state): State<HttpState>) -> Json<serde_json::Value> {
    let config = state.config.borrow().clone();
    Json(serde_json::json!({ "vendors": vendors(&config) }))
}

/// The scorecard of the vendor `wanted` names; 400 for what cannot be a slug, 404 for an unknown vendor.
pub async fn scorecard_of(state: &HttpState, wanted: &str) -> Result<Scorecard, ApiError> {
    if wanted.is_empty() || wanted.chars().count() > 128 || slug(wanted) != wanted {
        return Err(ApiError::bad_request(format!(
            "vendor {wanted:?}: not a vendor slug such as acme-cloud (GET /api/v1/vendors lists them)"
        )));
    }
    let config = state.config.borrow().clone();
    scorecard(&config, &state.store, wanted, Timestamp::now())
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no contract has the vendor {wanted:?}")))
}

/// `GET /api/v1/vendors/{slug}`.
pub async fn vendor(State(state): State<HttpState>, Path(wanted): Path<String>) -> Result<Json<Scorecard>, ApiError> {
    scorecard_of(&state, &wanted).await.map(Json)
}
