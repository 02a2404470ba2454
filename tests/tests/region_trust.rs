//! No agent votes where it may not, tried on a real collector process with a gRPC client that speaks for an
//! agent of region us-east: a result for a check assigned only to eu-west is refused with the reason; results
//! stamped before the retention horizon or past now plus the clock bound are refused; a result that arrives
//! after its period closed is stored, flagged `late`, shown with its arrival time, and the closed period's
//! report says what it changed. A result of the eu-west check from us-east that reaches the store another way
//! (an older collector, an import) does not vote either: the engine takes the regions from the configuration.

use std::net::SocketAddr;
use std::path::Path;

use jiff::{SignedDuration, Timestamp, ToSpan};
use serde_json::Value;
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::{ResultFlags, Store};
use slaprobe_proto::{ResultRecord, v1};
use slaprobe_tests::collector::{run_collector, start_collector_logged};
use slaprobe_tests::http_client::send;
use slaprobe_tests::ports::free_addr;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

fn result(seq: u64, check: &str, started_at: Timestamp, ok: bool) -> v1::Result {
    let record: ResultRecord = serde_json::from_value(serde_json::json!({
        "check_id": check, "region": "us-east", "agent_id": "edge-us", "seq": seq,
        "started_at": started_at.to_string(), "ok": ok, "duration_ms": 10.0,
        "error": if ok { None } else { Some("connect: connection refused") },
    }))
    .unwrap();
    v1::Result::from(&record)
}

/// Sends `results` as agent edge-us; returns the pushed check list and the acknowledged seq.
async fn send_as_us_agent(grpc: SocketAddr, results: Vec<v1::Result>) -> (String, u64) {
    let mut client = v1::collector_client::CollectorClient::connect(format!("http://{grpc}")).await.unwrap();
    let (to_collector, outbound) = mpsc::channel(4);
    let hello = v1::Hello {
        agent_id: "edge-us".into(),
        region: "us-east".into(),
        version: "test".into(),
        ..Default::default()
    };
    to_collector.send(v1::AgentMessage { body: Some(v1::agent_message::Body::Hello(hello)) }).await.unwrap();
    let mut request = tonic::Request::new(ReceiverStream::new(outbound));
    request.metadata_mut().insert("authorization", "Bearer us-token".parse().unwrap());
    let mut inbound = client.session(request).await.unwrap().into_inner();
    let Some(v1::collector_message::Body::Config(config)) = inbound.message().await.unwrap().unwrap().body else {
        panic!("the checks are pushed first")
    };
    let batch = v1::ResultBatch { results, ..Default::default() };
    to_collector.send(v1::AgentMessage { body: Some(v1::agent_message::Body::Batch(batch)) }).await.unwrap();
    let Some(v1::collector_message::Body::Ack(ack)) = inbound.message().await.unwrap().unwrap().body else {
        panic!("an acknowledgement")
    };
    (config.checks_yaml, ack.through_seq)
}

