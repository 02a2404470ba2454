//! How figures read for people (dashboard and claim document); the exact values stay in JSON and CSV.
//!
//! Percentages are cut, not rounded, to the digits shown: 99.89996 % shows as 99.899 %, never as a 99.900 % that
//! seems to meet a 99.9 % objective it misses. Durations read like `1 h 40 min 5 s`; money has two decimals. A
//! report's standing (complete or in progress, coverage, monitored span) reads the same in every format.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::contract::NoData;
use crate::{PeriodStatus, Report};

/// `value` cut to `digits` decimals with a percent sign, or `no data`.
pub fn percent(value: Option<f64>, digits: usize) -> String {
    let Some(value) = value else { return "no data".to_owned() };
    let scale = 10f64.powi(i32::try_from(digits).unwrap_or(6));
    // The nudge keeps values that are exact decimals (99.768 computed as 99.76799999…) at their digits.
    let cut = ((value * scale) + 1e-6).floor() / scale;
    format!("{cut:.digits$} %")
}

/// `amount` with two decimals and the currency.
pub fn money(amount: Decimal, currency: &str) -> String {
    format!("{:.2} {currency}", amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
}

/// Whole seconds as `1 h 40 min 5 s` (`2 d 3 h` from a day on, `0 s` for none); negative as `-1 h 40 min`.
pub fn duration(seconds: f64) -> String {
    let whole = seconds.round();
    let total = whole.abs() as u64;
    let mut parts = Vec::new();
    let units = [(total / 86_400, "d"), (total / 3600 % 24, "h"), (total / 60 % 60, "min"), (total % 60, "s")];
    for (amount, unit) in units {
        if amount > 0 {
            parts.push(format!("{amount} {unit}"));
        }
    }
    if parts.is_empty() {
        return "0 s".to_owned();
    }
    let text = parts.join(" ");
    if whole < 0.0 { format!("-{text}") } else { text }
}

/// Where a report's period stands: `complete`, `complete, 3 late results after close`, or `in progress until
/// 2026-05-01 00:00 UTC`.
pub fn period_status(report: &Report) -> String {
    match (report.period_status, &report.late) {
        (PeriodStatus::InProgress, _) => {
            format!("in progress until {}", report.period_end.strftime("%Y-%m-%d %H:%M UTC"))
        }
        (PeriodStatus::Complete, Some(late)) => format!("complete, {} late results after close", late.results),
        (PeriodStatus::Complete, None) => "complete".to_owned(),
    }
}

/// The coverage line of a report's headline: `98.2 % of the measurable time measured`, with a warning when it
/// is below the contract's `min_coverage`.
pub fn coverage(report: &Report) -> String {
    let coverage = &report.coverage;
    let Some(measured) = coverage.percent else { return "nothing measurable yet".to_owned() };
    let text = format!("{} of the measurable time measured", percent(Some(measured), 1));
    if coverage.low {
        format!(
            "Warning: only {text}, below the contract's {} %; these figures may not hold",
            coverage.warn_below_percent
        )
    } else {
        text
    }
}

/// The time span monitoring covered in the period, `2026-04-15 00:00 to 2026-04-30 23:59 UTC`, or `no results`.
pub fn monitored_span(report: &Report) -> String {
    match (report.monitored_from, report.monitored_until) {
        (Some(from), Some(until)) => {
            format!("{} to {}", from.strftime("%Y-%m-%d %H:%M"), until.strftime("%Y-%m-%d %H:%M UTC"))
        }
        _ => "no results in the period".to_owned(),
    }
}

/// Each region's share of the measurable time, `eu-west 99.9 %, us-east 98.0 %`, or `none`.
pub fn region_coverage(report: &Report) -> String {
    let regions: Vec<String> = report
        .coverage
        .regions
        .iter()
        .map(|region| format!("{} {}", region.region, percent(region.percent, 1)))
        .collect();
    if regions.is_empty() { "none".to_owned() } else { regions.join(", ") }
}

/// The time each region's results were set aside as inconclusive (its agents' own control probes failed, rule
/// 10), as `eu-west 12 min, us-east 3 min`; `None` when no region's were.
pub fn inconclusive_time(report: &Report) -> Option<String> {
    let regions: Vec<String> = (report.coverage.regions.iter())
        .filter(|region| region.inconclusive_slices > 0)
        .map(|region| {
            let seconds = region.inconclusive_slices as f64 * report.slice_seconds as f64;
            format!("{} {}", region.region, duration(seconds))
        })
        .collect();
    (!regions.is_empty()).then(|| regions.join(", "))
}

/// How the regions were measuring during `incident`, in one line: `eu-west, us-east measuring normally
/// throughout; ap-south: agent-ap-1: controls failing (2 of 3) at 12:03:00Z`; `not known` when the report
/// carries nothing of it.
pub fn measurement(incident: &crate::report::Incident) -> String {
    use crate::report::MeasurementState;
    let of = |state: MeasurementState| {
        (incident.measurement.iter()).filter(move |region| region.state == state).map(|region| region.region.as_str())
    };
    let mut parts = Vec::new();
    let normal: Vec<&str> = of(MeasurementState::Normal).collect();
    if !normal.is_empty() {
        parts.push(format!("{} measuring normally throughout", normal.join(", ")));
    }
    for region in incident.measurement.iter().filter(|region| region.state == MeasurementState::Abnormal) {
        parts.push(format!("{}: {}", region.region, region.notes.join(", ")));
    }
    let unknown: Vec<&str> = of(MeasurementState::Unknown).collect();
    if !unknown.is_empty() {
        parts.push(format!("{}: not known (no report of the agents' own state)", unknown.join(", ")));
    }
    if parts.is_empty() { "not known".to_owned() } else { parts.join("; ") }
}

/// The sentence that says what inconclusive time is, after [`inconclusive_time`].
pub const INCONCLUSIVE_MEANING: &str = "the agent's own control probes failed there, or every vendor it probes \
     failed from it alone, so its results counted as no data from its region (our network, not the vendor's)";

/// One line on which time the error budget is for, by the contract's `no_data` rule.
pub fn budget_rule(no_data: NoData) -> &'static str {
    match no_data {
        NoData::Exclude => {
            "no_data: exclude: time without enough reports is left out, so the budget is a share of the monitored \
             time only"
        }
        NoData::Up => "no_data: up: time without enough reports counts as up and into the budget's base",
        NoData::Down => "no_data: down: time without enough reports counts as down and spends the budget",
    }
}

