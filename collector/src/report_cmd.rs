//! `slaprobe-collector report`: claim reports offline from a results file (`--contracts FILE --results FILE`), so
//! a third party can reproduce them, or from the collector's store (`--config collector.yaml`); and
//! `slaprobe-collector export`, the results behind one contract's report as JSON lines; and, for the API and
//! the dashboard, each contract's standing in its current period ([`store_status`]) and one period's view
//! ([`store_period_view`]). A report computed from an export equals the report computed from the store: the
//! export covers the same window (the period plus the slices runs across its boundaries are judged on).
//!
//! Formats: `json` (one object per contract per line, `docs/sla.md`), `csv` (one row per contract), `md`
//! (a summary table and the incidents) and `html` (the printable claim document, [`crate::report_html`]).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use jiff::Timestamp;
use slaprobe_proto::ResultRecord;

use crate::config::{CollectorConfig, read_list_file};
use crate::contract::{Contract, parse_contracts};
use crate::report_html::render_html;
use crate::report_markdown::render_markdown;
use crate::results_file::read_results;
use crate::sla::status::{ContractStatus, current_period, status};
use crate::sla::{Horizon, LateResults, Period, Report, evaluate, evaluation_window, parse_period};
use crate::store::Store;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per contract per line.
    Json,
    /// A header and one row per contract.
    Csv,
    /// Markdown tables.
    Md,
    /// A self-contained, printable claim document.
    Html,
}

/// Why a report could not be made; the binary maps these to exit statuses.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The contracts file or the arguments are unusable (exit 64).
    #[error("{0}")]
    Usage(String),
    /// The results file has malformed lines (exit 65).
    #[error("{0}")]
    Data(String),
    /// The store could not be read (exit 1).
    #[error("{0}")]
    Store(String),
    /// No contract has this id (exit 64; 404 in the API).
    #[error("--contract {0}: no such contract")]
    NoContract(String),
    /// The period is malformed (exit 64; 400 in the API).
    #[error("--period {problem} (contract {contract})")]
    BadPeriod {
        /// The contract.
        contract: String,
        /// What is wrong with the period.
        problem: String,
    },
    /// A well-formed period the contract does not have: a month of a quarterly contract or the other way
    /// round (exit 64; 404 in the API).
    #[error("--period {problem} (contract {contract})")]
    NoPeriod {
        /// The contract.
        contract: String,
        /// What is wrong with the period.
        problem: String,
    },
}

/// Reads and validates a contracts file (`contracts:` list at the top level).
pub fn load_contracts(path: &Path) -> Result<Vec<Contract>, ReportError> {
    let fail = |problems: Vec<String>| {
        ReportError::Usage(format!(
            "{}: {} problem(s):\n  - {}",
            path.display(),
            problems.len(),
            problems.join("\n  - ")
        ))
    };
    let value = read_list_file(path, "contracts").map_err(|problem| fail(vec![problem]))?;
    parse_contracts(value, "contracts").map_err(fail)
}

/// Reports computed from a results file.
#[derive(Debug)]
pub struct OfflineReports<'a> {
    /// Each report with its contract, in contract order.
    pub reports: Vec<(&'a Contract, Report)>,
    /// Malformed lines skipped (with `--skip-bad-lines`).
    pub skipped_lines: usize,
}

