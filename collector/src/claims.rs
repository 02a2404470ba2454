//! Credit claims: each closed period that leaves a credit owed becomes a claim, which the people who file it move
//! along `owed → submitted (date, reference) → accepted | rejected (reason) → paid (amount, date)`. A rejected
//! claim may be submitted again (an appeal); a vendor that credits the invoice without a word moves a submitted
//! claim straight to paid. When a later revision of the period changes the credit, the claim follows it: its
//! amount owed changes, and a claim still `owed` whose credit fell to nothing becomes `void` (and `owed` again
//! if a revision restores it).
//!
//! Every change, a person's or the collector's, is a [`ClaimEvent`] kept with the claim: who, when, from which
//! state to which, and what was entered. Nothing here reads a clock or the store: callers pass the moment and
//! store what comes back.

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Who the collector's own changes are recorded as.
pub const COLLECTOR_ACTOR: &str = "slaprobe";
/// Longest reference or reason a person may enter, in characters.
const MAX_TEXT: usize = 500;

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    /// The credit is owed and nobody has claimed it yet.
    Owed,
    /// Claimed from the vendor.
    Submitted,
    /// The vendor agreed.
    Accepted,
    /// The vendor refused.
    Rejected,
    /// The credit was received.
    Paid,
    /// A later revision of the period left no credit owed before anyone claimed it.
    Void,
}

impl ClaimState {
    /// Every state, in lifecycle order.
    pub const ALL: [Self; 6] = [Self::Owed, Self::Submitted, Self::Accepted, Self::Rejected, Self::Paid, Self::Void];

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owed => "owed",
            Self::Submitted => "submitted",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Paid => "paid",
            Self::Void => "void",
        }
    }

    /// From its stored form.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// Claimed and waiting for the vendor's answer or money.
    pub fn in_flight(self) -> bool {
        matches!(self, Self::Submitted | Self::Accepted)
    }
}

/// One claim: a contract's closed period with a credit owed, and how claiming it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// The contract.
    pub contract: String,
    /// The vendor, as the contract names it.
    pub vendor: String,
    /// The period (`2026-02`).
    pub period: String,
    /// Where it stands.
    pub state: ClaimState,
    /// The revision of the closed period the amount owed comes from.
    pub revision: u32,
    /// The credit the period's report says is owed.
    #[serde(with = "rust_decimal::serde::str")]
    pub owed: Decimal,
    /// Its currency.
    pub currency: String,
    /// The last day to claim (period end + `claim_window`), when the contract has one.
    pub deadline: Option<Timestamp>,
    /// When it was submitted to the vendor.
    pub submitted_on: Option<Date>,
    /// The vendor's case or ticket reference.
    pub reference: Option<String>,
    /// When the vendor accepted or rejected it.
    pub decided_on: Option<Date>,
    /// Why the vendor rejected it.
    pub rejection_reason: Option<String>,
    /// What the vendor paid or credited.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub paid_amount: Option<Decimal>,
    /// When.
    pub paid_on: Option<Date>,
    /// The last change.
    pub updated_at: Timestamp,
    /// Changes made so far (the events' count): a change applies only to the version it was made from.
    pub version: u32,
}

impl Claim {
    /// Owed and past its deadline at `now`.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.state == ClaimState::Owed && self.deadline.is_some_and(|deadline| deadline <= now)
    }
}

/// One recorded change of a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimEvent {
    /// The claim's version after this change (1 for the change that opened it).
    pub version: u32,
    /// When.
    pub at: Timestamp,
    /// The token's name of who made it, [`COLLECTOR_ACTOR`] for the collector's own, `anonymous` when the
    /// dashboard is open to everyone.
    pub actor: String,
    /// `open`, `revise`, or the person's action (`submit`, `accept`, `reject`, `pay`).
    pub action: String,
    /// The state before (none for `open`).
    pub from: Option<ClaimState>,
    /// The state after.
    pub to: ClaimState,
    /// What was entered or what changed, in words.
    pub detail: String,
}

/// What a person does to a claim (the API's request body).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClaimAction {
    /// Claimed from the vendor on `on`, under `reference`.
    Submit {
        /// The day it was submitted.
        on: Date,
        /// The vendor's case or ticket reference.
        reference: String,
    },
    /// The vendor accepted on `on`.
    Accept {
        /// The day of the decision.
        on: Date,
    },
    /// The vendor rejected on `on`, saying `reason`.
    Reject {
        /// The day of the decision.
        on: Date,
        /// What the vendor said.
        reason: String,
    },
    /// The vendor paid or credited `amount` on `on`.
    Pay {
        /// The day it was received.
        on: Date,
        /// How much, in the claim's currency (a string such as `"120.50"`, or a number).
        amount: Decimal,
    },
}

