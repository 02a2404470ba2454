//! Two collectors on one PostgreSQL, agents split between them (each lists both, in a different order). One
//! collector is killed with SIGKILL; its agent fails over to the other. Afterwards every result each agent sent
//! is in the store exactly once, with no sequence number missing, and both collectors' configurations give the
//! same claim report. Two collectors started at the same instant on a fresh database migrate it once, and two
//! collectors read a vendor's status page once.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use slaprobe_collector::digest::token_hash;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::collector::{run_collector, start_collector};
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::postgres::TestSchema;
use slaprobe_tests::status_page_server::StatusPageServer;

/// (agent, stored results, distinct sequence numbers, highest sequence number) per agent.
async fn counts(schema: &TestSchema) -> Vec<(String, i64, i64, i64)> {
    let rows = schema
        .client
        .query(
            "SELECT agent_id, count(*), count(DISTINCT seq), max(seq) FROM results GROUP BY agent_id ORDER BY agent_id",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|row| (row.get(0), row.get(1), row.get(2), row.get(3))).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_fail_over_between_collectors_on_one_postgres_without_loss_or_duplicates() {
    let Some(schema) = TestSchema::create().await else { return };
    let target = HttpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (grpc_a, grpc_b, http_a, http_b) = (free_addr(), free_addr(), free_addr(), free_addr());
    let write_config = |name: &str, grpc: SocketAddr, http: SocketAddr| {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            format!(
                "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ postgres: \"{}\" }}\n\
                 agents:\n  - {{ id: agent-eu, region: eu, token_sha256: \"{}\" }}\n\
                 \x20 - {{ id: agent-us, region: us, token_sha256: \"{}\" }}\n\
                 checks:\n  - {{ id: api, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n\
                 contracts:\n  - {{ id: acme, vendor: Acme, service: API, checks: [api], objective: 99.9, slice: 1m, \
                 credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n",
                schema.url,
                token_hash("eu-token"),
                token_hash("us-token"),
                target.url("/"),
            ),
        )
        .unwrap();
        path
    };
    let (config_a, config_b) = (write_config("a", grpc_a, http_a), write_config("b", grpc_b, http_b));
    let collector_a = tokio::task::block_in_place(|| start_collector(&config_a));
    let _collector_b = tokio::task::block_in_place(|| start_collector(&config_b));
    let agent_eu = AgentProcess::start_listing("eu", "eu-token", &[grpc_a, grpc_b]);
    let agent_us = AgentProcess::start_listing("us", "us-token", &[grpc_b, grpc_a]);

    // Both agents report (each through its first collector), then A dies and eu carries on through B.
    let deadline = Instant::now() + Duration::from_secs(30);
    while counts(&schema).await.iter().filter(|(_, stored, ..)| *stored >= 5).count() < 2 {
        assert!(Instant::now() < deadline, "not both agents reported: {:?}", counts(&schema).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(collector_a.id() as i32), Signal::SIGKILL).unwrap();
    drop(collector_a);
    let before = counts(&schema).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while counts(&schema).await[0].1 < before[0].1 + 5 {
        assert!(Instant::now() < deadline, "agent-eu did not carry on through B: {before:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Stop the agents (they flush what they can); everything sent is stored once, nothing is missing.
    for agent in [&agent_eu, &agent_us] {
        agent.signal(Signal::SIGTERM);
    }
    let (eu_log, us_log) = tokio::task::block_in_place(|| {
        (agent_eu.wait(Duration::from_secs(20)).1, agent_us.wait(Duration::from_secs(20)).1)
    });
    for (agent, stored, distinct, highest) in counts(&schema).await {
        assert_eq!(stored, distinct, "{agent}: a sequence number stored twice");
        assert_eq!(stored, highest, "{agent}: a sequence number missing (1..={highest} expected)\n{eu_log}\n{us_log}");
    }
    let gaps: i64 = schema.client.query_one("SELECT count(*) FROM spool_gaps", &[]).await.unwrap().get(0);
    assert_eq!(gaps, 0);

    // Both collectors' configurations give the same claim report from the shared store.
    let now = jiff::Timestamp::now();
    let (period, as_of) = (now.strftime("%Y-%m").to_string(), now.to_string());
    let report = |config: &std::path::Path| {
        let config = config.to_str().unwrap();
        run_collector(&["report", "--config", config, "--period", &period, "--format", "json", "--as-of", &as_of])
    };
    let (report_a, report_b) = tokio::task::block_in_place(|| (report(&config_a), report(&config_b)));
    assert_eq!(report_a, report_b);
    assert!(report_a.contains("\"contract\":\"acme\""), "{report_a}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_collectors_started_at_the_same_instant_migrate_a_fresh_database_once() {
    let Some(schema) = TestSchema::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let configs: Vec<std::path::PathBuf> = ["a", "b"]
        .iter()
        .map(|name| {
            let path = dir.path().join(format!("{name}.yaml"));
            let config =
                format!("listen: {{ grpc: \"{}\" }}\nstorage: {{ postgres: \"{}\" }}\n", free_addr(), schema.url);
            std::fs::write(&path, config).unwrap();
            path
        })
        .collect();
    // Both processes are spawned the moment both threads are ready; each must come up serving.
    let start = std::sync::Barrier::new(2);
    let _collectors = tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let started: Vec<_> = configs
                .iter()
                .map(|config| {
                    let start = &start;
                    scope.spawn(move || {
                        start.wait();
                        start_collector(config)
                    })
                })
                .collect();
            started.into_iter().map(|thread| thread.join().expect("a collector started")).collect::<Vec<_>>()
        })
    });
    let versions: Vec<i32> = schema
        .client
        .query("SELECT version FROM schema_migrations ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let latest = *versions.last().expect("migrations applied");
    assert_eq!(versions, (1..=latest).collect::<Vec<i32>>(), "every migration applied once, in order");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collector_stopped_cleanly_gives_up_its_leases_at_once() {
    let Some(schema) = TestSchema::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{}\" }}\nstorage: {{ postgres: \"{}\" }}\n\
             checks:\n  - {{ id: web, kind: http, target: \"http://127.0.0.1:9/\", interval: 30s }}\n\
             contracts:\n  - {{ id: web, vendor: Loopback Inc., service: Web, checks: [web], objective: 99.9, \
             credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n\
             notify:\n  channels:\n    - {{ id: hook, webhook: {{ url: \"http://127.0.0.1:9/hook\" }} }}\n  \
             policies:\n    - {{ id: page, levels: [ {{ after: 0s, channels: [hook] }} ] }}\n\
             alerts:\n  - {{ contract: web, kind: down, policy: page }}\n",
            free_addr(),
            schema.url
        ),
    )
    .unwrap();
    let mut collector = tokio::task::block_in_place(|| start_collector(&config));
    let pid = collector.id();
    let held = async || -> Vec<String> {
        let query = "SELECT name FROM leases WHERE holder LIKE $1 ORDER BY name";
        let rows = schema.client.query(query, &[&format!("%:{pid}")]).await.unwrap();
        rows.iter().map(|row| row.get(0)).collect()
    };
    slaprobe_tests::wait::until(Duration::from_secs(30), "the alerting and ledger leases", async || {
        held().await == ["alerting", "ledger"]
    })
    .await;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
    let status = tokio::task::block_in_place(|| collector.wait()).unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(held().await, Vec::<String>::new(), "leases given up, not left to expire");
    let replicas: i64 = schema.client.query_one("SELECT count(*) FROM collectors", &[]).await.unwrap().get(0);
    assert_eq!(replicas, 0, "a clean stop leaves the replica list");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_collectors_read_a_vendor_status_page_once() {
    let Some(schema) = TestSchema::create().await else { return };
    let page = StatusPageServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "listen: {{ grpc: \"{}\" }}\nstorage: {{ postgres: \"{}\" }}\n\
                 contracts:\n  - {{ id: web, vendor: Loopback Inc., service: Web, checks: [web], objective: 99.9, \
                 status_page: {{ kind: statuspage, url: \"{}\", poll_every: 30s }}, \
                 credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n",
                free_addr(),
                schema.url,
                page.url()
            ),
        )
        .unwrap();
        path
    };
    let (first, second) = (config("first.yaml"), config("second.yaml"));
    let _collectors = tokio::task::block_in_place(|| [start_collector(&first), start_collector(&second)]);
    slaprobe_tests::wait::until(Duration::from_secs(30), "the status page read", async || page.requests() >= 2).await;
    // Both collectors look every 10 s; only the lease holder reads, and not again before `poll_every`.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(page.requests(), 2, "one read: incidents and scheduled maintenances");
    let holders = schema.client.query("SELECT holder FROM leases WHERE name = 'status_pages'", &[]).await.unwrap();
    assert_eq!(holders.len(), 1);
}
