//! The PostgreSQL engine, for several collectors on one database: a connection pool (deadpool), numbered
//! migrations applied under an advisory lock (so replicas starting together migrate once), and `results`
//! partitioned by month (native range partitioning on `started_at_ns`, UTC months), each partition created the
//! first time a result falls in it.
//!
//! A result is keyed by `(agent_id, seq, started_at_ns)`: PostgreSQL enforces uniqueness on a partitioned table
//! only with the partition key in it. A replay is the same record, so it still lands on the same key and is a
//! duplicate, on whichever replica it arrives. Every write is one transaction, committed before it returns.
//!
//! Layout:
//! - [`write`]: each kind of write.
//! - [`read`]: the queries.
//! - [`ledger`]: the slice ledger, written and read.
//! - [`evidence`]: agents' keys, checkpoints and gap statements, written and read.

pub mod evidence;
pub mod ledger;
pub mod periods;
pub mod read;
pub mod write;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use slaprobe_proto::error_text::error_chain;

use super::StoreError;

/// Schema migrations, in order; entry `n` moves the schema from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE results (
        agent_id      TEXT    NOT NULL,
        seq           BIGINT  NOT NULL,
        check_id      TEXT    NOT NULL,
        region        TEXT    NOT NULL,
        started_at_ns BIGINT  NOT NULL,
        ok            BOOLEAN NOT NULL,
        record        BYTEA   NOT NULL,
        flags         INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (agent_id, seq, started_at_ns)
    ) PARTITION BY RANGE (started_at_ns);
    CREATE INDEX results_by_check_time ON results (check_id, started_at_ns);
    CREATE TABLE agents (
        agent_id             TEXT   NOT NULL PRIMARY KEY,
        region               TEXT   NOT NULL,
        version              TEXT   NOT NULL,
        connected_at_ns      BIGINT NOT NULL,
        last_seen_ns         BIGINT NOT NULL,
        spool_backlog        BIGINT NOT NULL,
        clock_offset_ns      BIGINT,
        clock_round_trip_ns  BIGINT,
        clock_measured_at_ns BIGINT
    );
    CREATE TABLE spool_gaps (
        agent_id       TEXT   NOT NULL,
        first_seq      BIGINT NOT NULL,
        last_seq       BIGINT NOT NULL,
        reason         TEXT   NOT NULL,
        reported_at_ns BIGINT NOT NULL,
        PRIMARY KEY (agent_id, first_seq)
    );
    CREATE TABLE refused_results (
        agent_id       TEXT   NOT NULL,
        seq            BIGINT NOT NULL,
        reason         TEXT   NOT NULL,
        received_at_ns BIGINT NOT NULL,
        record         BYTEA  NOT NULL,
        PRIMARY KEY (agent_id, seq)
    );
    CREATE TABLE deliveries (
        id         BIGSERIAL PRIMARY KEY,
        sent_at_ns BIGINT  NOT NULL,
        channel    TEXT    NOT NULL,
        state      TEXT    NOT NULL,
        kind       TEXT    NOT NULL,
        contract   TEXT    NOT NULL,
        delivered  BOOLEAN NOT NULL,
        attempts   TEXT    NOT NULL,
        alert_id   TEXT
    );
    CREATE INDEX deliveries_by_alert ON deliveries (alert_id) WHERE alert_id IS NOT NULL;
    CREATE TABLE alerts (
        id                  TEXT    NOT NULL PRIMARY KEY,
        contract            TEXT    NOT NULL,
        kind                TEXT    NOT NULL,
        policy              TEXT    NOT NULL,
        state               TEXT    NOT NULL,
        started_at_ns       BIGINT  NOT NULL,
        fired_at_ns         BIGINT  NOT NULL,
        resolved_at_ns      BIGINT,
        resolved_by         TEXT,
        acknowledged_at_ns  BIGINT,
        acknowledged_by     TEXT,
        levels_notified     INTEGER NOT NULL,
        last_notified_at_ns BIGINT,
        regions             TEXT    NOT NULL,
        summary             TEXT    NOT NULL,
        rearmed             BOOLEAN NOT NULL
    );
    CREATE INDEX alerts_by_rule ON alerts (contract, kind, fired_at_ns);
    CREATE INDEX alerts_by_time ON alerts (fired_at_ns);
    CREATE TABLE leases (
        name          TEXT   NOT NULL PRIMARY KEY,
        holder        TEXT   NOT NULL,
        expires_at_ns BIGINT NOT NULL
    );
