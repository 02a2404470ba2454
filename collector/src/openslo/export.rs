//! `slaprobe-collector openslo export`: each contract as three kinds of OpenSLO v1 documents.
//!
//! - `SLI` `<name>-regions`: per slice, the regions seeing the service up (`good`) among those voting (`total`),
//!   read from slaprobe (`metricSource.type: slaprobe`, its spec naming the contract and its checks).
//! - `SLO` `<name>`: budgeting method `Timeslices`, `timeSliceWindow` the contract's slice, `target` its
//!   objective, `timeSliceTarget` the share of regions that must see the slice up for it to count as up: with
//!   `n` regions placed and `min_regions_down: q`, a slice is down once `q` regions see it down, so up takes
//!   `(n - q + 1) / n` of them (1 with `q: 1`, whatever `n`). The calendar window is the contract's month or
//!   quarter in its time zone. The terms travel whole in an annotation ([`super::TERMS_ANNOTATION`]).
//! - `AlertPolicy` `<name>-<kind>` for each alert rule OpenSLO's `burnrate` condition can say: `down` (the
//!   whole budget's rate, `100 / (100 - objective)`, over its down slices) and each `burn_rate` window (its rate
//!   over the long window; the short one has no place). `breach_forecast`, `silent` and `cert_expiry` rules are
//!   left out, and said so.

use rust_decimal::Decimal;
use serde_yaml_ng::{Mapping, Value};
use slaprobe_sla::contract::{Contract, PeriodKind};

use super::{
    API_VERSION, LOCAL_CHECKS_ANNOTATION, MAX_DESCRIPTION, SOURCE_TYPE, TERMS_ANNOTATION, object_name, shorthand,
    yaml_number,
};
use crate::config::CollectorConfig;
use crate::config::alerting::{AlertKind, AlertRule};

/// Where every exported calendar window starts: a month's and a quarter's first day.
const CALENDAR_START: &str = "2020-01-01 00:00:00";

/// Exported documents, in order, and what OpenSLO could not say.
#[derive(Debug, Default)]
pub struct Exported {
    /// The documents: per contract its `SLI`, `SLO` and `AlertPolicy` documents.
    pub documents: Vec<Value>,
    /// What was left out or approximated, one sentence each.
    pub notes: Vec<String>,
}

impl Exported {
    /// The documents as one multi-document YAML text.
    pub fn yaml(&self) -> Result<String, serde_yaml_ng::Error> {
        let mut text = String::new();
        for document in &self.documents {
            text.push_str("---\n");
            text.push_str(&serde_yaml_ng::to_string(document)?);
        }
        Ok(text)
    }
}

/// The documents of `config`'s contracts (only contract `only` when given).
pub fn export(config: &CollectorConfig, only: Option<&str>) -> Result<Exported, String> {
    let contracts: Vec<&Contract> =
        config.contracts.iter().filter(|contract| only.is_none_or(|id| contract.terms.id == id)).collect();
    if let Some(id) = only
        && contracts.is_empty()
    {
        return Err(format!("no contract {id:?} in the configuration"));
    }
    let mut exported = Exported::default();
    for contract in contracts {
        let name = object_name(&contract.terms.id, "contract");
        let rules: Vec<&AlertRule> = config.alerts.iter().filter(|rule| rule.contract == contract.terms.id).collect();
        let mut policies = Vec::new();
        for rule in rules {
            policies.extend(alert_policies(contract, &name, rule, &mut exported.notes));
        }
        exported.documents.push(indicator(contract, &name));
        let refs = policies.iter().map(|policy| map([("alertPolicyRef", policy["metadata"]["name"].clone())]));
        let slo = objective(contract, &name, refs.collect(), &mut exported.notes).map_err(|error| error.to_string())?;
        exported.documents.push(slo);
        exported.documents.extend(policies);
    }
    Ok(exported)
}

