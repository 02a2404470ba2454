//! What a TLS handshake tells: negotiated version, the earliest certificate expiry, the chain the server
//! presented (also when the handshake was refused for it), and a failed handshake in words a person can act on.
//! The client configurations themselves are built with the check ([`slaprobe_checks::tls`]).

use std::io;
use std::pin::pin;
use std::sync::Arc;

use jiff::Timestamp;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ProtocolVersion};
use slaprobe_checks::tls::{Presented, take_presented};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::{ErrorKind, Failure};

/// Parses `host` as a TLS server name (DNS name or IP address).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned()).map_err(|_| format!("{host:?} is not a valid TLS server name"))
}

/// Negotiated version and earliest expiry of a finished handshake.
pub fn session_facts(connection: &rustls::ClientConnection) -> (Option<String>, Option<Timestamp>) {
    let version = connection.protocol_version().map(version_name);
    let expiry = connection.peer_certificates().and_then(earliest_expiry);
    (version, expiry)
}

/// Runs a client handshake on `stream`, keeping what the server presented for verification, also when the
/// handshake is refused for it.
pub async fn handshake_noting(
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    stream: TcpStream,
) -> (io::Result<TlsStream<TcpStream>>, Option<Presented>) {
    let mut connect = pin!(tokio_rustls::TlsConnector::from(config).connect(name, stream));
    let mut presented = None;
    // The verifier notes the chain within the poll that verifies it: take it right there, before another
    // probe's handshake on this thread can, so that a handshake refused for its certificate keeps them too.
    let result = std::future::poll_fn(|context| {
        take_presented();
        let poll = connect.as_mut().poll(context);
        presented = take_presented().or(presented.take());
        poll
    })
    .await;
    (result, presented)
}

/// Fails with `cert_expiry` when the chain expires in fewer than `min_days` whole days.
pub fn check_cert_days(min_days: Option<u32>, expires: Option<Timestamp>) -> Result<(), Failure> {
    let (Some(min_days), Some(expires)) = (min_days, expires) else { return Ok(()) };
    let seconds_left = expires.as_second() - Timestamp::now().as_second();
    let days_left = seconds_left.div_euclid(86_400);
    if days_left < i64::from(min_days) {
        return Err(Failure::new(
            ErrorKind::CertExpiry,
            format!("cert_expiry: certificate expires at {expires} ({days_left} days left, fewer than {min_days})"),
        ));
    }
    Ok(())
}

/// The name of a protocol version (`TLSv1.3`).
pub fn version_name(version: ProtocolVersion) -> String {
    match version {
        ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
        ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
        other => format!("{other:?}"),
    }
}

/// The earliest `notAfter` among `chain`, skipping certificates that do not parse.
pub fn earliest_expiry(chain: &[CertificateDer<'_>]) -> Option<Timestamp> {
    chain
        .iter()
        .filter_map(|der| x509_parser::parse_x509_certificate(der).ok())
        .filter_map(|(_, cert)| Timestamp::from_second(cert.validity().not_after.timestamp()).ok())
        .min()
}

/// A message a person can act on for a failed handshake.
pub fn describe_handshake_error(error: &io::Error) -> String {
    let Some(tls_error) = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) else {
        return format!("tls: handshake failed: {error}");
    };
    match tls_error {
        rustls::Error::InvalidCertificate(cert_error) => format!("tls: {}", describe_certificate_error(cert_error)),
        other => format!("tls: {other}"),
    }
}

/// Why a certificate was refused, in words a person can act on (`certificate expired 3 days ago`).
pub fn describe_certificate_error(error: &CertificateError) -> String {
    match error {
        CertificateError::Expired => "certificate expired".to_owned(),
        CertificateError::ExpiredContext { time, not_after } => {
            let days = time.as_secs().saturating_sub(not_after.as_secs()) / 86_400;
            format!("certificate expired {days} days ago")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate is not valid yet".to_owned()
        }
        CertificateError::UnknownIssuer => "certificate signed by an unknown authority".to_owned(),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("certificate is not valid for this host name ({error})")
        }
        other => format!("invalid certificate: {other}"),
    }
}