",
    "
    CREATE TABLE result_rollups (
        check_id  TEXT   NOT NULL,
        region    TEXT   NOT NULL,
        minute_ns BIGINT NOT NULL,
        total     BIGINT NOT NULL,
        failed    BIGINT NOT NULL,
        PRIMARY KEY (check_id, minute_ns, region)
    );
",
    "
    ALTER TABLE results ADD COLUMN received_at_ns BIGINT;
",
    "
    CREATE TABLE ledger_slices (
        contract TEXT   NOT NULL,
        start_ns BIGINT NOT NULL,
        end_ns   BIGINT NOT NULL,
        cells    BYTEA  NOT NULL,
        PRIMARY KEY (contract, start_ns, end_ns)
    );
    CREATE TABLE ledger_state (
        contract          TEXT   NOT NULL PRIMARY KEY,
        terms_hash        TEXT   NOT NULL,
        rebuilt_from_ns   BIGINT NOT NULL,
        settled_until_ns  BIGINT NOT NULL,
        monitored_from_ns BIGINT
    );
    CREATE TABLE ledger_marks (
        id       BIGSERIAL PRIMARY KEY,
        check_id TEXT   NOT NULL,
        from_ns  BIGINT NOT NULL,
        to_ns    BIGINT NOT NULL
    );
",
    "
    ALTER TABLE ledger_slices ADD COLUMN latency BYTEA NOT NULL DEFAULT ''::bytea;
",
    "
    ALTER TABLE ledger_state ADD COLUMN refolds BIGINT NOT NULL DEFAULT 0;
",
    "
    CREATE TABLE agent_keys (
        agent_id       TEXT   NOT NULL PRIMARY KEY,
        public_key     BYTEA  NOT NULL,
        recorded_at_ns BIGINT NOT NULL
    );
    CREATE TABLE checkpoints (
        agent_id       TEXT   NOT NULL,
        seq            BIGINT NOT NULL,
        chain          BYTEA  NOT NULL,
        signature      BYTEA  NOT NULL,
        public_key     BYTEA  NOT NULL,
        received_at_ns BIGINT NOT NULL,
        PRIMARY KEY (agent_id, seq)
    );
    CREATE TABLE gap_statements (
        agent_id       TEXT   NOT NULL,
        first_seq      BIGINT NOT NULL,
        last_seq       BIGINT NOT NULL,
        reason         TEXT   NOT NULL,
        chain_before   BYTEA  NOT NULL,
        chain_after    BYTEA  NOT NULL,
        signature      BYTEA  NOT NULL,
        public_key     BYTEA  NOT NULL,
        reported_at_ns BIGINT NOT NULL,
        PRIMARY KEY (agent_id, first_seq, last_seq)
    );
",
    "
    CREATE TABLE closed_periods (
        contract TEXT   NOT NULL,
        period   TEXT   NOT NULL,
        revision BIGINT NOT NULL,
        record   TEXT   NOT NULL,
        PRIMARY KEY (contract, period, revision)
    );
    CREATE TABLE period_artifacts (
        contract TEXT   NOT NULL,
        period   TEXT   NOT NULL,
        revision BIGINT NOT NULL,
        name     TEXT   NOT NULL,
        content  BYTEA  NOT NULL,
        PRIMARY KEY (contract, period, revision, name)
    );
    CREATE TABLE claims (
        contract TEXT   NOT NULL,
        period   TEXT   NOT NULL,
        version  BIGINT NOT NULL,
        record   TEXT   NOT NULL,
        PRIMARY KEY (contract, period)
    );
    CREATE TABLE claim_events (
        contract TEXT   NOT NULL,
        period   TEXT   NOT NULL,
        version  BIGINT NOT NULL,
        record   TEXT   NOT NULL,
        PRIMARY KEY (contract, period, version)
    );
    CREATE TABLE report_deliveries (
        contract      TEXT   NOT NULL,
        period        TEXT   NOT NULL,
        revision      BIGINT NOT NULL,
        channel       TEXT   NOT NULL,
        kind          TEXT   NOT NULL,
        state         TEXT   NOT NULL,
        tries         BIGINT NOT NULL,
        updated_at_ns BIGINT NOT NULL,
        PRIMARY KEY (contract, period, revision, channel, kind)
    );
",
    "
    CREATE TABLE status_pages (
        url    TEXT NOT NULL PRIMARY KEY,
        record TEXT NOT NULL
    );
",
    "
    CREATE INDEX results_controls ON results (started_at_ns) WHERE flags & 16 <> 0;
