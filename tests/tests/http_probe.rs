//! The HTTP(S) probe against real servers on loopback: every expectation, every error kind, phases and TLS, and
//! multi-step checks against an OAuth-like API.

use std::time::Duration;

use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::A;
use slaprobe_agent::probe::ProbeContext;
use slaprobe_tests::agent::{assert_failed, probe, probe_with};
use slaprobe_tests::certs::CaFile;
use slaprobe_tests::dns_server::{DnsServer, Zone};
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::oauth_server::{CLIENT_ID, CLIENT_SECRET, OauthServer};
use slaprobe_tests::ports::closed_port;
use slaprobe_tests::proxy::Proxy;
use slaprobe_tests::tcp_server::TcpServer;

fn check(url: &str, http: &str) -> String {
    let http = if http.is_empty() { String::new() } else { format!(", http: {{ {http} }}") };
    format!("{{ id: web, kind: http, target: \"{url}\", interval: 10s, timeout: 3s{http} }}")
}

#[tokio::test]
async fn success_records_status_version_and_phases() {
    let server = HttpServer::start().await;
    let result = probe(&check(&server.url("/"), "")).await;
    assert!(result.ok, "{result:?}");
    let http = result.http.expect("http detail");
    assert_eq!(http.status, Some(200));
    assert_eq!(http.version.as_deref(), Some("HTTP/1.1"));
    assert_eq!(http.body_bytes, Some(2));
    assert_eq!(http.remote_addr, Some(server.addr.to_string()));
    assert_eq!(http.final_url, Some(server.url("/")));
    let phases = result.phases_ms;
    assert!(phases.dns.is_none(), "an IP literal needs no lookup");
    assert!(phases.connect.is_some() && phases.ttfb.is_some() && phases.transfer.is_some());
    assert!(phases.tls.is_none());
    assert!(result.duration_ms.expect("duration") >= phases.ttfb.expect("ttfb"));
}

/// The bound holds on a loaded 2-core machine; the typical overhead is measured by `bench_agent`.
#[tokio::test]
async fn a_failed_attempt_keeps_what_the_server_said_without_the_checks_secrets() {
    let server = HttpServer::start().await;
    let url = format!("{}?api_key=query-secret-123", server.url("/unavailable"));
    let result = probe(&check(&url, "headers: { Authorization: \"Bearer header-secret-456\" }")).await;
    assert_failed(&result, "http_status", "got 503");
    let http = result.http.clone().expect("http detail");
    assert_eq!(http.status_line.as_deref(), Some("HTTP/1.1 503 Service Unavailable"));
    for header in ["retry-after: 30", "set-cookie: [redacted]", "x-echo: [redacted]"] {
        assert!(http.headers.iter().any(|line| line == header), "{header:?} in {:?}", http.headers);
    }
    let body = http.body_head.expect("the start of the body");
    assert!(
        body.starts_with(
            "upstream unavailable; you sent /unavailable?api_key=[redacted] with Authorization: [redacted]\n"
        ),
        "{body}"
    );
    assert!(body.len() <= 2048 + 32 && body.len() >= 2000, "about 2 KiB of the 3 KiB body: {}", body.len());
    let stored = serde_json::to_string(&result).unwrap();
    for secret in ["header-secret-456", "query-secret-123", "c0ffee-session-id"] {
        assert!(!stored.contains(secret), "{secret} leaked into {stored}");
    }
    assert_eq!(slaprobe_proto::capture::check_bounds(&result), Ok(()));
    // An assertion quotes what the server sent; the echoed secret is taken out of the error message too.
    let quoted = probe(&check(
        &url,
        "headers: { Authorization: \"Bearer header-secret-456\" }, \
         expect: { status: [503], header_regex: { x-echo: \"^nothing$\" } }",
    ))
    .await;
    assert_failed(&quoted, "assertion", "header x-echo: \"[redacted]\" does not match");

    let passed = probe(&check(&server.url("/"), "")).await.http.expect("http detail");
    assert!(passed.status_line.is_none() && passed.headers.is_empty() && passed.body_head.is_none(), "{passed:?}");
}

