//! Probes: one attempt, on a fresh connection, never a retry. A failure is data: it becomes a result with
//! `ok: false`, an [`ErrorKind`] and a message a person can act on.
//!
//! Each probe fills an [`Attempt`] as it goes (phases, kind-specific detail, the stage it is in), so that when the
//! deadline cuts it short the result still says how far it got.
//!
//! Layout:
//! - [`http`] (with `http1`, one HTTP/1.1 exchange), [`dns`], [`tcp`], [`handshake`] (`kind: tls`), [`grpc`],
//!   [`icmp`]: the probe kinds; [`steps`]: the steps of a multi-step HTTP check.
//! - [`net`]: name resolution and connecting from the agent's `source_ip`.
//! - [`tls`]: rustls client settings and handshake facts.
//! - [`capture`]: what a failed attempt keeps of the server's answer, cleaned of the check's secrets.

pub mod capture;
pub mod dns;
pub mod grpc;
pub mod handshake;
pub mod http;
mod http1;
pub mod icmp;
pub mod net;
pub mod steps;
pub mod tcp;
pub mod tls;

use futures_util::future::BoxFuture;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use jiff::Timestamp;
use slaprobe_proto::{DnsDetail, GrpcDetail, HttpDetail, IcmpDetail, Phases, ResultRecord, TcpDetail, TlsDetail};
use tokio::time::Instant;

pub use net::ProbeContext;
use slaprobe_checks::{PreparedCheck, ProbeSpec};
use slaprobe_proto::capture::{MAX_ERROR, cut};

/// Why an attempt failed; its name is the result's `error_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The attempt did not finish within the check's timeout.
    Timeout,
    /// Name resolution failed (HTTP and TCP targets), or the DNS exchange itself failed (DNS checks).
    Dns,
    /// The TCP connection could not be made.
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// The proxy refused or broke the tunnel.
    Proxy,
    /// The HTTP exchange failed (connection closed early, malformed response, too many redirects).
    Http,
    /// The response status is not an accepted one.
    HttpStatus,
    /// A body, header, banner or answer expectation failed.
    Assertion,
    /// The attempt was slower than `max_latency`.
    Slow,
    /// The certificate chain expires sooner than `cert_min_days`.
    CertExpiry,
    /// The DNS response code is not the expected one.
    DnsRcode,
    /// The gRPC call failed (a status other than OK, or the HTTP/2 connection broke).
    Grpc,
    /// Echo requests went unanswered: all of them, or more than `max_loss`.
    PacketLoss,
    /// The agent shut down before the attempt finished.
    Cancelled,
}

impl ErrorKind {
    /// The `error_kind` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Proxy => "proxy",
            Self::Http => "http",
            Self::HttpStatus => "http_status",
            Self::Assertion => "assertion",
            Self::Slow => "slow",
            Self::CertExpiry => "cert_expiry",
            Self::DnsRcode => "dns_rcode",
            Self::Grpc => "grpc",
            Self::PacketLoss => "packet_loss",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A failed attempt's class and human-readable cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Class.
    pub kind: ErrorKind,
    /// Cause, e.g. `connect: connection refused (127.0.0.1:8080)`.
    pub message: String,
}

impl Failure {
    /// A failure of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What an attempt has measured so far.
#[derive(Debug, Default)]
pub struct Attempt {
    /// Phase timings.
    pub phases: Phases,
    /// HTTP detail.
    pub http: Option<HttpDetail>,
    /// DNS detail.
    pub dns: Option<DnsDetail>,
    /// TCP detail.
    pub tcp: Option<TcpDetail>,
    /// TLS handshake detail.
    pub tls: Option<TlsDetail>,
    /// gRPC health detail.
    pub grpc: Option<GrpcDetail>,
    /// ICMP echo detail.
    pub icmp: Option<IcmpDetail>,
    /// When the attempt's timeout cuts it short; a probe that waits for several answers stops just before.
    pub deadline: Option<Instant>,
    /// The step of a multi-step check running now (`step "login" (1 of 2)`), for timeout messages.
    pub step: Option<String>,
    /// Values captured while the attempt ran (a step's token): sent on, never kept in the result.
    pub secrets: Vec<String>,
    /// What the probe is doing now, for timeout messages ("connecting to 192.0.2.1:443").
    pub stage: Stage,
    /// What the server said, kept raw until the attempt is judged: a failure keeps it ([`capture::settle`]).
    pub pending: capture::Pending,
}

impl Attempt {
    /// Records that the probe has entered `stage`.
    pub fn enter(&mut self, stage: impl Into<String>) {
        self.stage = Stage::Said(stage.into());
    }

    /// Records that the probe is `doing` something with `address` ("connecting to"); written out only if the
    /// attempt is cut short, so that an attempt that ends in time formats nothing.
    pub fn enter_at(&mut self, doing: &'static str, address: SocketAddr) {
        self.stage = Stage::At(doing, address);
    }
}

/// What an attempt is doing, for the message of one cut short.
#[derive(Debug, Default)]
pub enum Stage {
    /// Nothing said yet.
    #[default]
    Starting,
    /// In so many words.
    Said(String),
    /// Doing something (`connecting to`) with an address.
    At(&'static str, SocketAddr),
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Starting => Ok(()),
            Self::Said(text) => f.write_str(text),
            Self::At(doing, address) => write!(f, "{doing} {address}"),
        }
    }
}

