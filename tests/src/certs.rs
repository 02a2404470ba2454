//! A throwaway certificate authority and the server certificates it signs, for TLS tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use time::{Duration, OffsetDateTime};

/// A CA that signs server certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A CA with its certificate written to a PEM file in a temporary directory, for `ca_file:` settings.
pub struct CaFile {
    /// The CA.
    pub ca: TestCa,
    /// Its certificate, PEM.
    pub path: PathBuf,
    /// The directory holding `path` (and anything else the test writes); removed on drop.
    pub dir: tempfile::TempDir,
}

impl CaFile {
    /// A new CA written to `DIR/ca.pem`.
    pub fn new() -> Self {
        let ca = TestCa::new();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = ca.write_pem(dir.path());
        Self { ca, path, dir }
    }
}

impl Default for CaFile {
    fn default() -> Self {
        Self::new()
    }
}

/// A server certificate with its key.
pub struct ServerCert {
    /// Leaf then CA, DER.
    pub chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

impl TestCa {
    /// A new CA valid from yesterday for ten years.
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA cert");
        Self { issuer }
    }

    /// The CA certificate in PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns the path.
    pub fn write_pem(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.pem()).expect("write CA PEM");
        path
    }

    /// A certificate for `127.0.0.1` and `localhost` valid from `days_from` to `days_to` days relative to now.
    pub fn server_cert(&self, days_from: i64, days_to: i64) -> ServerCert {
        self.server_cert_naming(vec!["localhost".to_owned(), "127.0.0.1".to_owned()], days_from, days_to)
    }

    /// A certificate for `names` (DNS names or IP addresses) valid from `days_from` to `days_to` days from now.
    pub fn server_cert_naming(&self, names: Vec<String>, days_from: i64, days_to: i64) -> ServerCert {
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.not_before = OffsetDateTime::now_utc() + Duration::days(days_from);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(days_to);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        ServerCert { chain: vec![cert.der().clone(), self.issuer.der().clone()], key: key.serialize_der() }
    }
}

impl TestCa {
    /// Writes a server certificate for `127.0.0.1` and `localhost` (valid now) and its key to `dir/server.pem`
    /// and `dir/server.key`.
    pub fn write_server_identity(&self, dir: &Path) -> (PathBuf, PathBuf) {
        self.write_server_identity_until(dir, 30)
    }

    /// Writes a server certificate for `127.0.0.1` and `localhost`, valid from yesterday for `days` days from
    /// now, and its key to `dir/server.pem` and `dir/server.key` (replacing what is there).
    pub fn write_server_identity_until(&self, dir: &Path, days: i64) -> (PathBuf, PathBuf) {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let (cert, key) = self.identity(CertificateParams::new(names).expect("leaf params"), days);
        let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
        std::fs::write(&cert_path, cert + &self.pem()).expect("write server cert");
        std::fs::write(&key_path, key).expect("write server key");
        (cert_path, key_path)
    }

    /// Writes a client certificate and key signed by this CA to `dir/client.pem` and `dir/client.key`.
    pub fn write_client_identity(&self, dir: &Path) -> (PathBuf, PathBuf) {
        self.write_named_client_identity(dir, "client", "slaprobe-agent")
    }

    /// Writes a client certificate for `name` (its subject's common name and its DNS name) and its key, signed
    /// by this CA, to `dir/FILE.pem` and `dir/FILE.key`.
    pub fn write_named_client_identity(&self, dir: &Path, file: &str, name: &str) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("client params");
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let (cert, key) = self.identity(params, 30);
        let (cert_path, key_path) = (dir.join(format!("{file}.pem")), dir.join(format!("{file}.key")));
        std::fs::write(&cert_path, cert).expect("write client cert");
        std::fs::write(&key_path, key).expect("write client key");
        (cert_path, key_path)
    }

    /// A certificate of `params` signed by this CA, valid from yesterday for `days` days from now, and its key,
    /// both PEM.
    fn identity(&self, mut params: CertificateParams, days: i64) -> (String, String) {
        params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(days);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        (cert.pem(), key.serialize_pem())
    }

    /// A server configuration presenting `cert` that demands a client certificate signed by this CA.
    pub fn server_config_requiring_clients(&self, cert: &ServerCert) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(self.issuer.der().clone()).expect("CA as client root");
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .expect("client verifier");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key.clone()));
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(cert.chain.clone(), key)
            .expect("server config");
        Arc::new(config)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerCert {
    /// A rustls server configuration presenting this certificate, offering `alpn`.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let mut config = self.config(rustls::DEFAULT_VERSIONS, Vec::new());
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        Arc::new(config)
    }

    /// A server configuration that speaks TLS 1.2 only.
    pub fn tls12_only(&self) -> Arc<ServerConfig> {
        Arc::new(self.config(&[&rustls::version::TLS12], Vec::new()))
    }

    /// A server configuration that staples `ocsp` (any bytes: clients only see whether something was stapled).
    pub fn stapling(&self, ocsp: &[u8]) -> Arc<ServerConfig> {
        Arc::new(self.config(rustls::DEFAULT_VERSIONS, ocsp.to_vec()))
    }

    fn config(&self, versions: &[&'static rustls::SupportedProtocolVersion], ocsp: Vec<u8>) -> ServerConfig {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert_with_ocsp(self.chain.clone(), key, ocsp)
            .expect("server config")
    }
}
