//! HTTP(S) probe on rustls and a plain HTTP/1.1 exchange ([`super::http1`]; hyper for a connection that
//! negotiated h2), so each phase is measured on its own: `dns`, `connect`, `tls`, `ttfb` (request sent →
//! response headers) and `transfer` (headers → end of body), summed over redirect hops as blackbox_exporter
//! does. Every hop opens a fresh connection; nothing is pooled or resumed.
//!
//! Redirects are followed on fresh connections too; once one leaves the configured origin (another host or
//! port, or https → http), the sensitive headers are no longer sent. Every URL recorded or put in an error
//! message is redacted ([`slaprobe_proto::redact`]).
//!
//! Expectations are checked in a fixed order (status, headers, body, latency, certificate) and the first that
//! fails decides the result's `error_kind`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::time::Duration;

use bytes::Bytes;
use http::header::{LOCATION, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use url::Url;

use super::net::{address_text, no_delay};
use super::tls::{check_cert_days, describe_handshake_error, handshake_noting, server_name, session_facts};
use super::{Attempt, ErrorKind, Failure, ProbeContext, add_phase};
use super::{capture, http1};
use slaprobe_checks::spec::{HttpExpectations, HttpSpec};
use slaprobe_proto::HttpDetail;
use slaprobe_proto::capture::BODY_HEAD_BYTES;
use slaprobe_proto::error_text::error_chain;
use slaprobe_proto::redact::redact;

/// Body bytes kept for `body_regex` (without one, the first [`BODY_HEAD_BYTES`] for a failure capture); the rest
/// is counted, not kept.
const MAX_KEPT_BODY: usize = 1 << 20;
/// Longest proxy `CONNECT` response head accepted.
const MAX_PROXY_HEAD: usize = 8 * 1024;

/// The final response of one hop (its headers are kept in [`capture::Pending`], for a failure capture too).
pub(super) struct Response {
    pub(super) status: StatusCode,
    /// The body's first bytes: up to 1 MiB when something reads it (`body_regex`, a capture), else a failure
    /// capture's worth.
    pub(super) body: Vec<u8>,
}

/// A request as configured (or as a step made it), with what its response must satisfy.
pub(super) struct Planned<'a> {
    pub(super) url: Url,
    pub(super) method: Method,
    pub(super) headers: &'a HeaderMap,
    pub(super) body: Option<String>,
    pub(super) expect: &'a HttpExpectations,
    /// Keep up to 1 MiB of the body for the caller (a step capturing from it).
    pub(super) keep_body: bool,
}

/// Runs one HTTP check attempt: one request, or each of a multi-step check's steps.
pub async fn probe(context: &ProbeContext, spec: &HttpSpec, attempt: &mut Attempt) -> Result<(), Failure> {
    attempt.http = Some(HttpDetail::default());
    if !spec.settings.steps.is_empty() {
        return Box::pin(super::steps::run(context, spec, attempt)).await;
    }
    let planned = Planned {
        url: spec.url.clone(),
        method: spec.settings.method.clone(),
        headers: spec.settings.headers(),
        body: spec.settings.body.clone(),
        expect: &spec.settings.expect,
        keep_body: false,
    };
    request(context, spec, planned, attempt).await.map(|_| ())
}

/// Makes `planned`, following redirects as configured, and judges the final response.
pub(super) async fn request(
    context: &ProbeContext,
    spec: &HttpSpec,
    planned: Planned<'_>,
    attempt: &mut Attempt,
) -> Result<Response, Failure> {
    let start = Instant::now();
    let Planned { mut url, mut method, headers: configured, mut body, expect, keep_body } = planned;
    let keep = if keep_body || expect.body_regex.is_some() { MAX_KEPT_BODY } else { BODY_HEAD_BYTES };
    let mut redirects = 0;
    let mut send_sensitive = true;
    let response = loop {
        let request =
            Outgoing { url: &url, method: &method, headers: configured, body: body.as_deref(), send_sensitive, keep };
        let response = exchange(context, spec, request, attempt).await?;
        let headers = attempt.pending.headers.as_ref();
        let location = headers
            .and_then(|headers| headers.get(LOCATION))
            .filter(|_| spec.settings.follow_redirects && response.status.is_redirection());
        let Some(location) = location else { break response };
        let location = location.to_str().unwrap_or_default().to_owned();
        let next = url.join(&location).map_err(|error| {
            let shown = redact(&url);
            Failure::new(ErrorKind::Http, format!("http: {shown} redirects to an invalid location: {error}"))
        })?;
        if redirects >= spec.settings.max_redirects {
            return Err(Failure::new(
                ErrorKind::Http,
                format!(
                    "http: more than {} redirects (the last one to {})",
                    spec.settings.max_redirects,
                    redact(&next)
                ),
            ));
        }
        if !matches!(next.scheme(), "http" | "https") {
            return Err(Failure::new(
                ErrorKind::Http,
                format!("http: redirect to a non-HTTP location {}", redact(&next)),
            ));
        }
        // As curl and browsers do: credentials go only where they were configured for.
        if next.origin() != url.origin() {
            send_sensitive = false;
        }
        url = next;
        if response.status == StatusCode::SEE_OTHER
            || (matches!(response.status.as_u16(), 301 | 302) && method == Method::POST)
        {
            method = Method::GET;
            body = None;
        }
        redirects += 1;
        detail(attempt).redirects = redirects;
    };
    detail(attempt).final_url = Some(redact(&url));
    let cert_expires_at = detail(attempt).cert_expires_at;
    let no_headers = HeaderMap::new();
    let headers = attempt.pending.headers.as_ref().unwrap_or(&no_headers);
    check_expectations(expect, &response, headers, start.elapsed(), cert_expires_at)?;
    Ok(response)
}

