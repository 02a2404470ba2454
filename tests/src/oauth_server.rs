//! An OAuth-like API on loopback, for multi-step checks: a client-credentials token endpoint and an API that
//! wants the token, with tokens that expire when the test says so.
//!
//! | request | response |
//! | --- | --- |
//! | `POST /oauth/token`, form `grant_type=client_credentials&client_id=…&client_secret=…` | 200 `{"access_token": …, "token_type": "Bearer", "expires_in": …}`, or 401 `{"error": "invalid_client"}` |
//! | `GET /v1/balance` with `Authorization: Bearer TOKEN` | 200 `{"balance": 42}` while the token is valid; 401 naming the token it got otherwise |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The client id the token endpoint accepts.
pub const CLIENT_ID: &str = "slaprobe-monitor";
/// The client secret the token endpoint accepts.
pub const CLIENT_SECRET: &str = "cl1ent-s3cret-value";

/// A running OAuth-like server; it stops when dropped.
pub struct OauthServer {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    accept_loop: JoinHandle<()>,
}

struct State {
    /// Issued tokens and when each expires.
    tokens: Mutex<Vec<(String, Instant)>>,
    /// Lifetime of the tokens issued from now on.
    lifetime: Mutex<Duration>,
    issued: AtomicU64,
}

impl Drop for OauthServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl OauthServer {
    /// Starts the server on `127.0.0.1:0`, issuing tokens valid for an hour.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind OAuth test server");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            tokens: Mutex::new(Vec::new()),
            lifetime: Mutex::new(Duration::from_secs(3600)),
            issued: AtomicU64::new(0),
        });
        let serving = state.clone();
        let accept_loop = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| respond(request, state.clone()));
                    let _ =
                        auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { addr, state, accept_loop }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Tokens issued from now on expire after `lifetime` (zero: at once).
    pub fn issue_for(&self, lifetime: Duration) {
        *self.state.lifetime.lock().expect("lifetime lock") = lifetime;
    }

    /// The tokens issued so far.
    pub fn issued(&self) -> Vec<String> {
        self.state.tokens.lock().expect("tokens lock").iter().map(|(token, _)| token.clone()).collect()
    }
}

async fn respond(request: Request<Incoming>, state: Arc<State>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    let body = request.into_body().collect().await.map(|body| body.to_bytes()).unwrap_or_default();
    let (status, json) = match (method, path.as_str()) {
        (Method::POST, "/oauth/token") => issue(&state, &body),
        (Method::GET, "/v1/balance") => {
            let now = Instant::now();
            let valid = bearer.as_ref().is_some_and(|token| {
                state
                    .tokens
                    .lock()
                    .expect("tokens lock")
                    .iter()
                    .any(|(issued, expires)| issued == token && *expires > now)
            });
            if valid {
                (StatusCode::OK, r#"{"balance": 42}"#.to_owned())
            } else {
                let token = bearer.unwrap_or_default();
                (StatusCode::UNAUTHORIZED, format!(r#"{{"error": "token {token} is expired or unknown"}}"#))
            }
        }
        _ => (StatusCode::NOT_FOUND, r#"{"error": "no such endpoint"}"#.to_owned()),
    };
    let response = Response::builder().status(status).header("content-type", "application/json");
    Ok(response.body(Full::new(Bytes::from(json))).expect("valid response"))
}

fn issue(state: &State, body: &[u8]) -> (StatusCode, String) {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    let granted = field("grant_type") == Some("client_credentials")
        && field("client_id") == Some(CLIENT_ID)
        && field("client_secret") == Some(CLIENT_SECRET);
    if !granted {
        return (StatusCode::UNAUTHORIZED, r#"{"error": "invalid_client"}"#.to_owned());
    }
    let lifetime = *state.lifetime.lock().expect("lifetime lock");
    let token = format!("tok-{}-{:016x}", state.issued.fetch_add(1, Ordering::SeqCst), rand_bits());
    state.tokens.lock().expect("tokens lock").push((token.clone(), Instant::now() + lifetime));
    let json =
        format!(r#"{{"access_token": "{token}", "token_type": "Bearer", "expires_in": {}}}"#, lifetime.as_secs());
    (StatusCode::OK, json)
}

/// Bits that make tokens unguessable enough for a test, from the clock.
fn rand_bits() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    (nanos as u64).rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15
}
