//! Who may use the HTTP listener. With no `api_tokens` in `collector.yaml` everything is open (the loopback
//! quick start). With tokens, every request but `/healthz`, `/readyz`, the login page and the stylesheet must
//! present one: `Authorization: Bearer <token>` (API, Prometheus) or the session cookie the login form sets
//! (the dashboard). A viewer reads everything; changes (any API method but GET) need an admin. The API takes
//! the cookie for reads only: automation that changes things presents the bearer token, so no page a signed-in
//! browser visits can act through the API with the cookie.
//!
//! The collector keeps only tokens' SHA-256. The cookie holds the token hex-encoded (so any token fits a
//! cookie), `HttpOnly` and `SameSite=Strict`; signing out clears it. Unauthenticated API calls get 401 with
//! `WWW-Authenticate: Bearer`; dashboard pages redirect to the login page, which returns there afterwards.

use axum::Form;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::HttpState;
use super::api::ApiError;
use crate::config::{ApiToken, Role};
use crate::digest::{hex, token_hash};

/// The session cookie's name.
pub const COOKIE: &str = "slaprobe_session";
/// How long a dashboard session lasts, seconds (30 days).
const SESSION_SECONDS: u32 = 30 * 24 * 3600;

/// Who is calling, as the handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name; `None` when access is open (no tokens configured).
    pub name: Option<String>,
    /// What the caller may do.
    pub role: Role,
}

/// Paths anyone may request.
fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/login" | "/logout") || path.starts_with("/static/")
}

/// Paths that answer in JSON or Prometheus text rather than pages.
fn is_machine_path(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

/// The token the request presents: the bearer token, else (where `cookie_counts`) the session cookie.
fn presented_token(headers: &HeaderMap, cookie_counts: bool) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned());
    bearer.filter(|token| !token.is_empty()).or_else(|| {
        if !cookie_counts {
            return None;
        }
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
            .and_then(from_hex)
    })
}

/// The caller holding `token`, if it is one of `tokens`.
pub fn caller_for(tokens: &[ApiToken], token: &str) -> Option<Caller> {
    let hash = token_hash(token);
    tokens
        .iter()
        .find(|entry| entry.token_sha256 == hash)
        .map(|entry| Caller { name: Some(entry.name.clone()), role: entry.role })
}

/// Checks every request against the configured tokens and hands the handlers the [`Caller`].
pub async fn require_token(State(state): State<HttpState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if is_public(path) {
        return next.run(request).await;
    }
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD);
    let caller = {
        let config = state.config.borrow();
        if config.api_tokens.is_empty() {
            Ok(Caller { name: None, role: Role::Admin })
        } else {
            let cookie_counts = !(changes && is_machine_path(path));
            match presented_token(request.headers(), cookie_counts) {
                Some(token) => caller_for(&config.api_tokens, &token).ok_or("unknown_token"),
                None => Err("no_token"),
            }
        }
    };
    let operations = &state.metrics.operations;
    let caller = match caller {
        Ok(caller) => caller,
        Err(reason) => {
            // A browser arriving without its cookie is sent to the login page: navigation, not a refusal.
            if reason != "no_token" || is_machine_path(path) {
                operations.count_http_auth_refused(reason);
            }
            return refuse(&request);
        }
    };
    if changes && caller.role < Role::Admin {
        operations.count_http_auth_refused("not_admin");
        return ApiError(StatusCode::FORBIDDEN, "this needs an admin token".to_owned()).into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The answer to a request without a valid token: 401 for the API and metrics, the login page for pages.
fn refuse(request: &Request) -> Response {
    if is_machine_path(request.uri().path()) {
        let mut response =
            ApiError(StatusCode::UNAUTHORIZED, "give a valid token: `Authorization: Bearer <token>`".to_owned())
                .into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"slaprobe\""));
        return response;
    }
    let wanted = request.uri().path_and_query().map_or("/", |wanted| wanted.as_str());
    let query = serde_urlencoded::to_string([("next", wanted)]).unwrap_or_default();
    Redirect::to(&format!("/login?{query}")).into_response()
}

/// What the login form posts.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The token.
    pub token: String,
    /// Where to go afterwards (a path on this site).
    #[serde(default)]
    pub next: Option<String>,
}

/// Only paths on this site: `/x…`, never `//host`, `/\\host` or `https://host`, and nothing with control
/// characters (which browsers strip, turning `/\t/host` into `//host`).
pub fn local_path(next: Option<&str>) -> &str {
    next.filter(|path| {
        path.starts_with('/')
            && !path[1..].starts_with(['/', '\\'])
            && !path.contains('\\')
            && !path.chars().any(char::is_control)
    })
    .unwrap_or("/")
}

/// `POST /login`: a valid token sets the session cookie and returns to `next`; anything else shows the form
/// again with the reason (401).
pub async fn login(State(state): State<HttpState>, Form(form): Form<LoginForm>) -> Response {
    let valid = caller_for(&state.config.borrow().api_tokens, form.token.trim()).is_some();
    let next = local_path(form.next.as_deref());
    if !valid {
        state.metrics.operations.count_http_auth_refused("unknown_token");
        let page = super::dashboard::login_page(Some("That token is not valid."), next);
        return (StatusCode::UNAUTHORIZED, page).into_response();
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}",
        hex(form.token.trim().as_bytes())
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response()
}

/// `POST /logout`: clears the session cookie.
pub async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

fn from_hex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..text.len()).step_by(2).map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_travel_in_cookies_as_hex_and_come_back() {
        let token = "päss; word=1";
        let mut headers = HeaderMap::new();
        let cookie = format!("theme=dark; {COOKIE}={}", hex(token.as_bytes()));
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        assert_eq!(presented_token(&headers, true).as_deref(), Some(token));
        assert_eq!(presented_token(&headers, false), None, "API changes do not take the cookie");
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer other"));
        assert_eq!(presented_token(&headers, true).as_deref(), Some("other"), "the bearer token wins");
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("abc"), None);
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_path(Some("/contracts/acme?period=2026-02")), "/contracts/acme?period=2026-02");
        let outside = ["//evil.example/", "https://evil.example/", "/\\evil.example", "checks", "/\t/evil.example"];
        for outside in outside.into_iter().chain(["/\n/evil.example", "/a\\b", "/\u{7f}x"]) {
            assert_eq!(local_path(Some(outside)), "/", "{outside}");
        }
        assert_eq!(local_path(None), "/");
    }
}
