//! The agent loop: schedule the checks, deliver every result (to JSON lines, or through the spool to the
//! collector), reload on request, take the checks the collector pushes, and drain on shutdown.
//!
//! [`run`] takes the loaded config, where results go and the reload and shutdown signals as plain values, so
//! tests drive the same code the binary runs.
//!
//! With a collector, the checks it pushes replace the local list; they are kept in `spool_dir` and used from
//! there after a restart, so the agent keeps probing through collector outages.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use slaprobe_checks::{ChecksDocument, PreparedCheck, parse_checks_document};
use slaprobe_proto::{ResultRecord, v1};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::clock::{SystemClock, watch_steps};
use crate::config::{AgentConfig, load_agent_config, runs_in_region, with_own_controls};
use crate::metrics::{AgentMetrics, serve_metrics};
use crate::output::write_jsonl;
use crate::private_files::{create_private_dir, write_private_atomically};
use crate::probe::{AttemptWindow, Identity, ProbeContext, run_check};
use crate::schedule::{AttemptRunner, Scheduler};
use crate::signing::{CheckpointPolicy, KeyFileError, SigningKey};
use crate::spool::Spool;
use crate::spool::writer::write_spool;
use crate::uplink::{self, Links, UplinkSettings};

/// How long attempts in flight may take to finish after a shutdown request.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Results buffered between the probes and the writer.
const RESULT_QUEUE: usize = 4096;
/// The pushed checks, kept in `spool_dir`.
const PUSHED_CHECKS: &str = "pushed-checks.yaml";

/// Probes for real.
pub struct ProbeRunner {
    context: ProbeContext,
    identity: Identity,
    metrics: Arc<AgentMetrics>,
}

impl AttemptRunner for ProbeRunner {
    async fn attempt(&self, check: &PreparedCheck, window: AttemptWindow, abort: CancellationToken) -> ResultRecord {
        let result = run_check(&self.context, check, &self.identity, window, abort.cancelled()).await;
        self.metrics.observe(check, &result);
        result
    }
}

/// Where results go.
pub enum Delivery {
    /// JSON lines to this writer (standalone).
    Jsonl(Box<dyn Write + Send>),
    /// The spool in `spool_dir`, streamed to the configured collector.
    Collector,
}

/// What a finished run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// Results written (JSON lines) or spooled.
    pub results_written: u64,
}

