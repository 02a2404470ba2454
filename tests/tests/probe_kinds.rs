//! The `tls`, `grpc` and `icmp` probe kinds against real servers on loopback: TLS servers with expired,
//! not-yet-valid, misnamed, TLS 1.2-only and stapling certificates; a gRPC health service switched between
//! SERVING and NOT_SERVING, plaintext and TLS, that wants a token; echo requests to 127.0.0.1 and ::1, and to a
//! loopback that ignores them inside a network namespace of the test's own. Config errors name their path.

use std::time::Duration;

use slaprobe_agent::config::parse_agent_config;
use slaprobe_agent::probe::{AttemptWindow, Identity, ProbeContext, run_check};
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::{AgentProcess, assert_failed, probe, run_agent, run_agent_via};
use slaprobe_tests::certs::CaFile;
use slaprobe_tests::grpc_health_server::{EXPECTED_AUTHORIZATION, GrpcHealthServer};
use slaprobe_tests::netns::NetNamespace;
use slaprobe_tests::ports::closed_port;
use slaprobe_tests::tcp_server::TcpServer;
use slaprobe_tests::wait;
use tonic_health::ServingStatus;

fn tls_check(port: u16, tls: &str) -> String {
    format!("{{ id: cert, kind: tls, target: \"127.0.0.1:{port}\", interval: 30s, tls: {{ {tls} }} }}")
}

#[tokio::test]
async fn a_valid_handshake_is_reported_in_full() {
    let CaFile { ca, path, dir: _dir } = CaFile::new();
    let server = TcpServer::tls_banner("", ca.server_cert(-1, 90).server_config(&[])).await;
    let settings = format!(
        "ca_file: \"{}\", server_name: localhost, expect: {{ cert_min_days: 30, min_version: \"1.3\" }}",
        path.display()
    );
    let result = probe(&tls_check(server.addr.port(), &settings)).await;
    assert!(result.ok, "{result:?}");
    assert!(result.phases_ms.connect.is_some() && result.phases_ms.tls.is_some(), "{:?}", result.phases_ms);
    let tls = result.tls.expect("tls detail");
    assert_eq!(tls.version.as_deref(), Some("TLSv1.3"));
    assert!(tls.cipher_suite.as_deref().is_some_and(|suite| suite.starts_with("TLS13_")), "{tls:?}");
    assert_eq!((tls.chain_valid, tls.hostname_match, tls.ocsp_stapled), (Some(true), Some(true), Some(false)));
    assert_eq!(tls.server_name.as_deref(), Some("localhost"));
    assert_eq!(tls.certificates.len(), 2, "leaf and CA: {:?}", tls.certificates);
    let days_left = (tls.cert_expires_at.expect("expiry").as_second() - jiff::Timestamp::now().as_second()) / 86_400;
    assert!((88..=90).contains(&days_left), "{days_left}");
}

#[tokio::test]
async fn chain_problems_are_reported_with_the_chain_and_judged_as_asked() {
    let CaFile { ca, path, dir: _dir } = CaFile::new();
    let ca_file = format!("ca_file: \"{}\"", path.display());
    let expired = TcpServer::tls_banner("", ca.server_cert(-30, -3).server_config(&[])).await;
    let result = probe(&tls_check(expired.addr.port(), &ca_file)).await;
    assert_failed(&result, "tls", "tls: chain not valid: certificate expired 3 days ago");
    let tls = result.tls.expect("tls detail");
    assert_eq!((tls.chain_valid, tls.hostname_match), (Some(false), Some(true)));
    assert_eq!(tls.chain_error.as_deref(), Some("certificate expired 3 days ago"));
    assert!(tls.certificates[0].not_after < jiff::Timestamp::now(), "{:?}", tls.certificates);
    // A check that only watches the handshake itself passes, still reporting the verdict.
    let lenient = probe(&tls_check(expired.addr.port(), &format!("{ca_file}, expect: {{ chain_valid: false }}"))).await;
    assert!(lenient.ok, "{lenient:?}");
    assert_eq!(lenient.tls.and_then(|tls| tls.chain_valid), Some(false));

    let early = TcpServer::tls_banner("", ca.server_cert(5, 90).server_config(&[])).await;
    assert_failed(&probe(&tls_check(early.addr.port(), &ca_file)).await, "tls", "certificate is not valid yet");

    let valid = TcpServer::tls_banner("", ca.server_cert(-1, 10).server_config(&[])).await;
    let untrusted = probe(&tls_check(valid.addr.port(), "")).await;
    assert_failed(&untrusted, "tls", "tls: chain not valid: certificate signed by an unknown authority");

    let misnamed = probe(&tls_check(valid.addr.port(), &format!("{ca_file}, server_name: api.acme.example"))).await;
    assert_failed(&misnamed, "tls", "not valid for api.acme.example (it names localhost, 127.0.0.1)");
    let tls = misnamed.tls.expect("tls detail");
    assert_eq!((tls.chain_valid, tls.hostname_match), (Some(true), Some(false)), "{tls:?}");

    let expiring = probe(&tls_check(valid.addr.port(), &format!("{ca_file}, expect: {{ cert_min_days: 30 }}"))).await;
    assert_failed(&expiring, "cert_expiry", "fewer than 30");
}

