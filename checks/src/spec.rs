//! Prepared checks: what validation produces and probes consume. Everything here is parsed and compiled
//! already (URLs, methods, headers, regexes, TLS configurations, the DNS server), so a probe does no parsing.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use http::{HeaderMap, HeaderName, Method};
use regex::Regex;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ProtocolVersion, RootCertStore};
use url::Url;

use crate::check::{Check, DnsProtocol, IpVersion};
use crate::template::Template;

/// A validated check with everything its probe needs.
#[derive(Debug, Clone)]
pub struct PreparedCheck {
    /// The check as written (compared on reload); shared, so that a prepared check is cheap to clone.
    pub check: Arc<Check>,
    /// Attempt deadline, below the interval.
    pub timeout: Duration,
    /// Kind-specific, ready-to-use settings.
    pub spec: ProbeSpec,
}

/// Kind-specific probe settings.
#[derive(Debug, Clone)]
pub enum ProbeSpec {
    /// HTTP(S).
    Http(Arc<HttpSpec>),
    /// DNS.
    Dns(Arc<DnsSpec>),
    /// TCP.
    Tcp(Arc<TcpSpec>),
    /// TLS handshake.
    Tls(Arc<TlsCheckSpec>),
    /// gRPC health.
    Grpc(Arc<GrpcSpec>),
    /// ICMP echo.
    Icmp(Arc<IcmpSpec>),
}

/// A ready HTTP probe: its URL, and its prepared `http:` section.
#[derive(Debug)]
pub struct HttpSpec {
    /// Request URL.
    pub url: Url,
    /// Everything but the URL; one copy is shared by the checks written with equal `http:` sections, so that a
    /// fleet of checks that differ only in their targets costs a URL each.
    pub settings: Arc<HttpProbeSettings>,
}

/// A check's `http:` section, ready to use.
#[derive(Debug)]
pub struct HttpProbeSettings {
    /// Request method.
    pub method: Method,
    /// Request headers; `None` when there are none (most checks: an empty map costs 96 bytes).
    pub headers: Option<Box<HeaderMap>>,
    /// Headers besides the standard credential headers that are not sent past the target's origin.
    pub sensitive_headers: Vec<HeaderName>,
    /// Request body.
    pub body: Option<String>,
    /// Redirects followed at most; 0 when `follow_redirects` is off.
    pub max_redirects: u32,
    /// Whether redirects are followed at all.
    pub follow_redirects: bool,
    /// TLS client configuration for `https` URLs.
    pub tls: Arc<ClientConfig>,
    /// Proxy to send through (boxed: most checks have none).
    pub proxy: Option<Box<Url>>,
    /// Address family.
    pub ip_version: IpVersion,
    /// What the response must satisfy (of the one request; each step has its own).
    pub expect: HttpExpectations,
    /// A multi-step check's steps, in order; empty for a single request to `url`.
    pub steps: Vec<HttpStep>,
}

/// What an HTTP response must satisfy.
#[derive(Debug)]
pub struct HttpExpectations {
    /// Accepted status ranges.
    pub status: Vec<RangeInclusive<u16>>,
    /// Body expectation.
    pub body_regex: Option<Regex>,
    /// Header expectations.
    pub header_regex: Vec<(HeaderName, Regex)>,
    /// Latency expectation.
    pub max_latency: Option<Duration>,
    /// Certificate expiry expectation, in days.
    pub cert_min_days: Option<u32>,
}

/// One step of a multi-step HTTP check: a request made from templates, its expectations and its captures.
#[derive(Debug)]
pub struct HttpStep {
    /// Name, unique in the check.
    pub name: String,
    /// Request URL; `None`: the check's target.
    pub url: Option<Template>,
    /// Request method.
    pub method: Method,
    /// Request headers besides the check's.
    pub headers: Vec<(HeaderName, Template)>,
    /// Request body.
    pub body: Option<Template>,
    /// What the response must satisfy.
    pub expect: HttpExpectations,
    /// Values taken from the response, in the order later steps refer to them.
    pub captures: Vec<Capture>,
}

/// A value a step takes from its response.
#[derive(Debug)]
pub struct Capture {
    /// Name.
    pub name: String,
    /// Where it comes from.
    pub source: CaptureSource,
}

/// Where a captured value comes from.
#[derive(Debug)]
pub enum CaptureSource {
    /// A JSON pointer into the body.
    Json(String),
    /// A response header.
    Header(HeaderName),
    /// The first group of a regex over the body.
    Regex(Regex),
}

