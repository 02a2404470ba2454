//! Nothing secret leaves, tried with a real collector and a real agent: a check whose URL carries a user,
//! a password and an API key, whose headers carry credentials, and which redirects to another origin (a
//! receiver that records what it gets); a Slack channel whose secret URL cannot be reached. Credentials reach
//! the configured origin only, and no API answer a viewer can read, no export, no stored row and no log line
//! contains any of them. The files holding them are the owner's alone.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use slaprobe_collector::digest::token_hash;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::collector::{run_collector, start_collector_logged};
use slaprobe_tests::http_client::send;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::{closed_port, free_addr};
use slaprobe_tests::webhook_receiver::WebhookReceiver;

const VIEWER: &str = "viewer-token-77aa";
const ADMIN: &str = "admin-token-88bb";
/// Every secret in the configuration below; none may be shown anywhere.
const SECRETS: [&str; 6] =
    ["s3cret-pass", "XYZ-query-key", "T0KEN-bearer", "C00KIE-value", "K3Y-header", "SLACKSECRET"];

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|error| panic!("{}: {error}", path.display())).permissions().mode() & 0o777
}

#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_reach_their_origin_only_and_are_never_shown() {
    let target = HttpServer::start().await;
    let elsewhere = WebhookReceiver::start(&[]).await;
    let closed = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    // Same origin first (/redirect/1 → /redirect/0 would end there), so: one hop to another port.
    let url = format!(
        "http://alice:s3cret-pass@{}/redirect-to/{}/landed?api_key=XYZ-query-key",
        target.addr,
        elsewhere.addr.port()
    );
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: data/slaprobe.db }}\n\
             agents:\n  - {{ id: edge-1, region: local, token_sha256: \"{}\" }}\n\
             api_tokens:\n  - {{ name: finance, role: viewer, token_sha256: \"{}\" }}\n\
             \x20 - {{ name: ops, role: admin, token_sha256: \"{}\" }}\n\
             checks:\n  - id: web\n    kind: http\n    target: \"{url}\"\n    interval: 1s\n    timeout: 500ms\n\
             \x20   http:\n      headers: {{ Authorization: \"Bearer T0KEN-bearer\", Cookie: \"s=C00KIE-value\", \
             X-Api-Key: K3Y-header, X-Trace: visible }}\n      sensitive_headers: [X-Api-Key]\n\
             contracts:\n  - {{ id: web, vendor: Loopback, service: Web, checks: [web], objective: 99.9, \
             credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n\
             notify:\n  channels:\n    - {{ id: chat, slack: {{ url: \"http://{closed}/services/T000/B000/SLACKSECRET\" }} }}\n",
            token_hash("agent-token"),
            token_hash(VIEWER),
            token_hash(ADMIN)
        ),
    )
    .unwrap();
    let (_collector, log) = tokio::task::block_in_place(|| start_collector_logged(&config));
    let spool = dir.path().join("agent-spool");
    let agent_config = format!(
        "agent_id: edge-1\nregion: local\ncollector: \"http://{grpc}\"\ntoken: agent-token\nspool_dir: \"{}\"\n",
        spool.display()
    );
    let agent = AgentProcess::start_for_collector(tempfile::tempdir().unwrap(), &agent_config);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while elsewhere.received().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the redirect never reached the other origin");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for received in elsewhere.received() {
        assert_eq!(received.path, "/landed");
        for header in ["authorization", "cookie", "x-api-key"] {
            assert_eq!(received.header(header), None, "{header} followed the redirect to another origin");
        }
        assert_eq!(received.header("x-trace"), Some("visible"), "ordinary headers still go along");
    }

    let viewer = format!("Bearer {VIEWER}");
    let admin = format!("Bearer {ADMIN}");
    let delivery = send(http, "POST", "/api/v1/channels/chat/test", &[("Authorization", &admin)], "").await;
    assert_eq!(delivery.status, 502, "{}", delivery.body);
    assert!(delivery.body.contains("connect"), "the failure kind is named: {}", delivery.body);
    assert_no_secret("the test notification's answer", &delivery.body);

    let mut shown = String::new();
    for path in ["/api/v1/results?check=web&limit=50", "/api/v1/checks", "/api/v1/deliveries", "/checks"] {
        let response = send(http, "GET", path, &[("Authorization", &viewer)], "").await;
        assert_eq!(response.status, 200, "{path}: {}", response.body);
        assert_no_secret(path, &response.body);
        shown.push_str(&response.body);
    }
    assert!(shown.contains("/landed"), "the final URL is shown, redacted: {shown}");
    assert!(shown.contains("api_key=…"), "query names stay, values go: {shown}");

    agent.signal(nix::sys::signal::Signal::SIGTERM);
    let (_, agent_log, _) = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(15)));
    assert_no_secret("the agent's log", &agent_log);
    let period = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let config_path = config.to_str().unwrap();
    let export = tokio::task::block_in_place(|| {
        run_collector(&["export", "--config", config_path, "--contract", "web", "--period", &period])
    });
    assert!(export.contains("/landed"), "{export}");
    assert_no_secret("export", &export);
    let report = tokio::task::block_in_place(|| {
        run_collector(&["report", "--config", config_path, "--period", &period, "--format", "html"])
    });
    assert_no_secret("the HTML report", &report);
    assert_no_secret("the collector's log", &log.lock().unwrap().join("\n"));

    let database = dir.path().join("data/slaprobe.db");
    for file in [database.clone(), database.with_extension("db-wal")] {
        let stored = std::fs::read(&file).unwrap_or_default();
        assert_no_secret(&file.display().to_string(), &String::from_utf8_lossy(&stored));
    }

    assert_eq!(mode(&database), 0o600, "the database");
    let mut unvisited = vec![spool.clone()];
    while let Some(directory) = unvisited.pop() {
        assert_eq!(mode(&directory), 0o700, "{}", directory.display());
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                unvisited.push(path);
            } else {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
            }
        }
    }
    assert!(spool.join("pushed-checks.yaml").exists(), "the pushed checks are kept (and were checked above)");
}
