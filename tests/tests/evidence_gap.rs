//! A real spool overflow, end to end: the collector is killed while an agent probes thirty failing checks (each
//! result carrying its failure capture, about 2.5 KiB) into a 1 MiB spool; the agent drops its oldest segment and
//! signs the gap. Once the collector is back, the evidence bundle holds the signed gap, `slaprobe-verify` and the
//! independent Python check both list it with its reason, and hiding it (its line taken out of `gaps.jsonl`, the
//! manifest resealed) is named by both.

use std::time::Duration;

use nix::sys::signal::Signal;
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::Store;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::bundles::{python_verify, tampered_copy, verify};
use slaprobe_tests::collector::{run_collector, start_collector};
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::wait;

/// Checks the agent probes every second, all failing.
const CHECKS: usize = 30;

#[tokio::test(flavor = "multi_thread")]
async fn a_spool_overflow_is_a_signed_gap_and_hiding_it_is_caught() {
    let server = HttpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let grpc = free_addr();
    let checks: String = (0..CHECKS)
        .map(|index| {
            format!(
                "  - {{ id: w{index}, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n",
                server.url("/unavailable")
            )
        })
        .collect();
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\" }}\nstorage: {{ sqlite: data/slaprobe.db }}\n\
             agents:\n  - {{ id: edge-a, region: region-a, token_sha256: \"{}\" }}\nchecks:\n{checks}\
             contracts:\n  - {{ id: web, vendor: Loopback, service: Web, checks: [w0], objective: 99.9, slice: 1s, \
             credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n",
            token_hash("edge-a")
        ),
    )
    .unwrap();
    let spool = dir.path().join("spool");
    // Every batch carries a checkpoint, so whenever the agent is stopped every stored result is covered by one
    // (with a checkpoint a second, the last batch before SIGTERM may have none, and its results are left out).
    let agent = AgentProcess::start_for_collector(
        tempfile::tempdir().unwrap(),
        &format!(
            "agent_id: edge-a\nregion: region-a\ncollector: \"http://{grpc}\"\ntoken: edge-a\nspool_dir: \"{}\"\n\
             spool_max_bytes: 1048576\ncheckpoint_every: 1s\ncheckpoint_results: 1\n",
            spool.display()
        ),
    );
    let database = dir.path().join("data/slaprobe.db");
    let collector = tokio::task::block_in_place(|| start_collector(&config));
    let store = Store::open_sqlite(&database).unwrap();
    let far = "2100-01-01T00:00:00Z".parse().unwrap();
    let stored = async || store.results_between(&["w0".to_owned()], jiff::Timestamp::UNIX_EPOCH, far).await.unwrap();
    wait::until(Duration::from_secs(30), "the agent's first results", async || stored().await.len() >= 2).await;

    // The collector is gone; the agent keeps probing into its spool until it must drop its oldest segment.
    drop(collector);
    let gaps_file = spool.join("results/gaps");
    wait::until(Duration::from_secs(90), "a spool_full gap in the agent's spool", async || {
        std::fs::read_to_string(&gaps_file).is_ok_and(|text| text.contains("spool_full"))
    })
    .await;
    let collector = tokio::task::block_in_place(|| start_collector(&config));
    wait::until(Duration::from_secs(60), "the signed gap and results after it", async || {
        let statements = store.gap_statements("edge-a").await.unwrap();
        let Some(gap) = statements.first() else { return false };
        stored().await.iter().filter(|result| result.seq.is_some_and(|seq| seq > gap.last_seq)).count() >= 3
    })
    .await;
    agent.signal(Signal::SIGTERM);
    let _ = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(10)));
    drop(collector);
    let gap = store.gap_statements("edge-a").await.unwrap().remove(0);

    let period = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let bundle = dir.path().join("bundle");
    let (config_arg, bundle_arg) = (config.to_str().unwrap(), bundle.to_str().unwrap());
    tokio::task::block_in_place(|| {
        run_collector(&[
            "evidence",
            "--config",
            config_arg,
            "--contract",
            "web",
            "--period",
            &period,
            "--out",
            bundle_arg,
        ])
    });
    let (code, said) = verify(&bundle);
    assert_eq!(code, Some(0), "{said}");
    let listed = format!("gap signed by edge-a: results {}..={} dropped (spool_full)", gap.first_seq, gap.last_seq);
    assert!(said.contains(&listed), "no {listed:?} in\n{said}");
    let (code, said) = python_verify(&bundle);
    assert_eq!(code, Some(0), "the Python check: {said}");

    let hidden = tampered_copy(&bundle, "hidden", "gaps.jsonl", |lines| {
        lines.retain(|line| !line.contains("spool_full"));
    });
    let (code, said) = verify(&hidden);
    assert_eq!(code, Some(1), "{said}");
    // Results the collector stored just before it was killed may lie inside the dropped range; the rest of it is
    // what the verifier names.
    let named = " of edge-a are missing and no gap statement explains them";
    assert!(said.contains(named), "no {named:?} in\n{said}");
    let (code, said) = python_verify(&hidden);
    assert_eq!(code, Some(1), "the Python check catches it too: {said}");
}