#[tokio::test]
async fn what_a_server_says_is_cut_to_the_error_bound() {
    let CaFile { ca, path, dir: _dir } = CaFile::new();
    let names: Vec<String> = (0..400).map(|index| format!("host-{index}.vendor.example")).collect();
    let server = TcpServer::tls_banner("", ca.server_cert_naming(names, -1, 90).server_config(&[])).await;
    let settings = format!("ca_file: \"{}\", server_name: api.acme.example", path.display());
    let result = probe(&tls_check(server.addr.port(), &settings)).await;
    assert_failed(&result, "tls", "tls: the certificate is not valid for api.acme.example (it names host-0.vendor");
    let error = result.error.expect("error");
    assert!(error.len() <= slaprobe_proto::capture::MAX_ERROR && error.ends_with('…'), "{} bytes", error.len());
}

#[tokio::test]
async fn versions_and_stapling_are_expectations() {
    let CaFile { ca, path, dir: _dir } = CaFile::new();
    let ca_file = format!("ca_file: \"{}\"", path.display());
    let cert = ca.server_cert(-1, 90);
    let old = TcpServer::tls_banner("", cert.tls12_only()).await;
    let accepted = probe(&tls_check(old.addr.port(), &ca_file)).await;
    assert!(accepted.ok, "{accepted:?}");
    let tls = accepted.tls.expect("tls detail");
    assert_eq!(tls.version.as_deref(), Some("TLSv1.2"));
    assert!(tls.cipher_suite.as_deref().is_some_and(|suite| suite.starts_with("TLS_ECDHE_")), "{tls:?}");
    let refused = probe(&tls_check(old.addr.port(), &format!("{ca_file}, expect: {{ min_version: \"1.3\" }}"))).await;
    assert_failed(&refused, "tls", "tls: negotiated TLSv1.2, below min_version TLSv1.3");

    let stapling = TcpServer::tls_banner("", cert.stapling(b"an OCSP response")).await;
    let stapled =
        probe(&tls_check(stapling.addr.port(), &format!("{ca_file}, expect: {{ ocsp_stapled: true }}"))).await;
    assert!(stapled.ok, "{stapled:?}");
    assert_eq!(stapled.tls.and_then(|tls| tls.ocsp_stapled), Some(true));
    let plain = TcpServer::tls_banner("", cert.server_config(&[])).await;
    let unstapled = probe(&tls_check(plain.addr.port(), &format!("{ca_file}, expect: {{ ocsp_stapled: true }}"))).await;
    assert_failed(&unstapled, "tls", "tls: the server stapled no OCSP response");

    let closed = closed_port();
    assert_failed(&probe(&tls_check(closed.address().port(), "")).await, "connect", "connection refused");
}

/// One attempt of the single check in an `agent.yaml` (so `${VAR}` expands from `variables`).
async fn probe_agent_yaml(yaml: &str, variables: &[(&str, &str)]) -> ResultRecord {
    let lookup = |name: &str| variables.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned());
    let config = parse_agent_config(yaml, "agent.yaml", &lookup).unwrap_or_else(|error| panic!("{error}"));
    let check = &config.checks[0];
    let context = ProbeContext::new(None, std::path::Path::new("/etc/resolv.conf"));
    let identity = Identity { agent_id: "test-agent".to_owned(), region: "test".to_owned() };
    let window = AttemptWindow { scheduled_at: None, started_at: jiff::Timestamp::now(), timeout: check.timeout };
    run_check(&context, check, &identity, window, std::future::pending()).await
}

fn grpc_yaml(port: u16, grpc: &str) -> String {
    format!(
        "region: test\nchecks:\n  - {{ id: pay, kind: grpc, target: \"127.0.0.1:{port}\", interval: 30s, \
         grpc: {{ metadata: {{ authorization: \"Bearer ${{PAY_TOKEN}}\" }}, {grpc} }} }}\n"
    )
}

