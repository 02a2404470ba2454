//! The collector's HTTP listener (`listen.http`): `/healthz` (the process answers), `/readyz` (the store
//! answers), `/metrics` (Prometheus, OpenMetrics text), the JSON API under `/api/v1` and the web dashboard,
//! behind API tokens when `api_tokens` are configured.
//!
//! Layout:
//! - [`api`]: the JSON API.
//! - [`auth`]: API tokens, roles and the dashboard's session cookie.
//! - [`dashboard`]: the web pages.
//! - [`guard`]: time limit, `Host` check and cross-site refusal, before any handler.
//! - [`listener`]: the accept loop with its header timeout and connection cap.
//! - [`observe`]: requests counted by route, method and status, with their latency.
//! - [`metrics`]: ingest's Prometheus metrics.

pub mod api;
pub mod auth;
pub mod dashboard;
pub mod guard;
pub mod listener;
pub mod observe;
pub use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::cluster::Differing;
use crate::config::CollectorConfig;
use crate::ingest::live::LiveSessions;
use crate::ingest::refusals::Refusals;
use crate::ledger::progress::readyz_line;
use crate::metrics::CollectorMetrics;
use crate::notify::Notifier;
use crate::reload::{ReloadRequest, ReloadStatus};
use crate::store::Store;
use crate::views::{Standings, store_status};

/// The OpenAPI 3.1 document of the API, served at `/api/v1/openapi.json`; tests validate real responses
/// against it, and its schemas forbid undocumented fields, so it cannot drift from the code.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What the handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The store.
    pub store: Store,
    /// Ingest's metrics.
    pub metrics: Arc<CollectorMetrics>,
    /// The running configuration (it follows reloads).
    pub config: watch::Receiver<Arc<CollectorConfig>>,
    /// Asks for a configuration reload (`POST /api/v1/reload`).
    pub reload: mpsc::Sender<ReloadRequest>,
    /// Sends notifications.
    pub notifier: Notifier,
    /// How configuration reloads stand (a failed one is a banner on every page).
    pub reload_status: watch::Receiver<ReloadStatus>,
    /// Agent sessions refused by ingest, for the agents page.
    pub refusals: Arc<Refusals>,
    /// Ingest's live sessions, to end a revoked agent's at once.
    pub live: LiveSessions,
    /// Each contract's standing, kept between requests (shared with alerting).
    pub standings: Standings,
    /// The live replicas running another configuration than this collector (a banner on every page).
    pub config_drift: watch::Receiver<Vec<Differing>>,
}

/// Largest request body accepted (forms and JSON are small).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The routes, behind the guards and the token check.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(prometheus))
        .route("/api/v1/agents", get(api::agents::agents))
        .route("/api/v1/checks", get(api::checks::checks))
        .route("/api/v1/cluster", get(api::cluster::cluster))
        .route("/api/v1/enrolments", get(api::enrolments::list))
        .route("/api/v1/enrolments/{agent_id}/approve", post(api::enrolments::approve))
        .route("/api/v1/enrolments/{agent_id}/revoke", post(api::enrolments::revoke))
        .route("/api/v1/contracts", get(api::contracts::contracts))
        .route("/api/v1/contracts/{id}", get(api::contracts::contract))
        .route("/api/v1/contracts/{id}/incidents", get(api::contracts::incidents))
        .route("/api/v1/contracts/{id}/report", get(api::contracts::contract_report))
        .route("/api/v1/results", get(api::results::results))
        .route("/api/v1/rollups", get(api::rollups::rollups))
        .route("/api/v1/reload", post(reload))
        .route("/api/v1/channels/{id}/test", post(api::channels::test))
        .route("/api/v1/deliveries", get(api::channels::deliveries))
        .route("/api/v1/alerts", get(api::alerts::alerts))
        .route("/api/v1/alerts/{id}", get(api::alerts::alert))
        .route("/api/v1/alerts/{id}/acknowledge", post(api::alerts::acknowledge))
        .route("/api/v1/alerts/{id}/resolve", post(api::alerts::resolve))
        .route("/api/v1/periods", get(api::claims::periods))
        .route("/api/v1/periods/{contract}/{period}", get(api::claims::period))
        .route("/api/v1/periods/{contract}/{period}/{revision}/{file}", get(api::claims::artifact))
        .route("/api/v1/claims", get(api::claims::claims))
        .route("/api/v1/claims/{contract}/{period}", get(api::claims::claim).post(api::claims::change))
        .route("/api/v1/vendors", get(api::vendors::list))
        .route("/api/v1/vendors/{slug}", get(api::vendors::vendor))
        .route("/api/v1/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }))
        .merge(dashboard::routes())
        .fallback(|| async { api::ApiError::not_found() })
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token))
        .layer(axum::middleware::from_fn(guard::refuse_cross_site))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::check_host))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::time_limit))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe::count_request))
        .with_state(state)
}

