//! `slaprobe-collector migrate --from sqlite:PATH --to postgres:URL`: moves everything a SQLite store holds
//! (results with their flags, their per-minute rollups, the agent registry, spool gaps, refused results, the
//! delivery log, alerts, closed periods with their artifacts, claims with their history, which reports
//! went to which channel, and what vendors' status pages declared)
//! into an empty PostgreSQL store, in batches, then checks that every table holds as many rows on both sides.
//! Rows are copied as stored (the protobuf record bytes included), so reports from either store are equal.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};
use slaprobe_proto::error_text::error_chain;
use tokio_postgres::types::ToSql;

use crate::store::postgres::PostgresStore;
use crate::store::{Store, StoreError};

/// Results copied per batch.
const BATCH: usize = 5_000;

/// The tables moved, in order, with the rows each held.
pub type Counts = Vec<(&'static str, u64)>;

/// A migration failure, saying which side and what.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// `--from` names no file.
    #[error("migrate: {} is not a file", .0.display())]
    NoSource(PathBuf),
    /// A store could not be opened or used (the SQLite one is opened once to bring its schema up to date; the
    /// PostgreSQL one gives the connections and creates the partitions).
    #[error("migrate: {0}")]
    Store(#[from] StoreError),
    /// Reading the SQLite store failed.
    #[error("migrate: reading the SQLite store: {0}")]
    Read(#[from] rusqlite::Error),
    /// Writing to PostgreSQL failed.
    #[error("migrate: writing to PostgreSQL: {}", error_chain(.0))]
    Write(#[from] tokio_postgres::Error),
    /// The target already holds results.
    #[error("migrate: the target already holds {0} results; migrate into an empty database")]
    TargetNotEmpty(i64),
    /// A table holds a different number of rows on each side after the copy.
    #[error("migrate: {table}: {sqlite} rows in SQLite but {postgres} in PostgreSQL")]
    CountsDiffer {
        /// The table.
        table: &'static str,
        /// Rows in SQLite.
        sqlite: i64,
        /// Rows in PostgreSQL.
        postgres: i64,
    },
}

/// Moves the SQLite store at `from` into the PostgreSQL store at `to`, calling `progress(done, total)` as
/// results go; returns the rows per table, equal on both sides.
pub async fn migrate(from: &Path, to: &str, progress: impl Fn(u64, u64)) -> Result<Counts, MigrateError> {
    if !from.is_file() {
        return Err(MigrateError::NoSource(from.to_owned()));
    }
    drop(Store::open_sqlite(from)?);
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let target = PostgresStore::open(to).await?;
    let client = target.connection().await?;
    let present: i64 = client.query_one("SELECT count(*) FROM results", &[]).await?.get(0);
    if present > 0 {
        return Err(MigrateError::TargetNotEmpty(present));
    }
    drop(client);
    let total: i64 = source.query_row("SELECT count(*) FROM results", [], |row| row.get(0))?;
    let total = u64::try_from(total).unwrap_or(0);
    copy_results(&source, &target, total, &progress).await?;
    for table in &TABLES {
        copy_table(&source, &target, table).await?;
    }
    check_counts(&source, &target).await
}

/// One stored result, as its columns.
struct ResultRow {
    agent_id: String,
    seq: i64,
    check_id: String,
    region: String,
    started_at_ns: i64,
    ok: bool,
    record: Vec<u8>,
    flags: i32,
    received_at_ns: Option<i64>,
}

async fn copy_results(
    source: &Connection,
    target: &PostgresStore,
    total: u64,
    progress: &impl Fn(u64, u64),
) -> Result<(), MigrateError> {
    let mut statement = source.prepare(
        "SELECT agent_id, seq, check_id, region, started_at_ns, ok, record, flags, received_at_ns FROM results
             WHERE (started_at_ns, agent_id, seq) > (?1, ?2, ?3) ORDER BY started_at_ns, agent_id, seq LIMIT ?4",
    )?;
    let mut after: (i64, String, i64) = (i64::MIN, String::new(), i64::MIN);
    let mut done = 0;
    loop {
        let rows: Vec<ResultRow> = statement
            .query_map(params![after.0, after.1, after.2, BATCH as i64], |row| {
                Ok(ResultRow {
                    agent_id: row.get(0)?,
                    seq: row.get(1)?,
                    check_id: row.get(2)?,
                    region: row.get(3)?,
                    started_at_ns: row.get(4)?,
                    ok: row.get(5)?,
                    record: row.get(6)?,
                    flags: row.get(7)?,
                    received_at_ns: row.get(8)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = (last.started_at_ns, last.agent_id.clone(), last.seq);
        target.ensure_partitions(rows.iter().map(|row| row.started_at_ns)).await?;
        let agents: Vec<&str> = rows.iter().map(|row| row.agent_id.as_str()).collect();
        let seqs: Vec<i64> = rows.iter().map(|row| row.seq).collect();
        let checks: Vec<&str> = rows.iter().map(|row| row.check_id.as_str()).collect();
        let regions: Vec<&str> = rows.iter().map(|row| row.region.as_str()).collect();
        let started: Vec<i64> = rows.iter().map(|row| row.started_at_ns).collect();
        let oks: Vec<bool> = rows.iter().map(|row| row.ok).collect();
        let records: Vec<&[u8]> = rows.iter().map(|row| row.record.as_slice()).collect();
        let flags: Vec<i32> = rows.iter().map(|row| row.flags).collect();
        let received: Vec<Option<i64>> = rows.iter().map(|row| row.received_at_ns).collect();
        let client = target.connection().await?;
        client
            .execute(
                "INSERT INTO results (agent_id, seq, check_id, region, started_at_ns, ok, record, flags, received_at_ns)
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::boolean[],
                                      $7::bytea[], $8::integer[], $9::bigint[])",
                &[&agents, &seqs, &checks, &regions, &started, &oks, &records, &flags, &received],
            )
            .await
            ?;
        done += rows.len() as u64;
        progress(done, total);
    }
}

/// A table copied row by row: its name and columns, the same on both sides.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
}

/// How a column travels: SQLite stores booleans as integers.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    OptionalText,
    /// BIGINT in PostgreSQL.
    Int,
    /// INTEGER in PostgreSQL.
    Int32,
    OptionalInt,
    Bool,
    Bytes,
}

const TABLES: [Table; 19] = [
    Table {
        name: "agent_keys",
        columns: &[("agent_id", Kind::Text), ("public_key", Kind::Bytes), ("recorded_at_ns", Kind::Int)],
    },
    Table {
        name: "checkpoints",
        columns: &[
            ("agent_id", Kind::Text),
            ("seq", Kind::Int),
            ("chain", Kind::Bytes),
            ("signature", Kind::Bytes),
            ("public_key", Kind::Bytes),
            ("received_at_ns", Kind::Int),
        ],
    },
    Table {
        name: "gap_statements",
        columns: &[
            ("agent_id", Kind::Text),
            ("first_seq", Kind::Int),
            ("last_seq", Kind::Int),
            ("reason", Kind::Text),
            ("chain_before", Kind::Bytes),
            ("chain_after", Kind::Bytes),
            ("signature", Kind::Bytes),
            ("public_key", Kind::Bytes),
            ("reported_at_ns", Kind::Int),
        ],
    },
    Table {
        name: "result_rollups",
        columns: &[
            ("check_id", Kind::Text),
            ("region", Kind::Text),
            ("minute_ns", Kind::Int),
            ("total", Kind::Int),
            ("failed", Kind::Int),
        ],
    },
    Table {
        name: "agents",
        columns: &[
            ("agent_id", Kind::Text),
            ("region", Kind::Text),
            ("version", Kind::Text),
            ("connected_at_ns", Kind::Int),
            ("last_seen_ns", Kind::Int),
            ("spool_backlog", Kind::Int),
            ("clock_offset_ns", Kind::OptionalInt),
            ("clock_round_trip_ns", Kind::OptionalInt),
            ("clock_measured_at_ns", Kind::OptionalInt),
        ],
    },
    Table {
        name: "spool_gaps",
        columns: &[
            ("agent_id", Kind::Text),
            ("first_seq", Kind::Int),
            ("last_seq", Kind::Int),
            ("reason", Kind::Text),
            ("reported_at_ns", Kind::Int),
        ],
    },
    Table {
        name: "refused_results",
        columns: &[
            ("agent_id", Kind::Text),
            ("seq", Kind::Int),
            ("reason", Kind::Text),
            ("received_at_ns", Kind::Int),
            ("record", Kind::Bytes),
        ],
    },
    Table {
        name: "deliveries",
        columns: &[
            ("sent_at_ns", Kind::Int),
            ("channel", Kind::Text),
            ("state", Kind::Text),
            ("kind", Kind::Text),
            ("contract", Kind::Text),
            ("delivered", Kind::Bool),
            ("attempts", Kind::Text),
            ("alert_id", Kind::OptionalText),
        ],
    },
    Table {
        name: "alerts",
        columns: &[
            ("id", Kind::Text),
            ("contract", Kind::Text),
            ("kind", Kind::Text),
            ("policy", Kind::Text),
            ("state", Kind::Text),
            ("started_at_ns", Kind::Int),
            ("fired_at_ns", Kind::Int),
            ("resolved_at_ns", Kind::OptionalInt),
            ("resolved_by", Kind::OptionalText),
            ("acknowledged_at_ns", Kind::OptionalInt),
            ("acknowledged_by", Kind::OptionalText),
            ("levels_notified", Kind::Int32),
            ("last_notified_at_ns", Kind::OptionalInt),
            ("regions", Kind::Text),
            ("summary", Kind::Text),
            ("rearmed", Kind::Bool),
        ],
    },
    Table {
        name: "closed_periods",
        columns: &[("contract", Kind::Text), ("period", Kind::Text), ("revision", Kind::Int), ("record", Kind::Text)],
    },
    Table {
        name: "period_artifacts",
        columns: &[
            ("contract", Kind::Text),
            ("period", Kind::Text),
            ("revision", Kind::Int),
            ("name", Kind::Text),
            ("content", Kind::Bytes),
        ],
    },
    Table {
        name: "claims",
        columns: &[("contract", Kind::Text), ("period", Kind::Text), ("version", Kind::Int), ("record", Kind::Text)],
    },
    Table {
        name: "claim_events",
        columns: &[("contract", Kind::Text), ("period", Kind::Text), ("version", Kind::Int), ("record", Kind::Text)],
    },
    Table {
        name: "report_deliveries",
        columns: &[
            ("contract", Kind::Text),
            ("period", Kind::Text),
            ("revision", Kind::Int),
            ("channel", Kind::Text),
            ("kind", Kind::Text),
            ("state", Kind::Text),
            ("tries", Kind::Int),
            ("updated_at_ns", Kind::Int),
        ],
    },
    Table { name: "status_pages", columns: &[("url", Kind::Text), ("record", Kind::Text)] },
    Table {
        name: "enrolled_agents",
        columns: &[("agent_id", Kind::Text), ("enrolment", Kind::Text), ("state", Kind::Text), ("record", Kind::Text)],
    },
    Table { name: "agent_health", columns: &[("agent_id", Kind::Text), ("at_ns", Kind::Int), ("record", Kind::Text)] },
    Table {
        name: "agent_faults",
        columns: &[("start_ns", Kind::Int), ("agent_id", Kind::Text), ("end_ns", Kind::Int), ("record", Kind::Text)],
    },
    Table {
        name: "agent_fault_progress",
        columns: &[
            ("id", Kind::Int32),
            ("rule", Kind::Text),
            ("judged_from_ns", Kind::Int),
            ("judged_until_ns", Kind::Int),
        ],
    },
];

async fn copy_table(source: &Connection, target: &PostgresStore, table: &Table) -> Result<(), MigrateError> {
    let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let order = if table.name == "deliveries" { " ORDER BY id" } else { "" };
    let mut statement = source.prepare(&format!("SELECT {} FROM {}{order}", names.join(", "), table.name))?;
    let rows: Vec<Vec<Box<dyn ToSql + Sync + Send>>> = statement
        .query_map([], |row| {
            table
                .columns
                .iter()
                .enumerate()
                .map(|(index, (_, kind))| -> rusqlite::Result<Box<dyn ToSql + Sync + Send>> {
                    Ok(match kind {
                        Kind::Text => Box::new(row.get::<_, String>(index)?),
                        Kind::OptionalText => Box::new(row.get::<_, Option<String>>(index)?),
                        Kind::Int32 => Box::new(row.get::<_, i32>(index)?),
                        Kind::Int => Box::new(row.get::<_, i64>(index)?),
                        Kind::OptionalInt => Box::new(row.get::<_, Option<i64>>(index)?),
                        Kind::Bool => Box::new(row.get::<_, bool>(index)?),
                        Kind::Bytes => Box::new(row.get::<_, Vec<u8>>(index)?),
                    })
                })
                .collect()
        })?
        .collect::<Result<_, _>>()?;
    let placeholders: Vec<String> = (1..=names.len()).map(|index| format!("${index}")).collect();
    let insert = format!("INSERT INTO {} ({}) VALUES ({})", table.name, names.join(", "), placeholders.join(", "));
    let mut client = target.connection().await?;
    let transaction = client.transaction().await?;
    let statement = transaction.prepare(&insert).await?;
    for row in &rows {
        let values: Vec<&(dyn ToSql + Sync)> = row.iter().map(|value| value.as_ref() as &(dyn ToSql + Sync)).collect();
        transaction.execute(&statement, &values).await?;
    }
    Ok(transaction.commit().await?)
}

async fn check_counts(source: &Connection, target: &PostgresStore) -> Result<Counts, MigrateError> {
    let client = target.connection().await?;
    let mut counts = Vec::new();
    for name in std::iter::once("results").chain(TABLES.iter().map(|table| table.name)) {
        let from: i64 = source.query_row(&format!("SELECT count(*) FROM {name}"), [], |row| row.get(0))?;
        let to: i64 = client.query_one(&format!("SELECT count(*) FROM {name}"), &[]).await?.get(0);
        if from != to {
            return Err(MigrateError::CountsDiffer { table: name, sqlite: from, postgres: to });
        }
        counts.push((name, u64::try_from(from).unwrap_or(0)));
    }
    Ok(counts)
}
