//! Agent benchmark: CPU per HTTP probe, probes/s, peak RSS and scheduling lag of the real `slaprobe-agent`
//! binary, next to prometheus-blackbox-exporter's CPU per probe against the same loopback target, measured in
//! the same run. Run it as `docs/benchmarks.md` says; it prints a small report.
//!
//! 1. Throughput: N HTTP checks at 1 s (default 1,000) against an in-process HTTP server, measured over a window
//!    after a warm-up. CPU comes from `/proc/PID/stat` of the agent process only.
//! 2. Memory: 10,000 HTTP checks at 60 s for a full interval (every check probed once); peak RSS (`VmHWM`).
//! 3. Baseline: blackbox_exporter's `/probe` endpoint driven for as many probes as step 1 measured, CPU from
//!    `/proc` of the exporter process.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, SysconfVar, sysconf};
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::agent_binary;
use slaprobe_tests::http_server::HttpServer;
use tokio::net::TcpStream;

struct Options {
    checks: usize,
    seconds: u64,
    memory_checks: usize,
    memory_seconds: u64,
}

fn options() -> Options {
    let mut options = Options { checks: 1000, seconds: 20, memory_checks: 10_000, memory_seconds: 60 };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|value| value.parse::<u64>().ok()).unwrap_or_else(|| usage());
        match pair[0].as_str() {
            "--checks" => options.checks = value as usize,
            "--seconds" => options.seconds = value,
            "--memory-checks" => options.memory_checks = value as usize,
            "--memory-seconds" => options.memory_seconds = value,
            _ => usage(),
        }
    }
    options
}

fn usage() -> ! {
    eprintln!("usage: bench-agent [--checks N] [--seconds S] [--memory-checks N] [--memory-seconds S]");
    std::process::exit(64)
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    let after_name = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
    ticks as f64 / per_second
}

/// Peak resident set size in MB (`VmHWM`).
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).expect("VmHWM");
    let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024.0
}

fn write_config(dir: &Path, checks: usize, url: &str, interval: &str, threads: usize) -> std::path::PathBuf {
    let timeout = if interval == "1s" { "800ms" } else { "10s" };
    let mut config = format!("agent_id: bench\nregion: bench\nworker_threads: {threads}\nchecks:\n");
    for index in 0..checks {
        config.push_str(&format!(
            "  - {{ id: web-{index}, kind: http, target: \"{url}\", interval: {interval}, timeout: {timeout} }}\n"
        ));
    }
    let path = dir.join(format!("agent-{checks}-{threads}.yaml"));
    std::fs::write(&path, config).expect("write config");
    path
}

