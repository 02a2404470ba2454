//! The claim report as Markdown, for tickets and e-mails: a summary table over the contracts, then per contract
//! its standing (complete or preliminary, generated at, coverage), the outcome, the coverage, the contract terms
//! applied and the incidents. Figures read as in the HTML document ([`crate::display`]): percentages cut, not
//! rounded; durations in h/min/s.

use std::fmt::Write as _;

use super::html::terms_rows;
use crate::Report;
use crate::contract::Contract;
use crate::display::{
    INCONCLUSIVE_MEANING, budget_rule, coverage, duration, inconclusive_time, measurement, money, monitored_span,
    percent, period_status, region_coverage,
};

/// Escapes text for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown report of each (contract, report) pair.
pub fn render_markdown(pairs: &[(&Contract, &Report)]) -> String {
    let mut out = String::from(
        "| contract | vendor | service | period | status | uptime | objective % | met | credit | coverage | claim by |\n\
         | --- | --- | --- | --- | --- | ---: | ---: | --- | ---: | ---: | --- |\n",
    );
    for (_, report) in pairs {
        let met = match (report.met, report.preliminary) {
            (Some(true), false) => "yes",
            (Some(false), false) => "**no**",
            (Some(true), true) => "so far",
            (Some(false), true) => "**not so far**",
            (None, _) => "no data",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {met} | {}{} | {}{} | {} |",
            cell(&report.contract),
            cell(&report.vendor),
            cell(&report.service),
            report.period,
            if report.preliminary { "**preliminary**" } else { "complete" },
            percent(report.uptime_percent, 3),
            report.objective,
            money(report.credit_amount, &report.currency),
            if report.preliminary { " so far" } else { "" },
            percent(report.coverage.percent, 1),
            if report.coverage.low { " **low**" } else { "" },
            report.claim_deadline.map_or_else(|| "—".to_owned(), |deadline| deadline.strftime("%Y-%m-%d").to_string()),
        );
    }
    for (contract, report) in pairs {
        render_one(&mut out, contract, report);
    }
    out
}

fn render_one(out: &mut String, contract: &Contract, report: &Report) {
    let _ = write!(
        out,
        "\n## {}{} — {} (`{}`), {}\n\n",
        if report.preliminary { "Preliminary: " } else { "" },
        report.vendor,
        report.service,
        report.contract,
        report.period,
    );
    let _ = writeln!(
        out,
        "Period {} to {} ({}): **{}**. Generated {}.\n",
        report.period_start,
        report.period_end,
        report.timezone,
        period_status(report),
        report.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
    );
    if report.preliminary {
        out.push_str(
            "> **Preliminary.** The period is not over: every figure is so far and may change until it ends. The \
             credit no remaining time can undo is shown as certain.\n\n",
        );
    }
    let _ = writeln!(out, "{}{}.\n", if report.coverage.low { "> **" } else { "Coverage: " }, coverage(report));
    let credit = if report.preliminary {
        format!(
            "{} so far ({} %); certain: {}",
            money(report.credit_amount, &report.currency),
            report.credit_percent,
            money(report.credit_certain_amount, &report.currency)
        )
    } else {
        format!("{} ({} % of the fee)", money(report.credit_amount, &report.currency), report.credit_percent)
    };
    let _ = write!(
        out,
        "| figure | value |\n| --- | --- |\n\
         | Uptime | {} (objective {} %) |\n\
         | Credit | {credit} |\n\
         | Downtime counted | {} |\n\
         | Error budget, monitored time | {} |\n\
         | Error budget, whole period | {} |\n\
         | Claim by | {} |\n\n{}.\n",
        percent(report.uptime_percent, 4),
        report.objective,
        duration(report.budget_used_seconds),
        duration(report.budget_seconds),
        duration(report.budget_period_seconds),
        report.claim_deadline.map_or_else(|| "—".to_owned(), |deadline| deadline.to_string()),
        budget_rule(contract.terms.no_data),
    );
    render_coverage(out, report);
    out.push_str("\n### Contract terms applied\n\n| term | value |\n| --- | --- |\n");
    for (name, value) in terms_rows(contract) {
        let _ = writeln!(out, "| {name} | {} |", cell(&value));
    }
    render_incidents(out, report);
    super::vendor::render_markdown(out, report, cell);
}

fn render_coverage(out: &mut String, report: &Report) {
    let _ = write!(
        out,
        "\n### Coverage\n\n| | slices |\n| --- | ---: |\n\
         | Measured (enough regions reported) / measurable (ended, outside maintenance) | {} / {} |\n\
         | In the period | {} |\n\
         | Not monitored (before the contract's first result) | {} |\n\
         | Still to come | {} |\n\
         | In maintenance (excluded) | {} |\n\
         | Unknown (too few regions reported) | {} |\n\
         | Eligible | {} |\n\n\
         Monitored: {}. Regions: {}. Results used / ignored: {} / {}.{}\n",
        report.coverage.reported_slices,
        report.coverage.measurable_slices,
        report.total_slices,
        report.not_monitored_slices,
        report.future_slices,
        report.excluded_slices,
        report.unknown_slices,
        report.eligible_slices,
        monitored_span(report),
        cell(&region_coverage(report)),
        report.results_used,
        report.results_ignored,
        match &report.silent_agents {
            Some(agents) if !agents.is_empty() => format!(" Agents that sent nothing: **{}**.", agents.join(", ")),
            _ => String::new(),
        },
    );
    if let Some(time) = inconclusive_time(report) {
        let _ = writeln!(out, "\nInconclusive: **{}** ({INCONCLUSIVE_MEANING}).", cell(&time));
    }
    if let Some(late) = &report.late {
        let _ = writeln!(
            out,
            "\n{} results arrived after the period closed; without them {} down slices, uptime {}, credit {}.",
            late.results,
            late.down_slices_without,
            percent(late.uptime_percent_without, 4),
            money(late.credit_amount_without, &report.currency),
        );
    }
}

fn render_incidents(out: &mut String, report: &Report) {
    if report.incidents.is_empty() {
        out.push_str("\nNo counted downtime in this period.\n");
        return;
    }
    let _ = write!(
        out,
        "\n### Incidents: {} ({})\n\n| start | end | duration | regions | checks | sample errors | our measurement |\n\
         | --- | --- | ---: | --- | --- | --- | --- |\n",
        report.contract, report.period
    );
    for incident in &report.incidents {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            incident.start,
            incident.end,
            duration(incident.duration_seconds as f64),
            cell(&incident.regions.join(", ")),
            cell(&incident.checks.join(", ")),
            cell(&incident.sample_errors.join("; ")),
            cell(&measurement(incident)),
        );
    }
}
