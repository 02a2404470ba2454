//! The collector's HTTP listener (`listen.http`): `/healthz` (the process answers), `/readyz` (the store
//! answers), `/metrics` (Prometheus, OpenMetrics text) and the JSON API under `/api/v1`.
//!
//! Layout:
//! - [`api`]: the JSON API.
//! - [`metrics`]: ingest's Prometheus metrics.

pub mod api;
pub mod metrics;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use slaprobe_agent::metrics::openmetrics_response;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::CollectorConfig;
use crate::report_cmd::store_status;
use crate::store::Store;
pub use metrics::IngestMetrics;

/// What the handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The store.
    pub store: Store,
    /// Ingest's metrics.
    pub metrics: Arc<IngestMetrics>,
    /// The running configuration (it follows reloads).
    pub config: watch::Receiver<Arc<CollectorConfig>>,
}

/// The routes.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(prometheus))
        .route("/api/v1/agents", get(api::agents::agents))
        .route("/api/v1/checks", get(api::checks::checks))
        .route("/api/v1/contracts", get(api::contracts::contracts))
        .route("/api/v1/contracts/{id}", get(api::contracts::contract))
        .route("/api/v1/contracts/{id}/incidents", get(api::contracts::incidents))
        .route("/api/v1/contracts/{id}/report", get(api::contracts::contract_report))
        .route("/api/v1/results", get(api::results::results))
        .fallback(|| async { api::ApiError::not_found() })
        .with_state(state)
}

/// Serves `router` on `listener` until `stop`.
pub async fn serve_http(listener: TcpListener, state: HttpState, stop: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(stop.cancelled_owned()).await
}

async fn ready(State(state): State<HttpState>) -> impl IntoResponse {
    match state.store.agents().await {
        Ok(_) => (StatusCode::OK, "ready\n".to_owned()),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {error}\n")),
    }
}

async fn prometheus(State(state): State<HttpState>) -> Response {
    let config = state.config.borrow().clone();
    match store_status(&config, &state.store, jiff::Timestamp::now(), None).await {
        Ok(statuses) => state.metrics.set_contracts(&statuses),
        Err(error) => tracing::warn!(%error, "Contract gauges not updated for this scrape."),
    }
    openmetrics_response(state.metrics.encode())
}
