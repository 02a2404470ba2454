//! A minimal HTTP/1.1 client for talking to the collector's HTTP listener in tests: one request per fresh
//! connection, the whole response read, status, headers and body returned as they came.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines as `(lower-case name, value)`.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Response {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(header, _)| header == name).map(|(_, value)| value.as_str())
    }
}

/// Sends `method path` with `headers` and `body` over a fresh connection to `address`; `Host` is `address`
/// unless `headers` name another.
pub async fn send(address: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect to the HTTP listener");
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {address}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.expect("send the request");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read the response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a complete HTTP response");
    let mut lines = head.lines();
    let status = lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|code| code.parse().ok());
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Response { status: status.expect("a status line"), headers, body: body.to_owned() }
}

/// `GET path`: status and body.
pub async fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let response = send(address, "GET", path, &[], "").await;
    (response.status, response.body)
}

/// The median time of five `GET path` requests, each checked to answer 200.
pub async fn median_get(address: SocketAddr, path: &str) -> std::time::Duration {
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let response = send(address, "GET", path, &[], "").await;
        times.push(started.elapsed());
        assert_eq!(response.status, 200, "{path}: {}", response.body);
    }
    times.sort();
    times[2]
}
