//! Ingest benchmark, end to end over gRPC: four agents' spools (100,000 results each) streamed by the agent's
//! uplink into the collector's ingest service and SQLite store on loopback, timed until every result is
//! acknowledged; next to the baselines measured in the same run, a bare rusqlite insert of the same rows by one
//! writer, 500 and 10,000 rows per transaction. Then what signed evidence costs: the same results streamed with
//! their chain values and signed checkpoints, and without (as agents older than signing sent them), as the means
//! of four runs in the order without, with, with, without.
//! Run it as `docs/benchmarks.md` says.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use slaprobe_agent::spool::Spool;
use slaprobe_agent::uplink::{self, Links};
use slaprobe_collector::ingest::{Agents, IngestService, IngestSettings};
use slaprobe_collector::store::Store;
use slaprobe_tests::agent::plaintext_uplink;
use slaprobe_tests::evidence_overhead::{self, prepare};
use slaprobe_tests::ingest_baseline::{
    BASELINE_BATCH, BASELINE_GROUP, bare_insert_rate, bench_identities, sample_result,
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

const AGENTS: usize = 4;
const PER_AGENT: u64 = 100_000;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Timestamp::now() - SignedDuration::from_secs(86_400);
    let mut spools = Vec::new();
    let mut rows = Vec::new();
    for agent in 0..AGENTS {
        let mut spool = Spool::open(&dir.path().join(format!("spool-{agent}")), 1 << 30).unwrap();
        for index in 0..PER_AGENT {
            let mut result = sample_result(agent, index, start);
            spool.append(&mut result).unwrap();
            rows.push(result);
        }
        spool.sync().unwrap();
        spools.push(Arc::new(Mutex::new(spool)));
    }
    let total = AGENTS as u64 * PER_AGENT;

    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let identities = bench_identities(AGENTS);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = IngestService::new(store, IngestSettings::admitting(Agents::new(identities))).into_server();
    tokio::spawn(
        tonic::transport::Server::builder().add_service(service).serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let started = Instant::now();
    let shutdown = CancellationToken::new();
    for (agent, spool) in spools.iter().enumerate() {
        let (token, agent_id, region) = (format!("token-{agent}"), format!("agent-{agent}"), format!("region-{agent}"));
        let settings =
            plaintext_uplink(&dir.path().join(format!("spool-{agent}")), address, &token, &agent_id, &region);
        tokio::spawn(uplink::run(settings, spool.clone(), Links::detached(), shutdown.clone()));
    }
    while spools.iter().map(|spool| spool.lock().unwrap().acked()).sum::<u64>() < total {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ingest_rate = total as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();

    let bare_rate = bare_insert_rate(&dir.path().join("bare.db"), &rows, BASELINE_BATCH);
    let group_rate = bare_insert_rate(&dir.path().join("group.db"), &rows, BASELINE_GROUP);

    println!(
        "{total} results: {AGENTS} agents' spools × {PER_AGENT}, uplink → gRPC (loopback) → ingest → SQLite, until all acknowledged"
    );
    println!("  end-to-end ingest                        {ingest_rate:>9.0} results/s   (target >= 50,000)");
    println!("  baseline: one writer, 500 per commit     {bare_rate:>9.0} results/s");
    println!("  baseline: one writer, 10,000 per commit  {group_rate:>9.0} results/s   (the strongest fair baseline)");
    println!(
        "  ingest / baselines                       {:>5.0} % / {:.0} %   (target >= 50 %)",
        100.0 * ingest_rate / bare_rate,
        100.0 * ingest_rate / group_rate
    );

    let per_agent: Vec<Vec<_>> = rows.chunks(PER_AGENT as usize).map(<[_]>::to_vec).collect();
    let (mut with, mut without) = (0.0, 0.0);
    for (round, signed) in [false, true, true, false].into_iter().enumerate() {
        let streams = prepare(&per_agent, signed);
        let rate = evidence_overhead::ingest_rate(&dir.path().join(format!("evidence-{round}.db")), streams).await;
        *(if signed { &mut with } else { &mut without }) += rate / 2.0;
    }
    println!("{total} results again, straight from prepared batches (no spool): what signed evidence costs at ingest");
    println!("  with chain values and checkpoints        {with:>9.0} results/s   (mean of 2)");
    println!("  without (agents older than signing)      {without:>9.0} results/s   (mean of 2)");
    println!("  with / without                           {:>9.0} %   (target >= 80 %)", 100.0 * with / without);
}