#[tokio::test]
async fn ttfb_covers_the_servers_delay_and_little_more() {
    let server = HttpServer::start_on_own_thread();
    let result = probe(&check(&server.url("/delay/150"), "")).await;
    assert!(result.ok, "{result:?}");
    let ttfb = result.phases_ms.ttfb.expect("ttfb");
    // The server reports how long it really held the request (its sleep may overshoot 150 ms by a timer tick).
    let held_ms = server.last_delay_us() as f64 / 1000.0;
    assert!(held_ms >= 150.0);
    assert!(ttfb >= held_ms, "ttfb {ttfb} ms is shorter than the {held_ms} ms the server held the request");
    assert!(ttfb - held_ms < 25.0, "ttfb {ttfb} ms is more than 25 ms above the server's {held_ms} ms");
}

#[tokio::test]
async fn every_attempt_opens_a_fresh_connection() {
    let server = HttpServer::start().await;
    for _ in 0..3 {
        assert!(probe(&check(&server.url("/"), "")).await.ok);
    }
    assert_eq!((server.connections(), server.requests()), (3, 3));
}

#[tokio::test]
async fn status_expectations() {
    let server = HttpServer::start().await;
    let result = probe(&check(&server.url("/status/503"), "")).await;
    assert_failed(&result, "http_status", "got 503 Service Unavailable, expected 200-299");
    assert_eq!(result.http.and_then(|http| http.status), Some(503));
    let accepted = probe(&check(&server.url("/status/404"), "expect: { status: [\"200-299\", 404] }")).await;
    assert!(accepted.ok, "{accepted:?}");
}

#[tokio::test]
async fn redirects_are_followed_on_fresh_connections_up_to_the_limit() {
    let server = HttpServer::start().await;
    let result = probe(&check(&server.url("/redirect/3"), "")).await;
    assert!(result.ok, "{result:?}");
    let http = result.http.expect("http detail");
    assert_eq!((http.redirects, http.final_url), (3, Some(server.url("/redirect/0"))));
    assert_eq!(server.connections(), 4);

    let limited = probe(&check(&server.url("/redirect/3"), "max_redirects: 2")).await;
    assert_failed(&limited, "http", "more than 2 redirects");

    let unfollowed = probe(&check(&server.url("/redirect/1"), "follow_redirects: false")).await;
    assert_failed(&unfollowed, "http_status", "got 302 Found");
}

#[tokio::test]
async fn method_body_headers_and_see_other() {
    let server = HttpServer::start().await;
    let posted =
        probe(&check(&server.url("/method"), "method: POST, body: hello, expect: { body_regex: \"^POST hello$\" }"))
            .await;
    assert!(posted.ok, "{posted:?}");
    let see_other =
        probe(&check(&server.url("/see-other"), "method: POST, body: hello, expect: { body_regex: \"^GET $\" }")).await;
    assert!(see_other.ok, "a 303 turns POST into a body-less GET: {see_other:?}");
}

#[tokio::test]
async fn header_and_body_assertions() {
    let server = HttpServer::start().await;
    let url = server.url("/header/x-env/prod");
    assert!(probe(&check(&url, "expect: { header_regex: { x-env: \"^prod$\" } }")).await.ok);
    let wrong = probe(&check(&url, "expect: { header_regex: { x-env: \"^dev$\" } }")).await;
    assert_failed(&wrong, "assertion", "header x-env: \"prod\" does not match /^dev$/");
    let missing = probe(&check(&url, "expect: { header_regex: { x-other: \".\" } }")).await;
    assert_failed(&missing, "assertion", "no x-other header");
    let body = probe(&check(&server.url("/body/degraded"), "expect: { body_regex: \"^healthy\" }")).await;
    assert_failed(&body, "assertion", "body does not match /^healthy/ (it begins \"degraded\")");
}

