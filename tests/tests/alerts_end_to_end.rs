//! Alerts end to end, with real processes on loopback: a collector and three agents in three regions, each
//! agent sending its probes from its own loopback address (`source_ip` 127.0.0.2-4), so that one HTTP target
//! can be down from some regions and up from others. The contract needs 2 of 3 regions down.
//!
//! - down from 1 of 3 regions: nobody is notified;
//! - down from 2 of 3: the chat webhook gets exactly one firing notification (latency measured and printed),
//!   level 2 (a webhook and an email to an SMTP server on loopback) follows when nobody acknowledges;
//! - the collector is killed with SIGKILL and restarted while the alert fires: nothing is sent again;
//! - recovery: every level told gets exactly one resolved notification;
//! - a second outage acknowledged through the API escalates no further, and resolving it through the
//!   dashboard's form tells the chat who resolved it; answers match the OpenAPI document.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::Value;
use slaprobe_collector::alerting;
use slaprobe_collector::digest::token_hash;
use slaprobe_tests::collector::{start_collector, start_collector_logged};
use slaprobe_tests::http_client::send;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::openapi::violations;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::regions::{self, agents_yaml, start_agents};
use slaprobe_tests::smtp_receiver::SmtpReceiver;
use slaprobe_tests::wait;
use slaprobe_tests::webhook_receiver::WebhookReceiver;

const ADMIN: &str = "adm1n-t0ken";
const REGIONS: [(&str, &str); 3] = [("ap", "127.0.0.2"), ("eu", "127.0.0.3"), ("us", "127.0.0.4")];
/// The design's bound from the start of the first down slice to the alert firing, on the collector's own clock:
/// the slice (2 s), settling (timeout 500 ms + 2 s) and one evaluation tick (1 s), plus a second for the
/// failing results to arrive and the tick to run on a loaded machine.
const FIRING_BOUND: Duration = Duration::from_millis(2_000 + 2_500 + 1_000 + 1_000);
/// How long the test waits for something that should happen; generous, since it bounds nothing.
const PATIENCE: Duration = Duration::from_secs(30);

fn source(region: &str) -> IpAddr {
    regions::source(&REGIONS, region)
}

async fn api(http: SocketAddr, method: &str, path: &str) -> (u16, Value) {
    let authorization = format!("Bearer {ADMIN}");
    let response = send(http, method, path, &[("authorization", &authorization)], "").await;
    let body =
        serde_json::from_str(&response.body).unwrap_or_else(|error| panic!("{path}: {error}: {}", response.body));
    (response.status, body)
}

/// The states of what `receiver` got, waiting up to `limit` for `count`.
async fn states(receiver: &WebhookReceiver, count: usize, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    while receiver.received().len() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver.received().iter().map(|received| body_of(&received.body)["state"].as_str().unwrap().to_owned()).collect()
}

