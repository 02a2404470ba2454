//! Two collectors on one PostgreSQL schema, run from one configuration file as an operator runs replicas, with
//! agents split between them and a real Prometheus scraping both with the shipped alert rules. Each collector's
//! agents API shows every agent with the replica holding its session; `/api/v1/cluster` lists both replicas
//! alive with the same configuration. One collector is killed: Prometheus fires `SlaprobeCollectorDown` for it,
//! its agent fails over, and the survivor shows the dead replica gone. It is started again: the agent that
//! lists it first goes back within the documented bound, and the other agent never moves.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use slaprobe_collector::digest::token_hash;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::collector::{CollectorProcess, start_collector_with_env};
use slaprobe_tests::http_client::get;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::postgres::TestSchema;
use slaprobe_tests::prometheus::Prometheus;
use slaprobe_tests::wait;

/// `agent_id → replica holding its session` as the collector at `http` shows it.
async fn sessions(http: SocketAddr) -> Vec<(String, Option<String>)> {
    let (_, body) = get(http, "/api/v1/agents").await;
    let api: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let agents = api["agents"].as_array().cloned().unwrap_or_default();
    agents
        .iter()
        .map(|agent| {
            let collector = agent["collector"].as_str().map(str::to_owned);
            (agent["agent_id"].as_str().unwrap_or_default().to_owned(), collector)
        })
        .collect()
}

/// The replicas the collector at `http` lists: `(name, alive, same configuration)`.
async fn replicas(http: SocketAddr) -> Vec<(String, bool, bool)> {
    let (_, body) = get(http, "/api/v1/cluster").await;
    let cluster: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let listed = cluster["replicas"].as_array().cloned().unwrap_or_default();
    listed
        .iter()
        .map(|replica| {
            let name = replica["name"].as_str().unwrap_or_default().to_owned();
            (name, replica["alive"] == true, replica["same_config"] == true)
        })
        .collect()
}

