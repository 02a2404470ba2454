//! `slaprobe-collector check-config`: the real binary validates a configuration as `serve` would, without
//! starting anything: the deploy example passes with a summary; a broken one exits 64 listing every problem,
//! each naming its place (the check's path, the contracts file that cannot be read).

use std::process::{Command, Stdio};

use slaprobe_tests::agent::collector_binary;

fn check_config(path: &std::path::Path) -> (Option<i32>, String, String) {
    let output = Command::new(collector_binary())
        .args(["check-config", "--config", path.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .expect("run slaprobe-collector");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8");
    (output.status.code(), text(output.stdout), text(output.stderr))
}

#[test]
fn check_config_passes_the_deploy_example_and_lists_every_problem_of_a_broken_one() {
    let example = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/collector.yaml"));
    let (code, stdout, stderr) = check_config(example);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("OK: 2 checks, 1 contracts, 2 agents"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("collector.yaml");
    std::fs::write(
        &broken,
        "listen: { grpc: \"127.0.0.1:1\" }\nstorage: { sqlite: slaprobe.db }\ncontracts_file: contrats.yaml\n\
         checks:\n  - { id: api, kind: http, target: nope, interval: 10s }\n",
    )
    .unwrap();
    let (code, stdout, stderr) = check_config(&broken);
    assert_eq!(code, Some(64), "{stdout}{stderr}");
    assert!(stderr.contains("2 problems"), "{stderr}");
    assert!(stderr.contains("checks[0].target: \"nope\" is not a URL"), "{stderr}");
    assert!(stderr.contains("contracts_file:") && stderr.contains("contrats.yaml: cannot read"), "{stderr}");
    assert!(!dir.path().join("slaprobe.db").exists(), "nothing was started or created");
}

#[test]
fn commands_on_the_store_do_not_need_what_serving_needs() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        "listen: { grpc: \"${SLAPROBE_TEST_UNSET_LISTEN}\", tls: { cert_file: missing.pem, key_file: missing.key } }\n\
         storage: { sqlite: slaprobe.db }\n\
         checks:\n  - { id: web, kind: http, target: \"http://127.0.0.1:9/\", interval: 30s }\n\
         contracts:\n  - { id: web, vendor: Loopback Inc., service: Web, checks: [web], objective: 99.9, \
         credits: { fee: 100, currency: USD, tiers: [ { below: 99.9, credit: 10 } ] } }\n",
    )
    .unwrap();
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(64), "serving needs the listener: {stdout}{stderr}");
    assert!(stderr.contains("SLAPROBE_TEST_UNSET_LISTEN is not set"), "{stderr}");

    let config = config.to_str().unwrap();
    let report = slaprobe_tests::collector::run_collector(&["report", "--config", config, "--period", "2026-01"]);
    assert!(report.contains("\"contract\":\"web\""), "{report}");
    let export = slaprobe_tests::collector::run_collector(&[
        "export",
        "--config",
        config,
        "--contract",
        "web",
        "--period",
        "2026-01",
    ]);
    assert!(export.is_empty(), "no results stored: {export}");
}

#[test]
fn a_retention_that_would_delete_an_open_quarterly_claim_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.yaml");
    let write = |retention: &str| {
        std::fs::write(
            &config,
            format!(
                "listen: {{ grpc: \"127.0.0.1:1\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
                 retention: {{ results: {retention} }}\n\
                 checks:\n  - {{ id: cdn, kind: http, target: \"http://127.0.0.1:9/\", interval: 30s }}\n\
                 contracts:\n  - {{ id: edge-cdn, vendor: Edge Inc., service: CDN, checks: [cdn], objective: 99.9, \
                 period: quarter, claim_window: 90d, credits: {{ fee: 100, currency: USD, tiers: [] }} }}\n"
            ),
        )
        .unwrap();
    };
    write("120d");
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(64), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "retention.results: 120d would delete results contract \"edge-cdn\" may still claim with: it needs at \
             least 189d"
        ),
        "{stderr}"
    );
    write("189d");
    let (code, stdout, stderr) = check_config(&config);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
}
