//! Scheduler tests under tokio's paused time. The runner is a timed stand-in for a probe (real sockets do not
//! mix with paused time); everything else is the scheduler the agent runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ApplySummary, AttemptRunner, Scheduler, next_slot};
use crate::clock::WallClock;
use crate::probe::AttemptWindow;
use slaprobe_checks::{PreparedCheck, parse_checks, slot_offset};

mod confirm;

/// Wall time that advances with tokio's (paused) clock from a fixed start, and can be stepped like a real clock
/// corrected by NTP.
pub(super) struct PausedClock {
    pub(super) base: Timestamp,
    pub(super) start: Instant,
    pub(super) step: Mutex<SignedDuration>,
}

impl WallClock for PausedClock {
    fn now(&self) -> Timestamp {
        let step = *self.step.lock().unwrap();
        self.base + SignedDuration::try_from(self.start.elapsed()).expect("elapsed fits") + step
    }
}

/// Takes `busy` per attempt (or until aborted) and logs every window it was given.
struct TimedRunner {
    busy: Duration,
    windows: Arc<Mutex<Vec<(String, AttemptWindow)>>>,
}

impl AttemptRunner for TimedRunner {
    async fn attempt(&self, check: &PreparedCheck, window: AttemptWindow, abort: CancellationToken) -> ResultRecord {
        self.windows.lock().unwrap().push((check.check.id.clone(), window));
        let cancelled = tokio::select! {
            () = tokio::time::sleep(self.busy.min(window.timeout)) => false,
            () = abort.cancelled() => true,
        };
        attempted(check, &window, cancelled.then_some("cancelled"))
    }
}

