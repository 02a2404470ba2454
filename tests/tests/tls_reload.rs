//! The real collector with TLS and client certificates, the agent registry it keeps, and reloading its
//! checks while agents are connected (on a file change, on SIGHUP, and refusing a broken file).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::Store;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::certs::TestCa;
use slaprobe_tests::collector::start_collector_logged;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::wait;

async fn count(store: &Store, check: &str) -> usize {
    let far = "2100-01-01T00:00:00Z".parse().unwrap();
    store.results_between(&[check.to_owned()], Timestamp::UNIX_EPOCH, far).await.unwrap().len()
}

fn logged(log: &Arc<Mutex<Vec<String>>>, text: &str) -> bool {
    log.lock().unwrap().iter().any(|line| line.contains(text))
}

fn write_checks(path: &Path, checks: &[(&str, String)]) {
    let mut yaml = "checks:\n".to_owned();
    for (id, url) in checks {
        yaml.push_str(&format!("  - {{ id: {id}, kind: http, target: \"{url}\", interval: 1s, timeout: 500ms }}\n"));
    }
    std::fs::write(path, yaml).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_client_certificates_registry_and_live_reload() {
    let server = HttpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write_pem(dir.path());
    ca.write_server_identity(dir.path());
    let (client_cert, client_key) = ca.write_client_identity(dir.path());
    let address = free_addr();
    let checks_file = dir.path().join("checks.yaml");
    write_checks(&checks_file, &[("web", server.url("/"))]);
    let collector_config = dir.path().join("collector.yaml");
    std::fs::write(
        &collector_config,
        format!(
            "listen:\n  grpc: \"{address}\"\n  tls: {{ cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem }}\n\
             storage: {{ sqlite: data/slaprobe.db }}\n\
             agents:\n  - {{ id: edge-1, region: local, token_sha256: \"{}\" }}\n\
             \u{20} - {{ id: edge-2, region: local, token_sha256: \"{}\" }}\n\
             checks_file: checks.yaml\n",
            token_hash("s3cret"),
            token_hash("other")
        ),
    )
    .unwrap();
    let store = Store::open_sqlite(&dir.path().join("data/slaprobe.db")).unwrap();
    let (mut collector, log) = tokio::task::block_in_place(|| start_collector_logged(&collector_config));
    let agent_config = |id: &str, token: &str, tls: &str| {
        format!(
            "agent_id: {id}\nregion: local\ncollector: \"https://127.0.0.1:{}\"\ntoken: {token}\n\
             spool_dir: \"{}\"\ncollector_tls: {tls}\n",
            address.port(),
            dir.path().join(format!("spool-{id}")).display()
        )
    };
    let with_certificate = format!(
        "{{ ca_file: \"{}\", cert_file: \"{}\", key_file: \"{}\" }}",
        ca_file.display(),
        client_cert.display(),
        client_key.display()
    );
    let trusted = AgentProcess::start_for_collector(
        tempfile::tempdir().unwrap(),
        &agent_config("edge-1", "s3cret", &with_certificate),
    );
    let without_certificate = format!("{{ ca_file: \"{}\" }}", ca_file.display());
    let refused = AgentProcess::start_for_collector(
        tempfile::tempdir().unwrap(),
        &agent_config("edge-2", "other", &without_certificate),
    );

    wait::until(Duration::from_secs(30), "results over TLS", async || count(&store, "web").await >= 2).await;
    wait::until(Duration::from_secs(30), "edge-1's clock estimate", async || {
        store.agents().await.unwrap().iter().any(|agent| agent.clock.is_some())
    })
    .await;
    let agents = store.agents().await.unwrap();
    assert_eq!(agents.len(), 1, "edge-2 has no client certificate and never gets a session: {agents:?}");
    let agent = &agents[0];
    assert_eq!((agent.agent_id.as_str(), agent.version.as_str()), ("edge-1", env!("CARGO_PKG_VERSION")));
    let clock = agent.clock.unwrap();
    assert!(clock.offset_nanos.abs() < 1_000_000_000, "same host, same clock: {clock:?}");
    assert!((0..1_000_000_000).contains(&clock.round_trip_nanos), "{clock:?}");
    assert!(agent.last_seen > agent.connected_at, "last seen follows the batches: {agent:?}");

    // A changed checks file is picked up without a signal and pushed to the connected agent.
    write_checks(&checks_file, &[("web", server.url("/")), ("web-2", server.url("/status/204"))]);
    wait::until(Duration::from_secs(30), "results of the check added to the file", async || {
        count(&store, "web-2").await >= 2
    })
    .await;

    // SIGHUP reloads too; here it drops `web`.
    write_checks(&checks_file, &[("web-2", server.url("/status/204"))]);
    kill(Pid::from_raw(i32::try_from(collector.id()).unwrap()), Signal::SIGHUP).unwrap();
    wait::until(Duration::from_secs(30), "the SIGHUP reload", async || logged(&log, "SIGHUP: reloading")).await;
    wait::until(Duration::from_secs(30), "the agent to drop `web`", async || {
        let before = count(&store, "web").await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        count(&store, "web").await == before
    })
    .await;

    // A broken file is refused with its problem; the running checks go on.
    std::fs::write(&checks_file, "checks:\n  - { id: web-3, kind: http, target: \"x\", interval: banana }\n").unwrap();
    wait::until(Duration::from_secs(30), "the refused reload", async || logged(&log, "Reload failed")).await;
    let refusal = log.lock().unwrap().iter().find(|line| line.contains("Reload failed")).cloned().unwrap_or_default();
    assert!(refusal.contains("checks[0].interval"), "the problem is named with its path, on the same line: {refusal}");
    let before = count(&store, "web-2").await;
    wait::until(Duration::from_secs(30), "results after the refused reload", async || {
        count(&store, "web-2").await >= before + 2
    })
    .await;

    trusted.signal(Signal::SIGTERM);
    let (status, agent_log, _) = tokio::task::block_in_place(|| trusted.wait(Duration::from_secs(15)));
    assert!(status.success(), "{agent_log}");
    refused.signal(Signal::SIGTERM);
    let (_, refused_log, _) = tokio::task::block_in_place(|| refused.wait(Duration::from_secs(15)));
    assert!(refused_log.contains("Collector session ended"), "edge-2 logs why it cannot connect: {refused_log}");
    collector.kill().unwrap();
    collector.wait().unwrap();
}
