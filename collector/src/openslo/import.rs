//! `slaprobe-collector openslo import FILE`: OpenSLO v1 documents into contracts, written as a `contracts:` list
//! for `contracts.yaml`, with a note for everything a contract cannot say or the documents did not.
//!
//! An `SLO` that slaprobe exported carries its contract's terms ([`super::TERMS_ANNOTATION`]): they come back
//! whole, and what OpenSLO expresses (the first objective's `target`, `timeSliceWindow`, the calendar window and
//! time zone) overrides them where it was edited. Another tool's `SLO` becomes a contract from those fields
//! alone: the checks come from a `slaprobe` indicator (any other indicator is a query slaprobe cannot run), and
//! credits, which OpenSLO has no place for, are left for the user to write. Each contract made is validated as
//! `check-config` would, and what still fails is said. Other kinds (`AlertPolicy`, `DataSource`, `Service`, …)
//! are read past with a note: alerts are written in `collector.yaml`.

use std::collections::HashMap;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};
use slaprobe_sla::contract::{ContractFile, parse_contracts};

use super::{API_VERSION, LOCAL_CHECKS_ANNOTATION, SOURCE_TYPE, TERMS_ANNOTATION, parse_shorthand, yaml_number};

/// Documents read at most: an OpenSLO file is written by hand or by a tool, not a bulk format.
const MAX_DOCUMENTS: usize = 10_000;

/// Contracts made from OpenSLO documents, and the notes on them.
#[derive(Debug, Default)]
pub struct Imported {
    /// Each contract as written in `contracts.yaml`.
    pub contracts: Vec<Value>,
    /// What could not be expressed or is still to be written, one sentence each, naming the document.
    pub notes: Vec<String>,
}

impl Imported {
    /// The contracts as a `contracts:` document.
    pub fn yaml(&self) -> Result<String, serde_yaml_ng::Error> {
        let mut document = Mapping::new();
        document.insert(Value::from("contracts"), Value::Sequence(self.contracts.clone()));
        serde_yaml_ng::to_string(&document)
    }
}

