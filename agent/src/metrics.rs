//! The agent's Prometheus metrics and the small listener that serves them (`metrics_listen` in `agent.yaml`):
//! probes by kind and outcome, probe durations, the checks scheduled, the spool's size and backlog, and
//! whether the uplink holds a session, and whether spool writes fail. `/metrics` (OpenMetrics text) and
//! `/healthz` (503 while spool writes fail).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use slaprobe_proto::ResultRecord;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::spool::Spool;
use slaprobe_checks::PreparedCheck;

/// A probe's kind and outcome (`ok`, or the failure's `error_kind`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    /// `http`, `dns` or `tcp`.
    pub kind: &'static str,
    /// `ok` or the error kind.
    pub outcome: String,
}

/// A probe kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `http`, `dns` or `tcp`.
    pub kind: &'static str,
}

type DurationFamily = Family<KindLabels, Histogram, fn() -> Histogram>;

/// The agent's metrics.
#[derive(Debug)]
pub struct AgentMetrics {
    registry: Registry,
    probes: Family<ProbeLabels, Counter>,
    probe_seconds: DurationFamily,
    /// Checks scheduled.
    pub checks: Gauge,
    /// 1 while the uplink holds a session with a collector.
    pub uplink_connected: Gauge,
    spool_bytes: Gauge,
    spool_backlog: Gauge,
    spool_dropped: Gauge<u64, AtomicU64>,
    /// 1 while results cannot be written to the spool (they wait in memory); `/healthz` answers 503 then.
    pub spool_write_failing: Gauge,
    /// Failed attempts to write results to the spool.
    pub spool_write_errors: Counter,
    /// Results lost because the spool could not be written and the memory queue was full.
    pub results_lost: Counter,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for AgentMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("slaprobe_agent");
        let probes = Family::default();
        registry.register("probes", "Probe attempts by kind and outcome (ok or the error kind)", probes.clone());
        let probe_seconds: DurationFamily = Family::new_with_constructor(duration_histogram);
        registry.register("probe_duration_seconds", "Probe attempt durations", probe_seconds.clone());
        let checks = Gauge::default();
        registry.register("checks", "Checks scheduled", checks.clone());
        let uplink_connected = Gauge::default();
        registry.register(
            "uplink_connected",
            "1 while the uplink holds a session with a collector",
            uplink_connected.clone(),
        );
        let spool_bytes = Gauge::default();
        registry.register("spool_bytes", "Bytes of results in the spool", spool_bytes.clone());
        let spool_backlog = Gauge::default();
        registry.register("spool_backlog", "Results in the spool not yet acknowledged", spool_backlog.clone());
        let spool_dropped = Gauge::default();
        registry.register(
            "spool_dropped_results",
            "Results dropped over the spool's cap since the agent started (reported to the collector as gaps)",
            spool_dropped.clone(),
        );
        let spool_write_failing = Gauge::default();
        registry.register(
            "spool_write_failing",
            "1 while results cannot be written to the spool (they wait in memory)",
            spool_write_failing.clone(),
        );
        let spool_write_errors = Counter::default();
        registry.register(
            "spool_write_errors",
            "Failed attempts to write results to the spool",
            spool_write_errors.clone(),
        );
        let results_lost = Counter::default();
        registry.register(
            "results_lost",
            "Results lost because the spool could not be written and the memory queue was full",
            results_lost.clone(),
        );
        Self {
            registry,
            probes,
            probe_seconds,
            checks,
            uplink_connected,
            spool_bytes,
            spool_backlog,
            spool_dropped,
            spool_write_failing,
            spool_write_errors,
            results_lost,
        }
    }
}

impl AgentMetrics {
    /// Counts one attempt of `check` that produced `result`.
    pub fn observe(&self, check: &PreparedCheck, result: &ResultRecord) {
        let kind = check.check.kind.as_str();
        let outcome = if result.ok { "ok".to_owned() } else { result.error_kind.clone().unwrap_or_default() };
        self.probes.get_or_create(&ProbeLabels { kind, outcome }).inc();
        if let Some(duration_ms) = result.duration_ms {
            self.probe_seconds.get_or_create(&KindLabels { kind }).observe(duration_ms / 1000.0);
        }
    }

    /// The metrics in the OpenMetrics text format, with the spool's figures read now.
    pub fn encode(&self, spool: Option<&Mutex<Spool>>) -> Result<String, std::fmt::Error> {
        if let Some(spool) = spool.and_then(|spool| spool.lock().ok()) {
            self.spool_bytes.set(i64::try_from(spool.bytes()).unwrap_or(i64::MAX));
            self.spool_backlog.set(i64::try_from(spool.backlog()).unwrap_or(i64::MAX));
            self.spool_dropped.set(spool.dropped_total());
        }
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[derive(Clone)]
struct ListenerState {
    metrics: Arc<AgentMetrics>,
    spool: Option<Arc<Mutex<Spool>>>,
}

/// Serves `/metrics` and `/healthz` on `listener` until `stop`.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<AgentMetrics>,
    spool: Option<Arc<Mutex<Spool>>>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let router = Router::new()
        .route("/metrics", get(prometheus))
        .route("/healthz", get(health))
        .with_state(ListenerState { metrics, spool });
    tracing::info!(%address, "Serving /metrics.");
    axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await
}

/// `/healthz`: 503 while results cannot be written to the spool, so an orchestrator or a monitor notices.
async fn health(State(state): State<ListenerState>) -> Response {
    if state.metrics.spool_write_failing.get() == 0 {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "spool writes are failing; results wait in memory (see the log)\n")
            .into_response()
    }
}

async fn prometheus(State(state): State<ListenerState>) -> Response {
    openmetrics_response(state.metrics.encode(state.spool.as_deref()))
}

/// The HTTP response for encoded metrics (shared with the collector's `/metrics`): the OpenMetrics text, or a
/// 500 saying why it could not be encoded.
pub fn openmetrics_response(encoded: Result<String, std::fmt::Error>) -> Response {
    match encoded {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            text,
        )
            .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("cannot encode metrics: {error}\n"),
        )
            .into_response(),
    }
}
