//! Report benchmark: one contract over one month, 3 regions probing every minute (about 130,000 results), with
//! the real `slaprobe-collector report` binary, offline from a file and from a SQLite store holding the same
//! results, and from a running collector's HTTP listener (the contract's API view and its dashboard page, which
//! compute the period on each request), next to a baseline measured in the same run: reading and parsing the
//! same JSON lines alone. The results are as the agent writes them for an HTTPS check (timing phases, HTTP and TLS
//! detail, durations that vary); every figure is the median of five runs. Then, at fleet scale, the offline report
//! of one check probed every 30 s from 15 regions for a month (1,339,200 lines): its wall time and peak memory,
//! next to the memory the same lines take parsed and held, as reports held them before they streamed; and the
//! report from a SQLite store holding them, from raw results (the baseline) and through the slice ledger, and the
//! contract's API view and page from a collector serving that store, with its peak memory. Run it as
//! `docs/benchmarks.md` says.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use slaprobe_collector::config::load_collector_config;
use slaprobe_collector::ledger::upkeep;
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::collector_binary;
use slaprobe_tests::collector::start_collector;
use slaprobe_tests::http_client::median_get;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::process_stats::{own_rss_mb, peak_rss_mb, run_measured};

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
            let record = agent_result(region, minute as u64, started_at, failed);
            serde_json::to_writer(&mut file, &record).unwrap();
            file.write_all(b"\n").unwrap();
            written += 1;
            all.push(record);
        }
    }
    file.flush().unwrap();
    drop(file);

    let mut baselines = Vec::new();
    for _ in 0..5 {
        let baseline_start = Instant::now();
        let text = std::fs::read_to_string(&results_path).unwrap();
        let parsed = text.lines().filter(|line| serde_json::from_str::<ResultRecord>(line).is_ok()).count();
        baselines.push(baseline_start.elapsed());
        assert_eq!(parsed, written);
    }
    baselines.sort();
    let baseline = baselines[2];

    let (report, output) = median_run(
        Command::new(collector_binary())
            .args([
                "report",
                "--contracts",
                contracts_path.to_str().unwrap(),
                "--results",
                results_path.to_str().unwrap(),
            ])
            .args(["--period", "2026-03"]),
    );
    let json: serde_json::Value = serde_json::from_slice(&output).expect("report JSON");

    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).expect("store");
    for chunk in all.chunks(5_000) {
        store.write_results(chunk.to_vec()).await.expect("store results");
    }
    drop(store);
    let config_path = dir.path().join("collector.yaml");
    let (grpc, http) = (free_addr(), free_addr());
    std::fs::write(
        &config_path,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             contracts_file: contracts.yaml\n"
        ),
    )
    .unwrap();
    let (store_report, from_store) = median_run(Command::new(collector_binary()).args([
        "report",
        "--config",
        config_path.to_str().unwrap(),
        "--period",
        "2026-03",
    ]));
    let stored: serde_json::Value = serde_json::from_slice(&from_store).expect("report JSON");
    assert_eq!(stored["down_slices"], json["down_slices"], "the same figures from the store");

    let collector = start_collector(&config_path);
    let api = median_get(http, "/api/v1/contracts/acme-api?period=2026-03").await;
    let page = median_get(http, "/contracts/acme-api?period=2026-03").await;
    drop(collector);

    println!(
        "input: 1 contract, March 2026, 3 regions, 1-minute HTTPS probes with phases and HTTP/TLS detail: {written} results"
    );
    println!("medians of 5 runs each");
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
    fleet_scale(dir.path(), &contracts_path).await;
}

/// The results of one check probed every 30 s from 15 regions for March 2026, an hour at a time.
fn fleet_hours() -> impl Iterator<Item = Vec<ResultRecord>> {
    let start: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
    let regions: Vec<String> = (0..15).map(|index| format!("region-{index:02}")).collect();
    (0..31 * 24).map(move |hour| {
        let mut records = Vec::new();
        for step in hour * 120..(hour + 1) * 120 {
            for (index, region) in regions.iter().enumerate() {
                let started_at = start + SignedDuration::from_secs(step * 30 + index as i64);
                records.push(agent_result(region, step as u64, started_at, (step / 2) % 997 < 3));
            }
        }
        records
    })
}

