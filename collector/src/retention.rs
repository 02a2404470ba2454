//! Retention: once an hour (the first time a minute after start), the collector holding the `retention` lease
//! rolls up the results of the last [`ROLLUP_WINDOW`] into per-minute counts (again each time, so late results
//! from a spool that was away are counted), deletes results older than `retention.results` (default 400 days),
//! and rollups and slice-ledger rows older than `retention.rollups` (default 5 years): the ledger keeps a period's
//! figures after its raw results are gone. Rollups cover the checks of the central list and
//! of the contracts. Each run is counted in the metrics with what it deleted.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::CollectorConfig;
use crate::metrics::CollectorMetrics;
use crate::store::{LeaseClaim, PrunedResults, Store, StoreError};

/// Time between runs.
pub const EVERY: Duration = Duration::from_secs(3600);
/// Wait after start before the first run.
const FIRST_AFTER: Duration = Duration::from_secs(60);
/// The lease outlives a run by far; a collector that dies holding it blocks retention for at most this long.
const LEASE: SignedDuration = SignedDuration::from_mins(30);

/// How far back each run recomputes the rollups.
pub const ROLLUP_WINDOW: SignedDuration = SignedDuration::from_hours(48);

/// What one run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Results, and the PostgreSQL partitions dropped whole.
    pub results: PrunedResults,
    /// Per-minute rollups.
    pub rollups: u64,
    /// Slice-ledger rows.
    pub ledger_slices: u64,
}

/// Rolls up and deletes the results of `store` past the retention of `config`, at `now`, if `holder` gets the
/// lease; what went (`None`: another collector holds the lease).
pub async fn prune_once(
    store: &Store,
    config: &CollectorConfig,
    holder: &str,
    now: Timestamp,
) -> Result<Option<Deleted>, StoreError> {
    let until = now.saturating_add(LEASE).unwrap_or(now);
    let claim = LeaseClaim { name: "retention".to_owned(), holder: holder.to_owned(), now, until };
    if !store.claim_lease(claim).await? {
        return Ok(None);
    }
    let mut checks: Vec<String> = config.checks.iter().map(|prepared| prepared.check.id.clone()).collect();
    checks.extend(config.contracts.iter().flat_map(|contract| contract.terms.checks.iter().cloned()));
    checks.sort();
    checks.dedup();
    store.roll_up(checks, now.saturating_sub(ROLLUP_WINDOW).unwrap_or(now), now).await?;
    let before = |keep: std::time::Duration| {
        now.saturating_sub(SignedDuration::try_from(keep).unwrap_or(SignedDuration::MAX)).unwrap_or(Timestamp::MIN)
    };
    let cutoff = before(config.retention.results);
    let results = store.prune_results(cutoff).await?;
    if results.results > 0 {
        let (deleted, partitions) = (results.results, results.partitions);
        tracing::info!(deleted, partitions, %cutoff, "Deleted results past retention.");
    }
    let rollups = store.prune_rollups(before(config.retention.rollups)).await?;
    let ledger_slices = store.prune_ledger(before(config.retention.rollups)).await?;
    Ok(Some(Deleted { results, rollups, ledger_slices }))
}

/// Runs [`prune_once`] every [`EVERY`] until `stop`, counting each run in `metrics`.
pub async fn run(
    store: Store,
    config: watch::Receiver<Arc<CollectorConfig>>,
    metrics: Arc<CollectorMetrics>,
    stop: CancellationToken,
) {
    let holder = crate::store::cluster::instance_name().to_owned();
    let mut wait = FIRST_AFTER;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        wait = EVERY;
        let current = config.borrow().clone();
        let operations = &metrics.operations;
        match prune_once(&store, &current, &holder, Timestamp::now()).await {
            Ok(Some(deleted)) => {
                operations.count_retention_run("done");
                let counts = [
                    ("results", deleted.results.results),
                    ("partitions", deleted.results.partitions),
                    ("rollups", deleted.rollups),
                    ("ledger_slices", deleted.ledger_slices),
                ];
                operations.count_retention_deleted(counts, Timestamp::now().as_second());
            }
            Ok(None) => operations.count_retention_run("not_holder"),
            Err(error) => {
                operations.count_retention_run("failed");
                tracing::warn!(%error, "Retention did not run; trying again in an hour.");
            }
        }
    }
    store.release_lease("retention", &holder).await;
}
