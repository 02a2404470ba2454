//! Equivalence, proven: a report read through the slice ledger equals, field for field, the report computed from
//! the raw results, for random contracts (slices that do and do not divide the period, DST months, quorums,
//! `combine: all`, `slow_ms`, maintenance, minimum runs across period boundaries, checks placed in some regions)
//! and random results (several regions, agents and checks, the agents' control probes that make some of their
//! slices inconclusive, duplicates, results out of order, results that arrive after their slice settled and after
//! their period closed), with the ledger settled part way and whole,
//! and with late results stored but not yet folded again. The period view's per-region figures and daily
//! latency, and alerting's slice votes, read through the ledger equal those from raw results too.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use slaprobe_proto::ResultRecord;

use super::Standings;
use super::window::WindowPass;
use crate::config::{CollectorConfig, load_collector_config};
use crate::ledger::{upkeep, usable};
use crate::store::{IngestBatch, ResultFlags, SliceParts, Store};
use slaprobe_sla::breakdown::{DayLatency, RegionView};
use slaprobe_sla::engine::slice_votes;
use slaprobe_sla::status::current_period;
use slaprobe_sla::{Horizon, Period, Report, parse_period};

/// The contract's terms that vary between cases.
#[derive(Debug, Clone)]
struct Terms {
    timezone: &'static str,
    slice: &'static str,
    combine: &'static str,
    failed_ratio: &'static str,
    min_regions_down: u32,
    no_data: &'static str,
    min_down_run: u32,
    slow_ms: Option<u32>,
    maintenance: bool,
}

fn terms() -> impl Strategy<Value = Terms> {
    (
        prop::sample::select(vec!["UTC", "America/New_York"]),
        prop::sample::select(vec!["1m", "7m"]),
        prop::sample::select(vec!["any", "all"]),
        prop::sample::select(vec!["0.5", "1"]),
        1u32..3,
        prop::sample::select(vec!["exclude", "up", "down"]),
        1u32..5,
        prop::option::of(100u32..300),
        any::<bool>(),
    )
        .prop_map(
            |(
                timezone,
                slice,
                combine,
                failed_ratio,
                min_regions_down,
                no_data,
                min_down_run,
                slow_ms,
                maintenance,
            )| {
                Terms {
                    timezone,
                    slice,
                    combine,
                    failed_ratio,
                    min_regions_down,
                    no_data,
                    min_down_run,
                    slow_ms,
                    maintenance,
                }
            },
        )
}

/// One generated result: near which moment (0: the period's start, 1: its DST change, 2: its end), how many seconds
/// from it, from which agent, of which check (the third is a control), whether it passed, how long it took, whether it
/// arrives late (after the first upkeep), and whether it is sent twice.
type Draw = (usize, i64, usize, usize, bool, u32, bool, bool);

fn draws() -> impl Strategy<Value = Vec<Draw>> {
    prop::collection::vec(
        (
            0usize..3,
            -5400i64..5400,
            0usize..4,
            0usize..3,
            prop::bool::weighted(0.6),
            50u32..400,
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.05),
        ),
        50..400,
    )
}

/// Agents and their regions; `ap` runs `api` although it is placed in `eu` and `us` only (those results do not
/// vote).
const AGENTS: [(&str, &str); 4] = [("eu-1", "eu"), ("eu-2", "eu"), ("us-1", "us"), ("ap-1", "ap")];

fn config(dir: &std::path::Path, terms: &Terms) -> CollectorConfig {
    let slow = terms.slow_ms.map(|ms| format!("slow_ms: {ms}\n    ")).unwrap_or_default();
    let maintenance = if terms.maintenance {
        "maintenance: [ { start: \"2024-03-31T23:00:00Z\", end: \"2024-04-01T01:00:00Z\" } ]\n    "
    } else {
        ""
    };
    let yaml = format!(
        "listen: {{ grpc: 127.0.0.1:7070 }}\nstorage: {{ sqlite: x.db }}\n\
         checks:\n\
         \x20 - {{ id: api, kind: http, target: \"http://127.0.0.1:9/\", interval: 30s, timeout: 5s, regions: [eu, us] }}\n\
         \x20 - {{ id: web, kind: http, target: \"http://127.0.0.1:9/\", interval: 30s, timeout: 5s }}\n\
         control_checks:\n\
         \x20 - {{ id: ctl, kind: tcp, target: \"127.0.0.1:9\", interval: 30s, timeout: 5s }}\n\
         contracts:\n\
         \x20 - id: acme\n    vendor: Acme\n    service: API\n    checks: [api, web]\n    combine: {}\n    objective: 99.9\n    \
         period: month\n    timezone: {}\n    slice: {}\n    failed_ratio: {}\n    min_regions_down: {}\n    no_data: {}\n    \
         min_down_run: {}\n    {slow}{maintenance}credits: {{ fee: 1000, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }}, {{ below: 99.0, credit: 25 }} ] }}\n",
        terms.combine,
        terms.timezone,
        terms.slice,
        terms.failed_ratio,
        terms.min_regions_down,
        terms.no_data,
        terms.min_down_run
    );
    std::fs::write(dir.join("collector.yaml"), yaml).unwrap();
    load_collector_config(&dir.join("collector.yaml")).unwrap_or_else(|error| panic!("{error}"))
}