/// At fleet scale (one check every 30 s from 15 regions for March 2026): the offline report, with the memory the
/// same lines take parsed and held in this process as its baseline; and the report from a SQLite store holding
/// them.
async fn fleet_scale(dir: &std::path::Path, contracts_path: &std::path::Path) {
    let path = dir.join("fleet.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create the fleet file"));
    let mut lines = 0;
    for hour in fleet_hours() {
        for record in &hour {
            serde_json::to_writer(&mut file, record).unwrap();
            file.write_all(b"\n").unwrap();
            lines += 1;
        }
    }
    file.flush().unwrap();
    drop(file);
    let (wall, peak_mb, output) = run_measured(Command::new(collector_binary()).args([
        "report",
        "--contracts",
        contracts_path.to_str().unwrap(),
        "--results",
        path.to_str().unwrap(),
        "--period",
        "2026-03",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&output).expect("report JSON");
    let before = own_rss_mb();
    let text = std::fs::read_to_string(&path).unwrap();
    let held: Vec<ResultRecord> = text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    drop(text);
    let held_mb = own_rss_mb() - before;
    assert_eq!(held.len(), lines);
    println!("fleet scale: 1 check, 15 regions every 30 s, March 2026: {lines} lines, offline report (one run)");
    println!("  report (process, wall)         {:>8.3} s", wall.as_secs_f64());
    println!("  report peak RSS                {:>8.1} MB  (target < 150 MB)", peak_mb);
    println!("  baseline: the lines parsed and held {:>5.0} MB  (as reports held them before streaming)", held_mb);
    println!("  down slices {} · uptime {}", report["down_slices"], report["uptime_percent"]);
    drop(held);

    let fleet_dir = dir.join("fleet");
    std::fs::create_dir_all(&fleet_dir).unwrap();
    std::fs::copy(contracts_path, fleet_dir.join("contracts.yaml")).unwrap();
    let store = Store::open_sqlite(&fleet_dir.join("slaprobe.db")).expect("store");
    for hour in fleet_hours() {
        store.write_results(hour).await.expect("store results");
    }
    drop(store);
    let config = fleet_dir.join("collector.yaml");
    let http = free_addr();
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             contracts_file: contracts.yaml\n",
            free_addr()
        ),
    )
    .unwrap();
    let (wall, peak_mb, output) = measured_store_report(&config);
    let stored: serde_json::Value = serde_json::from_slice(&output).expect("report JSON");
    assert_eq!(stored["down_slices"], report["down_slices"], "the same figures from the store");
    println!(
        "  baseline: report from raw results in the store {:>7.3} s, peak RSS {:.1} MB  (no ledger yet)",
        wall.as_secs_f64(),
        peak_mb
    );

    let loaded = load_collector_config(&config).expect("the fleet collector.yaml");
    let store = Store::open_sqlite(&fleet_dir.join("slaprobe.db")).expect("store");
    let (built, now) = (Instant::now(), "2026-04-02T00:00:00Z".parse().unwrap());
    while upkeep::run_once(&store, &loaded, "bench", now).await.expect("ledger upkeep").expect("the lease") > 0 {}
    let built = built.elapsed();
    drop(store);
    let (wall, peak_mb, output) = measured_store_report(&config);
    let mut through: serde_json::Value = serde_json::from_slice(&output).expect("report JSON");
    let mut stored = stored;
    for report in [&mut through, &mut stored] {
        report.as_object_mut().expect("a report object").remove("generated_at");
    }
    assert_eq!(through, stored, "the same report through the ledger");
    println!("  slice ledger built from the store    {:>7.3} s  (once, in the background)", built.as_secs_f64());
    println!(
        "  report through the slice ledger {:>7.3} s, peak RSS {:.1} MB  (target < 0.3 s, < 150 MB)",
        wall.as_secs_f64(),
        peak_mb
    );

    let collector = start_collector(&config);
    let view = median_get(http, "/api/v1/contracts/acme-api?period=2026-03").await;
    let page = median_get(http, "/contracts/acme-api?period=2026-03").await;
    let peak_mb = peak_rss_mb(collector.id());
    drop(collector);
    println!(
        "  API contract view through the ledger {:>6.3} s  (median of 5: report, regions, daily latency)",
        view.as_secs_f64()
    );
    println!("  dashboard contract page (median)     {:>6.3} s", page.as_secs_f64());
    println!("  collector peak RSS serving them      {:>6.1} MB  (target < 150 MB)", peak_mb);
}

/// One `report --config CONFIG --period 2026-03` process: its wall time, peak memory and output.
fn measured_store_report(config: &std::path::Path) -> (std::time::Duration, f64, Vec<u8>) {
    run_measured(Command::new(collector_binary()).args([
        "report",
        "--config",
        config.to_str().unwrap(),
        "--period",
        "2026-03",
    ]))
}

/// A deterministic spread for `(minute, region)`: 0..1000.
fn spread(minute: u64, region: &str) -> u64 {
    let mut x = minute.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ region.len() as u64;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x ^ (x >> 29)) % 1000
}

/// A result as the agent writes it for an HTTPS check: timing phases, HTTP and TLS detail, a duration that varies
/// (mostly 30-230 ms, one in fifty 0.8-2.8 s), and the error of a 503 when `failed`.
fn agent_result(region: &str, minute: u64, started_at: Timestamp, failed: bool) -> ResultRecord {
    let spread = spread(minute, region);
    let duration = if spread < 20 { 800.0 + spread as f64 * 100.0 } else { 30.0 + spread as f64 / 5.0 };
    let (connect, tls) = (0.8 + (spread % 7) as f64 / 10.0, 9.5 + (spread % 13) as f64 / 4.0);
    let status = if failed { 503 } else { 200 };
    serde_json::from_value(serde_json::json!({
        "check_id": "acme-api", "region": region, "agent_id": format!("agent-{region}"), "seq": minute + 1,
        "scheduled_at": started_at.to_string(), "started_at": started_at.to_string(), "duration_ms": duration,
        "ok": !failed,
        "error_kind": failed.then_some("http_status"),
        "error": failed.then_some("http_status: got 503 Service Unavailable, expected 200-299"),
        "phases_ms": { "dns": 1.2, "connect": connect, "tls": tls, "ttfb": duration - connect - tls - 2.5, "transfer": 1.3 },
        "http": {
            "status": status, "version": "HTTP/2", "final_url": "https://api.acme.example/v1/health",
            "remote_addr": "192.0.2.10:443", "body_bytes": if failed { 112 } else { 1534 }, "redirects": 0,
            "tls_version": "TLSv1.3", "cert_expires_at": "2026-09-14T12:00:00Z",
        },
    }))
    .expect("agent result")
}

/// The median wall time of five runs of `command`, each checked to succeed; and the last run's output.
fn median_run(command: &mut Command) -> (std::time::Duration, Vec<u8>) {
    let mut times = Vec::new();
    let mut output = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let run = command.stdin(Stdio::null()).output().expect("run slaprobe-collector");
        times.push(started.elapsed());
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        output = run.stdout;
    }
    times.sort();
    (times[2], output)
}
