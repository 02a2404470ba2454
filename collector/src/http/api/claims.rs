//! Closed periods and claims. `GET /api/v1/periods?contract=` lists each closed period's latest revision;
//! `GET /api/v1/periods/{contract}/{period}` every revision with what changed and why;
//! `GET /api/v1/periods/{contract}/{period}/{revision}/{file}` one frozen artifact (`report.json`, `.html`,
//! `.csv`, `.md`) with its SHA-256 in `Repr-Digest`. `GET /api/v1/claims?state=` lists the claims with totals
//! per currency; `GET /api/v1/claims/{contract}/{period}` one claim with its history; `POST` to it (admin) moves
//! it along: `{"action":"submit","on":"2026-12-02","reference":"CASE-1"}`, `accept`, `reject` (with `reason`),
//! `pay` (with `amount`). An action the claim's state does not allow, or made while someone else changed the
//! claim, is a 409; an unusable field a 400 naming it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use jiff::Timestamp;
use serde::Deserialize;

use super::{ApiError, ApiQuery, label};
use crate::claims::{ActionRefused, Claim, ClaimAction, ClaimEvent, ClaimState, apply, totals};
use crate::closing::ARTIFACTS;
use crate::http::HttpState;
use crate::http::auth::Caller;
use crate::store::periods::latest_revisions;
use crate::store::{ClaimWrite, ClosedPeriod};
use crate::views::is_period_label;

/// What `GET /api/v1/periods` takes.
#[derive(Debug, Deserialize)]
pub struct PeriodsQuery {
    contract: Option<String>,
}

/// `GET /api/v1/periods`.
pub async fn periods(
    State(state): State<HttpState>,
    ApiQuery(query): ApiQuery<PeriodsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let contract = query.contract.map(|contract| label("contract", contract)).transpose()?;
    let periods = latest_revisions(state.store.closed_periods(contract.as_deref()).await?);
    Ok(Json(serde_json::json!({ "periods": periods })))
}

/// A contract id and a period label from a path, checked.
pub fn period_key(contract: String, period: String) -> Result<(String, String), ApiError> {
    let contract = label("contract", contract)?;
    if !is_period_label(&period) {
        return Err(ApiError::bad_request(format!("period {period:?}: not a period like 2026-02 or 2026-Q1")));
    }
    Ok((contract, period))
}

/// Every revision of one closed period, oldest first; 404 when it has not closed.
pub async fn revisions_of(state: &HttpState, contract: &str, period: &str) -> Result<Vec<ClosedPeriod>, ApiError> {
    let revisions: Vec<ClosedPeriod> = state
        .store
        .closed_periods(Some(contract))
        .await?
        .into_iter()
        .filter(|revision| revision.period == period)
        .collect();
    if revisions.is_empty() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("contract {contract:?} has no closed period {period}")));
    }
    Ok(revisions)
}

/// `GET /api/v1/periods/{contract}/{period}`.
pub async fn period(
    State(state): State<HttpState>,
    Path((contract, period)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (contract, period) = period_key(contract, period)?;
    let revisions = revisions_of(&state, &contract, &period).await?;
    Ok(Json(serde_json::json!({ "revisions": revisions })))
}

/// `GET /api/v1/periods/{contract}/{period}/{revision}/{file}`.
pub async fn artifact(
    State(state): State<HttpState>,
    Path((contract, period, revision, file)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let (contract, period) = period_key(contract, period)?;
    let revision: u32 = revision
        .parse()
        .map_err(|_| ApiError::bad_request(format!("revision {revision:?}: give a whole number such as 1")))?;
    let Some((name, format)) = ARTIFACTS.iter().find(|(name, _)| *name == file) else {
        let names: Vec<&str> = ARTIFACTS.iter().map(|(name, _)| *name).collect();
        return Err(ApiError(StatusCode::NOT_FOUND, format!("{file:?} is not one of {}", names.join(", "))));
    };
    let content = state.store.artifact(&contract, &period, revision, name).await?.ok_or_else(|| {
        ApiError(StatusCode::NOT_FOUND, format!("contract {contract:?} has no revision {revision} of period {period}"))
    })?;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&content);
    let repr_digest = format!("sha-256=:{}:", base64::engine::general_purpose::STANDARD.encode(digest));
    let disposition = format!("attachment; filename=\"{contract}-{period}-r{revision}-{name}\"");
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(format.content_type())),
        (header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(|_| ApiError::not_found())?),
        (
            header::HeaderName::from_static("repr-digest"),
            HeaderValue::from_str(&repr_digest).map_err(|_| ApiError::not_found())?,
        ),
    ];
    Ok((headers, content).into_response())
}

