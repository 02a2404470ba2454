//! The HTTP/1.1 exchange against loopback servers that answer with exactly the bytes each test writes: every
//! framing, interim answers, and each way an answer can break off.

use std::net::SocketAddr;

use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Wire, exchange, request_bytes};
use crate::probe::http::Response;
use crate::probe::{Attempt, Failure};

/// A server that reads one request head and answers `answer` (in the pieces given, flushing each), then closes;
/// the request it read comes back from the join handle.
async fn server(answer: Vec<&'static [u8]>) -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let served = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 1024];
        while !request.windows(4).any(|window| window == b"\r\n\r\n") {
            let read = socket.read(&mut buffer).await.unwrap();
            if read == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..read]);
        }
        for piece in answer {
            socket.write_all(piece).await.unwrap();
            socket.flush().await.unwrap();
            tokio::task::yield_now().await;
        }
        request
    });
    (address, served)
}

async fn get(answer: Vec<&'static [u8]>, method: Method) -> (Result<Response, Failure>, Attempt) {
    let (address, served) = server(answer).await;
    let stream = TcpStream::connect(address).await.unwrap();
    let wire = Wire { method: &method, target: "/", authority: "probe.test", body: None };
    let request = request_bytes(wire, std::iter::empty());
    let mut attempt = Attempt::default();
    let response = exchange(stream, &request, &method, 1 << 20, address, &mut attempt).await;
    served.await.unwrap();
    (response, attempt)
}

fn body_of(result: &(Result<Response, Failure>, Attempt)) -> (u16, String, u64) {
    let (response, attempt) = result;
    let response = response.as_ref().expect("a response");
    let received = attempt.http.as_ref().and_then(|http| http.body_bytes).expect("body bytes");
    (response.status.as_u16(), String::from_utf8_lossy(&response.body).into_owned(), received)
}

fn message(result: &(Result<Response, Failure>, Attempt)) -> String {
    result.0.as_ref().err().expect("a failure").message.clone()
}

#[tokio::test]
async fn a_content_length_body_is_read_to_its_length() {
    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
    assert_eq!(body_of(&get(vec![answer], Method::GET).await), (200, "hello".into(), 5));
}

#[tokio::test]
async fn a_chunked_body_is_decoded_across_reads_with_extensions_and_trailers() {
    let answer: Vec<&[u8]> = vec![
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;name=value\r\nhel",
        b"lo\r\n1",
        b"0\r\n0123456789abcdef\r\n0\r\nx-trailer: yes\r\n\r\n",
    ];
    assert_eq!(body_of(&get(answer, Method::GET).await), (200, "hello0123456789abcdef".into(), 21));
}

#[tokio::test]
async fn a_body_without_length_runs_until_the_server_closes() {
    let answer: Vec<&[u8]> = vec![b"HTTP/1.0 200 OK\r\nserver: old\r\n\r\nfirst ", b"second"];
    let result = get(answer, Method::GET).await;
    assert_eq!(body_of(&result), (200, "first second".into(), 12));
    assert_eq!(result.1.http.unwrap().version.as_deref(), Some("HTTP/1.0"));
}

#[tokio::test]
async fn head_204_and_304_answers_have_no_body_whatever_they_announce() {
    let announced = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n";
    assert_eq!(body_of(&get(vec![announced], Method::HEAD).await), (200, String::new(), 0));
    let no_content = b"HTTP/1.1 204 No Content\r\n\r\n";
    assert_eq!(body_of(&get(vec![no_content], Method::GET).await), (204, String::new(), 0));
}

#[tokio::test]
async fn interim_answers_are_read_past_and_the_reason_is_kept() {
    let answer: Vec<&[u8]> = vec![
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n",
        b"HTTP/1.1 503 Busy Now\r\ncontent-length: 2\r\n\r\nno",
    ];
    let result = get(answer, Method::GET).await;
    assert_eq!(body_of(&result), (503, "no".into(), 2));
    assert_eq!(result.1.pending.status_line.as_deref(), Some("HTTP/1.1 503 Busy Now"));
    assert!(result.1.pending.headers.unwrap().get("link").is_none(), "the headers are the final answer's");
}

#[tokio::test]
async fn a_body_cut_short_says_how_much_arrived() {
    let short = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc";
    let result = get(vec![short], Method::GET).await;
    assert_eq!(message(&result), "http: the server closed the connection after 3 bytes of the body");
    let chunk = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nabcd\r\n8\r\nab";
    let result = get(vec![chunk], Method::GET).await;
    assert_eq!(message(&result), "http: the server closed the connection after 6 bytes of the body");
}

#[tokio::test]
async fn a_head_cut_short_or_malformed_is_an_http_failure() {
    let nothing = get(vec![b"HTTP/1.1 200 O"], Method::GET).await;
    assert_eq!(message(&nothing), "http: the server closed the connection before sending a complete response");
    let garbage = get(vec![b"SSH-2.0-OpenSSH_9.2\r\n\r\n"], Method::GET).await;
    assert!(message(&garbage).starts_with("http: invalid response head: "), "{}", message(&garbage));
    let lengths =
        get(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd"], Method::GET).await;
    assert_eq!(message(&lengths), "http: invalid content-length \"4\"");
    let chunk = get(vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"], Method::GET).await;
    assert_eq!(message(&chunk), "http: invalid chunk size line (after 0 bytes of the body)");
}

#[tokio::test]
async fn the_request_carries_host_agent_close_and_the_body_length() {
    let (address, served) = server(vec![b"HTTP/1.1 204 No Content\r\n\r\n"]).await;
    let stream = TcpStream::connect(address).await.unwrap();
    let token = http::HeaderValue::from_static("Bearer t");
    let name = http::header::AUTHORIZATION;
    let wire = Wire { method: &Method::POST, target: "/login?x=1", authority: "api.test:8443", body: Some("a=b") };
    let request = request_bytes(wire, std::iter::once((&name, &token)));
    let mut attempt = Attempt::default();
    exchange(stream, &request, &Method::POST, 100, address, &mut attempt).await.unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let expected = format!(
        "POST /login?x=1 HTTP/1.1\r\nhost: api.test:8443\r\nauthorization: Bearer t\r\n\
         user-agent: slaprobe-agent/{version}\r\nconnection: close\r\ncontent-length: 3\r\n\r\na=b"
    );
    assert_eq!(String::from_utf8(served.await.unwrap()).unwrap(), expected);
}
