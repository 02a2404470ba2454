//! "What we observed": the failed results sampled in each incident ([`crate::observed`]) as facts a person reads
//! (who saw it and when, the error, the status line, headers, body, certificates, the steps; the DNS answer and
//! authority; the TCP banner; the TLS handshake; the gRPC health answer; the echo counts), for the claim
//! report's appendix and the dashboard's incident detail.

use std::fmt::Write as _;

use slaprobe_proto::{CertificateSummary, ResultRecord};

use super::html::escape;
use crate::Report;

/// One fact of a sample; `block` when it is several lines (headers, body) to be shown as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// What it is.
    pub label: &'static str,
    /// The fact.
    pub text: String,
    /// Whether it is text to be shown preformatted.
    pub block: bool,
}

/// What `record` shows, in reading order.
pub fn facts(record: &ResultRecord) -> Vec<Fact> {
    let mut facts = Vec::new();
    let mut line = |label, text: String| facts.push(Fact { label, text, block: false });
    let agent = record.agent_id.as_deref().unwrap_or(&record.region);
    let seq = record.seq.map_or_else(String::new, |seq| format!(", result {seq}"));
    line(
        "Seen",
        format!(
            "{} UTC by agent {agent}{seq} in {}, check {}",
            record.started_at.strftime("%Y-%m-%d %H:%M:%S%.3f"),
            record.region,
            record.check_id
        ),
    );
    if let Some(error) = &record.error {
        line("Error", error.clone());
    }
    let mut block = |label, lines: Vec<String>| {
        if !lines.is_empty() {
            facts.push(Fact { label, text: lines.join("\n"), block: true });
        }
    };
    if let Some(http) = &record.http {
        let mut lines = Vec::new();
        lines.extend(http.remote_addr.as_ref().map(|address| format!("connected to {address}")));
        lines.extend(http.tls_version.as_ref().map(|version| format!("TLS {version}")));
        lines.extend(http.status_line.clone());
        lines.extend(http.headers.iter().cloned());
        block("Response", lines);
        let steps = http.steps.iter().map(|step| {
            let status = step.status.map_or_else(|| "no response".to_owned(), |status| status.to_string());
            let took = step.duration_ms.map_or_else(String::new, |ms| format!(" in {ms} ms"));
            format!("{} {}: {status}{took}", if step.ok { "passed" } else { "FAILED" }, step.name)
        });
        block("Steps", steps.collect());
        block("Body (first 2 KiB)", http.body_head.iter().cloned().collect());
        block("Certificates presented", certificate_lines(&http.certificates));
    }
    if let Some(dns) = &record.dns {
        let mut lines = Vec::new();
        lines.extend(
            dns.server
                .as_ref()
                .map(|server| format!("asked {server} over {}", dns.protocol.as_deref().unwrap_or("udp"))),
        );
        lines.extend(dns.rcode.as_ref().map(|rcode| format!("rcode {rcode}")));
        lines.extend(dns.answers.iter().map(|answer| format!("answer    {answer}")));
        lines.extend(dns.authority.iter().map(|record| format!("authority {record}")));
        block("DNS response", lines);
    }
    if let Some(tcp) = &record.tcp {
        let mut lines = Vec::new();
        lines.extend(tcp.remote_addr.as_ref().map(|address| format!("connected to {address}")));
        lines.extend(tcp.banner.as_ref().map(|banner| format!("banner {banner:?}")));
        block("TCP", lines);
    }
    if let Some(tls) = &record.tls {
        let mut lines = Vec::new();
        lines.extend(tls.remote_addr.as_ref().map(|address| format!("connected to {address}")));
        lines.extend(tls.server_name.as_ref().map(|name| format!("server name {name}")));
        lines.extend(tls.version.as_ref().map(|version| format!("TLS {version}")));
        lines.extend(tls.cipher_suite.as_ref().map(|suite| format!("cipher suite {suite}")));
        lines.extend(tls.chain_valid.map(|valid| match (valid, &tls.chain_error) {
            (true, _) => "chain valid".to_owned(),
            (false, Some(error)) => format!("chain not valid: {error}"),
            (false, None) => "chain not valid".to_owned(),
        }));
        lines.extend(tls.hostname_match.map(|matched| format!("name matches: {}", if matched { "yes" } else { "no" })));
        lines.extend(tls.ocsp_stapled.map(|stapled| format!("OCSP stapled: {}", if stapled { "yes" } else { "no" })));
        block("TLS handshake", lines);
        block("Certificates presented", certificate_lines(&tls.certificates));
    }
    if let Some(grpc) = &record.grpc {
        let mut lines = Vec::new();
        lines.extend(grpc.remote_addr.as_ref().map(|address| format!("connected to {address}")));
        lines.extend(grpc.tls_version.as_ref().map(|version| format!("TLS {version}")));
        let service = grpc.service.as_deref().filter(|service| !service.is_empty()).unwrap_or("(the server)");
        lines.push(format!("health of {service}"));
        lines.extend(grpc.serving_status.as_ref().map(|status| format!("answered {status}")));
        lines.extend(grpc.grpc_status.as_ref().map(|status| format!("call failed: {status}")));
        block("gRPC health", lines);
    }
    if let Some(icmp) = &record.icmp {
        let mut lines = Vec::new();
        lines.extend(icmp.remote_addr.as_ref().map(|address| format!("pinged {address}")));
        let loss = icmp.loss_percent.map_or_else(String::new, |loss| format!(" ({loss}% lost)"));
        lines.push(format!("{} sent, {} received{loss}", icmp.sent, icmp.received));
        if let (Some(min), Some(avg), Some(max)) = (icmp.rtt_min_ms, icmp.rtt_avg_ms, icmp.rtt_max_ms) {
            lines.push(format!("round trip min/avg/max {min}/{avg}/{max} ms"));
        }
        block("ICMP echo", lines);
    }
    facts
}

fn certificate_lines(certificates: &[CertificateSummary]) -> Vec<String> {
    certificates
        .iter()
        .map(|certificate| {
            format!(
                "{}\n  issued by {}\n  valid {} to {}",
                certificate.subject, certificate.issuer, certificate.not_before, certificate.not_after
            )
        })
        .collect()
}

/// The claim report's appendix: each incident's samples, or nothing when no incident has any.
pub fn render_appendix(out: &mut String, report: &Report) {
    if report.incidents.iter().all(|incident| incident.observed.is_empty()) {
        return;
    }
    out.push_str(
        "<h2>Appendix: what we observed</h2>\n<p class=\"note\">For each incident, the first failed attempt from \
         each region that voted down, as the agent recorded and signed it (secrets configured for the check are \
         redacted).</p>\n",
    );
    for (number, incident) in report.incidents.iter().enumerate().filter(|(_, incident)| !incident.observed.is_empty())
    {
        let _ = writeln!(
            out,
            "<h3>Incident {} · {} to {} UTC</h3>",
            number + 1,
            incident.start.strftime("%Y-%m-%d %H:%M:%S"),
            incident.end.strftime("%Y-%m-%d %H:%M:%S")
        );
        for record in &incident.observed {
            out.push_str("<table class=\"observed\">");
            for fact in facts(record) {
                let text = if fact.block { format!("<pre>{}</pre>", escape(&fact.text)) } else { escape(&fact.text) };
                let _ = write!(out, "<tr><th>{}</th><td>{text}</td></tr>", fact.label);
            }
            out.push_str("</table>\n");
        }
    }
}
