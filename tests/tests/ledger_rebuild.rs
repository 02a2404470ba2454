//! The slice ledger survives SIGKILL mid-rebuild: a real `slaprobe-collector serve` builds the ledger of a store
//! holding forty days of results, is killed with SIGKILL part way, and restarted; it resumes where the last step
//! was recorded, and the ledger it ends with equals, row for row, one built without interruption from a copy of
//! the same store. The reports through it equal the offline reports of `export`'s output.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_collector::config::load_collector_config;
use slaprobe_collector::ledger::upkeep;
use slaprobe_collector::store::{LedgerState, SliceParts, Store};
use slaprobe_proto::ResultRecord;
use slaprobe_tests::collector::{run_collector, start_collector, store_config, web_contract};
use slaprobe_tests::wait;

const REGIONS: [&str; 3] = ["eu-west", "us-east", "ap-south"];
const MINUTES: i64 = 40 * 24 * 60;

fn start() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

/// One result a minute from each region for forty days, with an outage seen everywhere every 997 minutes and
/// failures of single regions in between.
fn results(minute: i64) -> Vec<ResultRecord> {
    REGIONS
        .iter()
        .enumerate()
        .map(|(index, region)| {
            let failed = minute % 997 < 4 || (minute + index as i64 * 13) % 211 == 0;
            let started = start() + SignedDuration::from_mins(minute) + SignedDuration::from_secs(index as i64 * 11);
            serde_json::from_value(serde_json::json!({
                "check_id": "web", "region": region, "agent_id": format!("agent-{region}"),
                "seq": minute + 1, "started_at": started.to_string(), "ok": !failed, "duration_ms": 12.5,
                "error": failed.then_some("connect: connection refused"),
            }))
            .unwrap()
        })
        .collect()
}

async fn state(store: &Store) -> Option<LedgerState> {
    store.ledger_states().await.unwrap().into_iter().find(|state| state.contract == "web")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collector_killed_mid_rebuild_resumes_to_the_same_ledger() {
    let (killed_dir, whole_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = Store::open_sqlite(&killed_dir.path().join("slaprobe.db")).unwrap();
    let mut batch = Vec::new();
    for minute in 0..MINUTES {
        batch.extend(results(minute));
        if batch.len() >= 10_000 || minute == MINUTES - 1 {
            store.write_results(std::mem::take(&mut batch)).await.unwrap();
        }
    }
    drop(store);
    // The writer checkpoints and removes the write-ahead log when it closes: then the file alone is the store.
    let wal = killed_dir.path().join("slaprobe.db-wal");
    wait::until(Duration::from_secs(30), "the store to be closed", async || !wal.exists()).await;
    std::fs::copy(killed_dir.path().join("slaprobe.db"), whole_dir.path().join("slaprobe.db")).unwrap();
    let contracts = web_contract("    min_down_run: 2\n");
    let config = store_config(killed_dir.path(), &contracts);
    let whole_config = store_config(whole_dir.path(), &contracts);

    let mut collector = start_collector(&config);
    let watching = Store::open_sqlite(&killed_dir.path().join("slaprobe.db")).unwrap();
    let end = start() + SignedDuration::from_mins(MINUTES);
    wait::until(Duration::from_secs(60), "the ledger to be part built", async || {
        state(&watching).await.is_some_and(|state| state.settled_until > start() + SignedDuration::from_hours(24))
    })
    .await;
    collector.kill().unwrap();
    collector.wait().unwrap();
    let at_kill = state(&watching).await.expect("a ledger state");
    assert!(at_kill.settled_until < end, "killed mid-rebuild, settled until {}", at_kill.settled_until);
    assert_eq!(at_kill.rebuilt_from, start());

    let restarted = start_collector(&config);
    wait::until(Duration::from_secs(120), "the ledger to be up to date", async || {
        state(&watching).await.is_some_and(|state| {
            state.settled_until > Timestamp::now().saturating_sub(SignedDuration::from_mins(10)).unwrap()
        })
    })
    .await;
    drop(restarted);
    let resumed = watching.ledger_slices("web", (Timestamp::MIN, end), SliceParts::CountsAndLatency).await.unwrap();

    let whole = Store::open_sqlite(&whole_dir.path().join("slaprobe.db")).unwrap();
    let loaded = load_collector_config(&whole_config).unwrap();
    let now = Timestamp::now();
    while upkeep::run_once(&whole, &loaded, "test", now).await.unwrap().unwrap() > 0 {}
    let uninterrupted = whole.ledger_slices("web", (Timestamp::MIN, end), SliceParts::CountsAndLatency).await.unwrap();
    assert_eq!(resumed.len(), MINUTES as usize, "one row per minute with results");
    assert!(resumed == uninterrupted, "the resumed ledger equals one built in one go");

    for period in ["2026-01", "2026-02"] {
        let config = config.to_str().unwrap();
        let from_store =
            tokio::task::block_in_place(|| run_collector(&["report", "--config", config, "--period", period]));
        let export = killed_dir.path().join(format!("{period}.jsonl"));
        let exported = run_collector(&["export", "--config", config, "--contract", "web", "--period", period]);
        std::fs::write(&export, exported).unwrap();
        let contracts = killed_dir.path().join("contracts.yaml");
        let offline = run_collector(&[
            "report",
            "--contracts",
            contracts.to_str().unwrap(),
            "--results",
            export.to_str().unwrap(),
            "--period",
            period,
        ]);
        let mut through: serde_json::Value = serde_json::from_str(from_store.trim()).unwrap();
        let mut raw: serde_json::Value = serde_json::from_str(offline.trim()).unwrap();
        for report in [&mut through, &mut raw] {
            for key in ["generated_at", "silent_agents", "late"] {
                report.as_object_mut().unwrap().remove(key);
            }
        }
        assert!(through["down_slices"].as_u64().unwrap() > 0, "{period}: outages were judged");
        assert_eq!(through, raw, "{period}: the report through the ledger equals the report from raw results");
    }
}
