//! The API matches its document, as a tool nobody here wrote sees it: schemathesis (from PyPI) runs every check
//! it has against a real collector with stored results and an admin token, generating requests from
//! `/api/v1/openapi.json`: valid ones must be answered as documented (no 5xx, no undocumented status, body or
//! content type), and invalid ones refused with a documented 4xx. Any finding fails the test with its report.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use jiff::{SignedDuration, Timestamp};
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::collector::{run_collector, start_collector};
use slaprobe_tests::ports::free_addr;

const ADMIN: &str = "admin-token-5c2d";

/// `$SCHEMATHESIS`, else `schemathesis` on the `PATH`.
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("schemathesis")).find(|path| path.is_file()))
        .expect("no `schemathesis` on the PATH: `python3 -m pip install schemathesis==4.32.5` (.ci/run does)")
}

/// Two days of results, one a minute from two regions, with a 20-minute outage seen from both.
fn history(now: Timestamp) -> Vec<ResultRecord> {
    let mut results = Vec::new();
    for (index, minute) in (0..2 * 24 * 60).enumerate() {
        let started = now - SignedDuration::from_mins(2 * 24 * 60 - minute);
        for region in ["eu-west", "us-east"] {
            let down = (600..620).contains(&minute);
            results.push(
                serde_json::from_value(serde_json::json!({
                    "check_id": "web", "region": region, "agent_id": format!("edge-{region}"),
                    "seq": index + 1, "started_at": started.to_string(), "ok": !down, "duration_ms": 21.5,
                    "error_kind": down.then_some("connect"), "error": down.then_some("connect: connection refused"),
                }))
                .unwrap(),
            );
        }
    }
    results
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing() {
    let tool = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    store.write_results(history(Timestamp::now())).await.unwrap();
    // Two hours of a past month with the same outage, so that a closed period and a claim are there to read.
    let past: Vec<ResultRecord> = history("2026-10-17T12:00:00Z".parse().unwrap())
        .into_iter()
        .skip(2 * 540)
        .take(2 * 120)
        .map(|mut result| {
            result.agent_id = result.agent_id.map(|agent| format!("{agent}-past"));
            result
        })
        .collect();
    store.write_results(past).await.unwrap();
    drop(store);
    let (grpc, http) = (free_addr(), free_addr());
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             api_tokens:\n  - {{ name: ops, role: admin, token_sha256: \"{}\" }}\n\
             checks:\n  - {{ id: web, kind: tcp, target: \"127.0.0.1:9\", interval: 60s }}\n\
             contracts:\n  - {{ id: web, vendor: V, service: S, checks: [web], objective: 99.9, \
             credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n\
             \x20 - {{ id: quarterly, vendor: V, service: S, checks: [web], objective: 99.5, period: quarter, \
             credits: {{ fee: 300, currency: EUR, tiers: [ {{ below: 99.5, credit: 25 }} ] }} }}\n",
            token_hash(ADMIN)
        ),
    )
    .unwrap();
    let closed = tokio::task::block_in_place(|| run_collector(&["close", "--config", config.to_str().unwrap()]));
    assert!(closed.contains("web 2026-10: closed as revision 1"), "{closed}");
    let _collector = tokio::task::block_in_place(|| start_collector(&config));

    let output = tokio::task::block_in_place(|| {
        Command::new(tool)
            .current_dir(dir.path())
            .args(["run", &format!("http://{http}/api/v1/openapi.json")])
            .args(["--header", &format!("Authorization: Bearer {ADMIN}")])
            .args(["--checks", "all", "--max-examples", "40", "--seed", "20261130", "--no-color"])
            .stdin(Stdio::null())
            .output()
            .expect("run schemathesis")
    });
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("Tested: 30"), "every operation was tested:\n{report}");
}
