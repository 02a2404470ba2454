//! `slaprobe-collector serve`: gRPC ingest (with `grpc.health.v1`) into the configured store, until shutdown.
//!
//! [`serve`] takes an already-bound listener and a shutdown future, so tests bind `127.0.0.1:0` and drive the
//! real server. On shutdown, new sessions stop; open agent sessions get [`DRAIN`] to end before the server
//! stops regardless (agents replay anything unacknowledged, so nothing is lost).

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::config::{CollectorConfig, Storage};
use crate::ingest::{Agents, IngestService};
use crate::store::Store;

/// How long open sessions may take to end after a shutdown request.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Opens the configured store.
pub fn open_store(config: &CollectorConfig) -> anyhow::Result<Store> {
    match &config.storage {
        Storage::Sqlite(path) => Ok(Store::open_sqlite(path)?),
    }
}

/// Serves gRPC ingest on `grpc` until `shutdown` completes.
pub async fn serve(
    config: CollectorConfig,
    grpc: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let (health, health_service) = tonic_health::server::health_reporter();
    let mut ingest = IngestService::new(store, Agents::new(config.agents.clone()));
    if !config.checks.is_empty() {
        ingest = ingest.with_checks(config.checks.iter().map(|prepared| prepared.check.clone()).collect());
    }
    let ingest = ingest.into_server();
    health.set_serving::<slaprobe_proto::v1::collector_server::CollectorServer<IngestService>>().await;
    tracing::info!(address = %grpc.local_addr()?, agents = config.agents.len(), "Serving gRPC ingest.");
    let stop = CancellationToken::new();
    let server = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(health_service)
        .add_service(ingest)
        .serve_with_incoming_shutdown(TcpListenerStream::new(grpc), stop.clone().cancelled_owned());
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return Ok(result?),
        () = shutdown => stop.cancel(),
    }
    tracing::info!(drain_seconds = DRAIN.as_secs(), "Shutting down; letting open sessions end.");
    match tokio::time::timeout(DRAIN, server).await {
        Ok(result) => Ok(result?),
        Err(_) => {
            tracing::info!("Stopped with sessions still open; agents will replay what was not acknowledged.");
            Ok(())
        }
    }
}
