//! An outage seen by three agents, written as an evidence bundle by `slaprobe-collector evidence` (a directory and a
//! `.tar`) and checked by `slaprobe-verify`: it verifies; then each tampering is caught with its own message, also when
//! the tamperer updates the manifest to match: a result's `ok` flipped, a result removed, two swapped, a timestamp
//! moved, a key replaced, a checkpoint signature corrupted, a report figure (among them what the vendor's status page
//! declared against the outage) or the claim document or the terms edited (the report is made again from the results),
//! the start of monitoring moved; and a report figure edited without resealing is caught by the manifest. An
//! independent check written in Python from `docs/evidence.md` (`tests/python/verify_bundle.py`, on rfc8785, hashlib
//! and cryptography) agrees on each of the chain and signature cases.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::Store;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::bundles::{copy_dir, python_verify, tampered_copy, verify};
use slaprobe_tests::collector::{run_collector, start_collector};
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::status_page_server::StatusPageServer;
use slaprobe_tests::wait;

const AGENTS: [&str; 3] = ["edge-a", "edge-b", "edge-c"];

/// An edit of a bundle file's lines.
type Tamper = Box<dyn FnOnce(&mut Vec<String>)>;

/// A copy of `bundle` with `tamper` applied to its `file`'s lines, resealed; what the verifier says of it.
fn tampered(bundle: &Path, name: &str, file: &str, tamper: impl FnOnce(&mut Vec<String>)) -> (Option<i32>, String) {
    verify(&tampered_copy(bundle, name, file, tamper))
}

