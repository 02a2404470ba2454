//! The `checks:` list: parsing and validating it wherever it is written (an agent's `agent.yaml`, the collector's
//! central list), and the document the collector pushes to an agent, with the version the agent reports back.

use std::collections::HashSet;
use std::sync::Arc;

use serde_yaml_ng::Value;
use sha2::{Digest, Sha256};

use crate::check::Check;
use crate::problems::deserialize_at;
use crate::spec::PreparedCheck;
use crate::split::{Item, cut_lists};
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

/// Parses and validates a pushed checks document (`checks: [...]`), one check at a time when it is laid out as
/// the collector writes it ([`crate::split`]).
pub fn parse_checks_document(text: &str) -> Result<Vec<PreparedCheck>, Vec<String>> {
    if let Some(cut) = cut_lists(text, &["checks"]) {
        let mut rest: Value = serde_yaml_ng::from_str(&cut.rest).map_err(|error| vec![error.to_string()])?;
        if !matches!(rest, Value::Mapping(_) | Value::Null) {
            return Err(vec!["expected `checks:` at the top".to_owned()]);
        }
        if let Some(list) = rest.as_mapping_mut().and_then(|top| top.remove("checks")) {
            return parse_checks(list, "checks");
        }
        let items = cut.lists.into_iter().flat_map(|(_, items)| items);
        return parse_check_items(items.map(|item| item_value(&item)), "checks", None);
    }
    let document: Value = serde_yaml_ng::from_str(text).map_err(|error| vec![error.to_string()])?;
    let Value::Mapping(mut top) = document else { return Err(vec!["expected `checks:` at the top".to_owned()]) };
    parse_checks(top.remove("checks").unwrap_or(Value::Null), "checks")
}

/// Deserialises and validates a `control_checks:` list: checks like any other, each marked
/// [`Check::control`](crate::Check::control).
pub fn parse_control_checks(value: Value, path: &str) -> Result<Vec<PreparedCheck>, Vec<String>> {
    parse_checks(value, path).map(as_controls)
}

/// Marks `checks` as control checks ([`Check::control`](crate::Check::control)).
pub fn as_controls(mut checks: Vec<PreparedCheck>) -> Vec<PreparedCheck> {
    for check in &mut checks {
        Arc::make_mut(&mut check.check).control = true;
    }
    checks
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
    parse_check_items(items.into_iter().map(Ok), path, None)
}

/// The value of a list item cut from its document ([`crate::split`]), or why it does not parse.
pub fn item_value(item: &Item) -> Result<Value, String> {
    match serde_yaml_ng::from_str::<Value>(&item.text) {
        Ok(Value::Sequence(mut values)) if values.len() == 1 => Ok(values.remove(0)),
        Ok(_) => Err(format!("the item beginning on line {} is not one list item", item.line)),
        Err(error) => Err(format!("{error} (in the item beginning on line {})", item.line)),
    }
}

/// Deserialises and validates the items of a `checks:` list one by one, each dropped once prepared; with
/// `lookup`, `${VAR}` is expanded in each item first. An item that did not parse is its error.
pub fn parse_check_items(
    items: impl IntoIterator<Item = Result<Value, String>>,
    path: &str,
    lookup: Option<crate::env::Lookup<'_>>,
) -> Result<Vec<PreparedCheck>, Vec<String>> {
    let items = items.into_iter();
    let mut problems = Vec::new();
    let mut preparer = Preparer::default();
    let mut seen = HashSet::with_capacity(items.size_hint().0);
    let mut checks = Vec::with_capacity(items.size_hint().0);
    for (index, item) in items.enumerate() {
        let item_path = format!("{path}[{index}]");
        let mut item = match item {
            Ok(item) => item,
            Err(problem) => {
                problems.push(format!("{item_path}: {problem}"));
                continue;
            }
        };
        if let Some(lookup) = lookup {
            let unset = crate::env::expand_value(&mut item, &item_path, lookup);
            if !unset.is_empty() {
                problems.extend(unset);
                continue;
            }
        }
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
