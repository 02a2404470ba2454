//! The agents page's enrolled agents: every agent that joined with a fleet token (`enrolments:`), pending ones
//! first, with the key and address it enrolled from, so that an admin can compare them with the host
//! (`slaprobe-agent --print-public-key`) before approving; admins get Approve and Revoke buttons, plain forms
//! that post to `/agents/{agent_id}/approve` or `/revoke` and come back to the page.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use maud::{Markup, html};

use super::{PageError, ago};
use crate::http::HttpState;
use crate::http::api::enrolments::decide;
use crate::http::auth::Caller;
use crate::store::enrolments::{EnrolledAgent, EnrolmentState};

/// The enrolled agents' section, pending first; with buttons when `may_act`.
pub fn section(mut agents: Vec<EnrolledAgent>, now: Timestamp, may_act: bool) -> Markup {
    agents.sort_by_key(|agent| agent.state != EnrolmentState::Pending);
    let pending = agents.iter().filter(|agent| agent.state == EnrolmentState::Pending).count();
    html! {
        h2 { "Enrolled agents" }
        @if agents.is_empty() {
            p.muted { "No agent has enrolled with a fleet token (enrolments: in collector.yaml)." }
        } @else {
            @if pending > 0 {
                p.warning data-field="pending" {
                    (pending) " agent(s) wait for approval: compare each key with the host's "
                    code { "slaprobe-agent --print-public-key" } " before approving."
                }
            }
            div.scroll { table {
                thead { tr {
                    th { "Agent" } th { "Enrolment" } th { "Region" } th { "State" } th { "Key" } th { "From" }
                    th { "First seen" } th { "Last seen" }
                    @if may_act { th { "" } }
                } }
                tbody {
                    @for agent in &agents {
                        tr.silent[agent.state == EnrolmentState::Revoked] data-enrolled=(agent.agent_id) {
                            td { strong { (agent.agent_id) } br; span.muted { (agent.version) } }
                            td { (agent.enrolment) }
                            td { (agent.region) }
                            td data-field="state" { (state_note(agent)) }
                            td { code data-field="key" { (agent.public_key) } }
                            td { (agent.remote.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())) }
                            td { (ago(now, agent.first_seen_at)) }
                            td { (ago(now, agent.last_seen_at)) }
                            @if may_act { td { div.actions { (buttons(agent)) } } }
                        }
                    }
                }
            } }
        }
    }
}

fn state_note(agent: &EnrolledAgent) -> Markup {
    let by = agent.decided_by.as_deref().unwrap_or("?");
    html! {
        @match agent.state {
            EnrolmentState::Pending => { span.badge.partial { "pending" } }
            EnrolmentState::Approved => { span.badge.up { "approved" } " by " (by) }
            EnrolmentState::Revoked => { span.badge.down { "revoked" } " by " (by) }
        }
    }
}

fn buttons(agent: &EnrolledAgent) -> Markup {
    html! {
        @if agent.state != EnrolmentState::Approved {
            form method="post" action={ "/agents/" (agent.agent_id) "/approve" } {
                button type="submit" { "Approve" }
            }
        }
        @if agent.state != EnrolmentState::Revoked {
            form method="post" action={ "/agents/" (agent.agent_id) "/revoke" } {
                button type="submit" { "Revoke" }
            }
        }
    }
}

/// `POST /agents/{agent_id}/approve`.
pub async fn approve(state: State<HttpState>, caller: Extension<Caller>, agent_id: Path<String>) -> Response {
    decide_from_form(state, caller, agent_id, EnrolmentState::Approved).await
}

/// `POST /agents/{agent_id}/revoke`.
pub async fn revoke(state: State<HttpState>, caller: Extension<Caller>, agent_id: Path<String>) -> Response {
    decide_from_form(state, caller, agent_id, EnrolmentState::Revoked).await
}

async fn decide_from_form(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path(agent_id): Path<String>,
    decided: EnrolmentState,
) -> Response {
    match decide(&state, &caller, &agent_id, decided).await {
        Ok(_) => Redirect::to("/agents").into_response(),
        Err(error) => PageError::from(error).into_response(),
    }
}
