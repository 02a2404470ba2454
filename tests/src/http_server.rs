//! An HTTP(S) server on loopback whose paths decide the response, for probe tests and benchmarks.
//!
//! | path | response |
//! | --- | --- |
//! | `/` | 200 `ok`, or the status set with [`HttpServer::fail_with`] (for every client, or only for those sending from the addresses given to [`HttpServer::fail_from`]) |
//! | `/status/{code}` | that status |
//! | `/delay/{ms}` | 200 after sleeping; `x-processing-us` says how long the server really spent |
//! | `/redirect/{n}` | 302 to `/redirect/{n-1}`, and 200 at 0 |
//! | `/redirect-to/{port}/{path…}` | 302 to `http://127.0.0.1:{port}/{path…}` (another origin) |
//! | `/see-other` | 303 to `/method` |
//! | `/method` | 200 with `METHOD body` |
//! | `/body/{text}` | 200 with that text |
//! | `/header/{name}/{value}` | 200 with that response header |
//! | `/version` | 200 with the request's HTTP version |
//! | `/unavailable` | 503 with `retry-after`, a session cookie, the request's `Authorization` echoed in `x-echo`, and a 3 KiB body that echoes it and the request's path and query first |
//!
//! It counts accepted connections and requests, so tests can tell that every attempt used a fresh connection.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// A running test server; it stops when dropped.
pub struct HttpServer {
    /// Where it listens.
    pub addr: SocketAddr,
    tls: bool,
    counters: Arc<Counters>,
    accept_loop: JoinHandle<()>,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    last_delay_us: AtomicU64,
    /// When not zero, `/` answers with this status.
    forced_status: AtomicU16,
    /// When not empty, only requests from these addresses get `forced_status`.
    failing_sources: std::sync::Mutex<Vec<IpAddr>>,
}

impl HttpServer {
    /// Starts a plain HTTP server on `127.0.0.1:0`.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Starts a plain HTTP server on a thread and runtime of its own, so that what it does never delays the
    /// caller's tasks (and the other way round): for tests that time a probe against it.
    pub fn start_on_own_thread() -> Self {
        let (started, server) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("server runtime");
            runtime.block_on(async {
                let _ = started.send(Self::start().await);
                std::future::pending::<()>().await;
            });
        });
        server.recv().expect("the server thread started")
    }

    /// Starts an HTTPS server presenting `config`'s certificate.
    pub async fn start_tls(config: Arc<ServerConfig>) -> Self {
        Self::start_with(Some(config)).await
    }

    async fn start_with(tls: Option<Arc<ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind HTTP test server");
        let addr = listener.local_addr().expect("local addr");
        let counters = Arc::new(Counters::default());
        let is_tls = tls.is_some();
        let accept_loop = tokio::spawn(accept_loop(listener, tls.map(TlsAcceptor::from), counters.clone()));
        Self { addr, tls: is_tls, counters, accept_loop }
    }

    /// `http://127.0.0.1:PORT{path}` (or `https://`).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// How long, in microseconds, the server really held the last `/delay/{ms}` request before answering.
    pub fn last_delay_us(&self) -> u64 {
        self.counters.last_delay_us.load(Ordering::SeqCst)
    }

    /// Makes `/` answer `status` until [`HttpServer::recover`].
    pub fn fail_with(&self, status: u16) {
        self.counters.forced_status.store(status, Ordering::SeqCst);
    }

    /// Makes `/` answer `status` to requests sent from `sources` only, until [`HttpServer::recover`]: one
    /// target that is down from some regions (agents with their own `source_ip`) and up from others.
    pub fn fail_from(&self, sources: &[IpAddr], status: u16) {
        *self.counters.failing_sources.lock().expect("sources lock") = sources.to_vec();
        self.counters.forced_status.store(status, Ordering::SeqCst);
    }

    /// Makes `/` answer 200 again, to everyone.
    pub fn recover(&self) {
        self.counters.forced_status.store(0, Ordering::SeqCst);
        self.counters.failing_sources.lock().expect("sources lock").clear();
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, counters: Arc<Counters>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else { continue };
        counters.connections.fetch_add(1, Ordering::SeqCst);
        let counters = counters.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                counters.requests.fetch_add(1, Ordering::SeqCst);
                respond(request, peer.ip(), counters.clone())
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
                None => {
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                }
            }
        });
    }
}

async fn respond(
    request: Request<Incoming>,
    peer: IpAddr,
    counters: Arc<Counters>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let received = Instant::now();
    let method = request.method().clone();
    let version = request.version();
    let path = request.uri().path().to_owned();
    let path_and_query = request.uri().path_and_query().map(ToString::to_string).unwrap_or_default();
    let authorization = request.headers().get("authorization").cloned();
    let body = request.into_body().collect().await.map(|body| body.to_bytes()).unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut response = Response::builder();
    let (status, text) = match segments.as_slice() {
        ["status", code] => {
            let status = code.parse::<u16>().ok().and_then(|code| StatusCode::from_u16(code).ok());
            (status.unwrap_or(StatusCode::BAD_REQUEST), format!("status {code}"))
        }
        ["delay", millis] => {
            tokio::time::sleep(Duration::from_millis(millis.parse().unwrap_or(0))).await;
            let spent = u64::try_from(received.elapsed().as_micros()).unwrap_or(u64::MAX);
            counters.last_delay_us.store(spent, Ordering::SeqCst);
            response = response.header("x-processing-us", spent.to_string());
            (StatusCode::OK, "delayed".to_owned())
        }
        ["redirect", hops] => match hops.parse::<u32>() {
            Ok(0) => (StatusCode::OK, "redirected".to_owned()),
            Ok(hops) => {
                response = response.header("location", format!("/redirect/{}", hops - 1));
                (StatusCode::FOUND, String::new())
            }
            Err(_) => (StatusCode::BAD_REQUEST, "bad hop count".to_owned()),
        },
        ["redirect-to", port, rest @ ..] => {
            response = response.header("location", format!("http://127.0.0.1:{port}/{}", rest.join("/")));
            (StatusCode::FOUND, String::new())
        }
        ["see-other"] => {
            response = response.header("location", "/method");
            (StatusCode::SEE_OTHER, String::new())
        }
        ["method"] => (StatusCode::OK, format!("{method} {}", String::from_utf8_lossy(&body))),
        ["body", text] => (StatusCode::OK, (*text).to_owned()),
        ["header", name, value] => {
            response = response.header(*name, *value);
            (StatusCode::OK, "with header".to_owned())
        }
        ["version"] => (StatusCode::OK, format!("{version:?}")),
        ["unavailable"] => {
            let echoed = authorization.as_ref().and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned();
            response = response
                .header("retry-after", "30")
                .header("set-cookie", "session=c0ffee-session-id; HttpOnly")
                .header("x-echo", echoed.as_str());
            let text = format!("upstream unavailable; you sent {path_and_query} with Authorization: {echoed}\n");
            (StatusCode::SERVICE_UNAVAILABLE, text + &"x".repeat(3 * 1024))
        }
        _ => {
            let sources = counters.failing_sources.lock().expect("sources lock").clone();
            let forced = StatusCode::from_u16(counters.forced_status.load(Ordering::SeqCst));
            match forced {
                Ok(status) if sources.is_empty() || sources.contains(&peer) => (status, "forced failure".to_owned()),
                _ => (StatusCode::OK, "ok".to_owned()),
            }
        }
    };
    Ok(response.status(status).body(Full::new(Bytes::from(text))).expect("valid response"))
}
