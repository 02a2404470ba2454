//! The check definitions of `docs/checks.md`, exactly as written in YAML.
//!
//! These types only describe the file; [`crate::validate`] turns them into ready-to-run
//! [`crate::PreparedCheck`]s. They compare with `==` so a reload can tell an unchanged check from a
//! changed one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kinds::{GrpcSettings, IcmpSettings, TlsCheckSettings};
use crate::steps::HttpStepSettings;

/// One check: what to probe, how often, and what counts as success.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Unique id, `[a-z0-9._-]{1,64}`.
    pub id: String,
    /// Probe kind.
    pub kind: CheckKind,
    /// URL (http), domain name (dns), `host:port` (tcp, tls, grpc) or host (icmp).
    pub target: String,
    /// Time between attempts; at least 1 s.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Attempt deadline; below `interval`. Default: the smaller of 10 s and half the interval.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Regions that run this check; absent means every region.
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    /// Where in the interval the check's slots fall (`k × interval + phase` since the Unix epoch); absent: from a
    /// hash of the id ([`crate::slot_offset`]). The collector sets it in what it pushes to each agent, so that the
    /// agents probing a check take turns across its interval.
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub phase: Option<Duration>,
    /// HTTP settings (`kind: http` only).
    #[serde(default)]
    pub http: Option<Box<HttpSettings>>,
    /// DNS settings (`kind: dns` only).
    #[serde(default)]
    pub dns: Option<Box<DnsSettings>>,
    /// TCP settings (`kind: tcp` only).
    #[serde(default)]
    pub tcp: Option<Box<TcpSettings>>,
    /// TLS handshake settings (`kind: tls` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<TlsCheckSettings>>,
    /// gRPC health settings (`kind: grpc` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<Box<GrpcSettings>>,
    /// ICMP echo settings (`kind: icmp` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<Box<IcmpSettings>>,
    /// Confirmation attempts after a failure, and once after the recovery that follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<ConfirmSettings>,
    /// A control check (listed under `control_checks:`): a known-good target that does not share the vendors'
    /// fate, probed to tell the agent's own faults from theirs. Its results are marked `control` and never count
    /// for a contract; when most of an agent's controls fail in a slice, its results there are inconclusive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub control: bool,
}

/// `confirm:`: after a failed attempt the check is probed again `after` later, and again while it keeps
/// failing, up to `attempts` times per interval (by default as many as fit before the next slot); after the first
/// success that follows failures, once more. Each is an ordinary attempt on a fresh connection, recorded with
/// `confirmation: true`, and ends before the check's next slot begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmSettings {
    /// Time from one attempt's start to the confirmation's; at least 1 s, below the interval.
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    /// Confirmations after failures per interval at most; absent: as many as fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
}

/// The probe kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// HTTP or HTTPS request.
    Http,
    /// DNS query.
    Dns,
    /// TCP connect, optionally with TLS, a payload and a banner expectation.
    Tcp,
    /// TLS handshake only: version, cipher suite, chain, stapling, name.
    Tls,
    /// `grpc.health.v1.Health/Check`.
    Grpc,
    /// ICMP echo requests.
    Icmp,
}

impl CheckKind {
    /// The name used in YAML and in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Dns => "dns",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Grpc => "grpc",
            Self::Icmp => "icmp",
        }
    }
}

/// Address family preference for HTTP and TCP targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum IpVersion {
    /// Whatever the resolver returns first (IPv4 first).
    #[default]
    #[serde(rename = "any")]
    Any,
    /// IPv4 only.
    #[serde(rename = "4")]
    V4,
    /// IPv6 only.
    #[serde(rename = "6")]
    V6,
}

