//! Control probes end to end (rule 10), with real processes on loopback: a collector and three agents in three
//! regions, each sending its probes from its own loopback address (`source_ip` 127.0.0.2-4), so that both the
//! vendor's target and the control target can fail from one region only. The contract counts one region down
//! as down (`min_regions_down: 1`), the setting in which one sick region costs the most.
//!
//! - eu-west's own network fails (its control fails, then the vendor fails from there too): eu counts as no
//!   data, not a single down slice, no alert; the agents API shows eu's controls failing meanwhile, and the claim
//!   report (JSON and HTML) names eu's inconclusive time;
//! - controls pass and the vendor is down from two regions: downtime and the alert, as before; the incident says
//!   how each region was measuring by what its agent reported of itself (us and ap normally throughout);
//! - the period's evidence bundle, with every agent's control probes in it, verifies: `slaprobe-verify` makes
//!   the same report, eu's inconclusive time included, from the bundle alone.
//!
//! Faults start and end just after a slice boundary, the control's a slice before the vendor's (and ends a slice
//! after), as a real uplink failure does: each slice the vendor fails in then holds failing control probes.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use slaprobe_tests::bundles::verify;
use slaprobe_tests::collector::{run_collector, start_collector};
use slaprobe_tests::http_client::send;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::regions::{self, agents_yaml, start_agents};
use slaprobe_tests::wait;
use slaprobe_tests::webhook_receiver::WebhookReceiver;

const REGIONS: [(&str, &str); 3] = [("ap", "127.0.0.2"), ("eu", "127.0.0.3"), ("us", "127.0.0.4")];
/// The contract's slice: short, so that a fault lasts a few of them.
const SLICE_SECONDS: i64 = 2;
/// Past a fault's last slice, long enough for it to settle (timeout 500 ms + 2 s) and be judged (a 1 s tick).
const SETTLED: Duration = Duration::from_millis(2 * 2_000 + 2_500 + 1_000);
const PATIENCE: Duration = Duration::from_secs(30);

fn source(region: &str) -> IpAddr {
    regions::source(&REGIONS, region)
}

async fn api(http: SocketAddr, path: &str) -> (u16, String) {
    let response = send(http, "GET", path, &[], "").await;
    (response.status, response.body)
}

async fn json(http: SocketAddr, path: &str) -> Value {
    let (status, body) = api(http, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|error| panic!("{path}: {error}: {body}"))
}

/// Sleeps until 200 ms past the next slice boundary (slices are cut from the month's start, a whole minute).
async fn just_after_a_boundary() {
    let now = jiff::Timestamp::now();
    let into = now.as_millisecond().rem_euclid(SLICE_SECONDS * 1000);
    let wait = SLICE_SECONDS * 1000 - into + 200;
    tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap())).await;
}

/// The report of this month as the API makes it.
async fn month_report(http: SocketAddr) -> Value {
    let period = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    json(http, &format!("/api/v1/contracts/acme/report?period={period}")).await
}

