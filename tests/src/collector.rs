//! Driving the collector binary: `serve` as a child process, and one-shot commands.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::agent::collector_binary;

/// Starts `slaprobe-collector serve --config CONFIG` and returns once it logs that it serves; its log keeps
/// being drained so it never blocks on a full pipe.
pub fn start_collector(config: &Path) -> Child {
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
    std::thread::spawn(move || lines.for_each(drop));
    child
}

/// Runs a one-shot `slaprobe-collector` command, asserting success; returns its standard output.
#[track_caller]
pub fn run_collector(args: &[&str]) -> String {
    let output = Command::new(collector_binary()).args(args).stdin(Stdio::null()).output().expect("run collector");
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8 output")
}
