//! Ingest end to end as deployed: agent processes probing a loopback HTTP server every second and streaming over
//! gRPC with TLS (a throwaway CA) to a `slaprobe-collector serve` process with a SQLite store. The collector
//! starts only after the agents have probed for a while, so each agent's spool holds a backlog and keeps filling
//! while it drains. Measured: the time from the collector's start until the store holds every result probed
//! before it (every agent's stored sequence numbers gap-free past that moment), the rate that makes, and the
//! collector's CPU per stored result. Baseline in the same run: a bare rusqlite insert of as many rows by one
//! writer, 10,000 per transaction, `synchronous = FULL`. Run it as `docs/benchmarks.md` says.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, SysconfVar, sysconf};
use slaprobe_collector::ingest::auth::token_hash;
use slaprobe_tests::agent::agent_binary;
use slaprobe_tests::certs::CaFile;
use slaprobe_tests::collector::start_collector;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ingest_baseline::{BASELINE_GROUP, bare_insert_rate, sample_result};

const AGENTS: usize = 4;
const CHECKS: usize = 500;
const FILL_SECONDS: u64 = 30;

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat format") + 2..].split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64
}

fn checks_yaml(url: &str) -> String {
    (0..CHECKS)
        .map(|index| {
            format!("  - {{ id: web-{index}, kind: http, target: \"{url}\", interval: 1s, timeout: 800ms }}\n")
        })
        .collect()
}

/// Per agent: (stored results, highest seq, latest start in ns).
fn stored(database: &Path) -> Vec<(i64, i64, i64)> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let Ok(connection) = rusqlite::Connection::open_with_flags(database, flags) else { return Vec::new() };
    let Ok(mut query) =
        connection.prepare("SELECT count(*), max(seq), max(started_at_ns) FROM results GROUP BY agent_id")
    else {
        return Vec::new();
    };
    query
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
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
    let grpc = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
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
    loop {
        let agents = stored(&database);
        let caught_up = agents.len() == AGENTS
            && agents.iter().all(|(count, highest, latest)| count == highest && *latest >= before_ns);
        if caught_up {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the backlog did not drain: {agents:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let collector_cpu = cpu_seconds(collector.id()) - cpu_start;
    let delivered: i64 = stored(&database).iter().map(|(count, _, _)| count).sum();
    for child in &mut children {
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let _ = child.wait();
    }
    drop(collector);
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

    let rate = delivered as f64 / elapsed;
    println!(
        "{AGENTS} agent processes × {CHECKS} HTTP checks at 1s, spooling {FILL_SECONDS} s before the collector starts; \
         gRPC with TLS → collector process → SQLite"
    );
    println!("  backlog probed before the collector started {backlog:>9} results");
    println!("  caught up after                             {elapsed:>9.1} s (collector start included)");
    println!("  stored meanwhile                            {delivered:>9} results");
    println!("  ingest rate                                 {rate:>9.0} results/s");
    println!("  collector CPU per stored result             {:>9.4} ms", collector_cpu * 1000.0 / delivered as f64);
    println!("  baseline: one writer, 10,000 per commit     {baseline:>9.0} results/s");
    println!("  ingest / baseline                           {:>9.0} %", 100.0 * rate / baseline);
}