/// Computes the reports for `period` from a results file as known at `now`, each with its contract; `only`
/// limits them to one contract.
pub fn offline_reports<'a>(
    contracts: &'a [Contract],
    results_path: &Path,
    period: &str,
    only: Option<&str>,
    skip_bad_lines: bool,
    now: Timestamp,
) -> Result<OfflineReports<'a>, ReportError> {
    let selected = select(contracts, period, only)?;
    let file = std::fs::File::open(results_path)
        .map_err(|error| ReportError::Usage(format!("{}: cannot read: {error}", results_path.display())))?;
    let results = read_results(std::io::BufReader::new(file))
        .map_err(|error| ReportError::Data(format!("{}: {error}", results_path.display())))?;
    if !results.bad_lines.is_empty() && !skip_bad_lines {
        let shown: Vec<&String> = results.bad_lines.iter().take(20).collect();
        let more = results.bad_lines.len().saturating_sub(shown.len());
        let mut message = format!("{}: {} malformed line(s):", results_path.display(), results.bad_lines.len());
        for line in shown {
            let _ = write!(message, "\n  - {line}");
        }
        if more > 0 {
            let _ = write!(message, "\n  - … and {more} more");
        }
        message.push_str("\n(pass --skip-bad-lines to report from the valid lines only)");
        return Err(ReportError::Data(message));
    }
    let reports = selected
        .into_iter()
        .map(|(contract, period)| {
            let horizon = Horizon::from_results(contract, &results.records, now);
            (contract, evaluate(contract, &period, &results.records, &horizon))
        })
        .collect();
    Ok(OfflineReports { reports, skipped_lines: results.bad_lines.len() })
}

/// The contracts to report on (all, or `only`), each with its period parsed.
fn select<'a>(
    contracts: &'a [Contract],
    period: &str,
    only: Option<&str>,
) -> Result<Vec<(&'a Contract, Period)>, ReportError> {
    let selected: Vec<&Contract> =
        contracts.iter().filter(|contract| only.is_none_or(|id| contract.terms.id == id)).collect();
    if selected.is_empty() {
        return Err(match only {
            Some(id) => ReportError::NoContract(id.to_owned()),
            None => ReportError::Usage("no contract is configured".to_owned()),
        });
    }
    selected
        .into_iter()
        .map(|contract| {
            parse_period(period, contract.terms.period, &contract.tz).map(|period| (contract, period)).map_err(
                |problem| {
                    let contract = contract.terms.id.clone();
                    if is_period_label(period) {
                        ReportError::NoPeriod { contract, problem }
                    } else {
                        ReportError::BadPeriod { contract, problem }
                    }
                },
            )
        })
        .collect()
}

/// Whether `label` has the form of a period, `YYYY-MM` or `YYYY-Qn` (whichever kind the contract has).
fn is_period_label(label: &str) -> bool {
    let Some((year, rest)) = label.split_once('-') else { return false };
    let month_or_quarter = match rest.strip_prefix('Q') {
        Some(quarter) => matches!(quarter, "1" | "2" | "3" | "4"),
        None => {
            rest.len() == 2
                && rest.bytes().all(|byte| byte.is_ascii_digit())
                && rest.parse::<u8>().is_ok_and(|month| (1..=12).contains(&month))
        }
    };
    year.len() == 4 && year.bytes().all(|byte| byte.is_ascii_digit()) && month_or_quarter
}

/// Reports for `period` from the store as known at `now`, each with its contract; `only` limits them to one
/// contract. Unlike offline reports, these know which agents should have probed, and name the silent ones.
pub async fn store_reports<'a>(
    config: &'a CollectorConfig,
    store: &Store,
    period: &str,
    only: Option<&str>,
    now: Timestamp,
) -> Result<Vec<(&'a Contract, Report)>, ReportError> {
    let mut reports = Vec::new();
    for (contract, period) in select(&config.contracts, period, only)? {
        let results = window_results(contract, &period, store).await?;
        let horizon = store_horizon(contract, store, now).await?;
        reports.push((contract, closed_report(config, contract, &period, store, &results, &horizon).await?));
    }
    Ok(reports)
}

/// The horizon of a report made from the store at `now`: monitoring began with the contract's first stored
/// result.
async fn store_horizon(contract: &Contract, store: &Store, now: Timestamp) -> Result<Horizon, ReportError> {
    let monitored_from = store.first_result_at(&contract.terms.checks).await.map_err(store_error)?;
    Ok(Horizon { monitored_from, now })
}

fn store_error(error: crate::store::StoreError) -> ReportError {
    ReportError::Store(error.to_string())
}

