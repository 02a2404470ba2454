//! The store: where results live once the collector has them. Callers use [`Store`]; which engine is behind it
//! (the embedded SQLite file, or PostgreSQL for several collectors) is the store's business.
//!
//! Writes are idempotent: a result is keyed by `(agent_id, seq)`, and storing it again changes nothing, so an
//! agent may replay after a reconnect without creating duplicates. A write returns only once committed durably.
//!
//! Beside the results the store keeps the evidence about the evidence: each agent's registry entry (version,
//! last seen, spool backlog, clock offset), the gaps agents report when their spool dropped results, the results
//! the collector refused with the reason, and per-result flags (clock suspect, unknown check); and the log of
//! notification deliveries; alerts with their escalation, plus the leases that make one collector of several
//! evaluate them; closed periods with the claims they open; what vendors' status pages declared; each agent's
//! view of itself; and the spans in which rule 11 set an agent's results aside.
//!
//! Layout:
//! - [`records`]: what the store keeps beside results.
//! - [`evidence`]: agents' keys, signed checkpoints and gap statements.
//! - [`alerts`]: alerts, people's actions on them, and leases.
//! - [`ledger`]: the slice ledger's rows, states and marks.
//! - [`periods`]: closed periods with their frozen reports, and the claims they open.
//! - [`status_pages`]: what vendors' status pages declared, as last read.
//! - [`agent_health`]: each agent's view of itself over time.
//! - [`faults`]: rule 11's judgements of agents and how far they are made.
//! - [`usage`]: failed writes, reads and connections, and the PostgreSQL pool's use, for `/metrics`.
//! - [`enrolments`]: agents that joined with a fleet token, and where each stands.
//! - [`cluster`]: the replicas serving the store, their leases, and who holds each agent's session.
//! - [`sqlite`]: the SQLite engine (WAL, one writer thread with group commit, versioned migrations).
//! - [`postgres`]: the PostgreSQL engine (pooled, migrations under an advisory lock, results partitioned by month).
//! - [`columns`]: how instants and sequence numbers are kept in columns.

pub mod agent_health;
pub mod alerts;
pub mod cluster;
pub mod columns;
pub mod enrolments;
pub mod evidence;
pub mod faults;
pub mod ledger;
pub mod periods;
pub mod postgres;
pub mod records;
pub mod sqlite;
pub mod status_pages;
pub mod usage;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use slaprobe_proto::ResultRecord;
use slaprobe_proto::error_text::error_chain;

pub use alerts::{AlertAction, AlertChange, AlertRecord, AlertState, LeaseClaim};
pub use ledger::{LedgerMark, LedgerSlice, LedgerState, LedgerWrite, SliceParts};
pub use periods::{ArtifactSummary, ClaimWrite, ClosedPeriod, PeriodRevision};
pub use records::{
    AgentRecord, AgentStatus, Attempt, ClockReading, DeliveryRecord, GapReport, IngestBatch, Refusal, RefusedResult,
    ResultFlags, ResultPosition, ResultQuery, Rollup, SignedCheckpoint, SignedGap, StoredResult,
};

use crate::config::Storage;

/// A store failure; the message names the file or operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite could not open, migrate, read or write the file.
    #[error("store: {}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said (shared: one failed commit answers every batch in it).
        #[source]
        source: Arc<rusqlite::Error>,
    },
    /// The SQLite file or its directory could not be created or made private.
    #[error("store: {}: {source}", path.display())]
    File {
        /// The database file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// PostgreSQL refused a statement or could not be reached.
    #[error("store: postgres: {}", error_chain(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool.
    #[error("store: postgres: {}", error_chain(.0))]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A schema newer than this collector knows, or a migration that failed.
    #[error("store: {0}")]
    Schema(String),
    /// A stored value this collector cannot read; the read fails rather than make up a record.
    #[error("store: column {column}: {problem}")]
    Undecodable {
        /// The column.
        column: String,
        /// Why it does not decode.
        problem: String,
    },
    /// The store cannot be used as it is: its file was replaced, its URL is unusable, or a query task failed.
    #[error("store: {0}")]
    Unusable(String),
    /// A result cannot be stored as given.
    #[error("store: result {index} of the batch: {problem}")]
    BadResult {
        /// Position in the batch.
        index: usize,
        /// What is wrong.
        problem: String,
    },
    /// The writer has stopped (the collector is shutting down).
    #[error("store: the writer has stopped")]
    Closed,
}

