//! `GET /api/v1/rollups?check=ID[&region=R][&from=T][&to=T]`: one check's results per region and minute as counts
//! (`total`, `failed`), kept longer than the raw results (`retention.rollups`). `from` defaults to 24 hours
//! before `to`, `to` to now; at most 31 days at a time (a longer span is answered for its last 31 days, and the
//! answer's `from` and `to` say which span it covers; an inverted one selects nothing). Minutes are rolled up hourly, so the last hour may not be
//! there yet: raw results (`/api/v1/results`) have it.

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::results::timestamp;
use super::{ApiError, ApiQuery, label};
use crate::http::HttpState;
use crate::store::Rollup;

/// The longest span one request covers.
const MAX_SPAN: SignedDuration = SignedDuration::from_hours(31 * 24);

/// What `GET /api/v1/rollups` takes.
#[derive(Debug, Deserialize)]
pub struct RollupsQuery {
    check: Option<String>,
    region: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct RollupsView {
    /// The check.
    pub check: String,
    /// The start of the span answered.
    pub from: Timestamp,
    /// Its end.
    pub to: Timestamp,
    /// Per minute and region, oldest first.
    pub rollups: Vec<Rollup>,
}

/// `GET /api/v1/rollups`.
pub async fn rollups(
    State(state): State<HttpState>,
    ApiQuery(query): ApiQuery<RollupsQuery>,
) -> Result<Json<RollupsView>, ApiError> {
    let check = query.check.ok_or_else(|| ApiError::bad_request("give the check: ?check=ID".to_owned()))?;
    let check = label("check", check)?;
    let region = query.region.map(|region| label("region", region)).transpose()?;
    let to = query.to.map(|text| timestamp("to", &text)).transpose()?.unwrap_or_else(Timestamp::now);
    let from =
        query.from.map(|text| timestamp("from", &text)).transpose()?.unwrap_or(to - SignedDuration::from_hours(24));
    // An inverted span selects nothing; a longer one is answered for its last 31 days, and `from` says so.
    let from = from.min(to).max(to - MAX_SPAN);
    let rollups = state.store.rollups(&check, region.as_deref(), from, to).await?;
    Ok(Json(RollupsView { check, from, to, rollups }))
}
