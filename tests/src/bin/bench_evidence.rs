//! `bench_evidence`: an evidence bundle and its verification at the scale of a real fleet. A month of one check
//! probed every 30 s from 15 regions (15 agents × 89,280 = 1,339,200 results, October 2026), chained and signed as
//! agents send them, with an hour's outage on the 10th seen everywhere, is ingested into a fresh SQLite store over
//! gRPC; then the release `slaprobe-collector evidence` writes the month's bundle and the release `slaprobe-verify`
//! checks it, each in its own process: wall time and peak RSS. Baselines in the same run: `sha256sum` of the
//! bundle's `results.jsonl` (reading and hashing its bytes, the floor of any check of it) and, with `--python`,
//! the independent Python check of the specification (`tests/python/verify_bundle.py`).
//!
//! `cargo build --release -p slaprobe-collector -p slaprobe-verify --bins && cargo run --release -p slaprobe-tests
//! --bin bench_evidence -- [--agents 15] [--per-agent 89280] [--python]`

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::{collector_binary, verify_binary};
use slaprobe_tests::evidence_overhead::{ingest_rate, prepare};
use slaprobe_tests::process_stats::run_measured;

/// The month measured.
const PERIOD: &str = "2026-10";
/// Between two probes of one agent.
const INTERVAL: SignedDuration = SignedDuration::from_secs(30);

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let option = |name: &str, default: usize| {
        arguments
            .iter()
            .position(|argument| argument == name)
            .and_then(|at| arguments.get(at + 1))
            .map_or(default, |value| value.parse().expect("a number"))
    };
    let (agents, per_agent) = (option("--agents", 15), option("--per-agent", 89_280));
    let python = arguments.iter().any(|argument| argument == "--python");
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("slaprobe.db");

    let rows: Vec<Vec<ResultRecord>> = (0..agents).map(|agent| month_of(agent, per_agent)).collect();
    let total = agents * per_agent;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let rate = runtime.block_on(ingest_rate(&database, prepare(&rows, true)));
    drop(rows);
    println!("seeded: {total} results from {agents} agents, chained and signed, ingested at {rate:.0} results/s");

    let config = dir.path().join("collector.yaml");
    std::fs::write(&config, collector_yaml(&database, agents)).expect("write collector.yaml");
    let bundle = dir.path().join("bundle");
    let (written, written_peak, _) = run_measured(Command::new(collector_binary()).args([
        "evidence",
        "--config",
        config.to_str().expect("UTF-8 path"),
        "--contract",
        "acme-api",
        "--period",
        PERIOD,
        "--out",
        bundle.to_str().expect("UTF-8 path"),
    ]));
    let results_bytes = std::fs::metadata(bundle.join("results.jsonl")).expect("results.jsonl").len();
    let (checked, checked_peak, said) = run_measured(Command::new(verify_binary()).arg(&bundle));
    let said = String::from_utf8_lossy(&said);
    assert!(said.contains("verified:"), "the bundle must verify:\n{said}");
    let (hashed, hashed_peak, _) = run_measured(Command::new("sha256sum").arg(bundle.join("results.jsonl")));

    println!("\nbundle of {PERIOD}: results.jsonl {:.0} MB", results_bytes as f64 / 1e6);
    for line in said.lines() {
        println!("  | {line}");
    }
    println!("\n{:<44} {:>9} {:>14}", "", "wall", "peak RSS");
    row("slaprobe-collector evidence (write it)", written, written_peak);
    row("slaprobe-verify (check it, report again)", checked, checked_peak);
    row("baseline: sha256sum results.jsonl", hashed, hashed_peak);
    if python {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/verify_bundle.py");
        let (took, peak, _) = run_measured(Command::new("python3").arg(script).arg(&bundle));
        row("baseline: the Python check (chains only)", took, peak);
    }
    println!(
        "\nslaprobe-verify: {:.0} results/s, {:.1}x the time of hashing the results alone",
        total as f64 / checked.as_secs_f64(),
        checked.as_secs_f64() / hashed.as_secs_f64()
    );
}

fn row(what: &str, took: Duration, peak_mb: f64) {
    println!("{what:<44} {:>7.1} s {:>11.0} MB", took.as_secs_f64(), peak_mb);
}

/// Agent `agent`'s month: one result every 30 s from the 1st, failing for an hour on the 10th.
fn month_of(agent: usize, count: usize) -> Vec<ResultRecord> {
    let start: Timestamp = "2026-10-01T00:00:00Z".parse().expect("a timestamp");
    let outage = ("2026-10-10T10:00:00Z".parse::<Timestamp>().expect("a timestamp"), SignedDuration::from_hours(1));
    (0..count)
        .map(|index| {
            let started_at = start + INTERVAL * index as i32 + SignedDuration::from_millis(agent as i64);
            let failed = outage.0 <= started_at && started_at < outage.0 + outage.1;
            let mut record: ResultRecord = serde_json::from_value(serde_json::json!({
                "check_id": "acme-api", "region": format!("region-{agent}"), "agent_id": format!("agent-{agent}"),
                "seq": index + 1, "scheduled_at": started_at.to_string(), "started_at": started_at.to_string(),
                "duration_ms": 41.25, "ok": true,
                "phases_ms": { "connect": 0.3, "ttfb": 38.1, "transfer": 0.4 },
                "http": { "status": 200, "version": "HTTP/1.1", "final_url": "https://api.example/health",
                          "remote_addr": "192.0.2.1:443", "body_bytes": 2 },
            }))
            .expect("a result");
            if failed {
                record.ok = false;
                record.error_kind = Some("http_status".to_owned());
                record.error = Some("http_status: got 503 Service Unavailable, expected 200-299".to_owned());
                if let Some(http) = &mut record.http {
                    http.status = Some(503);
                    http.status_line = Some("HTTP/1.1 503 Service Unavailable".to_owned());
                    http.headers = vec!["retry-after: 30".to_owned(), "content-type: text/plain".to_owned()];
                    http.body_head = Some("upstream unavailable".to_owned());
                }
            }
            record
        })
        .collect()
}

/// A collector configuration for the seeded store: the agents, the check and the contract on it.
fn collector_yaml(database: &Path, agents: usize) -> String {
    let agents: String = (0..agents)
        .map(|agent| {
            format!(
                "  - {{ id: agent-{agent}, region: region-{agent}, token_sha256: \"{}\" }}\n",
                slaprobe_collector::digest::token_hash(&format!("token-{agent}"))
            )
        })
        .collect();
    format!(
        "storage: {{ sqlite: \"{}\" }}\nretention: {{ results: 36500d, rollups: 36500d }}\nagents:\n{agents}\
         checks:\n  - {{ id: acme-api, kind: http, target: \"http://127.0.0.1:9/health\", interval: 30s }}\n\
         contracts:\n  - {{ id: acme-api, vendor: Acme Cloud, service: Public API, checks: [acme-api], objective: 99.95, \
         credits: {{ fee: 1000, currency: USD, tiers: [ {{ below: 99.95, credit: 10 }}, {{ below: 99.0, credit: 25 }} ] }} }}\n",
        database.display()
    )
}