/// The results `draws` describe around March 2024 (in the contract's time zone), and which of them arrive late.
fn results(config: &CollectorConfig, draws: &[Draw]) -> Vec<(ResultRecord, bool)> {
    let contract = &config.contracts[0];
    let period = parse_period("2024-03", contract.terms.period, &contract.tz).unwrap();
    let moments = [period.start, "2024-03-10T07:00:00Z".parse().unwrap(), period.end];
    let mut seqs: BTreeMap<usize, u64> = BTreeMap::new();
    let mut results = Vec::new();
    for (moment, seconds, agent, check, ok, duration, late, twice) in draws.iter().copied() {
        let seq = seqs.entry(agent).or_default();
        *seq += 1;
        let (agent_id, region) = AGENTS[agent];
        let result = ResultRecord {
            check_id: ["api", "web", "ctl"][check].to_owned(),
            region: region.to_owned(),
            agent_id: Some(agent_id.to_owned()),
            seq: Some(*seq),
            scheduled_at: None,
            started_at: moments[moment] + SignedDuration::from_millis(seconds * 1000 + i64::from(duration)),
            duration_ms: Some(f64::from(duration)),
            ok,
            error_kind: (!ok).then(|| "connect".to_owned()),
            error: (!ok).then(|| format!("connection refused ({})", duration % 3)),
            phases_ms: Default::default(),
            http: None,
            dns: None,
            tcp: None,
            tls: None,
            grpc: None,
            icmp: None,
            confirmation: false,
            control: check == 2,
        };
        if twice {
            results.push((result.clone(), late));
        }
        results.push((result, late));
    }
    results
}

/// What a view of a period shows: its report, per-region figures and daily latency.
type Viewed = (Report, Option<(Vec<RegionView>, Vec<DayLatency>)>);

/// The report of `period` at `now` with its per-region figures and daily latency, read through the ledger when
/// `through_ledger`, else from raw results alone.
async fn report(
    store: &Store,
    config: &CollectorConfig,
    period: &Period,
    now: Timestamp,
    through_ledger: bool,
) -> Viewed {
    let contract = &config.contracts[0];
    let states = store.ledger_states().await.unwrap();
    let ledger = usable(&states, contract).filter(|_| through_ledger);
    let monitored_from = store.first_result_at(&contract.terms.checks).await.unwrap();
    let span = (period.start, period.end);
    let mut pass = WindowPass::new(contract, period, span).with_breakdown(span);
    pass.read(store, period, ledger).await.unwrap();
    let horizon = Horizon { monitored_from, now };
    let breakdown = pass.breakdown(&horizon);
    (pass.finish(&horizon).1, breakdown)
}

/// Keeps the ledger up at `now` until it has nothing left to do.
async fn keep_up(store: &Store, config: &CollectorConfig, now: Timestamp) {
    while upkeep::run_once(store, config, "test", now).await.unwrap().unwrap() > 0 {}
}

/// Writes `results` as agents' batches received at `received_at`, flagged late when `closed`.
async fn send(store: &Store, results: &[(ResultRecord, bool)], received_at: Timestamp, closed: bool) {
    for (agent, _) in AGENTS {
        let flags = if closed { ResultFlags::LATE } else { ResultFlags::NONE };
        let batch: Vec<(ResultRecord, ResultFlags)> = results
            .iter()
            .filter(|(result, _)| result.agent_id.as_deref() == Some(agent))
            .map(|(result, _)| (result.clone(), flags | ResultFlags::of_record(result)))
            .collect();
        store.write_ingested(IngestBatch::of_results(agent, received_at, batch)).await.unwrap();
    }
}