/// Serves the routes on `listener` until `stop`, with the listener's limits ([`listener`]).
pub async fn serve_http(listener: TcpListener, state: HttpState, stop: CancellationToken) {
    let max_connections = state.config.borrow().listen.http_max_connections;
    let metrics = state.metrics.clone();
    listener::accept_loop(listener, router(state), max_connections, metrics, stop).await;
}

/// `/readyz`: ready once the store answers; a second line says how the configuration stands (a failed reload
/// leaves the collector ready: it keeps serving the configuration that loaded), a third gives its SHA-256 and
/// the live replicas running another, a fourth how far the slice ledger is (a ledger being computed leaves it
/// ready: figures are read from raw results meanwhile, only slower). Why the store does not answer stays in the
/// log: the body says what, not where.
async fn ready(State(state): State<HttpState>) -> impl IntoResponse {
    let config = config_line(&state.reload_status.borrow());
    let config = format!("{config}\n{}", sha256_line(&state.config.borrow().sha256, &state.config_drift.borrow()));
    match state.store.ledger_states().await {
        Ok(states) => {
            let ledger = readyz_line(&state.config.borrow(), &states, jiff::Timestamp::now());
            (StatusCode::OK, format!("ready\n{config}\n{ledger}\n"))
        }
        Err(error) => {
            tracing::warn!(%error, "Not ready: the store does not answer.");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: the store does not answer\n{config}\n"))
        }
    }
}

/// `config: loaded 2026-11-30T13:00:00Z`, or `config: reload failed at … (2 problems); running the one loaded
/// at …`.
fn config_line(status: &ReloadStatus) -> String {
    let loaded = status.loaded_at.round(jiff::Unit::Second).unwrap_or(status.loaded_at);
    match status.failed {
        None => format!("config: loaded {loaded}"),
        Some(failure) => format!(
            "config: reload failed at {} ({} problem(s), see the log); running the configuration loaded {loaded}",
            failure.at.round(jiff::Unit::Second).unwrap_or(failure.at),
            failure.problems
        ),
    }
}

/// `config sha256: <hex>`, then `; 2 live replica(s) run another (see /api/v1/cluster)` when some do. Only the
/// count: `/readyz` answers without a token, and the replicas' host names are for those who may read the API.
fn sha256_line(ours: &str, differing: &[Differing]) -> String {
    match differing.len() {
        0 => format!("config sha256: {ours}"),
        count => format!("config sha256: {ours}; {count} live replica(s) run another (see /api/v1/cluster)"),
    }
}