impl StoreError {
    /// Whether PostgreSQL did not answer (connection refused, timed out or closed) or answered that it is still
    /// starting, rather than answering no (a refused login, a missing database, a failed statement): the one
    /// kind worth waiting out at start.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Postgres(error) | Self::Pool(deadpool_postgres::PoolError::Backend(error)) => error
                .as_db_error()
                .is_none_or(|answer| *answer.code() == tokio_postgres::error::SqlState::CANNOT_CONNECT_NOW),
            Self::Pool(deadpool_postgres::PoolError::Timeout(_)) => true,
            _ => false,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Results newly stored.
    pub inserted: u64,
    /// Results already present under the same `(agent_id, seq)`, left as they were.
    pub duplicates: u64,
    /// Rows an alert or lease write changed (a lease claim: 1 when granted).
    pub changed: u64,
}

/// What [`Store::prune_results`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrunedResults {
    /// Results.
    pub results: u64,
    /// Whole monthly partitions dropped (PostgreSQL).
    pub partitions: u64,
}

/// The collector's storage.
#[derive(Clone)]
pub enum Store {
    /// An embedded SQLite file.
    Sqlite(sqlite::SqliteStore),
    /// A PostgreSQL database, possibly shared by several collectors.
    Postgres(postgres::PostgresStore),
}

impl Store {
    /// Opens the store `storage` names, creating and migrating it as needed.
    pub async fn open(storage: &Storage) -> Result<Self, StoreError> {
        match storage {
            Storage::Sqlite(path) => Self::open_sqlite(path),
            Storage::Postgres(url) => Self::open_postgres(url).await,
        }
    }

