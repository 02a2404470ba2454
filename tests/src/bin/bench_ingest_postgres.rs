//! Ingest into PostgreSQL, end to end over gRPC: four agents' spools (50,000 results each) streamed by the
//! agent's uplink into one collector, then (in a fresh schema) into two collectors sharing the database, two
//! agents each, timed until every result is acknowledged. The baseline in the same run: the same rows loaded by
//! `psql` with `COPY ... FROM STDIN` into the same (migrated, partitioned) table. Needs the PostgreSQL of
//! `SLAPROBE_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`) and `psql`; run it as
//! `docs/benchmarks.md` says.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use prost::Message;
use slaprobe_agent::spool::Spool;
use slaprobe_agent::uplink::{self, Links};
use slaprobe_collector::config::AgentIdentity;
use slaprobe_collector::ingest::{Agents, IngestService, IngestSettings};
use slaprobe_collector::store::Store;
use slaprobe_proto::{ResultRecord, v1};
use slaprobe_tests::agent::plaintext_uplink;
use slaprobe_tests::ingest_baseline::{bench_identities, sample_result};
use slaprobe_tests::postgres::TestSchema;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

const AGENTS: usize = 4;
const PER_AGENT: u64 = 50_000;

/// Spools of `AGENTS` agents with `PER_AGENT` results each, and the rows they hold.
fn spools(dir: &std::path::Path, start: Timestamp) -> (Vec<Arc<Mutex<Spool>>>, Vec<ResultRecord>) {
    let (mut spools, mut rows) = (Vec::new(), Vec::new());
    for agent in 0..AGENTS {
        let mut spool = Spool::open(&dir.join(format!("spool-{agent}")), 1 << 30).unwrap();
        for index in 0..PER_AGENT {
            let mut result = sample_result(agent, index, start);
            spool.append(&mut result).unwrap();
            rows.push(result);
        }
        spool.sync().unwrap();
        spools.push(Arc::new(Mutex::new(spool)));
    }
    (spools, rows)
}

/// Results per second through `collectors` collectors on `url`, agents dealt out in turn.
async fn ingest_rate(url: &str, collectors: usize, dir: &std::path::Path, start: Timestamp) -> f64 {
    let (spools, _) = spools(dir, start);
    let identities: Vec<AgentIdentity> = bench_identities(AGENTS);
    let mut addresses = Vec::new();
    for _ in 0..collectors {
        let store = Store::open_postgres(url).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addresses.push(listener.local_addr().unwrap());
        let settings = IngestSettings::admitting(Agents::new(identities.clone()));
        let service = IngestService::new(store, settings).into_server();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
    }
    let started = Instant::now();
    let shutdown = CancellationToken::new();
    for (agent, spool) in spools.iter().enumerate() {
        let address = addresses[agent % collectors];
        let (token, agent_id, region) = (format!("token-{agent}"), format!("agent-{agent}"), format!("region-{agent}"));
        let settings = plaintext_uplink(&dir.join(format!("spool-{agent}")), address, &token, &agent_id, &region);
        tokio::spawn(uplink::run(settings, spool.clone(), Links::detached(), shutdown.clone()));
    }
    let total = AGENTS as u64 * PER_AGENT;
    while spools.iter().map(|spool| spool.lock().unwrap().acked()).sum::<u64>() < total {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    rate
}

/// Results per second loaded by `psql` with `COPY` into the migrated table of `url`.
async fn copy_rate(url: &str, rows: &[ResultRecord]) -> f64 {
    let store = Store::open_postgres(url).await.unwrap();
    let Store::Postgres(postgres) = &store else { unreachable!("opened as PostgreSQL") };
    postgres.create_partitions_for(rows.iter().map(|row| row.started_at)).await.unwrap();
    let mut text = String::new();
    for row in rows {
        let record: String = v1::Result::from(row).encode_to_vec().iter().map(|byte| format!("{byte:02x}")).collect();
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t\\\\x{record}\t0\n",
            row.agent_id.as_deref().unwrap_or_default(),
            row.seq.unwrap_or_default(),
            row.check_id,
            row.region,
            row.started_at.as_nanosecond(),
            row.ok
        ));
    }
    let started = Instant::now();
    let mut psql = Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg("COPY results (agent_id, seq, check_id, region, started_at_ns, ok, record, flags) FROM STDIN")
        .stdin(Stdio::piped())
        .spawn()
        .expect("psql (apt-get install postgresql-client)");
    psql.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    assert!(psql.wait().unwrap().success(), "psql COPY failed");
    rows.len() as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Timestamp::now() - SignedDuration::from_secs(86_400);
    let total = AGENTS as u64 * PER_AGENT;
    let mut rates = Vec::new();
    for collectors in [1, 2] {
        let Some(schema) = TestSchema::create().await else { return };
        rates.push(ingest_rate(&schema.url, collectors, &dir.path().join(format!("run-{collectors}")), start).await);
    }
    let Some(schema) = TestSchema::create().await else { return };
    let (_, rows) = spools(&dir.path().join("baseline"), start);
    let baseline = copy_rate(&schema.url, &rows).await;
    println!("{total} results: {AGENTS} agents' spools × {PER_AGENT}, uplink → gRPC (loopback) → ingest → PostgreSQL");
    println!("  one collector                            {:>9.0} results/s", rates[0]);
    println!("  two collectors, one database             {:>9.0} results/s", rates[1]);
    println!("  baseline: psql COPY of the same rows     {baseline:>9.0} results/s");
    println!(
        "  one / two collectors vs baseline         {:>8.0} % / {:.0} %",
        100.0 * rates[0] / baseline,
        100.0 * rates[1] / baseline
    );
}
