//! `slaprobe-collector import` with the real binary: a results file with agent lines, lines from a system that
//! sends no `seq` or `agent_id`, a malformed line and a blank one goes into the store; the malformed line is
//! reported with its number and skipped (exit 65), a second import stores nothing twice, the results are flagged
//! `imported`, and the report from the store equals the offline report of the same file.

use std::process::{Command, Stdio};

use slaprobe_collector::store::{ResultFlags, Store};
use slaprobe_tests::agent::collector_binary;
use slaprobe_tests::collector::{run_collector, store_config, web_contract};

/// Runs `import`, returning its exit status, standard output and standard error.
fn import(config: &str, results: &str) -> (Option<i32>, String, String) {
    let output = Command::new(collector_binary())
        .args(["import", "--config", config, "--results", results])
        .stdin(Stdio::null())
        .output()
        .expect("run import");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8");
    (output.status.code(), text(output.stdout), text(output.stderr))
}

#[test]
fn an_import_is_idempotent_flagged_and_reports_as_the_file_does() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_config(dir.path(), &web_contract(""));
    let mut lines = Vec::new();
    for minute in 0..600 {
        let (ok, region) = (!(100..110).contains(&minute), ["eu-west", "us-east"][minute % 2]);
        let started = format!("2026-02-01T{:02}:{:02}:05Z", minute / 60, minute % 60);
        let line = if minute % 3 == 0 {
            serde_json::json!({ "check_id": "web", "region": region, "started_at": started, "ok": ok })
        } else {
            serde_json::json!({ "check_id": "web", "region": region, "agent_id": format!("agent-{region}"),
                                "seq": minute, "started_at": started, "ok": ok, "error": (!ok).then_some("timeout") })
        };
        lines.push(line.to_string());
    }
    // Another system's line with a credential and a query key in its URL: stored redacted, as ingest stores one.
    lines[1] = serde_json::json!({ "check_id": "web", "region": "us-east", "agent_id": "agent-us-east", "seq": 1,
        "started_at": "2026-02-01T00:01:05Z", "ok": true,
        "http": { "status": 200, "final_url": "https://probe:hunter2-pw@api.example/health?key=secret-value" } })
    .to_string();
    lines.insert(3, "{ not json".to_owned());
    lines.insert(10, String::new());
    let results = dir.path().join("results.jsonl");
    std::fs::write(&results, lines.join("\n") + "\n").unwrap();
    let (config, results) = (config.to_str().unwrap(), results.to_str().unwrap());

    let (status, out, err) = import(config, results);
    assert_eq!(status, Some(65), "a skipped line is a data error once the rest is in: {out}{err}");
    assert!(out.contains("imported 600 results; 0 were already stored; 1 malformed lines skipped"), "{out}");
    assert!(err.contains("line 4: ") && err.contains("(skipped)"), "{err}");
    let (status, out, _) = import(config, results);
    assert_eq!(status, Some(65));
    assert!(out.contains("imported 0 results; 600 were already stored"), "{out}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let flagged = runtime.block_on(async {
        let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
        store.flagged_results("agent-eu-west").await.unwrap()
    });
    assert!(!flagged.is_empty() && flagged.iter().all(|(_, flags)| *flags == ResultFlags::IMPORTED), "{flagged:?}");
    let exported = run_collector(&["export", "--config", config, "--contract", "web", "--period", "2026-02"]);
    assert!(exported.contains("https://api.example/health?key=…"), "the URL is kept, redacted");
    assert!(!exported.contains("hunter2-pw") && !exported.contains("secret-value"), "{exported}");

    let from_store = run_collector(&["report", "--config", config, "--period", "2026-02"]);
    let contracts = dir.path().join("contracts.yaml");
    let contracts = contracts.to_str().unwrap();
    let args = ["report", "--contracts", contracts, "--results", results, "--period", "2026-02", "--skip-bad-lines"];
    let offline = run_collector(&args);
    let mut stored: serde_json::Value = serde_json::from_str(from_store.trim()).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(offline.trim()).unwrap();
    assert_eq!(stored["results_used"], 600);
    for report in [&mut stored, &mut file] {
        for key in ["generated_at", "silent_agents", "late"] {
            report.as_object_mut().unwrap().remove(key);
        }
    }
    assert_eq!(stored, file, "the store holds what the file says");
}
