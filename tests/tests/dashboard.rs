//! The web dashboard in a real browser: headless Chromium loads every page of a running collector fed by a real
//! agent (plus a seeded past month with an outage). The key figures each page shows must equal the JSON API's;
//! a page fails on any console message, on any request that does not answer 200, and on any request that
//! leaves loopback. Screenshots (phone and desktop) land in `target/dashboard-screenshots/` to be looked at.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp, ToSpan};
use scraper::{Html, Selector};
use serde_json::Value;
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::browser::{PageLoad, is_browser_service, is_local, load, screenshot};
use slaprobe_tests::collector::start_collector;
use slaprobe_tests::http_client::get;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::{closed_port, free_addr};
use slaprobe_tests::webhook_receiver::WebhookReceiver;

/// What is wrong with a page load: console messages, requests off loopback or to anything but `base` (bar
/// Chromium's own background checks), and requests to `base` that do not answer 200.
async fn problems(page: &PageLoad, base: &str, http: SocketAddr) -> Vec<String> {
    let mut problems: Vec<String> = page.console.iter().map(|message| format!("console: {message}")).collect();
    for url in &page.requests {
        if is_browser_service(url) {
            continue;
        }
        if !is_local(url) {
            problems.push(format!("left loopback: {url}"));
        } else if let Some(path) = url.strip_prefix(base) {
            let (status, _) = get(http, &format!("/{path}")).await;
            if status != 200 {
                problems.push(format!("{url} answers {status}"));
            }
        } else if url.starts_with("http") {
            problems.push(format!("requested outside the collector: {url}"));
        }
    }
    problems
}

/// The text of the one element `selector` finds in `dom`.
fn text(dom: &Html, selector: &str) -> String {
    let parsed = Selector::parse(selector).unwrap_or_else(|error| panic!("{selector}: {error}"));
    let mut found = dom.select(&parsed);
    let element = found.next().unwrap_or_else(|| panic!("nothing matches {selector}"));
    assert!(found.next().is_none(), "more than one {selector}");
    element.text().collect::<String>().trim().to_owned()
}

fn count(dom: &Html, selector: &str) -> usize {
    dom.select(&Selector::parse(selector).unwrap()).count()
}

/// A shown percentage equals `api` cut to the digits shown (`no data` for null).
fn shows_percent(shown: &str, api: &Value) -> bool {
    let Some(api) = api.as_f64() else { return shown == "no data" };
    let Some(number) = shown.strip_suffix(" %") else { return false };
    let digits = number.split_once('.').map_or(0, |(_, decimals)| decimals.len());
    let shown: f64 = number.parse().unwrap_or(f64::NAN);
    shown <= api + 1e-9 && api - shown < 10f64.powi(-(digits as i32))
}

/// A shown amount (`10.00 USD`, maybe followed by more) equals `api` to the cent.
fn shows_money(shown: &str, api: &Value, currency: &str) -> bool {
    let mut words = shown.split(' ');
    let amount: f64 = words.next().and_then(|word| word.parse().ok()).unwrap_or(f64::NAN);
    (amount - api.as_f64().unwrap_or(f64::NAN)).abs() < 0.005 && words.next() == Some(currency)
}

/// A shown duration (`1 h 40 min`, `-5 min`) equals `api` seconds, rounded.
fn shows_duration(shown: &str, api: &Value) -> bool {
    let (negative, text) = shown.strip_prefix('-').map_or((false, shown), |rest| (true, rest));
    let Ok(parsed) = humantime::parse_duration(&text.replace(' ', "")) else { return false };
    let seconds = parsed.as_secs_f64() * if negative { -1.0 } else { 1.0 };
    (seconds - api.as_f64().unwrap_or(f64::NAN).round()).abs() < 0.5
}

/// The state of the first notification `receiver` got.
fn body_state(receiver: &WebhookReceiver) -> Option<String> {
    let first = receiver.received().into_iter().next()?;
    let body: serde_json::Value = serde_json::from_slice(&first.body).ok()?;
    body["state"].as_str().map(str::to_owned)
}

