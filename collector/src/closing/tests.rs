use jiff::SignedDuration;
use sha2::{Digest, Sha256};
use slaprobe_proto::ResultRecord;

use super::*;
use crate::claims::{ClaimAction, ClaimState, apply};
use crate::config::load_collector_config;
use crate::store::test_engines::engines;

/// A collector configuration with one monthly contract on check `api` (fee 2000 USD, tiers 10/25/100 %).
fn config(dir: &std::path::Path) -> CollectorConfig {
    let yaml = "listen: { grpc: 127.0.0.1:7070 }\nstorage: { sqlite: x.db }\n\
        checks:\n  - { id: api, kind: http, target: \"http://127.0.0.1:9/\", interval: 60s, timeout: 5s }\n\
        contracts:\n  - { id: acme-api, vendor: Acme Cloud, service: API, checks: [api], objective: 99.9, \
        claim_window: 60d, credits: { fee: 2000, currency: USD, \
        tiers: [ { below: 99.9, credit: 10 }, { below: 99.0, credit: 25 }, { below: 95.0, credit: 100 } ] } }\n";
    std::fs::write(dir.join("collector.yaml"), yaml).unwrap();
    load_collector_config(&dir.join("collector.yaml")).unwrap_or_else(|error| panic!("{error}"))
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// One result a minute from `agent` between `from` and `to`, failed inside `[down_from, down_to)`.
fn minutely(agent: &str, from: &str, to: &str, down: (Timestamp, Timestamp)) -> Vec<ResultRecord> {
    let (mut minute, end) = (at(from), at(to));
    let mut results = Vec::new();
    while minute < end {
        let failed = minute >= down.0 && minute < down.1;
        results.push(ResultRecord {
            check_id: "api".to_owned(),
            region: "eu".to_owned(),
            agent_id: Some(agent.to_owned()),
            seq: Some(results.len() as u64 + 1),
            scheduled_at: None,
            started_at: minute + SignedDuration::from_secs(5),
            duration_ms: Some(20.0),
            ok: !failed,
            error_kind: failed.then(|| "connect".to_owned()),
            error: failed.then(|| "connection refused".to_owned()),
            phases_ms: Default::default(),
            http: None,
            dns: None,
            tcp: None,
            tls: None,
            grpc: None,
            icmp: None,
            confirmation: false,
            control: false,
        });
        minute += SignedDuration::from_mins(1);
    }
    results
}

#[tokio::test]
async fn a_settled_period_is_frozen_once_revised_when_its_figures_move_and_its_claim_follows() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let now = at("2026-11-30T12:00:00Z");
    for engine in engines().await {
        let store = &engine.store;
        let outage = (at("2026-10-25T10:00:00Z"), at("2026-10-25T11:40:00Z"));
        store
            .write_results(minutely("agent-eu-1", "2026-10-20T00:00:00Z", "2026-11-30T11:00:00Z", outage))
            .await
            .unwrap();

        let closed = close_due(&config, store, None, now).await.unwrap();
        assert_eq!(
            closed.len(),
            1,
            "{}: October only: November has not ended, September was not monitored",
            engine.name
        );
        let first = &closed[0];
        assert_eq!(
            (&first.outcome, first.revision.period.as_str(), first.revision.revision),
            (&Outcome::Closed, "2026-10", 1)
        );
        assert_eq!(
            first.revision.credit_amount.to_string(),
            "200.00",
            "{}: 100 of 17,280 minutes down: 10 %",
            engine.name
        );
        for artifact in &first.revision.artifacts {
            let content = store.artifact("acme-api", "2026-10", 1, &artifact.name).await.unwrap().expect("stored");
            assert_eq!(
                (hex(&Sha256::digest(&content)), content.len() as u64),
                (artifact.sha256.clone(), artifact.bytes)
            );
        }
        let json = store.artifact("acme-api", "2026-10", 1, "report.json").await.unwrap().unwrap();
        let report: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!((report["down_slices"].as_u64(), report["period_status"].as_str()), (Some(100), Some("complete")));
        let claims = store.claims().await.unwrap();
        assert_eq!(claims.len(), 1);
        assert_eq!(
            (claims[0].state, claims[0].owed.to_string().as_str(), claims[0].revision),
            (ClaimState::Owed, "200.00", 1)
        );

        let again = close_due(&config, store, None, now + SignedDuration::from_mins(5)).await.unwrap();
        assert_eq!(again[0].outcome, Outcome::Unchanged, "{}", engine.name);
        assert_eq!(store.closed_periods(None).await.unwrap().len(), 1);

        // A second agent in the region reports 200 more failed minutes: half the results fail there, which is
        // down at failed_ratio 0.5: 300 minutes down, below 99.0 %: 25 %.
        let more = (at("2026-10-27T00:00:00Z"), at("2026-10-27T03:20:00Z"));
        store
            .write_results(minutely("agent-eu-2", "2026-10-27T00:00:00Z", "2026-10-27T03:20:00Z", more))
            .await
            .unwrap();
        let revised = close_due(&config, store, None, now + SignedDuration::from_mins(10)).await.unwrap();
        let second = &revised[0];
        assert_eq!((&second.outcome, second.revision.revision), (&Outcome::Revised, 2), "{}", engine.name);
        assert!(
            second.revision.changes.contains(&"down_slices: 100 → 300".to_owned()),
            "{:?}",
            second.revision.changes
        );
        assert!(second.revision.reason.starts_with("the stored results changed"), "{}", second.revision.reason);
        assert_eq!(second.revision.credit_amount.to_string(), "500.00");
        let stored = store.closed_periods(Some("acme-api")).await.unwrap();
        assert_eq!(stored.iter().map(|revision| revision.revision).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(
            store.artifact("acme-api", "2026-10", 1, "report.json").await.unwrap().unwrap(),
            json,
            "revision 1 stays"
        );

        let claim = store.claims().await.unwrap().remove(0);
        assert_eq!((claim.owed.to_string().as_str(), claim.revision, claim.version), ("500.00", 2, 2));
        let submit = ClaimAction::Submit { on: "2026-11-30".parse().unwrap(), reference: "CASE-1".into() };
        let (submitted, event) = apply(&claim, &submit, "finance", now).unwrap();
        assert!(store.write_claim(ClaimWrite { claim: submitted.clone(), event: event.clone() }).await.unwrap());
        assert!(
            !store.write_claim(ClaimWrite { claim: submitted, event }).await.unwrap(),
            "{}: a change made from a version that is gone is refused",
            engine.name
        );
        let events = store.claim_events("acme-api", "2026-10").await.unwrap();
        let actions: Vec<(&str, &str)> =
            events.iter().map(|event| (event.action.as_str(), event.actor.as_str())).collect();
        assert_eq!(actions, [("open", "slaprobe"), ("revise", "slaprobe"), ("submit", "finance")], "{}", engine.name);

        let early = close_period(&config, store, "2026-11", None, now).await.unwrap_err().to_string();
        assert!(early.contains("period 2026-11 has not closed yet: it ends at 2026-12-01T00:00:00Z"), "{early}");
        let asked = close_period(&config, store, "2026-10", Some("acme-api"), now + SignedDuration::from_mins(15))
            .await
            .unwrap();
        assert_eq!(asked[0].outcome, Outcome::Unchanged);
    }
}

#[tokio::test]
async fn the_close_lease_lets_one_collector_of_several_close() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let notifier = crate::notify::Notifier::new().unwrap();
    let now = at("2026-11-30T12:00:00Z");
    for engine in engines().await {
        let store = &engine.store;
        store
            .write_results(minutely("agent-eu-1", "2026-10-30T00:00:00Z", "2026-11-01T00:00:00Z", (now, now)))
            .await
            .unwrap();
        let first = close_under_lease(store, &notifier, &config, "collector-a", now).await.unwrap();
        assert_eq!(first.map(|closed| closed.len()), Some(1), "{}", engine.name);
        assert!(
            close_under_lease(store, &notifier, &config, "collector-b", now).await.unwrap().is_none(),
            "{}",
            engine.name
        );
        store.release_lease("close", "collector-a").await;
        let taken = close_under_lease(store, &notifier, &config, "collector-b", now)
            .await
            .unwrap()
            .expect("the lease was given up");
        assert_eq!(taken[0].outcome, Outcome::Unchanged);
        assert!(store.claims().await.unwrap().is_empty(), "{}: a met objective owes nothing", engine.name);
    }
}

