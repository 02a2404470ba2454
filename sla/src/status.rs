//! A contract's standing part way through its period: uptime so far, error budget left, the best uptime the
//! period can still end with, and the credit already certain. Pure like the rest of the engine: the moment
//! `as_of` is a parameter, not the clock.
//!
//! "So far" is the report of the whole period made at `as_of`: slices still to come are `future` and count
//! neither up nor down. The best case assumes every one of them is up; the credit that even the best case earns
//! is certain, whatever happens until the period ends.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;

use super::{Period, Report};
use crate::contract::{Contract, PeriodKind};

/// How a contract stands against its objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Uptime so far meets the objective.
    Ok,
    /// Uptime so far is below the objective; the period can still end above it.
    AtRisk,
    /// Even with no further downtime the period ends below the objective.
    Breached,
}

/// A contract's standing at `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContractStatus {
    /// The report of the period so far (made at `as_of`).
    pub so_far: Report,
    /// The moment it is computed for.
    pub as_of: Timestamp,
    /// The full period's end.
    pub period_end: Timestamp,
    /// Slices from `as_of` to the period's end.
    pub remaining_slices: u64,
    /// Error budget of the whole period, seconds: (eligible so far + remaining) × slice × (100 − objective) %.
    pub budget_seconds: f64,
    /// Budget left, seconds (negative once overspent).
    pub budget_left_seconds: f64,
    /// Uptime at the period's end if every remaining slice is up.
    pub best_case_uptime_percent: Option<f64>,
    /// Where the contract stands.
    pub standing: Standing,
    /// Credit percent that even the best case earns.
    #[serde(with = "rust_decimal::serde::float")]
    pub credit_certain_percent: Decimal,
    /// That credit in the contract's currency.
    #[serde(with = "rust_decimal::serde::float")]
    pub credit_certain_amount: Decimal,
}

/// The period of `contract` that contains `at`.
pub fn current_period(contract: &Contract, at: Timestamp) -> Result<Period, String> {
    let local = contract.tz.to_datetime(at);
    let label = match contract.terms.period {
        PeriodKind::Month => format!("{:04}-{:02}", local.year(), local.month()),
        PeriodKind::Quarter => format!("{:04}-Q{}", local.year(), (local.month() - 1) / 3 + 1),
    };
    super::parse_period(&label, contract.terms.period, &contract.tz)
}

/// The standing that `so_far`, the report of `contract`'s current `period` made at `as_of`, gives.
pub fn standing_of(contract: &Contract, period: &Period, as_of: Timestamp, so_far: Report) -> ContractStatus {
    let slice = so_far.slice_seconds as f64;
    let budget_fraction =
        f64::try_from((Decimal::ONE_HUNDRED - contract.terms.objective) / Decimal::ONE_HUNDRED).unwrap_or(0.0);
    let budget_seconds = (so_far.eligible_slices + so_far.future_slices) as f64 * slice * budget_fraction;
    let standing = match (so_far.met_at_best, so_far.met) {
        (Some(false), _) => Standing::Breached,
        (_, Some(false)) => Standing::AtRisk,
        _ => Standing::Ok,
    };
    ContractStatus {
        as_of,
        period_end: period.end,
        remaining_slices: so_far.future_slices,
        budget_left_seconds: budget_seconds - so_far.budget_used_seconds,
        budget_seconds,
        best_case_uptime_percent: so_far.best_case_uptime_percent,
        standing,
        credit_certain_amount: so_far.credit_certain_amount,
        credit_certain_percent: so_far.credit_certain_percent,
        so_far,
    }
}
