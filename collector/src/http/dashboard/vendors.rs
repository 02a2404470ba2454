//! The vendor pages. `/vendors`: each vendor with its contracts. `/vendors/{slug}`: its scorecard, printable
//! like the claim report: per contract the last twelve closed periods side by side (uptime against the
//! objective, down time, incidents, credit owed and recovered, the claim's state), the worst incidents, and the
//! regions that saw most of the down time.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};

use super::{Nav, PageError, as_of_note, banners, layout, moment};
use crate::http::HttpState;
use crate::http::api::vendors::scorecard_of;
use crate::http::auth::Caller;
use crate::views::scorecard::{ContractCard, Scorecard, vendors};
use slaprobe_sla::display;

/// `GET /vendors`.
pub async fn page(State(state): State<HttpState>, caller: Option<Extension<Caller>>) -> Response {
    let config = state.config.borrow().clone();
    let body = html! {
        h1 { "Vendors" }
        @let listed = vendors(&config);
        @if listed.is_empty() { p { "No contract is configured." } }
        ul data-list="vendors" {
            @for vendor in &listed {
                li {
                    a href={ "/vendors/" (vendor.slug) } { (vendor.vendor) }
                    " " span.muted { (vendor.contracts.join(", ")) }
                }
            }
        }
    };
    let caller = caller.map(|caller| caller.0);
    layout("Vendors", Nav::Vendors, caller.as_ref(), banners(&state), false, body)
}

/// `GET /vendors/{slug}`.
pub async fn scorecard_page(
    State(state): State<HttpState>,
    caller: Option<Extension<Caller>>,
    Path(wanted): Path<String>,
) -> Result<Response, PageError> {
    let card = scorecard_of(&state, &wanted).await?;
    let body = html! {
        h1 { "Scorecard: " (card.vendor) }
        p.muted {
            "The last " (crate::views::scorecard::PERIODS_SHOWN) " closed periods of each contract, as their claim "
            "reports were frozen (latest revision)."
        }
        @if card.contracts.iter().all(|contract| contract.periods.is_empty()) {
            p { "No period of this vendor's contracts has closed yet." }
        }
        @for contract in &card.contracts { (contract_table(contract)) }
        (totals(&card))
        (worst(&card))
        (regions(&card))
        (as_of_note(card.generated_at, false))
    };
    let caller = caller.map(|caller| caller.0);
    Ok(layout("Scorecard", Nav::Vendors, caller.as_ref(), banners(&state), false, body))
}

fn contract_table(contract: &ContractCard) -> Markup {
    html! {
        h2 { (contract.contract) " " span.muted { (contract.service) ", objective " (contract.objective) " %" } }
        @if contract.periods.is_empty() {
            p.muted { "No closed period yet." }
        } @else {
            div.scroll { table data-contract=(contract.contract) {
                thead { tr {
                    th { "Period" } th.num { "Uptime" } th { "Objective" } th.num { "Down" } th.num { "Incidents" }
                    th.num { "Credit owed" } th.num { "Recovered" } th { "Claim" }
                } }
                tbody {
                    @for period in &contract.periods {
                        tr.failing[period.met == Some(false)] data-period=(period.period) {
                            td {
                                a href={ "/contracts/" (contract.contract) "?period=" (period.period) } {
                                    (period.period)
                                }
                            }
                            td.num data-field="uptime" { (display::percent(period.uptime_percent, 3)) }
                            td { @match period.met {
                                Some(true) => span.badge.up { "met" },
                                Some(false) => span.badge.down { "missed" },
                                None => span.muted { "no data" },
                            } }
                            td.num { (display::duration(period.down_seconds)) }
                            td.num { (period.incidents) }
                            td.num data-field="owed" { (display::money(period.credit_owed, &period.currency)) }
                            td.num data-field="recovered" {
                                @if let Some(paid) = period.credit_recovered { (display::money(paid, &period.currency)) }
                            }
                            td { @if let Some(state) = period.claim_state {
                                a href={ "/claims/" (contract.contract) "/" (period.period) } { (state.as_str()) }
                            } }
                        }
                    }
                }
            } }
        }
    }
}

fn totals(card: &Scorecard) -> Markup {
    html! {
        @if !card.totals.is_empty() {
            h2 { "Credit" }
            div.summary {
                @for sums in &card.totals {
                    span data-currency=(sums.currency) { "Owed " strong { (display::money(sums.owed, &sums.currency)) }
                        ", recovered " strong { (display::money(sums.recovered, &sums.currency)) } }
                }
            }
        }
    }
}

fn worst(card: &Scorecard) -> Markup {
    html! {
        @if !card.worst_incidents.is_empty() {
            h2 { "Worst incidents" }
            div.scroll { table data-table="worst" {
                thead { tr {
                    th { "Contract" } th { "Period" } th { "Start" } th.num { "Length" }
                    th { "Regions" } th { "Checks" }
                } }
                tbody {
                    @for incident in &card.worst_incidents {
                        tr {
                            td { (incident.contract) } td { (incident.period) }
                            td.time { (incident.start.parse().map(moment).unwrap_or_else(|_| incident.start.clone())) }
                            td.num { (display::duration(incident.duration_seconds as f64)) }
                            td { (incident.regions.join(", ")) } td { (incident.checks.join(", ")) }
                        }
                    }
                }
            } }
        }
    }
}

fn regions(card: &Scorecard) -> Markup {
    html! {
        @if !card.regions.is_empty() {
            h2 { "Where the down time was seen" }
            div.scroll { table data-table="regions" {
                thead { tr { th { "Region" } th.num { "Incident time voting down" } th.num { "Incidents" } } }
                tbody {
                    @for region in &card.regions {
                        tr {
                            td { (region.region) }
                            td.num { (display::duration(region.down_seconds as f64)) }
                            td.num { (region.incidents) }
                        }
                    }
                }
            } }
        }
    }
}
