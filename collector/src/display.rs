//! How figures read for people (dashboard and claim document); the exact values stay in JSON and CSV.
//!
//! Percentages are cut, not rounded, to the digits shown: 99.89996 % shows as 99.899 %, never as a 99.900 % that
//! seems to meet a 99.9 % objective it misses. Durations read like `1h 40m 5s`; money has two decimals.

use rust_decimal::{Decimal, RoundingStrategy};

/// `value` cut to `digits` decimals with a percent sign, or `no data`.
pub fn percent(value: Option<f64>, digits: usize) -> String {
    let Some(value) = value else { return "no data".to_owned() };
    let scale = 10f64.powi(i32::try_from(digits).unwrap_or(6));
    // The nudge keeps values that are exact decimals (99.768 computed as 99.76799999…) at their digits.
    let cut = ((value * scale) + 1e-6).floor() / scale;
    format!("{cut:.digits$} %")
}

/// `amount` with two decimals and the currency.
pub fn money(amount: Decimal, currency: &str) -> String {
    format!("{:.2} {currency}", amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
}

/// Whole seconds as `1h 40m 5s` (`0s` for none); negative as `-1h 40m`.
pub fn duration(seconds: f64) -> String {
    let whole = seconds.round();
    let text = humantime::format_duration(std::time::Duration::from_secs(whole.abs() as u64)).to_string();
    if whole < 0.0 { format!("-{text}") } else { text }
}

/// How a day with `uptime` reads against `objective` in the availability strips: `up` (met), `low` (missed,
/// at least 99 %), `bad` (below 99 %) or `none` (no eligible data). Colours are for reading only.
pub fn day_class(uptime: Option<f64>, objective: f64) -> &'static str {
    match uptime {
        None => "none",
        Some(uptime) if uptime >= objective => "up",
        Some(uptime) if uptime >= 99.0 => "low",
        Some(_) => "bad",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_cut_not_rounded() {
        assert_eq!(percent(Some(99.899_96), 3), "99.899 %");
        assert_eq!(percent(Some(99.768_518_5), 4), "99.7685 %");
        assert_eq!(percent(Some(99.768), 3), "99.768 %");
        assert_eq!(percent(Some(100.0), 3), "100.000 %");
        assert_eq!(percent(None, 3), "no data");
    }

    #[test]
    fn durations_and_money_read_plainly() {
        assert_eq!(duration(6_000.0), "1h 40m");
        assert_eq!(duration(-75.4), "-1m 15s");
        assert_eq!(duration(0.0), "0s");
        assert_eq!(money(Decimal::new(20_000, 2), "USD"), "200.00 USD");
        assert_eq!(money(Decimal::new(12_345, 3), "EUR"), "12.35 EUR");
    }
}
