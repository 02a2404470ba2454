//! The collectors serving one store, so that every replica shows the same system: each replica's heartbeat
//! (`collectors`: one row per replica, its record a [`ReplicaRecord`] as JSON, the same on both engines), which
//! replica holds each agent's session (`agents.session_collector`), and the leases with their holders.
//! A replica that stops cleanly leaves; one killed stops beating and is forgotten after [`FORGET_AFTER`].

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::columns::nanos;
use super::periods::document;
use super::records::Write;
use super::{Store, StoreError};

/// This collector process's name among the replicas, and as the holder of its leases: the host name and the
/// process id (`collector-b:1`), the same for the process's whole life. A restart under the same name (a
/// container's process is always 1) is the same replica coming back: it takes its leases up again at once.
pub fn instance_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host = host.trim();
        format!("{}:{}", if host.is_empty() { "collector" } else { host }, std::process::id())
    })
}

/// A replica that has not beaten for this long is forgotten.
pub const FORGET_AFTER: SignedDuration = SignedDuration::from_hours(24);

/// One collector as it last described itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaRecord {
    /// Its name: the host name and process id (`collector-b:1`), also the holder name of its leases.
    pub name: String,
    /// Its software version.
    pub version: String,
    /// When it started serving.
    pub started_at: Timestamp,
    /// Its latest heartbeat.
    pub heartbeat_at: Timestamp,
    /// SHA-256 of the configuration it runs (the config file, then any checks and contracts files), so that
    /// replicas running different configurations stand out.
    pub config_sha256: String,
    /// Its gRPC listener's address, as configured.
    pub grpc: String,
    /// Its HTTP listener's address, as configured.
    pub http: Option<String>,
}

/// A lease and who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseRecord {
    /// The lease (`alerting`, `retention`, `ledger`, `close`, `status_pages`).
    pub name: String,
    /// The replica holding it.
    pub holder: String,
    /// When it expires unless renewed.
    pub expires_at: Timestamp,
}

/// A change to the replicas' records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClusterWrite {
    /// A replica's heartbeat (its name, the instant in nanoseconds, its record), forgetting replicas silent since
    /// the last value.
    Beat(String, i64, String, i64),
    /// A replica leaves (at start, what an earlier process of the same name left; at a clean stop, itself): its
    /// row goes and the sessions recorded as its own end.
    Leave(String),
    /// An agent's session (agent, replica, when it opened) ended, unless a newer one took its place.
    SessionEnded(String, String, i64),
}

/// The statements of each [`ClusterWrite`], with `$n` parameters in order.
pub(crate) const BEAT: &str = "INSERT INTO collectors (name, heartbeat_ns, record) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET heartbeat_ns = excluded.heartbeat_ns, record = excluded.record";
/// See [`BEAT`].
pub(crate) const FORGET: &str = "DELETE FROM collectors WHERE heartbeat_ns < $1";
/// See [`BEAT`].
pub(crate) const LEAVE: &str = "DELETE FROM collectors WHERE name = $1";
/// See [`BEAT`].
pub(crate) const CLEAR_SESSIONS: &str = "UPDATE agents SET session_collector = NULL WHERE session_collector = $1";
/// See [`BEAT`].
pub(crate) const SESSION_ENDED: &str = "UPDATE agents SET session_collector = NULL
     WHERE agent_id = $1 AND session_collector = $2 AND connected_at_ns = $3";

impl Store {
    /// Records `replica`'s heartbeat.
    pub async fn beat(&self, replica: &ReplicaRecord) -> Result<(), StoreError> {
        let forget = replica.heartbeat_at.saturating_sub(FORGET_AFTER).unwrap_or(Timestamp::MIN);
        let beat =
            ClusterWrite::Beat(replica.name.clone(), nanos(replica.heartbeat_at), document(replica)?, nanos(forget));
        self.write(Write::Cluster(Box::new(beat))).await.map(drop)
    }

    /// Removes replica `name` and ends the sessions recorded as its own.
    pub async fn leave_cluster(&self, name: &str) -> Result<(), StoreError> {
        self.write(Write::Cluster(Box::new(ClusterWrite::Leave(name.to_owned())))).await.map(drop)
    }

    /// Records that `agent_id`'s session with `collector`, opened at `connected_at`, ended.
    pub async fn session_ended(
        &self,
        agent_id: &str,
        collector: &str,
        connected_at: Timestamp,
    ) -> Result<(), StoreError> {
        let ended = ClusterWrite::SessionEnded(agent_id.to_owned(), collector.to_owned(), nanos(connected_at));
        self.write(Write::Cluster(Box::new(ended))).await.map(drop)
    }

    /// Every replica that beat within [`FORGET_AFTER`], by name.
    pub async fn replicas(&self) -> Result<Vec<ReplicaRecord>, StoreError> {
        self.json_records("SELECT record FROM collectors ORDER BY name", Vec::new(), "collectors.record").await
    }

    /// Every lease on record (expired ones included: the caller compares with its clock), by name.
    pub async fn leases(&self) -> Result<Vec<LeaseRecord>, StoreError> {
        let query = "SELECT name, holder, expires_at_ns FROM leases ORDER BY name";
        let rows: Vec<(String, String, i64)> = match self {
            Self::Sqlite(store) => {
                store
                    .read(move |connection| {
                        let mut statement = connection.prepare_cached(query)?;
                        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
                        rows.collect()
                    })
                    .await?
            }
            Self::Postgres(store) => {
                let rows = store.connection().await?.query(query, &[]).await?;
                rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect()
            }
        };
        let instant = |ns: i64| Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(Timestamp::MIN);
        Ok(rows
            .into_iter()
            .map(|(name, holder, expires)| LeaseRecord { name, holder, expires_at: instant(expires) })
            .collect())
    }
}
