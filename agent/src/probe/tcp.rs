//! TCP probe: connect, optionally complete a TLS handshake, optionally send a payload, and optionally read the
//! first bytes until they match `expect_regex` (at most 4 KiB; the banner is reported, up to 512 bytes).
//!
//! Without `expect_regex` the attempt succeeds once connected (and, with `tls: true`, once the handshake and
//! any `send` are done); it does not wait for the server to speak.

use std::net::SocketAddr;

use slaprobe_proto::TcpDetail;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::net::{address_text, no_delay};
use super::tls::{describe_handshake_error, server_name, session_facts};
use super::{Attempt, ErrorKind, Failure, ProbeContext, add_phase};
use slaprobe_checks::spec::TcpSpec;

/// Most bytes read while waiting for `expect_regex`.
const MAX_BANNER_READ: usize = 4096;
/// Most bytes reported as the banner.
const MAX_BANNER_REPORTED: usize = 512;

/// Runs one TCP check attempt.
pub async fn probe(context: &ProbeContext, spec: &TcpSpec, attempt: &mut Attempt) -> Result<(), Failure> {
    attempt.tcp = Some(TcpDetail::default());
    let ip = context.resolve(&spec.host, spec.ip_version, attempt).await?;
    let address = SocketAddr::new(ip, spec.port);
    if let Some(detail) = attempt.tcp.as_mut() {
        detail.remote_addr = Some(address_text(address));
    }
    let stream = context.connect(address, attempt).await?;
    match &spec.tls {
        Some(config) => {
            let name =
                server_name(&spec.host).map_err(|error| Failure::new(ErrorKind::Tls, format!("tls: {error}")))?;
            attempt.enter_at("in the TLS handshake with", address);
            let start = Instant::now();
            no_delay(&stream);
            let tls = tokio_rustls::TlsConnector::from(config.clone()).connect(name, stream).await;
            add_phase(&mut attempt.phases.tls, start);
            let tls = tls.map_err(|error| Failure::new(ErrorKind::Tls, describe_handshake_error(&error)))?;
            let (version, expiry) = session_facts(tls.get_ref().1);
            if let Some(detail) = attempt.tcp.as_mut() {
                detail.tls_version = version;
                detail.cert_expires_at = expiry;
            }
            converse(tls, spec, address, attempt).await
        }
        None => converse(stream, spec, address, attempt).await,
    }
}

async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    spec: &TcpSpec,
    address: SocketAddr,
    attempt: &mut Attempt,
) -> Result<(), Failure> {
    if let Some(payload) = &spec.send {
        attempt.enter_at("sending to", address);
        stream.write_all(payload).await.map_err(|error| {
            Failure::new(ErrorKind::Connect, format!("connect: sending to {address} failed: {error}"))
        })?;
    }
    let Some(regex) = &spec.expect_regex else { return Ok(()) };
    let waiting = format!("waiting for {address} to send something matching /{regex}/");
    attempt.enter(waiting.clone());
    let start = Instant::now();
    let mut banner = Vec::new();
    let mut chunk = [0u8; 1024];
    while banner.len() < MAX_BANNER_READ {
        // A read error ends the banner where it stands; the expectation below judges what arrived.
        let read = stream.read(&mut chunk).await.unwrap_or(0);
        if read == 0 {
            break;
        }
        if banner.is_empty() {
            add_phase(&mut attempt.phases.ttfb, start);
        }
        banner.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&banner[..banner.len().min(MAX_BANNER_REPORTED)]).into_owned();
        attempt.enter(format!("{waiting}; received {text:?}"));
        if let Some(detail) = attempt.tcp.as_mut() {
            detail.banner = Some(text);
        }
        if regex.is_match(&String::from_utf8_lossy(&banner)) {
            return Ok(());
        }
    }
    match attempt.tcp.as_ref().and_then(|detail| detail.banner.as_ref()) {
        None => Err(Failure::new(
            ErrorKind::Assertion,
            format!("assertion: {address} closed the connection without sending anything"),
        )),
        Some(text) => {
            Err(Failure::new(ErrorKind::Assertion, format!("assertion: banner {text:?} does not match /{regex}/")))
        }
    }
}