/// The record of an attempt of `check` in `window` that failed with `error_kind`, or passed.
pub(super) fn attempted(check: &PreparedCheck, window: &AttemptWindow, error_kind: Option<&str>) -> ResultRecord {
    ResultRecord {
        check_id: check.check.id.clone(),
        region: "test".to_owned(),
        agent_id: None,
        seq: None,
        scheduled_at: window.scheduled_at,
        started_at: window.started_at,
        duration_ms: None,
        ok: error_kind.is_none(),
        error_kind: error_kind.map(str::to_owned),
        error: None,
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

struct Fixture {
    scheduler: Scheduler<TimedRunner>,
    results: mpsc::Receiver<ResultRecord>,
    windows: Arc<Mutex<Vec<(String, AttemptWindow)>>>,
    clock: Arc<PausedClock>,
}

fn fixture(busy: Duration, max_concurrent: usize) -> Fixture {
    let windows = Arc::new(Mutex::new(Vec::new()));
    let (sender, results) = mpsc::channel(100_000);
    let clock = Arc::new(PausedClock {
        base: "2026-03-01T00:00:00Z".parse().unwrap(),
        start: Instant::now(),
        step: Mutex::new(SignedDuration::ZERO),
    });
    let runner = TimedRunner { busy, windows: windows.clone() };
    let scheduler = Scheduler::new(runner, max_concurrent, sender, clock.clone());
    Fixture { scheduler, results, windows, clock }
}

pub(super) fn checks(yaml: &str) -> Vec<PreparedCheck> {
    parse_checks(serde_yaml_ng::from_str(yaml).unwrap(), "checks").unwrap()
}

fn tcp_check(id: &str, interval: &str) -> String {
    format!("- {{ id: {id}, kind: tcp, target: \"127.0.0.1:9\", interval: {interval} }}\n")
}

fn drain(results: &mut mpsc::Receiver<ResultRecord>) -> HashMap<String, Vec<ResultRecord>> {
    let mut by_check: HashMap<String, Vec<ResultRecord>> = HashMap::new();
    while let Ok(record) = results.try_recv() {
        by_check.entry(record.check_id.clone()).or_default().push(record);
    }
    by_check
}

#[track_caller]
fn assert_on_slots(records: &[ResultRecord], id: &str, interval: Duration) {
    let offset = slot_offset(id, interval);
    let interval_ns = interval.as_nanos() as i128;
    for pair in records.windows(2) {
        let gap = pair[1].scheduled_at.unwrap().as_nanosecond() - pair[0].scheduled_at.unwrap().as_nanosecond();
        assert_eq!(gap, interval_ns, "{id}: consecutive slots must be one interval apart");
    }
    for record in records {
        let scheduled = record.scheduled_at.unwrap().as_nanosecond();
        assert_eq!(scheduled.rem_euclid(interval_ns), offset.as_nanos() as i128, "{id}: slot off its anchor");
        assert_eq!(record.started_at, record.scheduled_at.unwrap(), "{id}: started late with idle capacity");
    }
}

#[test]
fn slots_are_wall_clock_anchored() {
    let interval = Duration::from_secs(60);
    let offset = Duration::from_secs(7);
    let at = |text: &str| text.parse::<Timestamp>().unwrap();
    assert_eq!(next_slot(at("2026-03-01T12:00:30Z"), interval, offset), at("2026-03-01T12:01:07Z"));
    assert_eq!(next_slot(at("2026-03-01T12:01:07Z"), interval, offset), at("2026-03-01T12:01:07Z"));
    assert_eq!(next_slot(at("2026-03-01T12:01:07.000000001Z"), interval, offset), at("2026-03-01T12:02:07Z"));
    assert_eq!(slot_offset("acme-api", interval), slot_offset("acme-api", interval), "offsets are stable");
    assert!(slot_offset("acme-api", interval) < interval);
}

#[test]
fn ten_thousand_checks_spread_across_the_interval() {
    let interval = Duration::from_secs(60);
    let mut per_second = [0u32; 60];
    for index in 0..10_000 {
        per_second[slot_offset(&format!("check-{index}"), interval).as_secs() as usize] += 1;
    }
    let busiest = *per_second.iter().max().unwrap();
    let quietest = *per_second.iter().min().unwrap();
    // 10,000 / 60 ≈ 167 per second on average.
    assert!(busiest < 230 && quietest > 110, "busiest second {busiest}, quietest {quietest}");
}

#[tokio::test(start_paused = true)]
async fn each_check_runs_once_per_interval_on_its_slots() {
    let mut fixture = fixture(Duration::from_millis(300), 100);
    let yaml = [tcp_check("a", "1s"), tcp_check("b", "2s"), tcp_check("c", "5s")].concat();
    assert_eq!(fixture.scheduler.apply(checks(&yaml)).added, 3);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let by_check = drain(&mut fixture.results);
    for (id, seconds, expected) in [("a", 1, 20), ("b", 2, 10), ("c", 5, 4)] {
        let records = &by_check[id];
        assert!(records.len().abs_diff(expected) <= 1, "{id}: {} attempts in 20 s", records.len());
        assert_on_slots(records, id, Duration::from_secs(seconds));
    }
}

#[tokio::test(start_paused = true)]
async fn an_attempt_never_outlives_its_slot_and_late_slots_are_skipped() {
    // One probe at a time, each taking 900 ms: four 1 s checks cannot all run in every slot.
    let mut fixture = fixture(Duration::from_millis(900), 1);
    let yaml = ["a", "b", "c", "d"].map(|id| tcp_check(id, "1s")).concat();
    fixture.scheduler.apply(checks(&yaml));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let windows = fixture.windows.lock().unwrap().clone();
    assert!(windows.len() >= 10, "the single slot kept busy: {}", windows.len());
    for (id, window) in &windows {
        let slot_end = window.scheduled_at.unwrap() + SignedDuration::from_secs(1);
        let deadline = window.started_at + SignedDuration::try_from(window.timeout).unwrap();
        assert!(deadline <= slot_end, "{id}: attempt could run to {deadline}, past its slot end {slot_end}");
        assert!(window.timeout <= Duration::from_millis(500), "never above the check's own timeout");
    }
    assert!(drain(&mut fixture.results).values().map(Vec::len).sum::<usize>() < 40, "some slots were skipped");
}

#[tokio::test(start_paused = true)]
async fn reload_keeps_unchanged_checks_on_their_slots() {
    let mut fixture = fixture(Duration::from_millis(100), 100);
    fixture
        .scheduler
        .apply(checks(&[tcp_check("keep", "1s"), tcp_check("change", "1s"), tcp_check("drop", "1s")].concat()));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let summary = fixture
        .scheduler
        .apply(checks(&[tcp_check("keep", "1s"), tcp_check("change", "2s"), tcp_check("new", "1s")].concat()));
    assert_eq!(summary, ApplySummary { added: 1, changed: 1, removed: 1, unchanged: 1 });
    tokio::time::sleep(Duration::from_secs(6)).await;
    let by_check = drain(&mut fixture.results);
    assert_on_slots(&by_check["keep"], "keep", Duration::from_secs(1));
    assert!(by_check["keep"].len() >= 10, "keep ran without a gap: {}", by_check["keep"].len());
    let dropped = by_check["drop"].len();
    assert!((4..=6).contains(&dropped), "drop stopped at the reload: {dropped}");
    let changed_gaps: Vec<i128> = by_check["change"]
        .windows(2)
        .map(|pair| pair[1].scheduled_at.unwrap().as_nanosecond() - pair[0].scheduled_at.unwrap().as_nanosecond())
        .collect();
    assert!(changed_gaps.ends_with(&[2_000_000_000, 2_000_000_000]), "change now runs every 2 s: {changed_gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_attempts_finish_then_cancels_after_grace() {
    let mut quick = fixture(Duration::from_millis(400), 100);
    quick.scheduler.apply(checks(&tcp_check("quick", "2s")));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = Instant::now();
    quick.scheduler.shutdown(Duration::from_secs(5)).await;
    assert!(before.elapsed() < Duration::from_secs(1), "a quick attempt finishes within the grace");
    let records = drain(&mut quick.results);
    assert!(records["quick"].iter().all(|record| record.ok));

    let mut slow = fixture(Duration::from_secs(60), 100);
    slow.scheduler.apply(checks("- { id: slow, kind: tcp, target: \"127.0.0.1:9\", interval: 120s, timeout: 100s }\n"));
    tokio::time::sleep(Duration::from_secs(121)).await;
    let before = Instant::now();
    slow.scheduler.shutdown(Duration::from_secs(5)).await;
    assert_eq!(before.elapsed(), Duration::from_secs(5), "in-flight attempts are cut at the grace deadline");
    // The stand-in runner records the abort it was given; the agent's own cancel path (a real probe held by its
    // server past the grace) is tested with the binary in `tests/tests/agent_binary.rs`.
    let records = drain(&mut slow.results);
    let last = records["slow"].last().unwrap();
    assert_eq!(last.error_kind.as_deref(), Some("cancelled"), "the runner was told to abort");
}

#[tokio::test(start_paused = true)]
async fn wall_clock_steps_neither_pause_probing_nor_flood_it() {
    let mut fixture = fixture(Duration::from_millis(100), 100);
    fixture.scheduler.apply(checks(&tcp_check("a", "10s")));
    tokio::time::sleep(Duration::from_secs(35)).await;
    let before = drain(&mut fixture.results).remove("a").unwrap_or_default().len();
    assert!((3..=4).contains(&before), "{before} attempts in 35 s");

    // NTP steps the clock back an hour: probing goes on at the usual pace instead of pausing for an hour.
    *fixture.clock.step.lock().unwrap() = SignedDuration::from_hours(-1);
    let stepped_back = fixture.clock.now();
    tokio::time::sleep(Duration::from_secs(35)).await;
    let after_back = drain(&mut fixture.results).remove("a").unwrap_or_default();
    assert!((3..=4).contains(&after_back.len()), "{} attempts in the 35 s after a step back", after_back.len());
    assert!(after_back.iter().all(|record| record.scheduled_at.unwrap() >= stepped_back), "slots follow the clock");
    assert_on_slots(&after_back, "a", Duration::from_secs(10));

    // A step forward of two hours skips to the new time's slots: no burst of skipped slots, no late attempts.
    fixture.windows.lock().unwrap().clear();
    *fixture.clock.step.lock().unwrap() = SignedDuration::from_hours(1);
    let stepped_forward = fixture.clock.now();
    tokio::time::sleep(Duration::from_secs(35)).await;
    let after_forward = drain(&mut fixture.results).remove("a").unwrap_or_default();
    assert!(
        (3..=4).contains(&after_forward.len()),
        "{} attempts in the 35 s after a step forward",
        after_forward.len()
    );
    assert!(
        after_forward
            .iter()
            .all(|record| record.scheduled_at.unwrap() >= stepped_forward - SignedDuration::from_secs(10))
    );
    assert_on_slots(&after_forward, "a", Duration::from_secs(10));
    assert_eq!(fixture.windows.lock().unwrap().len(), after_forward.len(), "every slot tried was run, none skipped");
}

#[tokio::test(start_paused = true)]
async fn a_check_changed_in_flight_starts_afresh_once_its_attempt_ends() {
    let mut fixture = fixture(Duration::from_millis(700), 100);
    let version = |phase: &str, timeout: &str| {
        let settings = format!("interval: 1s, phase: {phase}, timeout: {timeout}");
        format!("- {{ id: busy, kind: tcp, target: \"127.0.0.1:9\", {settings} }}\n")
    };
    fixture.scheduler.apply(checks(&version("0ms", "900ms")));
    // 300 ms into the attempt of the slot at 3 s (it ends at 3.7 s), changed twice to slots that fall before
    // that end (3.5 s, then 3.6 s): the latest version waits for the attempt, and takes its slots from 4.6 s.
    tokio::time::sleep(Duration::from_millis(3300)).await;
    assert_eq!(fixture.scheduler.apply(checks(&version("500ms", "800ms"))).changed, 1);
    assert_eq!(fixture.scheduler.apply(checks(&version("600ms", "800ms"))).changed, 1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let windows: Vec<AttemptWindow> = fixture.windows.lock().unwrap().iter().map(|(_, window)| *window).collect();
    for pair in windows.windows(2) {
        let gap = pair[1].started_at.as_nanosecond() - pair[0].started_at.as_nanosecond();
        assert!(gap >= 700_000_000, "attempts overlapped: {pair:?}");
    }
    let base = fixture.clock.base;
    let offsets: Vec<i128> = windows.iter().map(|window| (window.scheduled_at.unwrap() - base).as_millis()).collect();
    assert_eq!(offsets, [0, 1000, 2000, 3000, 4600, 5600, 6600, 7600], "the latest version's slots");
}

#[tokio::test(start_paused = true)]
async fn a_removed_check_stops_and_an_idle_scheduler_wakes_for_new_checks() {
    let mut fixture = fixture(Duration::from_millis(100), 100);
    fixture.scheduler.apply(checks(&tcp_check("a", "1s")));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(fixture.scheduler.apply(Vec::new()).removed, 1);
    let before = drain(&mut fixture.results)["a"].len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(drain(&mut fixture.results).is_empty(), "a removed check made no attempt ({before} before)");
    fixture.scheduler.apply(checks(&tcp_check("b", "1s")));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(drain(&mut fixture.results)["b"].len() >= 2, "an added check runs on an idle scheduler");
}

#[tokio::test(start_paused = true)]
async fn a_slot_years_away_waits_without_a_panic() {
    // The timer queue's wheel ends at about two years (795 days); this check's first slot is 887 days away.
    let mut fixture = fixture(Duration::from_millis(100), 100);
    let yaml = "- { id: rare, kind: tcp, target: \"127.0.0.1:9\", interval: 2000days, phase: 1400days }\n";
    assert_eq!(fixture.scheduler.apply(checks(yaml)).added, 1);
    tokio::time::sleep(Duration::from_secs(900 * 24 * 3600)).await;
    let runs = drain(&mut fixture.results).remove("rare").unwrap_or_default();
    let slots: Vec<Timestamp> = runs.iter().map(|record| record.scheduled_at.unwrap()).collect();
    let expected = fixture.clock.base + SignedDuration::from_hours(887 * 24);
    assert_eq!(slots, [expected], "one slot, on the check's phase");
}

#[tokio::test(start_paused = true)]
async fn slots_close_together_start_in_one_batch_and_a_lone_slot_on_time() {
    let mut fixture = fixture(Duration::from_millis(100), 100);
    let check = |id: &str, phase: &str| {
        format!("- {{ id: {id}, kind: tcp, target: \"127.0.0.1:9\", interval: 1s, phase: {phase} }}\n")
    };
    let yaml = [check("first", "100ms"), check("close", "101ms"), check("closer", "103ms"), check("lone", "600ms")];
    fixture.scheduler.apply(checks(&yaml.concat()));
    tokio::time::sleep(Duration::from_millis(3050)).await;
    let base = fixture.clock.base;
    let windows = fixture.windows.lock().unwrap().clone();
    let started = |id: &str| -> Vec<(i128, i128)> {
        windows
            .iter()
            .filter(|(check, _)| check == id)
            .map(|(_, window)| {
                let scheduled = (window.scheduled_at.unwrap() - base).as_micros();
                (scheduled / 1000, (window.started_at - base).as_micros() / 1000)
            })
            .collect()
    };
    assert_eq!(started("first"), [(100, 100), (1100, 1100), (2100, 2100)], "(slot, started) in ms");
    assert_eq!(started("close"), [(101, 104), (1101, 1104), (2101, 2104)], "waits out the 4 ms since the first");
    assert_eq!(started("closer"), [(103, 104), (1103, 1104), (2103, 2104)], "starts with the close one");
    assert_eq!(started("lone"), [(600, 600), (1600, 1600), (2600, 2600)], "nothing before it: on time");
}