pub(super) fn detail(attempt: &mut Attempt) -> &mut HttpDetail {
    attempt.http.get_or_insert_default()
}

/// One request of a redirect chain.
struct Outgoing<'a> {
    url: &'a Url,
    method: &'a Method,
    headers: &'a HeaderMap,
    body: Option<&'a str>,
    /// False once a redirect left the configured origin: `Authorization`, `Cookie`, `Proxy-Authorization` and
    /// the check's `sensitive_headers` are then left out.
    send_sensitive: bool,
    /// Body bytes kept.
    keep: usize,
}

/// One request on a fresh connection: resolve, connect (through the proxy), TLS, request, response, body.
async fn exchange(
    context: &ProbeContext,
    spec: &HttpSpec,
    outgoing: Outgoing<'_>,
    attempt: &mut Attempt,
) -> Result<Response, Failure> {
    let url = outgoing.url;
    attempt.pending.forget();
    let host =
        url.host_str().ok_or_else(|| Failure::new(ErrorKind::Http, format!("http: {} has no host", redact(url))))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let https = url.scheme() == "https";
    let (dial_host, dial_port) = match &spec.settings.proxy {
        Some(proxy) => (proxy.host_str().unwrap_or_default(), proxy.port_or_known_default().unwrap_or(80)),
        None => (host, port),
    };
    let ip = context.resolve(dial_host, spec.settings.ip_version, attempt).await?;
    let address = SocketAddr::new(ip, dial_port);
    detail(attempt).remote_addr = Some(address_text(address));
    let mut stream = context.connect(address, attempt).await?;
    if spec.settings.proxy.is_some() && https {
        let start = Instant::now();
        let tunnel = open_tunnel(&mut stream, host, port, attempt).await;
        add_phase(&mut attempt.phases.connect, start);
        tunnel?;
    }
    if https {
        // Boxed, as the multi-step path is: a plain HTTP probe's future stays small, and small to move.
        return Box::pin(over_tls(spec, host, stream, outgoing, address, attempt)).await;
    }
    let request = http1_request(spec, &outgoing);
    http1::exchange(stream, &request, outgoing.method, outgoing.keep, address, attempt).await
}

/// The TLS handshake, then the exchange in the protocol it negotiated (h2 through hyper, else HTTP/1.1).
async fn over_tls(
    spec: &HttpSpec,
    host: &str,
    stream: TcpStream,
    outgoing: Outgoing<'_>,
    address: SocketAddr,
    attempt: &mut Attempt,
) -> Result<Response, Failure> {
    let tls = handshake(spec, host, stream, attempt).await?;
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        let request = h2_request(spec, &outgoing)?;
        let io = TokioIo::new(tls);
        let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|error| describe_hyper_error(&error, None, "during the HTTP/2 handshake"))?;
        return receive(connection, sender.send_request(request), outgoing.keep, address, attempt).await;
    }
    let request = http1_request(spec, &outgoing);
    http1::exchange(tls, &request, outgoing.method, outgoing.keep, address, attempt).await
}

