//! The overview (`/`): for an executive, one card per contract with this period's uptime against the objective,
//! the error budget left, the credit owed if the period ended now, and the forecast (the standing and the best
//! uptime the period can still end with).

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use jiff::Timestamp;
use maud::{Markup, html};
use rust_decimal::Decimal;

use super::{Nav, PageError, as_of_note, banners, layout};
use crate::http::HttpState;
use crate::http::api::ApiError;
use crate::http::api::contracts::contract_statuses;
use crate::http::auth::Caller;
use crate::store::AlertState;
use slaprobe_sla::display::{duration, money, percent};
use slaprobe_sla::status::{ContractStatus, Standing};

/// The words for a standing.
pub fn standing_label(standing: Standing) -> &'static str {
    match standing {
        Standing::Ok => "on track",
        Standing::AtRisk => "at risk",
        Standing::Breached => "breached",
    }
}

/// The CSS class for a standing.
pub fn standing_class(standing: Standing) -> &'static str {
    match standing {
        Standing::Ok => "ok",
        Standing::AtRisk => "at_risk",
        Standing::Breached => "breached",
    }
}

/// What the standing means for the rest of the period.
pub fn forecast(status: &ContractStatus) -> String {
    match status.standing {
        Standing::Ok if status.so_far.uptime_percent.is_none() => "No eligible data yet this period.".to_owned(),
        Standing::Ok => "Meets the objective so far.".to_owned(),
        Standing::AtRisk => format!(
            "Below the objective so far; with no more downtime the period ends at {}.",
            percent(status.best_case_uptime_percent, 3)
        ),
        Standing::Breached => "Breached: the objective can no longer be met this period.".to_owned(),
    }
}

/// `GET /`.
pub async fn page(State(state): State<HttpState>, caller: Option<Extension<Caller>>) -> Result<Response, PageError> {
    let as_of = Timestamp::now();
    let statuses = contract_statuses(&state, as_of).await?;
    let firing = state.store.alerts(Some(AlertState::Firing), 1000).await.map_err(ApiError::from)?;
    let meeting = statuses.iter().filter(|status| status.so_far.met != Some(false)).count();
    let mut owed: BTreeMap<&str, Decimal> = BTreeMap::new();
    for status in &statuses {
        *owed.entry(status.so_far.currency.as_str()).or_default() += status.so_far.credit_amount;
    }
    let body = html! {
        h1 { "Contracts this period" }
        @if !firing.is_empty() {
            p.warning data-field="alerts-firing" {
                a href="/alerts" { (firing.len()) " alert(s) firing" } ": "
                (firing.iter().map(|alert| format!("{} {}", alert.contract, alert.kind)).collect::<Vec<_>>().join(", "))
            }
        }
        @if statuses.is_empty() {
            p { "No contracts are configured. Add them under " code { "contracts" } " in collector.yaml." }
        } @else {
            div.summary {
                span data-field="meeting" { (meeting) " of " (statuses.len()) " meet their objective so far" }
                @for (currency, amount) in &owed {
                    span { "Owed so far: " strong data-field={ "owed-" (currency) } { (money(*amount, currency)) } }
                }
            }
            div.cards { @for status in &statuses { (card(status)) } }
        }
        (as_of_note(as_of, true))
    };
    Ok(layout("Contracts", Nav::Overview, caller.as_ref().map(|caller| &caller.0), banners(&state), true, body))
}

fn card(status: &ContractStatus) -> Markup {
    let report = &status.so_far;
    let certain = money(status.credit_certain_amount, &report.currency);
    let ends = status.period_end.strftime("%Y-%m-%d %H:%M UTC");
    html! {
        div.card data-contract=(report.contract) {
            h2 {
                a href={ "/contracts/" (report.contract) } { (report.vendor) " — " (report.service) }
                " "
                span.badge.(standing_class(status.standing)) data-field="standing" { (standing_label(status.standing)) }
            }
            div.figures {
                (figure("Uptime so far", "uptime", percent(report.uptime_percent, 3)))
                (figure("Objective", "objective", format!("{} %", report.objective)))
                (figure("Error budget left (monitored time)", "budget-left", duration(status.budget_left_seconds)))
                (figure("Credit owed so far", "credit", money(report.credit_amount, &report.currency)))
                (figure("Best case at period end", "best-case", percent(status.best_case_uptime_percent, 3)))
                (figure("Credit already certain", "credit-certain", certain))
            }
            p.note { (forecast(status)) }
            p.note {
                "Period " (report.period) " (" (report.timezone) "), ends " (ends) "."
            }
            @if report.coverage.low {
                p.warning data-field="coverage" { (slaprobe_sla::display::coverage(report)) }
            }
            @if let Some(silent) = report.silent_agents.as_ref().filter(|silent| !silent.is_empty()) {
                p.warning { "Silent this period: " (silent.join(", ")) }
            }
        }
    }
}

/// One labelled figure; `field` names it for tests and scripts (`data-field`).
pub fn figure(label: &str, field: &str, value: String) -> Markup {
    html! {
        div.figure {
            span.label { (label) }
            span.value data-field=(field) { (value) }
        }
    }
}