fn indicator(contract: &Contract, name: &str) -> Value {
    let terms = &contract.terms;
    let source = |count: &str| {
        let spec = map([
            ("contract", Value::from(terms.id.as_str())),
            ("checks", Value::Sequence(terms.checks.iter().map(|check| Value::from(check.as_str())).collect())),
            ("combine", serde_yaml_ng::to_value(terms.combine).unwrap_or(Value::Null)),
            ("failed_ratio", yaml_number(terms.failed_ratio)),
            ("count", Value::from(count)),
        ]);
        map([("metricSource", map([("type", Value::from(SOURCE_TYPE)), ("spec", spec)]))])
    };
    document(
        "SLI",
        map([
            ("name", Value::from(format!("{name}-regions"))),
            ("displayName", Value::from(format!("{} {}: regions seeing it up", terms.vendor, terms.service))),
        ]),
        map([
            (
                "description",
                Value::from(described(&format!(
                    "Per {} slice, the regions whose probes of {} saw the service up, among the regions voting \
                 (measured by slaprobe).",
                    slice_text(terms.slice),
                    terms.checks.join(", ")
                ))),
            ),
            (
                "ratioMetric",
                map([
                    ("counter", Value::Bool(false)),
                    ("good", source("regions_up")),
                    ("total", source("regions_voting")),
                ]),
            ),
        ]),
    )
}

fn objective(
    contract: &Contract,
    name: &str,
    alert_policies: Vec<Value>,
    notes: &mut Vec<String>,
) -> Result<Value, serde_json::Error> {
    let terms = &contract.terms;
    let mut annotations = Mapping::new();
    annotations.insert(Value::from(TERMS_ANNOTATION), Value::from(serde_json::to_string(terms)?));
    if !contract.local_checks.is_empty() {
        let local: Vec<&str> = contract.local_checks.iter().map(String::as_str).collect();
        annotations.insert(Value::from(LOCAL_CHECKS_ANNOTATION), Value::from(local.join(",")));
    }
    let window = match shorthand(terms.slice) {
        Some(text) => Value::from(text),
        None => yaml_number(Decimal::from_f64_retain(terms.slice.as_secs_f64() / 60.0).unwrap_or(Decimal::ONE)),
    };
    let (slice_target, approximated) = slice_target(contract);
    if let Some(note) = approximated {
        notes.push(note);
    }
    let period = if terms.period == PeriodKind::Quarter { ("1Q", "quarter") } else { ("1M", "month") };
    let objective = map([
        ("displayName", Value::from(format!("{} % per {}", terms.objective, period.1))),
        ("target", yaml_number(terms.objective / Decimal::ONE_HUNDRED)),
        ("timeSliceTarget", yaml_number(slice_target)),
        ("timeSliceWindow", window),
    ]);
    let mut spec = map([
        (
            "description",
            Value::from(described(&format!(
                "{} % of each calendar {} ({}) in {} slices: {} {}, measured independently by slaprobe (contract {}).",
                terms.objective,
                period.1,
                terms.timezone,
                slice_text(terms.slice),
                terms.vendor,
                terms.service,
                terms.id
            ))),
        ),
        ("service", Value::from(object_name(&format!("{} {}", terms.vendor, terms.service), "service"))),
        ("indicatorRef", Value::from(format!("{name}-regions"))),
        (
            "timeWindow",
            Value::Sequence(vec![map([
                ("duration", Value::from(period.0)),
                ("isRolling", Value::Bool(false)),
                (
                    "calendar",
                    map([
                        ("startTime", Value::from(CALENDAR_START)),
                        ("timeZone", Value::from(terms.timezone.as_str())),
                    ]),
                ),
            ])]),
        ),
        ("budgetingMethod", Value::from("Timeslices")),
        ("objectives", Value::Sequence(vec![objective])),
    ]);
    if !alert_policies.is_empty()
        && let Value::Mapping(spec) = &mut spec
    {
        spec.insert(Value::from("alertPolicies"), Value::Sequence(alert_policies));
    }
    let metadata = map([
        ("name", Value::from(name)),
        ("displayName", Value::from(format!("{} {}", terms.vendor, terms.service))),
        ("annotations", Value::Mapping(annotations)),
    ]);
    Ok(document("SLO", metadata, spec))
}

/// The share of voting regions that must see a slice up, and a note when that approximates the quorum.
fn slice_target(contract: &Contract) -> (Decimal, Option<String>) {
    let quorum = contract.terms.min_regions_down;
    if quorum <= 1 {
        return (Decimal::ONE, None);
    }
    let placed: Option<std::collections::BTreeSet<&String>> = contract
        .terms
        .checks
        .iter()
        .map(|check| contract.placement.get(check))
        .collect::<Option<Vec<_>>>()
        .map(|regions| regions.into_iter().flatten().collect());
    match placed.map(|regions| regions.len()) {
        Some(regions) if regions >= quorum as usize => {
            let regions = Decimal::from(regions);
            let up = regions - Decimal::from(quorum) + Decimal::ONE;
            ((up / regions).round_dp(6), None)
        }
        _ => (
            Decimal::ONE,
            Some(format!(
                "contract {}: min_regions_down {quorum} over regions the check list does not fix; timeSliceTarget 1 \
                 (every voting region up) is stricter than the contract",
                contract.terms.id
            )),
        ),
    }
}

