//! Reloading `collector.yaml` while serving: on SIGHUP, or when the content of the config file or the checks
//! and contracts files it names changes (checked every [`POLL`]; content, not modification times, so an edit
//! within the same second is not missed).
//!
//! A configuration that fails to load is reported with every problem and the running one is kept. A good one
//! replaces ingest's settings (agents, central checks, clock bound), which open sessions act on at once;
//! changes to `listen` or `storage` are reported as needing a restart. A request may carry a reply channel
//! (the admin API's `POST /api/v1/reload`), which gets the outcome. Whether the latest reload failed is
//! published as a [`ReloadStatus`]: a banner on every dashboard page, gauges in `/metrics`, a line of `/readyz`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{CollectorConfig, load_collector_config};
use crate::ingest::IngestSettings;

/// How often the configuration files are compared with what was loaded.
pub const POLL: Duration = Duration::from_secs(2);

/// A request to reload now; with `reply`, the outcome is sent there (the problems, when it failed).
#[derive(Debug, Default)]
pub struct ReloadRequest {
    /// Where the outcome goes.
    pub reply: Option<oneshot::Sender<Result<(), String>>>,
}

/// How reloading stands: when the running configuration was loaded, and whether the latest attempt since failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadStatus {
    /// When the running configuration was loaded (at start or by the latest good reload).
    pub loaded_at: Timestamp,
    /// The latest reload, when it failed and no good one came after it.
    pub failed: Option<ReloadFailure>,
}

impl ReloadStatus {
    /// A configuration loaded just now, with no failed reload since.
    pub fn loaded_now() -> Self {
        Self { loaded_at: Timestamp::now(), failed: None }
    }
}

/// A reload that failed. Only the number of problems: their text goes to the log and to the admin who asked,
/// since a problem may quote a configured value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadFailure {
    /// When it failed.
    pub at: Timestamp,
    /// How many problems the configuration had.
    pub problems: usize,
}

/// Where the configuration comes from and who asks for a reload.
pub struct Reload {
    /// `collector.yaml`.
    pub path: PathBuf,
    /// One message per reload request (SIGHUP, the admin API).
    pub requests: mpsc::Receiver<ReloadRequest>,
    /// Hands out senders of requests (the HTTP listener takes one).
    pub sender: mpsc::Sender<ReloadRequest>,
    /// How reloading stands; [`Reload::status`] watches it.
    status: watch::Sender<ReloadStatus>,
}

impl Reload {
    /// Reloads `path` on requests sent through [`Reload::sender`].
    pub fn new(path: PathBuf) -> Self {
        let (sender, requests) = mpsc::channel(4);
        let (status, _) = watch::channel(ReloadStatus::loaded_now());
        Self { path, requests, sender, status }
    }

    /// Follows how reloading stands.
    pub fn status(&self) -> watch::Receiver<ReloadStatus> {
        self.status.subscribe()
    }
}

/// Reloads until `stop`, publishing each good configuration on `config` and its ingest settings on `settings`.
pub async fn run(
    reload: Reload,
    mut current: CollectorConfig,
    settings: watch::Sender<Arc<IngestSettings>>,
    config: watch::Sender<Arc<CollectorConfig>>,
    stop: CancellationToken,
) {
    let mut loaded_from = fingerprint(&current.sources);
    let mut poll = tokio::time::interval(POLL);
    let Reload { path, mut requests, sender, status } = reload;
    drop(sender);
    let mut requests_open = true;
    loop {
        let request = tokio::select! {
            () = stop.cancelled() => return,
            request = requests.recv(), if requests_open => {
                requests_open = request.is_some();
                request
            }
            _ = poll.tick() => None,
        };
        let now = fingerprint(&current.sources);
        if request.is_none() && now == loaded_from {
            continue;
        }
        loaded_from = now;
        let reply = request.and_then(|request| request.reply);
        let outcome = match load_collector_config(&path) {
            Ok(loaded) => {
                if loaded.listen != current.listen || loaded.storage != current.storage {
                    tracing::warn!("`listen` or `storage` changed; restart the collector to apply them.");
                }
                let next = IngestSettings::from_config(&loaded);
                tracing::info!(
                    agents = loaded.agents.len(),
                    checks = loaded.checks.len(),
                    "Reloaded the configuration; sessions push changed checks now."
                );
                settings.send_replace(Arc::new(next));
                loaded_from = fingerprint(&loaded.sources);
                config.send_replace(Arc::new(loaded.clone()));
                current = loaded;
                status.send_replace(ReloadStatus::loaded_now());
                Ok(())
            }
            Err(error) => {
                tracing::error!(
                    file = %error.source_name,
                    problems = %error.problems.join("; "),
                    "Reload failed; keeping the running configuration."
                );
                let failure = ReloadFailure { at: Timestamp::now(), problems: error.problems.len() };
                status.send_modify(|status| status.failed = Some(failure));
                Err(error.to_string())
            }
        };
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }
}

/// A hash of the files' contents (a missing file hashes as missing).
pub fn fingerprint(files: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for file in files {
        std::fs::read(file).ok().hash(&mut hasher);
    }
    hasher.finish()
}