/// Drives `connection` in this task while the request is answered and the body read, then drops it: the
/// socket closes without a graceful shutdown, and no task is spawned per attempt.
async fn receive<C, R>(
    connection: C,
    response: R,
    keep: usize,
    address: SocketAddr,
    attempt: &mut Attempt,
) -> Result<Response, Failure>
where
    C: Future<Output = Result<(), hyper::Error>>,
    R: Future<Output = Result<http::Response<hyper::body::Incoming>, hyper::Error>>,
{
    let mut connection = ConnectionDriver { connection: pin!(connection), outcome: None };
    attempt.enter_at("waiting for the response from", address);
    let sent = Instant::now();
    let response = connection.alongside(response).await;
    add_phase(&mut attempt.phases.ttfb, sent);
    let response = response
        .map_err(|error| describe_hyper_error(&error, connection.error(), "before sending a complete response"))?;
    let status = response.status();
    let version = version_name(response.version());
    let reason = response.extensions().get::<hyper::ext::ReasonPhrase>().map(|reason| reason.as_bytes());
    {
        let detail = detail(attempt);
        detail.status = Some(status.as_u16());
        detail.version = Some(version.to_owned());
    }
    attempt.pending.status_line = Some(capture::status_line(version, status, reason));
    let (parts, incoming) = response.into_parts();
    attempt.pending.headers = Some(parts.headers);
    attempt.enter_at("reading the response body from", address);
    let transfer_start = Instant::now();
    let body = connection.alongside(read_body(incoming, keep)).await;
    add_phase(&mut attempt.phases.transfer, transfer_start);
    let (body, received) = body.map_err(|(error, received)| {
        describe_hyper_error(&error, connection.error(), &format!("after {received} bytes of the body"))
    })?;
    let detail = detail(attempt);
    detail.body_bytes = Some(received);
    attempt.pending.body_head = body[..body.len().min(BODY_HEAD_BYTES)].to_vec();
    Ok(Response { status, body })
}

/// A hyper client connection polled alongside the work that needs it.
struct ConnectionDriver<'a, C> {
    connection: Pin<&'a mut C>,
    /// How the connection ended, once it has.
    outcome: Option<Result<(), hyper::Error>>,
}

impl<C: Future<Output = Result<(), hyper::Error>>> ConnectionDriver<'_, C> {
    async fn alongside<T>(&mut self, work: impl Future<Output = T>) -> T {
        let mut work = pin!(work);
        loop {
            if self.outcome.is_some() {
                return work.await;
            }
            tokio::select! {
                biased;
                output = &mut work => return output,
                outcome = self.connection.as_mut() => self.outcome = Some(outcome),
            }
        }
    }

    fn error(&self) -> Option<&hyper::Error> {
        self.outcome.as_ref().and_then(|outcome| outcome.as_ref().err())
    }
}

async fn handshake(
    spec: &HttpSpec,
    host: &str,
    stream: TcpStream,
    attempt: &mut Attempt,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
    let name = server_name(host).map_err(|error| Failure::new(ErrorKind::Tls, format!("tls: {error}")))?;
    no_delay(&stream);
    attempt.enter(format!("in the TLS handshake with {host}"));
    let start = Instant::now();
    let (result, presented) = handshake_noting(spec.settings.tls.clone(), name, stream).await;
    add_phase(&mut attempt.phases.tls, start);
    attempt.pending.certificates = presented.map(|presented| presented.chain).unwrap_or_default();
    let tls = result.map_err(|error| Failure::new(ErrorKind::Tls, describe_handshake_error(&error)))?;
    let (version, expiry) = session_facts(tls.get_ref().1);
    let detail = detail(attempt);
    detail.tls_version = version;
    detail.cert_expires_at = match (detail.cert_expires_at, expiry) {
        (Some(earlier), Some(now)) => Some(earlier.min(now)),
        (earlier, now) => now.or(earlier),
    };
    Ok(tls)
}

/// Sends `CONNECT host:port` through the proxy and checks for a 2xx answer.
async fn open_tunnel(stream: &mut TcpStream, host: &str, port: u16, attempt: &mut Attempt) -> Result<(), Failure> {
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    attempt.enter(format!("opening a proxy tunnel to {authority}"));
    let broken =
        |error: std::io::Error| Failure::new(ErrorKind::Proxy, format!("proxy: tunnel to {authority} failed: {error}"));
    let request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(broken)?;
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_PROXY_HEAD || stream.read(&mut byte).await.map_err(broken)? == 0 {
            return Err(Failure::new(ErrorKind::Proxy, format!("proxy: no complete answer to CONNECT {authority}")));
        }
        head.push(byte[0]);
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default();
    let code = status_line.split_whitespace().nth(1).and_then(|code| code.parse::<u16>().ok());
    match code {
        Some(200..=299) => Ok(()),
        _ => Err(Failure::new(ErrorKind::Proxy, format!("proxy: CONNECT {authority} refused: {status_line:?}"))),
    }
}

/// The headers `outgoing` sends: all configured ones while on the configured origin, else the non-sensitive ones.
fn sendable<'a>(
    spec: &'a HttpSpec,
    outgoing: &Outgoing<'a>,
) -> impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)> {
    let send_sensitive = outgoing.send_sensitive;
    outgoing.headers.iter().filter(move |(name, _)| send_sensitive || !spec.settings.is_sensitive(name))
}

