//! The checks page (`/checks`): for the on-call engineer, what is failing right now and from where: each
//! check's state, and per region its latest result, the error, and the timing phases.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use jiff::Timestamp;
use maud::{Markup, html};
use slaprobe_proto::ResultRecord;

use super::charts::phase_bar;
use super::{Nav, PageError, ago, as_of_note, banners, layout};
use crate::http::HttpState;
use crate::http::api::checks::{CheckState, CheckView, check_views};
use crate::http::auth::Caller;

fn state_label(state: CheckState) -> (&'static str, &'static str) {
    match state {
        CheckState::Up => ("up", "up"),
        CheckState::Down => ("down", "down"),
        CheckState::Partial => ("partial", "partial"),
        CheckState::NoData => ("no data", "none"),
    }
}

/// `GET /checks`.
pub async fn page(State(state): State<HttpState>, caller: Option<Extension<Caller>>) -> Result<Response, PageError> {
    let now = Timestamp::now();
    let views = check_views(&state, now).await?;
    let failing = views.iter().filter(|view| matches!(view.state, CheckState::Down | CheckState::Partial)).count();
    let body = html! {
        h1 { "Checks" }
        @if views.is_empty() {
            p { "No central checks are configured; agents run the checks of their own agent.yaml." }
        } @else {
            p.summary { span data-field="failing" { (failing) " of " (views.len()) " checks failing somewhere" } }
            div.scroll { table {
                thead { tr {
                    th { "State" } th { "Check" } th { "Region" } th { "Latest" } th { "Result" }
                    th.num { "Took" } th { "Phases (ms)" }
                } }
                tbody { @for view in &views { (check_rows(view, now)) } }
            } }
        }
        (as_of_note(now, true))
    };
    Ok(layout("Checks", Nav::Checks, caller.as_ref().map(|caller| &caller.0), banners(&state), true, body))
}

fn check_rows(view: &CheckView, now: Timestamp) -> Markup {
    let (label, class) = state_label(view.state);
    let span = view.latest.len().max(1);
    // One row per region; a check without recent results still gets one.
    let rows: Vec<Option<&ResultRecord>> =
        if view.latest.is_empty() { vec![None] } else { view.latest.iter().map(Some).collect() };
    html! {
        @for (index, latest) in rows.into_iter().enumerate() {
            tr.failing[latest.is_some_and(|result| !result.ok)] data-check=(view.id)
                data-region=[latest.map(|result| result.region.as_str())] {
                @if index == 0 {
                    td rowspan=(span) { span.badge.(class) data-field="state" { (label) } }
                    td rowspan=(span) {
                        strong { (view.id) } " " span.muted { (format!("{:?}", view.kind).to_lowercase()) }
                        br; code { (view.target) }
                        br; span.muted { "every " (view.interval_seconds) " s" }
                    }
                }
                @if let Some(result) = latest { (result_cells(result, now)) } @else {
                    td colspan="5" { span.muted { "No result in the last ten intervals." } }
                }
            }
        }
    }
}

fn result_cells(result: &ResultRecord, now: Timestamp) -> Markup {
    let phases = &result.phases_ms;
    let named = [("dns", phases.dns), ("connect", phases.connect), ("tls", phases.tls), ("ttfb", phases.ttfb)]
        .into_iter()
        .chain([("transfer", phases.transfer)])
        .filter_map(|(name, ms)| Some(format!("{name} {:.1}", ms?)))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        td { (result.region) }
        td { (ago(now, result.started_at)) }
        td {
            @if result.ok { span.badge.up data-field="ok" { "ok" } } @else {
                span.badge.down data-field="ok" { (result.error_kind.as_deref().unwrap_or("failed")) }
                @if let Some(error) = &result.error { br; code data-field="error" { (error) } }
            }
        }
        td.num data-field="duration" { @if let Some(ms) = result.duration_ms { (format!("{ms:.1}")) " ms" } }
        td { (phase_bar(phases)) span.note { (named) } }
    }
}
