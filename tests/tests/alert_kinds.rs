//! The alert kinds besides `down`, through the real evaluator over a real SQLite store, told to PagerDuty's Events
//! API v2 (a loopback `events_url`):
//!
//! - `burn_rate` and `breach_forecast` on a timeline of results as agents write them (one a minute, a 20-minute
//!   outage), each ticked at its moment: each fires on the first settled down slice and resolves exactly when its
//!   window has cleared, computed by hand below;
//! - `cert_expiry` from a real HTTPS probe of a server whose certificate expires in 10 days, resolved once the
//!   probe sees a renewed certificate.
//!
//! PagerDuty gets a `trigger` when an alert fires and a `resolve` with the same `dedup_key` when it ends.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use slaprobe_collector::alerting::evaluator::Evaluator;
use slaprobe_collector::config::{CollectorConfig, load_collector_config};
use slaprobe_collector::notify::Notifier;
use slaprobe_collector::store::{AlertRecord, Store};
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::probe;
use slaprobe_tests::certs::CaFile;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::wait;
use slaprobe_tests::webhook_receiver::WebhookReceiver;
use tokio::sync::watch;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn config(dir: &std::path::Path, pagerduty: &WebhookReceiver, alerts: &str) -> CollectorConfig {
    let path = dir.join("collector.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: {{ grpc: \"127.0.0.1:1\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             checks:\n  - {{ id: api, kind: http, target: \"https://127.0.0.1:9/\", interval: 1m, timeout: 1s }}\n\
             contracts:\n  - {{ id: acme, vendor: Acme, service: API, checks: [api], objective: 99.9, slice: 1m, \
             credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n\
             notify:\n  channels:\n\
             \x20   - {{ id: pager, pagerduty: {{ routing_key: \"R0UT1NG\", events_url: \"{}\" }} }}\n\
             \x20 policies:\n    - {{ id: page, levels: [ {{ after: 0s, channels: [pager] }} ] }}\n\
             alerts:\n{alerts}",
            pagerduty.url("/v2/enqueue"),
        ),
    )
    .unwrap();
    load_collector_config(&path).unwrap_or_else(|error| panic!("{error}"))
}

fn evaluator(store: &Store, config: CollectorConfig) -> Evaluator {
    let (_, watched) = watch::channel(Arc::new(config));
    Evaluator::new(store.clone(), Notifier::new().unwrap(), watched)
}

/// One result a minute (10 s into it) from `from` to `to`, failed where `failing(t)`, as an agent in `eu` writes.
fn minutely(from: &str, to: &str, failing: impl Fn(Timestamp) -> bool) -> Vec<ResultRecord> {
    let (mut minute, end) = (at(from), at(to));
    let mut results = Vec::new();
    while minute < end {
        let started = minute + SignedDuration::from_secs(10);
        let failed = failing(started);
        results.push(
            serde_json::from_value(serde_json::json!({
                "check_id": "api", "region": "eu", "agent_id": "agent-eu", "seq": results.len() + 1,
                "scheduled_at": started.to_string(), "started_at": started.to_string(), "ok": !failed,
                "duration_ms": 41.5, "phases_ms": { "connect": 0.4, "tls": 6.1, "ttfb": 33.0, "transfer": 2.0 },
                "http": { "status": if failed { 503 } else { 200 }, "version": "HTTP/2", "body_bytes": 512 },
                "error_kind": failed.then_some("http_status"), "error": failed.then_some("status 503"),
            }))
            .unwrap(),
        );
        minute += SignedDuration::from_mins(1);
    }
    results
}

/// The alert of `kind`, the only one of its kind.
async fn alert_of(store: &Store, kind: &str) -> Option<AlertRecord> {
    let alerts: Vec<AlertRecord> =
        store.alerts(None, 100).await.unwrap().into_iter().filter(|alert| alert.kind == kind).collect();
    assert!(alerts.len() <= 1, "one {kind} alert at most: {alerts:?}");
    alerts.into_iter().next()
}

/// The PagerDuty events received once the store's delivery log holds `count` deliveries.
async fn events(store: &Store, pagerduty: &WebhookReceiver, count: usize) -> Vec<Value> {
    wait::until(std::time::Duration::from_secs(10), &format!("{count} logged deliveries"), async || {
        store.deliveries(None, 100).await.unwrap().len() >= count
    })
    .await;
    pagerduty.received().iter().map(|received| serde_json::from_slice(&received.body).unwrap()).collect()
}

