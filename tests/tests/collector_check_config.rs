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
