//! The claims pages. `/claims`: per currency what is owed (and of that overdue), in flight and recovered this
//! year, then every claim with where it stands. `/claims/{contract}/{period}`: one claim, the forms that move it
//! along (admin; they post to the same path and come back here), its history, and the period's frozen reports,
//! revision by revision, with what changed and each file's SHA-256.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Nav, PageError, as_of_note, banners, layout, moment};
use crate::claims::{Claim, ClaimAction, ClaimEvent, ClaimState, CurrencyTotals, totals};
use crate::config::Role;
use crate::http::HttpState;
use crate::http::api::ApiError;
use crate::http::api::claims::{act, claim_of, period_key};
use crate::http::auth::Caller;
use crate::store::ClosedPeriod;
use slaprobe_sla::display;

/// `GET /claims`.
pub async fn page(State(state): State<HttpState>, caller: Option<Extension<Caller>>) -> Result<Response, PageError> {
    let now = Timestamp::now();
    let claims = state.store.claims().await.map_err(ApiError::from)?;
    let sums = totals(&claims, now);
    let body = html! {
        h1 { "Claims" }
        p.muted {
            "Each closed period that leaves a credit owed is a claim. Record here when it was submitted to the vendor, "
            "what the vendor decided and what was paid."
        }
        @if sums.is_empty() {
            p { "No closed period has left a credit owed yet." }
        } @else {
            (totals_table(&sums))
            h2 { "Every claim" }
            (claims_table(&claims, now))
        }
        (as_of_note(now, false))
    };
    let caller = caller.map(|caller| caller.0);
    Ok(layout("Claims", Nav::Claims, caller.as_ref(), banners(&state), false, body))
}

fn totals_table(sums: &[CurrencyTotals]) -> Markup {
    html! {
        div.scroll { table data-table="totals" {
            thead { tr {
                th { "Currency" } th.num { "Owed" } th.num { "Of that, overdue" } th.num { "In flight" }
                th.num { "Recovered this year" }
            } }
            tbody {
                @for sums in sums {
                    tr data-currency=(sums.currency) {
                        td { (sums.currency) }
                        td.num data-field="owed" { (format!("{:.2}", sums.owed)) }
                        td.num data-field="overdue" {
                            (format!("{:.2}", sums.overdue))
                            @if sums.overdue_claims > 0 { " " span.badge.down { (sums.overdue_claims) " overdue" } }
                        }
                        td.num data-field="in-flight" { (format!("{:.2}", sums.in_flight)) }
                        td.num data-field="recovered" { (format!("{:.2}", sums.recovered_this_year)) }
                    }
                }
            }
        } }
    }
}

fn claims_table(claims: &[Claim], now: Timestamp) -> Markup {
    html! {
        div.scroll { table data-table="claims" {
            thead { tr {
                th { "Contract" } th { "Period" } th { "State" } th.num { "Owed" } th { "Claim by" } th { "Reference" }
                th.num { "Paid" }
            } }
            tbody {
                @for claim in claims {
                    tr.failing[claim.overdue(now)] data-claim={ (claim.contract) "/" (claim.period) } {
                        td { a href={ "/claims/" (claim.contract) "/" (claim.period) } { (claim.contract) }
                            br; span.muted { (claim.vendor) } }
                        td { (claim.period) }
                        td data-field="state" { (state_badge(claim, now)) }
                        td.num { (display::money(claim.owed, &claim.currency)) }
                        td.time { (claim.deadline.map(moment).unwrap_or_else(|| "no deadline".to_owned())) }
                        td { (claim.reference.as_deref().unwrap_or("")) }
                        td.num { @if let Some(paid) = claim.paid_amount { (display::money(paid, &claim.currency)) } }
                    }
                }
            }
        } }
    }
}

fn state_badge(claim: &Claim, now: Timestamp) -> Markup {
    let class = match claim.state {
        ClaimState::Paid | ClaimState::Accepted => "badge up",
        ClaimState::Rejected => "badge down",
        _ if claim.overdue(now) => "badge down",
        _ => "badge partial",
    };
    html! {
        span class=(class) { (claim.state.as_str()) }
        @if claim.overdue(now) { " " span.muted { "past its deadline" } }
    }
}

