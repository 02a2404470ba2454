//! The report made again from the bundle's own results, with the collector's engine (`slaprobe-sla`), and held against
//! `report.json` and `report.html`.
//!
//! The contract's full results in `results.jsonl` that started in the period's evaluation window (the period and its
//! run margins), its checks' and the agents' control probes, are laid out as the collector lays out the results it
//! stores; `contract.json` gives the terms, where
//! the checks were placed and when monitoring began; `report.json` gives the moment the report was made. Two fields
//! cannot be computed from the bundle and are taken from `report.json` as the collector's word: `silent_agents` (which
//! agents the collector expected) and `late` (which results arrived after the period closed); each incident's
//! `measurement` (what the agents reported of themselves) is the collector's word too; of `vendor_status`, what
//! the vendor's status page declared is the collector's word, and what it makes of our incidents is made again.
//! Every other field must come out the same, and the HTML claim document rendered from the report must be `report.html`
//! byte for byte. When monitoring began is checked against the results as far as they reach: no result of the contract
//! may be older than it.

use std::io::BufRead;

use jiff::Timestamp;
use serde_json::Value;
use slaprobe_proto::ResultRecord;
use slaprobe_proto::bundle::{CONTRACT, REPORT_HTML, REPORT_JSON, RESULTS};
use slaprobe_sla::contract::{AppliedContract, Contract};
use slaprobe_sla::faults::AgentFault;
use slaprobe_sla::observations::failure;
use slaprobe_sla::observed::Sampler;
use slaprobe_sla::render::{Format, render};
use slaprobe_sla::vendor::VendorStatus;
use slaprobe_sla::{
    Evaluation, Horizon, LateResults, Period, RegionMeasurement, Report, evaluation_window, parse_period,
};

use crate::files::BundleFiles;
use crate::problems::Problem;

/// The contract and period a report is made again for.
pub struct Terms {
    contract: Contract,
    period: Period,
    monitoring_began: Option<Timestamp>,
}

impl Terms {
    /// The contract's id.
    pub fn contract_id(&self) -> &str {
        &self.contract.terms.id
    }
}

/// Reads `contract.json` for the period `label` (the manifest's).
pub fn read_terms(bundle: &BundleFiles, label: &str, problems: &mut Vec<Problem>) -> Option<Terms> {
    let Some(bytes) = bundle.get(CONTRACT) else {
        problems.push(Problem::file(CONTRACT, "missing: without the terms the report cannot be made again"));
        return None;
    };
    let applied: AppliedContract = serde_json::from_slice(bytes)
        .map_err(|error| problems.push(Problem::file(CONTRACT, format!("not the terms of a contract: {error}"))))
        .ok()?;
    let contract = applied
        .contract(CONTRACT)
        .map_err(|invalid| problems.extend(invalid.into_iter().map(|problem| Problem::file(CONTRACT, problem))))
        .ok()?;
    let period = parse_period(label, contract.terms.period, &contract.tz)
        .map_err(|error| problems.push(Problem::file(CONTRACT, format!("period {label:?}: {error}"))))
        .ok()?;
    Some(Terms { contract, period, monitoring_began: applied.monitoring_began })
}

/// A report being made again, one full result at a time.
pub struct Recount<'a> {
    terms: &'a Terms,
    window: (Timestamp, Timestamp),
    evaluation: Evaluation<'a>,
    /// The contract's oldest result in the bundle, and its line.
    earliest: Option<(Timestamp, usize)>,
    /// Lines of failed results that vote: the incidents' samples are picked among them once the incidents are
    /// known.
    failed_lines: Vec<usize>,
}

/// The figures of a report made again that matched.
#[derive(Debug, Clone)]
pub struct Reproduced {
    /// The report.
    pub report: Report,
    /// Its contract's terms, to state them.
    pub contract: Contract,
}

impl<'a> Recount<'a> {
    /// Nothing seen yet.
    pub fn new(terms: &'a Terms) -> Self {
        Self {
            window: evaluation_window(&terms.contract, &terms.period),
            evaluation: Evaluation::new(&terms.contract, &terms.period),
            earliest: None,
            failed_lines: Vec::new(),
            terms,
        }
    }

    /// Takes in the full result on `line` of `results.jsonl` (its JSON without the chain value).
    pub fn add(&mut self, line: usize, record: Value, problems: &mut Vec<Problem>) {
        let record: ResultRecord = match serde_json::from_value(record) {
            Ok(record) => record,
            Err(error) => {
                problems.push(Problem::line(RESULTS, line, format!("not a result record: {error}")));
                return;
            }
        };
        let in_window = self.window.0 <= record.started_at && record.started_at < self.window.1;
        if record.control {
            // An agent's control probe: it decides whether the agent's results are conclusive (rule 10).
            if in_window {
                self.evaluation.add(&record);
            }
            return;
        }
        if !self.terms.contract.terms.checks.contains(&record.check_id) {
            return;
        }
        if self.earliest.is_none_or(|(at, _)| record.started_at < at) {
            self.earliest = Some((record.started_at, line));
        }
        if in_window {
            self.evaluation.add(&record);
            let contract = &self.terms.contract;
            if contract.admits(&record.check_id, &record.region) && failure(contract, &record).is_some() {
                self.failed_lines.push(line);
            }
        }
    }