/// The header map of a check without headers.
static NO_HEADERS: LazyLock<HeaderMap> = LazyLock::new(HeaderMap::new);

impl HttpProbeSettings {
    /// The request headers every request of the check carries.
    pub fn headers(&self) -> &HeaderMap {
        self.headers.as_deref().unwrap_or(&NO_HEADERS)
    }

    /// Whether `name` carries credentials: `Authorization`, `Cookie`, `Proxy-Authorization`, or one of the
    /// check's `sensitive_headers`.
    pub fn is_sensitive(&self, name: &HeaderName) -> bool {
        [http::header::AUTHORIZATION, http::header::COOKIE, http::header::PROXY_AUTHORIZATION].contains(name)
            || self.sensitive_headers.contains(name)
    }
}

/// A ready DNS probe.
#[derive(Debug)]
pub struct DnsSpec {
    /// Name queried (fully qualified).
    pub name: Name,
    /// Record type queried.
    pub record_type: RecordType,
    /// Server queried; `None`: the first nameserver of the agent's resolver configuration (`resolv_conf`).
    pub server: Option<SocketAddr>,
    /// Transport.
    pub protocol: DnsProtocol,
    /// Expected response code.
    pub rcode: ResponseCode,
    /// Minimum answers.
    pub min_answers: u32,
    /// At least one answer must match.
    pub answer_regex: Option<Regex>,
}

/// A ready TCP probe.
#[derive(Debug)]
pub struct TcpSpec {
    /// Host name or IP literal.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Address family.
    pub ip_version: IpVersion,
    /// TLS configuration when `tls: true`.
    pub tls: Option<Arc<ClientConfig>>,
    /// Bytes sent after connecting.
    pub send: Option<Vec<u8>>,
    /// Banner expectation.
    pub expect_regex: Option<Regex>,
}

/// A ready TLS handshake probe.
#[derive(Debug)]
pub struct TlsCheckSpec {
    /// Host name or IP literal to connect to.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Address family.
    pub ip_version: IpVersion,
    /// Name sent as SNI and checked against the leaf certificate.
    pub server_name: ServerName<'static>,
    /// Client configuration that completes the handshake whatever the chain, so that it can be reported in full.
    pub tls: Arc<ClientConfig>,
    /// Roots the chain is judged against (`ca_file` or the system store).
    pub roots: Arc<RootCertStore>,
    /// Certificate expiry expectation, in days.
    pub cert_min_days: Option<u32>,
    /// Lowest acceptable negotiated version.
    pub min_version: Option<ProtocolVersion>,
    /// The chain must be valid.
    pub chain_valid: bool,
    /// The leaf must be valid for `server_name`.
    pub hostname_match: bool,
    /// An OCSP response must be stapled.
    pub ocsp_stapled: bool,
}

/// A ready gRPC health probe.
#[derive(Debug)]
pub struct GrpcSpec {
    /// Host name or IP literal.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Address family.
    pub ip_version: IpVersion,
    /// TLS configuration (ALPN `h2`) when `tls: true`.
    pub tls: Option<Arc<ClientConfig>>,
    /// Service asked about; empty: the server.
    pub service: String,
    /// Request metadata.
    pub metadata: HeaderMap,
}

/// A ready ICMP echo probe.
#[derive(Debug)]
pub struct IcmpSpec {
    /// Host name or IP literal.
    pub host: String,
    /// Address family.
    pub ip_version: IpVersion,
    /// Echo requests per attempt.
    pub count: u16,
    /// Time between echo requests.
    pub interval: Duration,
    /// Payload bytes per request.
    pub payload_size: u16,
    /// Most loss accepted, in percent; `None`: fail only when no reply came.
    pub max_loss_percent: Option<f64>,
    /// Every reply must come back within this.
    pub max_rtt: Option<Duration>,
}

/// Record types a DNS check may query.
pub const DNS_RECORD_TYPES: [&str; 9] = ["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "SRV", "CAA"];

/// Response codes by their conventional names.
pub const RCODES: [(&str, u16); 11] = [
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
];

/// The conventional name of a response code (`NXDOMAIN`), or its number.
pub fn rcode_name(code: ResponseCode) -> String {
    let value = u16::from(code);
    RCODES
        .iter()
        .find(|(_, number)| *number == value)
        .map_or_else(|| format!("RCODE{value}"), |(name, _)| (*name).to_owned())
}
