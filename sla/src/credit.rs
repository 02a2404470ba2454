//! Rule 8: credits, in exact decimal arithmetic. Uptime is kept as the fraction `up / eligible` so that
//! comparisons with tier thresholds are exact: a tier applies when `below × eligible > 100 × up`.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::contract::Tier;

/// Uptime as an exact fraction of slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uptime {
    /// Eligible slices counted up.
    pub up: u64,
    /// Eligible slices; above zero.
    pub eligible: u64,
}

impl Uptime {
    /// Uptime from counts; `None` when nothing is eligible.
    pub fn new(up: u64, eligible: u64) -> Option<Self> {
        (eligible > 0).then_some(Self { up, eligible })
    }

    /// The percentage as a float, for display and JSON (full precision; round only for display).
    pub fn percent(self) -> f64 {
        100.0 * self.up as f64 / self.eligible as f64
    }

    /// True when the uptime is strictly below `threshold` percent.
    pub fn is_below(self, threshold: Decimal) -> bool {
        threshold * Decimal::from(self.eligible) > Decimal::ONE_HUNDRED * Decimal::from(self.up)
    }
}

/// The credit percent: the largest `credit` among tiers whose `below` exceeds the uptime, capped at `cap`.
/// No eligible time earns nothing.
pub fn credit_percent(tiers: &[Tier], cap: Decimal, uptime: Option<Uptime>) -> Decimal {
    let Some(uptime) = uptime else { return Decimal::ZERO };
    let earned = tiers.iter().filter(|tier| uptime.is_below(tier.below)).map(|tier| tier.credit).max();
    earned.unwrap_or(Decimal::ZERO).min(cap)
}

/// The credit amount: `fee × percent / 100`, rounded half away from zero to cents; zero if at or below
/// `min_amount`.
pub fn credit_amount(fee: Decimal, percent: Decimal, min_amount: Decimal) -> Decimal {
    let mut amount =
        (fee * percent / Decimal::ONE_HUNDRED).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    if amount <= min_amount {
        amount = Decimal::ZERO;
    }
    // Always two decimals, so the amount reads as money (`10.00`) wherever it is shown.
    amount.rescale(2);
    amount
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn tiers() -> Vec<Tier> {
        [("99.9", "10"), ("99.0", "25"), ("95.0", "100")]
            .iter()
            .map(|(below, credit)| Tier { below: dec(below), credit: dec(credit) })
            .collect()
    }

    #[test]
    fn tier_thresholds_are_exact() {
        // 99.9 % exactly is not below 99.9: no credit. One slice less is.
        let at_threshold = Uptime::new(999, 1000);
        assert_eq!(credit_percent(&tiers(), dec("100"), at_threshold), dec("0"));
        assert_eq!(credit_percent(&tiers(), dec("100"), Uptime::new(998, 1000)), dec("10"));
        assert_eq!(credit_percent(&tiers(), dec("100"), Uptime::new(989, 1000)), dec("25"));
        assert_eq!(credit_percent(&tiers(), dec("50"), Uptime::new(1, 1000)), dec("50"), "capped");
        assert_eq!(credit_percent(&tiers(), dec("100"), None), dec("0"), "no eligible time, no credit");
    }

    #[test]
    fn a_tier_above_100_percent_is_capped() {
        let generous: Vec<Tier> = [("99.9", "50"), ("99.0", "150"), ("95.0", "300")]
            .iter()
            .map(|(below, credit)| Tier { below: dec(below), credit: dec(credit) })
            .collect();
        assert_eq!(credit_percent(&generous, dec("100"), Uptime::new(998, 1000)), dec("50"));
        assert_eq!(credit_percent(&generous, dec("100"), Uptime::new(989, 1000)), dec("100"), "150 capped");
        assert_eq!(credit_percent(&generous, dec("100"), Uptime::new(1, 1000)), dec("100"), "300 capped");
        assert_eq!(credit_amount(dec("2000"), dec("100"), dec("0")), dec("2000.00"), "never more than the fee");
    }

    #[test]
    fn amounts_round_half_away_from_zero_and_respect_the_minimum() {
        assert_eq!(credit_amount(dec("2000"), dec("10"), dec("0")), dec("200.00"));
        assert_eq!(credit_amount(dec("0.25"), dec("10"), dec("0")), dec("0.03"), "0.025 rounds up");
        assert_eq!(credit_amount(dec("0.05"), dec("10"), dec("0")), dec("0.01"), "0.005 rounds up");
        assert_eq!(credit_amount(dec("10"), dec("10"), dec("1")), dec("0"), "1.00 is not above the minimum");
        assert_eq!(credit_amount(dec("10.1"), dec("10"), dec("1")), dec("1.01"));
    }
}
