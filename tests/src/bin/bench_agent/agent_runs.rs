//! The agent measured as users run it: standalone, writing JSON lines (HTTP or HTTPS targets), and in collector
//! mode: its spool written and fsynced, streamed over gRPC to a real `slaprobe-collector serve` process storing
//! into SQLite, with the checks pushed by the collector.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::agent_binary;
use slaprobe_tests::collector::start_collector;

use slaprobe_tests::ports::free_addr;
use slaprobe_tests::process_stats::{cpu_seconds, peak_rss_mb};

use crate::process::{percentile, stop};

/// What one measured window of probing showed.
pub struct Figures {
    pub probes: usize,
    pub probes_per_second: f64,
    pub cpu_ms_per_probe: f64,
    pub peak_rss_mb: f64,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub failed: usize,
}

impl Figures {
    fn of(records: &[ResultRecord], cpu_seconds: f64, elapsed_seconds: f64, peak_rss_mb: f64) -> Self {
        let mut lags: Vec<f64> = records
            .iter()
            .filter_map(|record| {
                let scheduled = record.scheduled_at?;
                Some((record.started_at.as_nanosecond() - scheduled.as_nanosecond()) as f64 / 1e6)
            })
            .collect();
        lags.sort_by(f64::total_cmp);
        let probes = records.len();
        Self {
            probes,
            probes_per_second: probes as f64 / elapsed_seconds,
            cpu_ms_per_probe: cpu_seconds * 1000.0 / probes.max(1) as f64,
            peak_rss_mb,
            lag_p50_ms: percentile(&lags, 0.50),
            lag_p99_ms: percentile(&lags, 0.99),
            failed: records.iter().filter(|record| !record.ok).count(),
        }
    }

    /// Prints the figures under `title`, with the HTTP probe's CPU target.
    pub fn print(&self, title: &str) {
        self.print_against(title, "   (target <= 0.15)");
    }

    /// Prints the figures under `title`; `cpu_target` follows the CPU figure.
    pub fn print_against(&self, title: &str, cpu_target: &str) {
        println!("{title}");
        println!("  probes in the window   {:>10}", self.probes);
        println!("  probes/s               {:>10.1}", self.probes_per_second);
        println!("  CPU ms per probe       {:>10.4}{cpu_target}", self.cpu_ms_per_probe);
        println!("  peak RSS MB            {:>10.1}", self.peak_rss_mb);
        println!("  lag p50 / p99 ms       {:>10.3} / {:.3}   (target p99 <= 10)", self.lag_p50_ms, self.lag_p99_ms);
        println!("  failed probes          {:>10}", self.failed);
    }
}

/// What the checks probe: a URL, and the check's `http:` settings, if any.
pub struct Target {
    pub url: String,
    pub http: Option<String>,
}

/// `count` HTTP checks of `target`, one YAML list item per line, indented by `indent`.
fn checks_yaml(count: usize, target: &Target, interval: &str, indent: &str) -> String {
    checks_yaml_with(count, target, interval, indent, "")
}

/// [`checks_yaml`] with `extra` (`, confirm: …`) added to each check.
fn checks_yaml_with(count: usize, target: &Target, interval: &str, indent: &str, extra: &str) -> String {
    checks_yaml_of(count, |_| target.url.clone(), target, interval, indent, extra)
}

/// [`checks_yaml_with`], check `index` probing `url_of(index)`.
fn checks_yaml_of(
    count: usize,
    url_of: impl Fn(usize) -> String,
    target: &Target,
    interval: &str,
    indent: &str,
    extra: &str,
) -> String {
    let timeout = if interval == "1s" {
        "800ms"
    } else if interval == "2s" {
        "900ms"
    } else {
        "10s"
    };
    let http = target.http.as_ref().map(|http| format!(", http: {http}")).unwrap_or_default();
    (0..count)
        .map(|index| {
            format!(
                "{indent}- {{ id: web-{index}, kind: http, target: \"{}\", interval: {interval}, timeout: {timeout}{http}{extra} }}\n",
                url_of(index)
            )
        })
        .collect()
}

fn start_agent(config: &Path, output: Option<&Path>) -> Child {
    let mut command = Command::new(agent_binary());
    command.arg("--config").arg(config);
    if let Some(output) = output {
        command.arg("--output").arg(format!("jsonl:{}", output.display()));
    }
    command.env("SLAPROBE_LOG", "warn").stdin(Stdio::null()).spawn().expect("start slaprobe-agent")
}

