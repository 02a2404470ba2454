//! A vendor status page on loopback speaking the Atlassian Statuspage API: `/api/v2/incidents.json` and
//! `/api/v2/scheduled-maintenances.json` answer with the documents the test set, or with the status it set to
//! make the page fail; every other path is a 404. It counts the requests it answered.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Default)]
struct Page {
    incidents: Vec<Value>,
    maintenances: Vec<Value>,
    failing: Option<u16>,
    requests: u64,
}

/// A running status page; it stops when dropped.
pub struct StatusPageServer {
    /// Where it listens.
    pub addr: SocketAddr,
    page: Arc<Mutex<Page>>,
    accept_loop: JoinHandle<()>,
}

impl StatusPageServer {
    /// Starts a page on `127.0.0.1:0` that declares nothing.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the status page");
        let addr = listener.local_addr().expect("local address");
        let page = Arc::new(Mutex::new(Page::default()));
        let shared = page.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let page = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(page.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, page, accept_loop }
    }

    /// The page's address, as a contract names it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Declares these incidents and maintenances (Statuspage objects) from now on, and answers again.
    pub fn declare(&self, incidents: Vec<Value>, maintenances: Vec<Value>) {
        let mut page = self.page.lock().expect("page lock");
        (page.incidents, page.maintenances, page.failing) = (incidents, maintenances, None);
    }

    /// Answers every request with `status` from now on.
    pub fn fail_with(&self, status: u16) {
        self.page.lock().expect("page lock").failing = Some(status);
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.page.lock().expect("page lock").requests
    }
}

impl Drop for StatusPageServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn answer(page: Arc<Mutex<Page>>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = {
        let mut page = page.lock().expect("page lock");
        page.requests += 1;
        let header = json!({ "id": "loopback", "name": "Loopback Inc.", "url": "http://127.0.0.1" });
        match (page.failing, request.uri().path()) {
            (Some(status), _) => (status, "unavailable".to_owned()),
            (None, "/api/v2/incidents.json") => {
                (200, json!({ "page": header, "incidents": page.incidents }).to_string())
            }
            (None, "/api/v2/scheduled-maintenances.json") => {
                (200, json!({ "page": header, "scheduled_maintenances": page.maintenances }).to_string())
            }
            (None, _) => (404, "not found".to_owned()),
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/json"));
    Ok(response)
}
