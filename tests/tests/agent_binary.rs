//! The real `slaprobe-agent` binary: configuration errors, standalone probing to JSON lines, SIGHUP reload and
//! graceful SIGTERM shutdown, including a probe still waiting for its answer when the grace runs out; and
//! confirmation attempts that catch a recovery within about `after`.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::{AgentProcess, run_agent};
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::closed_port;
use slaprobe_tests::wait;

#[test]
fn invalid_configuration_exits_64_listing_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::write(
        &path,
        "region: r\nchecks:\n  - { id: a, kind: http, target: nope, interval: 10s }\n  - { id: b, kind: tcp, target: \"x:1\", interval: 0s }\n",
    )
    .unwrap();
    let (code, _, stderr) = run_agent(&["--config", path.to_str().unwrap(), "--output", "jsonl:-"]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("2 problems"), "{stderr}");
    assert!(stderr.contains("checks[0].target: \"nope\" is not a URL"), "{stderr}");
    assert!(stderr.contains("checks[1].interval: 0s is below the minimum of 1s"), "{stderr}");

    let (code, _, stderr) = run_agent(&["--config", dir.path().join("missing.yaml").to_str().unwrap()]);
    assert_eq!(code, Some(64));
    assert!(stderr.contains("missing.yaml") && stderr.contains("cannot read"), "{stderr}");

    std::fs::write(&path, "region: r\n").unwrap();
    let (code, _, stderr) = run_agent(&["--config", path.to_str().unwrap()]);
    assert_eq!(code, Some(64));
    assert!(stderr.contains("--output jsonl:PATH"), "{stderr}");
    let (code, _, stderr) = run_agent(&["--config", path.to_str().unwrap(), "--output", "csv:x"]);
    assert_eq!(code, Some(2), "clap rejects a malformed --output: {stderr}");
    assert!(stderr.contains("jsonl:PATH"), "{stderr}");
}

