//! Agent benchmark: the real `slaprobe-agent` binary as users run it, next to prometheus-blackbox-exporter
//! probing the same loopback targets at the same paced rate, measured in the same run. Run it as
//! `docs/benchmarks.md` says; it prints a small report.
//!
//! 1. Standalone, HTTP: N checks at 1 s (default 1,000) against an in-process HTTP server, JSON lines out,
//!    measured over a window after a warm-up, with one and with two worker threads. CPU from `/proc/PID/stat`
//!    of the agent process only.
//! 2. Standalone, HTTPS: the same against an HTTPS server (a throwaway CA the checks trust): a TLS handshake per
//!    probe.
//! 3. Collector mode: the same checks pushed by a real `slaprobe-collector serve` (SQLite store); the agent
//!    spools every result (fsync) and streams it over gRPC; figures from the results stored in the window, the
//!    collector's CPU per result beside them, and what signing adds per probe (the chain value of each of the
//!    window's results and a checkpoint signature, timed in this process).
//! 4. Memory: 10,000 HTTP checks at 60 s for a full interval (every check probed once); peak RSS (`VmHWM`).
//! 5. Baselines: blackbox_exporter's `/probe` driven at the standalone runs' rate (paced, as Prometheus scrapes
//!    N targets each interval), HTTP and HTTPS; the ratio of CPU per probe.
//! 6. Timing: how much the probe's `ttfb` adds to the time the server held the request.
//! 7. The other kinds: TLS handshakes, gRPC health calls and ICMP echoes, each next to blackbox_exporter's
//!    matching module (`--kinds-only` runs just this part).
//! 8. The floor: `ab` against nginx, a fresh connection per request, next to the agent probing the same nginx
//!    (`--floor-only` runs just this part).

mod agent_runs;
mod blackbox;
mod evidence;
mod floor;
mod kinds;
mod process;
mod ttfb;

use agent_runs::{Figures, Target};
use slaprobe_tests::certs::CaFile;
use slaprobe_tests::http_server::HttpServer;

struct Options {
    kinds_only: bool,
    floor_only: bool,
    memory_only: bool,
    memory_interval: String,
    kind_checks: usize,
    checks: usize,
    seconds: u64,
    memory_checks: usize,
    memory_seconds: u64,
}

fn options() -> Options {
    let mut options = Options {
        kinds_only: false,
        floor_only: false,
        memory_only: false,
        memory_interval: "60s".to_owned(),
        kind_checks: 200,
        checks: 1000,
        seconds: 20,
        memory_checks: 10_000,
        memory_seconds: 60,
    };
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    for (flag, set) in [
        ("--kinds-only", &mut options.kinds_only),
        ("--floor-only", &mut options.floor_only),
        ("--memory-only", &mut options.memory_only),
    ] {
        if let Some(position) = args.iter().position(|arg| arg == flag) {
            *set = true;
            args.remove(position);
        }
    }
    if let Some(position) = args.iter().position(|arg| arg == "--memory-interval") {
        args.remove(position);
        options.memory_interval = if position < args.len() { args.remove(position) } else { usage() };
    }
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|value| value.parse::<u64>().ok()).unwrap_or_else(|| usage());
        match pair[0].as_str() {
            "--checks" => options.checks = value as usize,
            "--seconds" => options.seconds = value,
            "--memory-checks" => options.memory_checks = value as usize,
            "--memory-seconds" => options.memory_seconds = value,
            "--kind-checks" => options.kind_checks = value as usize,
            _ => usage(),
        }
    }
    options
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-agent [--checks N] [--seconds S] [--memory-checks N] [--memory-seconds S] \
         [--memory-interval 5m] [--kind-checks N] [--kinds-only] [--floor-only] [--memory-only]"
    );
    std::process::exit(64)
}

/// Measures blackbox_exporter at the agent's rate and prints both sides and the ratio.
async fn compare(
    dir: &std::path::Path,
    label: &str,
    target: &str,
    ca_file: Option<&std::path::Path>,
    agent: &Figures,
    seconds: u64,
) {
    let rate = agent.probes_per_second.round() as usize;
    match blackbox::measure(dir, target, ca_file, rate, seconds).await {
        Some(baseline) => {
            println!(
                "prometheus-blackbox-exporter, {label} (baseline: /probe paced at {rate}/s, 16 keep-alive clients)"
            );
            println!("  probes                 {:>10}", baseline.probes);
            println!("  probes/s               {:>10.1}", baseline.probes_per_second);
            println!("  CPU ms per probe       {:>10.4}", baseline.cpu_ms_per_probe);
            println!(
                "  {label}: slaprobe-agent {:.4} ms vs blackbox_exporter {:.4} ms per probe: {:.1}x less CPU",
                agent.cpu_ms_per_probe,
                baseline.cpu_ms_per_probe,
                baseline.cpu_ms_per_probe / agent.cpu_ms_per_probe
            );
        }
        None => println!("prometheus-blackbox-exporter, {label}: not measured (not installed)"),
    }
}

