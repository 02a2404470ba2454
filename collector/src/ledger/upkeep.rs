//! Keeping the ledger: every few seconds, the collector holding the `ledger` lease (one of several sharing a
//! PostgreSQL store) judges rule 11's spans that are due ([`super::faults`]), then goes through the contracts. A
//! contract without a ledger, or whose terms changed, is started again from its first stored result; slices
//! marked by late results are folded again; then settled slices are folded up to the contract's settle horizon,
//! [`STEP`] at a time, each step that found results one transaction that also records how far the ledger is
//! (steps without results are recorded with the next that has some, or once they cover [`RECORD_QUIET`]). A
//! collector killed mid-way loses at most the steps since the last record, and the next run resumes from the
//! recorded point with the same outcome.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{earliest_of, fold_between, merged_ranges, settle_horizon, slice_length, terms_hash};
use crate::config::CollectorConfig;
use crate::outage::Outage;
use crate::store::{LeaseClaim, LedgerMark, LedgerState, LedgerWrite, Store, StoreError};
use slaprobe_sla::contract::Contract;

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
/// The most checks whose results are read together when the slices of contracts as far along are folded in step.
pub const CHECKS_PER_READ: usize = 16;
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
    let mut steps = super::faults::judge(store, config, &marks, now).await?;
    let mut settling = Vec::new();
    for contract in &config.contracts {
        let horizon = settle_horizon(config, contract, now);
        let slice = slice_length(contract);
        let mut state = match states.get(&contract.terms.id) {
            Some(state) if state.terms_hash == terms_hash(contract) => state.clone(),
            previous => start_again(store, contract, previous.is_some(), horizon).await?,
        };
        for (after, until) in marked_ranges(contract, &marks, state.settled_until) {
            let (slices, earliest) = fold_between(store, &[contract], after, until).await?.pop().unwrap_or_default();
            state.monitored_from = earliest_of(state.monitored_from, earliest);
            state.refolds += 1;
            steps += 1;
            store.write_ledger(LedgerWrite { state: state.clone(), reset: false, after, until, slice, slices }).await?;
        }
        settling.push(Settling { contract, horizon, written: state.settled_until, state });
    }
    // Contracts settled up to the same point with the same horizon are settled in step; those furthest along
    // first, so that a long rebuild does not hold up the ledgers that are nearly caught up.
    settling.sort_by_key(|member| std::cmp::Reverse((member.state.settled_until, member.horizon)));
    let in_step =
        |a: &Settling<'_>, b: &Settling<'_>| (a.state.settled_until, a.horizon) == (b.state.settled_until, b.horizon);
    for group in settling.chunk_by_mut(in_step) {
        for run in few_checks_at_a_time(group, |member| member.contract.terms.checks.len()) {
            steps += settle(store, run, started).await?;
        }
    }
    if !marks.is_empty() {
        store.clear_ledger_marks(marks.iter().map(|mark| mark.id).collect()).await?;
    }
    Ok(Some(steps))
}

/// `group` cut into runs of contracts that have at most [`CHECKS_PER_READ`] checks together (a contract with
/// more is a run of its own; `checks` says how many one has), so that a read of their results stays small.
fn few_checks_at_a_time<T>(group: &mut [T], checks: impl Fn(&T) -> usize) -> Vec<&mut [T]> {
    let mut runs = Vec::new();
    let mut rest = group;
    while !rest.is_empty() {
        let (mut together, mut taken) = (0, 0);
        for member in rest.iter() {
            let more = checks(member);
            if taken > 0 && together + more > CHECKS_PER_READ {
                break;
            }
            (together, taken) = (together + more, taken + 1);
        }
        let (run, tail) = std::mem::take(&mut rest).split_at_mut(taken);
        runs.push(run);
        rest = tail;
    }
    runs
}