/// The index of the first full line of `agent` that satisfies `test`, and the line parsed.
fn full_line(lines: &[String], agent: &str, test: impl Fn(&serde_json::Value) -> bool) -> (usize, serde_json::Value) {
    lines
        .iter()
        .enumerate()
        .map(|(index, line)| (index, serde_json::from_str::<serde_json::Value>(line).unwrap()))
        .find(|(_, value)| value["agent_id"] == agent && value.get("check_id").is_some() && test(value))
        .expect("a matching line")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_verifies_and_every_tampering_is_named() {
    let server = HttpServer::start().await;
    // The vendor's status page has declared an incident, open since an hour ago.
    let page = StatusPageServer::start().await;
    let hour_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)).to_string();
    page.declare(
        vec![serde_json::json!({ "id": "inc-1", "name": "Errors on web", "status": "investigating",
            "impact": "major", "created_at": hour_ago, "started_at": hour_ago, "resolved_at": null })],
        Vec::new(),
    );
    let dir = tempfile::tempdir().unwrap();
    let grpc = free_addr();
    let agents_yaml: String = AGENTS
        .iter()
        .enumerate()
        .map(|(index, agent)| {
            format!("  - {{ id: {agent}, region: region-{index}, token_sha256: \"{}\" }}\n", token_hash(agent))
        })
        .collect();
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\" }}\nstorage: {{ sqlite: data/slaprobe.db }}\nagents:\n{agents_yaml}\
             checks:\n  - {{ id: web, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n\
             contracts:\n  - {{ id: web, vendor: Loopback, service: Web, checks: [web], objective: 99.9, slice: 1s, \
             status_page: {{ kind: statuspage, url: \"{}\" }}, \
             credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n",
            server.url("/"),
            page.url()
        ),
    )
    .unwrap();
    let collector = tokio::task::block_in_place(|| start_collector(&config));
    let agents: Vec<AgentProcess> = AGENTS
        .iter()
        .enumerate()
        .map(|(index, agent)| {
            let yaml = format!(
                "agent_id: {agent}\nregion: region-{index}\ncollector: \"http://{grpc}\"\ntoken: {agent}\n\
                 spool_dir: \"{}\"\ncheckpoint_every: 0s\n",
                dir.path().join(format!("spool-{agent}")).display()
            );
            AgentProcess::start_for_collector(tempfile::tempdir().unwrap(), &yaml)
        })
        .collect();
    let store = Store::open_sqlite(&dir.path().join("data/slaprobe.db")).unwrap();
    let far = "2100-01-01T00:00:00Z".parse().unwrap();
    let stored = async || store.results_between(&["web".to_owned()], jiff::Timestamp::UNIX_EPOCH, far).await.unwrap();
    let each_has = async |count: usize| {
        let results = stored().await;
        AGENTS
            .iter()
            .all(|agent| results.iter().filter(|result| result.agent_id.as_deref() == Some(*agent)).count() >= count)
    };
    wait::until(Duration::from_secs(30), "results from every agent", async || each_has(3).await).await;
    server.fail_with(503);
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.recover();
    wait::until(Duration::from_secs(30), "results after the outage", async || each_has(9).await).await;
    for agent in agents {
        agent.signal(Signal::SIGTERM);
        let _ = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(10)));
    }
    assert!(stored().await.iter().any(|result| !result.ok), "the outage is in the results");
    wait::until(Duration::from_secs(30), "the status page read", async || {
        store.status_page(&page.url()).await.unwrap().is_some_and(|record| record.checked_at.is_some())
    })
    .await;
    drop(collector);

    let period = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let bundle = dir.path().join("bundle");
    let (config_arg, bundle_arg) = (config.to_str().unwrap(), bundle.to_str().unwrap());
    let evidence = |out: &str| {
        run_collector(&["evidence", "--config", config_arg, "--contract", "web", "--period", &period, "--out", out])
    };
    let written = tokio::task::block_in_place(|| evidence(bundle_arg));
    assert!(written.contains("from 3 agents"), "{written}");
    let (code, said) = verify(&bundle);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("verified:") && said.contains("from 3 agents"), "{said}");
    assert!(said.contains("report reproduced from these results: uptime ") && said.contains(" USD"), "{said}");
    assert!(said.contains("terms applied (compare them with the signed contract): objective 99.9 %"), "{said}");
    // The report says what each agent's region observed in the outage, and the verifier made that again too.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("report.json")).unwrap()).unwrap();
    let observed: Vec<&serde_json::Value> = report["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|incident| incident["observed"].as_array().unwrap())
        .collect();
    assert!(!observed.is_empty(), "{report}");
    for sample in &observed {
        assert_eq!(sample["http"]["status_line"], "HTTP/1.1 503 Service Unavailable", "{sample}");
    }
    // The same bundle checked by an implementation of docs/evidence.md written apart, on other libraries.
    let (code, said) = python_verify(&bundle);
    assert_eq!(code, Some(0), "the Python check of the specification: {said}");
    assert!(said.contains("verified"), "{said}");
    let tar: PathBuf = dir.path().join("bundle.tar");
    tokio::task::block_in_place(|| evidence(tar.to_str().unwrap()));
    let (code, said) = verify(&tar);
    assert_eq!(code, Some(0), "the .tar verifies too: {said}");

    let results = "results.jsonl";
    let cases: Vec<(&str, &str, Tamper, &str)> = vec![
        (
            "flipped",
            results,
            Box::new(|lines: &mut Vec<String>| {
                let (index, mut value) = full_line(lines, "edge-a", |value| value["ok"] == false);
                value["ok"] = true.into();
                lines[index] = value.to_string();
            }),
            "does not link",
        ),
        (
            "removed",
            results,
            Box::new(|lines: &mut Vec<String>| {
                let (index, _) = full_line(lines, "edge-b", |value| value["seq"].as_u64() > Some(3));
                lines.remove(index);
            }),
            "are missing and no gap statement explains them",
        ),
        (
            "swapped",
            results,
            Box::new(|lines: &mut Vec<String>| {
                let (index, _) = full_line(lines, "edge-c", |value| value["seq"].as_u64() > Some(3));
                lines.swap(index, index + 1);
            }),
            "results must be in seq order",
        ),
        (
            "moved",
            results,
            Box::new(|lines: &mut Vec<String>| {
                let (index, mut value) = full_line(lines, "edge-a", |value| value["seq"].as_u64() > Some(2));
                let started: jiff::Timestamp = value["started_at"].as_str().unwrap().parse().unwrap();
                value["started_at"] = (started + jiff::SignedDuration::from_secs(1)).to_string().into();
                lines[index] = value.to_string();
            }),
            "does not link",
        ),
        (
            "rekeyed",
            "keys/edge-b.pub",
            Box::new(|lines: &mut Vec<String>| {
                lines[0] = "ed25519:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=".to_owned();
            }),
            "which is not among the agent's keys",
        ),
        (
            "forged",
            "checkpoints.jsonl",
            Box::new(|lines: &mut Vec<String>| {
                let mut value: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
                let signature = value["signature"].as_str().unwrap().to_owned();
                let flipped = if signature.starts_with('A') { "B" } else { "A" };
                value["signature"] = format!("{flipped}{}", &signature[1..]).into();
                lines[0] = value.to_string();
            }),
            "the signature does not verify",
        ),
    ];
    for (name, file, tamper, expected) in cases {
        let (code, said) = tampered(&bundle, name, file, tamper);
        assert_eq!(code, Some(1), "{name}: {said}");
        assert!(said.contains(expected), "{name}: no {expected:?} in\n{said}");
        let named = if file == results { results } else { "checkpoints.jsonl" };
        assert!(said.contains(&format!("\n  {named}:")), "{name}: the problem names the file and line\n{said}");
        let (code, said) = python_verify(&bundle.with_file_name(name));
        assert_eq!(code, Some(1), "{name}: the Python check catches it too: {said}");
    }

    // The report is made again from the results: an edited figure, an edited claim document or edited terms are
    // caught although the manifest was resealed, and so is a start of monitoring moved past the first results.
    let report_cases: Vec<(&str, &str, Tamper, &str)> = vec![
        (
            "figure",
            "report.json",
            Box::new(|lines: &mut Vec<String>| {
                let mut value: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
                value["down_slices"] = (value["down_slices"].as_u64().unwrap() + 1).into();
                lines[0] = value.to_string();
            }),
            "report.json:1: `down_slices` is",
        ),
        (
            "document",
            "report.html",
            Box::new(|lines: &mut Vec<String>| {
                let index = lines.iter().position(|line| line.contains("USD")).unwrap();
                lines[index] = lines[index].replacen("USD", "EUR", 1);
            }),
            "differs from the claim document the report made again renders to",
        ),
        (
            "terms",
            "contract.json",
            Box::new(|lines: &mut Vec<String>| {
                let mut value: serde_json::Value = serde_json::from_str(&lines.join("\n")).unwrap();
                value["terms"]["credits"]["fee"] = "1000".into();
                *lines = vec![value.to_string()];
            }),
            "report.json:1: `credit_amount` is",
        ),
        (
            "vendor",
            "report.json",
            Box::new(|lines: &mut Vec<String>| {
                let mut value: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
                assert_eq!(value["vendor_status"]["undeclared_incidents"], 0, "the vendor declared the outage");
                value["vendor_status"]["undeclared_incidents"] = 1.into();
                lines[0] = value.to_string();
            }),
            "report.json:1: `vendor_status.undeclared_incidents` is 1, but the results give 0",
        ),
        (
            "began",
            "contract.json",
            Box::new(|lines: &mut Vec<String>| {
                let mut value: serde_json::Value = serde_json::from_str(&lines.join("\n")).unwrap();
                value["monitoring_began"] = "2100-01-01T00:00:00Z".into();
                *lines = vec![value.to_string()];
            }),
            "but contract.json says monitoring began 2100-01-01T00:00:00Z",
        ),
    ];
    for (name, file, tamper, expected) in report_cases {
        let (code, said) = tampered(&bundle, name, file, tamper);
        assert_eq!(code, Some(1), "{name}: {said}");
        assert!(said.contains(expected), "{name}: no {expected:?} in\n{said}");
        assert!(!said.contains("report reproduced"), "{name}: {said}");
    }

    // An edited report figure, the manifest left as it was.
    let copy = dir.path().join("edited-report");
    copy_dir(&bundle, &copy);
    let report = std::fs::read_to_string(copy.join("report.json")).unwrap();
    std::fs::write(copy.join("report.json"), report.replacen("\"credit_percent\":", "\"credit_percent\":1", 1))
        .unwrap();
    let (code, said) = verify(&copy);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("report.json: SHA-256 is"), "{said}");
}