fn alert_policies(contract: &Contract, name: &str, rule: &AlertRule, notes: &mut Vec<String>) -> Vec<Value> {
    let id = &contract.terms.id;
    let leftover = |notes: &mut Vec<String>, why: &str| {
        notes.push(format!("contract {id}: alert {} left out: {why}", rule.kind.as_str()));
        Vec::new()
    };
    match rule.kind {
        AlertKind::Down => {
            let budget = Decimal::ONE_HUNDRED - contract.terms.objective;
            let window = shorthand(contract.terms.slice * rule.down_slices());
            match (budget > Decimal::ZERO, window) {
                (true, Some(window)) => {
                    let rate = (Decimal::ONE_HUNDRED / budget).round_dp(6);
                    vec![policy(name, "down", rule, rate, &window, "the service down in every slice of the window")]
                }
                (false, _) => leftover(notes, "an objective of 100 % has no budget to burn"),
                (_, None) => leftover(notes, "its window is not a whole number of minutes"),
            }
        }
        AlertKind::BurnRate => rule
            .windows()
            .iter()
            .enumerate()
            .filter_map(|(index, window)| {
                let Some(long) = shorthand(window.long) else {
                    notes.push(format!("contract {id}: burn_rate window {index} left out: not whole minutes"));
                    return None;
                };
                let what = "the budget burning this fast (windows for a 30-day period; the short window is not kept)";
                Some(policy(name, &format!("burn-rate-{}", index + 1), rule, window.burn, &long, what))
            })
            .collect(),
        AlertKind::BreachForecast | AlertKind::Silent | AlertKind::CertExpiry => {
            leftover(notes, "OpenSLO conditions are burn rates only")
        }
    }
}

fn policy(name: &str, suffix: &str, rule: &AlertRule, rate: Decimal, window: &str, what: &str) -> Value {
    let condition = map([
        ("kind", Value::from("AlertCondition")),
        ("metadata", map([("name", Value::from(format!("{name}-{suffix}")))])),
        (
            "spec",
            map([
                ("description", Value::from(format!("slaprobe alert {}: {what}", rule.kind.as_str()))),
                ("severity", Value::from(rule.policy.as_str())),
                (
                    "condition",
                    map([
                        ("kind", Value::from("burnrate")),
                        ("threshold", yaml_number(rate)),
                        ("lookbackWindow", Value::from(window)),
                        ("alertAfter", Value::from("0m")),
                    ]),
                ),
            ]),
        ),
    ]);
    document(
        "AlertPolicy",
        map([("name", Value::from(format!("{name}-{suffix}")))]),
        map([
            (
                "description",
                Value::from(format!("slaprobe's {} alert, escalated by policy {}", rule.kind.as_str(), rule.policy)),
            ),
            ("alertWhenNoData", Value::Bool(false)),
            ("alertWhenResolved", Value::Bool(true)),
            ("alertWhenBreaching", Value::Bool(true)),
            ("conditions", Value::Sequence(vec![condition])),
            ("notificationTargets", Value::Sequence(vec![map([("targetRef", Value::from(rule.policy.as_str()))])])),
        ]),
    )
}

fn document(kind: &str, metadata: Value, spec: Value) -> Value {
    map([("apiVersion", Value::from(API_VERSION)), ("kind", Value::from(kind)), ("metadata", metadata), ("spec", spec)])
}

fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Mapping(pairs.into_iter().map(|(key, value)| (Value::from(key), value)).collect())
}

/// The slice as a description says it: `5m`, or `30 s` when it is not whole minutes.
fn slice_text(slice: std::time::Duration) -> String {
    shorthand(slice).unwrap_or_else(|| format!("{} s", slice.as_secs_f64()))
}

fn described(text: &str) -> String {
    text.chars().take(MAX_DESCRIPTION).collect()
}
