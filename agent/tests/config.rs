//! `agent.yaml` loading: the design's example parses, and every problem is reported at once with its path.

use std::time::Duration;

use slaprobe_agent::config::parse_agent_config;
use slaprobe_checks::ProbeSpec;

fn env(name: &str) -> Option<String> {
    (name == "ACME_TOKEN").then(|| "t0ken".to_owned())
}

const DOCUMENTED_EXAMPLE: &str = r#"
agent_id: agent-eu-1
region: eu-west
spool_dir: /var/lib/slaprobe-agent
source_ip: null
checks:
  - id: acme-api
    kind: http
    target: https://api.acme.example/health
    interval: 30s
    timeout: 10s
    regions: [eu-west, us-east]
    http:
      method: GET
      headers: { Authorization: "Bearer ${ACME_TOKEN}" }
      body: null
      follow_redirects: true
      tls_verify: true
      ip_version: any
      expect:
        status: ["200-299"]
        body_regex: null
        header_regex: {}
        max_latency: null
        cert_min_days: null
  - id: acme-dns
    kind: dns
    target: api.acme.example
    interval: 30s
    dns: { server: "192.0.2.53", record: A, protocol: udp, expect: { rcode: NOERROR, min_answers: 1, answer_regex: null } }
  - id: acme-smtp
    kind: tcp
    target: mail.acme.example:25
    interval: 1m
    regions: [us-east]
    tcp: { tls: false, send: null, expect_regex: "^220" }
"#;

#[test]
fn design_example_parses_with_defaults_and_env_expansion() {
    let config = parse_agent_config(DOCUMENTED_EXAMPLE, "agent.yaml", &env).expect("valid");
    assert_eq!(config.agent_id(), "agent-eu-1");
    assert_eq!(config.checks.len(), 3);
    let ProbeSpec::Http(http) = &config.checks[0].spec else { panic!("http spec") };
    assert_eq!(http.settings.headers()["authorization"], "Bearer t0ken");
    assert_eq!(http.settings.expect.status, vec![200..=299]);
    assert_eq!(config.checks[1].timeout, Duration::from_secs(10), "default timeout: min(10s, interval/2)");
    assert_eq!(config.checks[2].check.interval, Duration::from_secs(60));
    let region_ids: Vec<&str> = config.checks_for_region().map(|check| check.check.id.as_str()).collect();
    assert_eq!(region_ids, ["acme-api", "acme-dns"], "acme-smtp runs in us-east only");
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let text = r#"
region: EU West
max_concurrent_probes: 0
checks:
  - { id: Bad_Id, kind: http, target: "ftp://x", interval: 500ms }
  - { id: a, kind: http, target: "http://x/", interval: 10s, timeout: 10s, http: { method: "GE T", expect: { status: ["2xx", 99], body_regex: "(" } } }
  - { id: a, kind: dns, target: x.example, interval: 5s, http: {}, dns: { server: "not-an-ip", record: PTR, expect: { rcode: NOPE } } }
  - { id: c, kind: tcp, target: "host-without-port", interval: 5s, tcp: { expect_regex: "[" } }
  - { id: d, kind: http, target: "http://x/", interval: 5s, http: { headers: { X-Token: "${UNSET_VAR}" } } }
  - { id: e, kind: http, target: "http://x/", interval: 5s, colour: blue }
  - { id: f, kind: http, target: "ftp://alice:pw5ecret@x/?key=K3Y", interval: 5s }
  - { id: g, kind: tcp, target: "x:1", interval: 5s, confirm: { after: 5s, attempts: 0 } }
"#;
    let error = parse_agent_config(text, "agent.yaml", &env).expect_err("invalid");
    let expected = [
        "region: \"EU West\" must match",
        "max_concurrent_probes: must be at least 1",
        "checks[0].id: \"Bad_Id\" must match",
        "checks[0].interval: 500ms is below the minimum of 1s",
        "checks[0].target: \"ftp://x/\" is not an http:// or https:// URL",
        "checks[1].timeout: 10s must be above 0 and below the interval (10s)",
        "checks[1].http.method: \"GE T\" is not an HTTP method",
        "checks[1].http.expect.status[0]: \"2xx\" is not a status or a range",
        "checks[1].http.expect.status[1]: 99 is not a status",
        "checks[1].http.expect.body_regex: invalid regex: unclosed group",
        "checks[2].id: duplicate id \"a\"",
        "checks[2].http: not allowed on a `kind: dns` check",
        "checks[2].dns.server: \"not-an-ip\" is not an IP address",
        "checks[2].dns.record: \"PTR\" is not one of A, AAAA",
        "checks[2].dns.expect.rcode: \"NOPE\" is not one of NOERROR",
        "checks[3].target: \"host-without-port\" is not host:port",
        "checks[3].tcp.expect_regex: invalid regex",
        "checks[4].http.headers.X-Token: environment variable UNSET_VAR is not set",
        "checks[5].colour: unknown field `colour`",
        "checks[6].target: \"ftp://x/?key=…\" is not an http:// or https:// URL",
        "checks[7].confirm.after: 5s must be at least 1s and below the interval (5s)",
        "checks[7].confirm.attempts: must be from 1 to 1000",
    ];
    for part in expected {
        assert!(error.problems.iter().any(|problem| problem.contains(part)), "missing {part:?} in:\n{error}");
    }
    let shown = error.to_string();
    assert!(!shown.contains("pw5ecret") && !shown.contains("K3Y"), "credentials in a target are never shown:\n{shown}");
    assert_eq!(error.problems.len(), expected.len(), "unexpected extra problems:\n{error}");
}