/// Milliseconds since `start`, rounded to the microsecond, for phase fields.
pub fn millis_since(start: Instant) -> f64 {
    round_micros(start.elapsed().as_secs_f64() * 1000.0)
}

/// Rounds milliseconds to three decimals (whole microseconds): finer digits are clock noise.
pub(crate) fn round_micros(millis: f64) -> f64 {
    (millis * 1000.0).round() / 1000.0
}

/// Adds `start.elapsed()` to a phase (phases add up across redirect hops).
pub fn add_phase(phase: &mut Option<f64>, start: Instant) {
    *phase = Some(round_micros(phase.unwrap_or(0.0) + millis_since(start)));
}

/// Who is probing: stamped on every result.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Agent id.
    pub agent_id: String,
    /// Region label.
    pub region: String,
}

/// When and how long one attempt may run.
#[derive(Debug, Clone, Copy)]
pub struct AttemptWindow {
    /// The slot the scheduler assigned, if any.
    pub scheduled_at: Option<Timestamp>,
    /// Wall-clock time the attempt began.
    pub started_at: Timestamp,
    /// Deadline for the whole attempt.
    pub timeout: Duration,
}

/// Runs one attempt of `check` within `window` and turns the outcome into a result record.
///
/// `cancel` resolving first records the attempt as cancelled.
pub async fn run_check(
    context: &ProbeContext,
    check: &PreparedCheck,
    identity: &Identity,
    window: AttemptWindow,
    cancel: impl Future<Output = ()>,
) -> ResultRecord {
    let start = Instant::now();
    let mut attempt = Attempt { deadline: Some(start + window.timeout), ..Attempt::default() };
    let outcome = {
        let probe = run_spec(context, &check.spec, &mut attempt);
        tokio::select! {
            outcome = tokio::time::timeout(window.timeout, probe) => outcome.unwrap_or_else(|_| Err(timed_out(window.timeout))),
            () = cancel => Err(Failure::new(ErrorKind::Cancelled, "cancelled: the agent shut down during the attempt")),
        }
    };
    let mut outcome = outcome.map_err(|mut failure| {
        if matches!(failure.kind, ErrorKind::Timeout | ErrorKind::Cancelled)
            && !matches!(attempt.stage, Stage::Starting)
        {
            let step = attempt.step.as_ref().map(|step| format!("in {step}, ")).unwrap_or_default();
            failure.message = format!("{} ({step}while {})", failure.message, attempt.stage);
        }
        failure
    });
    let duration = start.elapsed();
    capture::settle(&mut attempt, &check.spec, outcome.as_mut().err());
    let (error_kind, error) = match outcome {
        Ok(()) => (None, None),
        Err(failure) => (Some(failure.kind.as_str().to_owned()), Some(cut(&failure.message, MAX_ERROR))),
    };
    ResultRecord {
        check_id: check.check.id.clone(),
        region: identity.region.clone(),
        agent_id: Some(identity.agent_id.clone()),
        seq: None,
        scheduled_at: window.scheduled_at,
        started_at: window.started_at,
        duration_ms: Some(round_micros(duration.as_secs_f64() * 1000.0)),
        ok: error_kind.is_none(),
        error_kind,
        error,
        phases_ms: attempt.phases,
        http: attempt.http,
        dns: attempt.dns,
        tcp: attempt.tcp,
        tls: attempt.tls,
        grpc: attempt.grpc,
        icmp: attempt.icmp,
        confirmation: false,
        control: check.check.control,
    }
}

/// The probe of `spec`'s kind, boxed: its state lives on the heap for the attempt only and is sized to its own
/// kind. (Unboxed, every attempt's future would be as large as the largest kind's, about 11 KB, and moved
/// several times on its way into its task: two thirds of an HTTP probe's instructions were those copies.)
fn run_spec<'a>(
    context: &'a ProbeContext,
    spec: &'a ProbeSpec,
    attempt: &'a mut Attempt,
) -> BoxFuture<'a, Result<(), Failure>> {
    match spec {
        ProbeSpec::Http(spec) => Box::pin(http::probe(context, spec, attempt)),
        ProbeSpec::Dns(spec) => Box::pin(dns::probe(context, spec, attempt)),
        ProbeSpec::Tcp(spec) => Box::pin(tcp::probe(context, spec, attempt)),
        ProbeSpec::Tls(spec) => Box::pin(handshake::probe(context, spec, attempt)),
        ProbeSpec::Grpc(spec) => Box::pin(grpc::probe(context, spec, attempt)),
        ProbeSpec::Icmp(spec) => Box::pin(icmp::probe(context, spec, attempt)),
    }
}

fn timed_out(timeout: Duration) -> Failure {
    Failure::new(
        ErrorKind::Timeout,
        format!("timeout: no complete answer within {}", humantime::format_duration(timeout)),
    )
}
