//! What a report can know, with the real binary on a real SQLite store: time before the contract's first result
//! is `not monitored` (never down, even with `no_data: down`), a gap after monitoring began is `unknown`, and an
//! export carries the first result, so a report from the export says exactly what the store's says.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::collector::run_collector;

/// One result of `web` from eu-west per minute in `[from, to)`, all up.
fn minutely(from: &str, to: &str, seq: &mut u64) -> Vec<ResultRecord> {
    let (mut at, to): (Timestamp, Timestamp) = (from.parse().unwrap(), to.parse().unwrap());
    let mut results = Vec::new();
    while at < to {
        *seq += 1;
        let started = at + SignedDuration::from_secs(5);
        results.push(
            serde_json::from_value(serde_json::json!({
                "check_id": "web", "region": "eu-west", "agent_id": "edge-1", "seq": *seq,
                "started_at": started.to_string(), "ok": true, "duration_ms": 12.0,
            }))
            .unwrap(),
        );
        at += SignedDuration::from_mins(1);
    }
    results
}

fn report(args: &[&str]) -> Value {
    let text = run_collector(&[&["report", "--as-of", "2026-05-02T00:00:00Z"], args].concat());
    serde_json::from_str(text.trim()).unwrap_or_else(|error| panic!("{error}: {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn monitoring_starts_with_the_first_result_and_the_export_carries_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let mut seq = 0;
    // Monitoring began on March 31 at 23:00 for one hour; nothing then until April 15.
    let mut results = minutely("2026-03-31T23:00:00Z", "2026-04-01T00:00:00Z", &mut seq);
    results.extend(minutely("2026-04-15T00:00:00Z", "2026-05-01T00:00:00Z", &mut seq));
    store.write_results(results).await.unwrap();
    drop(store);
    let contracts = "contracts:\n  - { id: web, vendor: Loopback, service: Web, checks: [web], objective: 99.9, \
                     no_data: down, credits: { fee: 1000, currency: USD, tiers: [ { below: 99.9, credit: 100 } ] } }\n";
    std::fs::write(dir.path().join("contracts.yaml"), contracts).unwrap();
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        "listen: { grpc: \"127.0.0.1:1\" }\nstorage: { sqlite: slaprobe.db }\n\
         checks: [ { id: web, kind: tcp, target: \"127.0.0.1:9\", interval: 60s } ]\ncontracts_file: contracts.yaml\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();

    // March: 31 days, monitored only in its last hour; the rest is not monitored, not down.
    let march = tokio::task::block_in_place(|| report(&["--config", config, "--period", "2026-03"]));
    assert_eq!(march["not_monitored_slices"], 31 * 1440 - 60, "{march}");
    assert_eq!((march["eligible_slices"].as_u64(), march["uptime_percent"].as_f64()), (Some(60), Some(100.0)));
    assert_eq!(march["credit_amount"], 0.0, "{march}");
    assert_eq!(march["monitored_from"], "2026-03-31T23:00:00Z");
    assert_eq!(march["coverage"]["low"], true, "{march}");

    // April: monitoring had begun, so the 14 silent days are unknown and, by `no_data: down`, down.
    let april = tokio::task::block_in_place(|| report(&["--config", config, "--period", "2026-04"]));
    assert_eq!((april["not_monitored_slices"].as_u64(), april["unknown_slices"].as_u64()), (Some(0), Some(14 * 1440)));
    assert_eq!((april["eligible_slices"].as_u64(), april["credit_amount"].as_f64()), (Some(43_200), Some(1000.0)));
    assert_eq!((april["period_status"].as_str(), april["preliminary"].as_bool()), (Some("complete"), Some(false)));
    assert_eq!(april["generated_at"], "2026-05-02T00:00:00Z", "--as-of sets the moment of the report");

    // The export starts with March's first result, and the report from it is the store's.
    let export = tokio::task::block_in_place(|| {
        run_collector(&["export", "--config", config, "--contract", "web", "--period", "2026-04"])
    });
    let first: ResultRecord = serde_json::from_str(export.lines().next().unwrap()).unwrap();
    assert_eq!(first.started_at.to_string(), "2026-03-31T23:00:05Z");
    let starts: Vec<Timestamp> =
        export.lines().map(|line| serde_json::from_str::<ResultRecord>(line).unwrap().started_at).collect();
    assert_eq!(starts.len(), 1 + 16 * 1440, "every result of April, read six hours at a time, and the first one");
    assert!(starts.is_sorted(), "in time order across the hours");
    let export_file = dir.path().join("export.jsonl");
    std::fs::write(&export_file, &export).unwrap();
    let contracts_file = dir.path().join("contracts.yaml");
    let mut offline = tokio::task::block_in_place(|| {
        report(&[
            "--contracts",
            contracts_file.to_str().unwrap(),
            "--results",
            export_file.to_str().unwrap(),
            "--period",
            "2026-04",
        ])
    });
    let mut stored = april.clone();
    for report in [&mut offline, &mut stored] {
        report.as_object_mut().unwrap().remove("silent_agents");
    }
    assert_eq!(offline, stored, "a report from the export says what the store's says");
}
