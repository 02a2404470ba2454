//! Store ingest benchmark: results/s into SQLite through `Store::write_results` from four concurrent writers
//! (four agents' worth of batches), next to the baselines measured in the same run: a bare insert of the same
//! rows with rusqlite by one writer, same schema and pragmas, one transaction per batch of 500 and one per
//! 10,000 rows (the most a group commit gathers here). Run it as
//! `docs/benchmarks.md` says. `bench_ingest` measures the same with the gRPC layer and the uplink in front.

use std::time::Instant;

use jiff::Timestamp;
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::ingest_baseline::{BASELINE_BATCH, BASELINE_GROUP, bare_insert_rate, sample_result};

const WRITERS: usize = 4;
const PER_WRITER: u64 = 100_000;
const BATCH: u64 = 500;

fn batches(agent: usize) -> Vec<Vec<ResultRecord>> {
    let start: Timestamp = "2026-03-01T00:00:00Z".parse().expect("timestamp");
    let mut seq = 0;
    (0..PER_WRITER / BATCH)
        .map(|_| {
            (0..BATCH)
                .map(|_| {
                    seq += 1;
                    let mut result = sample_result(agent, seq, start);
                    result.seq = Some(seq);
                    result
                })
                .collect()
        })
        .collect()
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

    let rows: Vec<ResultRecord> = all.into_iter().flatten().flatten().collect();
    let bare_rate = bare_insert_rate(&dir.path().join("bare.db"), &rows, BASELINE_BATCH);
    let group_rate = bare_insert_rate(&dir.path().join("group.db"), &rows, BASELINE_GROUP);

    println!("{total} results ({WRITERS} writers × {PER_WRITER}, batches of {BATCH}), WAL, synchronous=FULL");
    println!("  Store::write_results (group commit)   {store_rate:>10.0} results/s   (target >= 50,000)");
    println!("  baseline: one writer, 500 per commit    {bare_rate:>9.0} results/s");
    println!("  baseline: one writer, 10,000 per commit {group_rate:>9.0} results/s   (the strongest fair baseline)");
    println!(
        "  store / baselines                      {:>5.0} % / {:.0} %   (target >= 50 %)",
        100.0 * store_rate / bare_rate,
        100.0 * store_rate / group_rate
    );
}
