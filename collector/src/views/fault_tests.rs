//! Rule 11 judged as the ledger is kept (`crate::ledger::faults`) and applied by every read, on both engines:
//! an agent that saw three vendors fail while another region saw them up is found span by span, its time is set
//! aside in every contract's report (read through the ledger or raw), a result that arrives late for a judged
//! span has the span judged again, and the collector does not judge back before it first saw the rule.

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;

use super::store_reports;
use crate::config::{CollectorConfig, load_collector_config};
use crate::ledger::upkeep::run_once;
use crate::store::test_engines::engines;
use crate::store::{IngestBatch, ResultFlags, Store};

const CHECKS: [&str; 3] = ["acme-api", "bolt-api", "crux-api"];
const AGENTS: [(&str, &str); 2] = [("eu-1", "eu"), ("us-1", "us")];

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Three vendors' contracts, one check each, probed from eu and us.
fn config(dir: &std::path::Path) -> CollectorConfig {
    let mut yaml = "listen: { grpc: 127.0.0.1:7070 }\nstorage: { sqlite: x.db }\nchecks:\n".to_owned();
    for check in CHECKS {
        yaml.push_str(&format!(
            "  - {{ id: {check}, kind: http, target: \"http://127.0.0.1:9/\", interval: 30s, timeout: 5s }}\n"
        ));
    }
    yaml.push_str("contracts:\n");
    for (check, vendor) in CHECKS.iter().zip(["Acme", "Bolt", "Crux"]) {
        yaml.push_str(&format!(
            "  - {{ id: {check}, vendor: {vendor}, service: API, checks: [{check}], objective: 99.9, \
             credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n"
        ));
    }
    std::fs::write(dir.join("collector.yaml"), yaml).unwrap();
    load_collector_config(&dir.join("collector.yaml")).unwrap_or_else(|error| panic!("{error}"))
}

/// Every check from both agents every 30 s in `[from, to)`, numbered from `first_seq`; eu's fail where
/// `eu_down(t)`.
fn results(from: &str, to: &str, first_seq: u64, eu_down: impl Fn(Timestamp) -> bool) -> Vec<ResultRecord> {
    let mut results = Vec::new();
    let mut t = at(from);
    let mut seq = first_seq;
    while t < at(to) {
        for check in CHECKS {
            for (agent, region) in AGENTS {
                let ok = !(region == "eu" && eu_down(t));
                results.push(result(check, agent, region, t, ok, seq));
            }
            seq += 1;
        }
        t += SignedDuration::from_secs(30);
    }
    results
}

fn result(check: &str, agent: &str, region: &str, started_at: Timestamp, ok: bool, seq: u64) -> ResultRecord {
    let line = format!(
        r#"{{"check_id":"{check}","region":"{region}","agent_id":"{agent}","seq":{seq},"started_at":"{started_at}",
            "duration_ms":20.0,"ok":{ok}{}}}"#,
        if ok { "" } else { r#","error_kind":"connect","error":"connect: no route to host""# }
    );
    serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line}"))
}

async fn send(store: &Store, results: &[ResultRecord], received_at: Timestamp) {
    for (agent, _) in AGENTS {
        let batch = (results.iter())
            .filter(|result| result.agent_id.as_deref() == Some(agent))
            .map(|result| (result.clone(), ResultFlags::NONE))
            .collect();
        store.write_ingested(IngestBatch::of_results(agent, received_at, batch)).await.unwrap();
    }
}

/// The starts of the stored faults of April 10th, noon to 13:00, all of them eu-1's seen against three vendors.
async fn fault_minutes(store: &Store) -> Vec<String> {
    let faults = store.agent_faults_between(at("2026-04-10T12:00:00Z"), at("2026-04-10T13:00:00Z")).await.unwrap();
    assert!(faults.iter().all(|fault| fault.agent_id == "eu-1" && fault.vendors == ["Acme", "Bolt", "Crux"]));
    faults.iter().map(|fault| fault.start.strftime("%H:%M").to_string()).collect()
}

/// Down and inconclusive minutes of each contract's April as reported from the store at `now`.
async fn reported(config: &CollectorConfig, store: &Store, now: Timestamp) -> Vec<(u64, u64)> {
    let reports = store_reports(config, store, "2026-04", None, now).await.unwrap();
    (reports.iter())
        .map(|(_, report)| {
            let eu = report.coverage.regions.iter().find(|region| region.region == "eu").unwrap();
            (report.down_slices, eu.inconclusive_slices)
        })
        .collect()
}

#[tokio::test]
async fn an_agent_failing_every_vendor_alone_is_set_aside_and_judged_again_when_results_come_late() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let down = |t: Timestamp| at("2026-04-10T12:10:00Z") <= t && t < at("2026-04-10T12:20:00Z");
    for engine in engines().await {
        let store = &engine.store;
        // Results from before the collector first saw the rule are not judged: it starts at 11:59.
        send(store, &results("2026-04-10T11:50:00Z", "2026-04-10T11:55:00Z", 1, |_| true), at("2026-04-10T11:55:01Z"))
            .await;
        run_once(store, &config, "test", at("2026-04-10T12:00:00Z")).await.unwrap();
        send(store, &results("2026-04-10T12:00:00Z", "2026-04-10T12:30:00Z", 100, down), at("2026-04-10T12:30:00Z"))
            .await;
        run_once(store, &config, "test", at("2026-04-10T12:31:00Z")).await.unwrap();
        let minutes: Vec<String> = (10..20).map(|minute| format!("12:{minute}")).collect();
        assert_eq!(fault_minutes(store).await, minutes, "{}", engine.name);
        let before = store.agent_faults_between(at("2026-04-10T11:00:00Z"), at("2026-04-10T12:00:00Z")).await;
        assert_eq!(before.unwrap(), [], "{}: not judged back through history", engine.name);
        // eu saw every vendor down before the rule was judged, and so for those five minutes it is down.
        let now = at("2026-04-10T12:35:00Z");
        assert_eq!(reported(&config, store, now).await, [(5, 10); 3], "{}", engine.name);

        // A passing result of eu's from 12:15 arrives late: that minute is judged again, and it is down again.
        let late = result("acme-api", "eu-1", "eu", at("2026-04-10T12:15:40Z"), true, 100_000);
        send(store, &[late], at("2026-04-10T12:40:00Z")).await;
        run_once(store, &config, "test", at("2026-04-10T12:40:00Z")).await.unwrap();
        let without: Vec<String> = minutes.iter().filter(|minute| *minute != "12:15").cloned().collect();
        assert_eq!(fault_minutes(store).await, without, "{}", engine.name);
        // eu's agent could reach Acme that minute, so its failures count: every vendor's half of the minute's
        // results failed from there (`failed_ratio: 0.5`), and the minute is down for all three.
        let now = at("2026-04-10T12:45:00Z");
        assert_eq!(reported(&config, store, now).await, [(6, 9); 3], "{}", engine.name);
        for _ in 0..3 {
            run_once(store, &config, "test", now).await.unwrap();
        }
        assert_eq!(reported(&config, store, now).await, [(6, 9); 3], "{}: through the ledger", engine.name);

        // The clock is set back half an hour: nothing new is judged, nothing judged is lost.
        run_once(store, &config, "test", at("2026-04-10T12:15:00Z")).await.unwrap();
        assert_eq!(fault_minutes(store).await, without, "{}", engine.name);
    }
}