/// `GET /claims/{contract}/{period}`.
pub async fn claim_page(
    State(state): State<HttpState>,
    caller: Option<Extension<Caller>>,
    Path((contract, period)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let now = Timestamp::now();
    let (contract, period) = period_key(contract, period)?;
    let (claim, events, revisions) = claim_of(&state, &contract, &period).await?;
    let caller = caller.map(|caller| caller.0);
    let may_act = caller.as_ref().is_none_or(|caller| caller.role == Role::Admin);
    let today = jiff::tz::TimeZone::UTC.to_datetime(now).date();
    let body = html! {
        h1 { "Claim: " (claim.contract) " " (claim.period) }
        div.summary {
            span { "Vendor " strong { (claim.vendor) } }
            span data-field="state" { (state_badge(&claim, now)) }
            span data-field="owed" { "Owed " strong { (display::money(claim.owed, &claim.currency)) } }
            span { "Claim by " (claim.deadline.map(moment).unwrap_or_else(|| "(no claim window)".to_owned())) }
            @if let Some(reference) = &claim.reference { span data-field="reference" { "Reference " (reference) } }
            @if let Some(reason) = &claim.rejection_reason { span { "Rejected: " (reason) } }
            @if let (Some(paid), Some(on)) = (claim.paid_amount, claim.paid_on) {
                span data-field="paid" { "Paid " (display::money(paid, &claim.currency)) " on " (on) }
            }
        }
        @if may_act { (forms(&claim, today)) }
        h2 { "History" }
        (history(&events))
        h2 { "Reports of the closed period" }
        (revisions_table(&revisions))
        (as_of_note(now, false))
    };
    Ok(layout("Claim", Nav::Claims, caller.as_ref(), banners(&state), false, body))
}

/// The forms for the actions `claim`'s state allows.
fn forms(claim: &Claim, today: jiff::civil::Date) -> Markup {
    let action = format!("/claims/{}/{}", claim.contract, claim.period);
    let date = |label: &str| {
        html! { label { (label) " " input type="date" name="on" value=(today) required; } }
    };
    html! {
        div.actions data-field="actions" {
            @if matches!(claim.state, ClaimState::Owed | ClaimState::Rejected) {
                form method="post" action=(action) data-action="submit" {
                    input type="hidden" name="action" value="submit";
                    (date("Submitted on"))
                    label { " Reference " input type="text" name="reference" maxlength="500" required; }
                    button type="submit" { "Record submission" }
                }
            }
            @if claim.state == ClaimState::Submitted {
                form method="post" action=(action) data-action="accept" {
                    input type="hidden" name="action" value="accept";
                    (date("Accepted on"))
                    button type="submit" { "Record acceptance" }
                }
                form method="post" action=(action) data-action="reject" {
                    input type="hidden" name="action" value="reject";
                    (date("Rejected on"))
                    label { " Reason " input type="text" name="reason" maxlength="500" required; }
                    button type="submit" { "Record rejection" }
                }
            }
            @if claim.state.in_flight() {
                form method="post" action=(action) data-action="pay" {
                    input type="hidden" name="action" value="pay";
                    (date("Received on"))
                    label {
                        " Amount "
                        input type="text" name="amount" value=(claim.owed) inputmode="decimal" required;
                    }
                    button type="submit" { "Record payment" }
                }
            }
        }
    }
}

fn history(events: &[ClaimEvent]) -> Markup {
    html! {
        div.scroll { table data-table="history" {
            thead { tr { th { "When" } th { "Who" } th { "Change" } th { "State" } th { "What" } } }
            tbody {
                @for event in events {
                    tr {
                        td.time { (moment(event.at)) }
                        td { (event.actor) }
                        td { (event.action) }
                        td { @if let Some(from) = event.from { (from.as_str()) " → " } (event.to.as_str()) }
                        td { (event.detail) }
                    }
                }
            }
        } }
    }
}

fn revisions_table(revisions: &[ClosedPeriod]) -> Markup {
    html! {
        div.scroll { table data-table="revisions" {
            thead { tr {
                th { "Revision" } th { "Made" } th { "Why" } th.num { "Credit" } th { "Files (SHA-256)" }
            } }
            tbody {
                @for revision in revisions.iter().rev() {
                    tr data-revision=(revision.revision) {
                        td.num { (revision.revision) }
                        td.time { (moment(revision.closed_at)) }
                        td {
                            (revision.reason)
                            @if !revision.changes.is_empty() {
                                ul { @for change in &revision.changes { li { (change) } } }
                            }
                        }
                        td.num { (display::money(revision.credit_amount, &revision.currency)) }
                        td { ul {
                            @for artifact in &revision.artifacts {
                                li {
                                    a href={ "/api/v1/periods/" (revision.contract) "/" (revision.period) "/"
                                        (revision.revision) "/" (artifact.name) } { (artifact.name) }
                                    " " code.muted { (artifact.sha256) }
                                }
                            }
                        } }
                    }
                }
            }
        } }
    }
}

/// What the forms post.
#[derive(Debug, Deserialize)]
struct ActionForm {
    action: String,
    on: String,
    reference: Option<String>,
    reason: Option<String>,
    amount: Option<String>,
}

impl ActionForm {
    fn action(self) -> Result<ClaimAction, ApiError> {
        let on = self
            .on
            .parse()
            .map_err(|_| ApiError::bad_request(format!("on: {:?} is not a date like 2026-12-02", self.on)))?;
        let missing = |field: &str| ApiError::bad_request(format!("{field}: must not be empty"));
        Ok(match self.action.as_str() {
            "submit" => ClaimAction::Submit { on, reference: self.reference.ok_or_else(|| missing("reference"))? },
            "accept" => ClaimAction::Accept { on },
            "reject" => ClaimAction::Reject { on, reason: self.reason.ok_or_else(|| missing("reason"))? },
            "pay" => {
                let amount = self.amount.ok_or_else(|| missing("amount"))?;
                let amount = amount.trim().parse().map_err(|_| {
                    ApiError::bad_request(format!("amount: {amount:?} is not an amount such as 120.50"))
                })?;
                ClaimAction::Pay { on, amount }
            }
            other => {
                return Err(ApiError::bad_request(format!("action: {other:?} is not submit, accept, reject or pay")));
            }
        })
    }
}

/// `POST /claims/{contract}/{period}`.
pub async fn act_from_form(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path((contract, period)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let outcome = async {
        let (contract, period) = period_key(contract, period)?;
        let form: ActionForm =
            serde_urlencoded::from_bytes(&body).map_err(|error| ApiError::bad_request(format!("form: {error}")))?;
        act(&state, &caller, &contract, &period, &form.action()?).await?;
        Ok::<_, ApiError>(format!("/claims/{contract}/{period}"))
    };
    match outcome.await {
        Ok(back) => Redirect::to(&back).into_response(),
        Err(error) => PageError::from(error).into_response(),
    }
}
