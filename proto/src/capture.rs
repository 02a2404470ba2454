//! Failure captures: what a failed attempt keeps of what the server said, so that a person can argue the case
//! (the HTTP status line, headers, the start of the body and the certificates presented; the DNS authority
//! section), bounded in size. The agent fills them, redacting sensitive header values and taking the check's
//! configured secrets out of everything it keeps ([`scrub`]); the collector refuses a result whose captures exceed
//! the bounds ([`check_bounds`]), so no agent can fill the store through them.

use crate::record::ResultRecord;

/// Bytes of the response body kept (before lossy UTF-8 decoding and redaction).
pub const BODY_HEAD_BYTES: usize = 2048;
/// Longest `body_head` accepted, in bytes: lossy decoding turns an invalid byte into three, and redaction may
/// lengthen a secret.
pub const MAX_BODY_HEAD: usize = 4 * BODY_HEAD_BYTES;
/// Headers kept at most; the rest are counted in a last line.
pub const MAX_HEADERS: usize = 64;
/// Longest header line, status line, certificate name or DNS record kept, in bytes; longer ones are cut.
pub const MAX_LINE: usize = 1024;
/// Certificates kept at most, leaf first.
pub const MAX_CERTIFICATES: usize = 8;
/// Authority records kept at most.
pub const MAX_AUTHORITY: usize = 16;
/// Longest error message an attempt keeps: what a server says (a gRPC status message, a certificate's names) is
/// cut to this by the agent.
pub const MAX_ERROR: usize = 4096;
/// Longest `error` a result may carry when it arrives: the agent cuts its own to [`MAX_ERROR`]; the margin takes
/// older agents and imported lines, whose errors were not cut, without storing an unbounded text.
pub const MAX_ERROR_ACCEPTED: usize = 4 * MAX_ERROR;
/// Longest `error_kind` a result may carry when it arrives (the kinds are short words).
pub const MAX_ERROR_KIND: usize = 64;
/// Most steps of a multi-step HTTP check.
pub const MAX_STEPS: usize = 10;
/// What replaces a value that is not kept.
pub const REDACTED: &str = "[redacted]";
/// Secrets shorter than this are not searched for: they would match ordinary text, and are no secret.
const MIN_SECRET: usize = 4;

/// Parts of header names whose values are never kept, whatever the check says: credentials and sessions.
const SENSITIVE_NAME_PARTS: [&str; 8] =
    ["cookie", "authorization", "token", "secret", "password", "session", "api-key", "apikey"];

/// Whether a response header's value is withheld by its name alone.
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SENSITIVE_NAME_PARTS.iter().any(|part| name.contains(part))
}

/// `text` with every occurrence of each secret replaced by [`REDACTED`].
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|secret| secret.len() >= MIN_SECRET) {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), REDACTED);
        }
    }
    text
}

/// `text` cut to at most `limit` bytes on a character boundary, `…` marking the cut.
pub fn cut(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Whether `record`'s captures are within the bounds above; the first one that is not, named.
pub fn check_bounds(record: &ResultRecord) -> Result<(), String> {
    let too_long = |field: &str, text: &str, limit: usize| {
        if text.len() > limit { Err(format!("{field} is {} bytes, more than {limit}", text.len())) } else { Ok(()) }
    };
    let too_many = |field: &str, count: usize, limit: usize| {
        if count > limit { Err(format!("{field} holds {count} entries, more than {limit}")) } else { Ok(()) }
    };
    too_long("error", record.error.as_deref().unwrap_or_default(), MAX_ERROR_ACCEPTED)?;
    too_long("error_kind", record.error_kind.as_deref().unwrap_or_default(), MAX_ERROR_KIND)?;
    if let Some(http) = &record.http {
        too_long("http.status_line", http.status_line.as_deref().unwrap_or_default(), MAX_LINE)?;
        too_many("http.headers", http.headers.len(), MAX_HEADERS + 1)?;
        for header in &http.headers {
            too_long("http.headers", header, MAX_LINE)?;
        }
        too_long("http.body_head", http.body_head.as_deref().unwrap_or_default(), MAX_BODY_HEAD)?;
        too_many("http.certificates", http.certificates.len(), MAX_CERTIFICATES)?;
        for certificate in &http.certificates {
            too_long("http.certificates.subject", &certificate.subject, MAX_LINE)?;
            too_long("http.certificates.issuer", &certificate.issuer, MAX_LINE)?;
        }
        too_many("http.steps", http.steps.len(), MAX_STEPS)?;
        for step in &http.steps {
            too_long("http.steps.name", &step.name, 64)?;
        }
    }
    if let Some(tls) = &record.tls {
        too_many("tls.certificates", tls.certificates.len(), MAX_CERTIFICATES)?;
        for certificate in &tls.certificates {
            too_long("tls.certificates.subject", &certificate.subject, MAX_LINE)?;
            too_long("tls.certificates.issuer", &certificate.issuer, MAX_LINE)?;
        }
        too_long("tls.chain_error", tls.chain_error.as_deref().unwrap_or_default(), MAX_LINE)?;
    }
    if let Some(grpc) = &record.grpc {
        too_long("grpc.service", grpc.service.as_deref().unwrap_or_default(), MAX_LINE)?;
    }
    if let Some(dns) = &record.dns {
        too_many("dns.authority", dns.authority.len(), MAX_AUTHORITY)?;
        for record in &dns.authority {
            too_long("dns.authority", record, MAX_LINE)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_wherever_they_appear_and_short_ones_left() {
        let secrets = vec!["s3cr3t-value".to_owned(), "ab".to_owned()];
        assert_eq!(
            scrub("echo: Authorization: Bearer s3cr3t-value; again s3cr3t-value; ab", &secrets),
            "echo: Authorization: Bearer [redacted]; again [redacted]; ab"
        );
    }

    #[test]
    fn cuts_fall_on_character_boundaries_within_the_limit() {
        assert_eq!(cut("short", 10), "short");
        let cut_text = cut("ééééé", 7);
        assert!(cut_text.len() <= 7 && cut_text.ends_with('…'), "{cut_text}");
    }

    #[test]
    fn credential_headers_are_sensitive_by_name() {
        for name in ["Set-Cookie", "authorization", "X-Auth-Token", "x-api-key", "X-Session-Id"] {
            assert!(is_sensitive_header(name), "{name}");
        }
        for name in ["content-type", "retry-after", "server", "www-authenticate"] {
            assert!(!is_sensitive_header(name), "{name}");
        }
    }
}
