//! What the ingest benchmarks share: a realistic sample result, the benchmark agents' identities, and the
//! baselines they are measured against — a
//! bare rusqlite insert of the same rows by one writer, same schema and pragmas as the store (`synchronous =
//! FULL`), one transaction per agent batch (500 rows) and, the strongest fair baseline, one per 10,000 rows (what
//! the store's group commit gathers at best).

use std::path::Path;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use prost::Message;
use rusqlite::params;
use slaprobe_collector::config::AgentIdentity;
use slaprobe_collector::digest::token_hash;
use slaprobe_proto::{ResultRecord, v1};

/// Rows per transaction of the batch baseline: an agent's batch.
pub const BASELINE_BATCH: usize = 500;
/// Rows per transaction of the group-commit baseline.
pub const BASELINE_GROUP: usize = 10_000;

/// The identities of `count` benchmark agents: `agent-N` in `region-N` with token `token-N`.
pub fn bench_identities(count: usize) -> Vec<AgentIdentity> {
    (0..count)
        .map(|agent| AgentIdentity {
            agent_id: format!("agent-{agent}"),
            region: format!("region-{agent}"),
            token_sha256: token_hash(&format!("token-{agent}")),
            public_key: None,
            client_cert: None,
            enrolment: None,
        })
        .collect()
}

/// A typical HTTP result of `agent` (region `region-N`), the `index`-th it produced, started at `start + index ms`.
pub fn sample_result(agent: usize, index: u64, start: Timestamp) -> ResultRecord {
    let started_at = start + SignedDuration::from_millis(index as i64);
    serde_json::from_value(serde_json::json!({
        "check_id": format!("check-{}", index % 1000), "region": format!("region-{agent}"),
        "agent_id": format!("agent-{agent}"), "scheduled_at": started_at.to_string(),
        "started_at": started_at.to_string(), "duration_ms": 41.25, "ok": !index.is_multiple_of(97),
        "phases_ms": { "connect": 0.3, "ttfb": 38.1, "transfer": 0.4 },
        "http": { "status": 200, "version": "HTTP/1.1", "final_url": "https://api.example/health",
                  "remote_addr": "192.0.2.1:443", "body_bytes": 2 },
    }))
    .expect("sample result")
}

/// Inserts `rows` (each with `agent_id` and `seq`) into a fresh database at `path`, `per_transaction` rows per
/// transaction; returns rows per second.
pub fn bare_insert_rate(path: &Path, rows: &[ResultRecord], per_transaction: usize) -> f64 {
    let mut connection = rusqlite::Connection::open(path).expect("open baseline database");
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -65536;
             PRAGMA mmap_size = 268435456;
             CREATE TABLE results (agent_id TEXT NOT NULL, seq INTEGER NOT NULL, check_id TEXT NOT NULL,
                 region TEXT NOT NULL, started_at_ns INTEGER NOT NULL, ok INTEGER NOT NULL, record BLOB NOT NULL,
                 PRIMARY KEY (agent_id, seq)) WITHOUT ROWID;
             CREATE INDEX results_by_check_time ON results (check_id, started_at_ns);",
        )
        .expect("baseline schema");
    let started = Instant::now();
    for batch in rows.chunks(per_transaction) {
        let transaction = connection.transaction().expect("begin");
        {
            let mut insert = transaction
                .prepare_cached("INSERT OR IGNORE INTO results VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .expect("prepare");
            for result in batch {
                insert
                    .execute(params![
                        result.agent_id.as_deref().unwrap_or_default(),
                        result.seq.unwrap_or_default() as i64,
                        result.check_id,
                        result.region,
                        result.started_at.as_nanosecond() as i64,
                        result.ok,
                        v1::Result::from(result).encode_to_vec()
                    ])
                    .expect("insert");
            }
        }
        transaction.commit().expect("commit");
    }
    rows.len() as f64 / started.elapsed().as_secs_f64()
}
