//! The DNS and TCP probes against real servers on loopback.

use hickory_proto::rr::rdata::{A, AAAA, MX, TXT};
use hickory_proto::rr::{Name, RData};
use slaprobe_tests::agent::{assert_failed, probe};
use slaprobe_tests::certs::CaFile;
use slaprobe_tests::dns_server::{DnsServer, Zone};
use slaprobe_tests::ports::closed_port;
use slaprobe_tests::tcp_server::TcpServer;

async fn zone_server() -> DnsServer {
    let zone = Zone::new()
        .with("api.test.", RData::A(A("192.0.2.10".parse().unwrap())))
        .with("api.test.", RData::A(A("192.0.2.11".parse().unwrap())))
        .with("api.test.", RData::AAAA(AAAA("2001:db8::10".parse().unwrap())))
        .with("api.test.", RData::MX(MX::new(10, Name::from_ascii("mail.test.").unwrap())))
        .with("api.test.", RData::TXT(TXT::new(vec!["v=spf1 -all".to_owned()])));
    DnsServer::start(zone).await
}

fn dns_check(server: &DnsServer, name: &str, dns: &str) -> String {
    format!(
        "{{ id: d, kind: dns, target: {name}, interval: 10s, timeout: 1s, dns: {{ server: \"{}\", {dns} }} }}",
        server.addr
    )
}

#[tokio::test]
async fn answers_over_udp_and_tcp() {
    let server = zone_server().await;
    for protocol in ["udp", "tcp"] {
        let result = probe(&dns_check(&server, "api.test", &format!("protocol: {protocol}, record: A"))).await;
        assert!(result.ok, "{result:?}");
        let dns = result.dns.expect("dns detail");
        assert_eq!(dns.rcode.as_deref(), Some("NOERROR"));
        assert_eq!(dns.answers.len(), 2);
        assert!(dns.answers[0].contains("192.0.2.10"), "{:?}", dns.answers);
        assert_eq!(dns.server, Some(server.addr.to_string()));
        assert_eq!(dns.protocol.as_deref(), Some(protocol));
        assert!(result.phases_ms.ttfb.is_some());
        assert_eq!(result.phases_ms.connect.is_some(), protocol == "tcp");
    }
    assert_eq!(server.queries(), 2);
}

#[tokio::test]
async fn record_types_and_answer_expectations() {
    let server = zone_server().await;
    for (record, pattern) in [("AAAA", "2001:db8::10"), ("MX", "10 mail.test."), ("TXT", "v=spf1")] {
        let yaml =
            dns_check(&server, "api.test", &format!("record: {record}, expect: {{ answer_regex: \"{pattern}\" }}"));
        let result = probe(&yaml).await;
        assert!(result.ok, "{record}: {result:?}");
    }
    let too_few = probe(&dns_check(&server, "api.test", "record: A, expect: { min_answers: 3 }")).await;
    assert_failed(&too_few, "assertion", "2 A answers for api.test., expected at least 3");
    let no_match = probe(&dns_check(&server, "api.test", "expect: { answer_regex: \"203\\\\.0\\\\.113\" }")).await;
    assert_failed(&no_match, "assertion", "no answer matches");
    let empty = probe(&dns_check(&server, "api.test", "record: CAA")).await;
    assert_failed(&empty, "assertion", "0 CAA answers");
}

#[tokio::test]
async fn response_codes_and_silence() {
    let server = zone_server().await;
    let nx = probe(&dns_check(&server, "missing.test", "")).await;
    assert_failed(&nx, "dns_rcode", "answered NXDOMAIN for missing.test. A, expected NOERROR");
    let authority = nx.dns.expect("dns detail").authority;
    assert_eq!(
        authority,
        ["test. 300 IN SOA ns.test. hostmaster.test. 2026120101 3600 600 86400 300"],
        "the failure keeps the authority"
    );
    let expected_nx = probe(&dns_check(&server, "missing.test", "expect: { rcode: NXDOMAIN }")).await;
    assert!(expected_nx.ok && expected_nx.dns.is_some_and(|dns| dns.authority.is_empty()), "a pass keeps none");
    let servfail = probe(&dns_check(&server, "servfail.test", "")).await;
    assert_failed(&servfail, "dns_rcode", "answered SERVFAIL");
    assert_eq!(servfail.dns.and_then(|dns| dns.rcode).as_deref(), Some("SERVFAIL"));
    let truncated = probe(&dns_check(&server, "truncated.test", "")).await;
    assert_failed(&truncated, "dns", "truncated over UDP");
    let silent = probe(&dns_check(&server, "silent.test", "")).await;
    assert_failed(&silent, "timeout", "while waiting for the answer from");
}

