//! Rule 1: periods. `2026-02` is a calendar month and `2026-Q1` a calendar quarter, cut at local midnight in the
//! contract's time zone (March 2024 in America/New_York has 44,580 minutes).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::contract::PeriodKind;

/// A reporting period: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// As given: `2026-02` or `2026-Q1`.
    pub label: String,
    /// Local midnight of the first day.
    pub start: Timestamp,
    /// Local midnight of the first day of the next period.
    pub end: Timestamp,
}

/// Parses `label` for a contract whose periods are `kind`, cutting at local midnight in `tz`.
pub fn parse_period(label: &str, kind: PeriodKind, tz: &TimeZone) -> Result<Period, String> {
    let (year, rest) = label
        .split_once('-')
        .and_then(|(year, rest)| Some((year.parse::<i16>().ok()?, rest)))
        .ok_or_else(|| format!("{label:?} is not a period like 2026-02 or 2026-Q1"))?;
    let (first_month, months) = match (kind, rest.strip_prefix('Q')) {
        (PeriodKind::Quarter, Some(quarter)) => match quarter.parse::<i8>() {
            Ok(quarter @ 1..=4) => ((quarter - 1) * 3 + 1, 3),
            _ => return Err(format!("{label:?}: the quarter must be Q1 to Q4")),
        },
        (PeriodKind::Month, None) => match rest.parse::<i8>() {
            Ok(month @ 1..=12) if rest.len() == 2 => (month, 1),
            _ => return Err(format!("{label:?}: the month must be 01 to 12")),
        },
        (PeriodKind::Quarter, None) => {
            return Err(format!("{label:?}: this contract's periods are quarters (2026-Q1)"));
        }
        (PeriodKind::Month, Some(_)) => return Err(format!("{label:?}: this contract's periods are months (2026-02)")),
    };
    let first = Date::new(year, first_month, 1).map_err(|error| format!("{label:?}: {error}"))?;
    let next = first.checked_add(jiff::Span::new().months(months)).map_err(|error| format!("{label:?}: {error}"))?;
    let midnight = |date: Date| {
        date.to_zoned_datetime(tz.clone()).map(|zoned| zoned.timestamp()).map_err(|error| format!("{label:?}: {error}"))
    };
    Ok(Period { label: label.to_owned(), start: midnight(first)?, end: midnight(next)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(period: &Period) -> i64 {
        (period.end.as_second() - period.start.as_second()) / 60
    }

    #[test]
    fn months_and_quarters_cut_at_local_midnight() {
        let utc = TimeZone::UTC;
        let april = parse_period("2026-04", PeriodKind::Month, &utc).unwrap();
        assert_eq!((april.start.to_string().as_str(), minutes(&april)), ("2026-04-01T00:00:00Z", 43_200));
        let new_york = TimeZone::get("America/New_York").unwrap();
        let march = parse_period("2024-03", PeriodKind::Month, &new_york).unwrap();
        assert_eq!(minutes(&march), 44_580, "DST starts in March: one hour short");
        assert_eq!(march.start.to_string(), "2024-03-01T05:00:00Z");
        let q4 = parse_period("2025-Q4", PeriodKind::Quarter, &utc).unwrap();
        assert_eq!(
            (q4.start.to_string().as_str(), q4.end.to_string().as_str()),
            ("2025-10-01T00:00:00Z", "2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn malformed_or_mismatched_labels_are_rejected() {
        let utc = TimeZone::UTC;
        for (label, kind, expected) in [
            ("2026-13", PeriodKind::Month, "01 to 12"),
            ("2026-2", PeriodKind::Month, "01 to 12"),
            ("2026-Q5", PeriodKind::Quarter, "Q1 to Q4"),
            ("2026-Q1", PeriodKind::Month, "periods are months"),
            ("2026-01", PeriodKind::Quarter, "periods are quarters"),
            ("February", PeriodKind::Month, "not a period"),
        ] {
            let error = parse_period(label, kind, &utc).unwrap_err();
            assert!(error.contains(expected), "{label}: {error}");
        }
    }
}