/// Each contract's standing in its current period at `as_of`, from the store; `only` limits it to one contract.
pub async fn store_status<'a>(
    config: &'a CollectorConfig,
    store: &Store,
    as_of: Timestamp,
    only: Option<&str>,
) -> Result<Vec<(&'a Contract, ContractStatus)>, ReportError> {
    let selected: Vec<&Contract> =
        config.contracts.iter().filter(|contract| only.is_none_or(|id| contract.terms.id == id)).collect();
    if let (Some(id), true) = (only, selected.is_empty()) {
        return Err(ReportError::NoContract(id.to_owned()));
    }
    let mut statuses = Vec::new();
    for contract in selected {
        let period = current_period(contract, as_of).map_err(ReportError::Usage)?;
        let results = window_results(contract, &period, store).await?;
        let horizon = store_horizon(contract, store, as_of).await?;
        statuses.push((contract, standing_at(config, contract, &period, &horizon, &results)));
    }
    Ok(statuses)
}

/// One contract in one period with the results behind it: the current period part way (with its standing), or
/// a past period whole.
pub struct PeriodView<'a> {
    /// The contract.
    pub contract: &'a Contract,
    /// The period as far as it has elapsed: for the current period, up to the last whole slice before `as_of`.
    pub period: Period,
    /// The standing, for the current period only.
    pub status: Option<ContractStatus>,
    /// The period's report (so far, for the current period).
    pub report: Report,
    /// The results the report is computed from (its evaluation window).
    pub results: Vec<ResultRecord>,
    /// When monitoring began and the moment of the view.
    pub horizon: Horizon,
}

/// Contract `id` in `period` (its current period when `None`), from the store, as of `as_of`.
pub async fn store_period_view<'a>(
    config: &'a CollectorConfig,
    store: &Store,
    id: &str,
    period: Option<&str>,
    as_of: Timestamp,
) -> Result<PeriodView<'a>, ReportError> {
    let contract = config
        .contracts
        .iter()
        .find(|contract| contract.terms.id == id)
        .ok_or_else(|| ReportError::NoContract(id.to_owned()))?;
    let current = current_period(contract, as_of).map_err(ReportError::Usage)?;
    let period = match period {
        Some(label) if label != current.label => select(std::slice::from_ref(contract), label, None)?.remove(0).1,
        _ => current,
    };
    let results = window_results(contract, &period, store).await?;
    let horizon = store_horizon(contract, store, as_of).await?;
    if period.end <= as_of {
        let report = closed_report(config, contract, &period, store, &results, &horizon).await?;
        return Ok(PeriodView { contract, period, status: None, report, results, horizon });
    }
    let standing = standing_at(config, contract, &period, &horizon, &results);
    let report = standing.so_far.clone();
    let elapsed = (report.total_slices - report.future_slices) as i64 * report.slice_seconds;
    let end = period.start.checked_add(jiff::SignedDuration::from_secs(elapsed)).unwrap_or(period.end).min(period.end);
    Ok(PeriodView { contract, period: Period { end, ..period }, status: Some(standing), report, results, horizon })
}

/// `contract`'s standing in `period` (its current one) at `as_of`, naming the silent agents: those with nothing
/// at all so far, the slice in progress included.
fn standing_at(
    config: &CollectorConfig,
    contract: &Contract,
    period: &Period,
    horizon: &Horizon,
    results: &[ResultRecord],
) -> ContractStatus {
    let mut standing = status(contract, period, horizon, results);
    let until_now = Period { end: horizon.now.clamp(period.start, period.end), ..period.clone() };
    standing.so_far.silent_agents = Some(silent_agents(config, contract, &until_now, results));
    standing
}

/// Agents whose region runs one of `contract`'s checks (by the central check list) but that sent no result for
/// them during `period`.
fn silent_agents(
    config: &CollectorConfig,
    contract: &Contract,
    period: &Period,
    results: &[ResultRecord],
) -> Vec<String> {
    let reported: std::collections::BTreeSet<&str> = results
        .iter()
        .filter(|result| period.start <= result.started_at && result.started_at < period.end)
        .filter_map(|result| result.agent_id.as_deref())
        .collect();
    config
        .agents
        .iter()
        .filter(|agent| config.serves_region(contract, &agent.region) && !reported.contains(agent.agent_id.as_str()))
        .map(|agent| agent.agent_id.clone())
        .collect()
}