#[tokio::test]
async fn slow_and_timed_out_attempts() {
    let server = HttpServer::start().await;
    let slow = probe(&check(&server.url("/delay/200"), "expect: { max_latency: 50ms }")).await;
    assert_failed(&slow, "slow", "above max_latency 50ms");
    let yaml =
        format!("{{ id: web, kind: http, target: \"{}\", interval: 10s, timeout: 300ms }}", server.url("/delay/3000"));
    let timed_out = probe(&yaml).await;
    assert_failed(&timed_out, "timeout", "no complete answer within 300ms (while waiting for the response from");
    let duration = timed_out.duration_ms.expect("duration");
    assert!((300.0..400.0).contains(&duration), "a timed-out attempt took {duration} ms");
}

#[tokio::test]
async fn refused_and_dropped_connections() {
    let refused = probe(&check(&format!("http://{}/", closed_port()), "")).await;
    assert_failed(&refused, "connect", "connection refused");
    let dropping = TcpServer::closing().await;
    let dropped = probe(&check(&format!("http://{}/", dropping.addr), "")).await;
    // Closed or reset, depending on whether the request arrived before the server hung up.
    assert_failed(&dropped, "http", "the connection before sending a complete response");
}

#[tokio::test]
async fn names_resolve_through_the_configured_resolver() {
    let dns = DnsServer::start(Zone::new().with("api.test.", RData::A(A("127.0.0.1".parse().unwrap())))).await;
    let server = HttpServer::start().await;
    let context = ProbeContext::with_nameserver(None, dns.addr);
    let result = probe_with(&context, &check(&format!("http://api.test:{}/", server.addr.port()), "")).await;
    assert!(result.ok, "{result:?}");
    assert!(result.phases_ms.dns.is_some(), "a name lookup records the dns phase");
    let missing = probe_with(&context, &check(&format!("http://missing.test:{}/", server.addr.port()), "")).await;
    assert_failed(&missing, "dns", "cannot resolve missing.test");
}

#[tokio::test]
async fn https_with_a_trusted_ca_reports_tls_facts_and_uses_h2() {
    let CaFile { ca, path: ca_file, dir: _dir } = CaFile::new();
    let server = HttpServer::start_tls(ca.server_cert(-1, 90).server_config(&[b"h2", b"http/1.1"])).await;
    let result = probe(&check(&server.url("/version"), &format!("ca_file: \"{}\"", ca_file.display()))).await;
    assert!(result.ok, "{result:?}");
    assert!(result.phases_ms.tls.is_some());
    let http = result.http.expect("http detail");
    assert_eq!(http.version.as_deref(), Some("HTTP/2"));
    assert_eq!(http.tls_version.as_deref(), Some("TLSv1.3"));
    let expires = http.cert_expires_at.expect("certificate expiry");
    let days_left = (expires.as_second() - jiff::Timestamp::now().as_second()) / 86_400;
    assert!((88..=90).contains(&days_left), "leaf expires in {days_left} days");
}

#[tokio::test]
async fn certificate_problems() {
    let CaFile { ca, path, dir: _dir } = CaFile::new();
    let ca_file = format!("ca_file: \"{}\"", path.display());
    let server = HttpServer::start_tls(ca.server_cert(-1, 90).server_config(&[b"http/1.1"])).await;

    let untrusted = probe(&check(&server.url("/"), "")).await;
    assert_failed(&untrusted, "tls", "tls: certificate signed by an unknown authority");
    let unverified = probe(&check(&server.url("/"), "tls_verify: false")).await;
    assert!(unverified.ok, "{unverified:?}");

    let expired_server = HttpServer::start_tls(ca.server_cert(-30, -3).server_config(&[b"http/1.1"])).await;
    let expired = probe(&check(&expired_server.url("/"), &ca_file)).await;
    assert_failed(&expired, "tls", "tls: certificate expired");
    // The handshake was refused for its certificate, and the result still shows the chain the server presented.
    let presented = expired.http.expect("http detail").certificates;
    let leaf = presented.first().expect("the certificates of a refused handshake");
    assert!(leaf.not_after < jiff::Timestamp::now() && !leaf.issuer.is_empty(), "{presented:?}");

    let expiring_server = HttpServer::start_tls(ca.server_cert(-1, 10).server_config(&[b"http/1.1"])).await;
    let expiring =
        probe(&check(&expiring_server.url("/"), &format!("{ca_file}, expect: {{ cert_min_days: 30 }}"))).await;
    assert_failed(&expiring, "cert_expiry", "fewer than 30");
    let presented = expiring.http.expect("http detail").certificates;
    let leaf = presented.first().expect("the certificates the server presented");
    let days_left = (leaf.not_after.as_second() - jiff::Timestamp::now().as_second()) / 86_400;
    assert!((8..=10).contains(&days_left) && !leaf.subject.is_empty() && !leaf.issuer.is_empty(), "{presented:?}");
}

