//! `GET /api/v1/cluster`: the collectors serving this store as one system: each replica with its version, start,
//! latest heartbeat, whether it is alive (a heartbeat within [`ALIVE_WITHIN`](crate::cluster::ALIVE_WITHIN)),
//! whether it runs the same configuration as the one answering, and the agent sessions it holds; and each lease
//! (alert evaluation, retention, the ledger's upkeep, period close, status pages) with its holder.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::Serialize;

use super::ApiError;
use crate::cluster::is_alive;
use crate::http::HttpState;
use crate::store::cluster::{LeaseRecord, ReplicaRecord, instance_name};

/// One replica as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaView {
    /// Its record, as it last described itself.
    #[serde(flatten)]
    pub replica: ReplicaRecord,
    /// Whether it beat recently.
    pub alive: bool,
    /// Whether it is the collector answering.
    pub this: bool,
    /// Whether its configuration's hash equals the answering collector's.
    pub same_config: bool,
    /// Agent sessions recorded as held by it.
    pub sessions: usize,
}

/// A lease as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseView {
    /// The lease on record.
    #[serde(flatten)]
    pub lease: LeaseRecord,
    /// Whether it is held now (not expired).
    pub held: bool,
}

/// The replicas and leases, as of `as_of`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterView {
    /// When it was read.
    pub as_of: Timestamp,
    /// The answering collector's name.
    pub this: String,
    /// Every replica that beat in the last day, by name.
    pub replicas: Vec<ReplicaView>,
    /// Every lease on record, by name.
    pub leases: Vec<LeaseView>,
}

/// The replicas and leases as of `now`.
pub async fn cluster_view(state: &HttpState, now: Timestamp) -> Result<ClusterView, ApiError> {
    let ours = state.config.borrow().sha256.clone();
    let agents = state.store.agents().await?;
    let replicas = state
        .store
        .replicas()
        .await?
        .into_iter()
        .map(|replica| ReplicaView {
            alive: is_alive(&replica, now),
            this: replica.name == instance_name(),
            same_config: replica.config_sha256 == ours,
            sessions: agents.iter().filter(|agent| agent.session_collector.as_ref() == Some(&replica.name)).count(),
            replica,
        })
        .collect();
    let leases = state
        .store
        .leases()
        .await?
        .into_iter()
        .map(|lease| LeaseView { held: lease.expires_at > now, lease })
        .collect();
    Ok(ClusterView { as_of: now, this: instance_name().to_owned(), replicas, leases })
}

/// `GET /api/v1/cluster`.
pub async fn cluster(State(state): State<HttpState>) -> Result<Json<ClusterView>, ApiError> {
    Ok(Json(cluster_view(&state, Timestamp::now()).await?))
}
