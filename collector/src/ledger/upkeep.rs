//! Keeping the ledger: every few seconds, the collector holding the `ledger` lease (one of several sharing a
//! PostgreSQL store) goes through the contracts. A contract without a ledger, or whose terms changed, is
//! started again from its first stored result; slices marked by late results are folded again; then settled
//! slices are folded up to the contract's settle horizon, [`STEP`] at a time, each step that found results one
//! transaction that also records how far the ledger is (steps without results are recorded with the next that
//! has some, or once they cover [`RECORD_QUIET`]). A collector killed mid-way loses at most the steps since the
//! last record, and the next run resumes from the recorded point with the same outcome.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{earliest_of, fold_between, merged_ranges, settle_horizon, slice_length, terms_hash};
use crate::config::CollectorConfig;
use crate::contract::Contract;
use crate::store::{LeaseClaim, LedgerMark, LedgerState, LedgerWrite, Store, StoreError};

/// Time between runs.
pub const EVERY: Duration = Duration::from_secs(5);
/// How much of a contract's timeline one step folds (one transaction).
pub const STEP: SignedDuration = SignedDuration::from_hours(6);
/// A run stops starting steps after this long, so that a long rebuild leaves room for the other contracts and
/// renews the lease; the next run goes on.
const RUN_BUDGET: Duration = Duration::from_secs(20);
/// The lease outlives a run; a collector that dies holding it stops the upkeep for at most this long.
const LEASE: SignedDuration = SignedDuration::from_secs(60);
/// Steps that found no results are recorded only once they cover this much: a quiet contract's ledger is
/// recorded every few runs rather than on each (readers read the unrecorded minutes from raw results).
const RECORD_QUIET: SignedDuration = SignedDuration::from_mins(2);
/// Marks taken per run.
const MARKS_PER_RUN: u32 = 10_000;

/// One run over every contract of `config` at `now`: how many steps it wrote, if `holder` got the lease
/// (`None`: another collector holds it).
pub async fn run_once(
    store: &Store,
    config: &CollectorConfig,
    holder: &str,
    now: Timestamp,
) -> Result<Option<u64>, StoreError> {
    let until = now.saturating_add(LEASE).unwrap_or(now);
    let claim = LeaseClaim { name: "ledger".to_owned(), holder: holder.to_owned(), now, until };
    if !store.claim_lease(claim).await? {
        return Ok(None);
    }
    let started = Instant::now();
    let states: BTreeMap<String, LedgerState> =
        store.ledger_states().await?.into_iter().map(|state| (state.contract.clone(), state)).collect();
    let marks = store.ledger_marks(MARKS_PER_RUN).await?;
    let mut steps = 0;
    for contract in &config.contracts {
        let horizon = settle_horizon(config, contract, now);
        let slice = slice_length(contract);
        let mut state = match states.get(&contract.terms.id) {
            Some(state) if state.terms_hash == terms_hash(contract) => state.clone(),
            previous => start_again(store, contract, previous.is_some(), horizon).await?,
        };
        for (after, until) in marked_ranges(contract, &marks, state.settled_until) {
            let (slices, earliest) = fold_between(store, contract, after, until).await?;
            state.monitored_from = earliest_of(state.monitored_from, earliest);
            state.refolds += 1;
            steps += 1;
            store.write_ledger(LedgerWrite { state: state.clone(), reset: false, after, until, slice, slices }).await?;
        }
        let mut written = state.settled_until;
        while state.settled_until < horizon && started.elapsed() < RUN_BUDGET {
            let after = state.settled_until;
            let until = after.saturating_add(STEP).unwrap_or(horizon).min(horizon);
            let (slices, earliest) = fold_between(store, contract, after, until).await?;
            state.monitored_from = earliest_of(state.monitored_from, earliest);
            state.settled_until = until;
            let last = until >= horizon || started.elapsed() >= RUN_BUDGET;
            let worth_recording = last && until.duration_since(written) >= RECORD_QUIET;
            if slices.is_empty() && !worth_recording {
                continue;
            }
            steps += 1;
            let step = LedgerWrite { state: state.clone(), reset: false, after: written, until, slice, slices };
            store.write_ledger(step).await?;
            written = until;
        }
        if state.settled_until < horizon {
            tracing::info!(
                contract = %contract.terms.id,
                settled_until = %state.settled_until,
                "Rebuilding the slice ledger: settled up to here; going on in the next run."
            );
        }
    }
    if !marks.is_empty() {
        store.clear_ledger_marks(marks.iter().map(|mark| mark.id).collect()).await?;
    }
    Ok(Some(steps))
}

/// Starts `contract`'s ledger again from its first stored result (it had none, or its terms changed).
async fn start_again(
    store: &Store,
    contract: &Contract,
    changed: bool,
    horizon: Timestamp,
) -> Result<LedgerState, StoreError> {
    let first = store.first_result_at(&contract.terms.checks).await?;
    let from = first.unwrap_or(horizon).min(horizon);
    if changed {
        tracing::info!(
            contract = %contract.terms.id,
            %from,
            "The contract's terms changed: rebuilding its slice ledger."
        );
    } else {
        tracing::info!(contract = %contract.terms.id, %from, "Building the contract's slice ledger.");
    }
    let state = LedgerState {
        contract: contract.terms.id.clone(),
        terms_hash: terms_hash(contract),
        rebuilt_from: from,
        settled_until: from,
        monitored_from: first,
        refolds: 0,
    };
    let slice = slice_length(contract);
    let write = LedgerWrite { state: state.clone(), reset: true, after: from, until: from, slice, slices: Vec::new() };
    store.write_ledger(write).await?;
    Ok(state)
}

/// The ranges of slice ends to fold again for `contract`'s marks: a mark's results lie in the slices ending
/// after its first `started_at` and at most one slice after its last, cut at `settled_until` (the rest is not
/// settled yet); overlapping or touching ranges are merged.
fn marked_ranges(contract: &Contract, marks: &[LedgerMark], settled_until: Timestamp) -> Vec<(Timestamp, Timestamp)> {
    let slice = slice_length(contract);
    merged_ranges(
        marks
            .iter()
            .filter(|mark| contract.terms.checks.contains(&mark.check_id) && mark.from < settled_until)
            .map(|mark| (mark.from, mark.to.saturating_add(slice).unwrap_or(Timestamp::MAX).min(settled_until)))
            .collect(),
    )
}

/// Runs [`run_once`] every [`EVERY`] until `stop`.
pub async fn run(store: Store, config: watch::Receiver<Arc<CollectorConfig>>, stop: CancellationToken) {
    let holder = format!("collector-{}-{}", std::process::id(), Timestamp::now().as_nanosecond());
    loop {
        let current = config.borrow().clone();
        if let Err(error) = run_once(&store, &current, &holder, Timestamp::now()).await {
            tracing::warn!(%error, "The slice ledger was not kept up this time; trying again shortly.");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
