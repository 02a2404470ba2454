//! `slaprobe-collector serve`: gRPC ingest (with `grpc.health.v1`) into the configured store, and the HTTP
//! listener on `listen.http` ([`crate::http`]), and alert evaluation ([`crate::alerting`]), until shutdown.
//!
//! [`serve`] takes an already-bound listener and a shutdown future, so tests bind `127.0.0.1:0` and drive the
//! real server. With `listen.tls` the listener speaks TLS (rustls, [`tls`]: reloaded while serving), and with
//! `client_ca_file` it demands a client certificate signed by that CA. The configuration is reloaded while
//! serving ([`crate::reload`]). On
//! shutdown, new sessions stop; open agent sessions get [`DRAIN`] to end before the server stops regardless
//! (agents replay anything unacknowledged, so nothing is lost), and the background tasks ([`background`]) get as
//! long again. A background task that stops on its own stops the collector with an error naming it.

pub mod background;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use slaprobe_proto::error_text::error_chain;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use self::background::Background;
use self::tls::CurrentTls;
use crate::alerting::evaluator::Evaluator;
use crate::closing;
use crate::cluster;
use crate::config::{CollectorConfig, Storage};
use crate::http::{HttpState, serve_http};
use crate::ingest::enrolment;
use crate::ingest::live::LiveSessions;
use crate::ingest::refusals::Refusals;
use crate::ingest::{IngestService, IngestSettings};
use crate::ledger;
use crate::metrics::CollectorMetrics;
use crate::notify::Notifier;
use crate::reload::{self, Reload};
use crate::retention;
use crate::status_pages;
use crate::store::cluster::instance_name;
use crate::store::{Store, StoreError};
use crate::views::{self, Standings};

/// Streams one gRPC connection may hold open at once: an agent needs one session and a health check.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 8;

/// How long open sessions may take to end after a shutdown request.
pub const DRAIN: Duration = Duration::from_secs(5);
/// How long `serve` waits at start for a PostgreSQL that does not answer.
const STORE_WAIT: Duration = Duration::from_secs(300);
/// How often it tries meanwhile.
const STORE_RETRY: Duration = Duration::from_secs(2);

