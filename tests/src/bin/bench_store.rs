//! Store ingest benchmark: results/s into SQLite through `Store::write_results` from four concurrent writers
//! (four agents' worth of batches), next to the baseline measured in the same run: a bare batched insert of
//! the same rows with rusqlite, one transaction per batch, same schema and pragmas. Run it as
//! `docs/benchmarks.md` says. The gRPC layer in front of the store is measured separately once it exists.

use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use prost::Message;
use rusqlite::params;
use slaprobe_collector::store::Store;
use slaprobe_proto::{ResultRecord, v1};

const WRITERS: usize = 4;
const PER_WRITER: u64 = 100_000;
const BATCH: u64 = 500;

fn record(agent: usize, seq: u64) -> ResultRecord {
    let started_at: Timestamp =
        "2026-03-01T00:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_secs(seq as i64);
    serde_json::from_value(serde_json::json!({
        "check_id": format!("check-{}", seq % 1000), "region": format!("region-{agent}"),
        "agent_id": format!("agent-{agent}"), "seq": seq, "scheduled_at": started_at.to_string(),
        "started_at": started_at.to_string(), "duration_ms": 41.25, "ok": !seq.is_multiple_of(97),
        "phases_ms": { "connect": 0.3, "ttfb": 38.1, "transfer": 0.4 },
        "http": { "status": 200, "version": "HTTP/1.1", "final_url": "https://api.example/health", "remote_addr": "192.0.2.1:443", "body_bytes": 2 },
    }))
    .unwrap()
}

fn batches(agent: usize) -> Vec<Vec<ResultRecord>> {
    (0..PER_WRITER / BATCH).map(|batch| (1..=BATCH).map(|n| record(agent, batch * BATCH + n)).collect()).collect()
}

#[tokio::main]
async fn main() {
    let all: Vec<Vec<Vec<ResultRecord>>> = (0..WRITERS).map(batches).collect();
    let total = WRITERS as u64 * PER_WRITER;

    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_sqlite(&dir.path().join("store.db")).expect("open store");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in all.clone() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for batch in writer {
                store.write_results(batch).await.expect("write");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let store_rate = total as f64 / started.elapsed().as_secs_f64();

    let bare_path = dir.path().join("bare.db");
    let mut connection = rusqlite::Connection::open(&bare_path).unwrap();
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
    for writer in &all {
        for batch in writer {
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
    }
    let bare_rate = total as f64 / started.elapsed().as_secs_f64();

    println!("{total} results ({WRITERS} writers × {PER_WRITER}, batches of {BATCH}), WAL, synchronous=FULL");
    println!("  Store::write_results (group commit)   {store_rate:>10.0} results/s   (target >= 50,000)");
    println!("  baseline: bare batched rusqlite insert {bare_rate:>9.0} results/s");
    println!("  store / baseline                       {:>9.0} %   (target >= 50 %)", 100.0 * store_rate / bare_rate);
}
