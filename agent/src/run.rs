//! The standalone agent: schedule the configured checks, write every result, reload on request, and drain on
//! shutdown.
//!
//! [`run`] takes the loaded config, an opened output and the reload and shutdown signals as plain values, so
//! tests drive the same code the binary runs.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use slaprobe_proto::ResultRecord;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::SystemClock;
use crate::config::{AgentConfig, PreparedCheck, load_agent_config};
use crate::output::write_jsonl;
use crate::probe::{AttemptWindow, Identity, ProbeContext, run_check};
use crate::schedule::{AttemptRunner, Scheduler};

/// How long attempts in flight may take to finish after a shutdown request.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Results buffered between the probes and the writer.
const RESULT_QUEUE: usize = 4096;

/// Probes for real.
pub struct ProbeRunner {
    context: ProbeContext,
    identity: Identity,
}

impl AttemptRunner for ProbeRunner {
    async fn attempt(&self, check: &PreparedCheck, window: AttemptWindow, abort: CancellationToken) -> ResultRecord {
        run_check(&self.context, check, &self.identity, window, abort.cancelled()).await
    }
}

/// What a finished run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// Results written.
    pub results_written: u64,
}

/// Runs the agent until `shutdown` is cancelled. Each message on `reloads` re-reads `config_path`; a config
/// that fails to load is reported and the running one is kept.
pub async fn run(
    config: AgentConfig,
    config_path: PathBuf,
    sink: Box<dyn Write + Send>,
    mut reloads: mpsc::Receiver<()>,
    shutdown: CancellationToken,
) -> anyhow::Result<RunSummary> {
    let identity = Identity { agent_id: config.agent_id().to_owned(), region: config.settings.region.clone() };
    let runner = ProbeRunner { context: ProbeContext::new(config.settings.source_ip), identity };
    let (results, queue) = mpsc::channel(RESULT_QUEUE);
    let writer = tokio::task::spawn_blocking(move || write_jsonl(sink, queue));
    let mut scheduler = Scheduler::new(runner, config.settings.max_concurrent_probes, results, Arc::new(SystemClock));
    let summary = scheduler.apply(config.checks_for_region().cloned());
    tracing::info!(checks = summary.added, region = %config.settings.region, "Started probing.");
    let settings = config.settings;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(()) = reloads.recv() => match load_agent_config(&config_path) {
                Ok(new_config) => {
                    if new_config.settings != settings {
                        tracing::warn!("Settings other than `checks` changed; they take effect on restart.");
                    }
                    let summary = scheduler.apply(new_config.checks_for_region().cloned());
                    tracing::info!(
                        added = summary.added, changed = summary.changed,
                        removed = summary.removed, unchanged = summary.unchanged,
                        "Reloaded the configuration."
                    );
                }
                Err(error) => tracing::error!("Kept the running configuration; the new one is invalid: {error}"),
            },
        }
    }
    tracing::info!(grace_seconds = SHUTDOWN_GRACE.as_secs(), "Shutting down; letting attempts in flight finish.");
    scheduler.shutdown(SHUTDOWN_GRACE).await;
    let results_written = writer.await??;
    tracing::info!(results_written, "Stopped.");
    Ok(RunSummary { results_written })
}
