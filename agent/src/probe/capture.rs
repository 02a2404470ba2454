//! Failure captures ([`slaprobe_proto::capture`]): while an attempt runs, each HTTP hop keeps, raw, its
//! response's status line, headers, the start of its body and the certificates presented ([`Pending`]), and a
//! DNS query its authority section (a few records, written out as read). Once the attempt is over, [`settle`]
//! turns the HTTP ones into text only if it failed, and takes the check's configured secrets (header values, URL
//! and proxy passwords, query values) out of everything a failure keeps, its error message included (an
//! assertion quotes the body or a header, which may echo them); an attempt that passed keeps none of them. A
//! gRPC check's failure message is cleaned of its metadata values the same way.

use http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use rustls::pki_types::CertificateDer;
use slaprobe_checks::spec::{HttpSpec, ProbeSpec};
use slaprobe_proto::CertificateSummary;
use slaprobe_proto::capture::{MAX_CERTIFICATES, MAX_HEADERS, MAX_LINE, REDACTED, cut, is_sensitive_header, scrub};
use url::Url;

use super::{Attempt, Failure};

/// What the last HTTP hop's server said, raw.
#[derive(Debug, Default)]
pub struct Pending {
    /// Status line as received.
    pub status_line: Option<String>,
    /// Response headers.
    pub headers: Option<HeaderMap>,
    /// The first [`slaprobe_proto::capture::BODY_HEAD_BYTES`] of the body.
    pub body_head: Vec<u8>,
    /// The certificates presented.
    pub certificates: Vec<CertificateDer<'static>>,
}

impl Pending {
    /// Forgets what an earlier hop (a redirect) said: the captures describe the hop that failed.
    pub fn forget(&mut self) {
        *self = Self::default();
    }
}

/// Keeps the captures of a failed attempt (`failure`), cleaned of `spec`'s secrets as its message is, and drops
/// those of one that passed.
pub fn settle(attempt: &mut Attempt, spec: &ProbeSpec, failure: Option<&mut Failure>) {
    let pending = std::mem::take(&mut attempt.pending);
    let captured = std::mem::take(&mut attempt.secrets);
    if let Some(http) = attempt.http.as_mut().filter(|_| !captured.is_empty()) {
        http.final_url = http.final_url.as_deref().map(|url| scrub(url, &captured));
    }
    let Some(failure) = failure else {
        if let Some(dns) = &mut attempt.dns {
            dns.authority = Vec::new();
        }
        return;
    };
    if let ProbeSpec::Grpc(spec) = spec {
        failure.message = scrub(&failure.message, &header_secrets(&spec.metadata));
    }
    let ProbeSpec::Http(spec) = spec else { return };
    let mut secrets = secrets(spec);
    secrets.extend(captured);
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    failure.message = scrub(&failure.message, &secrets);
    let Some(http) = &mut attempt.http else { return };
    let clean = |text: &str| cut(&scrub(text, &secrets), MAX_LINE);
    http.status_line = pending.status_line.as_deref().map(clean);
    http.headers = pending.headers.map(|headers| header_lines(&headers, spec)).unwrap_or_default();
    for header in &mut http.headers {
        *header = clean(header);
    }
    http.body_head =
        (!pending.body_head.is_empty()).then(|| scrub(&String::from_utf8_lossy(&pending.body_head), &secrets));
    http.certificates = certificates(&pending.certificates);
}