#[tokio::test]
async fn grpc_health_passes_only_while_serving() {
    let server = GrpcHealthServer::start().await;
    let token = [("PAY_TOKEN", EXPECTED_AUTHORIZATION.trim_start_matches("Bearer "))];
    server.set("acme.Payments", ServingStatus::Serving).await;
    let serving = probe_agent_yaml(&grpc_yaml(server.addr.port(), "service: acme.Payments"), &token).await;
    assert!(serving.ok, "{serving:?}");
    assert!(serving.phases_ms.connect.is_some() && serving.phases_ms.ttfb.is_some(), "{:?}", serving.phases_ms);
    let grpc = serving.grpc.expect("grpc detail");
    assert_eq!(grpc.serving_status.as_deref(), Some("SERVING"));
    assert_eq!(grpc.service.as_deref(), Some("acme.Payments"));

    server.set("acme.Payments", ServingStatus::NotServing).await;
    let down = probe_agent_yaml(&grpc_yaml(server.addr.port(), "service: acme.Payments"), &token).await;
    assert_failed(&down, "assertion", "assertion: service \"acme.Payments\" is NOT_SERVING");
    assert_eq!(down.grpc.and_then(|grpc| grpc.serving_status).as_deref(), Some("NOT_SERVING"));

    let unknown = probe_agent_yaml(&grpc_yaml(server.addr.port(), "service: acme.Nothing"), &token).await;
    assert_failed(&unknown, "grpc", "Health/Check for service \"acme.Nothing\" failed: NOT_FOUND");
    assert_eq!(unknown.grpc.and_then(|grpc| grpc.grpc_status).as_deref(), Some("NOT_FOUND"));

    let wrong_token = [("PAY_TOKEN", "not-the-token")];
    let refused = probe_agent_yaml(&grpc_yaml(server.addr.port(), "service: \"\""), &wrong_token).await;
    assert_failed(&refused, "grpc", "failed: UNAUTHENTICATED");
    let recorded = serde_json::to_string(&refused).expect("result as JSON");
    assert!(!recorded.contains("not-the-token"), "metadata values are never recorded: {recorded}");

    let closed = closed_port();
    let nothing = probe_agent_yaml(&grpc_yaml(closed.address().port(), "service: \"\""), &token).await;
    assert_failed(&nothing, "connect", "connection refused");
}

#[tokio::test]
async fn grpc_health_over_tls() {
    let CaFile { ca, path, dir } = CaFile::new();
    let (cert_path, key_path) = ca.write_server_identity(dir.path());
    let cert = std::fs::read(cert_path).expect("server cert");
    let server = GrpcHealthServer::start_tls(&cert, &std::fs::read(key_path).expect("server key")).await;
    server.set("", ServingStatus::Serving).await;
    let token = [("PAY_TOKEN", EXPECTED_AUTHORIZATION.trim_start_matches("Bearer "))];
    let settings = format!("tls: true, ca_file: \"{}\"", path.display());
    let result = probe_agent_yaml(&grpc_yaml(server.addr.port(), &settings), &token).await;
    assert!(result.ok, "{result:?}");
    assert!(result.phases_ms.tls.is_some(), "{:?}", result.phases_ms);
    assert_eq!(result.grpc.and_then(|grpc| grpc.tls_version).as_deref(), Some("TLSv1.3"));
    let untrusted = probe_agent_yaml(&grpc_yaml(server.addr.port(), "tls: true"), &token).await;
    assert_failed(&untrusted, "tls", "certificate signed by an unknown authority");
    let plaintext = probe_agent_yaml(&grpc_yaml(server.addr.port(), "service: \"\""), &token).await;
    assert_failed(&plaintext, "grpc", "grpc:");
}

fn icmp_check(target: &str, icmp: &str) -> String {
    format!("{{ id: reach, kind: icmp, target: \"{target}\", interval: 30s, timeout: 2s, icmp: {{ {icmp} }} }}")
}

#[tokio::test]
async fn echo_replies_from_loopback() {
    for target in ["127.0.0.1", "::1"] {
        let result = probe(&icmp_check(target, "count: 4, interval: 50ms, payload_size: 100")).await;
        assert!(result.ok, "{result:?}");
        let icmp = result.icmp.expect("icmp detail");
        assert_eq!((icmp.sent, icmp.received, icmp.loss_percent), (4, 4, Some(0.0)), "{icmp:?}");
        let (min, avg, max) = (icmp.rtt_min_ms.unwrap(), icmp.rtt_avg_ms.unwrap(), icmp.rtt_max_ms.unwrap());
        assert!(0.0 < min && min <= avg && avg <= max && max < 100.0, "{icmp:?}");
        assert_eq!(icmp.remote_addr.as_deref(), Some(target));
    }
    let strict = probe(&icmp_check("127.0.0.1", "count: 2, interval: 50ms, expect: { max_rtt: 1ns }")).await;
    assert_failed(&strict, "slow", "slow: the slowest echo reply took");
}

