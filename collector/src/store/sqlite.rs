//! The SQLite engine: one database file in WAL mode. All writes go through one writer thread that groups the
//! batches waiting for it into a single transaction (group commit) with `synchronous = FULL`, so a write is
//! acknowledged only after its transaction is durable. Reads use their own connections on the blocking pool.
//!
//! Each result is stored as its protobuf encoding (the exact record, for export and reports) plus the columns
//! that queries filter on. Migrations are numbered and applied in order inside transactions; the schema version
//! is SQLite's `user_version`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use jiff::Timestamp;
use prost::Message;
use rusqlite::{Connection, OpenFlags, params};
use slaprobe_proto::{ResultRecord, v1};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, WriteOutcome};

/// Schema migrations, in order; entry `n` moves the schema from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE results (
        agent_id      TEXT    NOT NULL,
        seq           INTEGER NOT NULL,
        check_id      TEXT    NOT NULL,
        region        TEXT    NOT NULL,
        started_at_ns INTEGER NOT NULL,
        ok            INTEGER NOT NULL,
        record        BLOB    NOT NULL,
        PRIMARY KEY (agent_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX results_by_check_time ON results (check_id, started_at_ns);
"];

/// Batches waiting for the writer at most; a full queue makes writers wait (back-pressure).
const WRITE_QUEUE: usize = 1024;

type WriteRequest = (Vec<ResultRecord>, oneshot::Sender<Result<WriteOutcome, StoreError>>);

/// A SQLite store; clones share the writer.
#[derive(Clone)]
pub struct SqliteStore {
    path: Arc<PathBuf>,
    writes: mpsc::Sender<WriteRequest>,
}

fn database_error(path: &Path, error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("{}: {error}", path.display()))
}

impl SqliteStore {
    /// Opens or creates the database at `path` and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| database_error(parent, error))?;
        }
        let mut connection = Connection::open(path).map_err(|error| database_error(path, error))?;
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;")
            .map_err(|error| database_error(path, error))?;
        migrate(&mut connection).map_err(|error| database_error(path, error))?;
        let (writes, queue) = mpsc::channel(WRITE_QUEUE);
        let writer_path = path.to_owned();
        thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || run_writer(connection, queue, &writer_path))
            .map_err(|error| database_error(path, error))?;
        Ok(Self { path: Arc::new(path.to_owned()), writes })
    }

    /// Stores `results`; see [`super::Store::write_results`].
    pub async fn write_results(&self, results: Vec<ResultRecord>) -> Result<WriteOutcome, StoreError> {
        for (index, result) in results.iter().enumerate() {
            if result.agent_id.is_none() || result.seq.is_none() {
                return Err(StoreError::BadResult { index, problem: "agent_id and seq are required".to_owned() });
            }
        }
        let (reply, outcome) = oneshot::channel();
        self.writes.send((results, reply)).await.map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }

    /// Results of `checks` in `[from, to)`; see [`super::Store::results_between`].
    pub async fn results_between(
        &self,
        checks: Vec<String>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || read_between(&path, &checks, from, to))
            .await
            .map_err(|error| StoreError::Database(format!("read task failed: {error}")))?
    }
}

fn migrate(connection: &mut Connection) -> Result<(), String> {
    let version: i64 =
        connection.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(|error| error.to_string())?;
    let applied = usize::try_from(version).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(format!(
            "schema version {applied} is newer than this collector knows ({}); upgrade slaprobe-collector",
            MIGRATIONS.len()
        ));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let apply = |connection: &mut Connection| -> rusqlite::Result<()> {
            let transaction = connection.transaction()?;
            transaction.execute_batch(migration)?;
            transaction.pragma_update(None, "user_version", index as i64 + 1)?;
            transaction.commit()
        };
        apply(connection).map_err(|error| format!("migration to schema version {}: {error}", index + 1))?;
        tracing::info!(version = index + 1, "Migrated the SQLite schema.");
    }
    Ok(())
}

/// The writer loop: takes every batch waiting, commits them in one transaction, answers each.
fn run_writer(mut connection: Connection, mut queue: mpsc::Receiver<WriteRequest>, path: &Path) {
    let mut pending: Vec<WriteRequest> = Vec::new();
    while let Some(first) = queue.blocking_recv() {
        pending.push(first);
        while let Ok(next) = queue.try_recv() {
            pending.push(next);
        }
        match commit(&mut connection, &pending) {
            Ok(outcomes) => {
                for ((_, reply), outcome) in pending.drain(..).zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "A store write failed; nothing of it was committed.");
                for (_, reply) in pending.drain(..) {
                    let _ = reply.send(Err(database_error(path, &error)));
                }
            }
        }
    }
}

fn commit(connection: &mut Connection, batches: &[WriteRequest]) -> rusqlite::Result<Vec<WriteOutcome>> {
    let transaction = connection.transaction()?;
    let mut outcomes = Vec::with_capacity(batches.len());
    {
        let mut insert = transaction.prepare_cached(
            "INSERT OR IGNORE INTO results (agent_id, seq, check_id, region, started_at_ns, ok, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (results, _) in batches {
            let mut outcome = WriteOutcome::default();
            for result in results {
                let record = v1::Result::from(result).encode_to_vec();
                let seq = i64::try_from(result.seq.unwrap_or_default()).unwrap_or(i64::MAX);
                let started = i64::try_from(result.started_at.as_nanosecond()).unwrap_or(i64::MAX);
                let changed = insert.execute(params![
                    result.agent_id.as_deref().unwrap_or_default(),
                    seq,
                    result.check_id,
                    result.region,
                    started,
                    result.ok,
                    record
                ])?;
                if changed == 1 {
                    outcome.inserted += 1;
                } else {
                    outcome.duplicates += 1;
                }
            }
            outcomes.push(outcome);
        }
    }
    transaction.commit()?;
    Ok(outcomes)
}

fn read_between(
    path: &Path,
    checks: &[String],
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<ResultRecord>, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(|error| database_error(path, error))?;
    let mut query = connection
        .prepare_cached(
            "SELECT record FROM results WHERE check_id = ?1 AND started_at_ns >= ?2 AND started_at_ns < ?3
             ORDER BY started_at_ns",
        )
        .map_err(|error| database_error(path, error))?;
    let bound = |at: Timestamp| {
        i64::try_from(at.as_nanosecond()).unwrap_or(if at.as_nanosecond() < 0 { i64::MIN } else { i64::MAX })
    };
    let mut records = Vec::new();
    for check in checks {
        let rows = query
            .query_map(params![check, bound(from), bound(to)], |row| row.get::<_, Vec<u8>>(0))
            .map_err(|error| database_error(path, error))?;
        for row in rows {
            let bytes = row.map_err(|error| database_error(path, error))?;
            let decoded = v1::Result::decode(bytes.as_slice())
                .map_err(|error| database_error(path, format!("undecodable stored result: {error}")))?;
            records.push(
                ResultRecord::try_from(decoded)
                    .map_err(|error| database_error(path, format!("stored result: {error}")))?,
            );
        }
    }
    records.sort_by_key(|record| record.started_at);
    Ok(records)
}

#[cfg(test)]
mod tests;