#[test]
fn syntax_and_shape_errors_are_clear() {
    let syntax = parse_agent_config("region: [unclosed", "agent.yaml", &env).expect_err("invalid");
    assert!(syntax.to_string().contains("agent.yaml: 1 problem"), "{syntax}");
    let missing = parse_agent_config("agent_id: x\n", "agent.yaml", &env).expect_err("invalid");
    assert!(missing.problems[0].contains("missing field `region`"), "{missing}");
    let not_a_map = parse_agent_config("- a\n", "agent.yaml", &env).expect_err("invalid");
    assert!(not_a_map.problems[0].contains("expected a mapping"), "{not_a_map}");
    let wrong_type = parse_agent_config("region: r\nchecks: { id: a }\n", "agent.yaml", &env).expect_err("invalid");
    assert!(wrong_type.problems[0].starts_with("checks: expected a list"), "{wrong_type}");
}

#[test]
fn deploy_example_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/agent.yaml");
    let text = std::fs::read_to_string(path).expect("deploy/agent.yaml exists");
    let config =
        parse_agent_config(&text, path, &|_| Some("example".to_owned())).unwrap_or_else(|error| panic!("{error}"));
    assert!(!config.checks.is_empty());
}

#[test]
fn checks_round_trip_through_the_pushed_document() {
    let config = parse_agent_config(DOCUMENTED_EXAMPLE, "agent.yaml", &env).expect("valid");
    let document = slaprobe_checks::ChecksDocument::new(config.checks.iter().map(|prepared| &*prepared.check));
    assert_eq!(document.version, slaprobe_checks::ChecksDocument::version_of(&document.yaml));
    let again = slaprobe_checks::parse_checks_document(&document.yaml).expect("the pushed document is valid");
    let originals: Vec<_> = config.checks.iter().map(|prepared| prepared.check.clone()).collect();
    let round_tripped: Vec<_> = again.into_iter().map(|prepared| prepared.check).collect();
    assert_eq!(round_tripped, originals);
}

#[test]
fn collector_urls_and_tls_settings_are_checked() {
    let text = r#"
region: eu-west
collector: ["http://127.0.0.1:7070", "grpc://collector.example"]
token: t0ken
collector_tls: { ca_file: /nonexistent/ca.pem, cert_file: /nonexistent/agent.pem }
"#;
    let error = parse_agent_config(text, "agent.yaml", &env).expect_err("invalid");
    for part in [
        "collector: \"grpc://collector.example\" is not an http:// or https:// URL",
        "collector_tls: applies to https:// collector URLs, and none is given",
        "collector_tls: give both cert_file and key_file, or neither",
        "collector_tls.ca_file: /nonexistent/ca.pem is not a readable file",
        "collector_tls.cert_file: /nonexistent/agent.pem is not a readable file",
    ] {
        assert!(error.problems.iter().any(|problem| problem.contains(part)), "missing {part:?} in:\n{error}");
    }
}

#[test]
fn plaintext_collectors_beyond_this_machine_must_be_asked_for() {
    let config = |urls: &str, extra: &str| format!("region: eu-west\ncollector: {urls}\ntoken: t0ken\n{extra}");
    let error = parse_agent_config(&config("[\"http://collector.example:7070\"]", ""), "agent.yaml", &env)
        .expect_err("plaintext to another machine");
    assert!(
        error
            .problems
            .iter()
            .any(|problem| problem.contains("in the clear") && problem.contains("collector_insecure: true")),
        "{error}"
    );
    for local in ["[\"http://127.0.0.1:7070\"]", "[\"http://[::1]:7070\"]", "[\"http://localhost:7070\"]"] {
        parse_agent_config(&config(local, ""), "agent.yaml", &env).unwrap_or_else(|error| panic!("{local}: {error}"));
    }
    parse_agent_config(&config("[\"http://10.0.0.5:7070\"]", "collector_insecure: true\n"), "agent.yaml", &env)
        .expect("asked for explicitly");
    parse_agent_config(&config("[\"https://collector.example:7070\"]", ""), "agent.yaml", &env).expect("TLS");
}

#[test]
fn own_control_checks_are_probed_besides_pushed_checks_and_their_ids_are_their_own() {
    let text = "region: eu-west\nchecks:\n  - { id: acme-api, kind: tcp, target: \"127.0.0.1:1\", interval: 30s }\n\
                control_checks:\n  - { id: ctl-gateway, kind: tcp, target: \"127.0.0.1:2\", interval: 30s }\n";
    let config = parse_agent_config(text, "agent.yaml", &env).unwrap();
    let running: Vec<(&str, bool)> =
        config.checks_for_region().map(|check| (check.check.id.as_str(), check.check.control)).collect();
    assert_eq!(running, [("acme-api", false), ("ctl-gateway", true)]);
    let pushed = config.checks.clone();
    let with_own = slaprobe_agent::config::with_own_controls(pushed, &config.controls);
    assert_eq!(with_own.iter().map(|check| check.check.id.as_str()).collect::<Vec<_>>(), ["acme-api", "ctl-gateway"]);

    let clash = "region: eu-west\nchecks:\n  - { id: acme-api, kind: tcp, target: \"127.0.0.1:1\", interval: 30s }\n\
                 control_checks:\n  - { id: acme-api, kind: tcp, target: \"127.0.0.1:2\", interval: 30s }\n";
    let error = parse_agent_config(clash, "agent.yaml", &env).unwrap_err().to_string();
    assert!(error.contains("control_checks[0].id: \"acme-api\" is also a check's id"), "{error}");
}
