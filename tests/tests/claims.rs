//! The monthly claim workflow with the real binary: a month with an outage is imported and `close` freezes its
//! claim report (the stored HTML is byte for byte what `report --as-of` the close prints, its SHA-256 in
//! `Repr-Digest`), and opens a claim; a month still running is refused. Through the API a viewer may read but
//! not act, an action out of order is a 409 and a bad date a 400, and the admin's submission is recorded under
//! the token's name. Results imported afterwards make a second revision saying what changed, and the submitted
//! claim follows its new amount. The payment is recorded through the dashboard's form; Chromium shows the Claims
//! page and the claim with its history and both revisions, and the vendor's scorecard; every answer conforms to
//! the API's document; `/metrics` counts the paid claim.

use std::process::{Command, Stdio};

use base64::Engine as _;
use jiff::{Timestamp, ToSpan};
use scraper::{Html, Selector};
use serde_json::Value;
use slaprobe_collector::digest::token_hash;
use slaprobe_tests::agent::collector_binary;
use slaprobe_tests::browser::{is_browser_service, is_local, load};
use slaprobe_tests::collector::{run_collector, start_collector, web_contract};
use slaprobe_tests::http_client::send;
use slaprobe_tests::openapi::violations;
use slaprobe_tests::ports::free_addr;

const VIEWER: &str = "auditor-token-71d0";
const ADMIN: &str = "finance-token-c3a9";

/// One result a minute from `agent` through the month starting at `first`, failed where `down(minute of month)`.
fn month_of_results(first: jiff::civil::Date, agent: &str, down: impl Fn(i64) -> bool) -> String {
    let start = first.to_zoned_datetime(jiff::tz::TimeZone::UTC).unwrap().timestamp();
    let end = (first + 1.month()).to_zoned_datetime(jiff::tz::TimeZone::UTC).unwrap().timestamp();
    let minutes = end.duration_since(start).as_secs() / 60;
    let mut lines = String::new();
    for minute in 0..minutes {
        let ok = !down(minute);
        let started = start + jiff::SignedDuration::from_secs(minute * 60 + 5);
        let line = serde_json::json!({ "check_id": "web", "region": "eu-west", "agent_id": agent, "seq": minute + 1,
            "started_at": started.to_string(), "ok": ok, "error": (!ok).then_some("connection refused") });
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    lines
}

/// Runs a `slaprobe-collector` command: exit status, standard output, standard error.
fn collector(args: &[&str]) -> (Option<i32>, String, String) {
    let output =
        Command::new(collector_binary()).args(args).stdin(Stdio::null()).output().expect("run slaprobe-collector");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8");
    (output.status.code(), text(output.stdout), text(output.stderr))
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("{error}: {body}"))
}

fn select<'a>(dom: &'a Html, selector: &str) -> Vec<scraper::ElementRef<'a>> {
    dom.select(&Selector::parse(selector).unwrap()).collect()
}

