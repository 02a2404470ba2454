//! The alerts page (`/alerts`): firing alerts first, with who was told and buttons to acknowledge (escalation
//! stops) or resolve them, then the latest resolved ones. The buttons post plain forms to
//! `/alerts/{id}/acknowledge` and `/alerts/{id}/resolve` (admin, like the API), which come back here. A post
//! from another site's page is refused before it gets here ([`crate::http::guard`]).

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use maud::{Markup, html};

use super::{Nav, PageError, ago, as_of_note, banners, layout, moment};
use crate::config::Role;
use crate::http::HttpState;
use crate::http::api::ApiError;
use crate::http::api::alerts::act;
use crate::http::auth::Caller;
use crate::store::{AlertAction, AlertRecord, AlertState};

/// Resolved alerts shown below the firing ones.
const RESOLVED_SHOWN: u32 = 50;

/// `GET /alerts`.
pub async fn page(State(state): State<HttpState>, caller: Option<Extension<Caller>>) -> Result<Response, PageError> {
    let now = Timestamp::now();
    let firing = state.store.alerts(Some(AlertState::Firing), 1000).await.map_err(ApiError::from)?;
    let resolved = state.store.alerts(Some(AlertState::Resolved), RESOLVED_SHOWN).await.map_err(ApiError::from)?;
    let caller = caller.map(|caller| caller.0);
    let may_act = caller.as_ref().is_none_or(|caller| caller.role == Role::Admin);
    let body = html! {
        h1 { "Alerts" }
        div.summary {
            span data-field="firing" { (firing.len()) " firing" }
            span data-field="unacknowledged" {
                (firing.iter().filter(|alert| alert.acknowledged_at.is_none()).count()) " not acknowledged"
            }
        }
        @if firing.is_empty() {
            p { "Nothing is firing." }
        } @else {
            (table(&firing, now, may_act))
        }
        h2 { "Resolved" }
        @if resolved.is_empty() { p.muted { "No alert has been resolved yet." } } @else { (table(&resolved, now, false)) }
        (as_of_note(now, true))
    };
    Ok(layout("Alerts", Nav::Alerts, caller.as_ref(), banners(&state), true, body))
}

fn table(alerts: &[AlertRecord], now: Timestamp, may_act: bool) -> Markup {
    html! {
        div.scroll { table {
            thead { tr {
                th { "Alert" } th { "Contract" } th { "Started" } th { "Regions" } th { "Levels told" } th { "State" }
                @if may_act { th { "" } }
            } }
            tbody {
                @for alert in alerts {
                    tr.failing[alert.state == AlertState::Firing] data-alert=(alert.id) {
                        td { strong { (alert.kind) } br; span.muted { (alert.summary) } }
                        td { a href={ "/contracts/" (alert.contract) } { (alert.contract) } }
                        td.time { (moment(alert.started_at)) br; span.muted { (ago(now, alert.started_at)) } }
                        td { (alert.regions.join(", ")) }
                        td.num data-field="levels" { (alert.levels_notified) }
                        td data-field="state" { (state_note(alert)) }
                        @if may_act {
                            td { div.actions {
                                @if alert.acknowledged_at.is_none() {
                                    form method="post" action={ "/alerts/" (alert.id) "/acknowledge" } {
                                        button type="submit" { "Acknowledge" }
                                    }
                                }
                                form method="post" action={ "/alerts/" (alert.id) "/resolve" } {
                                    button type="submit" { "Resolve" }
                                }
                            } }
                        }
                    }
                }
            }
        } }
    }
}

fn state_note(alert: &AlertRecord) -> Markup {
    html! {
        @match (alert.state, &alert.acknowledged_by, &alert.resolved_by) {
            (AlertState::Firing, Some(by), _) => { span.badge.partial { "acknowledged" } " by " (by) }
            (AlertState::Firing, None, _) => { span.badge.down { "firing" } }
            (AlertState::Resolved, _, Some(by)) if by == "condition" => { span.badge.up { "resolved" } " (cleared)" }
            (AlertState::Resolved, _, by) => { span.badge.up { "resolved" } " by " (by.as_deref().unwrap_or("?")) }
        }
    }
}

/// `POST /alerts/{id}/acknowledge`.
pub async fn acknowledge(state: State<HttpState>, caller: Extension<Caller>, id: Path<String>) -> Response {
    act_from_form(state, caller, id, AlertAction::Acknowledge).await
}

/// `POST /alerts/{id}/resolve`.
pub async fn resolve(state: State<HttpState>, caller: Extension<Caller>, id: Path<String>) -> Response {
    act_from_form(state, caller, id, AlertAction::Resolve).await
}

async fn act_from_form(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    action: AlertAction,
) -> Response {
    match act(&state, &caller, &id, action).await {
        Ok(_) => Redirect::to("/alerts").into_response(),
        Err(error) => PageError::from(error).into_response(),
    }
}
