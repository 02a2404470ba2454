//! Ingest end to end as deployed: agent processes probing a loopback HTTP server every second and streaming over
//! gRPC with TLS (a throwaway CA) to a `slaprobe-collector serve` process with a SQLite store. The collector
//! starts only after the agents have probed for a while, so each agent's spool holds a backlog and keeps filling
//! while it drains. Measured: per agent, when its session began (after its reconnect backoff) and how long it took
//! until the store held every result it probed before the collector started (its stored sequence numbers
//! gap-free past that moment); the rate over the time any agent was draining; the collector's CPU per stored
//! result. Baseline in the same run: a bare rusqlite insert of as many rows by one
//! writer, 10,000 per transaction, `synchronous = FULL`. Run it as `docs/benchmarks.md` says.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use slaprobe_collector::digest::token_hash;
use slaprobe_tests::agent::agent_binary;
use slaprobe_tests::certs::CaFile;
use slaprobe_tests::collector::start_collector;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ingest_baseline::{BASELINE_GROUP, bare_insert_rate, sample_result};
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::process_stats::cpu_seconds;

const AGENTS: usize = 4;
const CHECKS: usize = 500;
const FILL_SECONDS: u64 = 30;

fn checks_yaml(url: &str) -> String {
    (0..CHECKS)
        .map(|index| {
            format!("  - {{ id: web-{index}, kind: http, target: \"{url}\", interval: 1s, timeout: 800ms }}\n")
        })
        .collect()
}

/// One agent as the store sees it: its stored results, highest seq and latest start, and when its session began
/// with how large a spool backlog.
#[derive(Debug)]
struct Seen {
    stored: i64,
    highest: i64,
    latest_ns: i64,
    connected_ns: i64,
    backlog: i64,
}

fn seen(database: &Path) -> Vec<(String, Seen)> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let Ok(connection) = rusqlite::Connection::open_with_flags(database, flags) else { return Vec::new() };
    let Ok(mut query) = connection.prepare(
        "SELECT r.agent_id, count(*), max(r.seq), max(r.started_at_ns), a.connected_at_ns, a.spool_backlog
         FROM results r JOIN agents a ON a.agent_id = r.agent_id GROUP BY r.agent_id ORDER BY r.agent_id",
    ) else {
        return Vec::new();
    };
    query
        .query_map([], |row| {
            let seen = Seen {
                stored: row.get(1)?,
                highest: row.get(2)?,
                latest_ns: row.get(3)?,
                connected_ns: row.get(4)?,
                backlog: row.get(5)?,
            };
            Ok((row.get(0)?, seen))
        })
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
}

