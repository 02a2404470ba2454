//! The `checks:` list: parsing and validating it wherever it is written (an agent's `agent.yaml`, the collector's
//! central list), and the document the collector pushes to an agent, with the version the agent reports back.

use std::collections::HashSet;

use serde_yaml_ng::Value;
use sha2::{Digest, Sha256};

use crate::check::Check;
use crate::problems::deserialize_at;
use crate::spec::PreparedCheck;
use crate::validate::Preparer;

/// The checks pushed to one agent, as the YAML document (`checks: [...]`) and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksDocument {
    /// The document, which [`parse_checks_document`] reads back.
    pub yaml: String,
    /// The lower-case hex SHA-256 of `yaml`: equal versions mean equal documents, so nothing is pushed twice.
    pub version: String,
}

impl ChecksDocument {
    /// The document listing `checks`, in their order.
    pub fn new<'a>(checks: impl IntoIterator<Item = &'a Check>) -> Self {
        #[derive(serde::Serialize)]
        struct Document<'a> {
            checks: Vec<&'a Check>,
        }
        let yaml = serde_yaml_ng::to_string(&Document { checks: checks.into_iter().collect() }).unwrap_or_default();
        Self { version: Self::version_of(&yaml), yaml }
    }

    /// The version of the document `yaml`: its lower-case hex SHA-256.
    pub fn version_of(yaml: &str) -> String {
        Sha256::digest(yaml.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// Parses and validates a pushed checks document (`checks: [...]`).
pub fn parse_checks_document(text: &str) -> Result<Vec<PreparedCheck>, Vec<String>> {
    let document: Value = serde_yaml_ng::from_str(text).map_err(|error| vec![error.to_string()])?;
    let Value::Mapping(mut top) = document else { return Err(vec!["expected `checks:` at the top".to_owned()]) };
    parse_checks(top.remove("checks").unwrap_or(Value::Null), "checks")
}

/// Deserialises and validates a `control_checks:` list: checks like any other, each marked
/// [`Check::control`](crate::Check::control).
pub fn parse_control_checks(value: Value, path: &str) -> Result<Vec<PreparedCheck>, Vec<String>> {
    let mut controls = parse_checks(value, path)?;
    for control in &mut controls {
        control.check.control = true;
    }
    Ok(controls)
}

/// Deserialises and validates a `checks:` list.
///
/// `path` is the list's own path, used to prefix every problem (`checks[3].timeout: ...`).
pub fn parse_checks(value: Value, path: &str) -> Result<Vec<PreparedCheck>, Vec<String>> {
    let items = match value {
        Value::Sequence(items) => items,
        Value::Null => Vec::new(),
        _ => return Err(vec![format!("{path}: expected a list of checks")]),
    };
    let mut problems = Vec::new();
    let mut preparer = Preparer::default();
    let mut seen = HashSet::new();
    let mut checks = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let check = match deserialize_at::<Check>(item, &item_path) {
            Ok(check) => check,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        if !seen.insert(check.id.clone()) {
            problems.push(format!("{item_path}.id: duplicate id {:?}", check.id));
        }
        match preparer.prepare(check, &item_path) {
            Ok(prepared) => checks.push(prepared),
            Err(check_problems) => problems.extend(check_problems),
        }
    }
    if problems.is_empty() { Ok(checks) } else { Err(problems) }
}
