//! The collector's HTTP listener cannot be held or forged, tried on a real collector process over raw sockets:
//! half a request head and an idle keep-alive connection are closed after the 10 s header timeout; connections
//! past the cap are closed at once and counted; an oversized body gets 413 and a slow one 503 after the request
//! time limit; cross-site changes get 403 and the API takes the session cookie for reads only; open access on a
//! non-loopback address refuses to start unless asked for, and then answers only IP or `localhost` hosts.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slaprobe_collector::digest::token_hash;
use slaprobe_tests::agent::collector_binary;
use slaprobe_tests::collector::start_collector;
use slaprobe_tests::http_client::send;
use slaprobe_tests::ports::free_addr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN: &str = "admin-token-31c7";

fn write_config(dir: &Path, http: &str, extra: &str) -> std::path::PathBuf {
    let config = dir.join("collector.yaml");
    let yaml = format!(
        "listen: {{ grpc: \"{}\", http: \"{http}\", http_max_connections: 3, http_request_timeout: 2s }}\n\
         storage: {{ sqlite: slaprobe.db }}\n{extra}",
        free_addr()
    );
    std::fs::write(&config, yaml).unwrap();
    config
}

/// Waits until the server closes `stream`; returns how long that took, or `None` when it stays open `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + limit).into(), stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {} // a response (for the keep-alive case); keep waiting for the close
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_and_idle_clients_are_cut_off_and_the_cap_holds() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_addr();
    let config = write_config(dir.path(), &http.to_string(), "");
    let _collector = tokio::task::block_in_place(|| start_collector(&config));

    // Half a request head: closed after the 10 s header timeout, not before.
    let mut half = TcpStream::connect(http).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
    // A finished request on a keep-alive connection, then silence: closed the same way.
    let mut idle = TcpStream::connect(http).await.unwrap();
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {http}\r\n\r\n").as_bytes()).await.unwrap();
    let mut third = TcpStream::connect(http).await.unwrap();
    third.write_all(b"GET /").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The cap is 3: a fourth connection is closed at once, before it sends anything.
    let mut fourth = TcpStream::connect(http).await.unwrap();
    let refused = closed_within(&mut fourth, Duration::from_secs(2)).await;
    assert!(refused.is_some(), "a connection past the cap must be closed at once");

    let half_closed = closed_within(&mut half, Duration::from_secs(14)).await.expect("half a head is cut off");
    assert!(half_closed >= Duration::from_secs(9), "closed after {half_closed:?}, before the header timeout");
    let idle_closed = closed_within(&mut idle, Duration::from_secs(3)).await;
    assert!(idle_closed.is_some(), "an idle keep-alive connection is cut off like a slow head");
    // The third ends its request stream; once the listener has closed it, its slot is free for the next request.
    third.shutdown().await.unwrap();
    closed_within(&mut third, Duration::from_secs(5)).await.expect("the listener closes a connection the client ended");

    let metrics = send(http, "GET", "/metrics", &[], "").await;
    assert!(
        metrics.body.lines().any(|line| line == "slaprobe_collector_http_connections_refused_total 1"),
        "{}",
        metrics.body
    );

    // Bodies: too large → 413; announced but never sent → 503 after the 2 s request limit, and counted.
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let large = format!("token={}", "x".repeat(70 * 1024));
    assert_eq!(send(http, "POST", "/login", &[form], &large).await.status, 413);
    let mut slow = TcpStream::connect(http).await.unwrap();
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 100\r\nConnection: close\r\n\r\ntoken=x"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("took longer than 2s"), "{answer}");
    assert!(start.elapsed() < Duration::from_secs(5), "answered after {:?}", start.elapsed());
    let metrics = send(http, "GET", "/metrics", &[], "").await;
    assert!(metrics.body.lines().any(|line| line == "slaprobe_collector_http_requests_timed_out_total 1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_site_changes_are_refused_and_the_api_takes_cookies_for_reads_only() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_addr();
    let tokens = format!("api_tokens:\n  - {{ name: ops, role: admin, token_sha256: \"{}\" }}\n", token_hash(ADMIN));
    let config = write_config(dir.path(), &http.to_string(), &tokens);
    let _collector = tokio::task::block_in_place(|| start_collector(&config));
    let bearer = format!("Bearer {ADMIN}");
    let auth = ("Authorization", bearer.as_str());

    let fine = send(http, "POST", "/api/v1/reload", &[auth], "").await;
    assert_eq!(fine.status, 200, "automation with the bearer token: {}", fine.body);
    let same_origin = format!("http://{http}");
    let from_here = send(http, "POST", "/api/v1/reload", &[auth, ("Origin", &same_origin)], "").await;
    assert_eq!(from_here.status, 200, "{}", from_here.body);
    for foreign in [[("Origin", "http://evil.example")], [("Sec-Fetch-Site", "cross-site")], [("Origin", "null")]] {
        let refused = send(http, "POST", "/api/v1/reload", &[auth, foreign[0]], "").await;
        assert_eq!(refused.status, 403, "{foreign:?}: {}", refused.body);
        assert!(refused.body.contains("another site"), "{}", refused.body);
    }

    // The dashboard's cookie reads the API but cannot change anything through it.
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let signed_in = send(http, "POST", "/login", &[form], &format!("token={ADMIN}&next=%2F")).await;
    let cookie = signed_in.header("set-cookie").expect("a session cookie").split(';').next().unwrap().to_owned();
    let read = send(http, "GET", "/api/v1/contracts", &[("Cookie", &cookie)], "").await;
    assert_eq!(read.status, 200, "{}", read.body);
    let change = send(http, "POST", "/api/v1/reload", &[("Cookie", &cookie)], "").await;
    assert_eq!(change.status, 401, "{}", change.body);

    // After login, only local paths are followed; control characters could turn `/\t/x` into `//x`.
    for next in ["%2F%09%2Fevil.example", "%2F%5Cevil.example", "%2F%2Fevil.example", "https%3A%2F%2Fevil.example"] {
        let signed_in = send(http, "POST", "/login", &[form], &format!("token={ADMIN}&next={next}")).await;
        assert_eq!(signed_in.header("location"), Some("/"), "{next}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn open_access_beyond_loopback_must_be_asked_for_and_answers_only_ip_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_addr().port();
    let config = write_config(dir.path(), &format!("0.0.0.0:{port}"), "");
    let output = Command::new(collector_binary())
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("listen.http") && stderr.contains("allow_open_access: true"), "{stderr}");

    let config = write_config(dir.path(), &format!("0.0.0.0:{port}"), "allow_open_access: true\n");
    let _collector = tokio::task::block_in_place(|| start_collector(&config));
    let http: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(send(http, "GET", "/api/v1/contracts", &[], "").await.status, 200, "Host 127.0.0.1:port");
    let rebound = send(http, "GET", "/api/v1/contracts", &[("Host", "attacker.example")], "").await;
    assert_eq!(rebound.status, 421, "{}", rebound.body);
    let local = send(http, "GET", "/api/v1/contracts", &[("Host", &format!("localhost:{port}"))], "").await;
    assert_eq!(local.status, 200);
}