fn start_agent(dir: &Path, agent: usize, grpc: std::net::SocketAddr, ca: &Path, checks: &str) -> Child {
    let config = dir.join(format!("agent-{agent}.yaml"));
    std::fs::write(
        &config,
        format!(
            "agent_id: agent-{agent}\nregion: region-{agent}\ncollector: \"https://localhost:{}\"\ntoken: token-{agent}\n\
             spool_dir: \"{}\"\ncollector_tls: {{ ca_file: \"{}\" }}\nchecks:\n{checks}",
            grpc.port(),
            dir.join(format!("spool-{agent}")).display(),
            ca.display()
        ),
    )
    .unwrap();
    Command::new(agent_binary())
        .arg("--config")
        .arg(&config)
        .env("SLAPROBE_LOG", "error")
        .stdin(Stdio::null())
        .spawn()
        .expect("start slaprobe-agent")
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = HttpServer::start().await;
    let checks = checks_yaml(&server.url("/"));
    let ca = CaFile::new();
    let (cert, key) = ca.ca.write_server_identity(dir.path());
    let grpc = free_addr();
    let agents: String = (0..AGENTS)
        .map(|agent| {
            format!(
                "  - {{ id: agent-{agent}, region: region-{agent}, token_sha256: \"{}\" }}\n",
                token_hash(&format!("token-{agent}"))
            )
        })
        .collect();
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen:\n  grpc: \"{grpc}\"\n  tls: {{ cert_file: \"{}\", key_file: \"{}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             agents:\n{agents}checks:\n{checks}",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();

    let mut children: Vec<Child> =
        (0..AGENTS).map(|agent| start_agent(dir.path(), agent, grpc, &ca.path, &checks)).collect();
    tokio::time::sleep(Duration::from_secs(FILL_SECONDS)).await;
    let (before, started) = (Timestamp::now(), Instant::now());
    let collector = tokio::task::block_in_place(|| start_collector(&config));
    let cpu_start = cpu_seconds(collector.id());
    let database = dir.path().join("slaprobe.db");
    let before_ns = before.as_nanosecond() as i64;
    // Each agent has caught up once everything it probed before the collector started is stored.
    let mut caught_up: Vec<(String, Seen, i64)> = Vec::new();
    while caught_up.len() < AGENTS {
        for (agent, seen) in seen(&database) {
            let done = seen.stored == seen.highest && seen.latest_ns >= before_ns;
            if done && !caught_up.iter().any(|(id, _, _)| *id == agent) {
                caught_up.push((agent, seen, Timestamp::now().as_nanosecond() as i64));
            }
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the backlog did not drain: {caught_up:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let collector_cpu = cpu_seconds(collector.id()) - cpu_start;
    for child in &mut children {
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let _ = child.wait();
    }
    drop(collector);
    let delivered: i64 = caught_up.iter().map(|(_, seen, _)| seen.stored).sum();
    let backlog = {
        let connection = rusqlite::Connection::open(&database).unwrap();
        connection
            .query_row("SELECT count(*) FROM results WHERE started_at_ns < ?1", [before_ns], |row| row.get::<_, i64>(0))
            .unwrap()
    };

    let start = Timestamp::now() - SignedDuration::from_hours(24);
    let rows: Vec<_> = (0..delivered as u64)
        .map(|index| {
            let mut row = sample_result(index as usize % AGENTS, index, start);
            row.seq = Some(index + 1);
            row
        })
        .collect();
    let baseline = bare_insert_rate(&dir.path().join("baseline.db"), &rows, BASELINE_GROUP);

    let seconds = |from_ns: i64, to_ns: i64| (to_ns - from_ns) as f64 / 1e9;
    println!(
        "{AGENTS} agent processes × {CHECKS} HTTP checks at 1s, spooling {FILL_SECONDS} s before the collector starts; \
         gRPC with TLS → collector process → SQLite"
    );
    println!("  backlog probed before the collector started {backlog:>9} results");
    for (agent, seen, done_ns) in &caught_up {
        println!(
            "  {agent}: reconnected after {:>5.1} s (its backoff) with {:>6} spooled; drained in {:>5.2} s: {:>7.0} results/s",
            seconds(before_ns, seen.connected_ns),
            seen.backlog,
            seconds(seen.connected_ns, *done_ns),
            seen.stored as f64 / seconds(seen.connected_ns, *done_ns)
        );
    }
    // The agents reconnect at different moments (each after its own backoff): the rate counts only the time
    // during which at least one of them was draining.
    let mut intervals: Vec<(i64, i64)> = caught_up.iter().map(|(_, seen, done)| (seen.connected_ns, *done)).collect();
    intervals.sort_unstable();
    let (mut draining_ns, mut reached) = (0, i64::MIN);
    for (from, to) in intervals {
        draining_ns += (to - from.max(reached)).max(0);
        reached = reached.max(to);
    }
    let rate = delivered as f64 / (draining_ns as f64 / 1e9);
    println!(
        "  all caught up after                         {elapsed:>9.1} s (collector start and agents' backoff included)"
    );
    println!("  stored by then                              {delivered:>9} results");
    println!("  ingest rate while any agent was draining    {rate:>9.0} results/s");
    println!("  collector CPU per stored result             {:>9.4} ms", collector_cpu * 1000.0 / delivered as f64);
    println!("  baseline: one writer, 10,000 per commit     {baseline:>9.0} results/s");
    println!("  ingest / baseline                           {:>9.0} %", 100.0 * rate / baseline);
}
