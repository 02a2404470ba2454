//! Agents that joined with a fleet token (`enrolments:`): `GET /api/v1/enrolments` lists them with where each
//! stands; `POST /api/v1/enrolments/{agent_id}/approve` admits one at its next attempt (within 30 s), and
//! `POST /api/v1/enrolments/{agent_id}/revoke` refuses it from now on and ends its live session (at once here,
//! within 10 s on the other replicas), leaving every other agent of the same fleet token as it was.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use jiff::Timestamp;

use super::ApiError;
use crate::http::HttpState;
use crate::http::auth::Caller;
use crate::store::enrolments::{EnrolledAgent, EnrolmentState};

/// `GET /api/v1/enrolments`.
pub async fn list(State(state): State<HttpState>) -> Result<Json<serde_json::Value>, ApiError> {
    let enrolled = state.store.enrolled_agents().await?;
    Ok(Json(serde_json::json!({ "as_of": Timestamp::now(), "enrolled_agents": enrolled })))
}

/// `POST /api/v1/enrolments/{agent_id}/approve`.
pub async fn approve(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path(agent_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let agent = decide(&state, &caller, &agent_id, EnrolmentState::Approved).await?;
    Ok(Json(serde_json::json!({ "enrolled_agent": agent })))
}

/// `POST /api/v1/enrolments/{agent_id}/revoke`.
pub async fn revoke(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path(agent_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let agent = decide(&state, &caller, &agent_id, EnrolmentState::Revoked).await?;
    Ok(Json(serde_json::json!({ "enrolled_agent": agent })))
}

/// Puts enrolled agent `agent_id` in `decided` for `caller` (the API and the dashboard's buttons); the agent
/// afterwards. Deciding what already stands changes nothing and says so (409).
pub async fn decide(
    state: &HttpState,
    caller: &Caller,
    agent_id: &str,
    decided: EnrolmentState,
) -> Result<EnrolledAgent, ApiError> {
    let not_found = || ApiError(StatusCode::NOT_FOUND, format!("no enrolled agent {agent_id:?}"));
    if !slaprobe_checks::is_valid_label(agent_id) {
        return Err(not_found());
    }
    let mut agent = state.store.enrolled_agent(agent_id).await?.ok_or_else(not_found)?;
    if agent.state == decided {
        let message = format!("enrolled agent {agent_id:?} is already {}", decided.label());
        return Err(ApiError(StatusCode::CONFLICT, message));
    }
    agent.state = decided;
    agent.decided_at = Some(Timestamp::now());
    agent.decided_by = Some(caller.name.clone().unwrap_or_else(|| "anonymous".to_owned()));
    if !state.store.put_enrolled_agent(&agent).await? {
        return Err(not_found());
    }
    tracing::info!(%agent_id, state = decided.label(), by = ?caller.name, "An enrolled agent was decided on.");
    if decided == EnrolmentState::Revoked && state.live.revoke(agent_id) {
        tracing::info!(%agent_id, "Ended the session of a revoked agent.");
    }
    Ok(agent)
}
