//! Signed evidence end to end, with the real agent and collector: the agent's key is made at first start and
//! printed for pinning; every stored result links to the one before it and checkpoints signed with the pinned
//! key cover them, across a SIGKILL; an agent restarted with a new key is refused, keeps probing into its spool,
//! and delivers everything, chain unbroken, once the new key is pinned.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use prost::Message;
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::Store;
use slaprobe_proto::evidence::{Chain, GENESIS, PublicKey, Statement, canonical, carried_chain, link};
use slaprobe_proto::{ResultRecord, v1};
use slaprobe_tests::agent::{AgentProcess, run_agent};
use slaprobe_tests::collector::start_collector_logged;
use slaprobe_tests::http_client::get;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::wait;

fn collector_yaml(grpc: std::net::SocketAddr, http: std::net::SocketAddr, target: &str, key: &str) -> String {
    format!(
        "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: data/slaprobe.db }}\n\
         agents:\n  - {{ id: edge-1, region: local, token_sha256: \"{}\", public_key: \"{key}\" }}\n\
         checks:\n  - {{ id: web, kind: http, target: \"{target}\", interval: 1s, timeout: 500ms }}\n",
        token_hash("s3cret"),
    )
}

/// The agent's public key, as `--print-public-key` prints it.
fn print_key(config: &Path) -> String {
    let (code, stdout, stderr) = run_agent(&["--config", config.to_str().unwrap(), "--print-public-key"]);
    assert_eq!(code, Some(0), "{stderr}");
    stdout.trim().to_owned()
}

/// Every stored result of edge-1 with the chain value it carries, by seq.
fn stored_chain(database: &Path) -> Vec<(ResultRecord, Option<Chain>)> {
    let connection = rusqlite::Connection::open(database).unwrap();
    let mut query = connection.prepare("SELECT record FROM results WHERE agent_id = 'edge-1' ORDER BY seq").unwrap();
    query
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|bytes| {
            let result = v1::Result::decode(bytes.unwrap().as_slice()).unwrap();
            let chain = carried_chain(&result).unwrap();
            (ResultRecord::try_from(result).unwrap(), chain)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn results_arrive_chained_and_signed_and_a_new_key_waits_until_pinned() {
    let server = HttpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let spool = dir.path().join("agent-spool");
    let agent_yaml = format!(
        "agent_id: edge-1\nregion: local\ncollector: \"http://{grpc}\"\ntoken: s3cret\nspool_dir: \"{}\"\n",
        spool.display()
    );
    let agent_config = dir.path().join("agent.yaml");
    std::fs::write(&agent_config, &agent_yaml).unwrap();

    let first_key = tokio::task::block_in_place(|| print_key(&agent_config));
    assert!(first_key.parse::<PublicKey>().is_ok(), "{first_key}");
    let mode = std::fs::metadata(spool.join("signing.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only the agent's user may read its private key");
    assert_eq!(tokio::task::block_in_place(|| print_key(&agent_config)), first_key, "made once, then kept");

    let collector_config = dir.path().join("collector.yaml");
    std::fs::write(&collector_config, collector_yaml(grpc, http, &server.url("/"), &first_key)).unwrap();
    let (collector, log) = tokio::task::block_in_place(|| start_collector_logged(&collector_config));
    let database = dir.path().join("data/slaprobe.db");
    let store = Store::open_sqlite(&database).unwrap();
    let agent = AgentProcess::start_for_collector(tempfile::tempdir().unwrap(), &agent_yaml);
    wait::until(Duration::from_secs(30), "results and a checkpoint", async || {
        stored_chain(&database).len() >= 3
            && !store.checkpoints("edge-1", (0, i64::MAX as u64)).await.unwrap().is_empty()
    })
    .await;
    let (_, body) = get(http, "/api/v1/agents").await;
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(api["agents"][0]["key"], "pinned", "{body}");
    assert_eq!(api["agents"][0]["public_key"], first_key.as_str(), "{body}");

    // The agent loses its key (SIGKILL, key file gone): the one it makes at restart is refused.
    agent.signal(Signal::SIGKILL);
    let _ = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(5)));
    std::fs::remove_file(spool.join("signing.key")).unwrap();
    let agent = AgentProcess::start_for_collector(tempfile::tempdir().unwrap(), &agent_yaml);
    wait::until(Duration::from_secs(30), "the new key refused", async || {
        log.lock().unwrap().iter().any(|line| line.contains("Refused an agent's key") && line.contains("pins"))
    })
    .await;
    let before_pinning = stored_chain(&database).len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stored_chain(&database).len(), before_pinning, "nothing is taken from the unpinned key");
    let (_, metrics) = get(http, "/metrics").await;
    assert!(metrics.contains("slaprobe_collector_agent_sessions_refused_total{reason=\"key_mismatch\"}"), "{metrics}");

    // Pinning the new key lets the agent deliver what it spooled meanwhile.
    let second_key = tokio::task::block_in_place(|| print_key(&agent_config));
    assert_ne!(second_key, first_key);
    std::fs::write(&collector_config, collector_yaml(grpc, http, &server.url("/"), &second_key)).unwrap();
    wait::until(Duration::from_secs(60), "results under the new key", async || {
        stored_chain(&database).len() >= before_pinning + 4
            && store
                .checkpoints("edge-1", (0, i64::MAX as u64))
                .await
                .unwrap()
                .iter()
                .any(|stored| stored.checkpoint.public_key.to_string() == second_key)
    })
    .await;
    drop(agent);
    drop(collector);

    // Every result links to the one before it from the first, across the SIGKILL and the new key.
    let results = stored_chain(&database);
    let mut previous = GENESIS;
    for (index, (record, chain)) in results.iter().enumerate() {
        assert_eq!(record.seq, Some(index as u64 + 1), "seqs are gap-free");
        let expected = link(&previous, &canonical(record).unwrap());
        assert_eq!(*chain, Some(expected), "result {index} links to the one before");
        previous = expected;
    }
    // Every checkpoint verifies with a key the configuration pinned, and covers a stored result's chain value.
    let checkpoints = store.checkpoints("edge-1", (0, i64::MAX as u64)).await.unwrap();
    assert!(checkpoints.len() >= 2, "one at least per session: {checkpoints:?}");
    for stored in checkpoints {
        let checkpoint = stored.checkpoint;
        let key = checkpoint.public_key.to_string();
        assert!(key == first_key || key == second_key, "{key}");
        let statement =
            Statement::Checkpoint { agent_id: "edge-1".to_owned(), seq: checkpoint.seq, chain: checkpoint.chain };
        assert!(checkpoint.public_key.verifies(&statement, &checkpoint.signature));
        assert_eq!(results[checkpoint.seq as usize - 1].1, Some(checkpoint.chain));
    }
}