fn start(config: &Path, grpc: SocketAddr, http: SocketAddr) -> (CollectorProcess, String) {
    let (grpc, http) = (grpc.to_string(), http.to_string());
    let (collector, _log) = start_collector_with_env(config, &[("GRPC_LISTEN", &grpc), ("HTTP_LISTEN", &http)]);
    let name = format!("{}:{}", std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim(), collector.id());
    (collector, name)
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_look_like_one_system_and_agents_spread_back() {
    let Some(schema) = TestSchema::create().await else { return };
    let target = HttpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (grpc_a, grpc_b, http_a, http_b) = (free_addr(), free_addr(), free_addr(), free_addr());
    // One file for both replicas; each gets its listen addresses from its environment.
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"${{GRPC_LISTEN}}\", http: \"${{HTTP_LISTEN}}\" }}\nstorage: {{ postgres: \"{}\" }}\n\
             agents:\n  - {{ id: agent-eu, region: eu, token_sha256: \"{}\" }}\n\
             \x20 - {{ id: agent-us, region: us, token_sha256: \"{}\" }}\n\
             checks:\n  - {{ id: api, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n",
            schema.url,
            token_hash("eu-token"),
            token_hash("us-token"),
            target.url("/"),
        ),
    )
    .unwrap();
    let (_collector_a, name_a) = tokio::task::block_in_place(|| start(&config, grpc_a, http_a));
    let (collector_b, name_b) = tokio::task::block_in_place(|| start(&config, grpc_b, http_b));
    let agent_eu = AgentProcess::start_listing("eu", "eu-token", &[grpc_a, grpc_b]);
    let agent_us = AgentProcess::start_listing("us", "us-token", &[grpc_b, grpc_a]);
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/monitoring/slaprobe-rules.yml");
    let prometheus = Prometheus::start(dir.path(), "slaprobe-collector", &[http_a, http_b], &[&rules]).await;

    // Both replicas show both agents, each with the replica holding its session.
    let expected = vec![("agent-eu".to_owned(), Some(name_a.clone())), ("agent-us".to_owned(), Some(name_b.clone()))];
    for http in [http_a, http_b] {
        wait::until(Duration::from_secs(30), "every agent on every replica", async || sessions(http).await == expected)
            .await;
    }
    wait::until(Duration::from_secs(30), "both replicas listed alive, one configuration", async || {
        let mut listed = replicas(http_a).await;
        listed.sort();
        let mut both = vec![(name_a.clone(), true, true), (name_b.clone(), true, true)];
        both.sort();
        listed == both
    })
    .await;
    println!("both replicas show agent-eu on {name_a} and agent-us on {name_b}");
    // Prometheus sees each replica's pool, and one figure per region whichever replica it asks.
    wait::until(Duration::from_secs(30), "pool and region gauges scraped from both", async || {
        let pools = prometheus.query("slaprobe_collector_store_pool_connections{state=\"max\"}", "instance").await;
        let mut regions = prometheus
            .query("count by (region) (slaprobe_collector_region_last_result_timestamp_seconds)", "region")
            .await;
        regions.sort_by(|left, right| left.0.cmp(&right.0));
        pools.len() == 2
            && pools.iter().all(|(_, max)| *max == 16.0)
            && regions == [("eu".to_owned(), 2.0), ("us".to_owned(), 2.0)]
    })
    .await;

    // B is killed: agent-us fails over to A, A shows B gone, Prometheus fires for B's instance.
    let killed_at = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(collector_b.id() as i32), Signal::SIGKILL).unwrap();
    drop(collector_b);
    wait::until(Duration::from_secs(60), "agent-us on A, B gone", async || {
        let gone = replicas(http_a).await.iter().any(|(name, alive, _)| *name == name_b && !alive);
        gone && sessions(http_a).await.iter().all(|(_, collector)| collector.as_deref() == Some(name_a.as_str()))
    })
    .await;
    let instance_b = http_b.to_string();
    wait::until(Duration::from_secs(120), "SlaprobeCollectorDown firing for B", async || {
        let alerts = prometheus.alerts().await;
        alerts.iter().any(|(name, state, instance)| {
            name == "SlaprobeCollectorDown" && state == "firing" && *instance == instance_b
        })
    })
    .await;
    let firing = prometheus.alerts().await;
    assert!(
        firing.iter().all(|(name, _, instance)| name != "SlaprobeCollectorDown" || *instance == instance_b),
        "only the dead replica is down: {firing:?}"
    );
    println!("SlaprobeCollectorDown fired for {instance_b} {:.0} s after the kill", killed_at.elapsed().as_secs_f64());

    // B again (a new process, so a new name): agent-us goes back to it; agent-eu stays on A throughout.
    let (_collector_b, name_b) = tokio::task::block_in_place(|| start(&config, grpc_b, http_b));
    let restarted = Instant::now();
    wait::until(Duration::from_secs(150), "agent-us back on B", async || {
        sessions(http_a)
            .await
            .iter()
            .any(|(agent, collector)| agent == "agent-us" && collector.as_deref() == Some(name_b.as_str()))
    })
    .await;
    let back_after = restarted.elapsed();
    let since_failover = killed_at.elapsed();
    println!("agent-us went back to B {:.0} s after B restarted", back_after.as_secs_f64());
    // Back within the bound after B served again, or after the shortest stay away, whichever is later.
    let bound = slaprobe_agent::uplink::home::RETURN_BOUND.max(slaprobe_agent::uplink::home::MIN_AWAY);
    assert!(back_after <= bound + Duration::from_secs(10), "{back_after:?} (failed over {since_failover:?} ago)");
    assert_eq!(
        sessions(http_b).await.into_iter().find(|(agent, _)| agent == "agent-eu"),
        Some(("agent-eu".to_owned(), Some(name_a.clone()))),
        "agent-eu never moved"
    );
    assert!(!agent_eu.log().contains("going back to it"), "agent-eu never left its first collector");
    for agent in [agent_eu, agent_us] {
        agent.signal(Signal::SIGTERM);
        let _ = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(15)));
    }
}
