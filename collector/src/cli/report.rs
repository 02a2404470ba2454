//! `slaprobe-collector report --contracts FILE --results FILE`: claim reports offline from a results file, so a
//! third party can reproduce them without a collector (reports from the store are made by [`crate::views`]; every
//! report is rendered by [`slaprobe_sla::render`]).

use std::fmt::Write as _;
use std::path::Path;

use jiff::Timestamp;

use crate::config::read_list_file;
use crate::results_file::for_each_result;
use crate::views::select;
use slaprobe_sla::contract::{Contract, parse_contracts};
use slaprobe_sla::observed::Sampler;
use slaprobe_sla::{Evaluation, Horizon, Report};

use super::CliError;

/// Reads and validates a contracts file (`contracts:` list at the top level).
pub fn load_contracts(path: &Path) -> Result<Vec<Contract>, CliError> {
    let fail = |problems: Vec<String>| {
        CliError::Usage(format!("{}: {} problem(s):\n  - {}", path.display(), problems.len(), problems.join("\n  - ")))
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
/// limits them to one contract. The file is read once, a line at a time, every selected contract's report
/// taking each result in as it passes: memory grows with the period's slices, not with the file.
pub fn offline_reports<'a>(
    contracts: &'a [Contract],
    results_path: &Path,
    period: &str,
    only: Option<&str>,
    skip_bad_lines: bool,
    now: Timestamp,
) -> Result<OfflineReports<'a>, CliError> {
    let selected = select(contracts, period, only)?;
    let file = std::fs::File::open(results_path)
        .map_err(|error| CliError::Usage(format!("{}: cannot read: {error}", results_path.display())))?;
    let mut evaluations: Vec<Evaluation<'a>> =
        selected.iter().map(|(contract, period)| Evaluation::new(contract, period)).collect();
    let bad = for_each_result(std::io::BufReader::new(file), |result| {
        for evaluation in &mut evaluations {
            evaluation.add(&result);
        }
    })
    .map_err(|error| CliError::Data(format!("{}: {error}", results_path.display())))?;
    if bad.count > 0 && !skip_bad_lines {
        let mut message = format!("{}: {} malformed line(s):", results_path.display(), bad.count);
        for line in &bad.first {
            let _ = write!(message, "\n  - {line}");
        }
        if bad.count > bad.first.len() {
            let _ = write!(message, "\n  - … and {} more", bad.count - bad.first.len());
        }
        message.push_str("\n(pass --skip-bad-lines to report from the valid lines only)");
        return Err(CliError::Data(message));
    }
    let mut reports: Vec<(&Contract, Report)> = selected
        .into_iter()
        .zip(evaluations)
        .map(|((contract, _), evaluation)| {
            let horizon = Horizon { monitored_from: evaluation.first_result(), now };
            (contract, evaluation.report(&horizon))
        })
        .collect();
    if reports.iter().any(|(_, report)| !report.incidents.is_empty()) {
        observe(results_path, &mut reports)?;
    }
    Ok(OfflineReports { reports, skipped_lines: bad.count })
}

/// Fills in what was observed in each report's incidents, reading the results file a second time.
fn observe(results_path: &Path, reports: &mut [(&Contract, Report)]) -> Result<(), CliError> {
    let file = std::fs::File::open(results_path)
        .map_err(|error| CliError::Usage(format!("{}: cannot read: {error}", results_path.display())))?;
    let mut samplers: Vec<Sampler<'_>> =
        reports.iter().map(|(contract, report)| Sampler::new(contract, &report.incidents)).collect();
    for_each_result(std::io::BufReader::new(file), |result| {
        for sampler in &mut samplers {
            sampler.offer(&result);
        }
    })
    .map_err(|error| CliError::Data(format!("{}: {error}", results_path.display())))?;
    for (sampler, (_, report)) in samplers.into_iter().zip(reports.iter_mut()) {
        sampler.finish(&mut report.incidents);
    }
    Ok(())
}
