//! A channel that cannot be reached raises its own alert: the real evaluator over a real SQLite store fires a
//! `down` alert whose first level names a Teams workflow on a closed port and a webhook; once the Teams channel
//! has failed all its attempts, the policy's other channels (the webhook of level 1, and the Discord webhook of
//! level 2, not yet due) each get a `channel_failed` notification naming the channel, the alert and the error,
//! and the delivery log holds all of it. The channel-failed notification raises none in turn.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use slaprobe_collector::alerting::evaluator::Evaluator;
use slaprobe_collector::config::load_collector_config;
use slaprobe_collector::notify::Notifier;
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::ports::closed_port;
use slaprobe_tests::wait;
use slaprobe_tests::webhook_receiver::WebhookReceiver;
use tokio::sync::watch;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// One failed result a minute from `eu` and `us` from 12:00 to 12:10.
fn failures() -> Vec<ResultRecord> {
    let mut results = Vec::new();
    for minute in 0..10 {
        for (index, region) in ["eu", "us"].into_iter().enumerate() {
            let started = at("2026-04-10T12:00:10Z") + SignedDuration::from_mins(minute);
            results.push(
                serde_json::from_value(serde_json::json!({
                    "check_id": "api", "region": region, "agent_id": format!("agent-{region}"),
                    "seq": minute * 2 + index as i64 + 1, "started_at": started.to_string(), "ok": false,
                    "duration_ms": 3.0, "error_kind": "connect", "error": "connect: connection refused",
                }))
                .unwrap(),
            );
        }
    }
    results
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_channel_is_reported_to_the_policys_other_channels() {
    let (hook, discord) = (WebhookReceiver::start(&[]).await, WebhookReceiver::start(&[]).await);
    let dead = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: {{ grpc: \"127.0.0.1:1\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             checks:\n  - {{ id: api, kind: http, target: \"http://127.0.0.1:9/\", interval: 1m, timeout: 1s }}\n\
             contracts:\n  - {{ id: acme, vendor: Acme, service: API, checks: [api], objective: 99.9, slice: 1m, \
             min_regions_down: 2, credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n\
             notify:\n  channels:\n\
             \x20   - {{ id: teams, teams: {{ url: \"http://{dead}/workflows/1?sig=S1G\" }} }}\n\
             \x20   - {{ id: hook, webhook: {{ url: \"{}\" }} }}\n\
             \x20   - {{ id: discord, discord: {{ url: \"{}\" }} }}\n\
             \x20 policies:\n    - {{ id: default, levels: [ {{ after: 0s, channels: [teams, hook] }}, \
             {{ after: 30m, channels: [discord] }} ] }}\n\
             alerts:\n  - {{ contract: acme, kind: down, policy: default, down_slices: 2, up_slices: 2 }}\n",
            hook.url("/hook"),
            discord.url("/api/webhooks/1/T0KEN"),
        ),
    )
    .unwrap();
    let config = Arc::new(load_collector_config(&path).unwrap_or_else(|error| panic!("{error}")));
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let (_publish, watched) = watch::channel(config);
    let mut evaluator = Evaluator::new(store.clone(), Notifier::new().unwrap(), watched);
    store.write_results(failures()).await.unwrap();
    evaluator.tick(at("2026-04-10T12:05:00Z")).await.unwrap();

    // teams (3 attempts), hook (firing), then hook and discord (channel_failed): four deliveries.
    wait::until(Duration::from_secs(20), "four logged deliveries", async || {
        store.deliveries(None, 100).await.unwrap().len() >= 4
    })
    .await;
    let alert = store.alerts(None, 10).await.unwrap().pop().expect("the alert fired");
    let log: Vec<(String, String, bool, usize)> = store
        .deliveries(None, 100)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|delivery| (delivery.channel, delivery.kind, delivery.delivered, delivery.attempts.len()))
        .collect();
    let firing_first: Vec<_> = log.iter().take(2).cloned().collect();
    assert!(
        firing_first.contains(&("teams".to_owned(), "down".to_owned(), false, 3))
            && firing_first.contains(&("hook".to_owned(), "down".to_owned(), true, 1)),
        "{log:?}"
    );
    let mut told: Vec<_> = log[2..].to_vec();
    told.sort();
    assert_eq!(
        told,
        [
            ("discord".to_owned(), "channel_failed".to_owned(), true, 1),
            ("hook".to_owned(), "channel_failed".to_owned(), true, 1)
        ]
    );

    let received = hook.received();
    assert_eq!(received.len(), 2, "the firing notification, then the channel's failure");
    let failed: Value = serde_json::from_slice(&received[1].body).unwrap();
    assert_eq!(
        (&failed["state"], &failed["kind"], &failed["contract"]),
        (&"firing".into(), &"channel_failed".into(), &"acme".into())
    );
    assert_eq!(failed["alert_id"], format!("{}.channel_failed.teams", alert.id));
    let summary = failed["summary"].as_str().unwrap();
    let expected = format!(
        "channel teams could not deliver the firing notification of alert {} after 3 attempt(s): connect:",
        alert.id
    );
    assert!(summary.starts_with(&expected) && summary.contains("refused"), "{summary}");
    assert!(!summary.contains("S1G") && !summary.contains(&dead.to_string()), "no URL in {summary}");
    let chat: Value = serde_json::from_slice(&discord.received()[0].body).unwrap();
    let content = chat["content"].as_str().unwrap();
    assert!(content.starts_with("[FIRING] channel_failed acme (Acme, API): channel teams could not"), "{content}");

    // Nothing more is sent: the failure notice raises none of its own.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(store.deliveries(None, 100).await.unwrap().len(), 4);
}