async fn prometheus(State(state): State<HttpState>) -> Response {
    let config = state.config.borrow().clone();
    match store_status(&config, &state.store, &state.standings, jiff::Timestamp::now(), None).await {
        Ok(statuses) => state.metrics.set_contracts(&statuses),
        Err(error) => tracing::warn!(%error, "Contract gauges not updated for this scrape."),
    }
    let reload = *state.reload_status.borrow();
    state.metrics.set_reload(reload.loaded_at, reload.failed.map(|failure| failure.at));
    match state.store.alerts(Some(crate::store::AlertState::Firing), 10_000).await {
        Ok(firing) => state.metrics.set_alerts(&config.alerts, &firing),
        Err(error) => tracing::warn!(%error, "Alert gauges not updated for this scrape."),
    }
    match state.store.claims().await {
        Ok(claims) => state.metrics.set_claims(&claims, jiff::Timestamp::now()),
        Err(error) => tracing::warn!(%error, "Claim gauges not updated for this scrape."),
    }
    match status_pages(&config, &state.store).await {
        Ok(pages) => state.metrics.set_status_pages(&pages),
        Err(error) => tracing::warn!(%error, "Status page gauges not updated for this scrape."),
    }
    match state.store.agents().await {
        Ok(agents) => state.metrics.operations.set_agents(&agents),
        Err(error) => tracing::warn!(%error, "Agent gauges not updated for this scrape."),
    }
    match state.store.enrolled_agents().await {
        Ok(enrolled) => state.metrics.operations.set_enrolled(&enrolled),
        Err(error) => tracing::warn!(%error, "Enrolment gauges not updated for this scrape."),
    }
    state.metrics.operations.set_pool(state.store.pool_use());
    state.metrics.operations.set_config(&config.sha256, state.config_drift.borrow().len());
    match channel_states(&config, &state.store).await {
        Ok(channels) => state.metrics.operations.set_channels(&channels),
        Err(error) => tracing::warn!(%error, "Channel gauges not updated for this scrape."),
    }
    match cluster_gauges(&state.store).await {
        Ok((leases, alive)) => state.metrics.operations.set_cluster(&leases, alive),
        Err(error) => tracing::warn!(%error, "Lease and replica gauges not updated for this scrape."),
    }
    match state.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS_TEXT)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "Could not encode the metrics.");
            (StatusCode::INTERNAL_SERVER_ERROR, "the metrics could not be encoded; the collector's log says why\n")
                .into_response()
        }
    }
}

/// Deliveries looked at for the channel gauges: the newest, enough to hold each channel's latest.
const RECENT_DELIVERIES: u32 = 1000;

/// Each channel of `config` with whether its latest delivery (among the newest [`RECENT_DELIVERIES`]) failed.
async fn channel_states(
    config: &CollectorConfig,
    store: &Store,
) -> Result<Vec<(String, bool)>, crate::store::StoreError> {
    let recent = store.deliveries(None, RECENT_DELIVERIES).await?;
    let failing =
        |id: &str| recent.iter().find(|delivery| delivery.channel == id).is_some_and(|latest| !latest.delivered);
    Ok(config.notify.channels.iter().map(|channel| (channel.id.clone(), failing(&channel.id))).collect())
}

/// Each lease on record with whether this collector holds it now, and how many replicas are alive.
async fn cluster_gauges(store: &Store) -> Result<(Vec<(String, bool)>, usize), crate::store::StoreError> {
    let now = jiff::Timestamp::now();
    let me = crate::store::cluster::instance_name();
    let leases = store.leases().await?;
    let held = leases.into_iter().map(|lease| (lease.name, lease.holder == me && lease.expires_at > now)).collect();
    let alive = store.replicas().await?.iter().filter(|replica| crate::cluster::is_alive(replica, now)).count();
    Ok((held, alive))
}

/// Each contract that names a vendor status page, with that page's record (`None`: never read).
async fn status_pages(
    config: &CollectorConfig,
    store: &crate::store::Store,
) -> Result<Vec<(String, Option<crate::store::status_pages::StatusPageRecord>)>, crate::store::StoreError> {
    let mut pages = Vec::new();
    for contract in &config.contracts {
        if let Some(page) = &contract.terms.status_page {
            pages.push((contract.terms.id.clone(), store.status_page(&page.url).await?));
        }
    }
    Ok(pages)
}

/// The content type of `/metrics`, which Prometheus negotiates for.
const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `POST /api/v1/reload` (admin): reloads the configuration now and says how it went.
async fn reload(State(state): State<HttpState>) -> Response {
    let (reply, outcome) = oneshot::channel();
    if state.reload.send(ReloadRequest { reply: Some(reply) }).await.is_err() {
        return api::ApiError(StatusCode::SERVICE_UNAVAILABLE, "the collector is shutting down".to_owned())
            .into_response();
    }
    match outcome.await {
        Ok(Ok(())) => axum::Json(serde_json::json!({ "reloaded": true })).into_response(),
        Ok(Err(problems)) => api::ApiError(StatusCode::UNPROCESSABLE_ENTITY, problems).into_response(),
        Err(_) => {
            api::ApiError(StatusCode::SERVICE_UNAVAILABLE, "the reload did not finish".to_owned()).into_response()
        }
    }
}