/// Why the agent could not start, or could not deliver its results.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `metrics_listen` cannot be bound.
    #[error("metrics_listen: cannot listen on {address}: {source}")]
    MetricsListen {
        /// The address.
        address: std::net::SocketAddr,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The spool cannot be opened.
    #[error("spool {}: {source}", dir.display())]
    Spool {
        /// The spool's directory.
        dir: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The agent's signing key cannot be loaded or made.
    #[error("signing key: {0}")]
    Key(#[source] KeyFileError),
    /// A file of `collector_tls` cannot be read (the message names the key and the file).
    #[error("{0}")]
    CollectorTls(String),
    /// Results could not be written (JSON lines or the spool).
    #[error("writing results: {0}")]
    Write(#[source] std::io::Error),
    /// The result writer stopped abnormally.
    #[error("the result writer stopped: {0}")]
    WriterStopped(#[source] tokio::task::JoinError),
}

/// Runs the agent until `shutdown` is cancelled. Each message on `reloads` re-reads `config_path`; a config
/// that fails to load is reported and the running one is kept.
pub async fn run(
    mut config: AgentConfig,
    config_path: PathBuf,
    delivery: Delivery,
    mut reloads: mpsc::Receiver<()>,
    shutdown: CancellationToken,
) -> Result<RunSummary, RunError> {
    let identity = Identity { agent_id: config.agent_id().to_owned(), region: config.settings.region.clone() };
    let metrics = Arc::new(AgentMetrics::default());
    let metrics_listener = match config.settings.metrics_listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .map_err(|source| RunError::MetricsListen { address, source })?,
        ),
        None => None,
    };
    let context = ProbeContext::new(config.settings.source_ip, &config.settings.resolv_conf);
    let resolver = context.nameserver().map_or_else(|failure| failure.message, |server| server.to_string());
    let runner = ProbeRunner { context, identity, metrics: metrics.clone() };
    let (results, queue) = mpsc::channel(RESULT_QUEUE);
    let (pushed_tx, mut pushed) = mpsc::channel::<v1::CheckConfig>(4);
    let config_version = Arc::new(Mutex::new(String::new()));
    let stop_uplink = CancellationToken::new();
    let mut initial_checks: Vec<PreparedCheck> = config.take_checks_for_region();
    let mut spooled = None;
    let (writer, uplink) = match delivery {
        Delivery::Jsonl(sink) => (tokio::task::spawn_blocking(move || write_jsonl(sink, queue)), None),
        Delivery::Collector => {
            let dir = &config.settings.spool_dir;
            if let Some((version, checks)) = load_pushed(dir, &config.settings.region) {
                tracing::info!(checks = checks.len(), "Using the checks the collector pushed last.");
                initial_checks = with_own_controls(checks, &config.controls);
                *config_version.lock().unwrap_or_else(PoisonError::into_inner) = version;
            }
            let key = SigningKey::load_or_create(dir).map_err(RunError::Key)?;
            tracing::info!(public_key = %key.public_key(), "Signing results with this agent key.");
            let spool_dir = dir.join("results");
            let spool = Spool::open(&spool_dir, config.settings.spool_max_bytes)
                .map_err(|source| RunError::Spool { dir: spool_dir, source })?;
            let spool = Arc::new(Mutex::new(spool));
            spooled = Some(spool.clone());
            let appended = Arc::new(Notify::new());
            let settings = UplinkSettings {
                collectors: config.collectors(),
                token: config.settings.token.clone().unwrap_or_default(),
                agent_id: config.agent_id().to_owned(),
                region: config.settings.region.clone(),
                tls: uplink::client_tls(config.settings.collector_tls.as_ref()).map_err(RunError::CollectorTls)?,
                key: Arc::new(key),
                checkpoints: CheckpointPolicy {
                    results: config.settings.checkpoint_results,
                    every: config.settings.checkpoint_every,
                },
                resolver,
            };
            let links = Links {
                appended: appended.clone(),
                configs: pushed_tx.clone(),
                config_version: config_version.clone(),
                connected: metrics.uplink_connected.clone(),
            };
            let uplink = tokio::spawn(uplink::run(settings, spool.clone(), links, stop_uplink.clone()));
            let writer_metrics = metrics.clone();
            let writer = tokio::task::spawn_blocking(move || write_spool(&spool, &appended, queue, &writer_metrics));
            (writer, Some(uplink))
        }
    };
    drop(pushed_tx);
    if let Some(listener) = metrics_listener {
        let (metrics, stop) = (metrics.clone(), stop_uplink.clone());
        tokio::spawn(async move {
            if let Err(error) = serve_metrics(listener, metrics, spooled, stop).await {
                tracing::error!(%error, "The metrics listener failed.");
            }
        });
    }
    let clock: Arc<dyn crate::clock::WallClock> = Arc::new(SystemClock);
    tokio::spawn(watch_steps(clock.clone(), stop_uplink.clone()));
    let mut scheduler = Scheduler::new(runner, config.settings.max_concurrent_probes, results, clock);
    let summary = scheduler.apply(initial_checks);
    metrics.checks.set(scheduled(summary));
    tracing::info!(checks = summary.added, region = %config.settings.region, "Started probing.");
    let (settings, mut own_controls) = (config.settings, config.controls);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(()) = reloads.recv() => match load_agent_config(&config_path) {
                Ok(mut new_config) => {
                    if new_config.settings != settings {
                        tracing::warn!("Settings other than `checks` changed; they take effect on restart.");
                    }
                    if uplink.is_some() && !config_version.lock().map(|version| version.is_empty()).unwrap_or(true) {
                        own_controls = new_config.controls;
                        tracing::info!("Reloaded; pushed checks stay (own controls apply from the next push).");
                        continue;
                    }
                    let summary = scheduler.apply(new_config.take_checks_for_region());
                    metrics.checks.set(scheduled(summary));
                    log_apply("Reloaded the configuration.", summary);
                }
                Err(error) => tracing::error!("Kept the running configuration; the new one is invalid: {error}"),
            },
            Some(config) = pushed.recv() => match parse_checks_document(&config.checks_yaml) {
                _ if config_refused(&config) => {}
                Ok(checks) => {
                    let unrunnable = unrunnable(&checks, &settings.region);
                    if !unrunnable.is_empty() {
                        let problems = unrunnable.join("; ");
                        tracing::error!(%problems, "Refused the pushed checks; kept the running ones.");
                        continue;
                    }
                    if let Err(error) = save_pushed(&settings.spool_dir, &config.checks_yaml) {
                        tracing::error!(%error, "Could not keep the pushed checks on disk; they apply until restart.");
                    }
                    let region = settings.region.clone();
                    let ours = checks.into_iter().filter(|check| runs_in_region(check, &region)).collect();
                    let summary = scheduler.apply(with_own_controls(ours, &own_controls));
                    metrics.checks.set(scheduled(summary));
                    if let Ok(mut version) = config_version.lock() {
                        *version = config.version;
                    }
                    log_apply("Applied the checks the collector pushed.", summary);
                }
                Err(problems) => tracing::error!(problems = %problems.join("; "), "Refused the pushed checks; kept the running ones."),
            },
        }
    }
    tracing::info!(grace_seconds = SHUTDOWN_GRACE.as_secs(), "Shutting down; letting attempts in flight finish.");
    scheduler.shutdown(SHUTDOWN_GRACE).await;
    let results_written = writer.await.map_err(RunError::WriterStopped)?.map_err(RunError::Write)?;
    stop_uplink.cancel();
    if let Some(uplink) = uplink {
        let _ = uplink.await;
    }
    tracing::info!(results_written, "Stopped.");
    Ok(RunSummary { results_written })
}

