//! The YAML sections of the handshake, health and reachability kinds (`tls:`, `grpc:`, `icmp:`), exactly as
//! written; [`crate::validate`] turns them into ready-to-run specs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check::IpVersion;

/// `tls:` section of a `kind: tls` check: a handshake only, reported in full and judged afterwards.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsCheckSettings {
    /// Name sent as SNI and checked against the certificate; default: the target's host.
    #[serde(default)]
    pub server_name: Option<String>,
    /// PEM file of CA certificates to trust instead of the system store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain for servers that ask for one.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Address family to connect with.
    #[serde(default)]
    pub ip_version: IpVersion,
    /// What the handshake must show.
    #[serde(default)]
    pub expect: TlsExpect,
}

/// `tls.expect:` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsExpect {
    /// A chain with a certificate expiring in fewer days fails.
    #[serde(default)]
    pub cert_min_days: Option<u32>,
    /// Lowest acceptable negotiated version: `"1.2"` or `"1.3"`.
    #[serde(default)]
    pub min_version: Option<String>,
    /// The chain must lead to a trusted root with every certificate valid now.
    #[serde(default = "default_true")]
    pub chain_valid: bool,
    /// The leaf certificate must be valid for the server name.
    #[serde(default = "default_true")]
    pub hostname_match: bool,
    /// The server must staple an OCSP response.
    #[serde(default)]
    pub ocsp_stapled: bool,
}

impl Default for TlsExpect {
    fn default() -> Self {
        Self { cert_min_days: None, min_version: None, chain_valid: true, hostname_match: true, ocsp_stapled: false }
    }
}

/// `grpc:` section of a `kind: grpc` check: one `grpc.health.v1.Health/Check` call.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSettings {
    /// Service asked about; empty: the server as a whole.
    #[serde(default)]
    pub service: String,
    /// Connect with TLS (HTTP/2 negotiated through ALPN) instead of plaintext HTTP/2.
    #[serde(default)]
    pub tls: bool,
    /// Verify the server certificate and name (with `tls: true`).
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
    /// Request metadata (headers); values may use `${VAR}` and are never recorded.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Address family to connect with.
    #[serde(default)]
    pub ip_version: IpVersion,
}

impl Default for GrpcSettings {
    fn default() -> Self {
        Self {
            service: String::new(),
            tls: false,
            tls_verify: true,
            ca_file: None,
            client_cert: None,
            client_key: None,
            metadata: BTreeMap::new(),
            ip_version: IpVersion::Any,
        }
    }
}

/// `icmp:` section of a `kind: icmp` check: a few echo requests, judged on loss and round trips.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpSettings {
    /// Echo requests per attempt, 1 to 100.
    #[serde(default = "default_count")]
    pub count: u16,
    /// Time between echo requests; at least 10 ms.
    #[serde(default = "default_echo_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Payload bytes per request, 0 to 1452 (no fragmentation on a 1500-byte path).
    #[serde(default = "default_payload_size")]
    pub payload_size: u16,
    /// Address family to ping.
    #[serde(default)]
    pub ip_version: IpVersion,
    /// What the replies must show.
    #[serde(default)]
    pub expect: IcmpExpect,
}

impl Default for IcmpSettings {
    fn default() -> Self {
        Self {
            count: default_count(),
            interval: default_echo_interval(),
            payload_size: default_payload_size(),
            ip_version: IpVersion::Any,
            expect: IcmpExpect::default(),
        }
    }
}

/// `icmp.expect:` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpExpect {
    /// Most loss accepted, as a percentage (`"20%"`); absent: the attempt fails only when no reply came.
    #[serde(default)]
    pub max_loss: Option<String>,
    /// Every reply must come back within this.
    #[serde(default, with = "humantime_serde")]
    pub max_rtt: Option<Duration>,
}

fn default_true() -> bool {
    true
}

fn default_count() -> u16 {
    3
}

fn default_echo_interval() -> Duration {
    Duration::from_millis(200)
}

fn default_payload_size() -> u16 {
    56
}