/// The standing at `now` through what `standings` keeps equals the standing read from raw results; `kept` says
/// whether it must have come from what is kept (no late results waiting for the upkeep).
async fn standing_agrees(
    store: &Store,
    config: &CollectorConfig,
    standings: &Standings,
    now: Timestamp,
    kept: bool,
) -> Result<(), TestCaseError> {
    let contract = &config.contracts[0];
    let period = current_period(contract, now).unwrap();
    let states = store.ledger_states().await.unwrap();
    if kept {
        prop_assert!(standings.current_part(store, &states, contract, &period).await.unwrap().is_some());
    }
    let through = super::standing(config, store, standings, &states, contract, &period, now).await.unwrap();
    let raw = super::standing(config, store, &Standings::new(), &[], contract, &period, now).await.unwrap();
    prop_assert_eq!(through, raw, "standing at {}", now);
    Ok(())
}

/// Alerting's slice votes over the two days before `now` (reaching back into March), read through the ledger,
/// equal those judged from the raw results.
async fn votes_agree(
    store: &Store,
    config: &CollectorConfig,
    standings: &Standings,
    current: &Period,
    now: Timestamp,
) -> Result<(), TestCaseError> {
    let contract = &config.contracts[0];
    let window = (now - SignedDuration::from_hours(48), now);
    let read = super::CurrentRead::new(store, standings, contract, current).await.unwrap();
    let through = read.votes(store, window).await.unwrap();
    let (all_time_from, all_time_to) =
        ("2020-01-01T00:00:00Z".parse().unwrap(), "2030-01-01T00:00:00Z".parse().unwrap());
    let mut results = store.results_between(&contract.terms.checks, all_time_from, all_time_to).await.unwrap();
    results.extend(store.control_results_between(all_time_from, all_time_to).await.unwrap());
    let monitored_from = store.first_result_at(&contract.terms.checks).await.unwrap();
    let raw = slice_votes(contract, current.start, window, monitored_from, &results, &[]);
    prop_assert!(!raw.is_empty());
    prop_assert_eq!(through, raw, "votes at {}", now);
    Ok(())
}

async fn equivalence(store: &Store, config: &CollectorConfig, draws: &[Draw]) -> Result<(), TestCaseError> {
    let contract = &config.contracts[0];
    let march = parse_period("2024-03", contract.terms.period, &contract.tz).unwrap();
    let april = parse_period("2024-04", contract.terms.period, &contract.tz).unwrap();
    let all = results(config, draws);
    let (late, on_time): (Vec<_>, Vec<_>) = all.into_iter().partition(|(_, late)| *late);
    // The results arrive as they happen, then the ledger settles part of March...
    send(store, &on_time, march.end - SignedDuration::from_hours(3), false).await;
    let mid = "2024-03-10T07:30:00Z".parse().unwrap();
    keep_up(store, config, mid).await;
    let standings = Standings::new();
    standing_agrees(store, config, &standings, mid, true).await?;
    standing_agrees(store, config, &standings, march.end - SignedDuration::from_secs(1), true).await?;
    for (period, now) in [(&march, mid), (&march, march.end), (&april, april.end)] {
        let (through, raw) =
            (report(store, config, period, now, true).await, report(store, config, period, now, false).await);
        prop_assert_eq!(through, raw, "settled part way, {} at {}", period.label, now);
    }
    // ...then all of it and part of April; then the late results arrive after March closed.
    let after_close = april.start + SignedDuration::from_hours(2);
    keep_up(store, config, after_close).await;
    standing_agrees(store, config, &standings, after_close, true).await?;
    send(store, &late, after_close, true).await;
    // Before the upkeep has folded them again, readers already count them.
    for period in [&march, &april] {
        let now = after_close + SignedDuration::from_secs(1);
        let through = report(store, config, period, now, true).await;
        let raw = report(store, config, period, now, false).await;
        prop_assert_eq!(through, raw, "late results not folded yet, {}", period.label);
    }
    votes_agree(store, config, &standings, &april, after_close + SignedDuration::from_secs(1)).await?;
    standing_agrees(store, config, &standings, after_close + SignedDuration::from_secs(1), false).await?;
    keep_up(store, config, april.end + SignedDuration::from_hours(1)).await;
    votes_agree(store, config, &standings, &april, april.end - SignedDuration::from_secs(1)).await?;
    standing_agrees(store, config, &standings, april.end - SignedDuration::from_secs(1), true).await?;
    // Votes reaching back into March, with April's through what is kept.
    votes_agree(store, config, &standings, &april, after_close + SignedDuration::from_secs(1)).await?;
    let states = store.ledger_states().await.unwrap();
    let state = usable(&states, contract).expect("a ledger under the current terms");
    prop_assert!(state.settled_until >= april.end, "settled until {}", state.settled_until);
    for period in [&march, &april] {
        let now = april.end + SignedDuration::from_hours(1);
        let (through, raw) =
            (report(store, config, period, now, true).await, report(store, config, period, now, false).await);
        prop_assert_eq!(&through, &raw, "settled, {}", period.label);
        // Every period holding a result that is no control probe has it used or ignored (the report really read
        // it); a period with only control probes in it has nothing to count.
        let held = late
            .iter()
            .chain(&on_time)
            .any(|(result, _)| !result.control && period.start <= result.started_at && result.started_at < period.end);
        prop_assert!(raw.0.results_used > 0 || raw.0.results_ignored > 0 || !held, "nothing read in {}", period.label);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn a_report_through_the_ledger_equals_the_report_from_raw_results(terms in terms(), draws in draws()) {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), &terms);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
            equivalence(&store, &config, &draws).await
        })?;
    }
}