impl ClaimAction {
    /// The action's name, as recorded.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Submit { .. } => "submit",
            Self::Accept { .. } => "accept",
            Self::Reject { .. } => "reject",
            Self::Pay { .. } => "pay",
        }
    }

    /// The states the action may be taken from.
    fn allowed_from(&self) -> &'static [ClaimState] {
        match self {
            Self::Submit { .. } => &[ClaimState::Owed, ClaimState::Rejected],
            Self::Accept { .. } | Self::Reject { .. } => &[ClaimState::Submitted],
            Self::Pay { .. } => &[ClaimState::Submitted, ClaimState::Accepted],
        }
    }
}

/// Why an action was refused (the API answers 409 for [`ActionRefused::State`], 400 otherwise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionRefused {
    /// The claim is not in a state the action applies to.
    #[error("a claim that is {state} cannot be {action}; {action} applies to a claim that is {allowed}")]
    State {
        /// The claim's state.
        state: &'static str,
        /// The action, as a past participle.
        action: &'static str,
        /// The states it applies to.
        allowed: String,
    },
    /// A field is unusable.
    #[error("{field}: {problem}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// Checks a person's free text: present, not too long, one line.
fn text(field: &'static str, value: &str) -> Result<String, ActionRefused> {
    let value = value.trim();
    let problem = if value.is_empty() {
        Some("must not be empty".to_owned())
    } else if value.chars().count() > MAX_TEXT {
        Some(format!("longer than {MAX_TEXT} characters"))
    } else if value.chars().any(char::is_control) {
        Some("must be one line without control characters".to_owned())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(ActionRefused::Field { field, problem }),
        None => Ok(value.to_owned()),
    }
}

/// Refuses a date after `today` (a claim cannot be decided tomorrow).
fn not_future(on: Date, today: Date) -> Result<Date, ActionRefused> {
    if on > today {
        return Err(ActionRefused::Field { field: "on", problem: format!("{on} is after today ({today} UTC)") });
    }
    Ok(on)
}

/// `claim` after `action`, taken by `actor` at `now`, with the event that records it.
pub fn apply(
    claim: &Claim,
    action: &ClaimAction,
    actor: &str,
    now: Timestamp,
) -> Result<(Claim, ClaimEvent), ActionRefused> {
    let allowed = action.allowed_from();
    if !allowed.contains(&claim.state) {
        let participle = match action {
            ClaimAction::Submit { .. } => "submitted",
            ClaimAction::Accept { .. } => "accepted",
            ClaimAction::Reject { .. } => "rejected",
            ClaimAction::Pay { .. } => "paid",
        };
        let allowed: Vec<&str> = allowed.iter().map(|state| state.as_str()).collect();
        return Err(ActionRefused::State {
            state: claim.state.as_str(),
            action: participle,
            allowed: allowed.join(" or "),
        });
    }
    let today = jiff::tz::TimeZone::UTC.to_datetime(now).date();
    let mut next = claim.clone();
    let detail = match action {
        ClaimAction::Submit { on, reference } => {
            let reference = text("reference", reference)?;
            next.state = ClaimState::Submitted;
            next.submitted_on = Some(not_future(*on, today)?);
            next.decided_on = None;
            next.rejection_reason = None;
            let detail = format!("submitted on {on}, reference {reference}");
            next.reference = Some(reference);
            detail
        }
        ClaimAction::Accept { on } => {
            next.state = ClaimState::Accepted;
            next.decided_on = Some(not_future(*on, today)?);
            format!("accepted on {on}")
        }
        ClaimAction::Reject { on, reason } => {
            let reason = text("reason", reason)?;
            next.state = ClaimState::Rejected;
            next.decided_on = Some(not_future(*on, today)?);
            let detail = format!("rejected on {on}: {reason}");
            next.rejection_reason = Some(reason);
            detail
        }
        ClaimAction::Pay { on, amount } => {
            if *amount <= Decimal::ZERO || amount.scale() > 2 {
                return Err(ActionRefused::Field {
                    field: "amount",
                    problem: format!("{amount} is not a positive amount in cents"),
                });
            }
            let mut amount = *amount;
            amount.rescale(2);
            next.state = ClaimState::Paid;
            next.paid_on = Some(not_future(*on, today)?);
            next.paid_amount = Some(amount);
            let mut detail = format!("{amount} {} received on {on}", claim.currency);
            if amount != claim.owed {
                detail.push_str(&format!(" (owed {} {})", claim.owed, claim.currency));
            }
            detail
        }
    };
    Ok(stamp(claim, next, action.name(), actor, now, detail))
}

/// The credit a closed period's revision leaves owed, as the claim sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisedCredit<'a> {
    /// The contract.
    pub contract: &'a str,
    /// Its vendor.
    pub vendor: &'a str,
    /// The period.
    pub period: &'a str,
    /// The revision.
    pub revision: u32,
    /// The credit owed.
    pub amount: Decimal,
    /// Its currency.
    pub currency: &'a str,
    /// The claim deadline.
    pub deadline: Option<Timestamp>,
}