    /// Sets aside the results of the agent and span `fault` names, as the collector found (rule 11).
    pub fn add_fault(&mut self, fault: &AgentFault) {
        self.evaluation.add_fault(fault);
    }

    /// The report made again, held against `report.json` and `report.html`; `Some` when it matches both.
    pub fn finish(self, bundle: &BundleFiles, problems: &mut Vec<Problem>) -> Option<Reproduced> {
        let before = problems.len();
        let terms = self.terms;
        if let Some((oldest, line)) = self.earliest
            && terms.monitoring_began.is_none_or(|began| oldest < began)
        {
            let stated = terms.monitoring_began.map_or_else(|| "never".to_owned(), |began| began.to_string());
            problems.push(Problem::line(
                RESULTS,
                line,
                format!(
                    "this result of the contract started at {oldest}, but {CONTRACT} says monitoring began {stated}"
                ),
            ));
        }
        let stated = read_report(bundle, problems)?;
        let horizon = Horizon { monitored_from: terms.monitoring_began, now: stated.generated_at };
        let mut report = self.evaluation.report(&horizon);
        observe(bundle, &terms.contract, &self.failed_lines, &mut report);
        report.silent_agents = stated.silent_agents;
        report.late = stated.late;
        for (incident, measurement) in report.incidents.iter_mut().zip(stated.measurements) {
            incident.measurement = measurement;
        }
        report.vendor_status =
            stated.vendor_status.map(|status| slaprobe_sla::vendor::compare(status.read(), &terms.contract, &report));
        let computed = serde_json::to_value(&report).unwrap_or_default();
        for (field, value) in stated.fields.iter() {
            if !computed.get(field).is_some_and(|computed| computed == value) {
                problems.push(Problem::line(REPORT_JSON, 1, figure_differs(field, value, computed.get(field))));
            }
        }
        if let Some(object) = computed.as_object() {
            for field in object.keys().filter(|field| !stated.fields.contains_key(*field)) {
                problems.push(Problem::line(REPORT_JSON, 1, format!("`{field}` is missing")));
            }
        }
        let pair = [(&terms.contract, report)];
        match bundle.get(REPORT_HTML) {
            None => problems.push(Problem::file(REPORT_HTML, "missing")),
            Some(html) => {
                let rendered = render(&pair, Format::Html);
                if let Some(line) = first_difference(html, rendered.as_bytes()) {
                    problems.push(Problem::line(
                        REPORT_HTML,
                        line,
                        "differs from the claim document the report made again renders to",
                    ));
                }
            }
        }
        let [(_, report)] = pair;
        (problems.len() == before).then(|| Reproduced { report, contract: terms.contract.clone() })
    }
}

/// Fills in what was observed in `report`'s incidents, from the failed results on `lines` of `results.jsonl`.
fn observe(bundle: &BundleFiles, contract: &Contract, lines: &[usize], report: &mut Report) {
    if lines.is_empty() || report.incidents.is_empty() {
        return;
    }
    let mut sampler = Sampler::new(contract, &report.incidents);
    let wanted: std::collections::BTreeSet<usize> = lines.iter().copied().collect();
    if let Some(Ok(mut reader)) = bundle.open(RESULTS) {
        let mut line = Vec::new();
        for number in 1.. {
            line.clear();
            if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                break;
            }
            if !wanted.contains(&number) {
                continue;
            }
            let record = serde_json::from_slice::<Value>(&line).ok().and_then(|mut value| {
                value.as_object_mut()?.remove("chain");
                serde_json::from_value::<ResultRecord>(value).ok()
            });
            if let Some(record) = record {
                sampler.offer(&record);
            }
        }
    }
    sampler.finish(&mut report.incidents);
}

/// What `report.json` states.
struct StatedReport {
    fields: serde_json::Map<String, Value>,
    generated_at: Timestamp,
    silent_agents: Option<Vec<String>>,
    late: Option<LateResults>,
    vendor_status: Option<VendorStatus>,
    /// Each incident's measurement, in order.
    measurements: Vec<Vec<RegionMeasurement>>,
}

