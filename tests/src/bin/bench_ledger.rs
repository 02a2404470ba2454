//! Slice-ledger benchmark at fleet scale, on SQLite and on PostgreSQL: a store holding 10 contracts, each one
//! check probed every 30 s from 15 regions for the 31 days up to the start of this month (13,392,000 results),
//! written through the store's ingest path (`write_ingested`, as a collector writes agents' batches). Every
//! figure is taken in the last minutes of last month, the costliest moment of a period (all of it elapsed and
//! stored). For each engine it prints, next to the per-request recompute from raw results measured in the same
//! run (before the ledger exists):
//!
//! - one contract's claim report from the store (`slaprobe-collector report --config`): wall time and peak memory;
//! - every contract's standing, as `/api/v1/contracts`, the overview and `/metrics` compute it (in process): the
//!   first request after the collector starts, and one a minute later, when one more minute has settled in the
//!   ledger and the collector kept what it read;
//! - one alert-evaluation tick over all contracts (a burn-rate and a breach-forecast rule each; in process), a
//!   minute later too, sharing what the standings kept as a collector's evaluator does, and the next one a
//!   minute after that (the tick each minute pays once a new slice settles; the first also records the alerts
//!   that fire);
//! - the building of the ledger;
//! - ingest throughput with the ledger's upkeep running beside it against the same ingest without it (four days
//!   of the same results into fresh stores, twice each, in the order without, with, with, without);
//! - the same figures again after a month of older history was imported into the store (twice the results):
//!   the cost should stay flat as the store grows.
//!
//! Run it as `docs/benchmarks.md` says; `bench_ledger sqlite` or `bench_ledger postgresql` measures one engine.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use slaprobe_collector::alerting::evaluator::Evaluator;
use slaprobe_collector::config::{CollectorConfig, load_collector_config};
use slaprobe_collector::ledger::upkeep;
use slaprobe_collector::notify::Notifier;
use slaprobe_collector::store::{IngestBatch, ResultFlags, Store};
use slaprobe_collector::views::{Standings, store_status};
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::collector_binary;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::postgres::TestSchema;
use slaprobe_tests::process_stats::run_measured;

/// Contracts, each with one check of its own.
const CONTRACTS: usize = 10;
/// Regions probing every check, one agent each.
const REGIONS: usize = 15;
/// Seconds between two probes of a check.
const INTERVAL: i64 = 30;
/// Days of results in the store.
const DAYS: i64 = 31;
/// Days written to compare ingest with and without the ledger's upkeep.
const SAMPLE_DAYS: i64 = 4;
/// Concurrent writers, as concurrent agent sessions are.
const WRITERS: i64 = 8;

