//! A contract's page (`/contracts/{id}?period=`): for a manager, the period's figures, the daily availability strip,
//! the incidents (and what the vendor's status page declared), each region's own view, latency percentiles per day, and
//! the claim report of this or any earlier period in every format.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use jiff::Timestamp;
use maud::{Markup, html};

use super::charts::{day_strip, latency_chart};
use super::overview::{figure, forecast, standing_class, standing_label};
use super::{Nav, PageError, as_of_note, banners, layout, moment};
use crate::http::HttpState;
use crate::http::api::contracts::{ContractDetail, PeriodQuery, contract_detail};
use crate::http::auth::Caller;
use slaprobe_sla::display::{
    budget_rule, coverage as coverage_line, duration, money, monitored_span, percent, period_status, region_coverage,
};
use slaprobe_sla::render::observed::facts;
use slaprobe_sla::{Incident, Report};

/// How many earlier periods the page links to.
const EARLIER_PERIODS: usize = 6;

/// `GET /contracts/{id}`.
pub async fn page(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    Query(query): Query<PeriodQuery>,
    caller: Option<Extension<Caller>>,
) -> Result<Response, PageError> {
    let as_of = Timestamp::now();
    let detail = contract_detail(&state, &id, query.period.as_deref(), as_of).await?;
    let report = &detail.report;
    let title = format!("{} — {}", report.vendor, report.service);
    let body = html! {
        h1 data-contract=(report.contract) {
            (title) " "
            @if let Some(status) = &detail.status {
                span.badge.(standing_class(status.standing)) data-field="standing" { (standing_label(status.standing)) }
            } @else {
                @match report.met {
                    Some(true) => span.badge.ok data-field="met" { "met" },
                    Some(false) => span.badge.breached data-field="met" { "missed" },
                    None => span.badge data-field="met" { "no data" },
                }
            }
        }
        p.muted {
            "Contract " code { (report.contract) } ", period " strong data-field="period" { (report.period) }
            @if detail.current { " so far" }
            " (" (report.timezone) "), checks: " (detail.contract.checks.join(", ")) ". "
            span data-field="period-status" { (period_status(report)) } "."
        }
        @if report.preliminary {
            p.note data-field="preliminary" {
                "Preliminary: the period is not over, so every figure is so far and may change until it ends."
            }
        }
        @if report.coverage.low {
            p.warning data-field="coverage" { (coverage_line(report)) }
        } @else {
            p.note data-field="coverage" { "Coverage: " (coverage_line(report)) " · monitored " (monitored_span(report)) "." }
        }
        (figures(&detail))
        p.note data-field="budget-rule" { (budget_rule(detail.no_data)) "." }
        @if let Some(status) = &detail.status { p.note { (forecast(status)) } }
        (report_links(&detail))
        h2 { "Availability day by day" }
        div.scroll { (day_strip(report)) }
        (incidents(report))
        (super::vendor_word::section(report))
        (regions(&detail))
        h2 { "Latency" }
        div.scroll { (latency_chart(&detail.latency)) }
        (coverage(report))
        (as_of_note(as_of, detail.current))
    };
    Ok(layout(&title, Nav::Contract, caller.as_ref().map(|caller| &caller.0), banners(&state), detail.current, body))
}

fn figures(detail: &ContractDetail) -> Markup {
    let report = &detail.report;
    let downtime = report.down_slices as f64 * report.slice_seconds as f64;
    let credit = format!("{} ({} %)", money(report.credit_amount, &report.currency), report.credit_percent);
    let uptime_label = if detail.current { "Uptime so far" } else { "Uptime" };
    let budget_used = format!("{} of {}", duration(report.budget_used_seconds), duration(report.budget_seconds));
    let budget_period =
        format!("{} of {}", duration(report.budget_used_seconds), duration(report.budget_period_seconds));
    let certain = detail.status.as_ref().map(|status| money(status.credit_certain_amount, &report.currency));
    html! {
        div.figures {
            (figure(uptime_label, "uptime", percent(report.uptime_percent, 4)))
            (figure("Objective", "objective", format!("{} %", report.objective)))
            (figure("Downtime", "downtime", duration(downtime)))
            @if let Some(status) = &detail.status {
                (figure("Error budget left (monitored time)", "budget-left", duration(status.budget_left_seconds)))
                (figure("Budget used (whole period)", "budget-period", budget_period))
                (figure("Credit owed so far", "credit", credit))
                (figure("Best case at period end", "best-case", percent(status.best_case_uptime_percent, 4)))
                (figure("Credit already certain", "credit-certain", certain.clone().unwrap_or_default()))
            } @else {
                (figure("Error budget used (monitored time)", "budget-used", budget_used))
                (figure("Budget used (whole period)", "budget-period", budget_period))
                (figure("Credit owed", "credit", credit))
                @if let Some(deadline) = report.claim_deadline {
                    (figure("Claim by", "claim-deadline", moment(deadline)))
                }
            }
        }
    }
}

