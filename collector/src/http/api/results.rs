//! `GET /api/v1/results?check=ID[&region=R][&from=T][&to=T][&limit=N][&after=CURSOR]`: raw results of one check,
//! in `(started_at, agent_id, seq)` order, a page at a time. `from` defaults to 24 hours before `to`, `to` to
//! now; `limit` to 100 (at most 1000). A page that may have more ends with `next`, the cursor of the page after
//! it; the last page has `next: null`. Each result is the JSON lines record of `docs/results.md` plus
//! `flags` (`clock_suspect`, `unknown_check`, `late`) and `received_at` (when it arrived; `null` for results
//! imported or stored by earlier collectors).

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use slaprobe_proto::ResultRecord;

use super::{ApiError, ApiQuery, label};
use crate::http::HttpState;
use crate::store::{ResultPosition, ResultQuery};

/// Results per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page.
pub const MAX_LIMIT: u32 = 1000;

/// What `GET /api/v1/results` takes.
#[derive(Debug, Deserialize)]
pub struct ResultsQuery {
    check: Option<String>,
    region: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// A result with the flags the collector set on it.
#[derive(Debug, Serialize)]
pub struct FlaggedResult {
    /// The record as the agent sent it.
    #[serde(flatten)]
    pub record: ResultRecord,
    /// Flags set by the collector.
    pub flags: Vec<&'static str>,
    /// When the collector received it.
    pub received_at: Option<Timestamp>,
}

/// A page.
#[derive(Debug, Serialize)]
pub struct ResultsPage {
    /// The results.
    pub results: Vec<FlaggedResult>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next: Option<String>,
}

/// `text` as the RFC 3339 timestamp of parameter `name`, or a 400 naming it.
pub fn timestamp(name: &str, text: &str) -> Result<Timestamp, ApiError> {
    text.parse().map_err(|error| ApiError::bad_request(format!("{name}={text:?}: not an RFC 3339 timestamp ({error})")))
}

/// The store query `query` asks for, as of `now`.
fn parse(query: ResultsQuery, now: Timestamp) -> Result<ResultQuery, ApiError> {
    let check_id = query.check.ok_or_else(|| ApiError::bad_request("give the check: ?check=ID".to_owned()))?;
    let check_id = label("check", check_id)?;
    let region = query.region.map(|region| label("region", region)).transpose()?;
    let to = query.to.map(|text| timestamp("to", &text)).transpose()?.unwrap_or(now);
    let from =
        query.from.map(|text| timestamp("from", &text)).transpose()?.unwrap_or(to - SignedDuration::from_hours(24));
    // A `from` after `to` selects nothing, like any other empty span.
    let from = from.min(to);
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u32>() {
            Ok(limit @ 1..=MAX_LIMIT) => limit,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit={text:?}: give a whole number from 1 to {MAX_LIMIT}"
                )));
            }
        },
    };
    let after = query
        .after
        .map(|text| {
            text.parse::<ResultPosition>().map_err(|problem| ApiError::bad_request(format!("after: {problem}")))
        })
        .transpose()?;
    Ok(ResultQuery { check_id, region, from, to, after, limit })
}

/// `GET /api/v1/results`.
pub async fn results(
    State(state): State<HttpState>,
    ApiQuery(query): ApiQuery<ResultsQuery>,
) -> Result<Json<ResultsPage>, ApiError> {
    let query = parse(query, Timestamp::now())?;
    let limit = query.limit as usize;
    let page = state.store.results_page(query).await?;
    let next = (page.len() == limit).then(|| page.last().map(|stored| stored.position.to_string())).flatten();
    let results = page
        .into_iter()
        .map(|stored| FlaggedResult {
            record: stored.record,
            flags: stored.flags.names(),
            received_at: stored.received_at,
        })
        .collect();
    Ok(Json(ResultsPage { results, next }))
}