fn report(config: &Path, period: &str, contract: &str) -> Value {
    let config = config.to_str().unwrap();
    let text = run_collector(&["report", "--config", config, "--period", period, "--contract", contract]);
    serde_json::from_str(text.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_vote_only_for_their_regions_and_late_results_are_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             agents:\n  - {{ id: edge-eu, region: eu-west, token_sha256: \"{}\" }}\n\
             \x20 - {{ id: edge-us, region: us-east, token_sha256: \"{}\" }}\n\
             checks:\n  - {{ id: web-eu, kind: tcp, target: \"127.0.0.1:9\", interval: 60s, regions: [eu-west] }}\n\
             \x20 - {{ id: web-all, kind: tcp, target: \"127.0.0.1:9\", interval: 60s }}\n\
             contracts:\n\
             \x20 - {{ id: eu-only, vendor: V, service: S, checks: [web-eu], objective: 99.9, \
             credits: {{ fee: 1000, currency: USD, tiers: [ {{ below: 99.99, credit: 10 }} ] }} }}\n\
             \x20 - {{ id: everywhere, vendor: V, service: S, checks: [web-all], objective: 99.9, \
             credits: {{ fee: 1000, currency: USD, tiers: [ {{ below: 99.99, credit: 10 }} ] }} }}\n",
            token_hash("eu-token"),
            token_hash("us-token"),
        ),
    )
    .unwrap();
    let (_collector, log) = tokio::task::block_in_place(|| start_collector_logged(&config));

    let now = Timestamp::now();
    let utc = jiff::tz::TimeZone::UTC;
    let this_month = utc.to_datetime(now).date().first_of_month();
    let last_month = this_month.checked_sub(1.month()).unwrap();
    let midnight = |date: jiff::civil::Date| date.to_zoned_datetime(utc.clone()).unwrap().timestamp();
    let mid_last_month = midnight(last_month.checked_add(14.days()).unwrap());
    let a_minute_ago = now - SignedDuration::from_mins(1);
    let (pushed, acked) = send_as_us_agent(
        grpc,
        vec![
            result(1, "web-eu", a_minute_ago, false),
            result(2, "web-all", a_minute_ago, true),
            result(3, "web-all", now - SignedDuration::from_hours(24 * 500), false),
            result(4, "web-all", now + SignedDuration::from_secs(60), false),
            result(5, "web-all", mid_last_month, false),
        ],
    )
    .await;
    assert!(pushed.contains("web-all") && !pushed.contains("web-eu"), "us-east gets only its checks: {pushed}");
    assert_eq!(acked, 5, "refused results are acknowledged too, so they cannot wedge the spool");

    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let refused = store.refused().await.unwrap();
    let reasons: Vec<(u64, &str)> = refused.iter().map(|refusal| (refusal.seq, refusal.reason.as_str())).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].0 == 1 && reasons[0].1.contains("not assigned to region us-east"), "{reasons:?}");
    assert!(reasons[1].0 == 3 && reasons[1].1.contains("retention horizon"), "{reasons:?}");
    assert!(reasons[2].0 == 4 && reasons[2].1.contains("in the future"), "{reasons:?}");
    assert_eq!(store.flagged_results("edge-us").await.unwrap(), [(5, ResultFlags::LATE)]);
    let refusals: Vec<String> =
        log.lock().unwrap().iter().filter(|line| line.contains("Refused results")).cloned().collect();
    assert!(
        refusals.len() == 1 && refusals[0].contains("refused=3") && refusals[0].contains("first_seq=1"),
        "one line for the batch, not one per result: {refusals:?}"
    );

    let from = midnight(last_month).to_string();
    let page = send(http, "GET", &format!("/api/v1/results?check=web-all&from={from}&limit=10"), &[], "").await;
    let page: Value = serde_json::from_str(&page.body).unwrap();
    let late = &page["results"][0];
    assert_eq!((late["seq"].as_u64(), &late["flags"]), (Some(5), &serde_json::json!(["late"])), "{page}");
    assert!(late["received_at"].as_str().is_some_and(|at| at.parse::<Timestamp>().unwrap() >= now), "{page}");

    let period = last_month.strftime("%Y-%m").to_string();
    let closed = tokio::task::block_in_place(|| report(&config, &period, "everywhere"));
    assert_eq!(closed["down_slices"], 1, "a late result votes like any other: {closed}");
    let expected = serde_json::json!({
        "results": 1, "down_slices_without": 0, "uptime_percent_without": null, "credit_amount_without": 0.0
    });
    assert_eq!(closed["late"], expected, "the report says what the late result changed: {closed}");
    for format in ["html", "md"] {
        let config = config.to_str().unwrap();
        let args = ["report", "--config", config, "--period", &period, "--contract", "everywhere", "--format", format];
        let text = tokio::task::block_in_place(|| run_collector(&args));
        assert!(text.contains("arrived after the period closed"), "{format}: {text}");
    }
    let page = send(http, "GET", &format!("/contracts/everywhere?period={period}"), &[], "").await;
    assert!(page.body.contains("1 results arrived after the period closed"), "{}", page.body);

    // A us-east result of the eu-west check that reached the store without ingest does not vote.
    let stray: ResultRecord = result(6, "web-eu", a_minute_ago, false).try_into().unwrap();
    store.write_results(vec![stray]).await.unwrap();
    let current = now.strftime("%Y-%m").to_string();
    let eu_only = tokio::task::block_in_place(|| report(&config, &current, "eu-only"));
    assert_eq!((eu_only["down_slices"].as_u64(), eu_only["results_ignored"].as_u64()), (Some(0), Some(1)), "{eu_only}");
    assert_eq!(eu_only["regions"], serde_json::json!([]), "{eu_only}");
}