#[test]
fn deploy_example_passes_check_config() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/agent.yaml");
    let (code, stdout, stderr) = run_agent(&["--config", path, "--check-config"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("OK, 3 checks"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_standalone_and_flushes_on_sigterm() {
    let server = HttpServer::start().await;
    let refused = closed_port();
    let agent = AgentProcess::start(&format!(
        "agent_id: edge-1\nregion: eu-west\nchecks:\n\
         - {{ id: web, kind: http, target: \"{}\", interval: 1s }}\n\
         - {{ id: gone, kind: tcp, target: \"{refused}\", interval: 1s }}\n\
         - {{ id: elsewhere, kind: tcp, target: \"{refused}\", interval: 1s, regions: [us-east] }}\n",
        server.url("/")
    ));
    let deadline = Duration::from_secs(10);
    tokio::task::block_in_place(|| {
        wait::blocking(deadline, "two results per check", || {
            let results = agent.results();
            ["web", "gone"].iter().all(|id| results.iter().filter(|r| r.check_id == *id).count() >= 2)
        })
    });
    agent.signal(Signal::SIGTERM);
    let (status, log, results) = tokio::task::block_in_place(|| agent.wait(deadline));
    assert!(status.success(), "{log}");
    assert!(log.contains("Stopped."), "{log}");
    assert!(results.iter().all(|r| r.check_id != "elsewhere"), "a check for another region ran");
    for record in &results {
        assert_eq!((record.agent_id.as_deref(), record.region.as_str()), (Some("edge-1"), "eu-west"));
        let scheduled = record.scheduled_at.expect("scheduled_at");
        let lag = record.started_at.as_nanosecond() - scheduled.as_nanosecond();
        assert!((0..500_000_000).contains(&lag), "started {lag} ns after its slot");
        match record.check_id.as_str() {
            "web" => assert!(record.ok, "{record:?}"),
            _ => assert_eq!(record.error_kind.as_deref(), Some("connect")),
        }
    }
    assert_eq!(server.connections() as usize, results.iter().filter(|r| r.check_id == "web").count());
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_checks_and_keeps_running_on_a_bad_config() {
    let server = HttpServer::start().await;
    let check = |id: &str| format!("- {{ id: {id}, kind: http, target: \"{}\", interval: 1s }}\n", server.url("/"));
    let agent = AgentProcess::start(&format!("region: r\nchecks:\n{}", check("first")));
    let deadline = Duration::from_secs(10);
    tokio::task::block_in_place(|| {
        wait::blocking(deadline, "the first check", || agent.results().iter().any(|r| r.check_id == "first"));
        std::fs::write(agent.config_path(), "region: r\nchecks: [ { id: broken } ]\n").unwrap();
        agent.signal(Signal::SIGHUP);
        wait::blocking(deadline, "the bad configuration to be refused", || {
            agent.log().contains("Kept the running configuration")
        });
        std::fs::write(agent.config_path(), format!("region: r\nchecks:\n{}{}", check("first"), check("second")))
            .unwrap();
        agent.signal(Signal::SIGHUP);
        wait::blocking(deadline, "the added check", || agent.results().iter().any(|r| r.check_id == "second"));
    });
    agent.signal(Signal::SIGINT);
    let (status, log, _) = tokio::task::block_in_place(|| agent.wait(deadline));
    assert!(status.success(), "{log}");
    assert!(log.contains("Kept the running configuration") && log.contains("checks[0]: missing field `kind`"), "{log}");
    assert!(
        log.contains("Reloaded the configuration.") && log.contains("added=1") && log.contains("unchanged=1"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_cancels_a_probe_still_waiting_after_the_grace_and_writes_it() {
    let server = HttpServer::start().await;
    // The server holds the request for a minute; the probe would time out after 9 s.
    let agent = AgentProcess::start(&format!(
        "region: r\nchecks:\n  - {{ id: held, kind: http, target: \"{}\", interval: 10s, timeout: 9s }}\n",
        server.url("/delay/60000")
    ));
    let deadline = Duration::from_secs(20);
    tokio::task::block_in_place(|| wait::blocking(deadline, "the probe's request", || server.requests() >= 1));
    let signalled = Instant::now();
    agent.signal(Signal::SIGTERM);
    let (status, log, results) = tokio::task::block_in_place(|| agent.wait(deadline));
    let took = signalled.elapsed();
    assert!(status.success(), "{log}");
    assert!(took >= Duration::from_secs(5), "the attempt in flight gets the 5 s grace: exited after {took:?}");
    assert!(log.contains("letting attempts in flight finish") && log.contains("Stopped."), "{log}");
    assert_eq!(results.len(), 1, "the cancelled attempt is written before the agent exits: {results:?}");
    let cancelled = &results[0];
    assert!(!cancelled.ok);
    assert_eq!(cancelled.error_kind.as_deref(), Some("cancelled"), "{cancelled:?}");
    assert!(cancelled.error.as_deref().is_some_and(|error| error.contains("shut down")), "{cancelled:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmation_attempts_measure_the_recovery_to_about_after() {
    let server = HttpServer::start().await;
    let agent = AgentProcess::start(&format!(
        "agent_id: edge-1\nregion: eu-west\nchecks:\n\
         - {{ id: web, kind: http, target: \"{}\", interval: 10s, timeout: 2s, confirm: {{ after: 1s }} }}\n",
        server.url("/")
    ));
    let results_after = |at: jiff::Timestamp| {
        let results = agent.results();
        results.into_iter().filter(|record| record.started_at > at).collect::<Vec<_>>()
    };
    tokio::task::block_in_place(|| {
        wait::blocking(Duration::from_secs(15), "a first result", || !agent.results().is_empty())
    });
    let failing_from = jiff::Timestamp::now();
    server.fail_with(503);
    tokio::task::block_in_place(|| {
        wait::blocking(Duration::from_secs(15), "a failure and two confirmations", || {
            results_after(failing_from).iter().filter(|record| !record.ok).count() >= 3
        })
    });
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let recovered_at = jiff::Timestamp::now();
    server.recover();
    tokio::task::block_in_place(|| {
        wait::blocking(Duration::from_secs(15), "the recovery and its confirmation", || {
            results_after(recovered_at).iter().filter(|record| record.ok).count() >= 2
        })
    });
    agent.signal(Signal::SIGTERM);
    let (status, log, results) = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(10)));
    assert!(status.success(), "{log}");
    let failed: Vec<&ResultRecord> = results.iter().filter(|record| !record.ok).collect();
    assert!(failed.len() >= 3 && failed[1..].iter().all(|record| record.confirmation), "{failed:?}");
    let after: Vec<&ResultRecord> = results.iter().filter(|record| record.started_at > recovered_at).collect();
    let late = after[0].started_at.duration_since(recovered_at);
    assert!(after[0].ok && late < jiff::SignedDuration::from_millis(1_500), "the recovery seen {late:?} after it");
    assert!(after[0].confirmation && after[1].confirmation && after[1].ok, "{after:?}");
    assert_eq!(server.connections() as usize, results.len(), "every attempt on a fresh connection");
}

#[test]
fn agent_id_may_be_the_host_name_even_without_hostname_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::write(&path, "agent_id: ${HOSTNAME}\nregion: r\nchecks: []\n").unwrap();
    let output = std::process::Command::new(slaprobe_tests::agent::agent_binary())
        .args(["--config", path.to_str().unwrap(), "--check-config"])
        .env_remove("HOSTNAME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_ascii_lowercase();
    assert!(stdout.trim_end().ends_with(&format!("(0 for region r), agent {host}")), "{stdout}");
}