/// Reads the result lines appended to `path` since `offset`; returns them and the new offset.
fn read_new_results(path: &Path, offset: u64) -> (Vec<ResultRecord>, u64) {
    let Ok(mut file) = std::fs::File::open(path) else { return (Vec::new(), offset) };
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

fn write(path: PathBuf, text: &str) -> PathBuf {
    std::fs::write(&path, text).expect("write config");
    path
}

/// The agent alone: `checks` checks of `target` at 1 s, JSON lines out, measured for `seconds` after a warm-up.
pub async fn standalone(dir: &Path, target: &Target, checks: usize, seconds: u64, threads: usize) -> Figures {
    let name = format!("standalone-{checks}-{threads}-{}", target.url.split(':').next().unwrap_or("http"));
    let yaml = format!(
        "agent_id: bench\nregion: bench\nworker_threads: {threads}\nchecks:\n{}",
        checks_yaml(checks, target, "1s", "  ")
    );
    measure_standalone(dir, &name, &yaml, seconds).await
}

/// The agent alone with `checks` checks of `target` at 2 s that never fail, without and with `confirm: { after:
/// 1s }`: what a confirmation costs a check that does not need one.
pub async fn standalone_confirm(dir: &Path, target: &Target, checks: usize, seconds: u64) -> (Figures, Figures) {
    let yaml = |extra: &str| {
        format!("agent_id: bench\nregion: bench\nchecks:\n{}", checks_yaml_with(checks, target, "2s", "  ", extra))
    };
    let without = measure_standalone(dir, "confirm-without", &yaml(""), seconds).await;
    let with = measure_standalone(dir, "confirm-with", &yaml(", confirm: { after: 1s }"), seconds).await;
    (without, with)
}

/// Runs the agent alone with the configuration `yaml`, JSON lines out, and measures it for `seconds` after a
/// warm-up.
pub async fn measure_standalone(dir: &Path, name: &str, yaml: &str, seconds: u64) -> Figures {
    let config = write(dir.join(format!("{name}.yaml")), yaml);
    let output = dir.join(format!("{name}.jsonl"));
    let mut agent = start_agent(&config, Some(&output));
    let pid = agent.id();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, offset) = read_new_results(&output, 0);
    let (cpu_start, wall_start) = (cpu_seconds(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (cpu_end, elapsed) = (cpu_seconds(pid), wall_start.elapsed().as_secs_f64());
    let peak = peak_rss_mb(pid);
    // The lines written during the CPU window (the writer flushes whenever it catches up).
    let (records, _) = read_new_results(&output, offset);
    stop(&mut agent);
    Figures::of(&records, cpu_end - cpu_start, elapsed, peak)
}

/// Peak RSS of the agent with `checks` checks at `interval`, run for `seconds`; and how many probes it made.
pub async fn memory(dir: &Path, target: &Target, checks: usize, interval: &str, seconds: u64) -> (f64, usize) {
    let config = write(
        dir.join("memory.yaml"),
        // Each check its own URL, as in a real fleet (a URL each is what checks that differ only in target cost).
        &format!(
            "agent_id: bench\nregion: bench\nchecks:\n{}",
            checks_yaml_of(checks, |index| format!("{}?check=web-{index}", target.url), target, interval, "  ", "")
        ),
    );
    let output = dir.join("memory.jsonl");
    let mut agent = start_agent(&config, Some(&output));
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let peak = peak_rss_mb(agent.id());
    stop(&mut agent);
    (peak, read_new_results(&output, 0).0.len())
}

/// The agent streaming to a collector: figures of the agent, the collector's CPU ms per stored result, and the
/// results stored in the window.
pub async fn collector_mode(
    dir: &Path,
    target: &Target,
    checks: usize,
    seconds: u64,
) -> (Figures, f64, Vec<ResultRecord>) {
    let dir = dir.join("collector-mode");
    std::fs::create_dir_all(&dir).unwrap();
    let grpc = free_addr();
    let config = write(
        dir.join("collector.yaml"),
        &format!(
            "listen: {{ grpc: \"{grpc}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             agents:\n  - {{ id: bench, region: bench, token_sha256: \"{}\" }}\nchecks:\n{}",
            token_hash("bench-token"),
            checks_yaml(checks, target, "1s", "  ")
        ),
    );
    let collector = tokio::task::block_in_place(|| start_collector(&config));
    let agent_config = write(
        dir.join("agent.yaml"),
        &format!(
            "agent_id: bench\nregion: bench\ncollector: \"http://{grpc}\"\ntoken: bench-token\nspool_dir: \"{}\"\n",
            dir.join("spool").display()
        ),
    );
    let mut agent = start_agent(&agent_config, None);
    let store = Store::open_sqlite(&dir.join("slaprobe.db")).expect("open the collector's store");
    let ids: Vec<String> = (0..checks).map(|index| format!("web-{index}")).collect();
    let stored = async |from: Timestamp, to: Timestamp| store.results_between(&ids, from, to).await.unwrap();
    let warm = Instant::now();
    while stored(Timestamp::UNIX_EPOCH, Timestamp::now()).await.len() < checks {
        assert!(warm.elapsed() < Duration::from_secs(60), "no results reached the collector");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (agent_pid, collector_pid) = (agent.id(), collector.id());
    let (agent_cpu, collector_cpu) = (cpu_seconds(agent_pid), cpu_seconds(collector_pid));
    let (from, wall_start) = (Timestamp::now(), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (agent_used, collector_used) = (cpu_seconds(agent_pid) - agent_cpu, cpu_seconds(collector_pid) - collector_cpu);
    let (to, elapsed) = (Timestamp::now(), wall_start.elapsed().as_secs_f64());
    let peak = peak_rss_mb(agent_pid);
    // Results of the window still on their way (spool, uplink, commit) land within a few seconds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let records = stored(from, to).await;
    stop(&mut agent);
    drop(collector);
    let collector_ms_per_result = collector_used * 1000.0 / records.len().max(1) as f64;
    (Figures::of(&records, agent_used, elapsed, peak), collector_ms_per_result, records)
}
