//! Reloading `collector.yaml` while serving: on SIGHUP, or when the content of the config file or the checks
//! and contracts files it names changes (checked every [`POLL`]; content, not modification times, so an edit
//! within the same second is not missed).
//!
//! A configuration that fails to load is reported with every problem and the running one is kept. A good one
//! replaces ingest's settings (agents, central checks, clock bound), which open sessions act on at once;
//! changes to `listen` or `storage` are reported as needing a restart.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{CollectorConfig, load_collector_config};
use crate::ingest::IngestSettings;

/// How often the configuration files are compared with what was loaded.
pub const POLL: Duration = Duration::from_secs(2);

/// Where the configuration comes from and who asks for a reload.
pub struct Reload {
    /// `collector.yaml`.
    pub path: PathBuf,
    /// One message per reload request (SIGHUP).
    pub requests: mpsc::Receiver<()>,
}

/// Reloads until `stop`, publishing each good configuration on `config` and its ingest settings on `settings`.
pub async fn run(
    mut reload: Reload,
    mut current: CollectorConfig,
    settings: watch::Sender<Arc<IngestSettings>>,
    config: watch::Sender<Arc<CollectorConfig>>,
    stop: CancellationToken,
) {
    let mut loaded_from = fingerprint(&current.sources);
    let mut poll = tokio::time::interval(POLL);
    let mut requests_open = true;
    loop {
        let requested = tokio::select! {
            () = stop.cancelled() => return,
            request = reload.requests.recv(), if requests_open => {
                requests_open = request.is_some();
                request.is_some()
            }
            _ = poll.tick() => false,
        };
        let now = fingerprint(&current.sources);
        if !requested && now == loaded_from {
            continue;
        }
        loaded_from = now;
        match load_collector_config(&reload.path) {
            Ok(loaded) => {
                if loaded.listen != current.listen || loaded.storage != current.storage {
                    tracing::warn!("`listen` or `storage` changed; restart the collector to apply them.");
                }
                let next = loaded.ingest_settings();
                tracing::info!(
                    agents = loaded.agents.len(),
                    checks = loaded.checks.len(),
                    "Reloaded the configuration; sessions push changed checks now."
                );
                settings.send_replace(Arc::new(next));
                loaded_from = fingerprint(&loaded.sources);
                config.send_replace(Arc::new(loaded.clone()));
                current = loaded;
            }
            Err(error) => tracing::error!("Reload failed; keeping the running configuration.\n{error}"),
        }
    }
}

/// A hash of the files' contents (a missing file hashes as missing). `sources` starts with the config file.
fn fingerprint(files: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for file in files {
        std::fs::read(file).ok().hash(&mut hasher);
    }
    hasher.finish()
}