#[tokio::test]
async fn the_ledger_is_the_same_on_both_engines_and_its_rows_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let terms = Terms {
        timezone: "America/New_York",
        slice: "7m",
        combine: "any",
        failed_ratio: "0.5",
        min_regions_down: 1,
        no_data: "exclude",
        min_down_run: 3,
        slow_ms: Some(200),
        maintenance: true,
    };
    let config = config(dir.path(), &terms);
    let draws: Vec<Draw> = (0..600)
        .map(|index| {
            (
                index % 3,
                (index as i64 * 37) % 10_000 - 5000,
                index % 4,
                index % 2,
                index % 5 > 1,
                150 + (index % 7) as u32 * 20,
                index % 11 == 0,
                index % 50 == 0,
            )
        })
        .collect();
    for engine in crate::store::test_engines::engines().await {
        equivalence(&engine.store, &config, &draws).await.unwrap_or_else(|error| panic!("{}: {error}", engine.name));
        let march = parse_period("2024-03", config.contracts[0].terms.period, &config.contracts[0].tz).unwrap();
        let parts = SliceParts::CountsAndLatency;
        let rows = engine.store.ledger_slices("acme", (march.start, march.end), parts).await.unwrap();
        assert!(rows.len() > 30, "{}: {} ledger rows for March", engine.name, rows.len());
        assert!(rows.iter().any(|row| !row.latency.is_empty()), "{}: latency sketches kept", engine.name);
    }
}

#[tokio::test]
async fn a_ledger_row_that_does_not_decode_is_an_error_naming_the_column_and_the_slice() {
    use prost::Message;

    use crate::ledger::cells::{Cell, SliceCells};
    use crate::store::LedgerWrite;

    let dir = tempfile::tempdir().unwrap();
    let terms = Terms {
        timezone: "UTC",
        slice: "1m",
        combine: "any",
        failed_ratio: "0.5",
        min_regions_down: 1,
        no_data: "exclude",
        min_down_run: 1,
        slow_ms: None,
        maintenance: false,
    };
    let config = config(dir.path(), &terms);
    let contract = &config.contracts[0];
    let march = parse_period("2024-03", contract.terms.period, &contract.tz).unwrap();
    let store = Store::open_sqlite(&dir.path().join("corrupt.db")).unwrap();
    let draws: Vec<Draw> = (0..40).map(|index| (0, index * 60, 0, 0, true, 100, false, false)).collect();
    send(&store, &results(&config, &draws), march.end, false).await;
    keep_up(&store, &config, march.end + SignedDuration::from_hours(1)).await;
    let state = usable(&store.ledger_states().await.unwrap(), contract).unwrap().clone();
    let rows = store.ledger_slices("acme", (march.start, march.end), SliceParts::Counts).await.unwrap();
    let row = rows.first().expect("a ledger row").clone();
    let not_text = SliceCells {
        cells: vec![Cell { region: vec![0xff, 0xfe].into(), total: 1, ..Cell::default() }],
        ..SliceCells::default()
    };
    for (cells, problem) in [(vec![0xff, 0xff, 0xff], "ledger_slices.cells"), (not_text.encode_to_vec(), "UTF-8")] {
        let corrupt = crate::store::LedgerSlice { cells, ..row.clone() };
        let after = row.start;
        let write = LedgerWrite {
            state: state.clone(),
            reset: false,
            after,
            until: row.end,
            slice: SignedDuration::from_mins(1),
            slices: vec![corrupt],
        };
        store.write_ledger(write).await.unwrap();
        let ledger = usable(&store.ledger_states().await.unwrap(), contract).cloned();
        let mut pass = WindowPass::new(contract, &march, (march.start, march.end));
        let error = pass.read(&store, &march, ledger.as_ref()).await.expect_err("a corrupt row").to_string();
        assert!(error.contains(problem) && error.contains(&row.start.to_string()), "{error}");
    }
}

