//! Confirmation attempts under paused time: a 90 s outage of a check probed every 60 s, at ten phases against
//! its slots. With `confirm: { after: 5s }` the recovery is measured within 10 s every time; the start of the
//! outage is only ever seen at the next slot, so its error spreads over the interval either way, unless several
//! agents probe at staggered phases: with three, the first of them sees it within 20 s. A check that never fails
//! makes no confirmation at all.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{PausedClock, attempted, checks};
use crate::probe::AttemptWindow;
use crate::schedule::{AttemptRunner, Scheduler};
use slaprobe_checks::{Check, PreparedCheck, staggered};

/// Fails every attempt that starts inside `outage`; each takes 20 ms.
struct OutageRunner {
    outage: (Timestamp, Timestamp),
}

impl AttemptRunner for OutageRunner {
    async fn attempt(&self, check: &PreparedCheck, window: AttemptWindow, _abort: CancellationToken) -> ResultRecord {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let failed = self.outage.0 <= window.started_at && window.started_at < self.outage.1;
        attempted(check, &window, failed.then_some("connect"))
    }
}

const BASE: &str = "2026-03-01T00:00:00Z";

/// Every result of `yaml`'s one check over `minutes` of paused time, the outage starting `phase` after two
/// minutes.
async fn run(yaml: &str, phase: SignedDuration, minutes: u64) -> (Vec<ResultRecord>, (Timestamp, Timestamp)) {
    let base: Timestamp = BASE.parse().unwrap();
    let start = base + SignedDuration::from_mins(2) + phase;
    let outage = (start, start + SignedDuration::from_secs(90));
    let clock =
        Arc::new(PausedClock { base, start: Instant::now(), step: std::sync::Mutex::new(SignedDuration::ZERO) });
    let (sender, mut receiver) = mpsc::channel(10_000);
    let mut scheduler = Scheduler::new(OutageRunner { outage }, 4, sender, clock);
    scheduler.apply(checks(yaml));
    tokio::time::sleep(Duration::from_secs(minutes * 60)).await;
    scheduler.shutdown(Duration::from_secs(1)).await;
    let mut results = Vec::new();
    while let Ok(record) = receiver.try_recv() {
        results.push(record);
    }
    (results, outage)
}

/// How far the measured outage (first failed attempt to the first passing one after it) lies from the true one
/// at each edge, seconds.
fn edge_errors(results: &[ResultRecord], (start, end): (Timestamp, Timestamp)) -> (f64, f64) {
    let first_failed = results.iter().position(|record| !record.ok).expect("the outage was seen");
    let recovered = results[first_failed..].iter().find(|record| record.ok).expect("the recovery was seen");
    let seconds = |from: Timestamp, to: Timestamp| to.duration_since(from).as_secs_f64();
    (seconds(start, results[first_failed].started_at), seconds(end, recovered.started_at))
}

/// The smallest and largest of `errors`, for people.
fn range(errors: &[f64]) -> String {
    let (low, high) =
        errors.iter().fold((f64::MAX, f64::MIN), |(low, high), error| (low.min(*error), high.max(*error)));
    format!("{low:.1}–{high:.1} s")
}

/// Ten phases of the outage against the slots, spread over the interval.
fn phases() -> impl Iterator<Item = SignedDuration> {
    (0..10_i64).map(|run| SignedDuration::from_millis((run * 6_173 + 1_234) % 60_000))
}

#[tokio::test(start_paused = true)]
async fn with_confirm_the_recovery_of_a_90_s_outage_is_measured_within_10_s() {
    let confirmed = "- { id: api, kind: tcp, target: \"127.0.0.1:9\", interval: 60s, confirm: { after: 5s } }\n";
    let plain = "- { id: api, kind: tcp, target: \"127.0.0.1:9\", interval: 60s }\n";
    let mut spreads = Vec::new();
    for (name, yaml) in [("confirm", confirmed), ("plain", plain)] {
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        for phase in phases() {
            let (results, outage) = run(yaml, phase, 7).await;
            let (start, end) = edge_errors(&results, outage);
            assert!((0.0..60.0).contains(&start) && (0.0..60.0).contains(&end), "{name}: {start} s, {end} s");
            if name == "confirm" {
                assert!(end < 10.0, "phase {phase:?}: the recovery measured {end} s late");
                let confirmations = results.iter().filter(|record| record.confirmation).count();
                assert!(confirmations > 0 && results.iter().filter(|r| !r.confirmation).count() == 7);
            } else {
                assert!(results.iter().all(|record| !record.confirmation));
            }
            starts.push(start);
            ends.push(end);
        }
        spreads.push(format!("{name}: start seen {} late, recovery {} late", range(&starts), range(&ends)));
    }
    // The measured spread, for docs/checks.md (`cargo test -p slaprobe-agent confirm -- --nocapture`).
    println!("{}", spreads.join("\n"));
}

