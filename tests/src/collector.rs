//! Driving the collector binary: `serve` as a child process, and one-shot commands.

use std::io::{BufRead, BufReader};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::agent::collector_binary;

/// Starts `slaprobe-collector serve --config CONFIG` and returns once it logs that it serves; its log keeps
/// being drained so it never blocks on a full pipe.
pub fn start_collector(config: &Path) -> CollectorProcess {
    start_collector_logged(config).0
}

/// A running collector; killed (SIGKILL) when dropped, so a failing test leaves no process behind.
pub struct CollectorProcess(Child);

impl Deref for CollectorProcess {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for CollectorProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Like [`start_collector`], also returning the collector's log lines as they come.
pub fn start_collector_logged(config: &Path) -> (CollectorProcess, Arc<Mutex<Vec<String>>>) {
    start_collector_with_env(config, &[])
}

/// Like [`start_collector_logged`], with `environment` variables set for the collector (`SSL_CERT_FILE`, say).
pub fn start_collector_with_env(
    config: &Path,
    environment: &[(&str, &str)],
) -> (CollectorProcess, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(collector_binary())
        .args(["serve", "--config", config.to_str().expect("UTF-8 path")])
        .envs(environment.iter().copied())
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start slaprobe-collector");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut early = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("Serving gRPC ingest.") => break,
            Some(Ok(line)) => early.push(line),
            Some(Err(_)) | None => panic!("slaprobe-collector did not start serving:\n{}", early.join("\n")),
        }
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().expect("log lock").push(line);
        }
    });
    (CollectorProcess(child), log)
}

/// Runs a one-shot `slaprobe-collector` command, asserting success; returns its standard output.
#[track_caller]
pub fn run_collector(args: &[&str]) -> String {
    let output = Command::new(collector_binary()).args(args).stdin(Stdio::null()).output().expect("run collector");
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// A `contracts:` document with one contract, `web` on check `web` (99.9 %, 10 % credit below it, 30 % below
/// 99.0 %), with the YAML lines `terms` (indented by four spaces) added to its terms.
pub fn web_contract(terms: &str) -> String {
    format!(
        "contracts:\n  - id: web\n    vendor: Loopback Inc.\n    service: Web\n    checks: [web]\n    objective: 99.9\n\
         {terms}    credits: {{ fee: 500, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }}, {{ below: 99.0, credit: 30 }} ] }}\n"
    )
}

/// Writes `contracts` as `contracts.yaml` and a `collector.yaml` that stores in `slaprobe.db` beside it (keeping
/// results and rollups for a century, so fixed past dates stay inside retention) and listens for gRPC on a free
/// loopback port; returns the `collector.yaml` path.
pub fn store_config(dir: &Path, contracts: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("contracts.yaml"), contracts).expect("write contracts.yaml");
    let config = dir.join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             retention: {{ results: 36500d, rollups: 36500d }}\ncontracts_file: contracts.yaml\n",
            crate::ports::free_addr()
        ),
    )
    .expect("write collector.yaml");
    config
}