/// `http:` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Request method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers; values may use `${VAR}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers, besides `Authorization`, `Cookie` and `Proxy-Authorization`, that hold credentials: none of
    /// them is sent again once a redirect leaves the target's origin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive_headers: Vec<String>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Follow 3xx redirects.
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// Redirects followed at most before the attempt fails.
    #[serde(default = "default_max_redirects")]
    pub max_redirects: u32,
    /// Verify the server certificate and name.
    #[serde(default = "default_true")]
    pub tls_verify: bool,
    /// PEM file of CA certificates to trust instead of the system store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain for mutual TLS.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// HTTP proxy URL (`http://host:port`); HTTPS targets are tunnelled with CONNECT.
    #[serde(default)]
    pub proxy: Option<String>,
    /// Address family to connect with.
    #[serde(default)]
    pub ip_version: IpVersion,
    /// What the response must satisfy.
    #[serde(default)]
    pub expect: HttpExpect,
    /// A multi-step check: these requests in order, each on a fresh connection, instead of one request to the
    /// target; `method`, `body` and `expect` then belong to each step, `headers` go with every step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<HttpStepSettings>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            method: default_method(),
            headers: BTreeMap::new(),
            sensitive_headers: Vec::new(),
            body: None,
            follow_redirects: true,
            max_redirects: default_max_redirects(),
            tls_verify: true,
            ca_file: None,
            client_cert: None,
            client_key: None,
            proxy: None,
            ip_version: IpVersion::Any,
            expect: HttpExpect::default(),
            steps: Vec::new(),
        }
    }
}

/// `http.expect:` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    /// Accepted status codes: `"200"` or ranges `"200-299"`.
    #[serde(default = "default_status")]
    pub status: Vec<StatusSpec>,
    /// The body must match this regex.
    #[serde(default)]
    pub body_regex: Option<String>,
    /// Response headers (by name) whose value must match a regex.
    #[serde(default)]
    pub header_regex: BTreeMap<String, String>,
    /// An attempt slower than this fails.
    #[serde(default, with = "humantime_serde")]
    pub max_latency: Option<Duration>,
    /// A certificate chain expiring in fewer days fails.
    #[serde(default)]
    pub cert_min_days: Option<u32>,
}

impl Default for HttpExpect {
    fn default() -> Self {
        Self {
            status: default_status(),
            body_regex: None,
            header_regex: BTreeMap::new(),
            max_latency: None,
            cert_min_days: None,
        }
    }
}

/// A status entry as written: a number or a string (`"200"`, `"200-299"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StatusSpec {
    /// `200`
    Code(u16),
    /// `"200-299"`
    Text(String),
}

/// `dns:` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSettings {
    /// Server to query (`ip` or `ip:port`); absent means the first nameserver of the system configuration.
    #[serde(default)]
    pub server: Option<String>,
    /// Record type: A, AAAA, CNAME, MX, NS, TXT, SOA, SRV or CAA.
    #[serde(default = "default_record")]
    pub record: String,
    /// Transport.
    #[serde(default)]
    pub protocol: DnsProtocol,
    /// What the answer must satisfy.
    #[serde(default)]
    pub expect: DnsExpect,
}

impl Default for DnsSettings {
    fn default() -> Self {
        Self { server: None, record: default_record(), protocol: DnsProtocol::Udp, expect: DnsExpect::default() }
    }
}

/// DNS transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsProtocol {
    /// One UDP datagram each way.
    #[default]
    Udp,
    /// A fresh TCP connection.
    Tcp,
}

/// `dns.expect:` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsExpect {
    /// Expected response code; default `NOERROR`.
    #[serde(default)]
    pub rcode: Option<String>,
    /// Minimum number of answer records; default 1 when expecting `NOERROR`, else 0.
    #[serde(default)]
    pub min_answers: Option<u32>,
    /// At least one answer (presentation form) must match this regex.
    #[serde(default)]
    pub answer_regex: Option<String>,
}

/// `tcp:` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSettings {
    /// Start TLS right after connecting.
    #[serde(default)]
    pub tls: bool,
    /// Verify the server certificate and name (with `tls: true`).
    #[serde(default = "default_true")]
    pub tls_verify: bool,
    /// PEM file of CA certificates to trust instead of the system store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Bytes to send after connecting (`\n` and friends are taken literally from YAML).
    #[serde(default)]
    pub send: Option<String>,
    /// The first bytes received must match this regex.
    #[serde(default)]
    pub expect_regex: Option<String>,
    /// Address family to connect with.
    #[serde(default)]
    pub ip_version: IpVersion,
}

impl Default for TcpSettings {
    fn default() -> Self {
        Self { tls: false, tls_verify: true, ca_file: None, send: None, expect_regex: None, ip_version: IpVersion::Any }
    }
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_true() -> bool {
    true
}

fn default_max_redirects() -> u32 {
    10
}

fn default_status() -> Vec<StatusSpec> {
    vec![StatusSpec::Text("200-299".to_owned())]
}

fn default_record() -> String {
    "A".to_owned()
}
