//! The report as CSV: a header and one row per contract, every figure exact (uptime and coverage at full
//! precision, instants in RFC 3339), for spreadsheets and scripts.

use crate::Report;
use crate::contract::Contract;

/// CSV keeps exact values: uptime and coverage at full precision, instants in RFC 3339.
pub fn render_csv(pairs: &[(&Contract, &Report)]) -> String {
    let mut out = String::from(
        "contract,vendor,service,period,timezone,period_status,generated_at,total_slices,excluded_slices,\
         unknown_slices,down_slices,not_monitored_slices,future_slices,eligible_slices,monitored_from,\
         monitored_until,coverage_percent,coverage_low,uptime_percent,objective,met,credit_percent,credit_amount,\
         credit_certain_amount,currency,claim_deadline,budget_seconds,budget_period_seconds,budget_used_seconds,\
         incidents,late_results\n",
    );
    let optional = |value: Option<String>| value.unwrap_or_default();
    for (_, report) in pairs {
        let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
        let fields = [
            quote(&report.contract),
            quote(&report.vendor),
            quote(&report.service),
            report.period.clone(),
            report.timezone.clone(),
            if report.preliminary { "in_progress" } else { "complete" }.to_owned(),
            report.generated_at.to_string(),
            report.total_slices.to_string(),
            report.excluded_slices.to_string(),
            report.unknown_slices.to_string(),
            report.down_slices.to_string(),
            report.not_monitored_slices.to_string(),
            report.future_slices.to_string(),
            report.eligible_slices.to_string(),
            optional(report.monitored_from.map(|at| at.to_string())),
            optional(report.monitored_until.map(|at| at.to_string())),
            optional(report.coverage.percent.map(|percent| percent.to_string())),
            report.coverage.low.to_string(),
            optional(report.uptime_percent.map(|uptime| uptime.to_string())),
            report.objective.to_string(),
            optional(report.met.map(|met| met.to_string())),
            report.credit_percent.to_string(),
            report.credit_amount.to_string(),
            report.credit_certain_amount.to_string(),
            report.currency.clone(),
            optional(report.claim_deadline.map(|deadline| deadline.to_string())),
            report.budget_seconds.to_string(),
            report.budget_period_seconds.to_string(),
            report.budget_used_seconds.to_string(),
            report.incidents.len().to_string(),
            report.late.as_ref().map_or(0, |late| late.results).to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}
