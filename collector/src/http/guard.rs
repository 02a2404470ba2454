//! Guards every request passes before the handlers: a time limit, the `Host` check of open mode, and the refusal
//! of cross-site changes. Access tokens are checked after these ([`super::auth`]).
//!
//! - **Time limit** (`listen.http_request_timeout`, default 30 s): a request that takes longer (a slow upload,
//!   an expensive report) is answered 503 and its work dropped; nothing has been written by then, because every
//!   response is built whole before it is sent.
//! - **Host** (open mode only, no `api_tokens`): a page on the attacker's domain that rebinds its name to the
//!   collector's address would otherwise read the API. Such a request names the attacker's domain in `Host`, so
//!   only IP literals and `localhost` are answered; anything else gets 421.
//! - **Cross-site changes**: a request that changes anything (any method but GET, HEAD, OPTIONS) is refused with
//!   403 when the browser says it comes from another site (`Sec-Fetch-Site: cross-site` or `same-site`) or its
//!   `Origin` is not this host. Clients that are not browsers send neither header and pass.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::HttpState;
use super::api::ApiError;

/// Answers 503 when the request takes longer than `listen.http_request_timeout`.
pub async fn time_limit(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let limit = state.config.borrow().listen.http_request_timeout;
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            state.metrics.http_requests_timed_out.inc();
            tracing::warn!(%path, limit_seconds = limit.as_secs_f64(), "An HTTP request took too long; answered 503.");
            let message = format!(
                "this request took longer than {} and was stopped; ask for a shorter span or try again later",
                humantime::format_duration(limit)
            );
            ApiError(StatusCode::SERVICE_UNAVAILABLE, message).into_response()
        }
    }
}

/// In open mode, answers 421 to requests whose `Host` is neither an IP literal nor `localhost`.
pub async fn check_host(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let open = state.config.borrow().api_tokens.is_empty();
    if open && !host_is_safe(request.headers()) {
        let message = "open access (no api_tokens) answers only requests addressed to an IP address or localhost; \
                       configure api_tokens to reach the collector by name";
        return ApiError(StatusCode::MISDIRECTED_REQUEST, message.to_owned()).into_response();
    }
    next.run(request).await
}

/// Whether `Host` names an IP literal or `localhost` (with any port): names an attacker cannot rebind.
fn host_is_safe(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|host| host.to_str().ok()) else { return false };
    let name = match host.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((inside, rest)) if rest.is_empty() || is_port(rest.strip_prefix(':')) => inside,
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(Some(port)) => name,
            Some(_) => return false,
            None => host,
        },
    };
    name.parse::<IpAddr>().is_ok() || name.eq_ignore_ascii_case("localhost")
}

fn is_port(text: Option<&str>) -> bool {
    text.is_some_and(|port| port.parse::<u16>().is_ok())
}

/// Refuses changes that a browser says come from another site.
pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    let reads = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !reads && is_cross_site(request.headers()) {
        let message = "refused: this change was sent from another site's page";
        return ApiError(StatusCode::FORBIDDEN, message.to_owned()).into_response();
    }
    next.run(request).await
}

/// Whether the browser marks the request as coming from another site.
pub fn is_cross_site(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|value: &header::HeaderValue| value.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = text(header::ORIGIN.as_str()) else { return false };
    let host = text(header::HOST.as_str()).unwrap_or_default();
    origin.split_once("://").is_none_or(|(_, authority)| !authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.parse().unwrap(), HeaderValue::from_static(value))).collect()
    }

    #[test]
    fn only_ip_literals_and_localhost_are_safe_hosts() {
        for safe in ["127.0.0.1:8080", "127.0.0.1", "[::1]:8080", "[::1]", "localhost:8080", "LOCALHOST", "10.1.2.3"] {
            assert!(super::host_is_safe(&headers(&[("host", safe)])), "{safe}");
        }
        for unsafe_host in ["evil.example", "evil.example:8080", "127.0.0.1.nip.io", "[::1]x", "::1", "localhost:x"] {
            assert!(!super::host_is_safe(&headers(&[("host", unsafe_host)])), "{unsafe_host}");
        }
        assert!(!super::host_is_safe(&HeaderMap::new()), "no Host at all");
    }

    #[test]
    fn cross_site_is_what_the_browser_says_or_a_foreign_origin() {
        let cross = |pairs: &[(&'static str, &'static str)]| super::is_cross_site(&headers(pairs));
        assert!(!cross(&[]), "curl and other tools send neither header");
        assert!(!cross(&[("sec-fetch-site", "same-origin"), ("origin", "http://x")]), "the browser's word wins");
        assert!(!cross(&[("sec-fetch-site", "none")]), "typed into the address bar");
        assert!(cross(&[("sec-fetch-site", "cross-site")]));
        assert!(cross(&[("sec-fetch-site", "same-site")]), "a sibling subdomain is another site here");
        assert!(!cross(&[("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")]));
        assert!(cross(&[("origin", "http://evil.example"), ("host", "127.0.0.1:8080")]));
        assert!(cross(&[("origin", "null"), ("host", "127.0.0.1:8080")]), "sandboxed pages send null");
    }
}
