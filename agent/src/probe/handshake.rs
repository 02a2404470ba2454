//! TLS handshake probe (`kind: tls`): connect, complete a handshake whatever the certificate chain, report what
//! it showed (version, cipher suite, the chain, OCSP stapling), then judge it: the chain against the trusted roots,
//! the leaf against the server name, the version, stapling and expiry against the check's expectations, in that
//! order; the first that fails decides the result.
//!
//! The handshake is not refused for its certificate, so an expired or misnamed chain is reported in full with
//! the reason it is not valid, as `openssl s_client` would show it, rather than as a bare handshake failure.

use std::net::SocketAddr;

use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConnection, Error as TlsError};
use slaprobe_checks::spec::TlsCheckSpec;
use slaprobe_proto::TlsDetail;
use tokio::time::Instant;

use super::capture::certificates;
use super::net::{address_text, no_delay};
use super::tls::{
    check_cert_days, describe_certificate_error, describe_handshake_error, earliest_expiry, handshake_noting,
    version_name,
};
use super::{Attempt, ErrorKind, Failure, ProbeContext, add_phase};

/// Runs one TLS handshake check attempt.
pub async fn probe(context: &ProbeContext, spec: &TlsCheckSpec, attempt: &mut Attempt) -> Result<(), Failure> {
    let server_name = spec.server_name.to_str().into_owned();
    attempt.tls = Some(TlsDetail { server_name: Some(server_name.clone()), ..TlsDetail::default() });
    let ip = context.resolve(&spec.host, spec.ip_version, attempt).await?;
    let address = SocketAddr::new(ip, spec.port);
    detail(attempt).remote_addr = Some(address_text(address));
    let stream = context.connect(address, attempt).await?;
    no_delay(&stream);
    attempt.enter_at("in the TLS handshake with", address);
    let start = Instant::now();
    let (result, presented) = handshake_noting(spec.tls.clone(), spec.server_name.clone(), stream).await;
    add_phase(&mut attempt.phases.tls, start);
    let chain = presented.as_ref().map(|presented| presented.chain.as_slice()).unwrap_or_default();
    {
        let detail = detail(attempt);
        detail.certificates = certificates(chain);
        detail.cert_expires_at = earliest_expiry(chain);
        detail.ocsp_stapled = presented.as_ref().map(|presented| presented.ocsp_stapled);
    }
    let tls = result.map_err(|error| Failure::new(ErrorKind::Tls, describe_handshake_error(&error)))?;
    let connection = tls.get_ref().1;
    let version = connection.protocol_version();
    record_session(detail(attempt), connection);
    let verdict = judge_chain(spec, chain);
    let detail = detail(attempt);
    detail.chain_valid = Some(verdict.chain_error.is_none());
    detail.chain_error.clone_from(&verdict.chain_error);
    detail.hostname_match = Some(verdict.hostname_match);
    if let Some(error) = verdict.chain_error.filter(|_| spec.chain_valid) {
        return Err(Failure::new(ErrorKind::Tls, format!("tls: chain not valid: {error}")));
    }
    if spec.hostname_match && !verdict.hostname_match {
        return Err(Failure::new(
            ErrorKind::Tls,
            format!("tls: the certificate is not valid for {server_name} (it names {})", names_of(chain.first())),
        ));
    }
    if let (Some(minimum), Some(version)) = (spec.min_version, version)
        && u16::from(version) < u16::from(minimum)
    {
        return Err(Failure::new(
            ErrorKind::Tls,
            format!("tls: negotiated {}, below min_version {}", version_name(version), version_name(minimum)),
        ));
    }
    if spec.ocsp_stapled && detail.ocsp_stapled != Some(true) {
        return Err(Failure::new(ErrorKind::Tls, "tls: the server stapled no OCSP response"));
    }
    check_cert_days(spec.cert_min_days, detail.cert_expires_at)
}

fn detail(attempt: &mut Attempt) -> &mut TlsDetail {
    attempt.tls.get_or_insert_default()
}

fn record_session(detail: &mut TlsDetail, connection: &ClientConnection) {
    detail.version = connection.protocol_version().map(version_name);
    detail.cipher_suite = connection.negotiated_cipher_suite().map(|suite| {
        let suite = suite.suite();
        suite.as_str().map_or_else(|| format!("{suite:?}"), str::to_owned)
    });
}

/// The chain's verdicts: why it does not lead to a trusted root (if it does not), and whether the leaf names the
/// server.
struct Verdict {
    chain_error: Option<String>,
    hostname_match: bool,
}

fn judge_chain(spec: &TlsCheckSpec, chain: &[CertificateDer<'static>]) -> Verdict {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return Verdict { chain_error: Some("the server presented no certificate".to_owned()), hostname_match: false };
    };
    let parsed = match ParsedCertificate::try_from(leaf) {
        Ok(parsed) => parsed,
        Err(error) => return Verdict { chain_error: Some(describe(&error)), hostname_match: false },
    };
    let algorithms = spec.tls.crypto_provider().signature_verification_algorithms.all;
    let chain_error =
        verify_server_cert_signed_by_trust_anchor(&parsed, &spec.roots, intermediates, UnixTime::now(), algorithms)
            .err()
            .map(|error| describe(&error));
    let hostname_match = verify_server_name(&parsed, &spec.server_name).is_ok();
    Verdict { chain_error, hostname_match }
}

fn describe(error: &TlsError) -> String {
    match error {
        TlsError::InvalidCertificate(error) => describe_certificate_error(error),
        other => other.to_string(),
    }
}

/// The DNS names and IP addresses a certificate is valid for, as a person reads them.
fn names_of(leaf: Option<&CertificateDer<'_>>) -> String {
    let Some((_, certificate)) = leaf.and_then(|der| x509_parser::parse_x509_certificate(der).ok()) else {
        return "nothing readable".to_owned();
    };
    let names: Vec<String> = certificate
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|extension| {
            extension
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::DNSName(name) => Some((*name).to_owned()),
                    x509_parser::extensions::GeneralName::IPAddress(bytes) => ip_text(bytes),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() { "no DNS name or IP address".to_owned() } else { names.join(", ") }
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(|octets| std::net::Ipv4Addr::from(octets).to_string()),
        16 => <[u8; 16]>::try_from(bytes).ok().map(|octets| std::net::Ipv6Addr::from(octets).to_string()),
        _ => None,
    }
}
