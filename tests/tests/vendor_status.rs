//! The vendor's word against ours, with the real binary and a Statuspage-compatible page on loopback. A month with
//! three outages of ours is imported: the page declares an incident overlapping the first, says nothing of the second,
//! and announced a maintenance over the third only two hours ahead (the contract asks for 72 h); it also declares an
//! incident we never saw, and one of another of its services (a component the contract does not name) during our second
//! outage. The serving collector reads the page; the API's report, the claim report in HTML and Markdown, the dashboard
//! in Chromium and the frozen period all show each of our incidents as declared, undeclared or during maintenance, the
//! vendor incident we did not see, and the maintenance as not excludable, with no figure changed. A second contract
//! names a page nobody answers at: its page and `/metrics` say so, and nothing else stops. When the vendor later owns
//! up to the second outage, the next close stores a revision saying the vendor's status page changed what it declared.

use jiff::{Timestamp, ToSpan};
use scraper::{Html, Selector};
use serde_json::{Value, json};
use slaprobe_tests::browser::{is_browser_service, is_local, load};
use slaprobe_tests::collector::{run_collector, start_collector};
use slaprobe_tests::http_client::send;
use slaprobe_tests::openapi::violations;
use slaprobe_tests::ports::{closed_port, free_addr};
use slaprobe_tests::status_page_server::StatusPageServer;
use slaprobe_tests::wait::until;

