//! Rule 11 end to end, with real processes on loopback: a collector and three agents in three regions, each
//! sending its probes from its own loopback address (`source_ip` 127.0.0.2-4), and three vendors' targets, each
//! under its own contract that counts one region down as down (`min_regions_down: 1`). No agent has control
//! checks: only the rule can tell eu's own failure from the vendors'.
//!
//! eu's route out fails (every vendor fails from eu only, as a dead uplink looks) for three spans: the alert on
//! Acme's contract does not fire (the evaluator judges the spans that have ended at once), the spans are then
//! judged for good and every contract's report counts eu as no data there (zero down slices, eu's inconclusive
//! time), and the agents API shows eu's three spans; the period's evidence bundle carries the judgement
//! (`faults.jsonl`) and verifies, and with part of that judgement taken out and the manifest resealed it no
//! longer does.
//!
//! The fault starts 800 ms before a span boundary and ends 800 ms after one (probes run every second), so that
//! the spans it begins and ends in are up in the engine's eyes and those wholly inside it hold only failures.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use slaprobe_tests::bundles::{tampered_copy, verify};
use slaprobe_tests::collector::{run_collector, start_collector};
use slaprobe_tests::http_client::send;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::regions::{self, agents_yaml, start_agents};
use slaprobe_tests::wait;
use slaprobe_tests::webhook_receiver::WebhookReceiver;

const REGIONS: [(&str, &str); 3] = [("ap", "127.0.0.2"), ("eu", "127.0.0.3"), ("us", "127.0.0.4")];
const VENDORS: [(&str, &str); 3] = [("acme", "Acme"), ("bolt", "Bolt"), ("crux", "Crux")];
/// The span rule 11 judges, and the contracts' slice: short, so that the fault lasts a few of them.
const SPAN_SECONDS: i64 = 5;
/// Spans are judged for good this long after they end (`JUDGE_AFTER`, 45 s), plus an upkeep run or two.
const JUDGED: Duration = Duration::from_secs(45 + 12);
const PATIENCE: Duration = Duration::from_secs(30);

fn source(region: &str) -> IpAddr {
    regions::source(&REGIONS, region)
}

async fn json(http: SocketAddr, path: &str) -> Value {
    let response = send(http, "GET", path, &[], "").await;
    assert_eq!(response.status, 200, "{path}: {}", response.body);
    serde_json::from_str(&response.body).unwrap_or_else(|error| panic!("{path}: {error}: {}", response.body))
}

/// Sleeps until `offset_ms` past the next span boundary (negative: before it).
async fn near_a_boundary(offset_ms: i64) {
    let span = SPAN_SECONDS * 1000;
    let now = jiff::Timestamp::now().as_millisecond();
    let mut next = now - now.rem_euclid(span) + span + offset_ms;
    if next <= now + 100 {
        next += span;
    }
    tokio::time::sleep(Duration::from_millis(u64::try_from(next - now).unwrap())).await;
}