",
    "
    CREATE TABLE agent_health (
        agent_id TEXT    NOT NULL,
        at_ns    BIGINT NOT NULL,
        record   TEXT    NOT NULL,
        PRIMARY KEY (agent_id, at_ns)
    );
    CREATE INDEX agent_health_by_time ON agent_health (at_ns);
",
    "
    CREATE TABLE agent_faults (
        start_ns BIGINT NOT NULL,
        agent_id TEXT   NOT NULL,
        end_ns   BIGINT NOT NULL,
        record   TEXT   NOT NULL,
        PRIMARY KEY (start_ns, agent_id)
    );
    CREATE TABLE agent_fault_progress (
        id              INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        rule            TEXT    NOT NULL,
        judged_from_ns  BIGINT  NOT NULL,
        judged_until_ns BIGINT  NOT NULL
    );
",
    "
    ALTER TABLE agents ADD COLUMN session_collector TEXT;
    CREATE TABLE collectors (
        name         TEXT   NOT NULL PRIMARY KEY,
        heartbeat_ns BIGINT NOT NULL,
        record       TEXT   NOT NULL
    );
",
    "
    CREATE TABLE enrolled_agents (
        agent_id  TEXT NOT NULL PRIMARY KEY,
        enrolment TEXT NOT NULL,
        state     TEXT NOT NULL,
        record    TEXT NOT NULL
    );
",
];

/// Connections in the pool at most.
const POOL_SIZE: usize = 16;
/// The advisory lock migrations run under.
const MIGRATION_LOCK: i64 = 0x736c_6170_726f_6265;

/// A PostgreSQL store; clones share the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    partitions: Arc<Mutex<HashSet<(i16, i8)>>>,
}

fn unusable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unusable(format!("postgres: {error}"))
}

impl PostgresStore {
    /// Connects to `url` (a libpq URL; `?options=-csearch_path%3Dname` picks a schema, `sslmode` and
    /// `sslrootcert` the TLS, [`crate::postgres_tls`]) and migrates it to the current schema.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let crate::postgres_tls::Connect { config, tls } =
            crate::postgres_tls::connect_options(url).map_err(unusable)?;
        let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager).max_size(POOL_SIZE).build().map_err(unusable)?;
        let store = Self { pool, partitions: Arc::default() };
        store.migrate().await?;
        Ok(store)
    }

    /// A pooled connection.
    pub(crate) async fn connection(&self) -> Result<deadpool_postgres::Object, StoreError> {
        let connection = self.pool.get().await;
        if connection.is_err() {
            crate::store::usage::count_failed_connection();
        }
        Ok(connection?)
    }

    /// The pool's connections now.
    pub(crate) fn pool_use(&self) -> crate::store::usage::PoolUse {
        let status = self.pool.status();
        crate::store::usage::PoolUse {
            in_use: status.size.saturating_sub(status.available),
            idle: status.available,
            waiting: status.waiting,
            max: status.max_size,
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.connection().await?;
        client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
        let outcome = async {
            // Asked first: `CREATE TABLE IF NOT EXISTS` would have the server send a notice on every start.
            let exists: bool =
                client.query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[]).await?.get(0);
            if !exists {
                client
                    .batch_execute(
                        "CREATE TABLE schema_migrations (
                             version    INTEGER PRIMARY KEY,
                             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                    )
                    .await?;
            }
            let applied: i32 =
                client.query_one("SELECT COALESCE(max(version), 0) FROM schema_migrations", &[]).await?.get(0);
            let applied = usize::try_from(applied).unwrap_or(0);
            if applied > MIGRATIONS.len() {
                return Err(StoreError::Schema(format!(
                    "schema version {applied} is newer than this collector knows ({}); upgrade slaprobe-collector",
                    MIGRATIONS.len()
                )));
            }
            for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
                let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
                let transaction = client.transaction().await?;
                transaction.batch_execute(migration).await.map_err(|problem| {
                    StoreError::Schema(format!("migration to schema version {version}: {}", error_chain(&problem)))
                })?;
                transaction.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&version]).await?;
                transaction.commit().await?;
                tracing::info!(version, "Migrated the PostgreSQL schema.");
            }
            Ok(())
        }
        .await;
        client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await?;
        outcome
    }

    /// Creates the monthly partitions `results` needs for results starting at `started` (loading tools).
    pub async fn create_partitions_for(
        &self,
        started: impl Iterator<Item = jiff::Timestamp>,
    ) -> Result<(), StoreError> {
        self.ensure_partitions(started.map(crate::store::columns::nanos)).await
    }

    /// Creates the monthly partitions of `results` that `started_at_ns` values fall in, unless known to exist.
    pub(crate) async fn ensure_partitions(&self, started: impl Iterator<Item = i64>) -> Result<(), StoreError> {
        let months: HashSet<(i16, i8)> = started.filter_map(month_of).collect();
        let missing: Vec<(i16, i8)> = {
            let known = self.partitions.lock().map_err(|_| unusable("partition cache poisoned"))?;
            months.into_iter().filter(|month| !known.contains(month)).collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let client = self.connection().await?;
        for (year, month) in missing {
            let (from, to) = month_bounds(year, month)?;
            let sign = if year < 0 { "m" } else { "" };
            let statement = format!(
                "CREATE TABLE IF NOT EXISTS results_{sign}{:04}_{month:02} PARTITION OF results FOR VALUES FROM ({from}) TO ({to})",
                year.unsigned_abs()
            );
            match client.batch_execute(&statement).await {
                Ok(()) => {}
                // Another replica created it at the same moment.
                Err(error) if error.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_TABLE) => {}
                Err(error) => return Err(error.into()),
            }
            self.partitions.lock().map_err(|_| unusable("partition cache poisoned"))?.insert((year, month));
        }
        Ok(())
    }
}