/// Why the collector could not start serving, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file of `listen.tls` cannot be read.
    #[error("listen.tls: cannot read the {what} {}: {source}", path.display())]
    TlsFile {
        /// Which file (`certificate`, `key`, `client CA`).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A file of `listen.tls` does not hold what it should, or the files do not go together.
    #[error("listen.tls: the {what} {}: {problem}", path.display())]
    TlsMaterial {
        /// Which file (`certificate`, `key`, `client CA`, `certificate and key`).
        what: String,
        /// Its path.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// `listen.http` cannot be bound.
    #[error("listen.http: cannot listen on {address}: {source}")]
    HttpListen {
        /// The address.
        address: SocketAddr,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Notifications cannot be sent at all, or status pages not read.
    #[error("{0}")]
    Notifier(String),
    /// The gRPC server failed.
    #[error("gRPC: {}", error_chain(.0))]
    Grpc(#[from] tonic::transport::Error),
    /// The gRPC listener's address cannot be read.
    #[error("the gRPC listener: {0}")]
    GrpcListener(#[source] std::io::Error),
    /// A background task stopped before shutdown ([`background`]).
    #[error("{0}; the collector stopped")]
    TaskStopped(String),
}

/// Opens the store; a PostgreSQL that does not answer yet (starting beside the collector, say) is tried again
/// every [`STORE_RETRY`] for up to [`STORE_WAIT`], said once in the log, before the collector gives up.
async fn open_store(storage: &Storage) -> Result<Store, StoreError> {
    let started = std::time::Instant::now();
    let mut waiting = false;
    loop {
        match Store::open(storage).await {
            Ok(store) => {
                if waiting {
                    tracing::info!(waited = ?started.elapsed(), "The database answers; starting.");
                }
                return Ok(store);
            }
            Err(error) if error.is_unreachable() && started.elapsed() < STORE_WAIT => {
                if !waiting {
                    tracing::warn!(
                        %error,
                        wait_seconds = STORE_WAIT.as_secs(),
                        "The database does not answer; trying again every 2 s before giving up."
                    );
                    waiting = true;
                }
                tokio::time::sleep(STORE_RETRY).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Serves gRPC ingest on `grpc` until `shutdown` completes, reloading the configuration as `reload` says.
pub async fn serve(
    config: CollectorConfig,
    grpc: TcpListener,
    reload: Reload,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let mut shutdown = std::pin::pin!(shutdown);
    let store = tokio::select! {
        opened = open_store(&config.storage) => opened?,
        () = &mut shutdown => return Ok(()),
    };
    let mut builder = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .http2_max_header_list_size(Some(16 * 1024));
    cluster::arrive(&store).await;
    let (health, health_service) = tonic_health::server::health_reporter();
    let (settings, watched) = watch::channel(Arc::new(IngestSettings::from_config(&config)));
    let (published, config_watch) = watch::channel(Arc::new(config.clone()));
    let metrics = Arc::new(CollectorMetrics::default());
    let refusals = Arc::new(Refusals::default());
    let live = LiveSessions::default();
    let tls = config.listen.tls.as_ref().map(|files| CurrentTls::load(files, &metrics)).transpose()?;
    let stop = CancellationToken::new();
    let notifier = Notifier::new().map_err(ServeError::Notifier)?;
    let page_client = status_pages::client().map_err(ServeError::Notifier)?;
    let standings = Standings::new();
    let evaluator = Evaluator::new(store.clone(), notifier.clone(), config_watch.clone())
        .holding_as(instance_name())
        .with_standings(standings.clone());
    let (background, mut failures) = Background::new(stop.clone());
    background.spawn("alert evaluation", evaluator.run(stop.clone()));
    let retention = retention::run(store.clone(), config_watch.clone(), metrics.clone(), stop.clone());
    background.spawn("retention", retention);
    background.spawn("period close", closing::run(store.clone(), notifier.clone(), config_watch.clone(), stop.clone()));
    background.spawn("status pages", status_pages::run(store.clone(), page_client, config_watch.clone(), stop.clone()));
    background.spawn("ledger", ledger::upkeep::run(store.clone(), config_watch.clone(), stop.clone()));
    let (differing, config_drift) = watch::channel(Vec::new());
    background.spawn("heartbeats", cluster::run(store.clone(), config_watch.clone(), differing, stop.clone()));
    let standings_kept = views::keep_up(store.clone(), config_watch.clone(), standings.clone(), stop.clone());
    background.spawn("standings", standings_kept);
    if let Some(address) = config.listen.http {
        let listener = TcpListener::bind(address).await.map_err(|source| ServeError::HttpListen { address, source })?;
        let state = HttpState {
            store: store.clone(),
            metrics: metrics.clone(),
            config: config_watch.clone(),
            reload: reload.sender.clone(),
            notifier,
            reload_status: reload.status(),
            refusals: refusals.clone(),
            live: live.clone(),
            standings,
            config_drift,
        };
        let address = listener.local_addr().unwrap_or(address);
        tracing::info!(%address, "Serving HTTP: /healthz, /readyz, /metrics, /api/v1.");
        background.spawn("the HTTP listener", serve_http(listener, state, stop.clone()));
    }
    background.spawn("revoked sessions", enrolment::end_revoked(store.clone(), live.clone(), stop.clone()));
    let ingest = IngestService::reloading(store, watched)
        .with_metrics(metrics.clone())
        .with_refusals(refusals.clone())
        .with_live_sessions(live)
        .into_server();
    health.set_serving::<slaprobe_proto::v1::collector_server::CollectorServer<IngestService>>().await;
    tracing::info!(
        address = %grpc.local_addr().map_err(ServeError::GrpcListener)?,
        tls = config.listen.tls.is_some(),
        agents = config.agents.len(),
        "Serving gRPC ingest."
    );
    background.spawn("configuration reloading", reload::run(reload, config, settings, published, stop.clone()));
    let router = builder.add_service(health_service).add_service(ingest);
    let stopped = stop.clone().cancelled_owned();
    let server: Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>> = match tls {
        Some(tls) => {
            background.spawn("TLS reloading", tls.clone().keep_current(config_watch, metrics.clone(), stop.clone()));
            let incoming = tls::incoming(grpc, tls, refusals, metrics, stop.clone());
            Box::pin(router.serve_with_incoming_shutdown(incoming, stopped))
        }
        None => Box::pin(router.serve_with_incoming_shutdown(TcpListenerStream::new(grpc), stopped)),
    };
    tokio::pin!(server);
    let failure = tokio::select! {
        result = &mut server => {
            stop.cancel();
            background.finish(DRAIN).await;
            return Ok(result?);
        }
        () = &mut shutdown => None,
        Some(failure) = failures.recv() => Some(failure),
    };
    stop.cancel();
    shut_down(server, background, failure).await
}

/// After `stop`: lets open sessions end and the background tasks finish, each within [`DRAIN`]; the collector
/// stopped because of `failure`, a background task that ended early, when there is one.
async fn shut_down(
    server: impl Future<Output = Result<(), tonic::transport::Error>>,
    background: Background,
    failure: Option<String>,
) -> Result<(), ServeError> {
    match &failure {
        Some(failure) => tracing::error!(%failure, "A background task stopped; shutting down."),
        None => tracing::info!(drain_seconds = DRAIN.as_secs(), "Shutting down; letting open sessions end."),
    }
    let served = match tokio::time::timeout(DRAIN, server).await {
        Ok(result) => result,
        Err(_) => {
            tracing::info!("Stopped with sessions still open; agents will replay what was not acknowledged.");
            Ok(())
        }
    };
    if !background.finish(DRAIN).await {
        tracing::warn!("Stopped with background tasks still running (an alert delivery or a store query).");
    }
    match failure {
        Some(failure) => Err(ServeError::TaskStopped(failure)),
        None => Ok(served?),
    }
}
