//! A gRPC server with the standard health service (`grpc.health.v1`), whose statuses the test switches, that
//! answers only calls carrying the expected `authorization` metadata (or, for benchmarks, any call), in
//! plaintext HTTP/2 or over TLS.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Status};
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

/// The metadata every call must carry.
pub const EXPECTED_AUTHORIZATION: &str = "Bearer grpc-s3cret-token";

/// A running health server on `127.0.0.1`.
pub struct GrpcHealthServer {
    /// Where it listens.
    pub addr: SocketAddr,
    reporter: HealthReporter,
    serve: JoinHandle<()>,
}

impl Drop for GrpcHealthServer {
    fn drop(&mut self) {
        self.serve.abort();
    }
}

impl GrpcHealthServer {
    /// Plaintext HTTP/2.
    pub async fn start() -> Self {
        Self::start_with(None, true).await
    }

    /// Plaintext HTTP/2, answering calls without metadata too (what blackbox_exporter's `grpc` prober sends).
    pub async fn start_open() -> Self {
        Self::start_with(None, false).await
    }

    /// Over TLS, presenting the PEM certificate chain and key given.
    pub async fn start_tls(cert_pem: &[u8], key_pem: &[u8]) -> Self {
        Self::start_with(Some(Identity::from_pem(cert_pem, key_pem)), true).await
    }

    async fn start_with(identity: Option<Identity>, authorized_only: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gRPC test server");
        let addr = listener.local_addr().expect("local addr");
        let reporter = HealthReporter::new();
        let interceptor = move |request: Request<()>| if authorized_only { authorize(request) } else { Ok(request) };
        let service =
            HealthServer::with_interceptor(HealthService::from_health_reporter(reporter.clone()), interceptor);
        let mut builder = Server::builder();
        if let Some(identity) = identity {
            builder = builder.tls_config(ServerTlsConfig::new().identity(identity)).expect("gRPC server TLS");
        }
        let router = builder.add_service(service);
        let serve = tokio::spawn(async move {
            router.serve_with_incoming(TcpListenerStream::new(listener)).await.expect("gRPC test server runs");
        });
        Self { addr, reporter, serve }
    }

    /// Sets what the health service answers for `service` (`""`: the server as a whole).
    pub async fn set(&self, service: &str, status: ServingStatus) {
        self.reporter.set_service_status(service, status).await;
    }
}

fn authorize(request: Request<()>) -> Result<Request<()>, Status> {
    match request.metadata().get("authorization").and_then(|value| value.to_str().ok()) {
        Some(EXPECTED_AUTHORIZATION) => Ok(request),
        _ => Err(Status::unauthenticated("a valid authorization is required")),
    }
}