/// The contracts of the `SLO` documents in `text`; every unusable document, by number, when there are any.
pub fn import(text: &str) -> Result<Imported, Vec<String>> {
    let mut documents = Vec::new();
    let mut problems = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate().take(MAX_DOCUMENTS + 1) {
        let number = index + 1;
        if number > MAX_DOCUMENTS {
            return Err(vec![format!("more than {MAX_DOCUMENTS} documents")]);
        }
        match Value::deserialize(document) {
            Ok(Value::Null) => {}
            Ok(value) if value["apiVersion"].as_str() == Some(API_VERSION) && value["kind"].is_string() => {
                documents.push((number, value));
            }
            Ok(value) => problems.push(format!(
                "document {number}: not an OpenSLO v1 document (apiVersion {:?}, kind {:?})",
                value["apiVersion"].as_str().unwrap_or("missing"),
                value["kind"].as_str().unwrap_or("missing")
            )),
            Err(error) => problems.push(format!("document {number}: {error}")),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let indicators: HashMap<&str, &Value> = documents
        .iter()
        .filter(|(_, document)| document["kind"] == "SLI")
        .filter_map(|(_, document)| Some((document["metadata"]["name"].as_str()?, &document["spec"])))
        .collect();
    let mut imported = Imported::default();
    for (number, document) in &documents {
        let name = document["metadata"]["name"].as_str().unwrap_or("unnamed");
        let at = format!("document {number} ({} {name})", document["kind"].as_str().unwrap_or_default());
        match document["kind"].as_str() {
            Some("SLO") => match contract(&at, document, &indicators, &mut imported.notes) {
                Ok(contract) => imported.contracts.push(contract),
                Err(problem) => problems.push(format!("{at}: {problem}")),
            },
            Some("SLI") => {}
            Some("AlertPolicy") => imported
                .notes
                .push(format!("{at}: not imported: slaprobe's alerts are written in collector.yaml (`alerts:`)")),
            Some(kind) => imported.notes.push(format!("{at}: kind {kind} has no part in a contract; read past")),
            None => {}
        }
    }
    if imported.contracts.is_empty() && problems.is_empty() {
        problems.push("no SLO document".to_owned());
    }
    if problems.is_empty() { Ok(imported) } else { Err(problems) }
}

/// The contract of the `SLO` `document` (`at` names it in notes).
fn contract(
    at: &str,
    document: &Value,
    indicators: &HashMap<&str, &Value>,
    notes: &mut Vec<String>,
) -> Result<Value, String> {
    let spec = &document["spec"];
    let name = document["metadata"]["name"].as_str().ok_or("metadata.name is missing")?;
    let annotations = &document["metadata"]["annotations"];
    let mut terms = match annotations[TERMS_ANNOTATION].as_str() {
        Some(json) => {
            let terms: ContractFile = serde_json::from_str(json)
                .map_err(|error| format!("annotation {TERMS_ANNOTATION} is not a contract's terms: {error}"))?;
            serde_yaml_ng::to_value(&terms).map_err(|error| error.to_string())?
        }
        None => foreign_terms(at, name, document, indicators, notes),
    };
    let Value::Mapping(fields) = &mut terms else { return Err("the terms are not a mapping".to_owned()) };
    take_objective(at, spec, fields, notes)?;
    take_window(at, spec, fields, notes);
    if let Some(local) = annotations[LOCAL_CHECKS_ANNOTATION].as_str() {
        mark_local_checks(fields, local.split(','));
    }
    tidy(fields);
    if let Err(problems) = parse_contracts(Value::Sequence(vec![terms.clone()]), "contract") {
        for problem in problems {
            notes.push(format!("{at}: to write before use: {problem}"));
        }
    }
    Ok(terms)
}

/// The terms of an `SLO` another tool wrote: what its fields say, the rest left for the user (with notes).
fn foreign_terms(
    at: &str,
    name: &str,
    document: &Value,
    indicators: &HashMap<&str, &Value>,
    notes: &mut Vec<String>,
) -> Value {
    let spec = &document["spec"];
    let indicator = match spec["indicatorRef"].as_str() {
        Some(reference) => indicators.get(reference).copied().unwrap_or(&Value::Null),
        None => &spec["indicator"]["spec"],
    };
    let source = &indicator["ratioMetric"]["good"]["metricSource"];
    let checks = match (source["type"].as_str(), source["spec"]["checks"].as_sequence()) {
        (Some(SOURCE_TYPE), Some(checks)) => checks.clone(),
        (kind, _) => {
            notes.push(format!(
                "{at}: its indicator reads {}, a query slaprobe cannot run: it measures with its own checks; list \
                 them under checks",
                kind.map_or_else(|| "nothing slaprobe knows".to_owned(), |kind| format!("a {kind} source"))
            ));
            Vec::new()
        }
    };
    notes.push(format!("{at}: OpenSLO has no credit terms: write credits (fee, currency, tiers) before use"));
    let mut fields = Mapping::new();
    let text = |value: &Value, fallback: &str| Value::from(value.as_str().unwrap_or(fallback));
    fields.insert("id".into(), Value::from(name));
    fields.insert("vendor".into(), text(&document["metadata"]["displayName"], name));
    fields.insert("service".into(), text(&spec["service"], name));
    fields.insert("checks".into(), Value::Sequence(checks));
    let mut credits = Mapping::new();
    credits.insert("fee".into(), Value::from(0));
    credits.insert("currency".into(), Value::from("USD"));
    credits.insert("tiers".into(), Value::Sequence(Vec::new()));
    fields.insert("credits".into(), Value::Mapping(credits));
    Value::Mapping(fields)
}

/// Sets `objective` from the first objective's `target` (or `targetPercent`), saying what else was left out.
fn take_objective(at: &str, spec: &Value, fields: &mut Mapping, notes: &mut Vec<String>) -> Result<(), String> {
    let objectives = spec["objectives"].as_sequence().ok_or("spec.objectives is missing")?;
    let first = objectives.first().ok_or("spec.objectives is empty")?;
    if objectives.len() > 1 {
        notes.push(format!("{at}: only the first of {} objectives is the contract's objective", objectives.len()));
    }
    let percent = match (decimal(&first["target"]), decimal(&first["targetPercent"])) {
        (Some(target), _) => target * Decimal::ONE_HUNDRED,
        (None, Some(percent)) => percent,
        (None, None) => return Err("spec.objectives[0] has no target or targetPercent".to_owned()),
    };
    let written = fields.get("objective").and_then(decimal);
    if written.is_some_and(|written| written != percent) {
        notes.push(format!(
            "{at}: objective {} % from the SLO's target (its terms said {})",
            percent.normalize(),
            written.unwrap_or_default()
        ));
    }
    fields.insert("objective".into(), Value::from(percent.normalize().to_string()));
    match spec["budgetingMethod"].as_str() {
        Some("Timeslices") => match window_of(&first["timeSliceWindow"]) {
            Some(slice) => {
                fields.insert("slice".into(), Value::from(humantime::format_duration(slice).to_string()));
            }
            None => notes.push(format!("{at}: timeSliceWindow unreadable; the contract keeps its slice")),
        },
        method => notes.push(format!(
            "{at}: budgeting method {}: slaprobe counts time slices; the contract keeps its slice (1m by default)",
            method.unwrap_or("missing")
        )),
    }
    Ok(())
}

/// Sets `period` and `timezone` from the calendar window, saying when it is one a contract cannot have.
fn take_window(at: &str, spec: &Value, fields: &mut Mapping, notes: &mut Vec<String>) {
    let window = &spec["timeWindow"][0];
    let period = match (window["duration"].as_str(), window["isRolling"].as_bool()) {
        (Some("1M"), Some(false) | None) => Some("month"),
        (Some("1Q"), Some(false) | None) => Some("quarter"),
        (None, _) => None,
        (Some(duration), rolling) => {
            let rolling = if rolling == Some(true) { "rolling " } else { "" };
            notes.push(format!(
                "{at}: a {rolling}{duration} window: contracts run per calendar month or quarter; the contract's \
                 period is kept (a month by default)"
            ));
            None
        }
    };
    if let Some(period) = period {
        fields.insert("period".into(), Value::from(period));
    }
    if let Some(zone) = window["calendar"]["timeZone"].as_str() {
        fields.insert("timezone".into(), Value::from(zone));
    }
}

/// Marks `local` among the `checks` as agent-local (`{ id, local: true }`).
fn mark_local_checks<'a>(fields: &mut Mapping, local: impl Iterator<Item = &'a str>) {
    let local: Vec<&str> = local.collect();
    if let Some(Value::Sequence(checks)) = fields.get_mut("checks") {
        for check in checks.iter_mut() {
            if let Some(id) = check.as_str().filter(|id| local.contains(id)) {
                let mut entry = Mapping::new();
                entry.insert("id".into(), Value::from(id));
                entry.insert("local".into(), Value::Bool(true));
                *check = Value::Mapping(entry);
            }
        }
    }
}

/// The terms as a person writes them: no `null` fields, and amounts and percentages as numbers where a
/// number reads back as exactly the amount.
fn tidy(fields: &mut Mapping) {
    fields.retain(|_, value| !value.is_null());
    for (key, value) in fields.iter_mut() {
        match value {
            Value::Mapping(inner) => tidy(inner),
            Value::Sequence(items) => {
                for item in items.iter_mut() {
                    if let Value::Mapping(inner) = item {
                        tidy(inner);
                    }
                }
            }
            Value::String(text)
                if matches!(
                    key.as_str(),
                    Some("objective" | "failed_ratio" | "fee" | "cap" | "min_amount" | "below" | "credit")
                ) =>
            {
                if let Ok(amount) = text.parse::<Decimal>() {
                    *value = yaml_number(amount);
                }
            }
            _ => {}
        }
    }
}

/// A YAML number or numeric string as a decimal, as written (`0.999` is exactly 0.999).
fn decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(number) => number.to_string().parse().ok(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// `timeSliceWindow`: a duration shorthand or a number of minutes.
fn window_of(value: &Value) -> Option<Duration> {
    match value {
        Value::String(text) => parse_shorthand(text),
        Value::Number(_) => decimal(value)
            .and_then(|minutes| rust_decimal::prelude::ToPrimitive::to_f64(&(minutes * Decimal::from(60))))
            .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
            .map(Duration::from_secs_f64),
        _ => None,
    }
}
