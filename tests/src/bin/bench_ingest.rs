//! Ingest benchmark, end to end over gRPC: four agents' spools (100,000 results each) streamed by the agent's
//! uplink into the collector's ingest service and SQLite store on loopback, timed until every result is
//! acknowledged; next to the baseline measured in the same run, a bare batched rusqlite insert of the same rows.
//! Run it as `docs/benchmarks.md` says.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use prost::Message;
use rusqlite::params;
use slaprobe_agent::spool::Spool;
use slaprobe_agent::uplink::{self, Links, UplinkSettings};
use slaprobe_collector::ingest::auth::token_hash;
use slaprobe_collector::ingest::{AgentIdentity, Agents, IngestService};
use slaprobe_collector::store::Store;
use slaprobe_proto::{ResultRecord, v1};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

const AGENTS: usize = 4;
const PER_AGENT: u64 = 100_000;

fn record(agent: usize, index: u64) -> ResultRecord {
    let started_at = Timestamp::now() - SignedDuration::from_secs(86_400) + SignedDuration::from_millis(index as i64);
    serde_json::from_value(serde_json::json!({
        "check_id": format!("check-{}", index % 1000), "region": format!("region-{agent}"),
        "agent_id": format!("agent-{agent}"), "scheduled_at": started_at.to_string(),
        "started_at": started_at.to_string(), "duration_ms": 41.25, "ok": !index.is_multiple_of(97),
        "phases_ms": { "connect": 0.3, "ttfb": 38.1, "transfer": 0.4 },
        "http": { "status": 200, "version": "HTTP/1.1", "final_url": "https://api.example/health", "remote_addr": "192.0.2.1:443", "body_bytes": 2 },
    }))
    .unwrap()
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut spools = Vec::new();
    let mut rows = Vec::new();
    for agent in 0..AGENTS {
        let mut spool = Spool::open(&dir.path().join(format!("spool-{agent}")), 1 << 30).unwrap();
        for index in 0..PER_AGENT {
            let mut result = record(agent, index);
            spool.append(&mut result).unwrap();
            rows.push(result);
        }
        spool.sync().unwrap();
        spools.push(Arc::new(Mutex::new(spool)));
    }
    let total = AGENTS as u64 * PER_AGENT;

    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let identities = (0..AGENTS)
        .map(|agent| AgentIdentity {
            agent_id: format!("agent-{agent}"),
            region: format!("region-{agent}"),
            token_sha256: token_hash(&format!("token-{agent}")),
        })
        .collect();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = IngestService::new(store, Agents::new(identities)).into_server();
    tokio::spawn(
        tonic::transport::Server::builder().add_service(service).serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let started = Instant::now();
    let shutdown = CancellationToken::new();
    for (agent, spool) in spools.iter().enumerate() {
        let settings = UplinkSettings {
            collectors: vec![format!("http://{address}")],
            token: format!("token-{agent}"),
            agent_id: format!("agent-{agent}"),
            region: format!("region-{agent}"),
        };
        tokio::spawn(uplink::run(settings, spool.clone(), Links::detached(), shutdown.clone()));
    }
    while spools.iter().map(|spool| spool.lock().unwrap().acked()).sum::<u64>() < total {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ingest_rate = total as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();

    let mut connection = rusqlite::Connection::open(dir.path().join("bare.db")).unwrap();
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE results (agent_id TEXT NOT NULL, seq INTEGER NOT NULL, check_id TEXT NOT NULL,
                 region TEXT NOT NULL, started_at_ns INTEGER NOT NULL, ok INTEGER NOT NULL, record BLOB NOT NULL,
                 PRIMARY KEY (agent_id, seq)) WITHOUT ROWID;
             CREATE INDEX results_by_check_time ON results (check_id, started_at_ns);",
        )
        .unwrap();
    let started = Instant::now();
    for batch in rows.chunks(500) {
        let transaction = connection.transaction().unwrap();
        {
            let mut insert = transaction
                .prepare_cached("INSERT OR IGNORE INTO results VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .unwrap();
            for result in batch {
                insert
                    .execute(params![
                        result.agent_id.as_deref().unwrap(),
                        result.seq.unwrap() as i64,
                        result.check_id,
                        result.region,
                        result.started_at.as_nanosecond() as i64,
                        result.ok,
                        v1::Result::from(result).encode_to_vec()
                    ])
                    .unwrap();
            }
        }
        transaction.commit().unwrap();
    }
    let bare_rate = total as f64 / started.elapsed().as_secs_f64();

    println!(
        "{total} results: {AGENTS} agents' spools × {PER_AGENT}, uplink → gRPC (loopback) → ingest → SQLite, until all acknowledged"
    );
    println!("  end-to-end ingest                        {ingest_rate:>9.0} results/s   (target >= 50,000)");
    println!("  baseline: bare batched rusqlite insert   {bare_rate:>9.0} results/s");
    println!(
        "  ingest / baseline                        {:>9.0} %   (target >= 50 %)",
        100.0 * ingest_rate / bare_rate
    );
}
