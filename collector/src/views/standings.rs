//! Each contract's standing in its current period, kept between requests: what rules 2–4 made of the slices the
//! ledger settled ([`PassPart`]) is kept per contract, the slices settled since are taken in from the ledger as
//! they settle, and only the slices not settled yet are read raw. A standing then costs the few rows and results
//! of the last minutes and one pass of the engine over the period's slice summaries, instead of a read of the
//! whole period; the overview, `/metrics` and each alert evaluation share what is kept.
//!
//! What is kept is read again whenever it could differ from the ledger: the period changed, the terms it was
//! judged under changed (the ledger's terms hash, `failed_ratio`, `combine`), the ledger was rebuilt, or settled
//! slices were folded again for late results (the ledger's `refolds`). While late results wait for the upkeep
//! (pending marks), the standing is read the way a report is ([`WindowPass::read`]) and nothing kept changes.
//! Either way the figures are those of a report made from the raw results.
//!
//! The collector brings what is kept up to date in the background ([`keep_up`]) from the moment it starts, so
//! a request rarely pays for the first read of a contract's month.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::window::{PassPart, WindowPass, pending_marks};
use crate::config::CollectorConfig;
use crate::store::{LedgerState, Store, StoreError};
use slaprobe_sla::contract::Contract;
use slaprobe_sla::engine::grid_of;
use slaprobe_sla::status::current_period;
use slaprobe_sla::{Period, evaluation_window};

/// How often [`keep_up`] brings every contract's kept standing up to date.
pub const REFRESH: Duration = Duration::from_secs(30);

/// Brings the kept part of every contract with a usable ledger up to date, at once and then every [`REFRESH`],
/// until `stop` (a contract whose ledger is being rebuilt is left to the requests, which read it raw meanwhile).
pub async fn keep_up(
    store: Store,
    config: watch::Receiver<Arc<CollectorConfig>>,
    standings: Standings,
    stop: CancellationToken,
) {
    loop {
        let current = config.borrow().clone();
        standings.retain(&current.contracts);
        if let Err(error) = standings.refresh(&store, &current.contracts, Timestamp::now()).await {
            tracing::warn!(%error, "Contract standings were not brought up to date this time; trying again shortly.");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(REFRESH) => {}
        }
    }
}

/// What the kept part was computed under; a change means reading it again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Under {
    period: (Timestamp, Timestamp),
    terms: String,
    rebuilt_from: Timestamp,
    refolds: u64,
}

/// One contract's kept part of its current period.
struct Kept {
    under: Under,
    /// The ledger's slices that end at or before this are in `part`.
    settled_until: Timestamp,
    part: PassPart,
}

/// One contract's slot: held while its kept part is brought up to date, so concurrent requests read the ledger
/// once.
type Slot = Arc<tokio::sync::Mutex<Option<Kept>>>;

/// The kept parts of every contract's current period; clones share them.
#[derive(Clone, Default)]
pub struct Standings {
    kept: Arc<Mutex<HashMap<String, Slot>>>,
}

impl Standings {
    /// Nothing kept yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the contracts not among `contracts` (removed from the configuration).
    pub fn retain(&self, contracts: &[Contract]) {
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.retain(|id, _| contracts.iter().any(|contract| contract.terms.id == *id));
    }

    /// What rules 2–4 make of `contract`'s results over the evaluation window of its current `period`, through
    /// the ledger `states` describe: the kept part brought up to the ledger, plus the slices not settled yet
    /// read raw. `None` when it must be read the way a report is (no usable ledger, or late results waiting for
    /// the upkeep).
    pub async fn current_part(
        &self,
        store: &Store,
        states: &[LedgerState],
        contract: &Contract,
        period: &Period,
    ) -> Result<Option<PassPart>, StoreError> {
        let Some(ledger) = crate::ledger::usable(states, contract) else { return Ok(None) };
        let (from, to) = evaluation_window(contract, period);
        let settled = ledger.settled_until.clamp(from, to);
        match pending_marks(store, contract, from, settled).await? {
            Some(dirty) if !dirty.iter().any(|(first, last)| *first < settled && *last >= from) => {}
            _ => return Ok(None),
        }
        let grid = grid_of(contract, period);
        let slice = SignedDuration::try_from(contract.terms.slice).unwrap_or(SignedDuration::MAX);
        let under = Under {
            period: (period.start, period.end),
            terms: format!("{} {} {:?}", ledger.terms_hash, contract.terms.failed_ratio, contract.terms.combine),
            rebuilt_from: ledger.rebuilt_from,
            refolds: ledger.refolds,
        };
        let entry = self.entry(&contract.terms.id);
        let mut entry = entry.lock().await;
        let kept = match entry.take() {
            Some(kept) if kept.under == under && kept.settled_until <= settled => kept,
            _ => Kept { under, settled_until: from, part: PassPart::empty(grid.slices()) },
        };
        let kept = entry.insert(kept);
        if settled > kept.settled_until {
            let after = kept.settled_until;
            let newly = grid.first_ending_after(after)..grid.first_ending_after(settled);
            let mut pass = WindowPass::over(contract, period, newly.clone(), period.start);
            let earliest = after.saturating_sub(slice).unwrap_or(from).max(from);
            pass.read_ledger(store, (earliest, settled), |_, end| end <= after).await?;
            kept.part.absorb(&pass.part(), newly);
            kept.settled_until = settled;
        }
        let rest = grid.first_ending_after(settled)..grid.slices();
        let mut pass = WindowPass::over(contract, period, rest.clone(), period.start);
        let earliest = settled.saturating_sub(slice).unwrap_or(from).max(from);
        pass.read_raw(store, vec![(earliest, to)], |_, end| end > settled).await?;
        let mut part = kept.part.clone();
        part.absorb(&pass.part(), rest);
        Ok(Some(part))
    }

    /// Brings the kept part of each of `contracts`' current period at `now` up to date.
    async fn refresh(&self, store: &Store, contracts: &[Contract], now: Timestamp) -> Result<(), StoreError> {
        let states = store.ledger_states().await?;
        for contract in contracts {
            if let Ok(period) = current_period(contract, now) {
                self.current_part(store, &states, contract, &period).await?;
            }
        }
        Ok(())
    }

    fn entry(&self, contract: &str) -> Slot {
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.entry(contract.to_owned()).or_default().clone()
    }
}