/// The engine under test, and the directory the benchmark's files go in.
#[derive(Clone, Copy)]
enum Engine<'a> {
    Sqlite(&'a Path),
    Postgres(&'a Path),
}

/// One store of the benchmark: the store, its `storage:` setting, and what keeps it alive.
struct Bench {
    store: Store,
    storage: String,
    _schema: Option<TestSchema>,
}

impl Engine<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "SQLite",
            Self::Postgres(_) => "PostgreSQL",
        }
    }

    fn dir(&self) -> &Path {
        match self {
            Self::Sqlite(dir) | Self::Postgres(dir) => dir,
        }
    }

    /// A fresh, empty store called `name`.
    async fn open(&self, name: &str) -> Bench {
        match self {
            Self::Sqlite(dir) => {
                let path = dir.join(format!("{name}.db"));
                let store = Store::open_sqlite(&path).expect("open the SQLite store");
                Bench { store, storage: format!("{{ sqlite: \"{}\" }}", path.display()), _schema: None }
            }
            Self::Postgres(_) => {
                let schema = TestSchema::create().await.expect("PostgreSQL (SLAPROBE_TEST_POSTGRES) for the benchmark");
                let store = Store::open_postgres(&schema.url).await.expect("open the PostgreSQL store");
                Bench { store, storage: format!("{{ postgres: \"{}\" }}", schema.url), _schema: Some(schema) }
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let today = jiff::tz::TimeZone::UTC.to_datetime(Timestamp::now()).date();
    let end = jiff::tz::TimeZone::UTC
        .to_timestamp(today.first_of_month().to_datetime(jiff::civil::Time::midnight()))
        .expect("midnight");
    let start = end - SignedDuration::from_hours(24 * DAYS);
    println!(
        "store: {CONTRACTS} contracts × 1 check × {REGIONS} regions every {INTERVAL} s, {DAYS} days up to {end} ({} results)",
        steps(start, end) * (CONTRACTS * REGIONS) as i64
    );
    println!("figures as of the last minutes of the period (each set four minutes later: the alerting lease)");
    let dir = tempfile::tempdir().expect("temp dir");
    let only = std::env::args().nth(1);
    for engine in [Engine::Sqlite(dir.path()), Engine::Postgres(dir.path())] {
        if only.as_deref().is_none_or(|name| name.eq_ignore_ascii_case(engine.name())) {
            measure(engine, start, end).await;
        }
    }
}

/// Every figure for one engine.
async fn measure(engine: Engine<'_>, start: Timestamp, end: Timestamp) {
    println!("{}:", engine.name());
    // Without, with, with, without: each kind once early and once late, so that the machine's drift over the
    // runs (the server's checkpoints of the writes before, the page cache) weighs on both alike.
    let sample_end = start + SignedDuration::from_hours(24 * SAMPLE_DAYS);
    let (mut plain, mut alongside) = (Vec::new(), Vec::new());
    for (run, upkeep) in [false, true, true, false].into_iter().enumerate() {
        let sample = engine.open(&format!("ingest-{run}")).await;
        let upkeep_config = upkeep.then(|| config(engine, &sample, None));
        let rate = load(&sample.store, start, sample_end, upkeep_config.as_ref()).await;
        if upkeep { alongside.push(rate) } else { plain.push(rate) }
    }
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len() as f64;
    println!(
        "  ingest, {SAMPLE_DAYS} days: {:>7.0} results/s with the ledger's upkeep beside it, {:>7.0} without ({:.0} %, target >= 90 %; runs {:.0}/{:.0} with, {:.0}/{:.0} without)",
        mean(&alongside),
        mean(&plain),
        100.0 * mean(&alongside) / mean(&plain),
        alongside[0],
        alongside[1],
        plain[0],
        plain[1]
    );

    let bench = engine.open("fleet").await;
    let rate = load(&bench.store, start, end, None).await;
    println!("  {DAYS} days written at {rate:.0} results/s");
    let config_path = engine.dir().join(format!("{}.yaml", engine.name()));
    let config = config(engine, &bench, Some(&config_path));
    // Each set of figures four minutes after the one before (its later parts one and two minutes after its
    // first), so its alert evaluator gets the alerting lease.
    let as_of = |sets_before_the_last: i64| end - SignedDuration::from_secs(121 + 240 * sets_before_the_last);
    figures(&bench.store, &config, &config_path, as_of(2), "raw results, no ledger yet (baseline)").await;
    let built = Instant::now();
    catch_up(&bench.store, &config, as_of(1)).await;
    println!("  ledger built in {:.1} s", built.elapsed().as_secs_f64());
    figures(&bench.store, &config, &config_path, as_of(1), "through the ledger").await;

    let history = start - SignedDuration::from_hours(24 * DAYS);
    let imported = Instant::now();
    load_history(&bench.store, history, start).await;
    catch_up(&bench.store, &config, as_of(0)).await;
    println!(
        "  a month of older history imported and folded in {:.1} s: the store now holds twice the results",
        imported.elapsed().as_secs_f64()
    );
    figures(&bench.store, &config, &config_path, as_of(0), "through the ledger, store twice as large").await;
}

/// The in-process and command figures of the store as it is, as of `now`; the standings and an alert tick a
/// minute later, and the next tick a minute after that, the ledger's upkeep run at each (when the store has a
/// ledger).
async fn figures(store: &Store, config: &CollectorConfig, config_path: &Path, now: Timestamp, label: &str) {
    let standings = Standings::new();
    let started = Instant::now();
    let statuses = store_status(config, store, &standings, now, None).await.expect("standings");
    let first = started.elapsed();
    assert_eq!(statuses.len(), CONTRACTS);
    let later = now + SignedDuration::from_mins(1);
    if !store.ledger_states().await.expect("ledger states").is_empty() {
        catch_up(store, config, later).await;
    }
    let started = Instant::now();
    store_status(config, store, &standings, later, None).await.expect("standings");
    let kept = started.elapsed();
    let mut evaluator = evaluator(store, config).with_standings(standings);
    let started = Instant::now();
    evaluator.tick(later).await.expect("an alert tick");
    let first_tick = started.elapsed();
    let next = later + SignedDuration::from_mins(1);
    if !store.ledger_states().await.expect("ledger states").is_empty() {
        catch_up(store, config, next).await;
    }
    let started = Instant::now();
    evaluator.tick(next).await.expect("an alert tick");
    let tick = started.elapsed();
    let period = now.strftime("%Y-%m").to_string();
    let (wall, peak_mb, _) = run_measured(Command::new(collector_binary()).args([
        "report",
        "--config",
        config_path.to_str().expect("a UTF-8 path"),
        "--period",
        &period,
        "--contract",
        "k00",
        "--as-of",
        &now.to_string(),
    ]));
    println!("  {label}:");
    println!(
        "    claim report of one contract (process)  {:>7.3} s, peak RSS {:>5.1} MB  (target < 0.3 s, < 150 MB)",
        wall.as_secs_f64(),
        peak_mb
    );
    println!(
        "    standings of all contracts, first request {:>7.3} s  (what /api/v1/contracts and /metrics compute)",
        first.as_secs_f64()
    );
    println!("    standings of all contracts, a minute later {:>6.3} s  (target < 0.5 s)", kept.as_secs_f64());
    println!(
        "    one alert tick over all contracts, then    {:>6.3} s  (alerts firing are recorded)",
        first_tick.as_secs_f64()
    );
    println!("    the next tick, a minute later              {:>6.3} s  (target < 0.1 s)", tick.as_secs_f64());
}

/// An alert evaluator over `config`'s rules.
fn evaluator(store: &Store, config: &CollectorConfig) -> Evaluator {
    let (_, watched) = tokio::sync::watch::channel(Arc::new(config.clone()));
    Evaluator::new(store.clone(), Notifier::new().expect("a notifier"), watched)
}

/// The ledger's upkeep as it runs at `now`, until nothing is left.
async fn catch_up(store: &Store, config: &CollectorConfig, now: Timestamp) {
    while upkeep::run_once(store, config, "bench", now).await.expect("upkeep").expect("the lease") > 0 {}
}

/// The collector configuration of the benchmark's contracts on `bench`'s store, written to `path` when given.
/// Every contract has a burn-rate and a breach-forecast rule, notifying a closed loopback port.
fn config(engine: Engine<'_>, bench: &Bench, path: Option<&Path>) -> CollectorConfig {
    let mut yaml = format!("listen: {{ grpc: \"{}\" }}\nstorage: {}\nchecks:\n", free_addr(), bench.storage);
    for contract in 0..CONTRACTS {
        yaml.push_str(&format!(
            "  - {{ id: c{contract:02}, kind: http, target: \"http://127.0.0.1:9/\", interval: 30s, timeout: 5s }}\n"
        ));
    }
    yaml.push_str("contracts:\n");
    for contract in 0..CONTRACTS {
        yaml.push_str(&format!(
            "  - {{ id: k{contract:02}, vendor: Vendor {contract}, service: API, checks: [c{contract:02}], \
             objective: 99.9, slice: 1m, min_regions_down: 2, \
             credits: {{ fee: 1000, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }}, {{ below: 99.0, credit: 25 }} ] }} }}\n"
        ));
    }
    yaml.push_str(
        "notify:\n  channels:\n    - { id: hook, webhook: { url: \"http://127.0.0.1:9/hook\" } }\n  \
         policies:\n    - { id: page, levels: [ { after: 0s, channels: [hook] } ] }\nalerts:\n",
    );
    for contract in 0..CONTRACTS {
        yaml.push_str(&format!(
            "  - {{ contract: k{contract:02}, kind: burn_rate, policy: page }}\n  \
             - {{ contract: k{contract:02}, kind: breach_forecast, policy: page }}\n"
        ));
    }
    let path = path.map_or_else(|| engine.dir().join("upkeep.yaml"), Path::to_owned);
    std::fs::write(&path, yaml).expect("write collector.yaml");
    load_collector_config(&path).unwrap_or_else(|error| panic!("{error}"))
}

/// Probing steps in `[start, end)`.
fn steps(start: Timestamp, end: Timestamp) -> i64 {
    (end.as_second() - start.as_second()) / INTERVAL
}

/// Every result of one probing step at `at`: each region's probe of each contract's check, the regions a second
/// apart. Each contract has outages of its own: three minutes in every 997, seen from every region.
fn step_results(at: Timestamp) -> Vec<(ResultRecord, ResultFlags)> {
    let mut results = Vec::with_capacity(CONTRACTS * REGIONS);
    for region in 0..REGIONS {
        for contract in 0..CONTRACTS {
            results.push((probe(at, region, contract), ResultFlags::NONE));
        }
    }
    results
}

/// The probe of `contract`'s check from `region` in the step at `at` (durations vary from 40 to 240 ms).
fn probe(at: Timestamp, region: usize, contract: usize) -> ResultRecord {
    let step = at.as_second() / INTERVAL;
    let failed = (step / 2 + contract as i64 * 131) % 997 < 3;
    let duration = 40.0 + ((step * 7 + region as i64 * 13 + contract as i64) % 200) as f64;
    ResultRecord {
        check_id: format!("c{contract:02}"),
        region: format!("region-{region:02}"),
        agent_id: Some(format!("agent-{region:02}")),
        seq: Some((step * CONTRACTS as i64 + contract as i64) as u64),
        scheduled_at: Some(at),
        started_at: at + SignedDuration::from_secs(region as i64),
        duration_ms: Some(duration),
        ok: !failed,
        error_kind: failed.then(|| "http_status".to_owned()),
        error: failed.then(|| "http_status: got 503 Service Unavailable, expected 200-299".to_owned()),
        phases_ms: Default::default(),
        http: None,
        dns: None,
        tcp: None,
        tls: None,
        grpc: None,
        icmp: None,
        confirmation: false,
        control: false,
    }
}

/// Writes the results of `[start, end)` as a collector ingests them (each step's batch arriving 30 s after it
/// began, so none is late), by [`WRITERS`] concurrent writers; the rate in results per second. With `upkeep`, the
/// ledger's upkeep runs beside it every 5 s as a collector's does, its clock at the slowest writer's progress.
async fn load(store: &Store, start: Timestamp, end: Timestamp, upkeep: Option<&CollectorConfig>) -> f64 {
    let progress: Arc<Vec<AtomicI64>> = Arc::new((0..WRITERS).map(|_| AtomicI64::new(start.as_second())).collect());
    let done = Arc::new(AtomicBool::new(false));
    let keeper = upkeep.map(|config| {
        let (store, config, progress, done) = (store.clone(), config.clone(), progress.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let slowest = progress.iter().map(|at| at.load(Ordering::Relaxed)).min().unwrap_or_default();
                let now = Timestamp::from_second(slowest).expect("the clock");
                upkeep::run_once(&store, &config, "bench", now).await.expect("upkeep");
                tokio::time::sleep(upkeep::EVERY).await;
            }
        })
    });
    let total = steps(start, end);
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, progress) = (store.clone(), progress.clone());
            tokio::spawn(async move {
                for step in (writer..total).step_by(WRITERS as usize) {
                    let at = start + SignedDuration::from_secs(step * INTERVAL);
                    let received_at = at + SignedDuration::from_secs(INTERVAL);
                    let batch = IngestBatch::of_results("agent-00", received_at, step_results(at));
                    store.write_ingested(batch).await.expect("write a batch");
                    progress[writer as usize].store(received_at.as_second(), Ordering::Relaxed);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer");
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    if let Some(keeper) = keeper {
        keeper.await.expect("the upkeep");
    }
    (total * (CONTRACTS * REGIONS) as i64) as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// Imports the results of `[start, end)` as `slaprobe-collector import` does (without an arrival time, so they
/// leave ledger marks and the upkeep folds them in), one contract's check at a time, 6,000 results a write.
async fn load_history(store: &Store, start: Timestamp, end: Timestamp) {
    let steps_per_write = 6_000 / REGIONS as i64;
    for contract in 0..CONTRACTS {
        let mut step = 0;
        while step < steps(start, end) {
            let results: Vec<ResultRecord> = (step..(step + steps_per_write).min(steps(start, end)))
                .flat_map(|step| {
                    let at = start + SignedDuration::from_secs(step * INTERVAL);
                    (0..REGIONS).map(move |region| probe(at, region, contract))
                })
                .collect();
            store.write_results(results).await.expect("import a batch");
            step += steps_per_write;
        }
    }
}
