//! The store: where results live once the collector has them. Callers use [`Store`]; which engine is behind it
//! (the embedded SQLite file today, PostgreSQL next) is the store's business.
//!
//! Writes are idempotent: a result is keyed by `(agent_id, seq)`, and storing it again changes nothing, so an
//! agent may replay after a reconnect without creating duplicates. A write returns only once committed durably.
//!
//! Layout:
//! - [`sqlite`]: the SQLite engine (WAL, one writer thread with group commit, versioned migrations).

pub mod sqlite;

use std::path::Path;

use jiff::Timestamp;
use slaprobe_proto::ResultRecord;

/// A store failure; the message names the file or operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, migrated, read or written.
    #[error("store: {0}")]
    Database(String),
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

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Results newly stored.
    pub inserted: u64,
    /// Results already present under the same `(agent_id, seq)`, left as they were.
    pub duplicates: u64,
}

/// The collector's storage.
#[derive(Clone)]
pub enum Store {
    /// An embedded SQLite file.
    Sqlite(sqlite::SqliteStore),
}

impl Store {
    /// Opens (creating and migrating as needed) the SQLite database at `path`.
    pub fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        sqlite::SqliteStore::open(path).map(Self::Sqlite)
    }

    /// Stores `results` (each with `agent_id` and `seq`), returning once they are durably committed.
    pub async fn write_results(&self, results: Vec<ResultRecord>) -> Result<WriteOutcome, StoreError> {
        match self {
            Self::Sqlite(store) => store.write_results(results).await,
        }
    }

    /// Results of `checks` whose `started_at` lies in `[from, to)`, ordered by `started_at`.
    pub async fn results_between(
        &self,
        checks: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        match self {
            Self::Sqlite(store) => store.results_between(checks.to_vec(), from, to).await,
        }
    }
}