/// Whether the collector said it could not push the checks (logged here; the running checks stay).
fn config_refused(config: &v1::CheckConfig) -> bool {
    if config.refused.is_empty() {
        return false;
    }
    tracing::error!(reason = %config.refused, "The collector could not push the checks; kept the running ones.");
    true
}

fn log_apply(message: &str, summary: crate::schedule::ApplySummary) {
    tracing::info!(
        added = summary.added,
        changed = summary.changed,
        removed = summary.removed,
        unchanged = summary.unchanged,
        "{message}"
    );
}

/// Checks scheduled after an apply.
fn scheduled(summary: crate::schedule::ApplySummary) -> i64 {
    i64::try_from(summary.added + summary.changed + summary.unchanged).unwrap_or(i64::MAX)
}

/// The pushed checks for `region` this agent cannot run (ICMP without a usable socket), each with why.
fn unrunnable(checks: &[PreparedCheck], region: &str) -> Vec<String> {
    let ours: Vec<&PreparedCheck> = checks.iter().filter(|check| runs_in_region(check, region)).collect();
    crate::probe::icmp::unavailable(ours.iter().copied())
        .into_iter()
        .map(|(index, why)| format!("check {:?}: {why}", ours[index].check.id))
        .collect()
}

/// The pushed checks kept in `dir`, with their version, if there are any and they are valid.
fn load_pushed(dir: &Path, region: &str) -> Option<(String, Vec<PreparedCheck>)> {
    let text = std::fs::read_to_string(dir.join(PUSHED_CHECKS)).ok()?;
    match parse_checks_document(&text) {
        Ok(checks) => Some((
            ChecksDocument::version_of(&text),
            checks.into_iter().filter(|check| runs_in_region(check, region)).collect(),
        )),
        Err(problems) => {
            tracing::warn!(problems = %problems.join("; "), "Ignored the kept pushed checks; using the local ones.");
            None
        }
    }
}

fn save_pushed(dir: &Path, text: &str) -> std::io::Result<()> {
    create_private_dir(dir)?;
    write_private_atomically(&dir.join(PUSHED_CHECKS), text.as_bytes())
}
