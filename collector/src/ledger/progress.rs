//! How far each contract's ledger is: up to date, or being computed (built for the first time, or rebuilt after
//! its terms changed) with how much of the way is done. Read from the store, so every collector sharing it says
//! the same.

use jiff::{SignedDuration, Timestamp};

use super::{settle_horizon, upkeep, usable};
use crate::config::CollectorConfig;
use crate::store::LedgerState;
use slaprobe_sla::contract::Contract;

/// A ledger this far behind its settle horizon is still being computed (a few upkeep runs' worth of slack).
const BEHIND: SignedDuration = SignedDuration::from_mins(5);

/// How much of the way `contract`'s ledger has come at `now`, 0–100, while it is being computed (built, or
/// rebuilt after its terms changed); `None` once it is up to date.
fn recomputing_percent(
    config: &CollectorConfig,
    contract: &Contract,
    states: &[LedgerState],
    now: Timestamp,
) -> Option<f64> {
    let horizon = settle_horizon(config, contract, now);
    let Some(state) = usable(states, contract) else { return Some(0.0) };
    let slack = BEHIND + SignedDuration::try_from(upkeep::EVERY).unwrap_or(SignedDuration::ZERO);
    if horizon.duration_since(state.settled_until) <= slack {
        return None;
    }
    let whole = horizon.duration_since(state.rebuilt_from).as_secs_f64();
    let done = state.settled_until.duration_since(state.rebuilt_from).as_secs_f64();
    Some(if whole > 0.0 { (100.0 * done / whole).clamp(0.0, 100.0) } else { 0.0 })
}

/// The `/readyz` line: `ledger: up to date`, or which contracts' ledgers are being computed and how far.
pub fn readyz_line(config: &CollectorConfig, states: &[LedgerState], now: Timestamp) -> String {
    let recomputing: Vec<String> = config
        .contracts
        .iter()
        .filter_map(|contract| {
            let percent = recomputing_percent(config, contract, states, now)?;
            Some(format!("{} {percent:.0} %", contract.terms.id))
        })
        .collect();
    if recomputing.is_empty() {
        "ledger: up to date".to_owned()
    } else {
        format!("ledger: recomputing {}", recomputing.join(", "))
    }
}