/// Runs the agent with `--memory-checks` HTTP checks of their own URLs and prints its peak RSS.
async fn memory(dir: &std::path::Path, http: &Target, options: &Options) {
    let (memory_checks, memory_interval) = (options.memory_checks, &options.memory_interval);
    let (peak, probes) = agent_runs::memory(dir, http, memory_checks, memory_interval, options.memory_seconds).await;
    println!(
        "slaprobe-agent: {memory_checks} HTTP checks at {memory_interval} for {} s ({probes} probes): peak RSS MB \
         {peak:.1}   (target <= 40 for 10,000 at 60s, <= 96 for 100,000 at 5m)",
        options.memory_seconds
    );
}

#[tokio::main]
async fn main() {
    let options = options();
    let dir = tempfile::tempdir().expect("temp dir");
    if options.kinds_only || options.floor_only {
        if options.kinds_only {
            kinds::compare(dir.path(), options.kind_checks, options.seconds).await;
        }
        if options.floor_only {
            floor::compare(dir.path(), options.checks, options.seconds).await;
        }
        return;
    }
    let (checks, seconds) = (options.checks, options.seconds);
    let server = HttpServer::start().await;
    let http = Target { url: server.url("/"), http: None };
    if options.memory_only {
        memory(dir.path(), &http, &options).await;
        return;
    }
    let ca = CaFile::new();
    let tls_server = HttpServer::start_tls(ca.ca.server_cert(-1, 90).server_config(&[b"http/1.1"])).await;
    let https = Target { url: tls_server.url("/"), http: Some(format!("{{ ca_file: \"{}\" }}", ca.path.display())) };
    println!(
        "targets: in-process HTTP server at {} and HTTPS server at {} (fresh connection per probe)",
        http.url, https.url
    );

    let title = |what: &str, threads: usize| {
        format!("slaprobe-agent, {what}: {checks} checks at 1s, worker_threads: {threads}, measured for {seconds} s")
    };
    let plain = agent_runs::standalone(dir.path(), &http, checks, seconds, 1).await;
    plain.print(&title("standalone HTTP", 1));
    agent_runs::standalone(dir.path(), &http, checks, seconds, 2).await.print(&title("standalone HTTP", 2));
    let tls = agent_runs::standalone(dir.path(), &https, checks, seconds, 1).await;
    tls.print(&title("standalone HTTPS", 1));
    let (streamed, collector_ms, records) = agent_runs::collector_mode(dir.path(), &http, checks, seconds).await;
    streamed.print(&title("collector mode HTTP (spool with fsync, gRPC to a collector, SQLite)", 1));
    println!("  collector CPU ms per stored result {collector_ms:.4}");
    let (chain_ms, sign_ms) = evidence::cost(&records);
    let signing_ms = chain_ms + sign_ms / 1000.0;
    println!(
        "  signing: chain {chain_ms:.4} ms per result + checkpoint {sign_ms:.4} ms per 1,000 results (timed here on the window's results)"
    );
    println!(
        "  CPU per probe with signing / without  {:>8.1} %   (target < 110 %)",
        100.0 * streamed.cpu_ms_per_probe / (streamed.cpu_ms_per_probe - signing_ms)
    );

    let (without, with) = agent_runs::standalone_confirm(dir.path(), &http, checks, seconds).await;
    without.print(&format!("slaprobe-agent, standalone HTTP: {checks} checks at 2s, measured for {seconds} s"));
    with.print(&format!(
        "slaprobe-agent, standalone HTTP: the same with confirm: {{ after: 1s }} (no failures), \
         measured for {seconds} s"
    ));
    println!(
        "  CPU per probe with confirm / without  {:>8.1} %   (target <= 105 %)",
        100.0 * with.cpu_ms_per_probe / without.cpu_ms_per_probe
    );

    memory(dir.path(), &http, &options).await;

    compare(dir.path(), "HTTP", &http.url, None, &plain, seconds).await;
    compare(dir.path(), "HTTPS", &https.url, Some(&ca.path), &tls, seconds).await;

    let (p50, p99, max) = ttfb::overhead(500).await;
    println!(
        "ttfb minus the server's own time, 500 sequential probes: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms"
    );
    kinds::compare(dir.path(), options.kind_checks, seconds).await;
    floor::compare(dir.path(), checks, seconds).await;
}
