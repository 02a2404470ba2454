//! TLS client configurations for probes, built once when a check is prepared.
//!
//! Every probe does a full handshake: session resumption is off, so each attempt sees the certificate chain the
//! server presents now. The system trust store is loaded once per process; a check's `ca_file` replaces it, and
//! a file that cannot be read or holds no usable certificate is a configuration problem, not a probe failure.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::Resumption;
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
    /// Offer HTTP/2 and HTTP/1.1 through ALPN.
    pub alpn_http: bool,
}

/// Builds the rustls client configuration for `options`; the error says which file is wrong and why.
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS setup failed: {error}"))?;
    let builder = if options.verify {
        let roots = match &options.ca_file {
            Some(path) => Arc::new(load_roots(path)?),
            None => system_roots(),
        };
        builder.with_root_certificates(roots)
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
            provider.signature_verification_algorithms,
        )))
    };
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
    if options.alpn_http {
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    Ok(Arc::new(config))
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

/// Verifier for `tls_verify: false`: accepts any chain and name but still checks handshake signatures.
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
