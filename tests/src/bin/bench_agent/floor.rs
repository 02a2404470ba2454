//! The floor for an HTTP probe's CPU: `ab` (ApacheBench, Debian's `apache2-utils`) making the same plain GETs on a
//! fresh connection each (no `-k`), one at a time, against nginx (Debian's `nginx` or `nginx-light`) on loopback;
//! next to it, the agent probing the same nginx at 1 s per check. Neither side counts nginx's own CPU. On a small
//! virtual machine a single run of either moves by ±15 % (where the scheduler puts nginx against the client), so
//! the two alternate three times and their medians are compared.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use slaprobe_tests::ports::free_addr;
use slaprobe_tests::process_stats::cpu_seconds;

use crate::agent_runs::{Target, standalone};

const NGINX: &str = "/usr/sbin/nginx";
const AB: &str = "/usr/bin/ab";
/// ab and the agent are measured this many times, alternating, so that the machine's drift falls on both.
const ROUNDS: usize = 3;

/// Measures `ab` and the agent (`checks` checks at 1 s for `seconds`) against nginx and prints both and the ratio.
pub async fn compare(dir: &Path, checks: usize, seconds: u64) {
    if !Path::new(NGINX).exists() || !Path::new(AB).exists() {
        println!("ab floor: not measured (apt-get install nginx-light apache2-utils)");
        return;
    }
    let address = free_addr();
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let config = prefix.join("nginx.conf");
    std::fs::write(
        &config,
        format!(
            "worker_processes 1;\ndaemon off;\npid {0}/nginx.pid;\nerror_log {0}/logs/error.log;\n\
             events {{ worker_connections 4096; }}\nhttp {{ access_log off; server {{ listen {address}; \
             location / {{ return 200 \"ok\\n\"; }} }} }}\n",
            prefix.display()
        ),
    )
    .unwrap();
    let mut nginx = Command::new(NGINX)
        .arg("-c")
        .arg(&config)
        .arg("-p")
        .arg(&prefix)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let url = format!("http://{address}/");
    let requests = 20_000;
    println!("floor: ab -n {requests} -c 1 (a fresh connection per request) against nginx at {url}");
    println!(
        "  the agent: {checks} checks at 1s for {seconds} s; {ROUNDS} rounds, one after the other, medians compared"
    );
    let (mut ab, mut agent) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let ab_ms = ab_cpu_ms_per_request(&url, requests);
        let run = standalone(dir, &Target { url: url.clone(), http: None }, checks, seconds, 1).await;
        println!(
            "  round {round}: ab {ab_ms:.4} ms per request, agent {:.4} ms per probe ({} probes, {} failed)",
            run.cpu_ms_per_probe, run.probes, run.failed
        );
        ab.push(ab_ms);
        agent.push(run.cpu_ms_per_probe);
    }
    crate::process::stop(&mut nginx);
    let (ab_ms, agent_ms) = (median(&mut ab), median(&mut agent));
    println!("  ab CPU ms per request (median)           {ab_ms:>8.4}");
    println!("  slaprobe-agent CPU ms per probe (median) {agent_ms:>8.4}");
    println!("  agent / ab                               {:>8.2}x   (target <= 1.6)", agent_ms / ab_ms);
}

fn median(figures: &mut [f64]) -> f64 {
    figures.sort_by(f64::total_cmp);
    figures[figures.len() / 2]
}

/// `ab`'s own CPU per request, read from `/proc` once it has exited and before it is reaped.
fn ab_cpu_ms_per_request(url: &str, requests: usize) -> f64 {
    let mut ab = Command::new(AB)
        .args(["-q", "-n", &requests.to_string(), "-c", "1", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ab");
    let pid = ab.id();
    let mut used = 0.0;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rfind(')').and_then(|end| stat[end + 2..].chars().next());
        if stat.is_empty() || state == Some('Z') {
            if !stat.is_empty() {
                used = cpu_seconds(pid);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ab.wait().expect("ab exits").success(), "ab failed");
    used * 1000.0 / requests as f64
}