#[tokio::test]
async fn a_delivery_is_taken_once_retried_after_a_failure_and_taken_over_from_a_stopped_collector() {
    use crate::store::periods::{DELIVERY_STALE, DELIVERY_TRIES, DeliveryKey};
    let now = at("2026-11-30T12:00:00Z");
    let key = |channel: &str| DeliveryKey {
        contract: "acme-api".into(),
        period: "2026-10".into(),
        revision: 1,
        channel: channel.into(),
        kind: "report",
    };
    for engine in engines().await {
        let store = &engine.store;
        let mail = key("mail");
        assert!(store.take_delivery(&mail, now).await.unwrap(), "{}", engine.name);
        assert!(!store.take_delivery(&mail, now).await.unwrap(), "{}: taken: nobody else sends it", engine.name);
        store.finish_delivery(&mail, false, now).await.unwrap();
        for _ in 1..DELIVERY_TRIES {
            assert!(store.take_delivery(&mail, now).await.unwrap(), "{}: a failure is tried again", engine.name);
            store.finish_delivery(&mail, false, now).await.unwrap();
        }
        assert!(!store.take_delivery(&mail, now).await.unwrap(), "{}: it has failed for good", engine.name);

        let hook = key("hook");
        assert!(store.take_delivery(&hook, now).await.unwrap());
        store.finish_delivery(&hook, true, now).await.unwrap();
        assert!(!store.take_delivery(&hook, now + DELIVERY_STALE * 2).await.unwrap(), "{}: sent is sent", engine.name);

        let chat = key("chat");
        assert!(store.take_delivery(&chat, now).await.unwrap());
        let later = now + DELIVERY_STALE + SignedDuration::from_secs(1);
        assert!(store.take_delivery(&chat, later).await.unwrap(), "{}: its collector stopped mid-send", engine.name);
    }
}