/// `report.json`'s one report.
fn read_report(bundle: &BundleFiles, problems: &mut Vec<Problem>) -> Option<StatedReport> {
    let Some(bytes) = bundle.get(REPORT_JSON) else {
        problems.push(Problem::file(REPORT_JSON, "missing"));
        return None;
    };
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let (Some(first), None) = (lines.next(), lines.next()) else {
        problems.push(Problem::file(REPORT_JSON, "must hold exactly one report (one JSON line)"));
        return None;
    };
    let fail = |message: String| Problem::line(REPORT_JSON, 1, message);
    let fields = match serde_json::from_str::<Value>(first) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => {
            problems.push(fail("not a JSON object".to_owned()));
            return None;
        }
        Err(error) => {
            problems.push(fail(format!("not JSON: {error}")));
            return None;
        }
    };
    let field = |name: &str| fields.get(name).cloned().unwrap_or(Value::Null);
    let generated_at = serde_json::from_value(field("generated_at"))
        .map_err(|error| problems.push(fail(format!("`generated_at`: {error}"))))
        .ok()?;
    let silent_agents = serde_json::from_value(field("silent_agents"))
        .map_err(|error| problems.push(fail(format!("`silent_agents`: {error}"))))
        .ok()?;
    let late =
        serde_json::from_value(field("late")).map_err(|error| problems.push(fail(format!("`late`: {error}")))).ok()?;
    let vendor_status = serde_json::from_value(field("vendor_status"))
        .map_err(|error| problems.push(fail(format!("`vendor_status`: {error}"))))
        .ok()?;
    let incidents = field("incidents");
    let stated_incidents = incidents.as_array().map(Vec::as_slice).unwrap_or_default();
    let measurements = stated_incidents
        .iter()
        .enumerate()
        .map(|(index, incident)| {
            serde_json::from_value(incident.get("measurement").cloned().unwrap_or(Value::Array(Vec::new())))
                .map_err(|error| problems.push(fail(format!("`incidents[{index}].measurement`: {error}"))))
                .ok()
        })
        .collect::<Option<Vec<_>>>()?;
    Some(StatedReport { fields, generated_at, silent_agents, late, vendor_status, measurements })
}

/// What to say of a field of `report.json` that the results do not give.
fn figure_differs(field: &str, stated: &Value, computed: Option<&Value>) -> String {
    let Some(computed) = computed else {
        return format!("`{field}` is not a field of a report");
    };
    let (path, stated, computed) = first_divergence(field.to_owned(), stated, computed);
    format!("`{path}` is {}, but the results give {}", brief(stated), brief(computed))
}

/// The first place two JSON values part: its path and the two values there.
fn first_divergence<'v>(path: String, left: &'v Value, right: &'v Value) -> (String, &'v Value, &'v Value) {
    match (left, right) {
        (Value::Object(left_fields), Value::Object(right_fields)) => {
            for (key, left_value) in left_fields {
                match right_fields.get(key) {
                    Some(right_value) if right_value == left_value => {}
                    Some(right_value) => return first_divergence(format!("{path}.{key}"), left_value, right_value),
                    None => return (format!("{path}.{key}"), left_value, &Value::Null),
                }
            }
            (path, left, right)
        }
        (Value::Array(left_items), Value::Array(right_items)) if left_items.len() == right_items.len() => {
            let differing = left_items.iter().zip(right_items).position(|(left, right)| left != right);
            match differing {
                Some(index) => first_divergence(format!("{path}[{index}]"), &left_items[index], &right_items[index]),
                None => (path, left, right),
            }
        }
        _ => (path, left, right),
    }
}

/// A JSON value in a message, cut to a readable length.
fn brief(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(120) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The first line (1-based) where two texts differ, or `None` when they are equal.
fn first_difference(left: &[u8], right: &[u8]) -> Option<usize> {
    if left == right {
        return None;
    }
    let same = left.iter().zip(right).take_while(|(left, right)| left == right).count();
    Some(1 + left[..same].iter().filter(|byte| **byte == b'\n').count())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{first_difference, first_divergence};

    #[test]
    fn the_first_divergence_is_named_by_its_path() {
        let stated = json!({ "incidents": [ { "start": "a", "end": "b" }, { "start": "c", "end": "d" } ] });
        let computed = json!({ "incidents": [ { "start": "a", "end": "b" }, { "start": "c", "end": "e" } ] });
        let (path, left, right) = first_divergence("report".to_owned(), &stated, &computed);
        assert_eq!((path.as_str(), left, right), ("report.incidents[1].end", &json!("d"), &json!("e")));
    }

    #[test]
    fn the_first_differing_line_is_counted_from_one() {
        assert_eq!(first_difference(b"a\nb\nc\n", b"a\nb\nc\n"), None);
        assert_eq!(first_difference(b"a\nb\nc\n", b"a\nx\nc\n"), Some(2));
        assert_eq!(first_difference(b"abc", b"abd"), Some(1));
        assert_eq!(first_difference(b"a\n", b"a\nmore"), Some(2));
    }
}
