//! TLS client configurations for probes, built once when a check is prepared.
//!
//! Every probe does a full handshake: session resumption is off, so each attempt sees the certificate chain the
//! server presents now. The system trust store is loaded once per process; a check's `ca_file` replaces it, and
//! a file that cannot be read or holds no usable certificate is a configuration problem, not a probe failure.
//!
//! Every configuration's verifier notes the chain the server presented before judging it ([`take_presented`]),
//! so that a probe keeps the certificates of a handshake that failed on them (expired, wrong name, unknown
//! issuer): rustls hands them over only after a handshake that succeeded.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::Resumption;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What a TLS client needs to know; equal options share one [`ClientConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsOptions {
    /// Verify the chain and the server name.
    pub verify: bool,
    /// Trust only the CAs in this PEM file.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain and key (PEM) for mutual TLS.
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// Protocols offered through ALPN.
    pub alpn: Alpn,
}

/// What a client offers through ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alpn {
    /// Nothing (TCP and TLS checks).
    None,
    /// HTTP/2 and HTTP/1.1 (HTTP checks).
    Http,
    /// HTTP/2 only (gRPC checks).
    H2,
}

/// Builds the rustls client configuration for `options`; the error says which file is wrong and why.
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS setup failed: {error}"))?;
    let roots = if options.verify {
        let roots = trust_roots(options.ca_file.as_deref())?;
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone()).build();
        Some(verifier.map_err(|error| format!("TLS setup failed: {error}"))?)
    } else {
        None
    };
    let verifier = ProbeVerifier { roots, algorithms: provider.signature_verification_algorithms };
    let builder = builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match &options.client_identity {
        Some((cert_path, key_path)) => {
            let certs = load_certs(cert_path)?;
            let key = PrivateKeyDer::from_pem_file(key_path)
                .map_err(|error| format!("{}: cannot read a PEM private key: {error}", key_path.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|error| format!("{}: client certificate rejected: {error}", cert_path.display()))?
        }
        None => builder.with_no_client_auth(),
    };
    config.resumption = Resumption::disabled();
    config.alpn_protocols = match options.alpn {
        Alpn::None => Vec::new(),
        Alpn::Http => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        Alpn::H2 => vec![b"h2".to_vec()],
    };
    Ok(Arc::new(config))
}

/// The roots a chain is judged against: the CAs in `ca_file`, or the system trust store.
pub fn trust_roots(ca_file: Option<&Path>) -> Result<Arc<RootCertStore>, String> {
    match ca_file {
        Some(path) => Ok(Arc::new(load_roots(path)?)),
        None => Ok(system_roots()),
    }
}

fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            for error in &loaded.errors {
                tracing::warn!(%error, "Could not load part of the system trust store.");
            }
            let mut store = RootCertStore::empty();
            let (added, ignored) = store.add_parsable_certificates(loaded.certs);
            tracing::debug!(added, ignored, "Loaded the system trust store.");
            Arc::new(store)
        })
        .clone()
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("{}: cannot read PEM certificates: {error}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in the file", path.display()));
    }
    Ok(certs)
}

fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for cert in load_certs(path)? {
        store.add(cert).map_err(|error| format!("{}: not a usable CA certificate: {error}", path.display()))?;
    }
    Ok(store)
}

/// What a server presented for verification.
#[derive(Debug, Clone)]
pub struct Presented {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Whether an OCSP response was stapled to it.
    pub ocsp_stapled: bool,
}

thread_local! {
    /// What the last handshake on this thread presented, until taken.
    static PRESENTED: RefCell<Option<Presented>> = const { RefCell::new(None) };
}

/// What the server of the last handshake verified on this thread presented, if one was verified since the last
/// call. The verifier runs within one poll of the handshake, so a caller that calls this before and right after
/// each poll of its handshake gets its own server's chain.
pub fn take_presented() -> Option<Presented> {
    PRESENTED.with(|presented| presented.borrow_mut().take())
}

/// The verifier of every probe configuration: it notes the presented chain for [`take_presented`], then judges it
/// against the roots, or, for `tls_verify: false` (no roots), accepts any chain and name; handshake signatures are
/// checked either way.
#[derive(Debug)]
struct ProbeVerifier {
    roots: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ProbeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity).chain(intermediates).map(|der| der.clone().into_owned()).collect();
        let noted = Presented { chain, ocsp_stapled: !ocsp_response.is_empty() };
        PRESENTED.with(|presented| *presented.borrow_mut() = Some(noted));
        match &self.roots {
            Some(roots) => roots.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