fn tcp_check(target: &str, tcp: &str) -> String {
    format!("{{ id: t, kind: tcp, target: \"{target}\", interval: 10s, timeout: 1s, tcp: {{ {tcp} }} }}")
}

#[tokio::test]
async fn tcp_connect_banner_and_send() {
    let server = TcpServer::banner("220 mail.test ESMTP ready\r\n").await;
    let target = server.addr.to_string();
    let connected = probe(&tcp_check(&target, "")).await;
    assert!(connected.ok, "{connected:?}");
    assert!(connected.phases_ms.connect.is_some());
    assert_eq!(connected.tcp.and_then(|tcp| tcp.remote_addr), Some(target.clone()));

    let greeted = probe(&tcp_check(&target, "expect_regex: \"^220 \"")).await;
    assert!(greeted.ok, "{greeted:?}");
    assert_eq!(greeted.tcp.and_then(|tcp| tcp.banner).as_deref(), Some("220 mail.test ESMTP ready\r\n"));
    assert!(greeted.phases_ms.ttfb.is_some());

    // The server waits for the client after its greeting, so a non-matching banner ends in a timeout that
    // says what arrived.
    let wrong = probe(&tcp_check(&target, "expect_regex: \"^554\"")).await;
    assert_failed(&wrong, "timeout", "matching /^554/; received \"220 mail.test ESMTP ready\\r\\n\")");
    assert!(wrong.tcp.and_then(|tcp| tcp.banner).is_some());
    let closing_banner = TcpServer::banner_then_close("554 go away\r\n").await;
    let refused = probe(&tcp_check(&closing_banner.addr.to_string(), "expect_regex: \"^220\"")).await;
    assert_failed(&refused, "assertion", "banner \"554 go away\\r\\n\" does not match /^220/");

    let echo = TcpServer::banner("").await;
    let echoed = probe(&tcp_check(&echo.addr.to_string(), "send: \"PING\\n\", expect_regex: \"PING\"")).await;
    assert!(echoed.ok, "{echoed:?}");
}

#[tokio::test]
async fn tcp_failures() {
    let refused = probe(&tcp_check(&closed_port().to_string(), "")).await;
    assert_failed(&refused, "connect", "connection refused");
    let closing = TcpServer::closing().await;
    let silent = probe(&tcp_check(&closing.addr.to_string(), "expect_regex: \"^220\"")).await;
    assert_failed(&silent, "assertion", "closed the connection without sending anything");
}

#[tokio::test]
async fn tcp_over_tls() {
    let CaFile { ca, path: ca_file, dir: _dir } = CaFile::new();
    let server = TcpServer::tls_banner("* OK IMAP ready\r\n", ca.server_cert(-1, 40).server_config(&[])).await;
    let target = server.addr.to_string();
    let yaml =
        tcp_check(&target, &format!("tls: true, ca_file: \"{}\", expect_regex: \"^\\\\* OK\"", ca_file.display()));
    let result = probe(&yaml).await;
    assert!(result.ok, "{result:?}");
    assert!(result.phases_ms.tls.is_some());
    let tcp = result.tcp.expect("tcp detail");
    assert_eq!(tcp.tls_version.as_deref(), Some("TLSv1.3"));
    assert!(tcp.cert_expires_at.is_some());
    let untrusted = probe(&tcp_check(&target, "tls: true")).await;
    assert_failed(&untrusted, "tls", "unknown authority");
}

#[tokio::test]
async fn probes_leave_from_the_configured_source_ip() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let peer = tokio::spawn(async move { listener.accept().await.map(|(_, peer)| peer.ip()) });
    let context = slaprobe_agent::probe::ProbeContext::new(Some("127.0.0.2".parse().unwrap()), &system_resolver());
    let result = slaprobe_tests::agent::probe_with(&context, &tcp_check(&target, "")).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(peer.await.unwrap().unwrap().to_string(), "127.0.0.2");

    // An address this host does not have cannot be bound: no packet leaves, and the result says why.
    let foreign = slaprobe_agent::probe::ProbeContext::new(Some("192.0.2.1".parse().unwrap()), &system_resolver());
    let result = slaprobe_tests::agent::probe_with(&foreign, &tcp_check(&target, "")).await;
    assert_failed(&result, "connect", "source address not available on this host");
}

