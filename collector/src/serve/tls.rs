//! The gRPC listener's TLS (`listen.tls`), done here rather than by tonic so that the certificate, key and
//! client CA can be replaced while serving: their files are read again when their content changes (checked
//! every [`reload::POLL`]) and on every configuration reload (SIGHUP, `POST /api/v1/reload`). New connections
//! get the new material; open sessions keep theirs. Material that does not load is logged and counted, and the
//! running one is kept.
//!
//! Each connection's handshake runs on its own task, within [`HANDSHAKE_TIMEOUT`] and at most
//! [`MAX_HANDSHAKES`] at once, so a peer that stalls holds nobody up; a failed handshake is a refused session
//! ([`Refusals`]): logged at most once a minute per address and reason, counted by reason, listed on the agents
//! page.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::ServeError;
use crate::config::{CollectorConfig, ListenTls};
use crate::ingest::refusals::{Refusal, Refusals};
use crate::metrics::CollectorMetrics;
use crate::reload;

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once, at most; connections beyond it are closed at once.
pub const MAX_HANDSHAKES: usize = 256;

/// The TLS material in use, replaced on reload.
#[derive(Clone)]
pub struct CurrentTls {
    files: ListenTls,
    config: Arc<RwLock<Arc<ServerConfig>>>,
}

/// `listen.tls`'s files, read into a rustls configuration; and when its certificate expires (Unix seconds).
pub fn server_config(tls: &ListenTls) -> Result<(Arc<ServerConfig>, Option<i64>), ServeError> {
    let read = |path: &Path, what: &'static str| {
        std::fs::read(path).map_err(|source| ServeError::TlsFile { what, path: path.to_owned(), source })
    };
    let bad = |what: &str, path: &PathBuf, problem: String| ServeError::TlsMaterial {
        what: what.to_owned(),
        path: path.clone(),
        problem,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&tls.cert_file, "certificate")?)
        .collect::<Result<_, _>>()
        .map_err(|error| bad("certificate", &tls.cert_file, error.to_string()))?;
    let expires = chain.first().and_then(|leaf| {
        X509Certificate::from_der(leaf).ok().map(|(_, certificate)| certificate.validity().not_after.timestamp())
    });
    if chain.is_empty() {
        return Err(bad("certificate", &tls.cert_file, "no CERTIFICATE in it".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&tls.key_file, "key")?)
        .map_err(|error| bad("key", &tls.key_file, error.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| bad("certificate", &tls.cert_file, error.to_string()))?;
    let builder = match &tls.client_ca_file {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for certificate in CertificateDer::pem_slice_iter(&read(path, "client CA")?) {
                let certificate = certificate.map_err(|error| bad("client CA", path, error.to_string()))?;
                roots.add(certificate).map_err(|error| bad("client CA", path, error.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|error| bad("client CA", path, error.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|error| ServeError::TlsMaterial {
        what: "certificate and key".to_owned(),
        path: tls.key_file.clone(),
        problem: format!("do not make a TLS identity with {}: {error}", tls.cert_file.display()),
    })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok((Arc::new(config), expires))
}

impl CurrentTls {
    /// The material of `files`, read now; counted in `metrics` with its certificate's expiry.
    pub fn load(files: &ListenTls, metrics: &CollectorMetrics) -> Result<Self, ServeError> {
        let (config, expires) = server_config(files)?;
        metrics.operations.count_tls_reload("done", expires);
        Ok(Self { files: files.clone(), config: Arc::new(RwLock::new(config)) })
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }

    /// Reads the files again and uses them for new connections; on failure keeps the running material.
    fn reload(&self, metrics: &CollectorMetrics) {
        match server_config(&self.files) {
            Ok((config, expires)) => {
                *self.config.write().unwrap_or_else(std::sync::PoisonError::into_inner) = config;
                metrics.operations.count_tls_reload("done", expires);
                let expires = expires.and_then(|seconds| jiff::Timestamp::from_second(seconds).ok());
                tracing::info!(
                    certificate = %self.files.cert_file.display(),
                    expires = ?expires.map(|at| at.to_string()),
                    "Reloaded the gRPC listener's TLS certificate; new connections use it."
                );
            }
            Err(error) => {
                metrics.operations.count_tls_reload("failed", None);
                tracing::error!(%error, "TLS reload failed; keeping the certificate in use.");
            }
        }
    }

    /// Reloads when the files' content changes or the configuration is reloaded, until `stop`.
    pub async fn keep_current(
        self,
        mut config: watch::Receiver<Arc<CollectorConfig>>,
        metrics: Arc<CollectorMetrics>,
        stop: CancellationToken,
    ) {
        let ListenTls { cert_file, key_file, client_ca_file } = &self.files;
        let watched: Vec<PathBuf> =
            [Some(cert_file.clone()), Some(key_file.clone()), client_ca_file.clone()].into_iter().flatten().collect();
        let mut loaded_from = reload::fingerprint(&watched);
        let mut poll = tokio::time::interval(reload::POLL);
        let mut config_open = true;
        loop {
            let reloaded = tokio::select! {
                () = stop.cancelled() => return,
                changed = config.changed(), if config_open => {
                    config_open = changed.is_ok();
                    config_open
                }
                _ = poll.tick() => false,
            };
            let now = reload::fingerprint(&watched);
            if reloaded || now != loaded_from {
                loaded_from = now;
                self.reload(&metrics);
            }
        }
    }
}

/// Accepts connections on `listener` and hands out those whose TLS handshake succeeds, until `stop`.
pub fn incoming(
    listener: TcpListener,
    tls: CurrentTls,
    refusals: Arc<Refusals>,
    metrics: Arc<CollectorMetrics>,
    stop: CancellationToken,
) -> ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (sender, receiver) = mpsc::channel(64);
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let (stream, remote) = tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "Could not accept a gRPC connection.");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                refusals.refused(&metrics, Some(remote.ip()), None, Refusal::TlsHandshake);
                continue;
            };
            let (acceptor, sender) = (tls.acceptor(), sender.clone());
            let (refusals, metrics) = (refusals.clone(), metrics.clone());
            tokio::spawn(async move {
                let _permit = permit;
                match handshake(acceptor, stream, remote).await {
                    Ok(stream) => {
                        let _ = sender.send(Ok(stream)).await;
                    }
                    Err(reason) => refusals.refused(&metrics, Some(remote.ip()), None, reason),
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}

/// The TLS handshake of `stream`, within [`HANDSHAKE_TIMEOUT`]; why it failed otherwise.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    remote: SocketAddr,
) -> Result<TlsStream<TcpStream>, Refusal> {
    let _ = stream.set_nodelay(true);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(error)) => {
            let reason = match error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                Some(rustls::Error::NoCertificatesPresented) => Refusal::NoClientCertificate,
                Some(rustls::Error::InvalidCertificate(_)) => Refusal::UntrustedClientCertificate,
                _ => Refusal::TlsHandshake,
            };
            tracing::debug!(%remote, %error, "A TLS handshake failed.");
            Err(reason)
        }
        Err(_) => Err(Refusal::TlsHandshake),
    }
}
