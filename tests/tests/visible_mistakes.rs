//! The collector says what is wrong, with the real binaries: a contract naming a check that does not exist stops
//! `serve` (exit 64, naming the contracts file and the entry) and is refused on reload, the running
//! configuration kept, with a banner on every dashboard page (Chromium), a gauge and its time in `/metrics` and
//! a line in `/readyz`; an agent presenting an unknown token is counted in `/metrics` and listed on the agents
//! page with its address and attempts; a collector that cannot take its HTTP address stops at once saying so.

use std::process::{Command, Stdio};
use std::time::Duration;

use slaprobe_collector::digest::token_hash;
use slaprobe_tests::agent::{AgentProcess, collector_binary};
use slaprobe_tests::browser;
use slaprobe_tests::collector::start_collector;
use slaprobe_tests::http_client::{get, send};
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::wait;

const CONTRACT: &str = "contracts:\n  - id: web\n    vendor: Loopback Inc.\n    service: Web\n    objective: 99.9\n    \
                        credits: { fee: 100, currency: USD, tiers: [ { below: 99.9, credit: 10 } ] }\n    checks: ";

#[tokio::test(flavor = "multi_thread")]
async fn mistakes_are_named_shown_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             agents:\n  - {{ id: edge-1, region: local, token_sha256: \"{}\" }}\n\
             checks: [ {{ id: web, kind: tcp, target: \"127.0.0.1:9\", interval: 5s }} ]\n\
             contracts_file: contracts.yaml\n",
            token_hash("the-right-token")
        ),
    )
    .unwrap();
    let contracts = dir.path().join("contracts.yaml");

    // At start: exit 64, the contracts file and the entry named, nothing started.
    std::fs::write(&contracts, format!("{CONTRACT}[web, wbe]\n")).unwrap();
    let (code, stderr) = serve_to_its_end(&config);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains(
            "contracts.yaml (contracts_file): contracts[0].checks[1]: no check \"wbe\" in the collector's check list"
        ),
        "{stderr}"
    );

    std::fs::write(&contracts, format!("{CONTRACT}[web]\n")).unwrap();
    let _collector = tokio::task::block_in_place(|| start_collector(&config));
    let (status, ready) = get(http, "/readyz").await;
    assert!(status == 200 && ready.starts_with("ready\nconfig: loaded "), "{ready}");

    // On reload: refused with the file and entry named (the admin API's answer), the running configuration kept,
    // and said everywhere.
    std::fs::write(&contracts, format!("{CONTRACT}[web, wbe]\n")).unwrap();
    let refused = send(http, "POST", "/api/v1/reload", &[], "").await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("contracts.yaml (contracts_file): contracts[0].checks[1]: no check"),
        "{}",
        refused.body
    );
    wait::until(Duration::from_secs(30), "/readyz to report the failed reload", async || {
        get(http, "/readyz").await.1.contains("config: reload failed at ")
    })
    .await;
    let (status, ready) = get(http, "/readyz").await;
    assert_eq!(status, 200, "a failed reload leaves the collector serving: {ready}");
    assert!(ready.contains("(1 problem(s), see the log); running the configuration loaded "), "{ready}");
    let metrics = get(http, "/metrics").await.1;
    assert!(metrics.contains("\nslaprobe_collector_config_reload_failed 1\n"), "{metrics}");
    let failed_at = gauge(&metrics, "slaprobe_collector_config_reload_failed_timestamp_seconds");
    assert!(failed_at >= jiff::Timestamp::now().as_second() as f64 - 60.0, "{metrics}");
    assert!(get(http, "/api/v1/contracts").await.1.contains("\"contract\":\"web\""), "the old contracts still serve");
    for page in ["/", "/agents", "/contracts/web"] {
        let url = format!("http://{http}{page}");
        let dom = tokio::task::block_in_place(|| browser::load(&url)).dom;
        assert!(dom.contains("data-field=\"reload-failed\""), "{page} lacks the banner:\n{dom}");
        assert!(dom.contains("failed with 1 problem(s); the collector runs the configuration it had before"), "{dom}");
    }

    // An agent with an unknown token: counted, and listed on the agents page with its address.
    let agent_dir = tempfile::tempdir().unwrap();
    let spool = agent_dir.path().join("spool");
    let _agent = AgentProcess::start_for_collector(
        agent_dir,
        &format!(
            "agent_id: edge-1\nregion: local\ncollector: \"http://{grpc}\"\ntoken: not-the-token\n\
             spool_dir: \"{}\"\nchecks: []\n",
            spool.display()
        ),
    );
    wait::until(Duration::from_secs(30), "the refused agent in /metrics", async || {
        get(http, "/metrics")
            .await
            .1
            .contains("slaprobe_collector_agent_sessions_refused_total{reason=\"unknown_token\"}")
    })
    .await;
    let agents: serde_json::Value = serde_json::from_str(&get(http, "/api/v1/agents").await.1).unwrap();
    let refused = &agents["refused_sessions"][0];
    assert_eq!((refused["remote"].as_str(), refused["reason"].as_str()), (Some("127.0.0.1"), Some("unknown_token")));
    assert!(refused["attempts"].as_u64() >= Some(1), "{agents}");
    let dom = tokio::task::block_in_place(|| browser::load(&format!("http://{http}/agents"))).dom;
    assert!(dom.contains("data-refused=\"127.0.0.1\"") && dom.contains("unknown agent token"), "{dom}");
    assert!(dom.contains("agent session(s) refused since this collector started"), "{dom}");

    // A good edit clears it all.
    std::fs::write(&contracts, format!("{CONTRACT}[web, {{ id: web-internal, local: true }}]\n")).unwrap();
    wait::until(Duration::from_secs(30), "/readyz to report the good reload", async || {
        !get(http, "/readyz").await.1.contains("reload failed")
    })
    .await;
    assert!(get(http, "/metrics").await.1.contains("\nslaprobe_collector_config_reload_failed 0\n"));
    let dom = tokio::task::block_in_place(|| browser::load(&format!("http://{http}/"))).dom;
    assert!(!dom.contains("data-field=\"reload-failed\""), "{dom}");
}

/// The value of the unlabelled gauge `name` in an OpenMetrics text.
#[test]
fn a_collector_that_cannot_listen_says_where_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http = taken.local_addr().unwrap();
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!("listen: {{ grpc: \"{}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n", free_addr()),
    )
    .unwrap();
    let (code, stderr) = serve_to_its_end(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("slaprobe-collector: listen.http: cannot listen on {http}: ")), "{stderr}");
    assert!(stderr.to_lowercase().contains("address already in use"), "{stderr}");
}

/// Runs `slaprobe-collector serve --config CONFIG` expecting it to stop by itself: its exit code and its log.
fn serve_to_its_end(config: &std::path::Path) -> (Option<i32>, String) {
    let output = Command::new(collector_binary())
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .expect("run slaprobe-collector");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn gauge(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}