fn start_agent(config: &Path, output: &Path) -> Child {
    Command::new(agent_binary())
        .arg("--config")
        .arg(config)
        .arg("--output")
        .arg(format!("jsonl:{}", output.display()))
        .env("SLAPROBE_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .expect("start slaprobe-agent")
}

fn stop(child: &mut Child) {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let _ = child.wait();
}

/// Reads the result lines appended to `path` since `offset`; returns them and the new offset.
fn read_new_results(path: &Path, offset: u64) -> (Vec<ResultRecord>, u64) {
    let mut file = std::fs::File::open(path).expect("open results");
    file.seek(SeekFrom::Start(offset)).unwrap();
    let mut reader = BufReader::new(file);
    let mut records = Vec::new();
    let mut consumed = offset;
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if !line.ends_with('\n') {
            break;
        }
        consumed += line.len() as u64;
        records.push(serde_json::from_str(&line).expect("result line"));
        line.clear();
    }
    (records, consumed)
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

struct AgentFigures {
    probes: usize,
    probes_per_second: f64,
    cpu_ms_per_probe: f64,
    peak_rss_mb: f64,
    lag_p50_ms: f64,
    lag_p99_ms: f64,
    failed: usize,
}

async fn measure_agent(dir: &Path, url: &str, options: &Options, threads: usize) -> AgentFigures {
    let config = write_config(dir, options.checks, url, "1s", threads);
    let output = dir.join(format!("results-{threads}.jsonl"));
    let mut agent = start_agent(&config, &output);
    let pid = agent.id();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, offset) = read_new_results(&output, 0);
    let (cpu_start, wall_start) = (cpu_seconds(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    let (cpu_end, elapsed) = (cpu_seconds(pid), wall_start.elapsed().as_secs_f64());
    let peak_rss_mb = peak_rss_mb(pid);
    // The lines written during the CPU window (the writer flushes whenever it catches up).
    let (records, _) = read_new_results(&output, offset);
    stop(&mut agent);
    let mut lags: Vec<f64> = records
        .iter()
        .filter_map(|record| {
            let scheduled = record.scheduled_at?;
            Some((record.started_at.as_nanosecond() - scheduled.as_nanosecond()) as f64 / 1e6)
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    let probes = records.len();
    AgentFigures {
        probes,
        probes_per_second: probes as f64 / elapsed,
        cpu_ms_per_probe: (cpu_end - cpu_start) * 1000.0 / probes as f64,
        peak_rss_mb,
        lag_p50_ms: percentile(&lags, 0.50),
        lag_p99_ms: percentile(&lags, 0.99),
        failed: records.iter().filter(|record| !record.ok).count(),
    }
}

async fn measure_agent_memory(dir: &Path, url: &str, options: &Options) -> (f64, usize) {
    let config = write_config(dir, options.memory_checks, url, "60s", 1);
    let output = dir.join("results-memory.jsonl");
    let mut agent = start_agent(&config, &output);
    tokio::time::sleep(Duration::from_secs(options.memory_seconds)).await;
    let peak = peak_rss_mb(agent.id());
    stop(&mut agent);
    (peak, read_new_results(&output, 0).0.len())
}

async fn measure_blackbox(dir: &Path, target: &str, probes: usize) -> Option<(f64, f64)> {
    let binary = "/usr/bin/prometheus-blackbox-exporter";
    if !Path::new(binary).exists() {
        eprintln!("prometheus-blackbox-exporter is not installed: apt-get install prometheus-blackbox-exporter");
        return None;
    }
    let config = dir.join("blackbox.yml");
    std::fs::write(
        &config,
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut exporter = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start blackbox_exporter");
    let address = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if TcpStream::connect(&address).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let path = format!("/probe?module=http_2xx&target={target}");
    // Warm up, then measure.
    drive_probes(&address, &path, 200).await;
    let pid = exporter.id();
    let (cpu_start, wall_start) = (cpu_seconds(pid), Instant::now());
    let succeeded = drive_probes(&address, &path, probes).await;
    let (cpu_end, elapsed) = (cpu_seconds(pid), wall_start.elapsed().as_secs_f64());
    stop(&mut exporter);
    assert_eq!(succeeded, probes, "every blackbox probe must succeed");
    Some(((cpu_end - cpu_start) * 1000.0 / probes as f64, probes as f64 / elapsed))
}

/// Sends `count` GETs for `path` over 16 keep-alive connections; returns how many reported `probe_success 1`.
async fn drive_probes(address: &str, path: &str, count: usize) -> usize {
    let workers = 16;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let share = count / workers + usize::from(worker < count % workers);
        let (address, path) = (address.to_owned(), path.to_owned());
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(&address).await.expect("connect to exporter");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(connection);
            let mut ok = 0;
            for _ in 0..share {
                let request = http::Request::get(&path).header("host", &address).body(Empty::<Bytes>::new()).unwrap();
                let response = sender.send_request(request).await.expect("probe request");
                let body = response.into_body().collect().await.expect("probe body").to_bytes();
                ok += usize::from(body.windows(15).any(|window| window == b"probe_success 1"));
            }
            ok
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total
}

fn report_agent(agent: &AgentFigures, options: &Options, threads: usize) {
    println!(
        "slaprobe-agent: {} HTTP checks at 1s, worker_threads: {threads}, measured for {} s",
        options.checks, options.seconds
    );
    println!("  probes/s               {:>10.1}", agent.probes_per_second);
    println!("  CPU ms per probe       {:>10.4}   (target <= 0.15)", agent.cpu_ms_per_probe);
    println!("  peak RSS MB            {:>10.1}", agent.peak_rss_mb);
    println!("  lag p50 / p99 ms       {:>10.3} / {:.3}   (target p99 <= 10)", agent.lag_p50_ms, agent.lag_p99_ms);
    println!("  failed probes          {:>10}", agent.failed);
}

#[tokio::main]
async fn main() {
    let options = options();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = HttpServer::start().await;
    let url = server.url("/");
    println!("target: in-process HTTP server at {url} (plain HTTP, fresh connection per probe)");

    let agent = measure_agent(dir.path(), &url, &options, 1).await;
    report_agent(&agent, &options, 1);
    let two_threads = measure_agent(dir.path(), &url, &options, 2).await;
    report_agent(&two_threads, &options, 2);

    let (memory_peak, memory_probes) = measure_agent_memory(dir.path(), &url, &options).await;
    println!(
        "slaprobe-agent: {} HTTP checks at 60s for {} s ({} probes): peak RSS MB {:.1}   (target <= 40)",
        options.memory_checks, options.memory_seconds, memory_probes, memory_peak
    );

    match measure_blackbox(dir.path(), &url, agent.probes).await {
        Some((cpu_ms, rate)) => {
            println!("prometheus-blackbox-exporter (baseline, same target, /probe driven by 16 keep-alive clients)");
            println!("  probes                 {:>10}", agent.probes);
            println!("  probes/s               {:>10.1}", rate);
            println!("  CPU ms per probe       {:>10.4}", cpu_ms);
            println!(
                "slaprobe-agent uses {:.1}x less CPU per probe than blackbox_exporter",
                cpu_ms / agent.cpu_ms_per_probe
            );
        }
        None => println!("prometheus-blackbox-exporter: not measured (not installed)"),
    }
}