/// The agents' control probes as the agents API shows them, by agent.
async fn controls(http: SocketAddr) -> Vec<(String, Value)> {
    let agents = json(http, "/api/v1/agents").await;
    let agents = agents["agents"].as_array().unwrap().iter();
    agents.map(|agent| (agent["agent_id"].as_str().unwrap().to_owned(), agent["controls"].clone())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_whose_own_network_fails_is_no_data_and_a_vendor_down_elsewhere_is_down() {
    let (vendor, gateway) = (HttpServer::start().await, HttpServer::start().await);
    let chat = WebhookReceiver::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let agents = agents_yaml(&REGIONS);
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\nagents:\n{agents}\
             checks:\n  - {{ id: api, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n\
             control_checks:\n  - {{ id: ctl-gateway, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n\
             contracts:\n  - {{ id: acme, vendor: Acme, service: API, checks: [api], objective: 99.9, \
             slice: {SLICE_SECONDS}s, min_regions_down: 1, credits: {{ fee: 100, currency: USD, \
             tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n\
             notify:\n  channels:\n    - {{ id: chat, webhook: {{ url: \"{}\" }} }}\n\
             \x20 policies:\n    - {{ id: default, levels: [ {{ after: 0s, channels: [chat] }} ] }}\n\
             alerts:\n  - {{ contract: acme, kind: down, policy: default, down_slices: 1, up_slices: 1 }}\n",
            vendor.url("/"),
            gateway.url("/"),
            chat.url("/chat"),
        ),
    )
    .unwrap();
    let collector = tokio::task::block_in_place(|| start_collector(&config));
    let agents = start_agents(&REGIONS, grpc, "checkpoint_every: 0s\n");
    wait::until(PATIENCE, "every agent's controls to pass", async || {
        let controls = controls(http).await;
        controls.len() == 3 && controls.iter().all(|(_, view)| view["inconclusive"] == false)
    })
    .await;

    // eu's own network fails: first its gateway, a slice later the vendor too, from eu only.
    just_after_a_boundary().await;
    gateway.fail_from(&[source("eu")], 503);
    tokio::time::sleep(Duration::from_secs(2)).await;
    vendor.fail_from(&[source("eu")], 503);
    wait::until(PATIENCE, "eu's controls to show failing", async || {
        let controls = controls(http).await;
        controls.iter().any(|(agent, view)| agent == "agent-eu" && view["inconclusive"] == true)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    just_after_a_boundary().await;
    vendor.recover();
    tokio::time::sleep(Duration::from_secs(2)).await;
    gateway.recover();
    tokio::time::sleep(SETTLED).await;
    assert!(chat.received().is_empty(), "eu's own fault paged someone: {:?}", chat.received().len());
    let report = month_report(http).await;
    assert_eq!(report["down_slices"], 0, "{report}");
    let eu = report["coverage"]["regions"].as_array().unwrap().iter().find(|region| region["region"] == "eu").unwrap();
    let inconclusive = eu["inconclusive_slices"].as_u64().unwrap();
    assert!(inconclusive >= 5, "eu inconclusive for {inconclusive} slices: {report}");
    println!("eu inconclusive for {inconclusive} slices of {SLICE_SECONDS} s; down slices 0, no alert");
    let period = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let (_, html) = api(http, &format!("/api/v1/contracts/acme/report?period={period}&format=html")).await;
    let time = slaprobe_sla::display::duration((inconclusive * 2) as f64);
    assert!(html.contains("<tr><td>Inconclusive (") && html.contains(&format!("<b>eu {time}</b>")), "{html}");

    // Controls pass everywhere; the vendor is down from eu and us: downtime and an alert, as ever.
    just_after_a_boundary().await;
    vendor.fail_from(&[source("eu"), source("us")], 503);
    tokio::time::sleep(Duration::from_secs(6)).await;
    vendor.recover();
    wait::until(PATIENCE, "the alert to fire", async || !chat.received().is_empty()).await;
    tokio::time::sleep(SETTLED).await;
    let report = month_report(http).await;
    let down = report["down_slices"].as_u64().unwrap();
    assert!(down >= 2, "{report}");
    let incident = &report["incidents"][0];
    assert_eq!(incident["regions"], serde_json::json!(["eu", "us"]), "{report}");
    println!("vendor down from 2 of 3 regions with controls passing: {down} down slices, alert fired");
    let measured = |region: &str| {
        let regions = incident["measurement"].as_array().unwrap();
        regions.iter().find(|measured| measured["region"] == region).cloned().unwrap_or_default()
    };
    for region in ["us", "ap"] {
        assert_eq!(measured(region)["state"], "normal", "{region}: {}", incident["measurement"]);
    }
    // eu's own fault ended shortly before, within the two minutes before the incident that count.
    println!("eu measuring during the incident: {}", measured("eu"));
    let (_, html) = api(http, &format!("/api/v1/contracts/acme/report?period={period}&format=html")).await;
    assert!(html.contains("<th>Our measurement</th>") && html.contains(" measuring normally throughout"), "{html}");

    for agent in agents {
        agent.signal(Signal::SIGTERM);
        let _ = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(10)));
    }
    drop(collector);
    let bundle = dir.path().join("bundle");
    let (config_arg, bundle_arg) = (config.to_str().unwrap(), bundle.to_str().unwrap());
    let args = ["evidence", "--config", config_arg, "--contract", "acme", "--period", &period, "--out", bundle_arg];
    tokio::task::block_in_place(|| run_collector(&args));
    let results = std::fs::read_to_string(bundle.join("results.jsonl")).unwrap();
    assert!(results.lines().any(|line| line.contains("\"control\":true")), "control probes in full");
    let (code, said) = verify(&bundle);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("report reproduced from these results"), "{said}");
    let bundled: Value = serde_json::from_str(&std::fs::read_to_string(bundle.join("report.json")).unwrap()).unwrap();
    let eu = bundled["coverage"]["regions"].as_array().unwrap().iter().find(|region| region["region"] == "eu").cloned();
    assert!(eu.is_some_and(|eu| eu["inconclusive_slices"].as_u64().unwrap() >= 5), "{bundled}");
}
