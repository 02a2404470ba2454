//! A contract's standing part way through its period: uptime so far, error budget left, the best uptime the
//! period can still end with, and the credit already certain. Pure like the rest of the engine: the moment
//! `as_of` is a parameter, not the clock.
//!
//! "So far" is the report of the period cut at the last slice boundary before `as_of` (so slices still to
//! come count neither up nor down). The best case assumes every remaining slice is up; the credit that even
//! the best case earns is certain, whatever happens until the period ends.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;
use slaprobe_proto::ResultRecord;

use super::credit::{Uptime, credit_amount, credit_percent};
use super::{Period, Report, evaluate};
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
    /// The report of the period so far (cut at `as_of`).
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

/// The standing of `contract` in `period` at `as_of`, from `results`.
pub fn status(contract: &Contract, period: &Period, as_of: Timestamp, results: &[ResultRecord]) -> ContractStatus {
    let slice = i64::try_from(contract.terms.slice.as_secs()).unwrap_or(i64::MAX).max(1);
    let clamped = as_of.clamp(period.start, period.end);
    let elapsed_slices = (clamped.as_second() - period.start.as_second()) / slice;
    let cut = Timestamp::from_second(period.start.as_second() + elapsed_slices * slice).unwrap_or(period.start);
    let so_far_period = Period { label: period.label.clone(), start: period.start, end: cut };
    let so_far = evaluate(contract, &so_far_period, results);
    let remaining_slices = u64::try_from((period.end.as_second() - cut.as_second()) / slice).unwrap_or(0);
    let terms = &contract.terms;
    let eligible_at_end = so_far.eligible_slices + remaining_slices;
    let down = so_far.down_slices.min(so_far.eligible_slices);
    let best_case = Uptime::new(eligible_at_end - down, eligible_at_end);
    let budget_fraction = f64::try_from((Decimal::ONE_HUNDRED - terms.objective) / Decimal::ONE_HUNDRED).unwrap_or(0.0);
    let budget_seconds = eligible_at_end as f64 * slice as f64 * budget_fraction;
    let standing = match (best_case, so_far.met) {
        (Some(best), _) if best.is_below(terms.objective) => Standing::Breached,
        (_, Some(false)) => Standing::AtRisk,
        _ => Standing::Ok,
    };
    let credit_certain_percent = credit_percent(&terms.credits.tiers, terms.credits.cap, best_case);
    ContractStatus {
        as_of,
        period_end: period.end,
        remaining_slices,
        budget_left_seconds: budget_seconds - so_far.budget_used_seconds,
        budget_seconds,
        best_case_uptime_percent: best_case.map(Uptime::percent),
        standing,
        credit_certain_amount: credit_amount(terms.credits.fee, credit_certain_percent, terms.credits.min_amount),
        credit_certain_percent,
        so_far,
    }
}
