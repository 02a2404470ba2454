//! The SQLite engine: one database file in WAL mode. All writes go through one writer thread that groups the
//! batches waiting for it into a single transaction (group commit) with `synchronous = FULL`, so a write is
//! acknowledged only after its transaction is durable. Reads use their own connections on the blocking pool.
//!
//! Each result is stored as its protobuf encoding (the exact record, for export and reports) plus the columns
//! that queries filter on. Migrations are numbered and applied in order inside transactions; the schema version
//! is SQLite's `user_version`.
//!
//! Layout:
//! - [`write`]: what one transaction of the writer does for each kind of write.
//! - [`read`]: the queries, each on a read-only connection.
//! - [`alerts`]: alert rows and leases, written and read.
//! - [`evidence`]: agents' keys, checkpoints and gap statements, written and read.
//! - [`ledger`]: the slice ledger, written and read.

pub mod alerts;
pub mod evidence;
pub mod ledger;
pub mod periods;
pub mod read;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::records::Write;
use super::{StoreError, WriteOutcome};

/// Schema migrations, in order; entry `n` moves the schema from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    "
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
",
    "
    ALTER TABLE results ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE agents (
        agent_id             TEXT    NOT NULL PRIMARY KEY,
        region               TEXT    NOT NULL,
        version              TEXT    NOT NULL,
        connected_at_ns      INTEGER NOT NULL,
        last_seen_ns         INTEGER NOT NULL,
        spool_backlog        INTEGER NOT NULL,
        clock_offset_ns      INTEGER,
        clock_round_trip_ns  INTEGER,
        clock_measured_at_ns INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE spool_gaps (
        agent_id       TEXT    NOT NULL,
        first_seq      INTEGER NOT NULL,
        last_seq       INTEGER NOT NULL,
        reason         TEXT    NOT NULL,
        reported_at_ns INTEGER NOT NULL,
        PRIMARY KEY (agent_id, first_seq)
    ) WITHOUT ROWID;
    CREATE TABLE refused_results (
        agent_id       TEXT    NOT NULL,
        seq            INTEGER NOT NULL,
        reason         TEXT    NOT NULL,
        received_at_ns INTEGER NOT NULL,
        record         BLOB    NOT NULL,
        PRIMARY KEY (agent_id, seq)
    ) WITHOUT ROWID;
",
    "
    CREATE TABLE deliveries (
        id         INTEGER PRIMARY KEY,
        sent_at_ns INTEGER NOT NULL,
        channel    TEXT    NOT NULL,
        state      TEXT    NOT NULL,
        kind       TEXT    NOT NULL,
        contract   TEXT    NOT NULL,
        delivered  INTEGER NOT NULL,
        attempts   TEXT    NOT NULL
    );
",
    "
    ALTER TABLE deliveries ADD COLUMN alert_id TEXT;
    CREATE INDEX deliveries_by_alert ON deliveries (alert_id) WHERE alert_id IS NOT NULL;
    CREATE TABLE alerts (
        id                  TEXT    NOT NULL PRIMARY KEY,
        contract            TEXT    NOT NULL,
        kind                TEXT    NOT NULL,
        policy              TEXT    NOT NULL,
        state               TEXT    NOT NULL,
        started_at_ns       INTEGER NOT NULL,
        fired_at_ns         INTEGER NOT NULL,
        resolved_at_ns      INTEGER,
        resolved_by         TEXT,
        acknowledged_at_ns  INTEGER,
        acknowledged_by     TEXT,
        levels_notified     INTEGER NOT NULL,
        last_notified_at_ns INTEGER,
        regions             TEXT    NOT NULL,
        summary             TEXT    NOT NULL,
        rearmed             INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX alerts_by_rule ON alerts (contract, kind, fired_at_ns);
    CREATE INDEX alerts_by_time ON alerts (fired_at_ns);
    CREATE TABLE leases (
        name          TEXT    NOT NULL PRIMARY KEY,
        holder        TEXT    NOT NULL,
        expires_at_ns INTEGER NOT NULL
    ) WITHOUT ROWID;
",
    "
    CREATE TABLE result_rollups (
        check_id  TEXT    NOT NULL,
        region    TEXT    NOT NULL,
        minute_ns INTEGER NOT NULL,
        total     INTEGER NOT NULL,
        failed    INTEGER NOT NULL,
        PRIMARY KEY (check_id, minute_ns, region)
    ) WITHOUT ROWID;
",
    "
    ALTER TABLE results ADD COLUMN received_at_ns INTEGER;
",
    "
    CREATE TABLE ledger_slices (
        contract TEXT    NOT NULL,
        start_ns INTEGER NOT NULL,
        end_ns   INTEGER NOT NULL,
        cells    BLOB    NOT NULL,
        PRIMARY KEY (contract, start_ns, end_ns)
    ) WITHOUT ROWID;
    CREATE TABLE ledger_state (
        contract          TEXT    NOT NULL PRIMARY KEY,
        terms_hash        TEXT    NOT NULL,
        rebuilt_from_ns   INTEGER NOT NULL,
        settled_until_ns  INTEGER NOT NULL,
        monitored_from_ns INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE ledger_marks (
        id       INTEGER PRIMARY KEY,
        check_id TEXT    NOT NULL,
        from_ns  INTEGER NOT NULL,
        to_ns    INTEGER NOT NULL
    );
",
    "
    ALTER TABLE ledger_slices ADD COLUMN latency BLOB NOT NULL DEFAULT x'';
",
    "
    ALTER TABLE ledger_state ADD COLUMN refolds INTEGER NOT NULL DEFAULT 0;
",
    "
    CREATE TABLE agent_keys (
        agent_id       TEXT    NOT NULL PRIMARY KEY,
        public_key     BLOB    NOT NULL,
        recorded_at_ns INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE checkpoints (
        agent_id       TEXT    NOT NULL,
        seq            INTEGER NOT NULL,
        chain          BLOB    NOT NULL,
        signature      BLOB    NOT NULL,
        public_key     BLOB    NOT NULL,
        received_at_ns INTEGER NOT NULL,
        PRIMARY KEY (agent_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE gap_statements (
        agent_id       TEXT    NOT NULL,
        first_seq      INTEGER NOT NULL,
        last_seq       INTEGER NOT NULL,
        reason         TEXT    NOT NULL,
        chain_before   BLOB    NOT NULL,
        chain_after    BLOB    NOT NULL,
        signature      BLOB    NOT NULL,
        public_key     BLOB    NOT NULL,
        reported_at_ns INTEGER NOT NULL,
        PRIMARY KEY (agent_id, first_seq, last_seq)
    ) WITHOUT ROWID;
",
    "
    CREATE TABLE closed_periods (
        contract TEXT    NOT NULL,
        period   TEXT    NOT NULL,
        revision INTEGER NOT NULL,
        record   TEXT    NOT NULL,
        PRIMARY KEY (contract, period, revision)
    ) WITHOUT ROWID;
    CREATE TABLE period_artifacts (
        contract TEXT    NOT NULL,
        period   TEXT    NOT NULL,
        revision INTEGER NOT NULL,
        name     TEXT    NOT NULL,
        content  BLOB    NOT NULL,
        PRIMARY KEY (contract, period, revision, name)
    ) WITHOUT ROWID;
    CREATE TABLE claims (
        contract TEXT    NOT NULL,
        period   TEXT    NOT NULL,
        version  INTEGER NOT NULL,
        record   TEXT    NOT NULL,
        PRIMARY KEY (contract, period)
    ) WITHOUT ROWID;
    CREATE TABLE claim_events (
        contract TEXT    NOT NULL,
        period   TEXT    NOT NULL,
        version  INTEGER NOT NULL,
        record   TEXT    NOT NULL,
        PRIMARY KEY (contract, period, version)
    ) WITHOUT ROWID;
    CREATE TABLE report_deliveries (
        contract      TEXT    NOT NULL,
        period        TEXT    NOT NULL,
        revision      INTEGER NOT NULL,
        channel       TEXT    NOT NULL,
        kind          TEXT    NOT NULL,
        state         TEXT    NOT NULL,
        tries         INTEGER NOT NULL,
        updated_at_ns INTEGER NOT NULL,
        PRIMARY KEY (contract, period, revision, channel, kind)
    ) WITHOUT ROWID;
",
    "
    CREATE TABLE status_pages (
        url    TEXT NOT NULL PRIMARY KEY,
        record TEXT NOT NULL
    ) WITHOUT ROWID;
",
    "
    CREATE INDEX results_controls ON results (started_at_ns) WHERE flags & 16 <> 0;
",
    "
    CREATE TABLE agent_health (
        agent_id TEXT    NOT NULL,
        at_ns    INTEGER NOT NULL,
        record   TEXT    NOT NULL,
        PRIMARY KEY (agent_id, at_ns)
    ) WITHOUT ROWID;
    CREATE INDEX agent_health_by_time ON agent_health (at_ns);
",
    "
    CREATE TABLE agent_faults (
        start_ns INTEGER NOT NULL,
        agent_id TEXT    NOT NULL,
        end_ns   INTEGER NOT NULL,
        record   TEXT    NOT NULL,
        PRIMARY KEY (start_ns, agent_id)
    ) WITHOUT ROWID;
    CREATE TABLE agent_fault_progress (
        id              INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        rule            TEXT    NOT NULL,
        judged_from_ns  INTEGER NOT NULL,
        judged_until_ns INTEGER NOT NULL
    ) WITHOUT ROWID;
",
    "
    ALTER TABLE agents ADD COLUMN session_collector TEXT;
    CREATE TABLE collectors (
        name         TEXT    NOT NULL PRIMARY KEY,
        heartbeat_ns INTEGER NOT NULL,
        record       TEXT    NOT NULL
    ) WITHOUT ROWID;
",
    "
    CREATE TABLE enrolled_agents (
        agent_id  TEXT NOT NULL PRIMARY KEY,
        enrolment TEXT NOT NULL,
        state     TEXT NOT NULL,
        record    TEXT NOT NULL
    ) WITHOUT ROWID;
",
];

/// Batches waiting for the writer at most; a full queue makes writers wait (back-pressure).
const WRITE_QUEUE: usize = 1024;

type WriteRequest = (Write, oneshot::Sender<Result<WriteOutcome, StoreError>>);

/// Read connections kept open between reads at most (each keeps its prepared statements).
const IDLE_READERS: usize = 8;

/// A SQLite store; clones share the writer and the idle read connections.
#[derive(Clone)]
pub struct SqliteStore {
    path: Arc<PathBuf>,
    writes: mpsc::Sender<WriteRequest>,
    readers: Arc<std::sync::Mutex<Vec<IdleReader>>>,
}

/// A read connection kept open, with the file it was opened on (see [`file_identity`]).
struct IdleReader {
    connection: Connection,
    file: Option<(u64, u64)>,
}

fn sqlite_error(path: &Path, error: rusqlite::Error) -> StoreError {
    StoreError::Sqlite { path: path.to_owned(), source: Arc::new(error) }
}

fn file_error(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::File { path: path.to_owned(), source: error }
}

/// Creates the database file 0600 (its directory 0700 when this creates it) before SQLite opens it, and
/// tightens an existing file to 0600: it holds evidence. SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
    }
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

impl SqliteStore {
    /// Opens or creates the database at `path` and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_private_file(path).map_err(|error| file_error(path, error))?;
        let mut connection = Connection::open(path).map_err(|error| sqlite_error(path, error))?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;
                 PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;",
            )
            .map_err(|error| sqlite_error(path, error))?;
        migrate(&mut connection, path)?;
        let (writes, queue) = mpsc::channel(WRITE_QUEUE);
        let writer_path = path.to_owned();
        thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || run_writer(connection, queue, &writer_path))
            .map_err(|error| file_error(path, error))?;
        Ok(Self { path: Arc::new(path.to_owned()), writes, readers: Arc::default() })
    }

    /// Performs `write` in the writer's next transaction, returning once it is durably committed.
    pub(crate) async fn write(&self, write: Write) -> Result<WriteOutcome, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.writes.send((write, reply)).await.map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `query` on the blocking pool, on an idle read-only connection (a new one when none is idle). An idle
    /// connection is used only while the path still names the file it was opened on: a database file moved away
    /// or replaced is noticed at the next read, as the writer notices it at the next write.
    pub async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (path, readers) = (self.path.clone(), self.readers.clone());
        tokio::task::spawn_blocking(move || {
            let file = file_identity(&path);
            let idle = {
                let mut idle = readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                idle.retain(|reader| reader.file.is_some() && reader.file == file);
                idle.pop()
            };
            let reader = match idle {
                Some(reader) => reader,
                None => {
                    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                    IdleReader { connection: Connection::open_with_flags(path.as_path(), flags)?, file }
                }
            };
            let outcome = query(&reader.connection);
            let mut idle = readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if idle.len() < IDLE_READERS {
                idle.push(reader);
            }
            outcome
        })
        .await
        .map_err(|error| StoreError::Unusable(format!("a read task failed: {error}")))?
        .map_err(|error| {
            crate::store::usage::count_failed_read();
            sqlite_error(&self.path, error)
        })
    }
}

fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 =
        connection.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(|error| sqlite_error(path, error))?;
    let applied = usize::try_from(version).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Schema(format!(
            "schema version {applied} is newer than this collector knows ({}); upgrade slaprobe-collector",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let apply = |connection: &mut Connection| -> rusqlite::Result<()> {
            let transaction = connection.transaction()?;
            transaction.execute_batch(migration)?;
            transaction.pragma_update(None, "user_version", index as i64 + 1)?;
            transaction.commit()
        };
        apply(connection).map_err(|error| {
            StoreError::Schema(format!("{}: migration to schema version {}: {error}", path.display(), index + 1))
        })?;
        tracing::info!(version = index + 1, "Migrated the SQLite schema.");
    }
    Ok(())
}

/// The file `path` names now: (device, inode), or `None` when there is none.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|metadata| (metadata.dev(), metadata.ino()))
}

/// The writer loop: takes every batch waiting, commits them in one transaction, answers each.
///
/// A database file removed or replaced under the collector would take every later commit with it while the
/// writer's open handle still accepts them, and agents delete what is acknowledged. So each transaction first
/// checks that `path` still names the file the writer holds, and refuses the batch when it does not (agents keep
/// those results in their spools); writes resume once the file is back in place.
fn run_writer(mut connection: Connection, mut queue: mpsc::Receiver<WriteRequest>, path: &Path) {
    let held = file_identity(path);
    let mut pending: Vec<WriteRequest> = Vec::new();
    while let Some(first) = queue.blocking_recv() {
        pending.push(first);
        while let Ok(next) = queue.try_recv() {
            pending.push(next);
        }
        if file_identity(path) != held {
            tracing::error!(path = %path.display(), "The database file was removed or replaced; writes are refused until it is back.");
            for (_, reply) in pending.drain(..) {
                let problem =
                    format!("{}: the database file was removed or replaced; nothing was written", path.display());
                let _ = reply.send(Err(StoreError::Unusable(problem)));
            }
            continue;
        }
        match write::commit(&mut connection, pending.iter().map(|(write, _)| write)) {
            Ok(outcomes) => {
                for ((_, reply), outcome) in pending.drain(..).zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "A store write failed; nothing of it was committed.");
                let error = Arc::new(error);
                for (_, reply) in pending.drain(..) {
                    let _ = reply.send(Err(StoreError::Sqlite { path: path.to_owned(), source: error.clone() }));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