#[tokio::test]
async fn through_a_proxy_for_http_and_https() {
    let proxy = Proxy::start().await;
    let plain = HttpServer::start().await;
    let result = probe(&check(
        &plain.url("/body/via-proxy"),
        &format!("proxy: \"{}\", expect: {{ body_regex: via-proxy }}", proxy.url()),
    ))
    .await;
    assert!(result.ok, "{result:?}");
    assert_eq!(result.http.and_then(|http| http.remote_addr), Some(proxy.addr.to_string()));

    let CaFile { ca, path: ca_file, dir: _dir } = CaFile::new();
    let secure = HttpServer::start_tls(ca.server_cert(-1, 90).server_config(&[b"http/1.1"])).await;
    let tunnelled =
        probe(&check(&secure.url("/"), &format!("proxy: \"{}\", ca_file: \"{}\"", proxy.url(), ca_file.display())))
            .await;
    assert!(tunnelled.ok, "{tunnelled:?}");
    assert!(tunnelled.phases_ms.tls.is_some());
    assert_eq!(proxy.handled(), 2);

    let refused = probe(&check(&plain.url("/"), &format!("proxy: \"http://{}\"", closed_port()))).await;
    assert_failed(&refused, "connect", "connection refused");
}

#[tokio::test]
async fn client_certificates_for_mutual_tls() {
    let CaFile { ca, path: ca_file, dir } = CaFile::new();
    let (cert, key) = ca.write_client_identity(dir.path());
    let server = HttpServer::start_tls(ca.server_config_requiring_clients(&ca.server_cert(-1, 90))).await;
    let with_identity = format!(
        "ca_file: \"{}\", client_cert: \"{}\", client_key: \"{}\"",
        ca_file.display(),
        cert.display(),
        key.display()
    );
    let result = probe(&check(&server.url("/"), &with_identity)).await;
    assert!(result.ok, "{result:?}");
    let anonymous = probe(&check(&server.url("/"), &format!("ca_file: \"{}\"", ca_file.display()))).await;
    assert!(!anonymous.ok, "the server demands a client certificate: {anonymous:?}");
}

fn oauth_flow(server: &OauthServer, extra_step: &str) -> String {
    format!(
        "{{ id: flow, kind: http, target: \"{}\", interval: 30s, http: {{ headers: {{ X-Client: slaprobe }}, steps: [\
         {{ name: login, url: \"{}\", method: POST, headers: {{ Content-Type: application/x-www-form-urlencoded }}, \
         body: \"grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}\", \
         expect: {{ status: [200] }}, capture: {{ token: {{ json: /access_token }}, kind: {{ regex: '\"token_type\": \"(\\w+)\"' }}, \
         type: {{ header: content-type }} }} }}, \
         {{ name: balance, headers: {{ Authorization: \"${{steps.login.kind}} ${{steps.login.token}}\" }}, \
         expect: {{ body_regex: balance }} }}{extra_step} ] }} }}",
        server.url("/v1/balance"),
        server.url("/oauth/token"),
    )
}