fn report_links(detail: &ContractDetail) -> Markup {
    let report = &detail.report;
    let base = format!("/api/v1/contracts/{}/report?period={}", report.contract, report.period);
    html! {
        h2 { "Claim report" }
        p.links {
            "Period " (report.period) ": "
            a href={ (base) "&format=html" } { "HTML (printable)" }
            a href={ (base) "&format=csv" } { "CSV" }
            a href={ (base) "&format=json" } { "JSON" }
            a href={ (base) "&format=md" } { "Markdown" }
        }
        p.links {
            @let earlier = earlier_periods(&report.period, EARLIER_PERIODS, detail.first_period.as_deref());
            @if earlier.is_empty() { "No earlier period has results. " } @else { "Earlier periods: " }
            @for label in earlier {
                a href={ "/contracts/" (report.contract) "?period=" (label) } { (label) }
            }
            @if !detail.current { a href={ "/contracts/" (report.contract) } { "current period" } }
        }
        form.inline method="get" action={ "/contracts/" (report.contract) } {
            label for="period" { "Any period:" }
            input #period name="period" placeholder="2026-02 or 2026-Q1" required
                pattern="[0-9]{4}-(0[1-9]|1[0-2]|Q[1-4])";
            button.primary type="submit" { "Show" }
        }
    }
}

/// At most `count` periods before `label` (`2026-02` or `2026-Q1`), latest first, none before `first` (the
/// first period with results; with none, no earlier period has any).
fn earlier_periods(label: &str, count: usize, first: Option<&str>) -> Vec<String> {
    let Some(first) = first else { return Vec::new() };
    let first = period_ordinal(first);
    all_earlier_periods(label, count)
        .into_iter()
        .filter(|earlier| first.is_some_and(|first| period_ordinal(earlier).is_some_and(|ordinal| ordinal >= first)))
        .collect()
}

/// `2026-02` → 2026 × 12 + 1, `2026-Q1` → 2026 × 4 + 0: periods of one kind in order.
fn period_ordinal(label: &str) -> Option<i32> {
    let (year, rest) = label.split_once('-')?;
    let year = year.parse::<i32>().ok()?;
    match rest.strip_prefix('Q') {
        Some(quarter) => Some(year * 4 + quarter.parse::<i32>().ok()? - 1),
        None => Some(year * 12 + rest.parse::<i32>().ok()? - 1),
    }
}

/// The `count` periods before `label`, latest first.
fn all_earlier_periods(label: &str, count: usize) -> Vec<String> {
    let Some((year, rest)) = label.split_once('-') else { return Vec::new() };
    let Ok(year) = year.parse::<i32>() else { return Vec::new() };
    let (per_year, index, quarterly) = match rest.strip_prefix('Q') {
        Some(quarter) => (4, quarter.parse::<i32>().unwrap_or(1), true),
        None => (12, rest.parse::<i32>().unwrap_or(1), false),
    };
    let ordinal = year * per_year + index - 1;
    (1..=count as i32)
        .map(|back| {
            let earlier = ordinal - back;
            let (year, index) = (earlier.div_euclid(per_year), earlier.rem_euclid(per_year) + 1);
            if quarterly { format!("{year:04}-Q{index}") } else { format!("{year:04}-{index:02}") }
        })
        .collect()
}

/// An incident's detail: what each region that voted down observed first.
fn observed(incident: &Incident) -> Markup {
    html! {
        details data-field="observed" {
            summary { "What we observed (" (incident.observed.len()) " region" @if incident.observed.len() != 1 { "s" } ")" }
            @for record in &incident.observed {
                dl.observed {
                    @for fact in facts(record) {
                        dt { (fact.label) }
                        dd { @if fact.block { pre { (fact.text) } } @else { (fact.text) } }
                    }
                }
            }
        }
    }
}