/// Results of `check` from agent `agent` in eu-west, one per `step` from `start` to `end`, failed where `down`.
fn seeded(
    check: &str,
    agent: &str,
    (start, end): (Timestamp, Timestamp),
    step: SignedDuration,
    down: impl Fn(Timestamp) -> bool,
) -> Vec<ResultRecord> {
    let mut results = Vec::new();
    let mut at = start + SignedDuration::from_secs(7);
    while at < end {
        let failed = down(at);
        results.push(
            serde_json::from_value(serde_json::json!({
                "check_id": check, "region": "eu-west", "agent_id": agent, "seq": results.len() + 1,
                "started_at": at.to_string(), "ok": !failed, "duration_ms": 20.0 + (results.len() % 7) as f64,
                "error_kind": failed.then_some("connect"), "error": failed.then_some("connect: connection refused"),
            }))
            .unwrap(),
        );
        at += step;
    }
    results
}

fn midnight(date: jiff::civil::Date) -> Timestamp {
    date.to_zoned_datetime(jiff::tz::TimeZone::UTC).unwrap().timestamp()
}

fn standing_label(api: &Value) -> &'static str {
    match api.as_str() {
        Some("ok") => "on track",
        Some("at_risk") => "at risk",
        Some("breached") => "breached",
        other => panic!("not a standing: {other:?}"),
    }
}