#[tokio::test]
async fn multi_step_checks_carry_a_token_from_step_to_step_and_never_record_it() {
    let server = OauthServer::start().await;
    let result = probe(&oauth_flow(&server, "")).await;
    assert!(result.ok, "{result:?}");
    let http = result.http.as_ref().expect("http detail");
    let steps: Vec<(&str, Option<u16>, bool)> =
        http.steps.iter().map(|step| (step.name.as_str(), step.status, step.ok)).collect();
    assert_eq!(steps, [("login", Some(200), true), ("balance", Some(200), true)]);
    for step in &http.steps {
        assert!(step.phases_ms.connect.is_some() && step.phases_ms.ttfb.is_some(), "{step:?}");
    }
    let total_ttfb: f64 = http.steps.iter().filter_map(|step| step.phases_ms.ttfb).sum();
    assert!((result.phases_ms.ttfb.unwrap() - total_ttfb).abs() < 0.01, "phases add up: {result:?}");
    assert_eq!(http.final_url.as_deref(), Some(server.url("/v1/balance").as_str()));

    // Tokens expire: the API step fails, named, and nothing the result keeps shows the token or the secret.
    server.issue_for(Duration::ZERO);
    let expired = probe(&oauth_flow(&server, "")).await;
    assert_failed(&expired, "http_status", "http_status: step \"balance\" (2 of 2): got 401 Unauthorized");
    let recorded = serde_json::to_string(&expired).unwrap();
    let token = server.issued().pop().expect("a token was issued");
    assert!(!recorded.contains(&token), "the captured token is never recorded: {recorded}");
    assert!(!recorded.contains(CLIENT_SECRET), "{recorded}");
    let http = expired.http.expect("http detail");
    assert!(http.body_head.as_deref().is_some_and(|body| body.contains("token [redacted] is expired")), "{http:?}");
    assert_eq!(http.steps.iter().map(|step| step.ok).collect::<Vec<_>>(), [true, false]);

    // A capture that finds nothing fails its step.
    server.issue_for(Duration::from_secs(3600));
    let missing = probe(&oauth_flow(
        &server,
        &format!(
            ", {{ name: again, url: \"{}\", headers: {{ Authorization: \"Bearer ${{steps.login.token}}\" }}, \
             capture: {{ id: {{ json: /account/id }} }} }}",
            server.url("/v1/balance")
        ),
    ))
    .await;
    assert_failed(
        &missing,
        "assertion",
        "assertion: step \"again\" (3 of 3): capture id: the JSON body has nothing at /account/id",
    );
}

#[tokio::test]
async fn a_step_that_cannot_log_in_ends_the_attempt() {
    let server = OauthServer::start().await;
    let flow = oauth_flow(&server, "").replace(CLIENT_SECRET, "wrong-secret-value");
    let result = probe(&flow).await;
    assert_failed(&result, "http_status", "http_status: step \"login\" (1 of 2): got 401 Unauthorized");
    let http = result.http.expect("http detail");
    assert_eq!(http.steps.len(), 1, "the second step never ran: {http:?}");
    assert!(!serde_json::to_string(&http).unwrap().contains("wrong-secret-value"));
}

#[test]
fn step_references_are_checked_when_the_checks_are_read() {
    let yaml = "{ id: f, kind: http, target: \"http://127.0.0.1:1/\", interval: 30s, http: { method: POST, steps: [\
        { name: login, capture: { token: { json: access_token }, both: { json: /a, header: x } } },\
        { name: login, headers: { Authorization: \"Bearer ${steps.login.tokn}\" }, url: \"ftp://${steps.nope.x}\" } ] } }";
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let problems = slaprobe_checks::parse_checks(serde_yaml_ng::Value::Sequence(vec![value]), "checks").unwrap_err();
    let text = problems.join("\n");
    for part in [
        "checks[0].http.steps: with steps, method, body and expect belong to each step",
        "checks[0].http.steps[0].capture.token.json: \"access_token\" is not a JSON pointer",
        "checks[0].http.steps[0].capture.both: give exactly one of json, header and regex",
        "checks[0].http.steps[1].name: duplicate step name \"login\"",
        "checks[0].http.steps[1].headers.Authorization: `${steps.login.tokn}`: step login captures no tokn",
        "checks[0].http.steps[1].url: `${steps.nope.x}` names no earlier step (earlier: login)",
    ] {
        assert!(text.contains(part), "{part:?} missing from:\n{text}");
    }
}
