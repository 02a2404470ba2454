//! Alert evaluation step by step on a fixed timeline: the real evaluator over a real SQLite store, fed synthetic
//! results, sending to real webhook receivers on loopback. Each `tick` is given its moment, so minutes of
//! escalation pass in milliseconds and every expectation is exact: one firing notification per state change,
//! level 2 after 10 unacknowledged minutes, resolved to every level told, quorum 2 of 3 respected, an
//! acknowledged alert escalating no further, a hand-resolved alert held back until its condition clears, silence
//! in maintenance windows, and a second evaluator (a restart, or a replica) taking over only when the lease lapses,
//! with nothing sent twice, even when two race for the lease while a repeat is due. What was told is read from the
//! alert's stored record (written before anything is sent) and counted from the delivery log (written when a
//! delivery is over), so a notification still on its way can neither pass for "not sent" nor be missed.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use slaprobe_collector::alerting::evaluator::{Evaluator, announce_resolved};
use slaprobe_collector::config::{CollectorConfig, load_collector_config};
use slaprobe_collector::notify::{Notifier, signature};
use slaprobe_collector::store::{AlertAction, AlertChange, AlertState, Store};
use slaprobe_proto::ResultRecord;
use slaprobe_tests::wait;
use slaprobe_tests::webhook_receiver::{Received, WebhookReceiver};
use tokio::sync::watch;

const REGIONS: [&str; 3] = ["ap", "eu", "us"];

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// One result a minute per region from `from` to `to` (10 s into the minute), failed where `failing(region, t)`.
fn results(from: &str, to: &str, seq: &mut u64, failing: impl Fn(&str, Timestamp) -> bool) -> Vec<ResultRecord> {
    let (mut minute, end) = (at(from), at(to));
    let mut results = Vec::new();
    while minute < end {
        let started = minute + SignedDuration::from_secs(10);
        for region in REGIONS {
            *seq += 1;
            let failed = failing(region, started);
            results.push(
                serde_json::from_value(serde_json::json!({
                    "check_id": "api", "region": region, "agent_id": format!("agent-{region}"), "seq": *seq,
                    "started_at": started.to_string(), "ok": !failed, "duration_ms": 12.0,
                    "error_kind": failed.then_some("connect"), "error": failed.then_some("connect: connection refused"),
                }))
                .unwrap(),
            );
        }
        minute += SignedDuration::from_mins(1);
    }
    results
}

fn config(dir: &std::path::Path, chat: &WebhookReceiver, oncall: &WebhookReceiver) -> CollectorConfig {
    let path = dir.join("collector.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: {{ grpc: \"127.0.0.1:1\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             public_url: \"https://slaprobe.example.com/\"\n\
             checks:\n  - {{ id: api, kind: http, target: \"http://127.0.0.1:9/\", interval: 1m, timeout: 1s }}\n\
             contracts:\n  - {{ id: acme, vendor: Acme, service: API, checks: [api], objective: 99.9, slice: 1m, \
             min_regions_down: 2, maintenance: [ {{ start: \"2026-04-10T14:00:00Z\", end: \"2026-04-10T15:00:00Z\" }} ], \
             credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n\
             notify:\n  channels:\n\
             \x20   - {{ id: chat, webhook: {{ url: \"{}\", secret: \"s3cret\" }} }}\n\
             \x20   - {{ id: oncall, webhook: {{ url: \"{}\" }} }}\n\
             \x20 policies:\n    - {{ id: default, repeat: 15m, levels: [ {{ after: 0s, channels: [chat] }}, \
             {{ after: 10m, channels: [oncall] }} ] }}\n\
             alerts:\n  - {{ contract: acme, kind: down, policy: default, down_slices: 2, up_slices: 2 }}\n",
            chat.url("/chat"),
            oncall.url("/oncall"),
        ),
    )
    .unwrap();
    load_collector_config(&path).unwrap_or_else(|error| panic!("{error}"))
}