#[tokio::test(start_paused = true)]
async fn a_check_that_never_fails_makes_no_confirmation() {
    let yaml = "- { id: api, kind: tcp, target: \"127.0.0.1:9\", interval: 60s, confirm: { after: 5s } }\n";
    let (results, _) = run(yaml, SignedDuration::from_hours(1), 5).await;
    assert_eq!(results.len(), 5, "one attempt a slot");
    assert!(results.iter().all(|record| record.ok && !record.confirmation));
}

#[tokio::test(start_paused = true)]
async fn confirmations_stop_at_attempts_and_before_the_next_slot() {
    let yaml = "- { id: api, kind: tcp, target: \"127.0.0.1:9\", interval: 60s, timeout: 10s, \
                confirm: { after: 5s, attempts: 2 } }\n";
    let (results, outage) = run(yaml, SignedDuration::ZERO, 6).await;
    let slots: Vec<Timestamp> = results.iter().filter(|r| !r.confirmation).map(|r| r.scheduled_at.unwrap()).collect();
    for pair in results.windows(2).filter(|pair| pair[1].confirmation) {
        let gap = pair[1].started_at.duration_since(pair[0].started_at);
        assert_eq!(gap, SignedDuration::from_secs(5), "each `after` the attempt before it");
        let next_slot = slots.iter().find(|slot| **slot > pair[1].started_at).unwrap();
        assert!(pair[1].started_at + SignedDuration::from_secs(10) <= *next_slot, "ends before the next slot");
    }
    // Per slot inside the outage: the slot's attempt and two confirmations, all failed; then the first passing
    // slot and its one confirmation of the recovery.
    let inside: Vec<&ResultRecord> =
        results.iter().filter(|r| outage.0 <= r.started_at && r.started_at < outage.1).collect();
    assert!(inside.iter().all(|record| !record.ok));
    let per_slot = |slot: Timestamp| {
        results
            .iter()
            .filter(|r| r.scheduled_at.unwrap() >= slot && r.started_at < slot + SignedDuration::from_secs(60))
            .count()
    };
    let first_failed_slot = results.iter().find(|r| !r.ok).unwrap().scheduled_at.unwrap();
    assert_eq!(per_slot(first_failed_slot), 3, "the slot and two confirmations");
    let recovered = results.iter().position(|r| r.ok && r.started_at >= outage.1).unwrap();
    assert!(results[recovered + 1].confirmation && results[recovered + 1].ok, "the recovery confirmed once");
    assert!(!results[recovered + 2].confirmation, "then the next slot");
}

#[tokio::test(start_paused = true)]
async fn three_staggered_agents_see_the_start_of_an_outage_within_a_third_of_the_interval() {
    let check: Check =
        serde_yaml_ng::from_str("{ id: api, kind: tcp, target: \"127.0.0.1:9\", interval: 60s }").unwrap();
    let mut lates = Vec::new();
    for phase in phases() {
        let mut earliest = f64::MAX;
        for position in 0..3 {
            let turn = staggered(&check, position, 3).as_millis();
            let yaml = format!(
                "- {{ id: api, kind: tcp, target: \"127.0.0.1:9\", interval: 60s, phase: {turn}ms, \
                 confirm: {{ after: 5s }} }}\n"
            );
            let (results, outage) = run(&yaml, phase, 7).await;
            assert!(
                results
                    .iter()
                    .all(|record| record.scheduled_at.unwrap().as_millisecond() % 60_000 == turn as i64 % 60_000
                        || record.confirmation)
            );
            earliest = earliest.min(edge_errors(&results, outage).0);
        }
        assert!(earliest < 20.0, "phase {phase:?}: the first region saw the start {earliest} s late");
        lates.push(earliest);
    }
    println!("three staggered agents: start seen {} late by the first of them", range(&lates));
}