/// A contract whose settled slices are being folded in this run.
struct Settling<'a> {
    contract: &'a Contract,
    /// Its settle horizon now.
    horizon: Timestamp,
    /// How far its ledger is, as this run has it.
    state: LedgerState,
    /// How far its ledger is recorded in the store.
    written: Timestamp,
}

/// Folds the settled slices of `group` (contracts settled up to the same point, with the same horizon) up to
/// their horizon, [`STEP`] at a time while the run's budget lasts: each step reads the group's results once,
/// and writes one transaction per contract that had results (or whose quiet steps are worth recording). The
/// number of steps written.
async fn settle(store: &Store, group: &mut [Settling<'_>], started: Instant) -> Result<u64, StoreError> {
    let contracts: Vec<&Contract> = group.iter().map(|member| member.contract).collect();
    let Some((mut settled, horizon)) = group.first().map(|first| (first.state.settled_until, first.horizon)) else {
        return Ok(0);
    };
    let mut steps = 0;
    while settled < horizon && started.elapsed() < RUN_BUDGET {
        let until = settled.saturating_add(STEP).unwrap_or(horizon).min(horizon);
        let folded = fold_between(store, &contracts, settled, until).await?;
        settled = until;
        let last = until >= horizon || started.elapsed() >= RUN_BUDGET;
        for (member, (slices, earliest)) in group.iter_mut().zip(folded) {
            member.state.monitored_from = earliest_of(member.state.monitored_from, earliest);
            member.state.settled_until = until;
            let worth_recording = last && until.duration_since(member.written) >= RECORD_QUIET;
            if slices.is_empty() && !worth_recording {
                continue;
            }
            steps += 1;
            let (after, slice) = (member.written, slice_length(member.contract));
            store
                .write_ledger(LedgerWrite { state: member.state.clone(), reset: false, after, until, slice, slices })
                .await?;
            member.written = until;
        }
    }
    if settled < horizon {
        for member in group {
            tracing::info!(
                contract = %member.contract.terms.id,
                settled_until = %member.state.settled_until,
                "Rebuilding the slice ledger: settled up to here; going on in the next run."
            );
        }
    }
    Ok(steps)
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
            .filter(|mark| mark.concerns(contract) && mark.from < settled_until)
            .map(|mark| (mark.from, mark.to.saturating_add(slice).unwrap_or(Timestamp::MAX).min(settled_until)))
            .collect(),
    )
}

/// Runs [`run_once`] every [`EVERY`] until `stop`.
pub async fn run(store: Store, config: watch::Receiver<Arc<CollectorConfig>>, stop: CancellationToken) {
    let holder = crate::store::cluster::instance_name().to_owned();
    let mut outage = Outage::default();
    loop {
        let current = config.borrow().clone();
        match run_once(&store, &current, &holder, Timestamp::now()).await {
            Ok(_) => {
                if let Some(ended) = outage.worked() {
                    tracing::info!(lasted = ?ended.lasted, failed_runs = ended.failures, "The slice ledger is kept up again.");
                }
            }
            Err(error) if outage.failed() => {
                tracing::warn!(%error, "The slice ledger was not kept up; trying again every 5 s (said once until it works).");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
    store.release_lease("ledger", &holder).await;
}

#[cfg(test)]
mod tests {
    use super::{CHECKS_PER_READ, few_checks_at_a_time};

    #[test]
    fn contracts_are_read_together_up_to_the_checks_a_read_may_cover() {
        let mut group = [3, 5, 8, 1, 20, 2, 16, 1];
        let runs: Vec<Vec<usize>> =
            few_checks_at_a_time(&mut group, |checks| *checks).into_iter().map(|run| run.to_vec()).collect();
        assert_eq!(CHECKS_PER_READ, 16);
        assert_eq!(runs, vec![vec![3, 5, 8], vec![1], vec![20], vec![2], vec![16], vec![1]]);
        assert!(few_checks_at_a_time(&mut [0usize; 0], |checks| *checks).is_empty());
    }
}
