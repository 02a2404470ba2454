//! `log_format: json`: both binaries write one JSON object per line to standard error, for a log pipeline, with
//! the event's fields at the top level.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::collector::{start_collector_logged, store_config, web_contract};
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::wait;

/// Each line of `log` as a JSON object with a level and a message; panics naming a line that is not.
fn json_lines(log: &[String]) -> Vec<serde_json::Value> {
    log.iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"));
            assert!(value["level"].is_string() && value["message"].is_string(), "{line}");
            value
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_logs_json_lines_when_asked() {
    let server = HttpServer::start().await;
    let agent = AgentProcess::start(&format!(
        "region: eu-west\nlog_format: json\nchecks:\n  - {{ id: web, kind: http, target: \"{}\", interval: 1s }}\n",
        server.url("/")
    ));
    tokio::task::block_in_place(|| wait::blocking(Duration::from_secs(10), "a result", || !agent.results().is_empty()));
    agent.signal(Signal::SIGTERM);
    let (status, log, _) = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(10)));
    assert!(status.success(), "{log}");
    let lines = json_lines(&log.lines().map(str::to_owned).collect::<Vec<_>>());
    let started = lines.iter().find(|line| line["message"] == "Started probing.").expect("the start, as JSON");
    assert_eq!((started["level"].as_str(), started["region"].as_str()), (Some("INFO"), Some("eu-west")));
    assert!(lines.iter().any(|line| line["message"] == "Stopped."), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_collector_logs_json_lines_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_config(dir.path(), &web_contract(""));
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}log_format: json\n")).unwrap();
    let (collector, log) = tokio::task::block_in_place(|| start_collector_logged(&config));
    kill(Pid::from_raw(collector.id() as i32), Signal::SIGHUP).unwrap();
    let reloaded = async || log.lock().unwrap().iter().any(|line| line.contains("Reloaded the configuration"));
    wait::until(Duration::from_secs(10), "the reload logged", reloaded).await;
    let lines = json_lines(&log.lock().unwrap());
    let line = lines.iter().find(|line| line["message"].as_str().is_some_and(|m| m.starts_with("Reloaded"))).unwrap();
    assert_eq!(line["level"], "INFO", "{line}");
    assert!(line["checks"].is_number(), "the event's fields at the top level: {line}");
}