fn http1_request(spec: &HttpSpec, outgoing: &Outgoing<'_>) -> Vec<u8> {
    let url = outgoing.url;
    let target = if spec.settings.proxy.is_some() && url.scheme() == "http" {
        url.as_str()
    } else {
        &url[url::Position::BeforePath..url::Position::AfterQuery]
    };
    let wire = http1::Wire {
        method: outgoing.method,
        target,
        authority: &url[url::Position::BeforeHost..url::Position::AfterPort],
        body: outgoing.body,
    };
    http1::request_bytes(wire, sendable(spec, outgoing))
}

fn h2_request(spec: &HttpSpec, outgoing: &Outgoing<'_>) -> Result<Request<Full<Bytes>>, Failure> {
    let invalid = || {
        let shown = redact(outgoing.url);
        Failure::new(ErrorKind::Http, format!("http: cannot build the request: invalid URL {shown}"))
    };
    let mut builder = Request::builder().method(outgoing.method.clone()).uri(outgoing.url.as_str());
    let headers = builder.headers_mut().ok_or_else(invalid)?;
    headers.extend(sendable(spec, outgoing).map(|(name, value)| (name.clone(), value.clone())));
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static(concat!("slaprobe-agent/", env!("CARGO_PKG_VERSION"))));
    }
    let body = outgoing.body.map(|text| Bytes::from(text.to_owned())).unwrap_or_default();
    builder.body(Full::new(body)).map_err(|_| invalid())
}

/// Reads the body to its end, keeping its first `keep` bytes; returns the kept bytes and the count received, or
/// the error with the count received before it.
async fn read_body(mut incoming: hyper::body::Incoming, keep: usize) -> Result<(Vec<u8>, u64), (hyper::Error, u64)> {
    let mut kept = Vec::new();
    let mut total: u64 = 0;
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|error| (error, total))?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if kept.len() < keep {
                let room = keep - kept.len();
                kept.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
    }
    Ok((kept, total))
}

/// A message for a failed exchange; the connection's own error, when it has one, says more than the request's.
fn describe_hyper_error(error: &hyper::Error, connection_error: Option<&hyper::Error>, when: &str) -> Failure {
    let error = connection_error.unwrap_or(error);
    let io_kind = std::iter::successors(std::error::Error::source(error), |cause| cause.source())
        .find_map(|cause| cause.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    if io_kind == Some(std::io::ErrorKind::ConnectionReset) {
        return Failure::new(ErrorKind::Http, format!("http: the server reset the connection {when}"));
    }
    if error.is_incomplete_message() || error.is_closed() || error.is_canceled() {
        return Failure::new(ErrorKind::Http, format!("http: the server closed the connection {when}"));
    }
    Failure::new(ErrorKind::Http, format!("http: {} ({when})", error_chain(error)))
}

fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

fn check_expectations(
    spec: &HttpExpectations,
    response: &Response,
    headers: &HeaderMap,
    elapsed: Duration,
    cert_expires_at: Option<Timestamp>,
) -> Result<(), Failure> {
    let code = response.status.as_u16();
    if !spec.status.iter().any(|range| range.contains(&code)) {
        let expected: Vec<String> = spec
            .status
            .iter()
            .map(|range| {
                if range.start() == range.end() {
                    range.start().to_string()
                } else {
                    format!("{}-{}", range.start(), range.end())
                }
            })
            .collect();
        return Err(Failure::new(
            ErrorKind::HttpStatus,
            format!("http_status: got {}, expected {}", response.status, expected.join(", ")),
        ));
    }
    for (name, regex) in &spec.header_regex {
        let values: Vec<&str> = headers.get_all(name).iter().filter_map(|value| value.to_str().ok()).collect();
        if values.is_empty() {
            return Err(Failure::new(ErrorKind::Assertion, format!("assertion: response has no {name} header")));
        }
        if !values.iter().any(|value| regex.is_match(value)) {
            return Err(Failure::new(
                ErrorKind::Assertion,
                format!("assertion: header {name}: {:?} does not match /{regex}/", values.join(", ")),
            ));
        }
    }
    if let Some(regex) = &spec.body_regex {
        let body = String::from_utf8_lossy(&response.body);
        if !regex.is_match(&body) {
            let preview: String = body.chars().take(80).collect();
            return Err(Failure::new(
                ErrorKind::Assertion,
                format!("assertion: body does not match /{regex}/ (it begins {preview:?})"),
            ));
        }
    }
    if let Some(limit) = spec.max_latency
        && elapsed > limit
    {
        return Err(Failure::new(
            ErrorKind::Slow,
            format!("slow: took {} ms, above max_latency {}", elapsed.as_millis(), humantime::format_duration(limit)),
        ));
    }
    check_cert_days(spec.cert_min_days, cert_expires_at)
}
