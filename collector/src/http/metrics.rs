//! The collector's Prometheus metrics (`/metrics`, OpenMetrics text): what ingest stored, refused and skipped
//! as duplicates, how long store commits take, which agents hold a session, and each agent's clock offset.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Labels naming one agent.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentLabels {
    /// Agent id.
    pub agent_id: String,
}

/// Ingest's metrics; shared by every session and the HTTP listener.
#[derive(Debug)]
pub struct IngestMetrics {
    registry: Registry,
    /// Results newly stored.
    pub results_stored: Counter,
    /// Results received again and left as they were (replays).
    pub results_duplicate: Counter,
    /// Results refused (kept in `refused_results` with the reason).
    pub results_refused: Counter,
    /// Batches committed.
    pub batches: Counter,
    /// Seconds from handing a batch to the store to its durable commit.
    pub commit_seconds: Histogram,
    /// Agent sessions open.
    pub sessions: Family<AgentLabels, Gauge>,
    /// Each agent's last clock estimate, collector minus agent, seconds.
    pub clock_offset_seconds: Family<AgentLabels, Gauge<f64, AtomicU64>>,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("slaprobe_collector");
        let results_stored = Counter::default();
        registry.register("results_stored", "Results newly stored", results_stored.clone());
        let results_duplicate = Counter::default();
        registry.register(
            "results_duplicate",
            "Results received again and left as they were",
            results_duplicate.clone(),
        );
        let results_refused = Counter::default();
        registry.register("results_refused", "Results refused, kept with the reason", results_refused.clone());
        let batches = Counter::default();
        registry.register("batches", "Result batches committed", batches.clone());
        let commit_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "store_commit_seconds",
            "Time from handing a batch to the store to its commit",
            commit_seconds.clone(),
        );
        let sessions = Family::default();
        registry.register("agent_sessions", "Agent sessions open", sessions.clone());
        let clock_offset_seconds = Family::default();
        registry.register(
            "agent_clock_offset_seconds",
            "Each agent's last clock estimate, collector minus agent",
            clock_offset_seconds.clone(),
        );
        Self {
            registry,
            results_stored,
            results_duplicate,
            results_refused,
            batches,
            commit_seconds,
            sessions,
            clock_offset_seconds,
        }
    }
}

impl IngestMetrics {
    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// Whether `agent_id` holds a session now.
    pub fn is_connected(&self, agent_id: &str) -> bool {
        self.sessions.get_or_create(&AgentLabels { agent_id: agent_id.to_owned() }).get() > 0
    }

    /// Counts one agent's session open until the returned guard is dropped.
    pub fn session_opened(&self, agent_id: &str) -> SessionGuard<'_> {
        let labels = AgentLabels { agent_id: agent_id.to_owned() };
        self.sessions.get_or_create(&labels).inc();
        SessionGuard { metrics: self, labels }
    }
}

/// Counts a session as open while it lives.
pub struct SessionGuard<'a> {
    metrics: &'a IngestMetrics,
    labels: AgentLabels,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.metrics.sessions.get_or_create(&self.labels).dec();
    }
}
