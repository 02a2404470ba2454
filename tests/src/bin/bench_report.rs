//! Report benchmark: one contract over one month, 3 regions probing every minute (about 130,000 results), with
//! the real `slaprobe-collector report` binary, offline from a file and from a SQLite store holding the same
//! results, and from a running collector's HTTP listener (the contract's API view and its dashboard page, which
//! compute the period on each request), next to a baseline measured in the same run: reading and parsing the
//! same JSON lines alone. Run it as `docs/benchmarks.md` says.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::collector_binary;
use slaprobe_tests::collector::start_collector;
use slaprobe_tests::http_client::send;

const CONTRACTS: &str = "contracts:
  - id: acme-api
    vendor: Acme Cloud
    service: Public API
    checks: [acme-api]
    objective: 99.9
    min_regions_down: 2
    credits: { fee: 1000, currency: USD, tiers: [ { below: 99.9, credit: 10 }, { below: 99.0, credit: 25 } ] }
";

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results_path = dir.path().join("results.jsonl");
    let contracts_path = dir.path().join("contracts.yaml");
    std::fs::write(&contracts_path, CONTRACTS).expect("write contracts");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&results_path).expect("create results"));
    let start: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
    let mut written = 0;
    let mut all = Vec::new();
    for minute in 0..31 * 24 * 60 {
        for (index, region) in ["eu-west", "us-east", "ap-south"].iter().enumerate() {
            let started_at = start + SignedDuration::from_mins(minute) + SignedDuration::from_secs(index as i64 * 7);
            let failed = minute % 997 < 3;
            let record = ResultRecord {
                check_id: "acme-api".to_owned(),
                region: (*region).to_owned(),
                agent_id: Some(format!("agent-{region}")),
                seq: Some(minute as u64),
                scheduled_at: Some(started_at),
                started_at,
                duration_ms: Some(41.25),
                ok: !failed,
                error_kind: failed.then(|| "http_status".to_owned()),
                error: failed.then(|| "http_status: got 503 Service Unavailable, expected 200-299".to_owned()),
                phases_ms: Default::default(),
                http: None,
                dns: None,
                tcp: None,
            };
            serde_json::to_writer(&mut file, &record).unwrap();
            file.write_all(b"\n").unwrap();
            written += 1;
            all.push(record);
        }
    }
    file.flush().unwrap();
    drop(file);

    let baseline_start = Instant::now();
    let text = std::fs::read_to_string(&results_path).unwrap();
    let parsed = text.lines().filter(|line| serde_json::from_str::<ResultRecord>(line).is_ok()).count();
    let baseline = baseline_start.elapsed();
    assert_eq!(parsed, written);

    let binary = collector_binary();
    let report_start = Instant::now();
    let output = Command::new(binary)
        .args(["report", "--contracts", contracts_path.to_str().unwrap(), "--results", results_path.to_str().unwrap()])
        .args(["--period", "2026-03"])
        .stdin(Stdio::null())
        .output()
        .expect("run slaprobe-collector");
    let report = report_start.elapsed();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("report JSON");

    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).expect("store");
    for chunk in all.chunks(5_000) {
        store.write_results(chunk.to_vec()).await.expect("store results");
    }
    drop(store);
    let config_path = dir.path().join("collector.yaml");
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (grpc, http) = (free(), free());
    std::fs::write(
        &config_path,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             contracts_file: contracts.yaml\n"
        ),
    )
    .unwrap();
    let store_start = Instant::now();
    let from_store = Command::new(collector_binary())
        .args(["report", "--config", config_path.to_str().unwrap(), "--period", "2026-03"])
        .stdin(Stdio::null())
        .output()
        .expect("run slaprobe-collector");
    let store_report = store_start.elapsed();
    assert!(from_store.status.success(), "{}", String::from_utf8_lossy(&from_store.stderr));
    let stored: serde_json::Value = serde_json::from_slice(&from_store.stdout).expect("report JSON");
    assert_eq!(stored["down_slices"], json["down_slices"], "the same figures from the store");

    let collector = start_collector(&config_path);
    let api = median_response(http, "/api/v1/contracts/acme-api?period=2026-03").await;
    let page = median_response(http, "/contracts/acme-api?period=2026-03").await;
    drop(collector);

    println!("input: 1 contract, March 2026, 3 regions, 1-minute probes: {written} results");
    println!("  report (process, wall)         {:>8.3} s   (target < 1 s)", report.as_secs_f64());
    println!("  report from the store (process) {:>7.3} s   (target < 2 s)", store_report.as_secs_f64());
    println!(
        "  API contract view (median of 5) {:>7.3} s   (period, regions and latency per request)",
        api.as_secs_f64()
    );
    println!("  dashboard contract page (median) {:>6.3} s", page.as_secs_f64());
    println!("  baseline: parse the JSON lines {:>8.3} s   (in this benchmark's process)", baseline.as_secs_f64());
    println!(
        "  down slices {} · incidents {} · uptime {}",
        json["down_slices"],
        json["incidents"].as_array().map_or(0, Vec::len),
        json["uptime_percent"]
    );
}

/// The median time of five `GET path` requests that answer 200.
async fn median_response(http: std::net::SocketAddr, path: &str) -> std::time::Duration {
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let response = send(http, "GET", path, &[], "").await;
        times.push(started.elapsed());
        assert_eq!(response.status, 200, "{path}: {}", response.body);
    }
    times.sort();
    times[2]
}
