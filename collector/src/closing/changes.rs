//! What differs between two revisions of a closed period: the reports' JSON compared field by field, one line per
//! figure that moved (`down_slices: 100 → 103`), and the reason in words. `generated_at` always differs and is left
//! out, as are when the vendor's status page was last read and whether that worked; a list whose length changed is one
//! line (`incidents: 2 → 3 entries`) rather than every shifted entry; what was observed during incidents (failure
//! captures) is compared only by its count.

use serde_json::{Map, Value};

/// Lines listed at most; the rest are counted.
const MAX_LINES: usize = 40;

/// Fields whose differences are not changes of the figures: when the report was made, and when the vendor's
/// status page was last read and whether that worked (what it declared is compared).
const IGNORED: [&str; 3] = ["generated_at", "vendor_status.checked_at", "vendor_status.problem"];

/// The lines saying what differs from `before` to `after`, by field name; empty when nothing does.
pub fn between(before: &Value, after: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    compare("", before, after, &mut lines);
    if lines.len() > MAX_LINES {
        let more = lines.len() - MAX_LINES;
        lines.truncate(MAX_LINES);
        lines.push(format!("… and {more} more"));
    }
    lines
}

fn compare(path: &str, before: &Value, after: &Value, lines: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(before), Value::Object(after)) => compare_objects(path, before, after, lines),
        (Value::Null, Value::Object(after)) => compare_objects(path, &Map::new(), after, lines),
        (Value::Object(before), Value::Null) => compare_objects(path, before, &Map::new(), lines),
        (Value::Array(before), Value::Array(after)) if path.ends_with("observed") => {
            let (before, after) = (before.len(), after.len());
            lines.extend((before != after).then(|| format!("{path}: {before} → {after} failed results shown")));
        }
        (Value::Array(before), Value::Array(after)) if before.len() == after.len() => {
            for (index, (before, after)) in before.iter().zip(after).enumerate() {
                compare(&format!("{path}[{index}]"), before, after, lines);
            }
        }
        (Value::Array(before), Value::Array(after)) => {
            lines.push(format!("{path}: {} → {} entries", before.len(), after.len()));
        }
        (before, after) if before != after => lines.push(format!("{path}: {} → {}", shown(before), shown(after))),
        _ => {}
    }
}

fn compare_objects(path: &str, before: &Map<String, Value>, after: &Map<String, Value>, lines: &mut Vec<String>) {
    let keys = after.keys().chain(before.keys().filter(|key| !after.contains_key(*key)));
    for key in keys {
        let inner = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        if IGNORED.contains(&inner.as_str()) {
            continue;
        }
        compare(&inner, before.get(key).unwrap_or(&Value::Null), after.get(key).unwrap_or(&Value::Null), lines);
    }
}

/// A value on one line: strings without quotes, objects and lists by size.
fn shown(value: &Value) -> String {
    match value {
        Value::Null => "none".to_owned(),
        Value::String(text) => text.clone(),
        Value::Array(items) => format!("{} entries", items.len()),
        Value::Object(fields) => format!("{} fields", fields.len()),
        other => other.to_string(),
    }
}

/// Why the figures moved from `before` to `after`: results that arrived after the close, changed terms, or
/// else the stored results themselves.
pub fn reason(before: &Value, after: &Value, terms_changed: bool) -> String {
    let late = |report: &Value| report.pointer("/late/results").and_then(Value::as_u64).unwrap_or(0);
    let arrived = late(after).saturating_sub(late(before));
    let mut reasons = Vec::new();
    if arrived > 0 {
        reasons.push(format!("{arrived} result(s) arrived after the period closed"));
    }
    if terms_changed {
        reasons.push("the contract's terms changed".to_owned());
    }
    let declared = |report: &Value| report.pointer("/vendor_status/declared").cloned().unwrap_or(Value::Null);
    if declared(before) != declared(after) {
        reasons.push("the vendor's status page changed what it declared".to_owned());
    }
    if reasons.is_empty() {
        reasons.push("the stored results changed (imported, or deleted by retention)".to_owned());
    }
    reasons.join("; ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn moved_figures_are_listed_and_generated_at_is_not() {
        let before = json!({"generated_at": "a", "down_slices": 100, "uptime_percent": 99.7,
            "late": null, "incidents": [{"start": "x"}], "days": [{"down_slices": 0}, {"down_slices": 100}]});
        let after = json!({"generated_at": "b", "down_slices": 103, "uptime_percent": 99.6,
            "late": {"results": 3}, "incidents": [{"start": "x"}, {"start": "y"}],
            "days": [{"down_slices": 3}, {"down_slices": 100}]});
        assert_eq!(
            between(&before, &after),
            [
                "days[0].down_slices: 0 → 3",
                "down_slices: 100 → 103",
                "incidents: 1 → 2 entries",
                "late.results: none → 3",
                "uptime_percent: 99.7 → 99.6",
            ],
            "in the order of the fields' names"
        );
        assert!(
            between(
                &before,
                &json!({"generated_at": "c", "down_slices": 100, "uptime_percent": 99.7,
            "late": null, "incidents": [{"start": "x"}], "days": [{"down_slices": 0}, {"down_slices": 100}]})
            )
            .is_empty()
        );
        assert_eq!(reason(&before, &after, false), "3 result(s) arrived after the period closed");
        assert_eq!(reason(&before, &before, true), "the contract's terms changed");
        assert_eq!(reason(&before, &before, false), "the stored results changed (imported, or deleted by retention)");
    }

    #[test]
    fn a_new_read_of_the_status_page_is_no_change_but_a_new_declaration_is() {
        let before =
            json!({"vendor_status": {"checked_at": "a", "problem": null, "declared": [], "undeclared_incidents": 1}});
        let reread = json!({"vendor_status": {"checked_at": "b", "problem": "HTTP 503", "declared": [],
            "undeclared_incidents": 1}});
        assert!(between(&before, &reread).is_empty());
        let declared = json!({"vendor_status": {"checked_at": "c", "problem": null, "declared": [{"id": "x"}],
            "undeclared_incidents": 0}});
        assert_eq!(
            between(&before, &declared),
            ["vendor_status.declared: 0 → 1 entries", "vendor_status.undeclared_incidents: 1 → 0"]
        );
        assert_eq!(reason(&before, &declared, false), "the vendor's status page changed what it declared");
    }

    #[test]
    fn a_long_list_of_changes_is_cut_and_counted() {
        let before = json!({"days": (0..60).map(|_| json!({"down": 0})).collect::<Vec<_>>()});
        let after = json!({"days": (0..60).map(|_| json!({"down": 1})).collect::<Vec<_>>()});
        let lines = between(&before, &after);
        assert_eq!((lines.len(), lines.last().map(String::as_str)), (MAX_LINES + 1, Some("… and 20 more")));
    }
}