/// One result a minute from one agent through the month starting at `start`, failed where `down(minute)`.
fn month_of_results(start: Timestamp, end: Timestamp, down: impl Fn(i64) -> bool) -> String {
    let minutes = end.duration_since(start).as_secs() / 60;
    let mut lines = String::new();
    for minute in 0..minutes {
        let ok = !down(minute);
        let started = start + jiff::SignedDuration::from_secs(minute * 60 + 5);
        let line = json!({ "check_id": "web", "region": "eu-west", "agent_id": "agent-eu-1", "seq": minute + 1,
            "started_at": started.to_string(), "ok": ok, "error": (!ok).then_some("connection refused") });
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    lines
}

fn minute(start: Timestamp, minute: i64) -> String {
    (start + jiff::SignedDuration::from_mins(minute)).to_string()
}

fn incident(id: &str, name: &str, from: String, to: Option<String>, status: &str) -> Value {
    json!({ "id": id, "name": name, "status": status, "impact": "major", "created_at": from, "started_at": from,
        "resolved_at": to, "shortlink": format!("https://stspg.io/{id}"), "incident_updates": [] })
}

fn maintenance(id: &str, from: String, to: String, posted: String) -> Value {
    json!({ "id": id, "name": format!("{id} database upgrade"), "status": "completed", "impact": "maintenance",
        "created_at": posted, "scheduled_for": from, "scheduled_until": to })
}

fn select<'a>(dom: &'a Html, selector: &str) -> Vec<scraper::ElementRef<'a>> {
    dom.select(&Selector::parse(selector).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_outage_is_held_against_what_the_vendor_declared() {
    let dir = tempfile::tempdir().unwrap();
    let first_day = jiff::tz::TimeZone::UTC.to_datetime(Timestamp::now()).date().first_of_month() - 2.months();
    let period = first_day.strftime("%Y-%m").to_string();
    let start = first_day.to_zoned_datetime(jiff::tz::TimeZone::UTC).unwrap().timestamp();
    let end = (first_day + 1.month()).to_zoned_datetime(jiff::tz::TimeZone::UTC).unwrap().timestamp();

    let page = StatusPageServer::start().await;
    let hour = 60;
    // Opened ten minutes into our first outage; and one we never saw.
    let first =
        incident("inc-a", "Elevated error rates", minute(start, 13_010), Some(minute(start, 13_090)), "resolved");
    let unseen =
        incident("inc-unseen", "Degraded dashboard", minute(start, 25_000), Some(minute(start, 25_060)), "resolved");
    // Another service of the vendor's failed during our second outage: not ours.
    let mut billing =
        incident("inc-billing", "Invoices delayed", minute(start, 19_990), Some(minute(start, 20_060)), "resolved");
    billing["components"] = json!([{ "id": "c1", "name": "Billing" }]);
    page.declare(
        vec![first.clone(), unseen.clone(), billing],
        vec![
            maintenance("mnt-short", minute(start, 30_000), minute(start, 30_060), minute(start, 30_000 - 2 * hour)),
            maintenance("mnt-ok", minute(start, 5_000), minute(start, 5_060), minute(start, 5_000 - 7 * 24 * hour)),
        ],
    );
    let silent = closed_port();
    let http = free_addr();
    let contracts = format!(
        "contracts:\n\
         \x20 - id: web\n    vendor: Loopback Inc.\n    service: Web\n    checks: [web]\n    objective: 99.9\n\
         \x20   claim_window: 365d\n    maintenance_notice: 72h\n\
         \x20   status_page: {{ kind: statuspage, url: \"{}\", poll_every: 30s, components: [Web, API] }}\n\
         \x20   credits: {{ fee: 500, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }}\n\
         \x20 - id: mail\n    vendor: Quiet Ltd.\n    service: Mail\n    checks: [mail]\n    objective: 99.9\n\
         \x20   status_page: {{ kind: statuspage, url: \"http://{}\" }}\n\
         \x20   credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }}\n",
        page.url(),
        silent.address(),
    );
    std::fs::write(dir.path().join("contracts.yaml"), contracts).unwrap();
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             retention: {{ results: 36500d, rollups: 36500d }}\ncontracts_file: contracts.yaml\n",
            free_addr()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let results = dir.path().join("results.jsonl");
    let outages = [(13_000, 13_100), (20_000, 20_050), (30_000, 30_040)];
    std::fs::write(
        &results,
        month_of_results(start, end, |minute| outages.iter().any(|(from, to)| (*from..*to).contains(&minute))),
    )
    .unwrap();
    run_collector(&["import", "--config", config, "--results", results.to_str().unwrap()]);

    let collector = tokio::task::block_in_place(|| start_collector(std::path::Path::new(config)));
    let report_path = format!("/api/v1/contracts/web/report?period={period}");
    let mut report = Value::Null;
    until(std::time::Duration::from_secs(30), "the status page read", async || {
        report = serde_json::from_str(&send(http, "GET", &report_path, &[], "").await.body).unwrap();
        !report["vendor_status"]["checked_at"].is_null()
    })
    .await;
    let status = &report["vendor_status"];
    assert_eq!(status["problem"], Value::Null);
    let verdicts: Vec<(&str, &Value)> = status["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|word| (word["verdict"].as_str().unwrap(), &word["vendor_ids"]))
        .collect();
    assert_eq!(
        verdicts,
        [("declared", &json!(["inc-a"])), ("undeclared", &json!([])), ("maintenance", &json!(["mnt-short"]))]
    );
    let found =
        |id: &str| status["declared"].as_array().unwrap().iter().find(|entry| entry["id"] == id).unwrap().clone();
    assert_eq!((found("inc-unseen")["seen"].as_bool(), found("inc-a")["seen"].as_bool()), (Some(false), Some(true)));
    assert_eq!(
        (found("mnt-short")["excludable"].as_bool(), found("mnt-short")["down_seconds"].as_i64()),
        (Some(false), Some(2400))
    );
    assert_eq!(
        (found("mnt-ok")["excludable"].as_bool(), found("mnt-ok")["notice_seconds"].as_i64()),
        (Some(true), Some(604_800))
    );
    assert_eq!(
        (
            status["undeclared_incidents"].as_u64(),
            status["unseen_vendor_incidents"].as_u64(),
            status["short_notice_maintenances"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert!(status["declared"].as_array().unwrap().iter().all(|entry| entry["id"] != "inc-billing"), "not our service");
    assert_eq!(report["down_slices"], 190, "what the vendor declared moves no figure");
    let document: Value = serde_json::from_str(&send(http, "GET", "/api/v1/openapi.json", &[], "").await.body).unwrap();
    let problems = violations(&document, "/api/v1/contracts/{id}/report", "get", 200, &report);
    assert!(problems.is_empty(), "{problems:?}");

    // The page nobody answers at: said on its contract's page, and the collector serves on.
    let mail: Value = serde_json::from_str(
        &send(http, "GET", &format!("/api/v1/contracts/mail/report?period={period}"), &[], "").await.body,
    )
    .unwrap();
    let problem = mail["vendor_status"]["problem"].as_str().unwrap_or_default().to_owned();
    assert!(problem.starts_with("/api/v2/incidents.json: ") && problem.contains("onnection refused"), "{problem}");

    let metrics = send(http, "GET", "/metrics", &[], "").await.body;
    for line in [
        "slaprobe_collector_status_page_failing{contract=\"mail\"} 1",
        "slaprobe_collector_status_page_failing{contract=\"web\"} 0",
    ] {
        assert!(metrics.lines().any(|shown| shown == line), "no {line:?} in\n{metrics}");
    }

    let base_url = format!("http://{http}/");
    let shown = tokio::task::block_in_place(|| load(&format!("{base_url}contracts/web?period={period}")));
    let quiet = tokio::task::block_in_place(|| load(&format!("{base_url}contracts/mail?period={period}")));
    for page in [&shown, &quiet] {
        assert!(page.console.is_empty(), "{:?}", page.console);
        let stray: Vec<&String> =
            page.requests.iter().filter(|url| !is_local(url) && !is_browser_service(url)).collect();
        assert!(stray.is_empty(), "requests left loopback: {stray:?}");
    }
    let shown = Html::parse_document(&shown.dom);
    let rows: Vec<String> = select(&shown, "table[data-field=our-incidents] tbody tr")
        .iter()
        .map(|row| row.value().attr("data-verdict").unwrap().to_owned())
        .collect();
    assert_eq!(rows, ["declared", "undeclared", "maintenance"]);
    let short = select(&shown, "table[data-field=declared] tr[data-id=mnt-short]");
    let short: String = short[0].text().collect();
    assert!(short.contains("less than the 3 d notice the contract requires: not excludable"), "{short}");
    let quiet = Html::parse_document(&quiet.dom);
    let warning: String = select(&quiet, "p.warning[data-field=status-page]")[0].text().collect();
    assert!(warning.contains("never read successfully; the last read failed: /api/v2/incidents.json"), "{warning}");

    // The claim documents, and the frozen period.
    let html =
        run_collector(&["report", "--config", config, "--period", &period, "--contract", "web", "--format", "html"]);
    assert!(html.contains("UNDECLARED: the vendor's status page said nothing"), "{html}");
    assert!(html.contains("declared: “Elevated error rates”"), "the vendor's own title");
    let markdown =
        run_collector(&["report", "--config", config, "--period", &period, "--contract", "web", "--format", "md"]);
    assert!(
        markdown.contains("| incident inc-unseen | Degraded dashboard |") && markdown.contains("we did not see it"),
        "{markdown}"
    );
    let closed = run_collector(&["close", "--config", config, "--period", &period, "--contract", "web"]);
    assert_eq!(closed.trim(), format!("web {period}: closed as revision 1, credit 50.00 USD"));
    let frozen = send(http, "GET", &format!("/api/v1/periods/web/{period}/1/report.json"), &[], "").await.body;
    let frozen: Value = serde_json::from_str(&frozen).unwrap();
    assert_eq!(frozen["vendor_status"]["undeclared_incidents"], 1, "the frozen report holds the vendor's word");

    // The vendor owns up to the second outage after the close.
    page.declare(
        vec![
            first,
            incident("inc-b", "Login failures", minute(start, 20_005), Some(minute(start, 20_045)), "postmortem"),
            unseen,
        ],
        vec![],
    );
    until(std::time::Duration::from_secs(60), "the status page read again", async || {
        let report: Value = serde_json::from_str(&send(http, "GET", &report_path, &[], "").await.body).unwrap();
        report["vendor_status"]["undeclared_incidents"] == 0
    })
    .await;
    drop(collector);
    let revised = run_collector(&["close", "--config", config, "--period", &period, "--contract", "web"]);
    assert!(
        revised.starts_with(&format!("web {period}: revision 2: the vendor's status page changed what it declared")),
        "{revised}"
    );
    assert!(
        revised.contains("vendor_status.undeclared_incidents: 1 → 0") && revised.contains("credit 50.00 USD"),
        "{revised}"
    );
}
