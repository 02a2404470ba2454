//! Contracts as OpenSLO v1 documents (`docs/openslo.md`), so that teams keeping their SLOs as OpenSLO can share
//! slaprobe's: [`export`] writes each contract as an `SLI`, an `SLO` (budgeting method `Timeslices`: the
//! contract's slice and region quorum) and an `AlertPolicy` per alert OpenSLO can express; [`import`] reads such
//! documents back into contracts, saying what it could not express.
//!
//! OpenSLO has no place for money, maintenance windows or claim terms: the exported `SLO` carries the contract's
//! terms whole, as JSON, in the annotation [`TERMS_ANNOTATION`], so that a round trip gives the same contract;
//! what OpenSLO does express (target, time window, slice) wins on import when it was edited.

pub mod export;
pub mod import;

use rust_decimal::Decimal;
use serde_yaml_ng::Value;

/// The `apiVersion` of every document.
pub const API_VERSION: &str = "openslo/v1";
/// The `SLO` annotation holding the contract's terms as JSON.
pub const TERMS_ANNOTATION: &str = "slaprobe.io/terms";
/// The `SLO` annotation listing the contract's agent-local checks (`{ id, local: true }`), comma-separated.
pub const LOCAL_CHECKS_ANNOTATION: &str = "slaprobe.io/local-checks";
/// The `metricSource.type` of slaprobe's indicators.
pub const SOURCE_TYPE: &str = "slaprobe";
/// Longest `description` OpenSLO takes.
pub const MAX_DESCRIPTION: usize = 1050;

/// `text` as an OpenSLO object name (RFC 1123 label): lower case, `[a-z0-9-]`, at most 63 characters, starting
/// and ending with a letter or digit; `fallback` when nothing is left.
pub fn object_name(text: &str, fallback: &str) -> String {
    let mut name = String::new();
    for character in text.chars().flat_map(char::to_lowercase) {
        let kept = if character.is_ascii_lowercase() || character.is_ascii_digit() { character } else { '-' };
        if !(kept == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(kept);
        }
    }
    name.truncate(63);
    let name = name.trim_end_matches('-');
    if name.is_empty() { fallback.to_owned() } else { name.to_owned() }
}

/// `duration` in OpenSLO's shorthand (`5m`, `2h`, `1d`) when it is a whole number of minutes.
pub fn shorthand(duration: std::time::Duration) -> Option<String> {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() != 0 || seconds == 0 || !seconds.is_multiple_of(60) {
        return None;
    }
    Some(match seconds {
        _ if seconds.is_multiple_of(86_400) => format!("{}d", seconds / 86_400),
        _ if seconds.is_multiple_of(3_600) => format!("{}h", seconds / 3_600),
        _ => format!("{}m", seconds / 60),
    })
}

/// An OpenSLO duration shorthand or number of minutes (`timeSliceWindow` takes both) as a duration; months,
/// quarters and years are `None` (they are not of one length).
pub fn parse_shorthand(text: &str) -> Option<std::time::Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let count: u64 = number.parse().ok()?;
    let seconds = match unit {
        "" | "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(count.checked_mul(seconds)?))
}

/// `value` as a YAML number (an integer when it is whole) when one reads back as exactly `value`, else as its
/// decimal text, which slaprobe reads exactly too.
pub fn yaml_number(value: Decimal) -> Value {
    use rust_decimal::prelude::ToPrimitive;
    if value.fract().is_zero()
        && let Some(whole) = value.to_i64()
    {
        return Value::from(whole);
    }
    let float = value.to_f64().filter(|float| float.to_string().parse::<Decimal>().is_ok_and(|back| back == value));
    float.map_or_else(|| Value::from(value.to_string()), Value::from)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rust_decimal::Decimal;
    use serde_yaml_ng::Value;

    use super::{object_name, parse_shorthand, shorthand, yaml_number};

    #[test]
    fn amounts_are_numbers_that_read_back_exactly() {
        let number = |text: &str| yaml_number(text.parse::<Decimal>().unwrap());
        assert_eq!(number("100"), Value::from(100));
        assert_eq!(number("99.95"), Value::from(99.95));
        assert_eq!(number("0.666667"), Value::from(0.666667));
        assert_eq!(number("12345678901234567.891"), Value::from("12345678901234567.891"), "past f64: as text");
    }

    #[test]
    fn names_fit_rfc_1123_labels() {
        assert_eq!(object_name("acme.api_eu", "x"), "acme-api-eu");
        assert_eq!(object_name("Acme Corp.", "x"), "acme-corp");
        assert_eq!(object_name("--", "contract"), "contract");
        assert_eq!(object_name(&"a".repeat(70), "x").len(), 63);
    }

    #[test]
    fn durations_go_to_shorthand_and_back() {
        for (duration, text) in [(60, "1m"), (300, "5m"), (3_600, "1h"), (5_400, "90m"), (86_400, "1d")] {
            assert_eq!(shorthand(Duration::from_secs(duration)).as_deref(), Some(text));
            assert_eq!(parse_shorthand(text), Some(Duration::from_secs(duration)));
        }
        assert_eq!(shorthand(Duration::from_secs(30)), None, "not a whole minute");
        assert_eq!(parse_shorthand("5"), Some(Duration::from_secs(300)), "a bare number is minutes");
        assert_eq!(parse_shorthand("1M"), None);
        assert_eq!(parse_shorthand("m"), None);
    }
}
