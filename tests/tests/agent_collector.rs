//! The real agent in collector mode against the real collector: checks are pushed to the agent, results flow
//! through the agent's spool into the store, and SIGKILL on either side loses and duplicates nothing; an agent
//! restarted while the collector is away probes with the checks pushed to it before, kept on disk.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use nix::sys::signal::Signal;
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::collector::{run_collector, start_collector};
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::wait;

async fn stored(database: &Path) -> Vec<ResultRecord> {
    let store = Store::open_sqlite(database).unwrap();
    let far = "2100-01-01T00:00:00Z".parse().unwrap();
    store.results_between(&["web".to_owned()], Timestamp::UNIX_EPOCH, far).await.unwrap()
}

/// SIGKILLs `agent` and starts another with the same configuration (and so the same spool).
fn restart(agent: AgentProcess, config: &str) -> AgentProcess {
    agent.signal(Signal::SIGKILL);
    let _ = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(5)));
    AgentProcess::start_for_collector(tempfile::tempdir().unwrap(), config)
}

async fn wait_for_count(database: &Path, count: usize, what: &str) {
    wait::until(Duration::from_secs(30), what, async || stored(database).await.len() >= count).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pushed_checks_and_sigkill_on_either_side() {
    let server = HttpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let address = free_addr();
    let collector_config = dir.path().join("collector.yaml");
    std::fs::write(
        &collector_config,
        format!(
            "listen: {{ grpc: \"{address}\" }}\nstorage: {{ sqlite: data/slaprobe.db }}\n\
             agents:\n  - {{ id: edge-1, region: local, token_sha256: \"{}\" }}\n\
             \u{20} - {{ id: edge-2, region: local, token_sha256: \"{}\" }}\n\
             checks:\n  - {{ id: web, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n\
             \u{20} - {{ id: elsewhere, kind: tcp, target: \"127.0.0.1:9\", interval: 1s, regions: [far-away] }}\n\
             contracts:\n  - {{ id: web, vendor: Loopback, service: Web, checks: [web], objective: 99.9, \
             credits: {{ fee: 1, currency: USD, tiers: [] }} }}\n",
            token_hash("s3cret"),
            token_hash("never-used"),
            server.url("/")
        ),
    )
    .unwrap();
    let database = dir.path().join("data/slaprobe.db");
    let agent_config = format!(
        "agent_id: edge-1\nregion: local\ncollector: \"http://{address}\"\ntoken: s3cret\nspool_dir: \"{}\"\n",
        dir.path().join("agent-spool").display()
    );

    let mut collector = tokio::task::block_in_place(|| start_collector(&collector_config));
    let agent = AgentProcess::start_for_collector(tempfile::tempdir().unwrap(), &agent_config);
    wait_for_count(&database, 3, "the pushed check's first results").await;

    // Slots may be missed only while an agent is down (killed until its successor probes again).
    let mut agent_down = Vec::new();
    let killed = Timestamp::now();
    let agent = restart(agent, &agent_config);
    agent_down.push((killed, Timestamp::now()));
    let before_outage = stored(&database).await.len();
    wait_for_count(&database, before_outage + 2, "results after the agent's restart").await;

    // The collector goes away (SIGKILL); meanwhile the agent is killed and restarted too, and probes with the
    // checks the collector pushed before, kept on disk.
    collector.kill().unwrap();
    collector.wait().unwrap();
    let outage_began = Timestamp::now();
    let probed = server.requests();
    tokio::task::block_in_place(|| {
        wait::blocking(Duration::from_secs(10), "probing during the outage", || server.requests() >= probed + 2)
    });
    let killed = Timestamp::now();
    let agent = restart(agent, &agent_config);
    agent_down.push((killed, Timestamp::now()));
    tokio::task::block_in_place(|| {
        wait::blocking(Duration::from_secs(10), "the kept pushed checks", || {
            agent.log().contains("Using the checks the collector pushed last.")
        });
        let probed = server.requests();
        wait::blocking(Duration::from_secs(10), "the restarted agent to probe", || server.requests() >= probed + 2);
    });
    let mut collector = tokio::task::block_in_place(|| start_collector(&collector_config));
    let outage_ended = Timestamp::now();
    let after_outage = stored(&database).await.len();
    wait_for_count(&database, after_outage + 4, "the results spooled during the outage").await;

    agent.signal(Signal::SIGTERM);
    let (status, log, _) = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(15)));
    assert!(status.success(), "{log}");
    collector.kill().unwrap();
    collector.wait().unwrap();

    let results = stored(&database).await;
    let seqs: Vec<u64> = results.iter().map(|record| record.seq.unwrap()).collect();
    let distinct: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(distinct.len(), seqs.len(), "no duplicates");
    let highest = *distinct.last().unwrap();
    assert_eq!(distinct, (1..=highest).collect(), "per-agent seq is gap-free across every kill");
    assert!(results.iter().all(|record| record.ok && record.agent_id.as_deref() == Some("edge-1")));
    let (_, restarted_at) = agent_down[1];
    assert!(
        results.iter().any(|record| (restarted_at..outage_ended).contains(&record.started_at)),
        "the agent restarted during the outage ({outage_began} to {outage_ended}) probed its kept checks"
    );
    // Every 1 s slot was probed while an agent ran, through the collector's outage.
    let slots: Vec<Timestamp> = results.iter().map(|record| record.scheduled_at.unwrap()).collect();
    for pair in slots.windows(2) {
        let restarting = agent_down.iter().any(|(killed, back)| pair[0] <= *back && pair[1] >= *killed);
        assert!(
            restarting || pair[1].duration_since(pair[0]) == SignedDuration::from_secs(1),
            "slot {} follows {} with no agent restart between",
            pair[1],
            pair[0]
        );
    }

    let period = results[0].started_at.strftime("%Y-%m").to_string();
    let config = collector_config.to_str().unwrap();
    let report = tokio::task::block_in_place(|| run_collector(&["report", "--config", config, "--period", &period]));
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["silent_agents"], serde_json::json!(["edge-2"]), "the agent that never connected stands out");
    assert_eq!(report["down_slices"], 0);
}