fn incidents(report: &Report) -> Markup {
    html! {
        h2 { "Incidents (" span data-field="incidents" { (report.incidents.len()) } ")" }
        @if report.incidents.is_empty() {
            p.muted { "None in this period." }
        } @else {
            div.scroll { table {
                thead { tr {
                    th { "Start" } th { "End" } th.num { "Duration" } th { "Regions" } th { "Checks" }
                    th { "Sample errors" } th { "Our measurement" }
                } }
                tbody {
                    @for incident in &report.incidents {
                        tr {
                            td.time { (moment(incident.start)) }
                            td.time { (moment(incident.end)) }
                            td.num { (duration(incident.duration_seconds as f64)) }
                            td { (incident.regions.join(", ")) }
                            td { (incident.checks.join(", ")) }
                            td { code { (incident.sample_errors.join("; ")) } }
                            td data-field="measurement" { (slaprobe_sla::display::measurement(incident)) }
                        }
                        @if !incident.observed.is_empty() {
                            tr.observed { td colspan="7" { (observed(incident)) } }
                        }
                    }
                }
            } }
        }
    }
}

fn latency_cell(value: Option<f64>) -> Markup {
    html! { td.num { @if let Some(ms) = value { (format!("{ms:.1}")) " ms" } @else { "–" } } }
}

fn regions(detail: &ContractDetail) -> Markup {
    html! {
        h2 { "By region" }
        p.note { "Each region's own view: the contract judged from that region's results alone." }
        @if detail.regions.is_empty() {
            p.muted { "No region has reported for these checks in this period." }
        } @else {
            div.scroll { table {
                thead { tr {
                    th { "Region" } th.num { "Uptime" } th.num { "Down" } th.num { "Results" } th.num { "Failed" }
                    th.num { "p50" } th.num { "p95" } th.num { "p99" }
                } }
                tbody {
                    @for region in &detail.regions {
                        tr data-region=(region.region) {
                            td { (region.region) }
                            td.num data-field="uptime" { (percent(region.uptime_percent, 3)) }
                            td.num { (duration(region.down_slices as f64 * detail.report.slice_seconds as f64)) }
                            td.num data-field="results" { (region.results) }
                            td.num data-field="failed" { (region.failed) }
                            (latency_cell(region.latency.map(|latency| latency.p50_ms)))
                            (latency_cell(region.latency.map(|latency| latency.p95_ms)))
                            (latency_cell(region.latency.map(|latency| latency.p99_ms)))
                        }
                    }
                }
            } }
        }
    }
}

fn coverage(report: &Report) -> Markup {
    html! {
        h2 { "Data coverage" }
        p {
            (report.total_slices) " slices of " (report.slice_seconds) " s: " (report.eligible_slices) " eligible, "
            (report.excluded_slices) " in maintenance, " (report.unknown_slices) " unknown, "
            span data-field="not-monitored" { (report.not_monitored_slices) } " not monitored (before the first result), "
            span data-field="future" { (report.future_slices) } " still to come. "
            (report.results_used) " results used, " (report.results_ignored) " ignored."
        }
        p {
            "Measured: " (report.coverage.reported_slices) " of " (report.coverage.measurable_slices)
            " measurable slices (" (percent(report.coverage.percent, 2)) "). By region: "
            (region_coverage(report)) ". Monitored " (monitored_span(report)) "."
        }
        @if let Some(silent) = report.silent_agents.as_ref().filter(|silent| !silent.is_empty()) {
            p.warning { "Agents expected to probe these checks that sent nothing: " (silent.join(", ")) }
        }
        @if let Some(late) = &report.late {
            p.warning {
                (late.results) " results arrived after the period closed. Without them: "
                (late.down_slices_without) " down slices, uptime "
                (slaprobe_sla::display::percent(late.uptime_percent_without, 3)) ", credit "
                (slaprobe_sla::display::money(late.credit_amount_without, &report.currency)) "."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn earlier_periods_cross_year_boundaries() {
        assert_eq!(super::earlier_periods("2026-02", 3, Some("2020-01")), ["2026-01", "2025-12", "2025-11"]);
        assert_eq!(super::earlier_periods("2026-Q1", 2, Some("2025-Q1")), ["2025-Q4", "2025-Q3"]);
        assert!(super::earlier_periods("garbage", 2, Some("2020-01")).is_empty());
    }

    #[test]
    fn earlier_periods_start_at_the_first_period_with_results() {
        assert_eq!(super::earlier_periods("2026-02", 6, Some("2025-12")), ["2026-01", "2025-12"]);
        assert!(super::earlier_periods("2026-02", 6, Some("2026-02")).is_empty());
        assert!(super::earlier_periods("2026-02", 6, None).is_empty());
    }
}