/// What `GET /api/v1/claims` takes.
#[derive(Debug, Deserialize)]
pub struct ClaimsQuery {
    state: Option<String>,
}

/// `GET /api/v1/claims`.
pub async fn claims(
    State(state): State<HttpState>,
    ApiQuery(query): ApiQuery<ClaimsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let wanted = match query.state.as_deref() {
        None | Some("all") => None,
        Some(text) => Some(ClaimState::parse(text).ok_or_else(|| {
            let states: Vec<&str> = ClaimState::ALL.iter().map(|state| state.as_str()).collect();
            ApiError::bad_request(format!("state: {text:?} is not one of {}, all", states.join(", ")))
        })?),
    };
    let now = Timestamp::now();
    let all = state.store.claims().await?;
    let sums = totals(&all, now);
    let listed: Vec<serde_json::Value> = all
        .iter()
        .filter(|claim| wanted.is_none_or(|state| claim.state == state))
        .map(|claim| shown(claim, now))
        .collect();
    Ok(Json(serde_json::json!({ "claims": listed, "totals": sums })))
}

/// A claim as the API shows it: its fields and whether it is overdue.
fn shown(claim: &Claim, now: Timestamp) -> serde_json::Value {
    let mut value = serde_json::to_value(claim).unwrap_or_default();
    value["overdue"] = serde_json::Value::Bool(claim.overdue(now));
    value
}

/// The claim of one period, its changes and the period's revisions; 404 when there is none.
pub async fn claim_of(
    state: &HttpState,
    contract: &str,
    period: &str,
) -> Result<(Claim, Vec<ClaimEvent>, Vec<ClosedPeriod>), ApiError> {
    let claim = find(state, contract, period).await?;
    let events = state.store.claim_events(contract, period).await?;
    let revisions = revisions_of(state, contract, period).await?;
    Ok((claim, events, revisions))
}

async fn find(state: &HttpState, contract: &str, period: &str) -> Result<Claim, ApiError> {
    state
        .store
        .claims()
        .await?
        .into_iter()
        .find(|claim| claim.contract == contract && claim.period == period)
        .ok_or_else(|| {
            ApiError(StatusCode::NOT_FOUND, format!("contract {contract:?} has no claim for period {period}"))
        })
}

/// `GET /api/v1/claims/{contract}/{period}`.
pub async fn claim(
    State(state): State<HttpState>,
    Path((contract, period)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (contract, period) = period_key(contract, period)?;
    let (claim, events, revisions) = claim_of(&state, &contract, &period).await?;
    Ok(Json(serde_json::json!({ "claim": shown(&claim, Timestamp::now()), "events": events, "revisions": revisions })))
}

/// `POST /api/v1/claims/{contract}/{period}`.
pub async fn change(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path((contract, period)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (contract, period) = period_key(contract, period)?;
    let action: ClaimAction = serde_json::from_slice(&body).map_err(|error| {
        ApiError::bad_request(format!(
            "body: {error}; give {{\"action\": \"submit\" | \"accept\" | \"reject\" | \"pay\", \
             \"on\": \"YYYY-MM-DD\", …}}"
        ))
    })?;
    let (claim, event) = act(&state, &caller, &contract, &period, &action).await?;
    Ok(Json(serde_json::json!({ "claim": shown(&claim, Timestamp::now()), "event": event })))
}

/// Applies `action` to the claim of `contract`'s `period` for `caller` (the API and the dashboard's forms).
pub async fn act(
    state: &HttpState,
    caller: &Caller,
    contract: &str,
    period: &str,
    action: &ClaimAction,
) -> Result<(Claim, ClaimEvent), ApiError> {
    let claim = find(state, contract, period).await?;
    let actor = caller.name.clone().unwrap_or_else(|| "anonymous".to_owned());
    let (changed, event) = apply(&claim, action, &actor, Timestamp::now()).map_err(|refused| match refused {
        ActionRefused::State { .. } => ApiError(StatusCode::CONFLICT, refused.to_string()),
        ActionRefused::Field { .. } => ApiError::bad_request(refused.to_string()),
    })?;
    if !state.store.write_claim(ClaimWrite { claim: changed.clone(), event: event.clone() }).await? {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("the claim of {contract} {period} was changed meanwhile; look at it again and retry"),
        ));
    }
    tracing::info!(contract, period, action = action.name(), by = %actor, state = changed.state.as_str(),
        "A claim was changed by hand.");
    Ok((changed, event))
}