fn screenshots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn api(http: SocketAddr, path: &str) -> Value {
    let (status, body) = get(http, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn the_checker_catches_console_errors_and_stray_requests() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let page = load("data:text/html,<img src='http://127.0.0.1:9/missing.png'><script>console.error('boom')</script>");
    let found = runtime.block_on(problems(&page, "http://127.0.0.1:8/", "127.0.0.1:8".parse().unwrap()));
    assert!(found.iter().any(|problem| problem.contains("boom")), "{found:?}");
    assert!(found.iter().any(|problem| problem.contains("missing.png")), "{found:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_shows_the_apis_figures_without_errors() {
    let server = HttpServer::start().await;
    let closed = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let now = Timestamp::now();
    let this_month = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date().first_of_month();
    let last_month = this_month.checked_sub(1.month()).unwrap();
    let store = Store::open_sqlite(&dir.path().join("data/slaprobe.db")).unwrap();
    // Last month of `web`, every five minutes, with a 100-minute outage on the 10th.
    let outage = (midnight(last_month) + SignedDuration::from_hours(9 * 24 + 10), SignedDuration::from_mins(100));
    let month = (midnight(last_month), midnight(this_month));
    let history = seeded("web", "history-1", month, SignedDuration::from_mins(5), |at| {
        outage.0 <= at && at < outage.0 + outage.1
    });
    store.write_results(history).await.unwrap();
    // The last hour of `db` (this month only) failing, so its contract is below objective now.
    let hour = (midnight(this_month).max(now - SignedDuration::from_hours(1)), now - SignedDuration::from_mins(1));
    store.write_results(seeded("db", "history-2", hour, SignedDuration::from_secs(30), |_| true)).await.unwrap();
    drop(store);
    // edge-2 never connects, so the `silent` alert fires and the alerts page has a row with its buttons.
    let hooks = WebhookReceiver::start(&[]).await;
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: data/slaprobe.db }}\n\
             agents:\n  - {{ id: edge-1, region: eu-west, token_sha256: \"{}\" }}\n\
             \x20 - {{ id: edge-2, region: us-east, token_sha256: \"{}\" }}\n\
             checks:\n  - {{ id: web, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n\
             \x20 - {{ id: db, kind: tcp, target: \"{closed}\", interval: 1s, timeout: 500ms }}\n\
             contracts:\n  - {{ id: web, vendor: Loopback Cloud, service: Web API, checks: [web], objective: 99.9, \
             slice: 5m, credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n\
             \x20 - {{ id: db, vendor: Closed Port Inc, service: Database, checks: [db], objective: 99.5, \
             credits: {{ fee: 250, currency: EUR, tiers: [ {{ below: 99.5, credit: 25 }} ] }} }}\n\
             notify:\n  channels: [ {{ id: hook, webhook: {{ url: \"{}\" }} }} ]\n\
             \x20 policies: [ {{ id: default, levels: [ {{ after: 0s, channels: [hook] }} ] }} ]\n\
             alerts: [ {{ contract: web, kind: silent, policy: default, after: 1s }} ]\n",
            token_hash("s3cret"),
            token_hash("other"),
            server.url("/"),
            hooks.url("/hook"),
        ),
    )
    .unwrap();
    let _collector = tokio::task::block_in_place(|| start_collector(&config));
    let agent_config = format!(
        "agent_id: edge-1\nregion: eu-west\ncollector: \"http://{grpc}\"\ntoken: s3cret\nspool_dir: \"{}\"\n",
        dir.path().join("spool").display()
    );
    let _agent = AgentProcess::start_for_collector(tempfile::tempdir().unwrap(), &agent_config);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let checks = api(http, "/api/v1/checks").await;
        let states: Vec<&str> =
            checks["checks"].as_array().unwrap().iter().filter_map(|c| c["state"].as_str()).collect();
        if states == ["up", "down"] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no results from the agent: {checks}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    while api(http, "/api/v1/alerts?state=firing").await["alerts"].as_array().is_none_or(Vec::is_empty) {
        assert!(tokio::time::Instant::now() < deadline, "the silent alert did not fire");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let base = format!("http://{http}/");
    let shots = screenshots_dir();
    let previous = last_month.strftime("%Y-%m").to_string();
    let pages = [
        ("overview", String::new()),
        ("contract", "contracts/web".to_owned()),
        ("contract-past", format!("contracts/web?period={previous}")),
        ("contract-failing", "contracts/db".to_owned()),
        ("checks", "checks".to_owned()),
        ("agents", "agents".to_owned()),
        ("alerts", "alerts".to_owned()),
    ];
    let mut loads = std::collections::BTreeMap::new();
    // Live figures may move while a page loads, so the page must match the API just before or just after.
    let mut contracts = vec![api(http, "/api/v1/contracts").await];
    for (name, path) in &pages {
        let url = format!("{base}{path}");
        let page = tokio::task::block_in_place(|| load(&url));
        if *name == "overview" {
            contracts.push(api(http, "/api/v1/contracts").await);
        }
        let found = problems(&page, &base, http).await;
        assert!(found.is_empty(), "{url}: {found:#?}");
        tokio::task::block_in_place(|| {
            screenshot(&url, &shots.join(format!("{name}-phone.png")), (390, 1400));
            screenshot(&url, &shots.join(format!("{name}-desktop.png")), (1280, 1100));
        });
        loads.insert(*name, Html::parse_document(&page.dom));
    }

    // Overview: each contract's figures as the contracts API gives them.
    let overview = &loads["overview"];
    for id in ["web", "db"] {
        let card = |field: &str| text(overview, &format!("[data-contract=\"{id}\"] [data-field=\"{field}\"]"));
        let matches = contracts.iter().any(|snapshot| {
            let status =
                snapshot["contracts"].as_array().unwrap().iter().find(|c| c["so_far"]["contract"] == id).unwrap();
            let currency = status["so_far"]["currency"].as_str().unwrap();
            shows_percent(&card("uptime"), &status["so_far"]["uptime_percent"])
                && shows_percent(&card("best-case"), &status["best_case_uptime_percent"])
                && shows_duration(&card("budget-left"), &status["budget_left_seconds"])
                && shows_money(&card("credit"), &status["so_far"]["credit_amount"], currency)
                && shows_money(&card("credit-certain"), &status["credit_certain_amount"], currency)
                && card("objective") == format!("{} %", status["so_far"]["objective"])
                && card("standing") == standing_label(&status["standing"])
        });
        let shown: Vec<String> =
            ["uptime", "best-case", "budget-left", "credit", "credit-certain", "standing"].map(card).to_vec();
        let api: Vec<String> = contracts
            .iter()
            .flat_map(|snapshot| snapshot["contracts"].as_array().unwrap().clone())
            .filter(|status| status["so_far"]["contract"] == id)
            .map(|status| {
                let fields = ["best_case_uptime_percent", "budget_left_seconds", "credit_certain_amount", "standing"];
                format!(
                    "uptime {} credit {} {:?}",
                    status["so_far"]["uptime_percent"],
                    status["so_far"]["credit_amount"],
                    fields.map(|f| status[f].to_string())
                )
            })
            .collect();
        assert!(matches, "overview card {id} shows {shown:?}; the API said {api:#?}");
    }
    assert_eq!(text(overview, "[data-contract=\"web\"] [data-field=\"standing\"]"), "on track");
    assert_ne!(text(overview, "[data-contract=\"db\"] [data-field=\"standing\"]"), "on track");
    assert_eq!(text(overview, "[data-field=\"meeting\"]"), "1 of 2 meet their objective so far");

    // The past month: static figures, exactly the API's.
    let past = &loads["contract-past"];
    let detail = api(http, &format!("/api/v1/contracts/web?period={previous}")).await;
    let report = &detail["report"];
    assert_eq!(detail["current"], false);
    assert_eq!(report["down_slices"], 20, "the seeded 100-minute outage in 5-minute slices");
    assert!(shows_percent(&text(past, ".figures [data-field=\"uptime\"]"), &report["uptime_percent"]));
    assert!(shows_money(&text(past, ".figures [data-field=\"credit\"]"), &report["credit_amount"], "USD"));
    assert_eq!(report["credit_amount"], 10.0);
    assert!(shows_duration(&text(past, ".figures [data-field=\"downtime\"]"), &Value::from(6000)));
    assert_eq!(text(past, "[data-field=\"incidents\"]"), report["incidents"].as_array().unwrap().len().to_string());
    assert_eq!(text(past, "[data-field=\"met\"]"), "missed");
    // Under the incident, what was observed: the seeded first failure of eu-west, as the API has it.
    let sample = &report["incidents"][0]["observed"][0];
    assert_eq!(sample["error"], "connect: connection refused", "{report}");
    let observed = text(past, "[data-field=\"observed\"]");
    assert!(
        observed.contains("What we observed (1 region)") && observed.contains("connect: connection refused"),
        "{observed}"
    );
    assert_eq!(count(past, "svg.strip rect"), report["days"].as_array().unwrap().len());
    assert_eq!(count(past, "svg.strip rect.bad"), 1, "the 10th: 20 of 288 slices down, 93.06 %");
    assert_eq!(count(past, "svg.strip rect.up"), report["days"].as_array().unwrap().len() - 1);
    let region = &detail["regions"][0];
    assert_eq!(text(past, "[data-region=\"eu-west\"] [data-field=\"results\"]"), region["results"].to_string());
    assert_eq!(text(past, "[data-region=\"eu-west\"] [data-field=\"failed\"]"), "20");
    assert_eq!(count(past, "svg.chart polyline"), 3, "p50, p95 and p99 lines");
    let report_link = Selector::parse("a[href$=\"format=html\"]").unwrap();
    let href = past.select(&report_link).next().unwrap().value().attr("href").unwrap().to_owned();
    let (status, claim) = get(http, &href).await;
    assert!(status == 200 && claim.contains("Loopback Cloud"), "{href}: {status}");

    // The current period of the failing contract.
    let failing = &loads["contract-failing"];
    let detail = api(http, "/api/v1/contracts/db").await;
    // Downtime keeps accruing, so at risk may have become breached since the page loaded; never on track.
    let shown = text(failing, "[data-field=\"standing\"]");
    assert!(["at risk", "breached"].contains(&shown.as_str()), "{shown}");
    assert!(["at risk", "breached"].contains(&standing_label(&detail["status"]["standing"])), "{detail}");
    assert_eq!(text(failing, "[data-field=\"period\"]"), this_month.strftime("%Y-%m").to_string());
    assert!(detail["report"]["down_slices"].as_u64().unwrap() >= 1, "{detail}");
    // The period is in progress: the page says so, with its coverage and the budget's rule.
    assert!(text(failing, "[data-field=\"period-status\"]").starts_with("in progress until "));
    assert!(text(failing, "[data-field=\"preliminary\"]").starts_with("Preliminary: the period is not over"));
    assert!(text(failing, "[data-field=\"coverage\"]").contains("of the measurable time measured"));
    assert!(text(failing, "[data-field=\"budget-rule\"]").starts_with("no_data: exclude"));
    assert_eq!(detail["report"]["preliminary"], true, "{detail}");
    // The past period is complete, and no earlier period than the first with results is offered.
    assert_eq!(text(past, "[data-field=\"period-status\"]"), "complete");
    assert_eq!(
        count(past, "p.links a[href^=\"/contracts/\"][href*=\"?period=\"]"),
        0,
        "web's results begin in {previous}"
    );

    // Checks: state per check and region as the API has it.
    let checks = &loads["checks"];
    assert_eq!(text(checks, "[data-check=\"web\"] [data-field=\"state\"]"), "up");
    assert_eq!(text(checks, "[data-check=\"db\"] [data-field=\"state\"]"), "down");
    assert_eq!(text(checks, "[data-check=\"db\"][data-region=\"eu-west\"] [data-field=\"ok\"]"), "connect");
    assert_eq!(text(checks, "[data-field=\"failing\"]"), "1 of 2 checks failing somewhere");

    // Agents: edge-1 reports, edge-2 never connected and stands out.
    let agents = &loads["agents"];
    let listed = api(http, "/api/v1/agents").await;
    assert_eq!(listed["agents"].as_array().unwrap().len(), 1);
    let holder = listed["agents"][0]["collector"].as_str().expect("the replica holding edge-1's session");
    assert_eq!(text(agents, "[data-agent=\"edge-1\"] [data-field=\"collector\"]"), holder);
    assert!(text(agents, "[data-agent=\"edge-1\"] [data-field=\"connected\"]").starts_with("connected to "));
    // The Collectors table lists this collector, alive, holding the session.
    assert_eq!(text(agents, &format!("[data-replica=\"{holder}\"] [data-field=\"sessions\"]")), "1");
    assert_eq!(count(agents, "tr.silent[data-agent=\"edge-2\"]"), 1);
    assert_eq!(count(agents, "tr.silent[data-agent=\"edge-1\"]"), 0);
    assert_eq!(text(agents, "[data-field=\"silent\"]"), "1 silent or never connected");

    // Alerts: the silent alert as the API has it, with its buttons; the overview points to it.
    let alerts = &loads["alerts"];
    let firing = api(http, "/api/v1/alerts?state=firing").await;
    let id = firing["alerts"][0]["id"].as_str().expect("the silent alert fires").to_owned();
    assert_eq!(text(alerts, "[data-field=\"firing\"]"), "1 firing");
    assert_eq!(count(alerts, &format!("tr[data-alert=\"{id}\"] form[action=\"/alerts/{id}/acknowledge\"]")), 1);
    assert_eq!(count(alerts, &format!("tr[data-alert=\"{id}\"] form[action=\"/alerts/{id}/resolve\"]")), 1);
    assert!(text(alerts, &format!("tr[data-alert=\"{id}\"]")).contains("edge-2 (us-east, never connected)"));
    assert!(text(overview, "[data-field=\"alerts-firing\"]").starts_with("1 alert(s) firing"));
    assert_eq!(body_state(&hooks), Some("firing".to_owned()), "the webhook heard it");
    eprintln!("screenshots: {}", shots.display());
}
