//! Conversions between the JSON-lines [`ResultRecord`] and the protobuf [`v1::Result`]. Timestamps travel as
//! nanoseconds since the Unix epoch (every `int64` is a valid time, 1677–2262; whether it is plausible is the
//! collector's judgement). A field that cannot convert is an error naming it, never a panic.

use jiff::Timestamp;

use crate::record::{
    CertificateSummary, DnsDetail, GrpcDetail, HttpDetail, HttpStepDetail, IcmpDetail, Phases, ResultRecord, TcpDetail,
    TlsDetail,
};
use crate::v1;

/// A protobuf result that cannot be a [`ResultRecord`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("result field {field}: {problem}")]
pub struct ConversionError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn nanos(at: Timestamp) -> i64 {
    i64::try_from(at.as_nanosecond()).unwrap_or(if at.as_nanosecond() < 0 { i64::MIN } else { i64::MAX })
}

fn timestamp(field: &'static str, nanos: i64) -> Result<Timestamp, ConversionError> {
    Timestamp::from_nanosecond(i128::from(nanos))
        .map_err(|error| ConversionError { field, problem: format!("{nanos} is not a valid time: {error}") })
}

fn optional_timestamp(field: &'static str, nanos: Option<i64>) -> Result<Option<Timestamp>, ConversionError> {
    nanos.map(|at| timestamp(field, at)).transpose()
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

impl From<&ResultRecord> for v1::Result {
    fn from(record: &ResultRecord) -> Self {
        let phases = &record.phases_ms;
        Self {
            check_id: record.check_id.clone(),
            region: record.region.clone(),
            agent_id: record.agent_id.clone().unwrap_or_default(),
            seq: record.seq.unwrap_or_default(),
            scheduled_unix_nanos: record.scheduled_at.map(nanos),
            started_unix_nanos: nanos(record.started_at),
            duration_ms: record.duration_ms,
            ok: record.ok,
            error_kind: record.error_kind.clone().unwrap_or_default(),
            error: record.error.clone().unwrap_or_default(),
            phases_ms: (!phases.is_empty()).then(|| phases_out(phases)),
            http: record.http.as_ref().map(|http| v1::HttpDetail {
                status: http.status.map(u32::from),
                version: http.version.clone(),
                tls_version: http.tls_version.clone(),
                cert_expires_unix_nanos: http.cert_expires_at.map(nanos),
                final_url: http.final_url.clone(),
                redirects: http.redirects,
                remote_addr: http.remote_addr.clone(),
                body_bytes: http.body_bytes,
                status_line: http.status_line.clone(),
                headers: http.headers.clone(),
                body_head: http.body_head.clone(),
                certificates: certificates_out(&http.certificates),
                steps: http
                    .steps
                    .iter()
                    .map(|step| v1::HttpStep {
                        name: step.name.clone(),
                        status: step.status.map(u32::from),
                        duration_ms: step.duration_ms,
                        phases_ms: (!step.phases_ms.is_empty()).then(|| phases_out(&step.phases_ms)),
                        ok: step.ok,
                    })
                    .collect(),
            }),
            dns: record.dns.as_ref().map(|dns| v1::DnsDetail {
                rcode: dns.rcode.clone(),
                answers: dns.answers.clone(),
                server: dns.server.clone(),
                protocol: dns.protocol.clone(),
                authority: dns.authority.clone(),
            }),
            tcp: record.tcp.as_ref().map(|tcp| v1::TcpDetail {
                remote_addr: tcp.remote_addr.clone(),
                banner: tcp.banner.clone(),
                tls_version: tcp.tls_version.clone(),
                cert_expires_unix_nanos: tcp.cert_expires_at.map(nanos),
            }),
            tls: record.tls.as_ref().map(|tls| v1::TlsDetail {
                remote_addr: tls.remote_addr.clone(),
                server_name: tls.server_name.clone(),
                version: tls.version.clone(),
                cipher_suite: tls.cipher_suite.clone(),
                certificates: certificates_out(&tls.certificates),
                cert_expires_unix_nanos: tls.cert_expires_at.map(nanos),
                ocsp_stapled: tls.ocsp_stapled,
                chain_valid: tls.chain_valid,
                chain_error: tls.chain_error.clone(),
                hostname_match: tls.hostname_match,
            }),
            grpc: record.grpc.as_ref().map(|grpc| v1::GrpcDetail {
                remote_addr: grpc.remote_addr.clone(),
                service: grpc.service.clone(),
                serving_status: grpc.serving_status.clone(),
                grpc_status: grpc.grpc_status.clone(),
                tls_version: grpc.tls_version.clone(),
                cert_expires_unix_nanos: grpc.cert_expires_at.map(nanos),
            }),
            icmp: record.icmp.as_ref().map(|icmp| v1::IcmpDetail {
                remote_addr: icmp.remote_addr.clone(),
                sent: icmp.sent,
                received: icmp.received,
                loss_percent: icmp.loss_percent,
                rtt_min_ms: icmp.rtt_min_ms,
                rtt_avg_ms: icmp.rtt_avg_ms,
                rtt_max_ms: icmp.rtt_max_ms,
            }),
            chain: Vec::new(),
            confirmation: record.confirmation,
            control: record.control,
        }
    }
}

impl TryFrom<v1::Result> for ResultRecord {
    type Error = ConversionError;

    fn try_from(result: v1::Result) -> Result<Self, Self::Error> {
        if result.check_id.is_empty() {
            return Err(ConversionError { field: "check_id", problem: "is empty".to_owned() });
        }
        let http = match result.http {
            Some(http) => Some(HttpDetail {
                status: http_status(http.status, "http.status")?,
                version: http.version,
                tls_version: http.tls_version,
                cert_expires_at: optional_timestamp("http.cert_expires_unix_nanos", http.cert_expires_unix_nanos)?,
                final_url: http.final_url,
                redirects: http.redirects,
                remote_addr: http.remote_addr,
                body_bytes: http.body_bytes,
                status_line: http.status_line,
                headers: http.headers,
                body_head: http.body_head,
                certificates: certificates_in(
                    http.certificates,
                    ["http.certificates.not_before", "http.certificates.not_after"],
                )?,
                steps: http
                    .steps
                    .into_iter()
                    .map(|step| {
                        Ok(HttpStepDetail {
                            name: step.name,
                            status: http_status(step.status, "http.steps.status")?,
                            duration_ms: step.duration_ms,
                            phases_ms: phases_in(step.phases_ms.unwrap_or_default()),
                            ok: step.ok,
                        })
                    })
                    .collect::<Result<_, ConversionError>>()?,
            }),
            None => None,
        };
        let tcp = match result.tcp {
            Some(tcp) => Some(TcpDetail {
                remote_addr: tcp.remote_addr,
                banner: tcp.banner,
                tls_version: tcp.tls_version,
                cert_expires_at: optional_timestamp("tcp.cert_expires_unix_nanos", tcp.cert_expires_unix_nanos)?,
            }),
            None => None,
        };
        let tls = match result.tls {
            Some(tls) => Some(TlsDetail {
                remote_addr: tls.remote_addr,
                server_name: tls.server_name,
                version: tls.version,
                cipher_suite: tls.cipher_suite,
                certificates: certificates_in(
                    tls.certificates,
                    ["tls.certificates.not_before", "tls.certificates.not_after"],
                )?,
                cert_expires_at: optional_timestamp("tls.cert_expires_unix_nanos", tls.cert_expires_unix_nanos)?,
                ocsp_stapled: tls.ocsp_stapled,
                chain_valid: tls.chain_valid,
                chain_error: tls.chain_error,
                hostname_match: tls.hostname_match,
            }),
            None => None,
        };
        let grpc = match result.grpc {
            Some(grpc) => Some(GrpcDetail {
                remote_addr: grpc.remote_addr,
                service: grpc.service,
                serving_status: grpc.serving_status,
                grpc_status: grpc.grpc_status,
                tls_version: grpc.tls_version,
                cert_expires_at: optional_timestamp("grpc.cert_expires_unix_nanos", grpc.cert_expires_unix_nanos)?,
            }),
            None => None,
        };
        let phases = result.phases_ms.unwrap_or_default();
        Ok(Self {
            check_id: result.check_id,
            region: result.region,
            agent_id: non_empty(result.agent_id),
            seq: Some(result.seq),
            scheduled_at: optional_timestamp("scheduled_unix_nanos", result.scheduled_unix_nanos)?,
            started_at: timestamp("started_unix_nanos", result.started_unix_nanos)?,
            duration_ms: result.duration_ms,
            ok: result.ok,
            error_kind: non_empty(result.error_kind),
            error: non_empty(result.error),
            phases_ms: phases_in(phases),
            http,
            dns: result.dns.map(|dns| DnsDetail {
                rcode: dns.rcode,
                answers: dns.answers,
                server: dns.server,
                protocol: dns.protocol,
                authority: dns.authority,
            }),
            tcp,
            tls,
            grpc,
            icmp: result.icmp.map(|icmp| IcmpDetail {
                remote_addr: icmp.remote_addr,
                sent: icmp.sent,
                received: icmp.received,
                loss_percent: icmp.loss_percent,
                rtt_min_ms: icmp.rtt_min_ms,
                rtt_avg_ms: icmp.rtt_avg_ms,
                rtt_max_ms: icmp.rtt_max_ms,
            }),
            confirmation: result.confirmation,
            control: result.control,
        })
    }
}

/// An HTTP status from its wire form; `field` names it when it is out of range.
fn http_status(status: Option<u32>, field: &'static str) -> Result<Option<u16>, ConversionError> {
    status
        .map(|status| {
            u16::try_from(status)
                .map_err(|_| ConversionError { field, problem: format!("{status} is not an HTTP status") })
        })
        .transpose()
}

fn phases_out(phases: &Phases) -> v1::Phases {
    v1::Phases {
        dns: phases.dns,
        connect: phases.connect,
        tls: phases.tls,
        ttfb: phases.ttfb,
        transfer: phases.transfer,
    }
}

fn phases_in(phases: v1::Phases) -> Phases {
    Phases { dns: phases.dns, connect: phases.connect, tls: phases.tls, ttfb: phases.ttfb, transfer: phases.transfer }
}

fn certificates_out(certificates: &[CertificateSummary]) -> Vec<v1::Certificate> {
    certificates
        .iter()
        .map(|certificate| v1::Certificate {
            subject: certificate.subject.clone(),
            issuer: certificate.issuer.clone(),
            not_before_unix_nanos: nanos(certificate.not_before),
            not_after_unix_nanos: nanos(certificate.not_after),
        })
        .collect()
}

/// `[not_before, not_after]` name the fields a bad time is reported in.
fn certificates_in(
    certificates: Vec<v1::Certificate>,
    [not_before, not_after]: [&'static str; 2],
) -> Result<Vec<CertificateSummary>, ConversionError> {
    certificates
        .into_iter()
        .map(|certificate| {
            Ok(CertificateSummary {
                subject: certificate.subject,
                issuer: certificate.issuer,
                not_before: timestamp(not_before, certificate.not_before_unix_nanos)?,
                not_after: timestamp(not_after, certificate.not_after_unix_nanos)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn full_record() -> ResultRecord {
        serde_json::from_str(
            r#"{"check_id":"acme-api","region":"eu-west","agent_id":"agent-eu-1","seq":42,
            "scheduled_at":"2026-02-01T00:00:05Z","started_at":"2026-02-01T00:00:05.001234567Z","duration_ms":12.5,
            "ok":false,"error_kind":"http_status","error":"http_status: got 503 Service Unavailable, expected 200-299",
            "phases_ms":{"connect":0.3,"tls":4.1,"ttfb":7.9,"transfer":0.2},
            "http":{"status":503,"version":"HTTP/2","tls_version":"TLSv1.3","cert_expires_at":"2026-05-01T00:00:00Z",
            "final_url":"https://api.acme.example/health","redirects":1,"remote_addr":"192.0.2.1:443","body_bytes":19,
            "status_line":"HTTP/2 503 Service Unavailable","headers":["retry-after: 30","set-cookie: [redacted]"],
            "body_head":"upstream unavailable","certificates":[{"subject":"CN=api.acme.example",
            "issuer":"CN=Acme CA","not_before":"2026-01-01T00:00:00Z","not_after":"2026-05-01T00:00:00Z"}],
            "steps":[{"name":"login","status":200,"duration_ms":3.5,"phases_ms":{"connect":0.2,"ttfb":3.1},"ok":true},
            {"name":"balance","status":503,"ok":false}]},
            "dns":{"rcode":"NXDOMAIN","authority":["acme.example. 300 IN SOA ns.acme.example. host.acme.example. 1 2 3 4 5"]},
            "tls":{"remote_addr":"192.0.2.1:443","server_name":"api.acme.example","version":"TLSv1.2",
            "cipher_suite":"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256","certificates":[{"subject":"CN=api.acme.example",
            "issuer":"CN=Acme CA","not_before":"2026-01-01T00:00:00Z","not_after":"2026-05-01T00:00:00Z"}],
            "cert_expires_at":"2026-05-01T00:00:00Z","ocsp_stapled":false,"chain_valid":false,
            "chain_error":"certificate expired","hostname_match":true},
            "grpc":{"remote_addr":"192.0.2.1:443","service":"acme.Payments","serving_status":"NOT_SERVING",
            "tls_version":"TLSv1.3","cert_expires_at":"2026-05-01T00:00:00Z"},
            "icmp":{"remote_addr":"192.0.2.1","sent":5,"received":4,"loss_percent":20.0,"rtt_min_ms":0.031,
            "rtt_avg_ms":0.04,"rtt_max_ms":0.052}}"#,
        )
        .unwrap()
    }

    #[test]
    fn a_record_survives_the_wire() {
        let record = full_record();
        let bytes = v1::Result::from(&record).encode_to_vec();
        let decoded = v1::Result::decode(bytes.as_slice()).unwrap();
        assert_eq!(ResultRecord::try_from(decoded).unwrap(), record);
    }

    #[test]
    fn bad_fields_are_named() {
        let mut result = v1::Result::from(&full_record());
        if let Some(http) = result.http.as_mut() {
            http.status = Some(70_000);
        }
        assert_eq!(ResultRecord::try_from(result.clone()).unwrap_err().field, "http.status");
        result.check_id.clear();
        assert_eq!(ResultRecord::try_from(result).unwrap_err().to_string(), "result field check_id: is empty");
    }
}
