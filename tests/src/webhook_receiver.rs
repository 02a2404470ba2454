//! A webhook receiver on loopback: it keeps every request (path, query, headers, body) and answers each with the
//! next status (and body) of a script, then 200 `ok`, so tests can check payloads, signatures and retries.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Request path.
    pub path: String,
    /// The query, without `?` (empty when there is none).
    pub query: String,
    /// Headers as `(lower-case name, value)`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(header, _)| header == name).map(|(_, value)| value.as_str())
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    script: VecDeque<(u16, &'static str)>,
}

/// A running receiver; it stops when dropped.
pub struct WebhookReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept_loop: JoinHandle<()>,
}

impl WebhookReceiver {
    /// Starts a receiver on `127.0.0.1:0` that answers the first requests with the statuses of `script`, then
    /// 200; every body says `ok`.
    pub async fn start(script: &[u16]) -> Self {
        let script: Vec<(u16, &'static str)> = script.iter().map(|status| (*status, "ok")).collect();
        Self::answering(&script).await
    }

    /// Starts a receiver on `127.0.0.1:0` that answers the first requests with the statuses and bodies of
    /// `script`, then 200 `ok`.
    pub async fn answering(script: &[(u16, &'static str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the webhook receiver");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State { received: Vec::new(), script: script.iter().copied().collect() }));
        let shared = state.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| receive(state.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state, accept_loop }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("receiver lock").received.clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn receive(state: Arc<Mutex<State>>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let body = request.into_body().collect().await.map(|body| body.to_bytes().to_vec()).unwrap_or_default();
    let status = {
        let mut state = state.lock().expect("receiver lock");
        state.received.push(Received { path, query, headers, body });
        state.script.pop_front().unwrap_or((200, "ok"))
    };
    let (status, answer) = status;
    let mut response = Response::new(Full::new(Bytes::from_static(answer.as_bytes())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Ok(response)
}
