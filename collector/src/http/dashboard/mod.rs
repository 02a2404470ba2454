//! The web dashboard, served by the collector itself: HTML made on the server (maud templates, escaped by
//! construction), charts drawn as inline SVG, one local stylesheet, no scripts and nothing fetched from
//! elsewhere; a Content-Security-Policy holds the pages to that. Every figure comes from the same view
//! functions as the JSON API, so the two always agree.
//!
//! Pages: the overview (`/`), a contract (`/contracts/{id}?period=`), checks (`/checks`), agents (`/agents`,
//! with approve and revoke buttons for agents enrolled with a fleet token), alerts (`/alerts`, with acknowledge
//! and resolve buttons), claims (`/claims`, with forms that record each step), vendors (`/vendors`, each with
//! its scorecard) and the login form (`/login`, used when `api_tokens` are configured). Live pages refresh
//! themselves every [`REFRESH_SECONDS`].
//!
//! Layout:
//! - [`overview`], [`contract`], [`checks`], [`agents`], [`alerts`], [`claims`], [`vendors`]: the pages.
//! - [`enrolments`]: the agents page's enrolled agents, and its approve and revoke buttons.
//! - [`charts`]: the SVG day strip, latency chart and phase bars.
//! - [`vendor_word`]: a contract's vendor status page against our incidents.

pub mod agents;
pub mod alerts;
pub mod charts;
pub mod checks;
pub mod claims;
pub mod contract;
pub mod enrolments;
pub mod overview;
pub mod vendor_word;
pub mod vendors;

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use maud::{DOCTYPE, Markup, html};

use super::HttpState;
use super::api::ApiError;
use super::auth::{self, Caller};
use crate::cluster::Differing;
use crate::reload::ReloadFailure;
use slaprobe_sla::display;

/// Seconds between refreshes of the live pages.
pub const REFRESH_SECONDS: u32 = 30;

/// What the pages allow the browser: this site's stylesheet, images and forms, nothing else.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("dashboard.css");

const FAVICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">\
<rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#1d2430\"/><path d=\"M2 11h3l2-6 2 8 2-4h3\" \
fill=\"none\" stroke=\"#2e9d4f\" stroke-width=\"2\"/></svg>";

/// The dashboard's routes.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/contracts/{id}", get(contract::page))
        .route("/checks", get(checks::page))
        .route("/agents", get(agents::page))
        .route("/agents/{agent_id}/approve", post(enrolments::approve))
        .route("/agents/{agent_id}/revoke", post(enrolments::revoke))
        .route("/alerts", get(alerts::page))
        .route("/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/alerts/{id}/resolve", post(alerts::resolve))
        .route("/claims", get(claims::page))
        .route("/vendors", get(vendors::page))
        .route("/vendors/{slug}", get(vendors::scorecard_page))
        .route("/claims/{contract}/{period}", get(claims::claim_page).post(claims::act_from_form))
        .route("/login", get(login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/static/dashboard.css", get(|| async { asset("text/css; charset=utf-8", STYLESHEET) }))
        .route("/static/favicon.svg", get(|| async { asset("image/svg+xml", FAVICON) }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "max-age=3600")], body).into_response()
}

/// The navigation entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// `/`.
    Overview,
    /// `/checks`.
    Checks,
    /// `/agents`.
    Agents,
    /// `/alerts`.
    Alerts,
    /// `/claims` and a claim.
    Claims,
    /// `/vendors` and a scorecard.
    Vendors,
    /// A contract page (under the overview).
    Contract,
    /// The login form (no navigation).
    Login,
}