/// The notifications `receiver` got, as (state, level) pairs, once the store's delivery log holds `count`
/// deliveries in all: a delivery is logged when it is over, so nothing counted here is still on its way.
async fn notifications(store: &Store, receiver: &WebhookReceiver, count: usize) -> Vec<(String, Option<u64>)> {
    wait::until(Duration::from_secs(10), &format!("{count} logged deliveries"), async || {
        store.deliveries(None, 1_000).await.unwrap().len() >= count
    })
    .await;
    receiver
        .received()
        .iter()
        .map(|received| (payload(received)["state"].as_str().unwrap().to_owned(), payload(received)["level"].as_u64()))
        .collect()
}

/// What the store says was told of the one firing alert: the levels told and when last.
async fn told(store: &Store) -> (u32, Option<Timestamp>) {
    let firing = store.alerts(Some(AlertState::Firing), 10).await.unwrap();
    assert_eq!(firing.len(), 1, "one firing alert");
    (firing[0].levels_notified, firing[0].last_notified_at)
}

fn payload(received: &Received) -> Value {
    serde_json::from_slice(&received.body).unwrap()
}

fn pairs(list: &[(&str, Option<u64>)]) -> Vec<(String, Option<u64>)> {
    list.iter().map(|(state, level)| ((*state).to_owned(), *level)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_fire_escalate_resolve_and_hold_their_state_in_the_store() {
    let (chat, oncall) = (WebhookReceiver::start(&[]).await, WebhookReceiver::start(&[]).await);
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config(dir.path(), &chat, &oncall));
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let (publish, watched) = watch::channel(config.clone());
    let notifier = Notifier::new().unwrap();
    let mut first = Evaluator::new(store.clone(), notifier.clone(), watched.clone());
    let mut seq = 0;

    // eu and us fail from 12:05 to 12:35 (quorum 2 of 3 holds); settled slices trail by timeout 1 s + 2 s.
    let outage = |region: &str, t: Timestamp| {
        region != "ap" && at("2026-04-10T12:05:00Z") <= t && t < at("2026-04-10T12:35:00Z")
    };
    store.write_results(results("2026-04-10T12:00:00Z", "2026-04-10T12:40:00Z", &mut seq, outage)).await.unwrap();
    first.tick(at("2026-04-10T12:06:03Z")).await.unwrap();
    assert!(store.alerts(None, 10).await.unwrap().is_empty(), "one down slice is not two");
    first.tick(at("2026-04-10T12:07:02Z")).await.unwrap();
    assert!(store.alerts(None, 10).await.unwrap().is_empty(), "12:06 is not settled until 12:07:03");
    first.tick(at("2026-04-10T12:07:03Z")).await.unwrap();
    first.tick(at("2026-04-10T12:07:30Z")).await.unwrap();
    first.tick(at("2026-04-10T12:09:00Z")).await.unwrap();
    assert_eq!(told(&store).await, (1, Some(at("2026-04-10T12:07:03Z"))), "level 1 told when it fired");
    assert_eq!(notifications(&store, &chat, 1).await, pairs(&[("firing", Some(1))]), "one firing notification");
    let firing = &chat.received()[0];
    let expected = format!("sha256={}", signature("s3cret", &firing.body));
    assert_eq!(firing.header("x-slaprobe-signature"), Some(expected.as_str()));
    let body = payload(firing);
    assert_eq!((body["kind"].as_str(), body["contract"].as_str()), (Some("down"), Some("acme")));
    assert_eq!(body["started_at"], "2026-04-10T12:05:00Z", "the first down slice");
    assert_eq!(body["regions"], serde_json::json!(["eu", "us"]));
    // It names the vendor and service, says how long in time and what failed, and links the contract page.
    assert_eq!((body["vendor"].as_str(), body["service"].as_str()), (Some("Acme"), Some("API")));
    assert_eq!(body["url"], "https://slaprobe.example.com/contracts/acme");
    assert_eq!(
        body["summary"],
        "down in eu, us for 2 min (2 slice(s)) since 2026-04-10 12:05:00 UTC; latest error: connect: connection refused"
    );

    // 10 minutes unacknowledged: level 2, not a second sooner.
    first.tick(at("2026-04-10T12:17:02Z")).await.unwrap();
    assert_eq!(told(&store).await, (1, Some(at("2026-04-10T12:07:03Z"))), "level 2 waits 10 minutes");
    // A second evaluator (a restarted collector, or a replica) while level 2 is due and the first holds the
    // lease: it tells nobody, and the holder does.
    let mut second = Evaluator::new(store.clone(), notifier.clone(), watched.clone());
    second.tick(at("2026-04-10T12:17:03Z")).await.unwrap();
    assert_eq!(told(&store).await.0, 1, "only the lease holder tells");
    first.tick(at("2026-04-10T12:17:03Z")).await.unwrap();
    assert_eq!(told(&store).await, (2, Some(at("2026-04-10T12:17:03Z"))));
    assert_eq!(notifications(&store, &oncall, 2).await, pairs(&[("firing", Some(2))]));

    // The first stops; the second takes over once the lease lapses (12:17:12), and both restarted evaluators
    // race for it the moment the repeat is due: one wins, the repeat goes out once.
    drop(first);
    second.tick(at("2026-04-10T12:17:10Z")).await.unwrap();
    second.tick(at("2026-04-10T12:17:20Z")).await.unwrap();
    assert_eq!(told(&store).await, (2, Some(at("2026-04-10T12:17:03Z"))), "nothing told twice across the handover");
    drop(second);
    let mut racers = [
        Evaluator::new(store.clone(), notifier.clone(), watched.clone()),
        Evaluator::new(store.clone(), notifier.clone(), watched.clone()),
    ];
    let [one, other] = &mut racers;
    let now = at("2026-04-10T12:32:03Z");
    let (left, right) = tokio::join!(one.tick(now), other.tick(now));
    left.unwrap();
    right.unwrap();
    let mut second = racers.into_iter().next().unwrap();
    // Still unacknowledged 15 minutes after the last notification: both levels told hear it again, once.
    assert_eq!(told(&store).await, (2, Some(now)), "repeated");
    assert_eq!(notifications(&store, &chat, 4).await, pairs(&[("firing", Some(1)), ("firing", Some(2))]));
    assert_eq!(oncall.received().len(), 2, "repeated once to level 2");

    // Recovery at 12:35: two up slices settle at 12:37:03; both levels hear it once.
    second.tick(at("2026-04-10T12:36:03Z")).await.unwrap();
    assert_eq!(store.alerts(Some(AlertState::Firing), 10).await.unwrap().len(), 1, "one up slice does not resolve");
    second.tick(at("2026-04-10T12:37:03Z")).await.unwrap();
    second.tick(at("2026-04-10T12:38:00Z")).await.unwrap();
    assert_eq!(notifications(&store, &chat, 6).await[2], ("resolved".to_owned(), None));
    assert_eq!(oncall.received().len(), 3);
    assert_eq!(payload(&oncall.received()[2])["state"], "resolved");
    let resolved = store.alerts(None, 10).await.unwrap();
    assert_eq!(resolved.len(), 1);
    assert_eq!((resolved[0].state, resolved[0].resolved_by.as_deref()), (AlertState::Resolved, Some("condition")));
    assert_eq!(resolved[0].levels_notified, 2);

    // 1 of 3 regions failing under quorum 2 notifies nobody.
    let one_region = |region: &str, t: Timestamp| region == "eu" && t >= at("2026-04-10T12:40:00Z");
    store.write_results(results("2026-04-10T12:40:00Z", "2026-04-10T12:55:00Z", &mut seq, one_region)).await.unwrap();
    for minute in 41..55 {
        second.tick(at(&format!("2026-04-10T12:{minute}:05Z"))).await.unwrap();
    }
    assert_eq!(store.alerts(None, 10).await.unwrap().len(), 1, "no new alert");

    // Acknowledged: no level 2, no repeat. Resolved by hand: held back while the condition lasts, then re-armed.
    let again = |region: &str, t: Timestamp| region != "ap" && t < at("2026-04-10T13:30:00Z");
    store.write_results(results("2026-04-10T13:00:00Z", "2026-04-10T13:45:00Z", &mut seq, again)).await.unwrap();
    second.tick(at("2026-04-10T13:02:03Z")).await.unwrap();
    let alert = store.alerts(Some(AlertState::Firing), 10).await.unwrap().remove(0);
    let acknowledge = AlertChange {
        id: alert.id.clone(),
        action: AlertAction::Acknowledge,
        by: "alice".to_owned(),
        at: at("2026-04-10T13:03:00Z"),
    };
    assert!(store.change_alert(acknowledge.clone()).await.unwrap());
    assert!(!store.change_alert(acknowledge).await.unwrap(), "acknowledging twice changes nothing");
    second.tick(at("2026-04-10T13:13:00Z")).await.unwrap();
    second.tick(at("2026-04-10T13:20:00Z")).await.unwrap();
    assert_eq!(told(&store).await, (1, Some(at("2026-04-10T13:02:03Z"))), "no level 2, no repeat once acknowledged");
    assert_eq!(notifications(&store, &chat, 7).await.len(), 4, "the firing only");
    let resolve = AlertChange {
        id: alert.id.clone(),
        action: AlertAction::Resolve,
        by: "alice".to_owned(),
        at: at("2026-04-10T13:21:00Z"),
    };
    assert!(store.change_alert(resolve).await.unwrap());
    let resolved_by_hand = store.alert(&alert.id).await.unwrap().unwrap();
    announce_resolved(&store, &notifier, &config, &resolved_by_hand).await;
    let chat_says = notifications(&store, &chat, 8).await;
    assert_eq!(chat_says.last().unwrap().0, "resolved");
    let summary = payload(&chat.received()[4])["summary"].as_str().unwrap().to_owned();
    assert!(summary.starts_with("resolved by alice after 21 min: down in eu, us for "), "{summary}");
    second.tick(at("2026-04-10T13:22:00Z")).await.unwrap();
    assert_eq!(store.alerts(None, 10).await.unwrap().len(), 2, "held back: the condition never cleared");
    second.tick(at("2026-04-10T13:35:00Z")).await.unwrap();
    assert!(store.alert(&alert.id).await.unwrap().unwrap().rearmed, "re-armed once the condition cleared");

    // In the maintenance window (14:00-15:00) nothing fires: its slices are excluded.
    let in_window = |region: &str, t: Timestamp| region != "ap" && t >= at("2026-04-10T14:10:00Z");
    store.write_results(results("2026-04-10T14:10:00Z", "2026-04-10T15:05:00Z", &mut seq, in_window)).await.unwrap();
    for minute in [12, 20, 40, 59] {
        second.tick(at(&format!("2026-04-10T14:{minute}:05Z"))).await.unwrap();
    }
    assert_eq!(store.alerts(None, 10).await.unwrap().len(), 2, "quiet in maintenance");
    second.tick(at("2026-04-10T15:02:03Z")).await.unwrap();
    let firing = store.alerts(Some(AlertState::Firing), 10).await.unwrap();
    assert_eq!(firing.len(), 1, "fires once the window ends and the outage goes on");
    assert_eq!(firing[0].started_at, at("2026-04-10T15:00:00Z"));
    assert_eq!(told(&store).await, (1, Some(at("2026-04-10T15:02:03Z"))), "level 2 not yet");
    assert_eq!(notifications(&store, &chat, 9).await.len(), 6);

    // A rule removed from the configuration closes its open alert without telling anyone.
    let mut without_rules = (*config).clone();
    without_rules.alerts.clear();
    publish.send(Arc::new(without_rules)).unwrap();
    second.tick(at("2026-04-10T15:03:00Z")).await.unwrap();
    let closed = store.alert(&firing[0].id).await.unwrap().unwrap();
    assert_eq!(closed.resolved_by.as_deref(), Some("rule removed from the configuration"));
    assert_eq!(notifications(&store, &chat, 9).await.len(), 6, "nobody told");

    assert_eq!(store.deliveries(None, 1_000).await.unwrap().len(), 9, "nothing sent twice, nothing more");
    assert_eq!((chat.received().len(), oncall.received().len()), (6, 3));

    // The delivery log has each notification with its alert.
    let logged = store.deliveries(Some(&alert.id), 100).await.unwrap();
    assert_eq!(
        logged.iter().map(|delivery| (delivery.channel.as_str(), delivery.state.as_str())).collect::<Vec<_>>(),
        [("chat", "resolved"), ("chat", "firing")]
    );
}
