//! This collector among the replicas serving one store: every [`BEAT_EVERY`] it records its heartbeat (name,
//! version, start, the SHA-256 of the configuration it runs, its listeners) in the store, so that any replica
//! can list them all and tell which are alive ([`is_alive`]) and whose configuration differs. After each beat it
//! reads the others' and publishes the live replicas whose configuration differs from its own ([`Differing`]),
//! warning in the log when that list changes; `/readyz`, `/metrics` and a banner on every dashboard page show
//! it. Before serving it ends what an earlier process of the same name left behind ([`arrive`]), and at a clean
//! stop it leaves.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::CollectorConfig;
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

/// A live replica running another configuration than this collector's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Differing {
    /// Its name.
    pub name: String,
    /// The SHA-256 of the configuration it runs.
    pub config_sha256: String,
}

/// The replicas of `replicas` alive at `now` whose configuration's hash is not `ours`, by name.
pub fn differing(replicas: &[ReplicaRecord], ours: &str, now: Timestamp) -> Vec<Differing> {
    let mut found: Vec<Differing> = replicas
        .iter()
        .filter(|replica| is_alive(replica, now) && replica.config_sha256 != ours)
        .map(|replica| Differing { name: replica.name.clone(), config_sha256: replica.config_sha256.clone() })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// Ends the sessions an earlier process of this collector's name left recorded (a container restarted under the
/// same host name and process id), before this one takes sessions; a failure is logged and serving goes on.
pub async fn arrive(store: &Store) {
    if let Err(error) = store.leave_cluster(instance_name()).await {
        tracing::warn!(%error, "Could not clear what an earlier run of this collector left in the replica list.");
    }
}

/// Beats until `stop`, then leaves; publishes in `differing` the live replicas whose configuration differs.
pub async fn run(
    store: Store,
    config: watch::Receiver<Arc<CollectorConfig>>,
    differing: watch::Sender<Vec<Differing>>,
    stop: CancellationToken,
) {
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
            config_sha256: current.sha256.clone(),
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
        compare(&store, &current.sha256, &differing).await;
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(BEAT_EVERY) => {}
        }
    }
    if let Err(error) = store.leave_cluster(name).await {
        tracing::warn!(%error, "Could not leave the replica list; it forgets this collector on its own.");
    }
}

/// Reads the replicas and publishes those alive with another configuration than `ours` in `published`,
/// warning when the list changes and saying so when they agree again. A store that does not answer changes
/// nothing (the heartbeat's own warning says so).
async fn compare(store: &Store, ours: &str, published: &watch::Sender<Vec<Differing>>) {
    let Ok(replicas) = store.replicas().await else { return };
    let now = differing(&replicas, ours, Timestamp::now());
    let before = published.borrow().clone();
    if now == before {
        return;
    }
    if now.is_empty() {
        tracing::info!(config_sha256 = %ours, "Every live replica runs this collector's configuration again.");
    } else {
        let others: Vec<String> =
            now.iter().map(|replica| format!("{} (sha256 {})", replica.name, replica.config_sha256)).collect();
        tracing::warn!(
            config_sha256 = %ours,
            differing = %others.join(", "),
            "Replicas sharing this store run another configuration: give every replica the same files."
        );
    }
    published.send_replace(now);
}