/// `(event_action, dedup_key)` of each event.
fn actions(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|event| {
            (event["event_action"].as_str().unwrap().to_owned(), event["dedup_key"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn burn_rate_and_breach_forecast_fire_on_the_first_down_slice_and_resolve_when_their_windows_clear() {
    let pagerduty = WebhookReceiver::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let rules = "  - { contract: acme, kind: burn_rate, policy: page, windows: [ { long: 1h, short: 5m, burn: 14.4 } ] }\n\
                 \x20 - { contract: acme, kind: breach_forecast, policy: page, lookback: 1h }\n";
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let mut evaluator = evaluator(&store, config(dir.path(), &pagerduty, rules));
    // Up from 10:00, down 12:00-12:20, up again to 13:30 (April 2026: a 30-day period, so windows are unscaled).
    let outage = |t: Timestamp| at("2026-04-10T12:00:00Z") <= t && t < at("2026-04-10T12:20:00Z");
    store.write_results(minutely("2026-04-10T10:00:00Z", "2026-04-10T13:30:00Z", outage)).await.unwrap();

    // A slice is settled 3 s after it ends (timeout 1 s + 2 s); each tick sees the slices settled by then.
    let mut fired = Vec::new();
    let mut minute = at("2026-04-10T10:01:03Z");
    while minute < at("2026-04-10T13:30:00Z") {
        evaluator.tick(minute).await.unwrap();
        minute += SignedDuration::from_mins(1);
        for kind in ["burn_rate", "breach_forecast"] {
            if let Some(alert) = alert_of(&store, kind).await
                && !fired.contains(&kind)
            {
                fired.push(kind);
                assert_eq!(alert.fired_at, at("2026-04-10T12:01:03Z"), "{kind} fires once 12:00 is settled");
            }
        }
    }
    // burn_rate: 14.4 × the 0.1 % budget = 1.44 %. The 12:00 slice alone is 1/60 of the hour and 1/5 of the five
    // minutes; the five minutes hold no down slice once 12:20-12:24 are settled, at 12:25:03.
    let burn = alert_of(&store, "burn_rate").await.expect("a burn_rate alert");
    assert_eq!(burn.resolved_at, Some(at("2026-04-10T12:25:03Z")), "{burn:?}");
    // breach_forecast: with 1 of the last 60 slices down the month projects to about 98.3 %; the lookback holds
    // no down slice from 13:20:03 (12:20-13:19), and 20 down of the ~29,600 eligible slices projects 99.93 %.
    let forecast = alert_of(&store, "breach_forecast").await.expect("a breach_forecast alert");
    assert_eq!(forecast.resolved_at, Some(at("2026-04-10T13:20:03Z")), "{forecast:?}");
    assert!(forecast.summary.contains("20 down slice(s) so far"), "{}", forecast.summary);

    let events = events(&store, &pagerduty, 4).await;
    assert_eq!(
        actions(&events),
        [
            ("trigger".to_owned(), burn.id.clone()),
            ("trigger".to_owned(), forecast.id.clone()),
            ("resolve".to_owned(), burn.id.clone()),
            ("resolve".to_owned(), forecast.id.clone()),
        ]
    );
    for event in &events {
        assert_eq!(
            (&event["routing_key"], &event["payload"]["severity"]),
            (&Value::from("R0UT1NG"), &Value::from("critical"))
        );
        assert_eq!(event["payload"]["component"], "acme");
    }
    assert_eq!(pagerduty.received().len(), 4, "nothing more");
}

#[tokio::test(flavor = "multi_thread")]
async fn cert_expiry_fires_from_a_real_probe_and_resolves_once_the_certificate_is_renewed() {
    let pagerduty = WebhookReceiver::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let rules = "  - { contract: acme, kind: cert_expiry, policy: page, within: 14d }\n";
    let mut evaluator = evaluator(&store, config(dir.path(), &pagerduty, rules));
    let CaFile { ca, path: ca_file, dir: _ca_dir } = CaFile::new();
    let probe_of = async |server: &HttpServer| {
        let yaml = format!(
            "{{ id: api, kind: http, target: \"{}\", interval: 1m, timeout: 5s, http: {{ ca_file: \"{}\" }} }}",
            server.url("/"),
            ca_file.display()
        );
        let result = probe(&yaml).await;
        assert!(result.ok, "{result:?}");
        result
    };

    let expiring = HttpServer::start_tls(ca.server_cert(-80, 10).server_config(&[b"http/1.1"])).await;
    let mut result = probe_of(&expiring).await;
    result.seq = Some(1);
    store.write_results(vec![result]).await.unwrap();
    evaluator.tick(Timestamp::now()).await.unwrap();
    let alert = alert_of(&store, "cert_expiry").await.expect("a cert_expiry alert");
    // Ten days less the seconds since the certificate was made, rounded to the second.
    let says = |left: &str| alert.summary.starts_with(&format!("the certificate of api expires in {left}"));
    assert!(says("9 d 23 h 59 min") || says("10 d ("), "{}", alert.summary);
    assert_eq!(alert.regions, ["test"]);

    let renewed = HttpServer::start_tls(ca.server_cert(-1, 90).server_config(&[b"http/1.1"])).await;
    let mut result = probe_of(&renewed).await;
    result.seq = Some(2);
    store.write_results(vec![result]).await.unwrap();
    evaluator.tick(Timestamp::now() + SignedDuration::from_secs(1)).await.unwrap();
    let resolved = alert_of(&store, "cert_expiry").await.unwrap();
    assert_eq!(resolved.resolved_by.as_deref(), Some("condition"), "{resolved:?}");

    let events = events(&store, &pagerduty, 2).await;
    assert_eq!(actions(&events), [("trigger".to_owned(), alert.id.clone()), ("resolve".to_owned(), alert.id)]);
    assert!(events[0]["payload"]["summary"].as_str().unwrap().contains("certificate of api"), "{}", events[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_names_quiet_enrolled_agents_and_leaves_revoked_ones_out() {
    use slaprobe_collector::store::AgentStatus;
    use slaprobe_collector::store::enrolments::{EnrolledAgent, EnrolmentState};
    let pagerduty = WebhookReceiver::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let alerts = "  - { contract: acme, kind: silent, policy: page, after: 1m }\n";
    let config = config(dir.path(), &pagerduty, alerts);
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let now = Timestamp::now();
    let long_ago = now - SignedDuration::from_mins(10);
    for agent_id in ["node-a", "node-b"] {
        let status = AgentStatus {
            agent_id: agent_id.to_owned(),
            region: "eu".to_owned(),
            version: "0.1.0".to_owned(),
            connected_at: long_ago,
            spool_backlog: 0,
            collector: "collector-a:1".to_owned(),
        };
        store.record_agent(status).await.unwrap();
    }
    let enrolled = |agent_id: &str, state, key: u8| EnrolledAgent {
        agent_id: agent_id.to_owned(),
        enrolment: "fleet-eu".to_owned(),
        region: "eu".to_owned(),
        state,
        public_key: slaprobe_proto::evidence::PublicKey::from_bytes(&[key; 32]).unwrap(),
        first_seen_at: long_ago,
        last_seen_at: long_ago,
        remote: None,
        version: "0.1.0".to_owned(),
        decided_at: Some(long_ago),
        decided_by: Some("alice".to_owned()),
    };
    store.enrol(&enrolled("node-a", EnrolmentState::Revoked, 1)).await.unwrap();
    store.enrol(&enrolled("node-b", EnrolmentState::Approved, 2)).await.unwrap();
    let mut evaluator = evaluator(&store, config);

    evaluator.tick(now).await.unwrap();
    let alert = alert_of(&store, "silent").await.expect("node-b is quiet");
    assert!(alert.summary.contains("node-b (eu") && !alert.summary.contains("node-a"), "{}", alert.summary);
    store.put_enrolled_agent(&enrolled("node-b", EnrolmentState::Revoked, 2)).await.unwrap();
    evaluator.tick(now + SignedDuration::from_secs(10)).await.unwrap();
    let alert = alert_of(&store, "silent").await.unwrap();
    assert_eq!(alert.state, slaprobe_collector::store::AlertState::Resolved, "a revoked agent is quiet on purpose");
}