/// A collector configuration of the two checks and `contracts` (YAML list items), written to `dir/name`.
fn contracts_config(dir: &std::path::Path, name: &str, contracts: &[String]) -> CollectorConfig {
    let yaml = format!(
        "listen: {{ grpc: 127.0.0.1:7070 }}\nstorage: {{ sqlite: x.db }}\n\
         checks:\n\
         \x20 - {{ id: api, kind: http, target: \"http://127.0.0.1:9/\", interval: 30s, timeout: 5s, regions: [eu, us] }}\n\
         \x20 - {{ id: web, kind: http, target: \"http://127.0.0.1:9/\", interval: 30s, timeout: 5s }}\n\
         control_checks:\n\
         \x20 - {{ id: ctl, kind: tcp, target: \"127.0.0.1:9\", interval: 30s, timeout: 5s }}\n\
         contracts:\n{}",
        contracts.concat()
    );
    std::fs::write(dir.join(name), yaml).unwrap();
    load_collector_config(&dir.join(name)).unwrap_or_else(|error| panic!("{error}"))
}

#[tokio::test]
async fn contracts_folded_in_step_get_the_ledger_each_would_get_alone() {
    let dir = tempfile::tempdir().unwrap();
    let contract = |id: &str, checks: &str, slice: &str| {
        format!(
            "  - {{ id: {id}, vendor: Acme, service: API, checks: [{checks}], objective: 99.9, slice: {slice}, \
             credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n"
        )
    };
    let contracts = [contract("acme", "api, web", "1m"), contract("beta", "web", "7m"), contract("gamma", "api", "1m")];
    let together = contracts_config(dir.path(), "together.yaml", &contracts);
    // Both checks' first results start at the same moment, so the three ledgers start in step.
    let mut draws: Vec<Draw> =
        vec![(0, -7200, 0, 0, true, 100, false, false), (0, -7200, 0, 1, true, 100, false, false)];
    draws.extend((0..600).map(|index| {
        (index % 3, (index as i64 * 37) % 10_000 - 5000, index % 4, index % 2, index % 5 > 1, 150, false, false)
    }));
    let results = results(&together, &draws);
    let now: Timestamp = "2024-04-03T00:00:00Z".parse().unwrap();
    let march = parse_period("2024-03", together.contracts[0].terms.period, &together.contracts[0].tz).unwrap();
    let everything = (Timestamp::MIN, Timestamp::MAX);
    for engine in crate::store::test_engines::engines().await {
        send(&engine.store, &results, march.end, false).await;
        keep_up(&engine.store, &together, now).await;
        for (index, alone) in contracts.iter().enumerate() {
            let id = &together.contracts[index].terms.id;
            let own = contracts_config(dir.path(), &format!("{id}.yaml"), std::slice::from_ref(alone));
            let separate = crate::store::test_engines::engines().await;
            let separate = separate.iter().find(|other| other.name == engine.name).expect("the same engine again");
            send(&separate.store, &results, march.end, false).await;
            keep_up(&separate.store, &own, now).await;
            let parts = SliceParts::CountsAndLatency;
            let folded_together = engine.store.ledger_slices(id, everything, parts).await.unwrap();
            let folded_alone = separate.store.ledger_slices(id, everything, parts).await.unwrap();
            assert!(folded_together.len() > 50, "{}, {id}: {} rows", engine.name, folded_together.len());
            assert!(folded_together == folded_alone, "{}, {id}: the same rows folded together and alone", engine.name);
        }
    }
}
