//! What the benchmarks read about a process from `/proc`: CPU time used so far and peak resident memory, of a
//! running process or of a command run to its end.

use nix::unistd::{SysconfVar, sysconf};

/// CPU seconds (user + system) process `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    let after_name = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
    ticks as f64 / per_second
}

/// Peak resident set size of process `pid` in MB (`VmHWM`).
pub fn peak_rss_mb(pid: u32) -> f64 {
    status_mb(&pid.to_string(), "VmHWM:").expect("VmHWM of a running process")
}

/// Resident set size of this process now, in MB (`VmRSS`).
pub fn own_rss_mb() -> f64 {
    status_mb("self", "VmRSS:").expect("VmRSS of this process")
}

/// A `kB` field of `/proc/PID/status` in MB; `None` once the process is gone (or has exited and holds no memory).
fn status_mb(pid: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs `command` to its end, asserting success: its wall time, its peak resident memory in MB (read from
/// `/proc` every 2 ms while it runs: a peak shorter than that could be missed) and its standard output.
pub fn run_measured(command: &mut std::process::Command) -> (std::time::Duration, f64, Vec<u8>) {
    use std::io::Read;
    let started = std::time::Instant::now();
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the command");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut output = Vec::new();
        stdout.read_to_end(&mut output).expect("read the output");
        output
    });
    let pid = child.id().to_string();
    let mut peak: f64 = 0.0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            break status;
        }
        if let Some(now) = status_mb(&pid, "VmHWM:") {
            peak = peak.max(now);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let elapsed = started.elapsed();
    assert!(status.success(), "the command failed: {status}");
    (elapsed, peak, reader.join().expect("the output reader"))
}
