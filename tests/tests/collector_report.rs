//! `slaprobe-collector report`, offline: from the real agent's output to a claim report, and its errors.

use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use slaprobe_tests::agent::{AgentProcess, collector_binary};
use slaprobe_tests::http_server::HttpServer;

fn run_report(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(collector_binary())
        .arg("report")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run slaprobe-collector");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn contracts(dir: &std::path::Path, body: &str) -> String {
    let path = dir.join("contracts.yaml");
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

const ONE_SECOND_CONTRACT: &str = "contracts:
  - id: web
    vendor: Loopback Inc.
    service: Web
    checks: [web]
    objective: 99.9
    slice: 1s
    credits: { fee: 100, currency: EUR, tiers: [ { below: 99.9, credit: 10 } ] }
";

#[tokio::test(flavor = "multi_thread")]
async fn a_known_outage_is_reported_within_one_slice_at_each_edge() {
    let server = HttpServer::start().await;
    let agent = AgentProcess::start(&format!(
        "region: local\nchecks:\n  - {{ id: web, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n",
        server.url("/")
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let outage_start = jiff::Timestamp::now();
    server.fail_with(503);
    tokio::time::sleep(Duration::from_secs(5)).await;
    server.recover();
    let outage_end = jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    agent.signal(Signal::SIGTERM);
    let (status, log, results) = tokio::task::block_in_place(|| agent_wait(agent));
    assert!(status, "{log}");
    let period = results[0].started_at.strftime("%Y-%m").to_string();

    let dir = tempfile::tempdir().unwrap();
    let results_path = dir.path().join("results.jsonl");
    let lines: String = results.iter().map(|record| serde_json::to_string(record).unwrap() + "\n").collect();
    std::fs::write(&results_path, lines).unwrap();
    let contracts = contracts(dir.path(), ONE_SECOND_CONTRACT);
    let (code, stdout, stderr) =
        run_report(&["--contracts", &contracts, "--results", results_path.to_str().unwrap(), "--period", &period]);
    assert_eq!(code, Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    let outage_seconds = outage_end.as_second() - outage_start.as_second();
    let down = report["down_slices"].as_i64().unwrap();
    assert!(
        (outage_seconds - 2..=outage_seconds + 2).contains(&down),
        "{down} down slices for a {outage_seconds} s outage"
    );
    let incidents = report["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{report}");
    let start: jiff::Timestamp = incidents[0]["start"].as_str().unwrap().parse().unwrap();
    assert!(
        (start.as_second() - outage_start.as_second()).abs() <= 1,
        "incident starts at {start}, outage at {outage_start}"
    );
    assert_eq!(incidents[0]["sample_errors"][0], "http_status: got 503 Service Unavailable, expected 200-299");
    let observed = incidents[0]["observed"].as_array().unwrap();
    assert_eq!(observed.len(), 1, "one sample from the one region: {report}");
    let first_failed = results.iter().find(|result| !result.ok).unwrap();
    assert_eq!(observed[0]["seq"], serde_json::json!(first_failed.seq), "the first failure is the sample");
    assert_eq!(observed[0]["http"]["status_line"], "HTTP/1.1 503 Service Unavailable", "{report}");
    assert_eq!(observed[0]["http"]["body_head"], "forced failure", "{report}");
    assert_eq!(report["currency"], "EUR");
    // With `no_data: exclude` only the seconds the agent probed are eligible, so the outage weighs heavily.
    let eligible = report["eligible_slices"].as_u64().unwrap();
    let probes = results.len() as u64;
    assert!((probes - 1..=probes).contains(&eligible), "{eligible} eligible slices for {probes} probes at 1 s");
    assert_eq!(report["credit_percent"].as_f64(), Some(10.0));
    assert_eq!(report["credit_amount"].as_f64(), Some(10.0));
    // A tier stated above 100 % (against a larger base) is accepted; `cap` bounds the credit.
    let generous = dir.path().join("generous.yaml");
    std::fs::write(&generous, ONE_SECOND_CONTRACT.replace("credit: 10 } ] }", "credit: 150 } ], cap: 40 }")).unwrap();
    let (code, capped, stderr) = run_report(&[
        "--contracts",
        generous.to_str().unwrap(),
        "--results",
        results_path.to_str().unwrap(),
        "--period",
        &period,
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let capped: serde_json::Value = serde_json::from_str(capped.trim()).expect("one JSON object");
    assert_eq!((capped["credit_percent"].as_f64(), capped["credit_amount"].as_f64()), (Some(40.0), Some(40.0)));
    // The month is in progress and was monitored only for these seconds: the time before the first result is
    // `not monitored`, the time after now `future`; neither is unknown, and the report says it is preliminary.
    assert_eq!((report["preliminary"].as_bool(), report["period_status"].as_str()), (Some(true), Some("in_progress")));
    let generated: jiff::Timestamp = report["generated_at"].as_str().unwrap().parse().unwrap();
    assert!(generated >= outage_end, "{report}");
    let slices = |field: &str| report[field].as_u64().unwrap();
    let until: jiff::Timestamp = report["monitored_until"].as_str().unwrap().parse().unwrap();
    let since_last = (generated.as_second() - until.as_second()) as u64;
    assert!(
        slices("unknown_slices") <= since_last + 2,
        "only the time after the agent stopped and gaps between probes can be unknown: {report}"
    );
    assert_eq!(
        slices("not_monitored_slices") + slices("future_slices") + slices("eligible_slices") + slices("unknown_slices"),
        slices("total_slices"),
        "{report}"
    );
    assert_eq!(
        report["monitored_from"].as_str().map(|at| at.parse::<jiff::Timestamp>().unwrap().as_second()),
        Some(results[0].started_at.as_second())
    );
    let coverage = report["coverage"]["percent"].as_f64().unwrap();
    assert!(coverage < 1.0 && report["coverage"]["low"] == true, "seconds of a month: {report}");

    let results_arg = results_path.to_str().unwrap();
    // Every format made as of the JSON report's moment, so they speak of the same slices.
    let as_of = report["generated_at"].as_str().unwrap();
    let in_format = |format: &str| {
        let (code, output, stderr) = run_report(&[
            "--contracts",
            &contracts,
            "--results",
            results_arg,
            "--period",
            &period,
            "--format",
            format,
            "--as-of",
            as_of,
        ]);
        assert_eq!(code, Some(0), "{format}: {stderr}");
        output
    };
    let markdown = in_format("md");
    for part in [
        "| web | Loopback Inc. | Web |",
        "**preliminary**",
        "## Preliminary: Loopback Inc. — Web",
        &format!(
            "in progress until {}",
            report["period_end"].as_str().unwrap().replace('T', " ").replace(":00Z", " UTC")
        ),
        "Generated ",
        "> **Warning: only 0.",
        "### Coverage",
        "### Contract terms applied",
        "### Incidents: web",
        "10.00 EUR so far",
    ] {
        assert!(markdown.contains(part), "the Markdown report lacks {part:?}:\n{markdown}");
    }
    let csv = in_format("csv");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let (header, row) = (csv.lines().next().unwrap(), csv.lines().nth(1).unwrap());
    let column = |name: &str| {
        let index = header.split(',').position(|column| column == name).unwrap_or_else(|| panic!("{name}: {header}"));
        row.split(',').nth(index).unwrap().to_owned()
    };
    assert_eq!(column("period_status"), "in_progress");
    assert_eq!(column("coverage_low"), "true");
    assert_eq!(column("uptime_percent"), report["uptime_percent"].as_f64().unwrap().to_string(), "full precision");
    let html = in_format("html");
    for part in [
        "<!DOCTYPE html>",
        "Preliminary: Loopback Inc. — Web",
        "Credit so far<b>10.00 EUR</b>",
        "generated ",
        "Warning: only 0.",
        "Not monitored (before the contract's first result)",
        "Incidents (1)",
        "http_status: got 503 Service Unavailable, expected 200-299",
        "How the figures were computed",
        "slaprobe-verify bundle.tar",
        "Appendix: what we observed",
        "HTTP/1.1 503 Service Unavailable",
        "forced failure",
    ] {
        assert!(html.contains(part), "the HTML report lacks {part:?}");
    }
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"), "self-contained");
}

fn agent_wait(agent: AgentProcess) -> (bool, String, Vec<slaprobe_proto::ResultRecord>) {
    let (status, log, results) = agent.wait(Duration::from_secs(10));
    (status.success(), log, results)
}

#[test]
fn malformed_results_and_contracts_are_reported_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.jsonl");
    std::fs::write(
        &results,
        "{\"check_id\":\"web\",\"region\":\"r\",\"started_at\":\"2026-02-01T00:00:00Z\",\"ok\":false}\n{oops\n",
    )
    .unwrap();
    let results = results.to_str().unwrap();
    let good = contracts(dir.path(), ONE_SECOND_CONTRACT);
    let (code, _, stderr) = run_report(&["--contracts", &good, "--results", results, "--period", "2026-02"]);
    assert_eq!(code, Some(65), "{stderr}");
    assert!(stderr.contains("1 malformed line(s)") && stderr.contains("line 2: "), "{stderr}");
    let (code, stdout, stderr) =
        run_report(&["--contracts", &good, "--results", results, "--period", "2026-02", "--skip-bad-lines"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("skipped 1 malformed line(s)"), "{stderr}");
    assert!(stdout.contains("\"down_slices\":1"), "{stdout}");

    let (code, _, stderr) = run_report(&["--contracts", &good, "--results", results, "--period", "2026-Q1"]);
    assert_eq!(code, Some(64));
    assert!(stderr.contains("periods are months"), "{stderr}");

    let bad = contracts(
        dir.path(),
        "contracts:\n  - { id: x, vendor: v, service: s, checks: [], objective: 120, timezone: Mars/Base, \
         credits: { fee: 1, currency: usd, tiers: [ { below: 99, credit: 10 }, { below: 99.5, credit: 5 }, \
         { below: 90, credit: -1 } ] } }\n",
    );
    let (code, _, stderr) = run_report(&["--contracts", &bad, "--results", results, "--period", "2026-02"]);
    assert_eq!(code, Some(64));
    for part in [
        "contracts[0].checks: must name at least one check",
        "contracts[0].objective: 120 is not in (0, 100]",
        "contracts[0].timezone: \"Mars/Base\" is not an IANA time zone",
        "contracts[0].credits.currency: \"usd\" is not an ISO 4217 code",
        "contracts[0].credits.tiers[1].below: tiers must go down",
        "contracts[0].credits.tiers[1].credit: a lower tier cannot earn less",
        "contracts[0].credits.tiers[2].credit: -1 is negative",
    ] {
        assert!(stderr.contains(part), "missing {part:?} in {stderr}");
    }
}

#[test]
fn deploy_example_contracts_are_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/contracts.yaml");
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("empty.jsonl");
    std::fs::write(&results, "").unwrap();
    let (code, stdout, stderr) =
        run_report(&["--contracts", path, "--results", results.to_str().unwrap(), "--period", "2026-02"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("\"contract\":\"acme-api\"") && stdout.contains("\"uptime_percent\":null"), "{stdout}");
}