/// The check's configured secrets: every request header value (and its last word, the credential of
/// `Bearer …`), the URL's password and query values, and the proxy's password; of each step, its header values
/// that name no capture (a captured value is a secret of its own), its URL's password and query values, and the
/// values of a form body (`client_secret=…`).
fn secrets(spec: &HttpSpec) -> Vec<String> {
    let mut secrets = header_secrets(spec.settings.headers());
    let step_urls: Vec<Url> = spec
        .settings
        .steps
        .iter()
        .filter_map(|step| step.url.as_ref().and_then(|url| Url::parse(&url.with_placeholder("")).ok()))
        .collect();
    for url in std::iter::once(&spec.url).chain(spec.settings.proxy.as_deref()).chain(&step_urls) {
        if let Some(password) = url.password() {
            secrets.push(password.to_owned());
            secrets.push(percent_encoding::percent_decode_str(password).decode_utf8_lossy().into_owned());
        }
        secrets.extend(url.query_pairs().map(|(_, value)| value.into_owned()));
    }
    for step in &spec.settings.steps {
        for value in step.headers.iter().filter_map(|(_, value)| value.as_literal()) {
            if let Some(last) = value.split_whitespace().last().filter(|last| *last != value) {
                secrets.push(last.to_owned());
            }
            secrets.push(value.to_owned());
        }
        for literal in step.body.iter().flat_map(|body| body.literals()) {
            secrets.extend(url::form_urlencoded::parse(literal.as_bytes()).map(|(_, value)| value.into_owned()));
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    secrets.dedup();
    secrets
}

/// Every header value, and its last word (the credential of `Bearer …`), longest first.
fn header_secrets(headers: &HeaderMap) -> Vec<String> {
    let mut secrets = Vec::new();
    for value in headers.values() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if let Some(last) = value.split_whitespace().last().filter(|last| *last != value) {
            secrets.push(last.to_owned());
        }
        secrets.push(value);
    }
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    secrets
}

/// The status line as received: the server's own reason phrase when it sent one hyper does not know.
pub fn status_line(version: &str, status: StatusCode, reason: Option<&[u8]>) -> String {
    let reason = match reason {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => status.canonical_reason().unwrap_or_default().to_owned(),
    };
    cut(format!("{version} {} {reason}", status.as_u16()).trim_end(), MAX_LINE)
}

/// The headers as `name: value` lines in the order received; sensitive ones (by name, or named by the check's
/// `sensitive_headers`) as [`REDACTED`]; beyond [`MAX_HEADERS`], one line counting the rest.
fn header_lines(headers: &HeaderMap, spec: &HttpSpec) -> Vec<String> {
    let mut lines: Vec<String> = headers
        .iter()
        .take(MAX_HEADERS)
        .map(|(name, value)| {
            let sensitive = is_sensitive_header(name.as_str()) || spec.settings.sensitive_headers.contains(name);
            let value = if sensitive { REDACTED.into() } else { String::from_utf8_lossy(value.as_bytes()) };
            cut(&format!("{name}: {value}"), MAX_LINE)
        })
        .collect();
    if headers.len() > MAX_HEADERS {
        lines.push(format!("… {} more headers not kept", headers.len() - MAX_HEADERS));
    }
    lines
}

/// The certificates of a chain as a person reads them, leaf first; ones that do not parse are named so.
pub fn certificates(chain: &[CertificateDer<'_>]) -> Vec<CertificateSummary> {
    chain
        .iter()
        .take(MAX_CERTIFICATES)
        .map(|der| match x509_parser::parse_x509_certificate(der) {
            Ok((_, certificate)) => {
                let validity = certificate.validity();
                let at = |time: &x509_parser::time::ASN1Time| {
                    Timestamp::from_second(time.timestamp()).unwrap_or(Timestamp::UNIX_EPOCH)
                };
                CertificateSummary {
                    subject: cut(&certificate.subject().to_string(), MAX_LINE),
                    issuer: cut(&certificate.issuer().to_string(), MAX_LINE),
                    not_before: at(&validity.not_before),
                    not_after: at(&validity.not_after),
                }
            }
            Err(error) => CertificateSummary {
                subject: cut(&format!("(a certificate that does not parse: {error})"), MAX_LINE),
                issuer: String::new(),
                not_before: Timestamp::UNIX_EPOCH,
                not_after: Timestamp::UNIX_EPOCH,
            },
        })
        .collect()
}
