//! What a TLS handshake tells: negotiated version, the earliest certificate expiry, and a failed handshake in
//! words a person can act on. The client configurations themselves are built with the check
//! ([`slaprobe_checks::tls`]).

use std::io;

use jiff::Timestamp;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ProtocolVersion};

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

fn version_name(version: ProtocolVersion) -> String {
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
        rustls::Error::InvalidCertificate(cert_error) => match cert_error {
            CertificateError::Expired => "tls: certificate expired".to_owned(),
            CertificateError::ExpiredContext { time, not_after } => {
                let days = time.as_secs().saturating_sub(not_after.as_secs()) / 86_400;
                format!("tls: certificate expired {days} days ago")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "tls: certificate is not valid yet".to_owned()
            }
            CertificateError::UnknownIssuer => "tls: certificate signed by an unknown authority".to_owned(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("tls: certificate is not valid for this host name ({cert_error})")
            }
            other => format!("tls: invalid certificate: {other}"),
        },
        other => format!("tls: {other}"),
    }
}
