//! Retention as the collector schedules it: the real binary on a SQLite file that already holds results older
//! than `retention.results` and results of the last hours. The first run (a minute after start) takes the
//! `retention` lease, rolls the recent results up into per-minute counts, deletes exactly the results past the
//! configured cutoff, and says so in the log.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::collector::start_collector_logged;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::wait;

fn result(seq: u64, started: Timestamp, ok: bool) -> ResultRecord {
    serde_json::from_value(serde_json::json!({
        "check_id": "api", "region": "eu", "agent_id": "agent-eu", "seq": seq,
        "started_at": started.to_string(), "ok": ok, "duration_ms": 20.0,
        "error_kind": (!ok).then_some("connect"), "error": (!ok).then_some("connect: connection refused"),
    }))
    .unwrap()
}

async fn stored_between(store: &Store, from: Timestamp, to: Timestamp) -> Vec<ResultRecord> {
    store.results_between(&["api".to_owned()], from, to).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_run_rolls_up_and_deletes_what_is_past_the_configured_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let now = Timestamp::now();
    let minute = |ago: i64| {
        let at = now - SignedDuration::from_mins(ago);
        Timestamp::from_second(at.as_second() - at.as_second().rem_euclid(60)).unwrap() + SignedDuration::from_secs(5)
    };
    // Three results 40 days old (past 35 days), and one a minute for the three minutes two hours ago, one failed.
    let old: Vec<ResultRecord> =
        (1..=3).map(|index| result(index, minute(40 * 24 * 60 + index as i64), true)).collect();
    let recent: Vec<ResultRecord> =
        (0..3).map(|index| result(10 + index, minute(122 - index as i64), index != 1)).collect();
    store.write_results(old.iter().chain(&recent).cloned().collect()).await.unwrap();

    let config = dir.path().join("collector.yaml");
    let grpc = free_addr();
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             checks:\n  - {{ id: api, kind: http, target: \"http://127.0.0.1:9/\", interval: 1m }}\n\
             retention: {{ results: 35d, rollups: 36d }}\n"
        ),
    )
    .unwrap();
    let (collector, log) = tokio::task::block_in_place(|| start_collector_logged(&config));
    let cutoff = now - SignedDuration::from_hours(35 * 24);
    wait::until(Duration::from_secs(120), "the first retention run", async || {
        stored_between(&store, Timestamp::UNIX_EPOCH, cutoff).await.is_empty()
    })
    .await;

    assert_eq!(stored_between(&store, cutoff, now).await, recent, "results inside the retention stay as they were");
    let rollups = store.rollups("api", None, minute(123), minute(119)).await.unwrap();
    let counts: Vec<(Timestamp, u64, u64)> =
        rollups.iter().map(|rollup| (rollup.minute, rollup.total, rollup.failed)).collect();
    let start = |at: Timestamp| at - SignedDuration::from_secs(5);
    assert_eq!(
        counts,
        [(start(minute(122)), 1, 0), (start(minute(121)), 1, 1), (start(minute(120)), 1, 0)],
        "the recent minutes rolled up"
    );
    wait::until(Duration::from_secs(10), "the log line", async || {
        log.lock()
            .unwrap()
            .iter()
            .any(|line| line.contains("Deleted results past retention.") && line.contains("deleted=3"))
    })
    .await;
    let lease: (String, String) = rusqlite::Connection::open(dir.path().join("slaprobe.db"))
        .unwrap()
        .query_row("SELECT name, holder FROM leases WHERE name = 'retention'", [], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap();
    assert!(lease.1.ends_with(&format!(":{}", collector.id())), "the collector held the retention lease: {lease:?}");
}
