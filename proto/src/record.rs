//! The result record: one probe attempt, as `docs/results.md` fixes it.
//!
//! Optional fields are left out of the JSON when absent, so a line carries only what the probe measured. Field
//! names and meanings are a public contract (the offline `report` and users' tooling read them): add fields,
//! never rename them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One probe attempt and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// The check this attempt belongs to.
    pub check_id: String,
    /// Region label of the agent that probed.
    pub region: String,
    /// The agent that probed; defaults to `region` on import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Per-agent sequence number, gap-free; assigned by the agent's spool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The slot the scheduler assigned to this attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<Timestamp>,
    /// When the attempt began (UTC wall clock).
    pub started_at: Timestamp,
    /// Total attempt time in milliseconds, measured with a monotonic clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// Whether the attempt passed every expectation.
    pub ok: bool,
    /// Machine-readable failure class (`timeout`, `dns`, `connect`, `tls`, `http_status`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// Human-readable cause of the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Phase timings in milliseconds; only the phases that ran are present.
    #[serde(default, skip_serializing_if = "Phases::is_empty")]
    pub phases_ms: Phases,
    /// HTTP detail, for `kind: http` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpDetail>,
    /// DNS detail, for `kind: dns` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsDetail>,
    /// TCP detail, for `kind: tcp` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpDetail>,
    /// TLS detail, for `kind: tls` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsDetail>,
    /// gRPC health detail, for `kind: grpc` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcDetail>,
    /// ICMP echo detail, for `kind: icmp` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpDetail>,
    /// A confirmation attempt (the check's `confirm:`), made between slots after a failure or a recovery;
    /// absent for an attempt in its slot.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmation: bool,
    /// A control probe (one of the agent's `control_checks:`): it never counts for a contract, and tells
    /// whether the agent's own network and host were sound; absent for other checks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub control: bool,
}

/// Phase timings in milliseconds, as blackbox_exporter's `probe_http_duration_seconds` phases.
///
/// With redirects followed, each phase is the sum over every hop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phases {
    /// Name resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<f64>,
    /// TCP connect (to the proxy, when one is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<f64>,
    /// TLS handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<f64>,
    /// From the request being sent to the response headers arriving (HTTP), or to the answer (DNS), or to the
    /// first banner bytes (TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb: Option<f64>,
    /// From the response headers to the end of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<f64>,
}

impl Phases {
    /// True when no phase was measured.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What an HTTP(S) attempt saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpDetail {
    /// Status code of the final response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// HTTP version of the final response (`HTTP/1.1`, `HTTP/2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Negotiated TLS version of the final hop (`TLSv1.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// Earliest `notAfter` in the certificate chain the server presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expires_at: Option<Timestamp>,
    /// URL of the final response, after redirects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    /// Redirects followed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redirects: u32,
    /// Address connected to (or tried) on the final hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    /// Bytes of response body received on the final hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
    /// Failed attempts only: the final response's status line as received (`HTTP/1.1 503 Service Unavailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_line: Option<String>,
    /// Failed attempts only: the final response's headers, `name: value`, in the order received; the values of
    /// sensitive headers, and any configured secret, redacted ([`crate::capture`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Failed attempts only: the first 2 KiB of the final response's body (lossy UTF-8), configured secrets
    /// redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_head: Option<String>,
    /// Failed attempts only: the certificates the server presented on the final hop, leaf first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateSummary>,
    /// A multi-step check's steps as far as the attempt got, in order; the other fields describe the last step
    /// run (the failing one, when one failed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<HttpStepDetail>,
}

/// One step of a multi-step HTTP check, as it went. Its request and what it captured are never recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpStepDetail {
    /// Step name.
    pub name: String,
    /// Status of the step's final response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Time the step took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// The step's phase timings.
    #[serde(default, skip_serializing_if = "Phases::is_empty")]
    pub phases_ms: Phases,
    /// Whether the step passed its expectations and captures.
    pub ok: bool,
}

/// A certificate a server presented, as a person reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSummary {
    /// Subject distinguished name (RFC 4514: `CN=api.acme.example, O=Acme`).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
}

/// What a DNS attempt saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DnsDetail {
    /// Response code (`NOERROR`, `NXDOMAIN`, `SERVFAIL`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    /// Answer records in presentation form (`api.acme.example. 300 IN A 192.0.2.1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<String>,
    /// The server queried (`ip:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Transport used (`udp` or `tcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Failed attempts only: authority records in presentation form (the SOA of a negative answer, a
    /// delegation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authority: Vec<String>,
}

/// What a TCP attempt saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TcpDetail {
    /// Address connected to (or tried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    /// The first bytes the server sent (lossy UTF-8, at most 512 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// Negotiated TLS version, when `tls: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// Earliest `notAfter` in the certificate chain, when `tls: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expires_at: Option<Timestamp>,
}

/// What a TLS handshake check saw: the facts of the handshake and the verdicts on the chain, whether or not the
/// check's expectations hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsDetail {
    /// Address connected to (or tried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    /// Server name sent (SNI) and checked against the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Negotiated version (`TLSv1.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Negotiated cipher suite, IANA name (`TLS13_AES_256_GCM_SHA384`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_suite: Option<String>,
    /// The chain the server presented, leaf first, at most 8.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateSummary>,
    /// Earliest `notAfter` in the presented chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expires_at: Option<Timestamp>,
    /// Whether the server stapled an OCSP response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocsp_stapled: Option<bool>,
    /// Whether the chain leads to a trusted root and every certificate in it is valid now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_valid: Option<bool>,
    /// Why the chain is not valid (`certificate expired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_error: Option<String>,
    /// Whether the leaf certificate is valid for `server_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname_match: Option<bool>,
}

/// What a gRPC health check (`grpc.health.v1.Health/Check`) saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GrpcDetail {
    /// Address connected to (or tried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    /// Service name asked about; empty: the whole server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Serving status answered (`SERVING`, `NOT_SERVING`, `SERVICE_UNKNOWN`, `UNKNOWN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_status: Option<String>,
    /// gRPC status code of a call that failed (`UNIMPLEMENTED`, `UNAVAILABLE`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<String>,
    /// Negotiated TLS version, over TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// Earliest `notAfter` in the certificate chain, over TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expires_at: Option<Timestamp>,
}

/// What an ICMP echo check saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IcmpDetail {
    /// Address pinged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    /// Echo requests sent.
    #[serde(default)]
    pub sent: u32,
    /// Echo replies received in time.
    #[serde(default)]
    pub received: u32,
    /// Percentage of requests without a reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_percent: Option<f64>,
    /// Fastest round trip, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_min_ms: Option<f64>,
    /// Mean round trip, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_avg_ms: Option<f64>,
    /// Slowest round trip, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_max_ms: Option<f64>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_import_line_parses_and_round_trips() {
        let line = r#"{"check_id":"acme-api","region":"eu-west","started_at":"2026-02-01T00:00:05Z","ok":false,"error_kind":"connect","error":"connect: connection refused"}"#;
        let record: ResultRecord = serde_json::from_str(line).unwrap();
        assert_eq!(record.check_id, "acme-api");
        assert_eq!(record.error_kind.as_deref(), Some("connect"));
        assert!(record.phases_ms.is_empty());
        assert_eq!(serde_json::to_string(&record).unwrap(), line);
    }

    #[test]
    fn missing_required_field_is_named() {
        let error =
            serde_json::from_str::<ResultRecord>(r#"{"check_id":"a","region":"r","ok":true}"#).unwrap_err().to_string();
        assert!(error.contains("started_at"), "{error}");
    }
}