impl PostgresStore {
    /// Drops the monthly partitions that end at or before `cutoff`; returns how many, and the results they held.
    pub(crate) async fn drop_partitions_before(
        &self,
        cutoff: jiff::Timestamp,
    ) -> Result<crate::store::PrunedResults, StoreError> {
        let client = self.connection().await?;
        let rows = client
            .query(
                "SELECT child.relname FROM pg_inherits
                 JOIN pg_class child ON child.oid = pg_inherits.inhrelid
                 JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
                 JOIN pg_namespace ON pg_namespace.oid = parent.relnamespace
                 WHERE parent.relname = 'results' AND pg_namespace.nspname = current_schema()",
                &[],
            )
            .await?;
        let cutoff = crate::store::columns::nanos(cutoff);
        let mut pruned = crate::store::PrunedResults::default();
        for row in rows {
            let name: String = row.get(0);
            let Some((year, month)) = partition_month(&name) else { continue };
            let (_, end) = month_bounds(year, month)?;
            if end > cutoff {
                continue;
            }
            let count: i64 = client.query_one(&format!("SELECT count(*) FROM {name}"), &[]).await?.get(0);
            client.batch_execute(&format!("DROP TABLE IF EXISTS {name}")).await?;
            self.partitions.lock().map_err(|_| unusable("partition cache poisoned"))?.remove(&(year, month));
            tracing::info!(partition = %name, results = count, "Dropped a partition past retention.");
            pruned.results += u64::try_from(count).unwrap_or(0);
            pruned.partitions += 1;
        }
        Ok(pruned)
    }
}

/// The (year, month) of a partition named `results_2026_04` (`results_m0001_01` before year 0).
fn partition_month(name: &str) -> Option<(i16, i8)> {
    let rest = name.strip_prefix("results_")?;
    let (negative, rest) = match rest.strip_prefix('m') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let (year, month) = rest.split_once('_')?;
    let year: i16 = year.parse().ok()?;
    Some((if negative { -year } else { year }, month.parse().ok()?))
}

/// The UTC (year, month) of `nanos` since the epoch.
fn month_of(nanos: i64) -> Option<(i16, i8)> {
    let date = jiff::Timestamp::from_nanosecond(i128::from(nanos)).ok()?.to_zoned_datetime(TimeZone::UTC).date();
    Some((date.year(), date.month()))
}

/// The first and the next month's first nanosecond of (year, month) in UTC, saturated to BIGINT.
fn month_bounds(year: i16, month: i8) -> Result<(i64, i64), StoreError> {
    let first = Date::new(year, month, 1).map_err(unusable)?;
    let next = first.checked_add(jiff::Span::new().months(1)).map_err(unusable)?;
    let nanos = |date: Date| -> Result<i64, StoreError> {
        let at = date.to_zoned_datetime(TimeZone::UTC).map_err(unusable)?.timestamp().as_nanosecond();
        Ok(i64::try_from(at).unwrap_or(if at < 0 { i64::MIN } else { i64::MAX }))
    };
    Ok((nanos(first)?, nanos(next)?))
}
