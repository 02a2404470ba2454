//! The pipeline so far, with real processes: the agent's spool and uplink deliver into a real
//! `slaprobe-collector serve` that is killed with SIGKILL mid-stream and restarted; afterwards every result is
//! stored exactly once, and the report from the store equals the offline report of `export`'s output.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_agent::spool::Spool;
use slaprobe_agent::uplink::{self, Links};
use slaprobe_collector::digest::token_hash;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::plaintext_uplink;
use slaprobe_tests::collector::{run_collector, start_collector, web_contract};
use slaprobe_tests::ports::free_addr;
use tokio_util::sync::CancellationToken;

const TOTAL: i64 = 20_000;

fn record(index: i64) -> ResultRecord {
    let started: Timestamp =
        "2026-02-01T00:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_secs(index * 60);
    serde_json::from_value(serde_json::json!({
        "check_id": "web", "region": "eu-west", "agent_id": "agent-eu-1", "started_at": started.to_string(),
        "ok": !(5_000..5_090).contains(&index), "duration_ms": 5.5,
        "error": if (5_000..5_090).contains(&index) { Some("connect: connection refused (127.0.0.1:8080)") } else { None },
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkilled_collector_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let address = free_addr();
    std::fs::write(dir.path().join("contracts.yaml"), web_contract("")).unwrap();
    let config = dir.path().join("collector.yaml");
    // The results are February 2026's: a long retention keeps them inside the horizon ingest accepts.
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{address}\" }}\nstorage: {{ sqlite: data/slaprobe.db }}\n\
             retention: {{ results: 36500d, rollups: 36500d }}\n\
             agents:\n  - {{ id: agent-eu-1, region: eu-west, token_sha256: \"{}\" }}\ncontracts_file: contracts.yaml\n",
            token_hash("s3cret")
        ),
    )
    .unwrap();
    let mut spool = Spool::open(&dir.path().join("spool"), 256 * 1024 * 1024).unwrap();
    for index in 0..TOTAL {
        spool.append(&mut record(index)).unwrap();
    }
    spool.sync().unwrap();
    let spool = Arc::new(Mutex::new(spool));

    let mut first = tokio::task::block_in_place(|| start_collector(&config));
    let settings = plaintext_uplink(dir.path(), address, "s3cret", "agent-eu-1", "eu-west");
    let shutdown = CancellationToken::new();
    let uplink = tokio::spawn(uplink::run(settings, spool.clone(), Links::detached(), shutdown.clone()));
    let acked = || spool.lock().unwrap().acked();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acked() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no acknowledgement");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().unwrap(); // SIGKILL, mid-stream
    first.wait().unwrap();
    let acked_at_kill = acked();
    assert!(acked_at_kill < TOTAL as u64, "the kill came after everything was delivered; make TOTAL larger");

    let mut second = tokio::task::block_in_place(|| start_collector(&config));
    while acked() < TOTAL as u64 {
        assert!(tokio::time::Instant::now() < deadline, "stuck at {} of {TOTAL}", acked());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    uplink.await.unwrap();

    let config_arg = config.to_str().unwrap();
    let exported = tokio::task::block_in_place(|| {
        run_collector(&["export", "--config", config_arg, "--contract", "web", "--period", "2026-02"])
    });
    let seqs: Vec<u64> =
        exported.lines().map(|line| serde_json::from_str::<ResultRecord>(line).unwrap().seq.unwrap()).collect();
    let february = (0..TOTAL).filter(|index| *index < 28 * 24 * 60).count() as u64;
    assert_eq!(
        seqs,
        (1..=february).collect::<Vec<u64>>(),
        "every February result exactly once (killed at {acked_at_kill})"
    );

    // One instant for both reports, so that `generated_at` is the same.
    const AS_OF: &str = "2026-03-15T12:00:00Z";
    let export_file = dir.path().join("export.jsonl");
    std::fs::write(&export_file, &exported).unwrap();
    let (from_store, from_export) = tokio::task::block_in_place(|| {
        (
            run_collector(&["report", "--config", config_arg, "--period", "2026-02", "--as-of", AS_OF]),
            run_collector(&[
                "report",
                "--contracts",
                dir.path().join("contracts.yaml").to_str().unwrap(),
                "--results",
                export_file.to_str().unwrap(),
                "--period",
                "2026-02",
                "--as-of",
                AS_OF,
            ]),
        )
    });
    let mut report: serde_json::Value = serde_json::from_str(from_store.trim()).unwrap();
    let mut offline: serde_json::Value = serde_json::from_str(from_export.trim()).unwrap();
    // Only the store knows which agents should have reported, and that these February results all arrived
    // after February had closed; everything else must be identical.
    assert_eq!(report["silent_agents"], serde_json::json!([]));
    assert_eq!(offline["silent_agents"], serde_json::Value::Null);
    assert_eq!(report["late"]["results"], february, "history replayed now is late");
    assert_eq!(offline["late"], serde_json::Value::Null);
    for key in ["silent_agents", "late"] {
        report.as_object_mut().unwrap().remove(key);
        offline.as_object_mut().unwrap().remove(key);
    }
    assert_eq!(report, offline, "the report from the store equals the report from its export");
    assert_eq!(report["down_slices"], 90);
    assert_eq!(report["incidents"][0]["sample_errors"][0], "connect: connection refused (127.0.0.1:8080)");
    second.kill().unwrap();
    second.wait().unwrap();
}
