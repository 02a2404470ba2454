//! This collector among the replicas serving one store: every [`BEAT_EVERY`] it records its heartbeat (name,
//! version, start, the SHA-256 of the configuration it runs, its listeners) in the store, so that any replica
//! can list them all and tell which are alive ([`is_alive`]) and whose configuration differs. Before serving it
//! ends what an earlier process of the same name left behind ([`arrive`]), and at a clean stop it leaves.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::CollectorConfig;
use crate::digest::hex;
use crate::outage::Outage;
use crate::store::Store;
use crate::store::cluster::{ReplicaRecord, instance_name};

/// Time between heartbeats.
pub const BEAT_EVERY: Duration = Duration::from_secs(10);

/// A replica whose latest heartbeat is older than this is taken for gone (three missed beats).
pub const ALIVE_WITHIN: SignedDuration = SignedDuration::from_secs(30);

/// Whether `replica` beat recently enough, at `now`, to be taken for alive.
pub fn is_alive(replica: &ReplicaRecord, now: Timestamp) -> bool {
    now.duration_since(replica.heartbeat_at) <= ALIVE_WITHIN
}

/// SHA-256 of the files `config` was read from, in order: replicas running the same files show the same hash.
pub fn config_sha256(config: &CollectorConfig) -> String {
    let mut hasher = Sha256::new();
    for source in &config.sources {
        hasher.update(std::fs::read(source).unwrap_or_default());
        hasher.update([0]);
    }
    hex(&hasher.finalize())
}

/// Ends the sessions an earlier process of this collector's name left recorded (a container restarted under the
/// same host name and process id), before this one takes sessions; a failure is logged and serving goes on.
pub async fn arrive(store: &Store) {
    if let Err(error) = store.leave_cluster(instance_name()).await {
        tracing::warn!(%error, "Could not clear what an earlier run of this collector left in the replica list.");
    }
}

/// Beats until `stop`, then leaves.
pub async fn run(store: Store, config: watch::Receiver<Arc<CollectorConfig>>, stop: CancellationToken) {
    let name = instance_name();
    let started_at = Timestamp::now();
    let mut outage = Outage::default();
    loop {
        let current = config.borrow().clone();
        let replica = ReplicaRecord {
            name: name.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at,
            heartbeat_at: Timestamp::now(),
            config_sha256: config_sha256(&current),
            grpc: current.listen.grpc.to_string(),
            http: current.listen.http.map(|address| address.to_string()),
        };
        match store.beat(&replica).await {
            Ok(()) => {
                if let Some(ended) = outage.worked() {
                    tracing::info!(lasted = ?ended.lasted, failures = ended.failures, "Heartbeats recorded again.");
                }
            }
            Err(error) => {
                if outage.failed() {
                    let effect = "other replicas show it as gone";
                    tracing::warn!(%error, effect, "Could not record this collector's heartbeat.");
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(BEAT_EVERY) => {}
        }
    }
    if let Err(error) = store.leave_cluster(name).await {
        tracing::warn!(%error, "Could not leave the replica list; it forgets this collector on its own.");
    }
}