/// A whole page: head, navigation, `body`, and the moment its figures are from.
/// A page around `body`, with `banners` above it.
pub fn layout(
    title: &str,
    here: Nav,
    caller: Option<&Caller>,
    banners: Banners,
    refresh: bool,
    body: Markup,
) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh { meta http-equiv="refresh" content=(REFRESH_SECONDS); }
                title { (title) " · slaprobe" }
                link rel="stylesheet" href="/static/dashboard.css";
                link rel="icon" href="/static/favicon.svg" type="image/svg+xml";
            }
            body {
                header {
                    span.brand { "slaprobe" }
                    @if here != Nav::Login {
                        a href="/" class=[nav_class(here, Nav::Overview)] { "Contracts" }
                        a href="/checks" class=[nav_class(here, Nav::Checks)] { "Checks" }
                        a href="/agents" class=[nav_class(here, Nav::Agents)] { "Agents" }
                        a href="/alerts" class=[nav_class(here, Nav::Alerts)] { "Alerts" }
                        a href="/claims" class=[nav_class(here, Nav::Claims)] { "Claims" }
                        a href="/vendors" class=[nav_class(here, Nav::Vendors)] { "Vendors" }
                    }
                    @if let Some(Caller { name: Some(name), role }) = caller {
                        span.who {
                            span { (name) " (" (format!("{role:?}").to_lowercase()) ")" }
                            form method="post" action="/logout" { button type="submit" { "Sign out" } }
                        }
                    }
                }
                @if let Some(failure) = banners.reload_failed {
                    div.banner role="alert" data-field="reload-failed" {
                        "The configuration reload at " (moment(failure.at)) " failed with " (failure.problems)
                        " problem(s); the collector runs the configuration it had before. Run "
                        code { "slaprobe-collector check-config" } " or read its log to see what is wrong."
                    }
                }
                @if !banners.config_drift.is_empty() {
                    div.banner role="alert" data-field="config-drift" {
                        "Collectors sharing this store run different configurations: "
                        @for (index, replica) in banners.config_drift.iter().enumerate() {
                            @if index > 0 { ", " }
                            code { (replica.name) } " (" (short_hash(&replica.config_sha256)) ")"
                        }
                        " against this one's " (short_hash(&banners.config_sha256)) ". Give every replica the same \
                         files; the Agents page lists them."
                    }
                }
                main { (body) }
            }
        }
    };
    let mut response =
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn nav_class(here: Nav, entry: Nav) -> Option<&'static str> {
    (here == entry || (here == Nav::Contract && entry == Nav::Overview)).then_some("here")
}

/// What every page shows above its body when something is wrong with the configuration: the latest reload,
/// when it failed (so nobody reads figures believing an edit took effect when it did not), and the live
/// replicas running another configuration than this collector's.
pub struct Banners {
    reload_failed: Option<ReloadFailure>,
    config_drift: Vec<Differing>,
    config_sha256: String,
}

/// The banners as things stand.
pub fn banners(state: &HttpState) -> Banners {
    Banners {
        reload_failed: state.reload_status.borrow().failed,
        config_drift: state.config_drift.borrow().clone(),
        config_sha256: state.config.borrow().sha256.clone(),
    }
}

impl Banners {
    /// No banner (the sign-in and error pages).
    pub fn none() -> Self {
        Self { reload_failed: None, config_drift: Vec::new(), config_sha256: String::new() }
    }
}

/// The first 12 hex digits of a SHA-256, as people compare them at a glance.
pub fn short_hash(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// A failure shown as a page with the API's status and reason.
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let ApiError(status, message) = self.0;
        let body = html! {
            h1 { (status.canonical_reason().unwrap_or("Error")) }
            p.error { (message) }
            p { a href="/" { "Back to the contracts" } }
        };
        let mut response = layout("Error", Nav::Overview, None, Banners::none(), false, body);
        *response.status_mut() = status;
        response
    }
}

/// `when` in UTC to the second.
pub fn moment(when: Timestamp) -> String {
    when.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// How long before `now` `then` was, like `1m 5s ago`.
pub fn ago(now: Timestamp, then: Timestamp) -> String {
    let seconds = now.duration_since(then).as_secs_f64().max(0.0);
    format!("{} ago", display::duration(seconds))
}

/// The "figures as of" line under each page.
pub fn as_of_note(as_of: Timestamp, refresh: bool) -> Markup {
    html! {
        p.note {
            "Figures as of " (moment(as_of)) "."
            @if refresh { " This page refreshes every " (REFRESH_SECONDS) " s." }
        }
    }
}

/// What `GET /login` takes.
#[derive(Debug, serde::Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

async fn login_form(Query(query): Query<LoginQuery>) -> Response {
    login_page(None, auth::local_path(query.next.as_deref()))
}

/// The login form, with `problem` shown above it; signing in returns to `next`.
pub fn login_page(problem: Option<&str>, next: &str) -> Response {
    let body = html! {
        div.login {
            h1 { "Sign in" }
            p.muted { "Use an API token from collector.yaml (" code { "api_tokens" } ")." }
            @if let Some(problem) = problem { p.error { (problem) } }
            form method="post" action="/login" {
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                input type="hidden" name="next" value=(next);
                button.primary type="submit" { "Sign in" }
            }
        }
    };
    layout("Sign in", Nav::Login, None, Banners::none(), false, body)
}