#[test]
fn echo_requests_a_host_ignores_are_lost() {
    let namespace = NetNamespace::new();
    namespace.sysctl("net.ipv4.icmp_echo_ignore_all", "1");
    let agent = AgentProcess::start_via(
        &namespace.prefix(),
        &format!(
            "region: test\nchecks:\n  - {}\n  - {}\n",
            icmp_check("127.0.0.1", "count: 3, interval: 100ms").replace("reach", "silent").replace("30s", "3s"),
            // No reply at all fails whatever loss is allowed.
            icmp_check("127.0.0.1", "count: 2, interval: 100ms, expect: { max_loss: \"100%\" }")
                .replace("reach", "lenient")
                .replace("30s", "3s"),
        ),
    );
    wait::blocking(Duration::from_secs(15), "a result of each check", || {
        let results = agent.results();
        ["silent", "lenient"].iter().all(|id| results.iter().any(|result| result.check_id == *id))
    });
    let results = agent.results();
    let silent = results.iter().find(|result| result.check_id == "silent").expect("silent");
    assert_failed(silent, "packet_loss", "packet_loss: no reply to 3 echo requests to 127.0.0.1");
    let icmp = silent.icmp.as_ref().expect("icmp detail");
    assert_eq!((icmp.sent, icmp.received, icmp.loss_percent, icmp.rtt_avg_ms), (3, 0, Some(100.0), None));
    let lenient = results.iter().find(|result| result.check_id == "lenient").expect("lenient");
    assert_failed(lenient, "packet_loss", "packet_loss: no reply");
}

#[test]
fn icmp_needs_a_socket_and_says_which_setting_gives_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("agent.yaml");
    std::fs::write(&config, format!("region: test\nchecks:\n  - {}\n", icmp_check("127.0.0.1", "count: 1"))).unwrap();
    for path in [dir.path(), config.as_path()] {
        let mode = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    let config = config.to_str().unwrap();
    let nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"];
    let namespace = NetNamespace::new();
    namespace.sysctl("net.ipv4.ping_group_range", "1 0");
    let prefix: Vec<&str> = namespace.prefix().into_iter().chain(nobody).collect();
    let (code, _, stderr) = run_agent_via(&prefix, &["--config", config, "--check-config"]);
    assert_eq!(code, Some(64), "{stderr}");
    for part in
        ["checks[0].kind: icmp checks cannot open a socket", "net.ipv4.ping_group_range (now \"1 0\")", "CAP_NET_RAW"]
    {
        assert!(stderr.contains(part), "{part:?} missing from: {stderr}");
    }
    // With the agent's group allowed, it pings through an unprivileged datagram socket.
    namespace.sysctl("net.ipv4.ping_group_range", "0 2147483647");
    let (code, _, stderr) = run_agent_via(&prefix, &["--config", config, "--check-config"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(run_agent(&["--config", config, "--check-config"]).0, Some(0), "root has raw sockets");
}

#[test]
fn config_errors_name_their_path() {
    let yaml = "region: test\nchecks:\n\
        - { id: a, kind: tls, target: \"nowhere\", interval: 30s, tls: { expect: { min_version: \"1.1\" } } }\n\
        - { id: b, kind: grpc, target: \"127.0.0.1:1\", interval: 30s, grpc: { ca_file: /x, metadata: { \"bad header\": v } } }\n\
        - { id: c, kind: icmp, target: \"127.0.0.1\", interval: 30s, timeout: 1s, icmp: { count: 20, interval: 100ms, payload_size: 9000, expect: { max_loss: \"0.2\" } } }\n\
        - { id: d, kind: icmp, target: \"127.0.0.1\", interval: 30s, tcp: { tls: true } }\n";
    let Err(error) = parse_agent_config(yaml, "agent.yaml", &|_| None) else { panic!("the checks were accepted") };
    let error = error.to_string();
    for part in [
        "checks[0].target: \"nowhere\" is not host:port",
        "checks[0].tls.expect.min_version: \"1.1\" is not \"1.2\" or \"1.3\"",
        "checks[1].grpc.metadata.bad header: not a valid header name",
        "checks[1].grpc.tls: must be true for ca_file",
        "checks[2].icmp.interval: 20 requests 100ms apart take 1s 900ms",
        "checks[2].icmp.payload_size: 9000 is above the maximum of 1452",
        "checks[2].icmp.expect.max_loss: \"0.2\" is not a percentage",
        "checks[3].tcp: not allowed on a `kind: icmp` check",
    ] {
        assert!(error.contains(part), "{part:?} missing from:\n{error}");
    }
}