/// How a day with `uptime` reads against `objective` in the availability strips: `up` (met), `low` (missed,
/// at least 99 %), `bad` (below 99 %) or `none` (no eligible data). Colours are for reading only.
pub fn day_class(uptime: Option<f64>, objective: f64) -> &'static str {
    match uptime {
        None => "none",
        Some(uptime) if uptime >= objective => "up",
        Some(uptime) if uptime >= 99.0 => "low",
        Some(_) => "bad",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_cut_not_rounded() {
        assert_eq!(percent(Some(99.899_96), 3), "99.899 %");
        assert_eq!(percent(Some(99.768_518_5), 4), "99.7685 %");
        assert_eq!(percent(Some(99.768), 3), "99.768 %");
        assert_eq!(percent(Some(100.0), 3), "100.000 %");
        assert_eq!(percent(None, 3), "no data");
    }

    #[test]
    fn durations_and_money_read_plainly() {
        assert_eq!(duration(6_000.0), "1 h 40 min");
        assert_eq!(duration(-75.4), "-1 min 15 s");
        assert_eq!(duration(0.0), "0 s");
        assert_eq!(duration(1_296.0), "21 min 36 s");
        assert_eq!(duration(90_061.0), "1 d 1 h 1 min 1 s");
        assert_eq!(money(Decimal::new(20_000, 2), "USD"), "200.00 USD");
        assert_eq!(money(Decimal::new(12_345, 3), "EUR"), "12.35 EUR");
    }
}