/// The results one contract's report for `period` is computed from, in time order. When monitoring of the
/// contract began before that window, the contract's first stored result comes first, so that a report made
/// from the export knows when monitoring began, as the store does, and says the same.
pub async fn export(
    contracts: &[Contract],
    store: &Store,
    contract: &str,
    period: &str,
) -> Result<Vec<ResultRecord>, ReportError> {
    let (contract, period) = select(contracts, period, Some(contract))?.remove(0);
    let mut results = window_results(contract, &period, store).await?;
    let (from, _) = evaluation_window(contract, &period);
    if let Some(first) = store.first_result_at(&contract.terms.checks).await.map_err(store_error)?
        && first < from
    {
        let just_after = first.checked_add(jiff::SignedDuration::from_nanos(1)).unwrap_or(first);
        let earliest = store.results_between(&contract.terms.checks, first, just_after).await.map_err(store_error)?;
        results.splice(0..0, earliest.into_iter().take(1));
    }
    Ok(results)
}

/// `contract`'s report for `period` from the store's `results`, naming the silent agents and, when results
/// arrived after the period closed, what the report would say without them.
async fn closed_report(
    config: &CollectorConfig,
    contract: &Contract,
    period: &Period,
    store: &Store,
    results: &[ResultRecord],
    horizon: &Horizon,
) -> Result<Report, ReportError> {
    let mut report = evaluate(contract, period, results, horizon);
    report.silent_agents = Some(silent_agents(config, contract, period, results));
    let (from, to) = evaluation_window(contract, period);
    let late: HashSet<(String, u64)> =
        store.late_between(&contract.terms.checks, from, to).await.map_err(store_error)?.into_iter().collect();
    if !late.is_empty() {
        let on_time: Vec<ResultRecord> = results
            .iter()
            .filter(|result| {
                let key = (result.agent_id.clone().unwrap_or_else(|| result.region.clone()), result.seq.unwrap_or(0));
                !late.contains(&key)
            })
            .cloned()
            .collect();
        let without = evaluate(contract, period, &on_time, horizon);
        report.late = Some(LateResults {
            results: late.len() as u64,
            down_slices_without: without.down_slices,
            uptime_percent_without: without.uptime_percent,
            credit_amount_without: without.credit_amount,
        });
    }
    Ok(report)
}

async fn window_results(contract: &Contract, period: &Period, store: &Store) -> Result<Vec<ResultRecord>, ReportError> {
    let (from, to) = evaluation_window(contract, period);
    store.results_between(&contract.terms.checks, from, to).await.map_err(store_error)
}

/// Renders `reports` in `format`.
pub fn render(pairs: &[(&Contract, Report)], format: Format) -> String {
    let pairs: Vec<(&Contract, &Report)> = pairs.iter().map(|(contract, report)| (*contract, report)).collect();
    match format {
        Format::Html => render_html(&pairs),
        Format::Json => {
            pairs.iter().map(|(_, report)| serde_json::to_string(report).unwrap_or_default() + "\n").collect()
        }
        Format::Csv => render_csv(&pairs),
        Format::Md => render_markdown(&pairs),
    }
}

/// CSV keeps exact values: uptime and coverage at full precision, instants in RFC 3339.
fn render_csv(pairs: &[(&Contract, &Report)]) -> String {
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

#[cfg(test)]
mod tests {
    #[test]
    fn period_labels_are_months_or_quarters() {
        for label in ["2026-02", "2026-12", "2026-Q1", "0000-01"] {
            assert!(super::is_period_label(label), "{label}");
        }
        for label in ["2026-13", "2026-00", "2026-2", "2026-Q5", "26-02", "2026_02", "", "2026-+1"] {
            assert!(!super::is_period_label(label), "{label}");
        }
    }
}