fn body_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread")]
async fn down_in_two_of_three_regions_notifies_once_escalates_and_resolves() {
    let target = HttpServer::start().await;
    let (chat, oncall) = (WebhookReceiver::start(&[]).await, WebhookReceiver::start(&[]).await);
    let smtp = SmtpReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let agents = agents_yaml(&REGIONS);
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\nagents:\n{agents}\
             api_tokens: [ {{ name: alice, role: admin, token_sha256: \"{}\" }} ]\n\
             checks:\n  - {{ id: api, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n\
             contracts:\n  - {{ id: acme, vendor: Acme, service: API, checks: [api], objective: 99.9, slice: 2s, \
             min_regions_down: 2, credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n\
             notify:\n  channels:\n\
             \x20   - {{ id: chat, webhook: {{ url: \"{}\", secret: \"s3cret\" }} }}\n\
             \x20   - {{ id: oncall, webhook: {{ url: \"{}\" }} }}\n\
             \x20   - {{ id: managers, email: {{ smtp: \"{}\", from: \"slaprobe@example.com\", to: [\"it@example.com\"] }} }}\n\
             \x20 policies:\n    - {{ id: default, levels: [ {{ after: 0s, channels: [chat] }}, \
             {{ after: 6s, channels: [oncall, managers] }} ] }}\n\
             alerts:\n  - {{ contract: acme, kind: down, policy: default, down_slices: 1, up_slices: 2 }}\n",
            token_hash(ADMIN),
            target.url("/"),
            chat.url("/chat"),
            oncall.url("/oncall"),
            smtp.url(),
        ),
    )
    .unwrap();
    let mut collector = tokio::task::block_in_place(|| start_collector(&config));
    let _agents = start_agents(&REGIONS, grpc, "");
    wait_for_all_regions(http).await;

    // Down from eu only: quorum 2 of 3 does not hold; nobody hears of it.
    target.fail_from(&[source("eu")], 503);
    tokio::time::sleep(FIRING_BOUND + Duration::from_secs(2)).await;
    target.recover();
    assert!(chat.received().is_empty(), "1 of 3 regions down notified someone");
    wait_for_state(http, "up").await;

    // Down from eu and us: one firing notification, within the bound.
    let down_since = Instant::now();
    target.fail_from(&[source("eu"), source("us")], 503);
    assert_eq!(states(&chat, 1, PATIENCE).await, ["firing"]);
    let latency = down_since.elapsed();
    println!("firing notification {latency:?} after the target went down from 2 of 3 regions");
    let firing = body_of(&chat.received()[0].body);
    let (_, detail) = api(http, "GET", &format!("/api/v1/alerts/{}", firing["alert_id"].as_str().unwrap())).await;
    let instant = |field: &str| detail["alert"][field].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    let fired_after = instant("fired_at").duration_since(instant("started_at"));
    assert!(
        fired_after.unsigned_abs() <= FIRING_BOUND && fired_after.is_positive(),
        "fired {fired_after:?} after the first down slice began (bound {FIRING_BOUND:?})"
    );
    assert_eq!(
        (&firing["kind"], &firing["contract"], &firing["level"]),
        (&Value::from("down"), &Value::from("acme"), &Value::from(1))
    );
    assert_eq!(firing["regions"], serde_json::json!(["eu", "us"]));
    let alert_id = firing["alert_id"].as_str().unwrap().to_owned();

    let authorization = format!("Bearer {ADMIN}");
    let metrics = send(http, "GET", "/metrics", &[("authorization", &authorization)], "").await.body;
    for line in [
        "slaprobe_collector_alerts_firing{contract=\"acme\",kind=\"down\"} 1",
        "slaprobe_collector_alerts_unacknowledged{contract=\"acme\",kind=\"down\"} 1",
    ] {
        assert!(metrics.lines().any(|sample| sample == line), "no {line} in\n{metrics}");
    }

    // Nobody acknowledges: level 2 after 6 s, by webhook and by email.
    assert_eq!(states(&oncall, 1, PATIENCE).await, ["firing"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while smtp.mails().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mail = smtp.mails().first().cloned().expect("the managers' email");
    assert_eq!(mail.to, ["it@example.com"]);
    assert!(mail.data.contains("Subject: [FIRING] down acme (Acme, API): down in eu, us for "), "{}", mail.data);

    // SIGKILL while firing (once the deliveries are logged), restart: the stored state means nothing is sent again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while api(http, "GET", &format!("/api/v1/alerts/{alert_id}")).await.1["deliveries"].as_array().map_or(0, Vec::len)
        < 3
    {
        assert!(Instant::now() < deadline, "the level 2 deliveries are not logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(collector.id() as i32), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    let _ = collector.wait();
    drop(collector);
    let (restarted, log) = tokio::task::block_in_place(|| start_collector_logged(&config));
    collector = restarted;
    // The restarted collector waits for the dead one's lease to lapse, then evaluates; two ticks later, anything
    // it would send again has been sent.
    wait::until(PATIENCE, "the restarted collector to take the alert lease", async || {
        log.lock()
            .unwrap()
            .iter()
            .any(|line| line.contains("Alert evaluation lease changed hands.") && line.contains("held=true"))
    })
    .await;
    tokio::time::sleep(2 * alerting::evaluator::TICK).await;
    assert_eq!(
        (chat.received().len(), oncall.received().len(), smtp.mails().len()),
        (1, 1, 1),
        "sent again after the restart"
    );

    // Recovery: every level told hears it once.
    target.recover();
    assert_eq!(states(&chat, 2, PATIENCE).await, ["firing", "resolved"]);
    assert_eq!(states(&oncall, 2, Duration::from_secs(5)).await, ["firing", "resolved"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while smtp.mails().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(smtp.mails()[1].data.contains("Subject: [RESOLVED] down acme"), "{}", smtp.mails()[1].data);
    // A delivery is logged once it is over (the mail server's 250 may arrive before the log entry is written).
    let logged = async || {
        api(http, "GET", &format!("/api/v1/alerts/{alert_id}")).await.1["deliveries"].as_array().map_or(0, Vec::len)
    };
    wait::until(PATIENCE, "the six deliveries to be logged", async || logged().await >= 6).await;
    let (status, detail) = api(http, "GET", &format!("/api/v1/alerts/{alert_id}")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(
        (&detail["alert"]["state"], &detail["alert"]["resolved_by"]),
        (&Value::from("resolved"), &Value::from("condition"))
    );
    let channels: Vec<&str> =
        detail["deliveries"].as_array().unwrap().iter().map(|d| d["channel"].as_str().unwrap()).collect();
    assert_eq!(channels.len(), 6, "firing and resolved to chat, oncall and managers: {channels:?}");
    let (_, doc) = api(http, "GET", "/api/v1/openapi.json").await;
    assert_eq!(violations(&doc, "/api/v1/alerts/{id}", "get", 200, &detail), Vec::<String>::new());

    // A second outage, acknowledged through the API: no level 2. Resolved through the dashboard's form.
    wait_for_state(http, "up").await;
    target.fail_from(&[source("eu"), source("us")], 503);
    assert_eq!(states(&chat, 3, PATIENCE).await, ["firing", "resolved", "firing"]);
    let second = body_of(&chat.received()[2].body)["alert_id"].as_str().unwrap().to_owned();
    let (status, acknowledged) = api(http, "POST", &format!("/api/v1/alerts/{second}/acknowledge")).await;
    assert_eq!(status, 200, "{acknowledged}");
    assert_eq!(acknowledged["alert"]["acknowledged_by"], "alice");
    assert_eq!(violations(&doc, "/api/v1/alerts/{id}/acknowledge", "post", 200, &acknowledged), Vec::<String>::new());
    let (status, again) = api(http, "POST", &format!("/api/v1/alerts/{second}/acknowledge")).await;
    assert_eq!(status, 409, "{again}");
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(oncall.received().len(), 2, "acknowledged: no level 2");
    let (status, listed) = api(http, "GET", "/api/v1/alerts?state=firing").await;
    assert_eq!((status, listed["alerts"].as_array().unwrap().len()), (200, 1));
    assert_eq!(violations(&doc, "/api/v1/alerts", "get", 200, &listed), Vec::<String>::new());

    let page = send(http, "GET", "/alerts", &[("authorization", &authorization)], "").await;
    assert!(page.body.contains(&format!("action=\"/alerts/{second}/resolve\"")), "{}", page.body);
    let form = format!("/alerts/{second}/resolve");
    let elsewhere =
        send(http, "POST", &form, &[("authorization", &authorization), ("origin", "http://evil.example")], "").await;
    assert_eq!(elsewhere.status, 403, "a form posted from another site is refused");
    let origin = format!("http://{http}");
    let resolved = send(http, "POST", &form, &[("authorization", &authorization), ("origin", &origin)], "").await;
    assert_eq!((resolved.status, resolved.header("location")), (303, Some("/alerts")), "{}", resolved.body);
    assert_eq!(states(&chat, 4, Duration::from_secs(10)).await, ["firing", "resolved", "firing", "resolved"]);
    let summary = body_of(&chat.received()[3].body)["summary"].as_str().unwrap().to_owned();
    assert!(summary.starts_with("resolved by alice"), "{summary}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(chat.received().len(), 4, "held back while the target is still down");
    target.recover();
    drop(collector);
}

/// Waits until the check's latest results put it in `state` (`up`: every region succeeds).
async fn wait_for_state(http: SocketAddr, state: &str) {
    wait::until(PATIENCE, &format!("the check to be {state}"), async || {
        api(http, "GET", "/api/v1/checks").await.1["checks"][0]["state"] == state
    })
    .await;
}

/// Waits until results from all three regions are in.
async fn wait_for_all_regions(http: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, checks) = api(http, "GET", "/api/v1/checks").await;
        let regions = checks["checks"][0]["latest"].as_array().map_or(0, Vec::len);
        if regions == 3 {
            return;
        }
        assert!(Instant::now() < deadline, "not every region reports: {checks}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