/// Down slices and eu's inconclusive slices in this month's report of `contract`.
async fn reported(http: SocketAddr, contract: &str) -> (u64, u64, Value) {
    let period = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let report = json(http, &format!("/api/v1/contracts/{contract}/report?period={period}")).await;
    let regions = report["coverage"]["regions"].as_array().unwrap();
    let eu = regions.iter().find(|region| region["region"] == "eu").unwrap()["inconclusive_slices"].as_u64().unwrap();
    (report["down_slices"].as_u64().unwrap(), eu, report)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_vendor_failing_from_one_region_only_is_that_regions_fault() {
    let vendors = [HttpServer::start().await, HttpServer::start().await, HttpServer::start().await];
    let chat = WebhookReceiver::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let mut checks = String::new();
    let mut contracts = String::new();
    for ((id, vendor), server) in VENDORS.iter().zip(&vendors) {
        let target = server.url("/");
        checks += &format!("  - {{ id: {id}-api, kind: http, target: \"{target}\", interval: 1s, timeout: 500ms }}\n");
        contracts += &format!(
            "  - {{ id: {id}, vendor: {vendor}, service: API, checks: [{id}-api], objective: 99.9, \
             slice: {SPAN_SECONDS}s, min_regions_down: 1, credits: {{ fee: 100, currency: USD, \
             tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n"
        );
    }
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\nagents:\n{}\
             agent_faults: {{ vendors: 3, span: {SPAN_SECONDS}s }}\nchecks:\n{checks}contracts:\n{contracts}\
             notify:\n  channels:\n    - {{ id: chat, webhook: {{ url: \"{}\" }} }}\n\
             \x20 policies:\n    - {{ id: default, levels: [ {{ after: 0s, channels: [chat] }} ] }}\n\
             alerts:\n  - {{ contract: acme, kind: down, policy: default, down_slices: 1, up_slices: 1 }}\n",
            agents_yaml(&REGIONS),
            chat.url("/chat"),
        ),
    )
    .unwrap();
    let collector = tokio::task::block_in_place(|| start_collector(&config));
    let agents = start_agents(&REGIONS, grpc, "checkpoint_every: 0s\n");
    wait::until(PATIENCE, "every region to report every vendor", async || {
        let agents = json(http, "/api/v1/agents").await;
        agents["agents"].as_array().is_some_and(|agents| agents.len() == 3)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    near_a_boundary(-800).await;
    for vendor in &vendors {
        vendor.fail_from(&[source("eu")], 503);
    }
    tokio::time::sleep(Duration::from_millis(800 + 3 * 5_000)).await;
    for vendor in &vendors {
        vendor.recover();
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(chat.received().is_empty(), "eu's own failure paged someone: {:?}", chat.received());
    println!("no page while every vendor failed from eu only");

    wait::until(JUDGED + PATIENCE, "eu's spans to be judged for good", async || reported(http, "acme").await.1 >= 3)
        .await;
    for (id, _) in VENDORS {
        let (down, inconclusive, report) = reported(http, id).await;
        assert_eq!(down, 0, "{id}: {report}");
        assert_eq!(inconclusive, 3, "{id}: eu inconclusive for the three spans the fault spanned: {report}");
    }
    println!("eu inconclusive for 3 spans of {SPAN_SECONDS} s in every contract; down slices 0");
    let listed = json(http, "/api/v1/agents").await;
    let own = |agent: &str| {
        let views = listed["agents"].as_array().unwrap();
        views.iter().find(|view| view["agent_id"] == agent).unwrap()["own_faults"].clone()
    };
    assert_eq!(own("agent-eu")["spans"], 3, "{listed}");
    assert_eq!(own("agent-eu")["latest"]["vendors"], serde_json::json!(["Acme", "Bolt", "Crux"]), "{listed}");
    assert_eq!((own("agent-us"), own("agent-ap")), (Value::Null, Value::Null), "{listed}");

    for agent in agents {
        agent.signal(Signal::SIGTERM);
        let _ = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(10)));
    }
    drop(collector);
    let period = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let bundle = dir.path().join("bundle");
    let (config_arg, bundle_arg) = (config.to_str().unwrap(), bundle.to_str().unwrap());
    let args = ["evidence", "--config", config_arg, "--contract", "acme", "--period", &period, "--out", bundle_arg];
    tokio::task::block_in_place(|| run_collector(&args));
    let faults = std::fs::read_to_string(bundle.join("faults.jsonl")).unwrap();
    assert_eq!(faults.lines().count(), 3, "{faults}");
    assert!(faults.lines().all(|line| line.contains(r#""agent_id":"agent-eu""#)), "{faults}");
    // How many vendors, not which: Acme's bundle does not tell Acme whom else the customer monitors.
    assert!(faults.lines().all(|line| line.contains(r#""vendors":3"#)) && !faults.contains("Bolt"), "{faults}");
    let (code, said) = verify(&bundle);
    assert_eq!((code, said.contains("report reproduced from these results")), (Some(0), true), "{said}");
    let one_less = tampered_copy(&bundle, "one-fault-less", "faults.jsonl", |lines| lines.truncate(2));
    let (code, said) = verify(&one_less);
    assert_ne!(code, Some(0), "a bundle with a fault taken out verified: {said}");
    assert!(said.contains("inconclusive"), "{said}");
    let refusal = said.lines().find(|line| line.contains("inconclusive")).unwrap_or_default();
    println!("bundle verifies with faults.jsonl; with one fault taken out (resealed): {refusal}");
}