fn text_of(element: &scraper::ElementRef<'_>) -> String {
    element.text().map(str::trim).filter(|text| !text.is_empty()).collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_month_closes_into_a_frozen_report_and_a_claim_that_is_filed_revised_and_paid() {
    let dir = tempfile::tempdir().unwrap();
    let today = jiff::tz::TimeZone::UTC.to_datetime(Timestamp::now()).date();
    let this_month = today.first_of_month();
    let measured = this_month - 2.months();
    let (period, current) = (measured.strftime("%Y-%m").to_string(), this_month.strftime("%Y-%m").to_string());
    std::fs::write(dir.path().join("contracts.yaml"), web_contract("    claim_window: 365d\n")).unwrap();
    let http = free_addr();
    let base = format!(
        "listen: {{ grpc: \"{}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
         retention: {{ results: 36500d, rollups: 36500d }}\ncontracts_file: contracts.yaml\n",
        free_addr()
    );
    let tokens = format!(
        "api_tokens:\n  - {{ name: auditor, role: viewer, token_sha256: \"{}\" }}\n\
         \x20 - {{ name: finance, role: admin, token_sha256: \"{}\" }}\n",
        token_hash(VIEWER),
        token_hash(ADMIN)
    );
    let config = dir.path().join("collector.yaml");
    std::fs::write(&config, format!("{base}{tokens}")).unwrap();
    let config = config.to_str().unwrap();

    // A 100-minute outage on the 10th: 10 % of the 500 USD fee.
    let first = dir.path().join("first.jsonl");
    std::fs::write(&first, month_of_results(measured, "agent-eu-1", |minute| (13_000..13_100).contains(&minute)))
        .unwrap();
    run_collector(&["import", "--config", config, "--results", first.to_str().unwrap()]);
    let closed = run_collector(&["close", "--config", config, "--period", &period]);
    assert_eq!(closed.trim(), format!("web {period}: closed as revision 1, credit 50.00 USD"));
    let (status, _, refused) = collector(&["close", "--config", config, "--period", &current]);
    assert_eq!(status, Some(64), "{refused}");
    assert!(refused.contains(&format!("period {current} has not closed yet")), "{refused}");
    let due = run_collector(&["close", "--config", config]);
    assert!(due.contains(&format!("web {period}: unchanged since revision 1, credit 50.00 USD")), "{due}");

    let collector_process = tokio::task::block_in_place(|| start_collector(std::path::Path::new(config)));
    let (viewer, admin) = (format!("Bearer {VIEWER}"), format!("Bearer {ADMIN}"));
    let as_viewer = [("Authorization", viewer.as_str())];
    let periods = send(http, "GET", "/api/v1/periods?contract=web", &as_viewer, "").await;
    assert_eq!(periods.status, 200, "{}", periods.body);
    let periods = json(&periods.body)["periods"].clone();
    let revision = periods.as_array().unwrap().iter().find(|entry| entry["period"] == period.as_str()).unwrap().clone();
    let html =
        revision["artifacts"].as_array().unwrap().iter().find(|artifact| artifact["name"] == "report.html").unwrap();
    let path = format!("/api/v1/periods/web/{period}/1/report.html");
    let frozen = send(http, "GET", &path, &as_viewer, "").await;
    assert_eq!((frozen.status, frozen.header("content-type")), (200, Some("text/html; charset=utf-8")));
    assert_eq!(hex_sha256(frozen.body.as_bytes()), html["sha256"].as_str().unwrap());
    let digest = base64::engine::general_purpose::STANDARD
        .encode(ring::digest::digest(&ring::digest::SHA256, frozen.body.as_bytes()));
    assert_eq!(frozen.header("repr-digest"), Some(format!("sha-256=:{digest}:").as_str()));
    let closed_at = revision["closed_at"].as_str().unwrap();
    let again =
        run_collector(&["report", "--config", config, "--period", &period, "--format", "html", "--as-of", closed_at]);
    assert!(again == frozen.body, "the frozen report is what `report --as-of` its close prints");

    let claims = send(http, "GET", "/api/v1/claims", &as_viewer, "").await;
    let claims = json(&claims.body);
    assert_eq!(claims["claims"][0]["state"], "owed");
    assert_eq!(
        (claims["claims"][0]["owed"].as_str(), claims["totals"][0]["owed"].as_str()),
        (Some("50.00"), Some("50.00"))
    );
    let claim_path = format!("/api/v1/claims/web/{period}");
    let submit = format!("{{\"action\":\"submit\",\"on\":\"{today}\",\"reference\":\"CASE-4471\"}}");
    assert_eq!(send(http, "POST", &claim_path, &as_viewer, &submit).await.status, 403, "a viewer reads, never acts");
    let as_admin = [("Authorization", admin.as_str())];
    let early =
        send(http, "POST", &claim_path, &as_admin, &format!("{{\"action\":\"accept\",\"on\":\"{today}\"}}")).await;
    assert_eq!(early.status, 409, "{}", early.body);
    assert!(early.body.contains("a claim that is owed cannot be accepted"), "{}", early.body);
    let tomorrow = today + 1.day();
    let future = submit.replace(&today.to_string(), &tomorrow.to_string());
    let bad = send(http, "POST", &claim_path, &as_admin, &future).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains(&format!("on: {tomorrow} is after today")), "{}", bad.body);
    let filed = send(http, "POST", &claim_path, &as_admin, &submit).await;
    assert_eq!(filed.status, 200, "{}", filed.body);
    assert_eq!(json(&filed.body)["event"]["actor"], "finance");
    drop(collector_process);

    // Another agent in the region reports 500 failed minutes on the 12th: half its slice's results fail, which
    // is down: 600 minutes in all, below 99.0 %: 30 %.
    let late = dir.path().join("late.jsonl");
    std::fs::write(&late, month_of_results(measured, "agent-eu-2", |minute| (16_000..16_500).contains(&minute)))
        .unwrap();
    run_collector(&["import", "--config", config, "--results", late.to_str().unwrap()]);
    let revised = run_collector(&["close", "--config", config, "--period", &period]);
    assert!(revised.starts_with(&format!("web {period}: revision 2: the stored results changed")), "{revised}");
    assert!(revised.contains("down_slices: 100 → 600") && revised.contains("credit 150.00 USD"), "{revised}");

    // Open access (loopback, no tokens) from here, so that Chromium can load the pages.
    std::fs::write(config, &base).unwrap();
    let _collector = tokio::task::block_in_place(|| start_collector(std::path::Path::new(config)));
    let claim = json(&send(http, "GET", &claim_path, &[], "").await.body);
    assert_eq!(
        (claim["claim"]["state"].as_str(), claim["claim"]["owed"].as_str()),
        (Some("submitted"), Some("150.00"))
    );
    let history: Vec<(&str, &str)> = claim["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| (event["action"].as_str().unwrap(), event["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(history, [("open", "slaprobe"), ("submit", "finance"), ("revise", "slaprobe")]);
    assert_eq!(claim["revisions"].as_array().unwrap().len(), 2);

    let form = format!("action=pay&on={today}&amount=150.00");
    let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", &format!("http://{http}"))];
    let paid = send(http, "POST", &format!("/claims/web/{period}"), &headers, &form).await;
    assert_eq!(
        (paid.status, paid.header("location")),
        (303, Some(format!("/claims/web/{period}").as_str())),
        "{}",
        paid.body
    );

    let base_url = format!("http://{http}/");
    let list = tokio::task::block_in_place(|| load(&format!("{base_url}claims")));
    let detail = tokio::task::block_in_place(|| load(&format!("{base_url}claims/web/{period}")));
    for page in [&list, &detail] {
        assert!(page.console.is_empty(), "{:?}", page.console);
        let stray: Vec<&String> =
            page.requests.iter().filter(|url| !is_local(url) && !is_browser_service(url)).collect();
        assert!(stray.is_empty(), "requests left loopback: {stray:?}");
    }
    let list = Html::parse_document(&list.dom);
    let usd = select(&list, "table[data-table=totals] tr[data-currency=USD] td[data-field=recovered]");
    assert_eq!(text_of(&usd[0]), "150.00");
    let row = select(&list, &format!("tr[data-claim=\"web/{period}\"] td[data-field=state]"));
    assert_eq!(text_of(&row[0]), "paid");
    let detail = Html::parse_document(&detail.dom);
    assert_eq!(select(&detail, "table[data-table=history] tbody tr").len(), 4, "open, submit, revise, pay");
    let last = select(&detail, "table[data-table=history] tbody tr").last().map(text_of).unwrap();
    assert!(last.contains("anonymous pay submitted → paid 150.00 USD received"), "{last}");
    assert_eq!(select(&detail, "table[data-table=revisions] tbody tr").len(), 2);
    assert!(
        select(&detail, "[data-field=actions]").iter().all(|actions| text_of(actions).is_empty()),
        "paid: no more steps"
    );

    // The vendor's scorecard: both closed months side by side, the worst incident first, all of it in eu-west.
    let card = json(&send(http, "GET", "/api/v1/vendors/loopback-inc", &[], "").await.body);
    let months = card["contracts"][0]["periods"].as_array().unwrap();
    let measured_month = months.iter().find(|month| month["period"] == period.as_str()).unwrap();
    assert_eq!(months.len(), 2, "{card}");
    assert_eq!(
        (
            measured_month["credit_owed"].as_str(),
            measured_month["credit_recovered"].as_str(),
            measured_month["incidents"].as_u64()
        ),
        (Some("150.00"), Some("150.00"), Some(2))
    );
    assert_eq!(card["worst_incidents"][0]["duration_seconds"], 30_000);
    assert_eq!(
        (card["regions"][0]["region"].as_str(), card["regions"][0]["down_seconds"].as_i64()),
        (Some("eu-west"), Some(36_000))
    );
    let scorecard = tokio::task::block_in_place(|| load(&format!("{base_url}vendors/loopback-inc")));
    assert!(scorecard.console.is_empty(), "{:?}", scorecard.console);
    let scorecard = Html::parse_document(&scorecard.dom);
    assert_eq!(select(&scorecard, "table[data-contract=web] tbody tr").len(), 2);
    let owed = select(&scorecard, &format!("tr[data-period=\"{period}\"] td[data-field=owed]"));
    assert_eq!(text_of(&owed[0]), "150.00 USD");

    // Every answer above is as the API's document says.
    let doc = json(&send(http, "GET", "/api/v1/openapi.json", &[], "").await.body);
    for (template, path) in [
        ("/api/v1/periods", "/api/v1/periods".to_owned()),
        ("/api/v1/periods/{contract}/{period}", format!("/api/v1/periods/web/{period}")),
        ("/api/v1/claims", "/api/v1/claims".to_owned()),
        ("/api/v1/claims/{contract}/{period}", format!("/api/v1/claims/web/{period}")),
        ("/api/v1/vendors", "/api/v1/vendors".to_owned()),
        ("/api/v1/vendors/{slug}", "/api/v1/vendors/loopback-inc".to_owned()),
    ] {
        let body = json(&send(http, "GET", &path, &[], "").await.body);
        let problems = violations(&doc, template, "get", 200, &body);
        assert!(problems.is_empty(), "{path}: {problems:?}");
    }

    let metrics = send(http, "GET", "/metrics", &[], "").await.body;
    assert!(metrics.contains("slaprobe_collector_claims{state=\"paid\",currency=\"USD\"} 1"), "{metrics}");
    assert!(metrics.contains("slaprobe_collector_claims_recovered_this_year{currency=\"USD\"} 150.0"), "{metrics}");
}
