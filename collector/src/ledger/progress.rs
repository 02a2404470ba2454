//! How far each contract's ledger is: up to date, or being computed (built for the first time, or rebuilt after
//! its terms changed) with how much of the way is done. Read from the store, so every collector sharing it says
//! the same.

use jiff::{SignedDuration, Timestamp};

use super::{SETTLE_EXTRA, terms_hash, upkeep};
use crate::config::CollectorConfig;
use crate::contract::Contract;
use crate::store::LedgerState;

/// A ledger this far behind its settle horizon is still being computed (a few upkeep runs' worth of slack).
const BEHIND: SignedDuration = SignedDuration::from_mins(5);

/// One contract's ledger.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerProgress {
    /// Settled up to the settle horizon.
    UpToDate,
    /// Being computed: `percent` of the way from where it started to the settle horizon.
    Recomputing {
        /// Share done, 0–100.
        percent: f64,
        /// Settled up to here.
        settled_until: Option<Timestamp>,
    },
}

/// `contract`'s ledger at `now`, from the stored `states`.
pub fn of(config: &CollectorConfig, contract: &Contract, states: &[LedgerState], now: Timestamp) -> LedgerProgress {
    let horizon =
        now.saturating_sub(config.settle_time(contract)).and_then(|at| at.saturating_sub(SETTLE_EXTRA)).unwrap_or(now);
    let hash = terms_hash(contract);
    let Some(state) = states.iter().find(|state| state.contract == contract.terms.id && state.terms_hash == hash)
    else {
        return LedgerProgress::Recomputing { percent: 0.0, settled_until: None };
    };
    let lag = horizon.duration_since(state.settled_until);
    if lag <= BEHIND + SignedDuration::try_from(upkeep::EVERY).unwrap_or(SignedDuration::ZERO) {
        return LedgerProgress::UpToDate;
    }
    let whole = horizon.duration_since(state.rebuilt_from).as_secs_f64();
    let done = state.settled_until.duration_since(state.rebuilt_from).as_secs_f64();
    let percent = if whole > 0.0 { (100.0 * done / whole).clamp(0.0, 100.0) } else { 0.0 };
    LedgerProgress::Recomputing { percent, settled_until: Some(state.settled_until) }
}

/// The `/readyz` line: `ledger: up to date`, or which contracts' ledgers are being computed and how far.
pub fn readyz_line(config: &CollectorConfig, states: &[LedgerState], now: Timestamp) -> String {
    let recomputing: Vec<String> = config
        .contracts
        .iter()
        .filter_map(|contract| match of(config, contract, states, now) {
            LedgerProgress::UpToDate => None,
            LedgerProgress::Recomputing { percent, .. } => Some(format!("{} {percent:.0} %", contract.terms.id)),
        })
        .collect();
    if recomputing.is_empty() {
        "ledger: up to date".to_owned()
    } else {
        format!("ledger: recomputing {}", recomputing.join(", "))
    }
}