#[tokio::test]
async fn ip_version_selects_the_address_family() {
    let server = TcpServer::banner("").await;
    let port = server.addr.port();
    let v4_only = probe(&tcp_check(&format!("127.0.0.1:{port}"), "ip_version: \"6\"")).await;
    assert_failed(&v4_only, "connect", "127.0.0.1 does not match ip_version");

    let zone = Zone::new()
        .with("dual.test.", RData::A(A("127.0.0.1".parse().unwrap())))
        .with("dual.test.", RData::AAAA(AAAA("::1".parse().unwrap())));
    let dns = DnsServer::start(zone).await;
    let context = slaprobe_agent::probe::ProbeContext::with_nameserver(None, dns.addr);
    let v4 = slaprobe_tests::agent::probe_with(&context, &tcp_check(&format!("dual.test:{port}"), "ip_version: \"4\""))
        .await;
    assert!(v4.ok, "{v4:?}");
    assert_eq!(v4.tcp.and_then(|tcp| tcp.remote_addr), Some(format!("127.0.0.1:{port}")));
    let v6 = slaprobe_tests::agent::probe_with(&context, &tcp_check(&format!("dual.test:{port}"), "ip_version: \"6\""))
        .await;
    // The server listens on IPv4 only, so the IPv6 attempt is refused: what matters is where it went.
    assert_eq!(v6.tcp.and_then(|tcp| tcp.remote_addr), Some(format!("[::1]:{port}")));
}

fn system_resolver() -> std::path::PathBuf {
    std::path::PathBuf::from("/etc/resolv.conf")
}

/// `resolv_conf` names the resolver configuration: a file of the test's own pointing at the loopback DNS server
/// (port 53 of an address of its own, since resolv.conf cannot name a port). Names resolve through it, a DNS check
/// without `dns.server` asks its nameserver, and with `source_ip` both the lookups and the probes leave from there.
#[tokio::test]
async fn the_resolver_configuration_file_is_the_agents_own_and_lookups_leave_from_source_ip() {
    let http = slaprobe_tests::http_server::HttpServer::start().await;
    let zone = Zone::new().with("vendor.test.", RData::A(A("127.0.0.1".parse().unwrap())));
    let nameserver: std::net::IpAddr = "127.77.0.53".parse().unwrap();
    let dns = DnsServer::start_on_port_53(zone, nameserver).await;
    let dir = tempfile::tempdir().unwrap();
    let resolv_conf = dir.path().join("resolv.conf");
    std::fs::write(&resolv_conf, format!("# the test's own\nnameserver {nameserver}\noptions timeout:2\n")).unwrap();
    let source: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let context = slaprobe_agent::probe::ProbeContext::new(Some(source), &resolv_conf);

    // The HTTP server answers 503 to this source only, so the status shows where the probe came from.
    http.fail_from(&[source], 503);
    let url = format!("http://vendor.test:{}/", http.addr.port());
    let yaml = format!("{{ id: web, kind: http, target: \"{url}\", interval: 10s, timeout: 5s }}");
    let result = slaprobe_tests::agent::probe_with(&context, &yaml).await;
    assert_eq!(result.http.as_ref().and_then(|http| http.status), Some(503), "{result:?}");
    assert!(result.phases_ms.dns.is_some(), "the name was looked up");

    let check = "{ id: lookup, kind: dns, target: vendor.test, interval: 10s, timeout: 5s }";
    let lookup = slaprobe_tests::agent::probe_with(&context, check).await;
    assert!(lookup.ok, "{lookup:?}");
    let detail = lookup.dns.expect("dns detail");
    assert_eq!(detail.server.as_deref(), Some("127.77.0.53:53"), "the configuration's nameserver");
    assert_eq!(detail.answers.len(), 1, "{detail:?}");
    let sources = dns.sources();
    assert!(sources.len() >= 2 && sources.iter().all(|ip| *ip == source), "queries came from {sources:?}");

    // A configuration that cannot be read fails name lookups with a reason naming the file; IP literals still work.
    let missing = dir.path().join("missing.conf");
    let broken = slaprobe_agent::probe::ProbeContext::new(None, &missing);
    let result = slaprobe_tests::agent::probe_with(&broken, &yaml).await;
    assert_failed(&result, "dns", "missing.conf is unusable");
    let lookup = slaprobe_tests::agent::probe_with(&broken, check).await;
    assert_failed(&lookup, "dns", "missing.conf is unusable");
}
