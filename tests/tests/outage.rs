//! The collector stopped for a minute while two agents in two regions keep probing; one agent's spool runs past
//! its cap meanwhile. Afterwards, read from the store: every result is there exactly once, per-agent `seq` is
//! gap-free except for the spool drops, and those drops are recorded as gaps (never silent).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use nix::sys::signal::Signal;
use slaprobe_agent::spool::Spool;
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::collector::start_collector;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::{closed_port, free_addr};
use slaprobe_tests::wait;

/// Checks run by the agent whose spool overflows: enough that a minute of results exceeds its 1 MiB cap.
const FLOOD_CHECKS: usize = 200;
const SPOOL_CAP: u64 = 1 << 20;

async fn results_of(store: &Store, agent: &str, checks: &[String]) -> Vec<ResultRecord> {
    let far = "2100-01-01T00:00:00Z".parse().unwrap();
    let all = store.results_between(checks, Timestamp::UNIX_EPOCH, far).await.unwrap();
    all.into_iter().filter(|record| record.agent_id.as_deref() == Some(agent)).collect()
}

/// The sequence numbers still in the agent's spool after it exited: `(acknowledged through, last written)`.
fn spool_state(spool_dir: &Path) -> (u64, u64) {
    let spool = Spool::open(&spool_dir.join("results"), SPOOL_CAP).unwrap();
    (spool.acked(), spool.next_seq() - 1)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_minute_without_collector_and_a_spool_past_its_cap() {
    let server = HttpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let address = free_addr();
    let closed = closed_port();
    let flood_ids: Vec<String> = (0..FLOOD_CHECKS).map(|index| format!("flood-{index:03}")).collect();
    let mut checks = format!(
        "checks:\n  - {{ id: web, kind: http, target: \"{}\", interval: 1s, timeout: 500ms, regions: [eu-west] }}\n",
        server.url("/")
    );
    for id in &flood_ids {
        checks.push_str(&format!(
            "  - {{ id: {id}, kind: tcp, target: \"{closed}\", interval: 1s, timeout: 500ms, regions: [us-east] }}\n"
        ));
    }
    std::fs::write(dir.path().join("checks.yaml"), checks).unwrap();
    let collector_config = dir.path().join("collector.yaml");
    std::fs::write(
        &collector_config,
        format!(
            "listen: {{ grpc: \"{address}\" }}\nstorage: {{ sqlite: data/slaprobe.db }}\n\
             agents:\n  - {{ id: edge-eu, region: eu-west, token_sha256: \"{}\" }}\n\
             \u{20} - {{ id: edge-us, region: us-east, token_sha256: \"{}\" }}\n\
             checks_file: checks.yaml\n",
            token_hash("eu-token"),
            token_hash("us-token")
        ),
    )
    .unwrap();
    let store = Store::open_sqlite(&dir.path().join("data/slaprobe.db")).unwrap();
    let agent_config = |id: &str, region: &str, token: &str| {
        format!(
            "agent_id: {id}\nregion: {region}\ncollector: \"http://{address}\"\ntoken: {token}\n\
             spool_dir: \"{}\"\nspool_max_bytes: {SPOOL_CAP}\n",
            dir.path().join(id).display()
        )
    };
    let web = vec!["web".to_owned()];

    let mut collector = tokio::task::block_in_place(|| start_collector(&collector_config));
    let eu = AgentProcess::start_for_collector(
        tempfile::tempdir().unwrap(),
        &agent_config("edge-eu", "eu-west", "eu-token"),
    );
    let us = AgentProcess::start_for_collector(
        tempfile::tempdir().unwrap(),
        &agent_config("edge-us", "us-east", "us-token"),
    );
    wait::until(Duration::from_secs(30), "both regions' first results", async || {
        results_of(&store, "edge-eu", &web).await.len() >= 2
            && results_of(&store, "edge-us", &flood_ids).await.len() >= FLOOD_CHECKS
    })
    .await;

    collector.kill().unwrap();
    collector.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let restarted_at = Timestamp::now();
    let mut collector = tokio::task::block_in_place(|| start_collector(&collector_config));
    // The uplink replays in seq order and the collector stores batches in order, so a result stamped after the
    // restart means everything before it has been delivered.
    let caught_up = restarted_at + SignedDuration::from_secs(2);
    wait::until(Duration::from_secs(60), "both agents to catch up", async || {
        let eu_latest = results_of(&store, "edge-eu", &web).await.last().map(|record| record.started_at);
        let us_latest = results_of(&store, "edge-us", &flood_ids).await.last().map(|record| record.started_at);
        eu_latest.is_some_and(|at| at > caught_up) && us_latest.is_some_and(|at| at > caught_up)
    })
    .await;
    for agent in [eu, us] {
        agent.signal(Signal::SIGTERM);
        let (status, log, _) = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(20)));
        assert!(status.success(), "{log}");
    }
    collector.kill().unwrap();
    collector.wait().unwrap();

    let gaps = store.gaps().await.unwrap();
    for (agent, checks) in [("edge-eu", &web), ("edge-us", &flood_ids)] {
        let results = results_of(&store, agent, checks).await;
        let seqs: Vec<u64> = results.iter().map(|record| record.seq.unwrap()).collect();
        let stored: BTreeSet<u64> = seqs.iter().copied().collect();
        assert_eq!(stored.len(), seqs.len(), "{agent}: no duplicates");
        let dropped: BTreeSet<u64> =
            gaps.iter().filter(|gap| gap.agent_id == agent).flat_map(|gap| gap.first_seq..=gap.last_seq).collect();
        assert!(stored.is_disjoint(&dropped), "{agent}: a result is both stored and reported dropped");
        let (acked, last) = spool_state(&dir.path().join(agent));
        let delivered: BTreeSet<u64> = stored.union(&dropped).copied().collect();
        // The collector may have stored a last batch whose acknowledgement the agent did not record before it
        // exited: those results are beyond `acked`, still spooled, and sent again (and ignored) next session.
        let unacked: BTreeSet<u64> = delivered.iter().copied().filter(|seq| *seq > acked).collect();
        assert_eq!(
            delivered.difference(&unacked).copied().collect::<BTreeSet<u64>>(),
            (1..=acked).collect(),
            "{agent}: every acknowledged seq is stored or in a reported gap ({} dropped)",
            dropped.len()
        );
        assert!(unacked.iter().all(|seq| *seq <= last), "{agent}: stored beyond what it wrote: {unacked:?}");
        assert!(last >= acked, "{agent}: the rest ({}..={last}) is still spooled for the next session", acked + 1);
        if agent == "edge-eu" {
            assert!(dropped.is_empty(), "the small agent's spool never overflowed");
            // Every 1 s slot was probed through the outage: the slots, not the start times, which load may push.
            let slots: Vec<Timestamp> = results.iter().map(|record| record.scheduled_at.unwrap()).collect();
            let missed: Vec<_> = slots
                .windows(2)
                .filter(|pair| pair[1].duration_since(pair[0]) != SignedDuration::from_secs(1))
                .collect();
            assert!(missed.is_empty(), "probing skipped slots during the outage: {missed:?}");
        } else {
            assert!(!dropped.is_empty(), "a minute of {FLOOD_CHECKS} checks per second overflows a 1 MiB spool");
        }
    }
}
