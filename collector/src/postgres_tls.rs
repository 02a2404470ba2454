//! TLS to PostgreSQL with rustls, as libpq's `sslmode` and `sslrootcert` say (both read from the URL, in its
//! query or as `key=value` words):
//!
//! | `sslmode` | encrypted | the server's certificate |
//! | --- | --- | --- |
//! | `disable` | never | — |
//! | `prefer` (the default) | when the server offers it | not checked (with `sslrootcert`: its chain is) |
//! | `require` | always | not checked (with `sslrootcert`: its chain is, as libpq does) |
//! | `verify-ca` | always | its chain, against `sslrootcert` or the system's trust store |
//! | `verify-full` | always | its chain, and that it names the host in the URL |
//!
//! A certificate that is not checked still has to sign the handshake. Client certificates (`sslcert`,
//! `sslkey`) are not supported; tokio-postgres refuses them as unknown options.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// What a store URL asks for: the connection settings, and the TLS connector that carries out its `sslmode`.
pub struct Connect {
    /// The URL's settings, `sslmode` applied as tokio-postgres knows it (disable, prefer, require).
    pub config: tokio_postgres::Config,
    /// Checks the server's certificate as `sslmode` says.
    pub tls: MakeRustlsConnect,
}

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            // libpq's `allow` tries plain first; nothing here would be gained by it.
            other => {
                return Err(format!(
                    "sslmode {other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
        })
    }
}

/// Reads `url` (`postgres://user@host/db?sslmode=verify-full&sslrootcert=/etc/ca.pem`, or libpq's
/// `host=… sslmode=…` words). The error says what is wrong without repeating the URL (it may hold a password).
pub fn connect_options(url: &str) -> Result<Connect, String> {
    let (rest, mode, root_file) = take_tls_options(url)?;
    let mode = mode.as_deref().map(SslMode::parse).transpose()?.unwrap_or(SslMode::Prefer);
    let mut config: tokio_postgres::Config =
        rest.parse().map_err(|error| format!("not a PostgreSQL URL like postgres://user@host/db: {error}"))?;
    config.ssl_mode(match mode {
        SslMode::Disable => WireMode::Disable,
        SslMode::Prefer => WireMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => WireMode::Require,
    });
    let verify_chain = matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) || root_file.is_some();
    let roots = if verify_chain {
        let roots = slaprobe_checks::tls::trust_roots(root_file.as_deref().map(Path::new))
            .map_err(|error| format!("sslrootcert: {error}"))?;
        let verifier = WebPkiServerVerifier::builder(roots).build().map_err(|error| error.to_string())?;
        Some(verifier)
    } else {
        None
    };
    let provider = rustls::crypto::ring::default_provider();
    let verifier = ServerVerifier {
        chain: roots,
        check_name: mode == SslMode::VerifyFull,
        algorithms: provider.signature_verification_algorithms,
    };
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Connect { config, tls: MakeRustlsConnect::new(client) })
}

/// `url` without its `sslmode` and `sslrootcert`, and their values.
fn take_tls_options(url: &str) -> Result<(String, Option<String>, Option<String>), String> {
    let (mut mode, mut root_file) = (None, None);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else { return Ok((url.to_owned(), None, None)) };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = || {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8()
                    .map(|value| value.into_owned())
                    .map_err(|_| format!("{name}: not UTF-8 once decoded"))
            };
            match name {
                "sslmode" => mode = Some(value()?),
                "sslrootcert" => root_file = Some(value()?),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        return Ok((rest, mode, root_file));
    }
    let mut kept = Vec::new();
    for word in url.split_whitespace() {
        match word.split_once('=') {
            Some(("sslmode", value)) => mode = Some(value.trim_matches('\'').to_owned()),
            Some(("sslrootcert", value)) => root_file = Some(value.trim_matches('\'').to_owned()),
            _ => kept.push(word),
        }
    }
    Ok((kept.join(" "), mode, root_file))
}

/// Checks the server's chain (when there are roots to check it against) and its name (for `verify-full`);
/// handshake signatures always.
#[derive(Debug)]
struct ServerVerifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        // rustls checks the name last: a name error means the chain itself was good.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            verdict => verdict,
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

#[cfg(test)]
mod tests {
    use super::take_tls_options;

    #[test]
    fn tls_options_are_taken_out_of_either_form() {
        let (rest, mode, root) =
            take_tls_options("postgres://u@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem")
                .unwrap();
        assert_eq!(rest, "postgres://u@h/db?application_name=x");
        assert_eq!((mode.as_deref(), root.as_deref()), (Some("verify-full"), Some("/etc/ca.pem")));
        let (rest, mode, root) = take_tls_options("host=h user=u sslmode=require dbname=d").unwrap();
        assert_eq!((rest.as_str(), mode.as_deref(), root), ("host=h user=u dbname=d", Some("require"), None));
        let (rest, mode, _) = take_tls_options("postgres://u@h/db").unwrap();
        assert_eq!((rest.as_str(), mode), ("postgres://u@h/db", None));
    }

    #[test]
    fn an_unknown_mode_or_a_missing_root_file_is_named() {
        let error = super::connect_options("postgres://u@h/db?sslmode=verify").err().unwrap();
        assert!(error.starts_with("sslmode \"verify\" is not one of"), "{error}");
        let error = super::connect_options("postgres://u@h/db?sslmode=verify-ca&sslrootcert=/nonexistent.pem");
        assert!(error.err().unwrap().starts_with("sslrootcert: /nonexistent.pem"));
    }
}