/// What the claim of a period becomes after `credit`, a revision of that period, at `now`: `None` when nothing
/// changes (no claim and no credit, or the claim already follows this revision).
pub fn follow_revision(
    claim: Option<&Claim>,
    credit: &RevisedCredit<'_>,
    now: Timestamp,
) -> Option<(Claim, ClaimEvent)> {
    let owed = credit.amount > Decimal::ZERO;
    let Some(claim) = claim else {
        if !owed {
            return None;
        }
        let opened = Claim {
            contract: credit.contract.to_owned(),
            vendor: credit.vendor.to_owned(),
            period: credit.period.to_owned(),
            state: ClaimState::Owed,
            revision: credit.revision,
            owed: credit.amount,
            currency: credit.currency.to_owned(),
            deadline: credit.deadline,
            submitted_on: None,
            reference: None,
            decided_on: None,
            rejection_reason: None,
            paid_amount: None,
            paid_on: None,
            updated_at: now,
            version: 1,
        };
        let detail = format!("revision {}: {} {} owed", credit.revision, credit.amount, credit.currency);
        let event = ClaimEvent {
            version: 1,
            at: now,
            actor: COLLECTOR_ACTOR.to_owned(),
            action: "open".to_owned(),
            from: None,
            to: ClaimState::Owed,
            detail,
        };
        return Some((opened, event));
    };
    if claim.revision >= credit.revision {
        return None;
    }
    let mut next = claim.clone();
    next.revision = credit.revision;
    next.owed = credit.amount;
    next.currency = credit.currency.to_owned();
    next.deadline = credit.deadline;
    next.state = match claim.state {
        ClaimState::Owed if !owed => ClaimState::Void,
        ClaimState::Void if owed => ClaimState::Owed,
        state => state,
    };
    let detail = format!(
        "revision {}: {} {} owed (was {} {} by revision {})",
        credit.revision, credit.amount, credit.currency, claim.owed, claim.currency, claim.revision
    );
    Some(stamp(claim, next, "revise", COLLECTOR_ACTOR, now, detail))
}

/// One currency's claims summed up: what the Claims page, the API and `/metrics` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrencyTotals {
    /// The currency.
    pub currency: String,
    /// Owed and not yet claimed.
    #[serde(with = "rust_decimal::serde::str")]
    pub owed: Decimal,
    /// Of those, past their deadline.
    #[serde(with = "rust_decimal::serde::str")]
    pub overdue: Decimal,
    /// Claimed and waiting for the vendor (submitted or accepted).
    #[serde(with = "rust_decimal::serde::str")]
    pub in_flight: Decimal,
    /// Paid in the calendar year (UTC) of the moment asked about.
    #[serde(with = "rust_decimal::serde::str")]
    pub recovered_this_year: Decimal,
    /// Claims in each state.
    pub claims: std::collections::BTreeMap<ClaimState, u64>,
    /// Claims owed past their deadline.
    pub overdue_claims: u64,
}

/// `claims` summed per currency at `now`, by currency.
pub fn totals(claims: &[Claim], now: Timestamp) -> Vec<CurrencyTotals> {
    let year = jiff::tz::TimeZone::UTC.to_datetime(now).year();
    let mut totals: std::collections::BTreeMap<&str, CurrencyTotals> = std::collections::BTreeMap::new();
    for claim in claims {
        let sums = totals.entry(&claim.currency).or_insert_with(|| CurrencyTotals {
            currency: claim.currency.clone(),
            owed: Decimal::ZERO,
            overdue: Decimal::ZERO,
            in_flight: Decimal::ZERO,
            recovered_this_year: Decimal::ZERO,
            claims: ClaimState::ALL.into_iter().map(|state| (state, 0)).collect(),
            overdue_claims: 0,
        });
        *sums.claims.entry(claim.state).or_default() += 1;
        match claim.state {
            ClaimState::Owed => sums.owed += claim.owed,
            state if state.in_flight() => sums.in_flight += claim.owed,
            ClaimState::Paid if claim.paid_on.is_some_and(|on| on.year() == year) => {
                sums.recovered_this_year += claim.paid_amount.unwrap_or_default();
            }
            _ => {}
        }
        if claim.overdue(now) {
            sums.overdue += claim.owed;
            sums.overdue_claims += 1;
        }
    }
    totals.into_values().collect()
}

/// `next` as the version after `claim`, with the event recording the change.
fn stamp(
    claim: &Claim,
    mut next: Claim,
    action: &str,
    actor: &str,
    now: Timestamp,
    detail: String,
) -> (Claim, ClaimEvent) {
    next.version = claim.version + 1;
    next.updated_at = now;
    let event = ClaimEvent {
        version: next.version,
        at: now,
        actor: actor.to_owned(),
        action: action.to_owned(),
        from: Some(claim.state),
        to: next.state,
        detail,
    };
    (next, event)
}

#[cfg(test)]
mod tests;
