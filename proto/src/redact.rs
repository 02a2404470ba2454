//! URLs as they may be shown and stored: scheme, host, port and path kept; user and password removed; each
//! query value replaced by `…` (names kept, so `?api_key=…` still says what was sent); the fragment dropped.
//! The agent applies this to every URL it records, and the collector to every URL it shows, so a credential
//! written into a check's target never reaches a result, a report, an export or a log line.

use url::Url;

/// What replaces a query value.
pub const HIDDEN: &str = "…";

/// `record` with the URL it carries redacted: agents redact it themselves, but older ones and other systems'
/// files (`import`) may not, and nothing stored may hold a credential.
pub fn redact_record(record: &mut crate::ResultRecord) {
    if let Some(http) = &mut record.http {
        http.final_url = http.final_url.as_deref().map(redacted_url);
    }
}

/// `text` with credentials removed when it is a URL with a host; anything else comes back unchanged.
pub fn redacted_url(text: &str) -> String {
    match Url::parse(text) {
        Ok(url) if url.has_host() => redact(&url),
        _ => text.to_owned(),
    }
}

/// `url` without user, password, query values or fragment.
pub fn redact(url: &Url) -> String {
    let clean = url.username().is_empty() && url.password().is_none() && url.query().is_none();
    if clean && url.fragment().is_none() && url.has_host() {
        return url.as_str().to_owned();
    }
    let mut shown = format!("{}://", url.scheme());
    match url.host_str() {
        Some(host) => shown.push_str(host),
        None => return format!("{}:", url.scheme()),
    }
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    if let Some(query) = url.query() {
        let names: Vec<String> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}={HIDDEN}"),
                None => pair.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&names.join("&"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn credentials_and_query_values_never_survive() {
        assert_eq!(
            redacted_url("http://alice:s3cret@host.example:8080/path?api_key=XYZ&flag#frag"),
            "http://host.example:8080/path?api_key=…&flag"
        );
        assert_eq!(redacted_url("https://api.example/health"), "https://api.example/health");
        assert_eq!(redacted_url("https://[::1]:8443/x?a=1&b=2"), "https://[::1]:8443/x?a=…&b=…");
        assert_eq!(redacted_url("mail.example:25"), "mail.example:25", "not a URL with a host");
        assert_eq!(redacted_url("api.example"), "api.example");
        assert_eq!(redacted_url("https://u@h.example/"), "https://h.example/");
        assert_eq!(redacted_url("https://h.example/#frag"), "https://h.example/");
        assert_eq!(redacted_url("https://h.example/?"), "https://h.example/?");
        assert_eq!(redacted_url("http://[::1]:8080/a/b"), "http://[::1]:8080/a/b");
        assert_eq!(redacted_url("HTTP://H.EXAMPLE:80/p"), "http://h.example/p");
    }

    #[test]
    fn a_url_without_credentials_query_or_fragment_comes_back_as_written() {
        for text in ["https://api.example/health", "http://[::1]:8080/a/b", "http://127.0.0.1:18080/"] {
            let url = url::Url::parse(text).unwrap();
            assert_eq!(super::redact(&url), url.as_str());
        }
    }
}
