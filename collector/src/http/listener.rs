//! The HTTP listener's accept loop: hyper's HTTP/1 server driven connection by connection, so that no client
//! can hold it. `axum::serve` offers none of these limits, which is why the loop is written out here.
//!
//! - **Header read timeout** ([`HEADER_READ_TIMEOUT`]): a request's head must arrive whole within it, and an idle
//!   keep-alive connection is closed after it too (hyper starts the timer whenever it waits for a request).
//! - **Connection cap** (`listen.http_max_connections`, default 1,024): past it, new connections are closed at
//!   once and counted in `slaprobe_collector_http_connections_refused_total`.
//! - **Head size**: request heads larger than [`MAX_HEAD_BYTES`] are refused by hyper (431).
//!
//! Body size and the time one request may take are limits of the router ([`super::guard`]). On shutdown, the
//! loop stops accepting, lets requests in flight finish for up to [`DRAIN`], then closes what is left.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::metrics::CollectorMetrics;

/// How long a client may take to send a request's head, and how long a keep-alive connection may stay idle.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long requests in flight may take to finish after shutdown begins.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener`, at most `max_connections` at once, until `stop`.
pub async fn accept_loop(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    metrics: Arc<CollectorMetrics>,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).max_buf_size(MAX_HEAD_BYTES);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Typically out of file descriptors: wait a little rather than spin.
                tracing::warn!(%error, "Could not accept an HTTP connection.");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.http_connections_refused.inc();
            tracing::debug!(max_connections, "Closed an HTTP connection: the listener is at its connection cap.");
            continue;
        };
        let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "An HTTP connection ended with an error.");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::info!("Closed HTTP connections still open after the drain period.");
    }
}
