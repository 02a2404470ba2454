//! Driving the collector binary: `serve` as a child process, and one-shot commands.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::agent::collector_binary;

/// Starts `slaprobe-collector serve --config CONFIG` and returns once it logs that it serves; its log keeps
/// being drained so it never blocks on a full pipe.
pub fn start_collector(config: &Path) -> Child {
    start_collector_logged(config).0
}

/// Like [`start_collector`], also returning the collector's log lines as they come.
pub fn start_collector_logged(config: &Path) -> (Child, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(collector_binary())
        .args(["serve", "--config", config.to_str().expect("UTF-8 path")])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start slaprobe-collector");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.expect("collector log");
        if line.contains("Serving gRPC ingest.") {
            break;
        }
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().expect("log lock").push(line);
        }
    });
    (child, log)
}

/// Runs a one-shot `slaprobe-collector` command, asserting success; returns its standard output.
#[track_caller]
pub fn run_collector(args: &[&str]) -> String {
    let output = Command::new(collector_binary()).args(args).stdin(Stdio::null()).output().expect("run collector");
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8 output")
}