    /// Opens (creating and migrating as needed) the SQLite database at `path`.
    pub fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        sqlite::SqliteStore::open(path).map(Self::Sqlite)
    }

    /// Connects to the PostgreSQL database at `url` and migrates it as needed.
    pub async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        postgres::PostgresStore::open(url).await.map(Self::Postgres)
    }

    /// Stores `results` (each with `agent_id` and `seq`), flagged only as they call for themselves
    /// ([`ResultFlags::of_record`]), returning once they are durably committed.
    pub async fn write_results(&self, results: Vec<ResultRecord>) -> Result<WriteOutcome, StoreError> {
        let results = results.into_iter().map(|result| (ResultFlags::of_record(&result), result));
        self.write(records::Write::Results(results.map(|(flags, result)| (result, flags)).collect())).await
    }

    /// Stores `results` (each with `agent_id` and `seq`) loaded by `import`, flagged `imported`.
    pub async fn import_results(&self, results: Vec<ResultRecord>) -> Result<WriteOutcome, StoreError> {
        let results =
            results.into_iter().map(|result| (ResultFlags::IMPORTED | ResultFlags::of_record(&result), result));
        self.write(records::Write::Results(results.map(|(flags, result)| (result, flags)).collect())).await
    }

    /// Stores one batch received from an agent: its accepted results with their flags, its refusals, and the
    /// agent's last-seen time, all in one transaction.
    pub async fn write_ingested(&self, batch: IngestBatch) -> Result<WriteOutcome, StoreError> {
        self.write(records::Write::Ingested(batch)).await
    }

    /// Records an agent's session opening (version, backlog, connect time) in its registry entry.
    pub async fn record_agent(&self, status: AgentStatus) -> Result<(), StoreError> {
        self.write(records::Write::Agent(status)).await.map(drop)
    }

    /// Records `agent_id`'s latest clock estimate in its registry entry.
    pub async fn record_clock(&self, agent_id: &str, reading: ClockReading) -> Result<(), StoreError> {
        self.write(records::Write::Clock(agent_id.to_owned(), reading)).await.map(drop)
    }

    /// Records a range of results an agent's spool dropped (a repeated report of the same gap merges with it).
    pub async fn record_gap(&self, gap: GapReport) -> Result<(), StoreError> {
        self.write(records::Write::Gap(gap)).await.map(drop)
    }

    async fn write(&self, write: records::Write) -> Result<WriteOutcome, StoreError> {
        write.check()?;
        let outcome = match self {
            Self::Sqlite(store) => store.write(write).await,
            Self::Postgres(store) => store.write(write).await,
        };
        if outcome.is_err() {
            usage::count_failed_write();
        }
        outcome
    }

    /// Logs a notification delivery.
    pub async fn record_delivery(&self, delivery: DeliveryRecord) -> Result<(), StoreError> {
        self.write(records::Write::Delivery(delivery)).await.map(drop)
    }

    /// The latest `limit` notification deliveries (about `alert_id` only, when given), newest first.
    pub async fn deliveries(&self, alert_id: Option<&str>, limit: u32) -> Result<Vec<DeliveryRecord>, StoreError> {
        let alert_id = alert_id.map(str::to_owned);
        match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::read::deliveries(connection, alert_id.as_deref(), limit)).await
            }
            Self::Postgres(store) => store.deliveries(alert_id.as_deref(), limit).await,
        }
    }

    /// Stores `alert` as the evaluator sees it; `false` when it was no longer firing (a person resolved it).
    pub async fn record_alert(&self, alert: AlertRecord) -> Result<bool, StoreError> {
        self.write(records::Write::Alert(alert)).await.map(|outcome| outcome.changed > 0)
    }

    /// Applies a person's action; `false` when the alert is not firing (or, to acknowledge, already was).
    pub async fn change_alert(&self, change: AlertChange) -> Result<bool, StoreError> {
        self.write(records::Write::AlertChange(change)).await.map(|outcome| outcome.changed > 0)
    }

    /// Notes that a resolved alert's condition has cleared, so its rule may fire again.
    pub async fn rearm_alert(&self, id: &str) -> Result<(), StoreError> {
        self.write(records::Write::Rearm(id.to_owned())).await.map(drop)
    }

    /// Claims a lease; `true` when this holder has it until `claim.until`.
    pub async fn claim_lease(&self, claim: LeaseClaim) -> Result<bool, StoreError> {
        self.write(records::Write::Lease(claim)).await.map(|outcome| outcome.changed > 0)
    }

    /// Gives up lease `name` if `holder` holds it, so that another collector can take it at once (a clean
    /// shutdown); a failure is logged, not returned: the lease then expires as it would have.
    pub async fn release_lease(&self, name: &str, holder: &str) {
        if let Err(error) = self.write(records::Write::ReleaseLease(name.to_owned(), holder.to_owned())).await {
            tracing::warn!(lease = name, %error, "Could not give up the lease; it expires on its own.");
        }
    }

    /// Deletes every result that started before `cutoff` (whole monthly partitions at once on PostgreSQL, then
    /// the rest in batches); returns how many results and partitions went.
    pub async fn prune_results(&self, cutoff: Timestamp) -> Result<PrunedResults, StoreError> {
        let mut pruned = match self {
            Self::Sqlite(_) => PrunedResults::default(),
            Self::Postgres(store) => store.drop_partitions_before(cutoff).await?,
        };
        loop {
            let batch = self.write(records::Write::Prune(cutoff)).await?.changed;
            pruned.results += batch;
            if batch < records::PRUNE_BATCH {
                return Ok(pruned);
            }
        }
    }

    /// Recomputes the per-minute rollups of `checks` from the results that started in `[from, to)`.
    pub async fn roll_up(&self, checks: Vec<String>, from: Timestamp, to: Timestamp) -> Result<u64, StoreError> {
        let window = records::RollupWindow { checks, from, to };
        Ok(self.write(records::Write::Rollup(window)).await?.changed)
    }

    /// Deletes the rollups of minutes before `cutoff`; how many went.
    pub async fn prune_rollups(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        Ok(self.write(records::Write::PruneRollups(cutoff)).await?.changed)
    }

    /// The rollups of `check` for minutes in `[from, to)` (of `region` only, when given), by minute then region.
    pub async fn rollups(
        &self,
        check: &str,
        region: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Rollup>, StoreError> {
        let (check, region) = (check.to_owned(), region.map(str::to_owned));
        match self {
            Self::Sqlite(store) => {
                store
                    .read(move |connection| sqlite::read::rollups(connection, &check, region.as_deref(), from, to))
                    .await
            }
            Self::Postgres(store) => store.rollups(&check, region.as_deref(), from, to).await,
        }
    }

    /// Alerts newest first (only those in `state`, when given), at most `limit`.
    pub async fn alerts(&self, state: Option<AlertState>, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        match self {
            Self::Sqlite(store) => store.read(move |connection| sqlite::alerts::alerts(connection, state, limit)).await,
            Self::Postgres(store) => store.alerts(state, limit).await,
        }
    }

    /// The alert `id`, if any.
    pub async fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        let id = id.to_owned();
        match self {
            Self::Sqlite(store) => store.read(move |connection| sqlite::alerts::alert(connection, &id)).await,
            Self::Postgres(store) => store.alert(&id).await,
        }
    }

    /// Each rule's latest alert.
    pub async fn latest_alerts(&self) -> Result<Vec<AlertRecord>, StoreError> {
        match self {
            Self::Sqlite(store) => store.read(sqlite::alerts::latest_per_rule).await,
            Self::Postgres(store) => store.latest_alerts().await,
        }
    }

    /// Every agent that ever opened a session, by id.
    pub async fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        match self {
            Self::Sqlite(store) => store.read(sqlite::read::agents).await,
            Self::Postgres(store) => store.agents().await,
        }
    }

    /// Every gap agents reported, by agent and first sequence number.
    pub async fn gaps(&self) -> Result<Vec<GapReport>, StoreError> {
        match self {
            Self::Sqlite(store) => store.read(sqlite::read::gaps).await,
            Self::Postgres(store) => store.gaps().await,
        }
    }

    /// Every refused result, by agent and sequence number.
    pub async fn refused(&self) -> Result<Vec<RefusedResult>, StoreError> {
        match self {
            Self::Sqlite(store) => store.read(sqlite::read::refused).await,
            Self::Postgres(store) => store.refused().await,
        }
    }

    /// The latest result of `check` in each region among those started at or after `since`, by region.
    pub async fn latest_per_region(&self, check: &str, since: Timestamp) -> Result<Vec<ResultRecord>, StoreError> {
        let check = check.to_owned();
        match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::read::latest_per_region(connection, &check, since)).await
            }
            Self::Postgres(store) => store.latest_per_region(&check, since).await,
        }
    }

    /// The sequence numbers and flags of `agent_id`'s stored results that carry any flag, in `seq` order.
    pub async fn flagged_results(&self, agent_id: &str) -> Result<Vec<(u64, ResultFlags)>, StoreError> {
        let agent_id = agent_id.to_owned();
        match self {
            Self::Sqlite(store) => store.read(move |connection| sqlite::read::flagged(connection, &agent_id)).await,
            Self::Postgres(store) => store.flagged(&agent_id).await,
        }
    }

    /// One page of the results `query` selects, in `(started_at, agent_id, seq)` order, with their flags.
    pub async fn results_page(&self, query: ResultQuery) -> Result<Vec<StoredResult>, StoreError> {
        match self {
            Self::Sqlite(store) => store.read(move |connection| sqlite::read::results_page(connection, &query)).await,
            Self::Postgres(store) => store.results_page(&query).await,
        }
    }

    /// Results of `checks` whose `started_at` lies in `[from, to)` with their flags, ordered by `started_at`.
    pub async fn flagged_results_between(
        &self,
        checks: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(ResultRecord, ResultFlags)>, StoreError> {
        let checks = checks.to_vec();
        match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::read::flagged_results_between(connection, &checks, from, to)).await
            }
            Self::Postgres(store) => store.flagged_results_between(&checks, from, to).await,
        }
    }

    /// Every agent's control results (flagged `control`) whose `started_at` lies in `[from, to)`, ordered by
    /// `started_at`: what tells whether an agent's results of a slice are conclusive.
    pub async fn control_results_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::read::control_results_between(connection, from, to)).await
            }
            Self::Postgres(store) => store.control_results_between(from, to).await,
        }
    }

    /// The earliest `started_at` among the stored results of `checks`: when monitoring of a contract began.
    pub async fn first_result_at(&self, checks: &[String]) -> Result<Option<Timestamp>, StoreError> {
        let checks = checks.to_vec();
        match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::read::first_result_at(connection, &checks)).await
            }
            Self::Postgres(store) => store.first_result_at(&checks).await,
        }
    }

    /// Results of `checks` whose `started_at` lies in `[from, to)`, ordered by `started_at`.
    pub async fn results_between(
        &self,
        checks: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        let checks = checks.to_vec();
        match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::read::results_between(connection, &checks, from, to)).await
            }
            Self::Postgres(store) => store.results_between(&checks, from, to).await,
        }
    }
}

#[cfg(test)]
pub(crate) mod test_engines;
#[cfg(test)]
mod tests;
