//! The worked examples of `docs/sla.md`, rule-by-rule cases, and property tests.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use rust_decimal::Decimal;
use slaprobe_proto::ResultRecord;

use super::engine::{SliceState, forgive_short_runs};
use super::{PeriodStatus, Report, evaluate, parse_period};
use crate::contract::Contract;
use crate::fixtures::{at, contract, every, horizon_from, minutely, status};

mod controls;
mod faults;

fn within(t: Timestamp, from: &str, to: &str) -> bool {
    at(from) <= t && t < at(to)
}

/// April 2026 from one region, probing every minute, failed where `down(t)`.
fn april(down: impl Fn(Timestamp) -> bool) -> Vec<ResultRecord> {
    minutely("acme-api", &["eu-west"], "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", |_, t| down(t))
}

/// The report once the period is long over, monitoring having begun with the first of `results`.
fn report(contract: &Contract, period: &str, results: &[ResultRecord]) -> Report {
    let period = parse_period(period, contract.terms.period, &contract.tz).unwrap();
    evaluate(contract, &period, results, &horizon_from(contract, results, at("2030-01-01T00:00:00Z")))
}

#[test]
fn example_a_one_outage_in_april() {
    let contract = contract("");
    let results = april(|t| within(t, "2026-04-10T12:00:00Z", "2026-04-10T13:40:00Z"));
    let report = report(&contract, "2026-04", &results);
    assert_eq!((report.total_slices, report.down_slices, report.eligible_slices), (43_200, 100, 43_200));
    let uptime = report.uptime_percent.unwrap();
    assert!((uptime - 99.768_518_518_518_5).abs() < 1e-9, "{uptime}");
    assert_eq!((report.credit_percent, report.credit_amount), (Decimal::from(10), Decimal::new(20000, 2)));
    assert_eq!(report.met, Some(false));
    assert_eq!(report.claim_deadline, Some(at("2026-06-30T00:00:00Z")));
    assert_eq!((report.budget_seconds, report.budget_used_seconds), (2592.0, 6000.0));
    let incident = &report.incidents[..];
    assert_eq!(incident.len(), 1);
    assert_eq!((incident[0].start, incident[0].end), (at("2026-04-10T12:00:00Z"), at("2026-04-10T13:40:00Z")));
    assert_eq!(incident[0].duration_seconds, 6000);
    assert_eq!(incident[0].regions, ["eu-west"]);
    assert_eq!(incident[0].checks, ["acme-api"]);
    assert_eq!(incident[0].sample_errors, ["connect: connection refused"]);
    assert_eq!(report.days.len(), 30);
    let tenth = &report.days[9];
    assert_eq!((tenth.date.to_string().as_str(), tenth.total_slices, tenth.down_slices), ("2026-04-10", 1440, 100));
    assert!((tenth.uptime_percent.unwrap() - 100.0 * 1340.0 / 1440.0).abs() < 1e-9);
    assert_eq!(report.days[0].uptime_percent, Some(100.0));
}

#[test]
fn example_b_short_outages_are_forgiven() {
    let contract = contract("min_down_run: 5\n");
    let outages = [
        ("2026-04-02T10:00:00Z", "2026-04-02T10:03:00Z"),
        ("2026-04-03T10:00:00Z", "2026-04-03T10:06:00Z"),
        ("2026-04-04T10:00:00Z", "2026-04-04T10:04:00Z"),
        ("2026-04-05T10:00:00Z", "2026-04-05T10:10:00Z"),
    ];
    let results = april(|t| outages.iter().any(|(from, to)| within(t, from, to)));
    let report = report(&contract, "2026-04", &results);
    assert_eq!((report.down_slices, report.incidents.len()), (16, 2));
}

#[test]
fn example_c_quorum_of_two_regions() {
    let contract = contract("min_regions_down: 2\n");
    let results = minutely(
        "acme-api",
        &["eu-west", "us-east", "ap-south"],
        "2026-04-01T00:00:00Z",
        "2026-05-01T00:00:00Z",
        |region, t| match region {
            "eu-west" => within(t, "2026-04-07T08:00:00Z", "2026-04-07T08:40:00Z"),
            "us-east" => within(t, "2026-04-07T08:10:00Z", "2026-04-07T08:25:00Z"),
            _ => false,
        },
    );
    let report = report(&contract, "2026-04", &results);
    assert_eq!(report.down_slices, 15);
    assert_eq!(report.incidents[0].regions, ["eu-west", "us-east"]);
}

#[test]
fn example_d_maintenance_excludes_slices() {
    let contract = contract("maintenance: [ { start: \"2026-04-15T01:00:00Z\", end: \"2026-04-15T02:00:00Z\" } ]\n");
    let results = april(|t| within(t, "2026-04-15T01:30:00Z", "2026-04-15T02:30:00Z"));
    let report = report(&contract, "2026-04", &results);
    assert_eq!((report.excluded_slices, report.down_slices, report.eligible_slices), (60, 30, 43_140));
}

#[test]
fn runs_are_judged_across_the_period_boundary() {
    // A 6-minute outage across midnight counts 3 + 3 with min_down_run 5.
    let contract = contract("min_down_run: 5\n");
    let results = minutely("acme-api", &["eu-west"], "2026-03-31T23:00:00Z", "2026-04-01T01:00:00Z", |_, t| {
        within(t, "2026-03-31T23:57:00Z", "2026-04-01T00:03:00Z")
    });
    let april = report(&contract, "2026-04", &results);
    let march = report(&contract, "2026-03", &results);
    assert_eq!((march.down_slices, april.down_slices), (3, 3));
    assert_eq!(april.incidents[0].start, at("2026-04-01T00:00:00Z"), "incidents are clipped to the period");
}

#[test]
fn no_data_modes_and_weekly_maintenance() {
    // Data only for the first day of April: the rest is unknown.
    let results = minutely("acme-api", &["eu-west"], "2026-04-01T00:00:00Z", "2026-04-02T00:00:00Z", |_, _| false);
    let excluded = report(&contract(""), "2026-04", &results);
    assert_eq!((excluded.unknown_slices, excluded.eligible_slices), (43_200 - 1440, 1440));
    assert_eq!(excluded.uptime_percent, Some(100.0));
    let as_down = report(&contract("no_data: down\n"), "2026-04", &results);
    assert_eq!(as_down.eligible_slices, 43_200);
    assert_eq!(as_down.credit_percent, Decimal::from(100));
    let as_up = report(&contract("no_data: up\n"), "2026-04", &results);
    assert_eq!(as_up.uptime_percent, Some(100.0));
    let nothing = report(&contract(""), "2026-04", &[]);
    assert_eq!((nothing.uptime_percent, nothing.met, nothing.credit_amount), (None, None, Decimal::ZERO));
    // Sundays at 03:00 for 1 h: April 2026 has four Sundays (5, 12, 19, 26).
    let weekly =
        report(&contract("maintenance: [ { weekly: sun, at: \"03:00\", duration: 1h } ]\n"), "2026-04", &results);
    assert_eq!(weekly.excluded_slices, 4 * 60);
}

#[test]
fn failed_ratio_slow_ms_and_combine() {
    // Two probes a minute per region; one fails in every minute of one hour.
    let mut results = april(|_| false);
    let failing = minutely("acme-api", &["eu-west"], "2026-04-03T00:00:00Z", "2026-04-03T01:00:00Z", |_, _| true);
    results.extend(failing);
    assert_eq!(report(&contract(""), "2026-04", &results).down_slices, 60, "1 of 2 failed >= 0.5");
    assert_eq!(report(&contract("failed_ratio: 0.75\n"), "2026-04", &results).down_slices, 0);
    // slow_ms: every probe took 20 ms.
    assert_eq!(report(&contract("slow_ms: 10\n"), "2026-04", &results).down_slices, 43_200);
    // Two checks: the DNS check is down for 10 minutes; `any` counts it, `all` does not.
    let mut two = results.clone();
    two.extend(minutely("acme-dns", &["eu-west"], "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", |_, t| {
        within(t, "2026-04-20T00:00:00Z", "2026-04-20T00:10:00Z")
    }));
    assert_eq!(report(&contract("checks: [acme-api, acme-dns]\ncombine: any\n"), "2026-04", &two).down_slices, 70);
    assert_eq!(report(&contract("checks: [acme-api, acme-dns]\ncombine: all\n"), "2026-04", &two).down_slices, 0);
}

#[test]
fn results_for_other_checks_are_ignored_and_counted() {
    let results = minutely("someone-else", &["eu-west"], "2026-04-01T00:00:00Z", "2026-04-01T01:00:00Z", |_, _| true);
    let report = report(&contract(""), "2026-04", &results);
    assert_eq!((report.results_ignored, report.results_used, report.down_slices), (60, 0, 0));
}

#[test]
fn march_in_new_york_has_44580_slices() {
    let report = report(&contract("timezone: America/New_York\n"), "2024-03", &[]);
    assert_eq!(report.total_slices, 44_580);
    assert_eq!(report.days.len(), 31);
    assert_eq!(report.days[9].total_slices, 23 * 60, "10 March 2024 is 23 hours long in New York");
}

#[test]
fn a_period_begun_an_hour_ago_is_preliminary_and_counts_only_ended_slices() {
    // April 1, 01:00:30: 60 slices have ended, one outage of 5 minutes among them; 43,140 are still to come.
    let results = minutely("acme-api", &["eu-west"], "2026-04-01T00:00:00Z", "2026-04-01T01:00:30Z", |_, t| {
        within(t, "2026-04-01T00:10:00Z", "2026-04-01T00:15:00Z")
    });
    let contract = contract("no_data: down\n");
    let period = parse_period("2026-04", contract.terms.period, &contract.tz).unwrap();
    let now = at("2026-04-01T01:00:30Z");
    let report = evaluate(&contract, &period, &results, &horizon_from(&contract, &results, now));
    assert_eq!((report.future_slices, report.not_monitored_slices, report.unknown_slices), (43_140, 0, 0));
    assert_eq!((report.eligible_slices, report.down_slices), (60, 5));
    assert_eq!((report.period_status, report.preliminary, report.generated_at), (PeriodStatus::InProgress, true, now));
    assert!((report.uptime_percent.unwrap() - 100.0 * 55.0 / 60.0).abs() < 1e-9);
    assert_eq!(report.credit_percent, Decimal::from(100), "so far: 91.7 % is below every tier");
    assert_eq!(report.credit_certain_percent, Decimal::ZERO, "43,195 of 43,200 can still be up: 99.988 %");
    assert_eq!(report.met_at_best, Some(true));
    assert_eq!((report.monitored_from, report.monitored_until), (Some(period.start), Some(at("2026-04-01T01:00:00Z"))));
    assert_eq!((report.coverage.measurable_slices, report.coverage.reported_slices), (60, 60));
    assert_eq!((report.coverage.percent, report.coverage.low), (Some(100.0), false));
    assert_eq!(report.days.len(), 1, "days wholly to come are left out");
    assert_eq!((report.budget_seconds, report.budget_period_seconds), (3.6, 2592.0));
}

#[test]
fn time_before_the_first_result_is_not_monitored_whatever_no_data_says() {
    // Monitoring began on April 15 at 00:00; with `no_data: down` the first 14 days must not count as down.
    let results = minutely("acme-api", &["eu-west"], "2026-04-15T00:00:00Z", "2026-05-01T00:00:00Z", |_, _| false);
    let late_start = report(&contract("no_data: down\n"), "2026-04", &results);
    assert_eq!(
        (late_start.not_monitored_slices, late_start.unknown_slices, late_start.future_slices),
        (14 * 1440, 0, 0)
    );
    assert_eq!(late_start.eligible_slices, 16 * 1440);
    assert_eq!((late_start.uptime_percent, late_start.credit_amount), (Some(100.0), Decimal::new(0, 2)));
    assert_eq!((late_start.period_status, late_start.preliminary), (PeriodStatus::Complete, false));
    let coverage = &late_start.coverage;
    assert_eq!((coverage.measurable_slices, coverage.reported_slices), (43_200, 16 * 1440));
    assert!(coverage.low, "53 % is below the default 90 %");
    assert_eq!(coverage.regions[0].reported_slices, 16 * 1440);
    assert_eq!(late_start.monitored_from, Some(at("2026-04-15T00:00:00Z")));
    assert_eq!((late_start.days[0].not_monitored_slices, late_start.days[0].uptime_percent), (1440, None));

    // Monitoring began in March: a gap at the start of April is unknown, and with `no_data: down` counts down.
    let mut earlier = results.clone();
    earlier.extend(minutely("acme-api", &["eu-west"], "2026-03-31T23:00:00Z", "2026-03-31T23:01:00Z", |_, _| false));
    let gap = report(&contract("no_data: down\n"), "2026-04", &earlier);
    assert_eq!((gap.not_monitored_slices, gap.unknown_slices, gap.eligible_slices), (0, 14 * 1440, 43_200));
    assert_eq!(gap.credit_percent, Decimal::from(100));

    // No result at all: nothing was monitored, nothing is owed, even with `no_data: down`.
    let nothing = report(&contract("no_data: down\n"), "2026-04", &[]);
    assert_eq!(
        (nothing.not_monitored_slices, nothing.uptime_percent, nothing.credit_amount),
        (43_200, None, Decimal::ZERO)
    );
    assert_eq!((nothing.monitored_from, nothing.coverage.percent), (None, Some(0.0)));
}

fn state_strategy() -> impl Strategy<Value = Vec<SliceState>> {
    prop::collection::vec(prop_oneof![Just(SliceState::Up), Just(SliceState::Down), Just(SliceState::Unknown)], 0..200)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn forgiving_leaves_only_long_runs(mut states in state_strategy(), min_run in 1usize..8) {
        let before = states.clone();
        let runs = forgive_short_runs(&mut states, min_run);
        for run in &runs {
            prop_assert!(run.len() >= min_run);
            prop_assert!(states[run.clone()].iter().all(|state| *state == SliceState::Down));
        }
        let down_after = states.iter().filter(|state| **state == SliceState::Down).count();
        prop_assert_eq!(down_after, runs.iter().map(|run| run.len()).sum::<usize>());
        for (old, new) in before.iter().zip(&states) {
            prop_assert!(old == new || (*old == SliceState::Down && *new == SliceState::Up));
        }
    }

    #[test]
    fn a_failed_result_never_raises_uptime(
        outage_starts in prop::collection::vec(0u32..700, 0..6),
        extra in 0u32..720,
        min_down_run in 1u32..4,
    ) {
        let contract = contract(&format!("slice: 1h\nmin_down_run: {min_down_run}\n"));
        let hour = |index: u32| at("2026-04-01T00:00:00Z") + SignedDuration::from_hours(i64::from(index));
        let hourly = SignedDuration::from_hours(1);
        let mut results = every(hourly, "acme-api", &["eu-west"], "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", |_, t| {
            outage_starts.iter().any(|start| hour(*start) <= t && t < hour(*start + 3))
        });
        let before = report(&contract, "2026-04", &results);
        let mut failed = results[0].clone();
        failed.started_at = hour(extra) + SignedDuration::from_secs(30);
        failed.ok = false;
        results.push(failed);
        let after = report(&contract, "2026-04", &results);
        prop_assert!(after.uptime_percent <= before.uptime_percent);
        prop_assert!(after.credit_amount >= before.credit_amount);
    }

    #[test]
    fn a_report_does_not_depend_on_the_order_results_arrive_in(
        outages in prop::collection::vec((0u32..700, 0usize..3), 0..8),
        order in Just((0..2_160usize).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let contract = contract("slice: 1h\nmin_down_run: 2\nmin_regions_down: 2\n");
        let regions = ["eu-west", "us-east", "ap-south"];
        let hour = |index: u32| at("2026-04-01T00:00:00Z") + SignedDuration::from_hours(i64::from(index));
        let mut results = every(SignedDuration::from_hours(1), "acme-api", &regions, "2026-04-01T00:00:00Z",
            "2026-05-01T00:00:00Z", |region, t| {
                outages.iter().any(|(start, skip)| regions[*skip] != region && hour(*start) <= t && t < hour(*start + 3))
            });
        for (index, result) in results.iter_mut().enumerate().filter(|(_, result)| !result.ok) {
            result.error = Some(format!("connect: refused ({index})"));
        }
        let in_time_order = report(&contract, "2026-04", &results);
        let shuffled: Vec<ResultRecord> = order.iter().map(|index| results[*index].clone()).collect();
        prop_assert_eq!(report(&contract, "2026-04", &shuffled), in_time_order);
    }

    #[test]
    fn slices_partition_and_the_certain_credit_never_exceeds_the_credit_so_far(
        outage_starts in prop::collection::vec(0u32..700, 0..6),
        first_hour in 0u32..720,
        now_hour in 0u32..800,
        no_data in prop_oneof![Just("exclude"), Just("up"), Just("down")],
    ) {
        let contract = contract(&format!("slice: 1h\nno_data: {no_data}\nmaintenance: [ {{ weekly: sun, at: \"03:00\", duration: 2h }} ]\n"));
        let hour = |index: u32| at("2026-04-01T00:00:00Z") + SignedDuration::from_hours(i64::from(index));
        let results: Vec<ResultRecord> = every(SignedDuration::from_hours(3), "acme-api", &["eu-west"], "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", |_, t| {
            outage_starts.iter().any(|start| hour(*start) <= t && t < hour(*start + 7))
        }).into_iter().filter(|result| result.started_at >= hour(first_hour)).collect();
        let period = parse_period("2026-04", contract.terms.period, &contract.tz).unwrap();
        let report = evaluate(&contract, &period, &results, &horizon_from(&contract, &results, hour(now_hour)));
        let counted_unknown = if no_data == "exclude" { report.unknown_slices } else { 0 };
        prop_assert_eq!(
            report.eligible_slices + report.excluded_slices + counted_unknown + report.not_monitored_slices + report.future_slices,
            report.total_slices
        );
        prop_assert_eq!(report.future_slices, u64::from(720u32.saturating_sub(now_hour)));
        prop_assert!(report.credit_certain_percent <= report.credit_percent);
        prop_assert!(report.coverage.reported_slices <= report.coverage.measurable_slices);
        prop_assert_eq!(report.preliminary, now_hour < 720);
        if report.future_slices == 0 {
            prop_assert_eq!(report.credit_certain_amount, report.credit_amount);
        }
    }

    #[test]
    fn credit_is_monotone_in_uptime(a in 0u64..=10_000, b in 0u64..=10_000) {
        let contract = contract("");
        let tiers = &contract.terms.credits.tiers;
        let (low, high) = (a.min(b), a.max(b));
        let credit = |up| super::credit::credit_percent(tiers, Decimal::ONE_HUNDRED, super::credit::Uptime::new(up, 10_000));
        prop_assert!(credit(low) >= credit(high));
    }
}

/// Example A's contract and data up to `as_of`, with an outage of `outage_minutes` from April 2, 10:00.
fn status_of_example_a(outage_minutes: i64, as_of: &str) -> super::status::ContractStatus {
    let contract = contract("");
    let outage_start = at("2026-04-02T10:00:00Z");
    let outage_end = outage_start + SignedDuration::from_mins(outage_minutes);
    let results =
        minutely("acme-api", &["eu-west"], "2026-04-01T00:00:00Z", as_of, |_, t| outage_start <= t && t < outage_end);
    let period = super::status::current_period(&contract, at(as_of)).unwrap();
    status(&contract, &period, &horizon_from(&contract, &results, at(as_of)), &results)
}

#[test]
fn status_part_way_through_a_period() {
    use super::status::Standing;
    // April 11, 00:00:30: 10 days = 14,400 slices so far, 28,800 to come; the budget is 43,200 min × 0.1 %.
    let breached = status_of_example_a(100, "2026-04-11T00:00:30Z");
    assert_eq!((breached.so_far.eligible_slices, breached.so_far.down_slices), (14_400, 100));
    assert_eq!(breached.remaining_slices, 28_800);
    assert_eq!(breached.budget_seconds, 2_592.0);
    assert_eq!(breached.budget_left_seconds, 2_592.0 - 6_000.0);
    assert_eq!(breached.standing, Standing::Breached, "100 minutes down breach 99.9 % whatever follows");
    assert!((breached.best_case_uptime_percent.unwrap() - 99.768_518_518).abs() < 1e-6);
    assert_eq!(breached.credit_certain_percent, Decimal::from(10));
    assert_eq!(breached.credit_certain_amount, Decimal::new(20_000, 2));

    let at_risk = status_of_example_a(30, "2026-04-11T00:00:30Z");
    assert_eq!(at_risk.standing, Standing::AtRisk, "99.79 % so far; 99.93 % if the rest is up");
    assert_eq!(at_risk.budget_left_seconds, 792.0);
    assert_eq!(at_risk.credit_certain_percent, Decimal::ZERO);

    let fine = status_of_example_a(0, "2026-04-11T00:00:30Z");
    assert_eq!((fine.standing, fine.so_far.uptime_percent), (Standing::Ok, Some(100.0)));
    assert_eq!(fine.budget_left_seconds, 2_592.0);
}

#[test]
fn the_current_period_follows_the_contracts_kind_and_time_zone() {
    let month = contract("");
    assert_eq!(super::status::current_period(&month, at("2026-04-15T12:00:00Z")).unwrap().label, "2026-04");
    let quarter = contract("period: quarter");
    assert_eq!(super::status::current_period(&quarter, at("2026-05-15T12:00:00Z")).unwrap().label, "2026-Q2");
    let new_york = contract("timezone: America/New_York");
    let late_april = super::status::current_period(&new_york, at("2026-05-01T02:00:00Z")).unwrap();
    assert_eq!(late_april.label, "2026-04", "still April 30 in New York");
}

#[test]
fn percentiles_are_nearest_rank_within_one_percent() {
    let sketch = |values: &[f64]| {
        let mut sketch = super::latency::LatencySketch::default();
        values.iter().for_each(|value| sketch.add(*value));
        sketch.percentiles()
    };
    let close = |figure: f64, exact: f64| (figure - exact).abs() <= exact * 0.01;
    let hundred: Vec<f64> = (1..=100).rev().map(f64::from).collect();
    let figures = sketch(&hundred).unwrap();
    assert!(close(figures.p50_ms, 50.0) && close(figures.p95_ms, 95.0) && close(figures.p99_ms, 99.0), "{figures:?}");
    let ten = sketch(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]).unwrap();
    assert!(close(ten.p50_ms, 5.0) && close(ten.p95_ms, 10.0) && close(ten.p99_ms, 10.0), "{ten:?}");
    assert_eq!(sketch(&[]), None);
}

#[test]
fn each_region_is_evaluated_from_its_own_results() {
    // Example C's shape: eu-west down 10:00–10:30, us-east down 10:20–10:40 on April 10.
    let contract = contract("min_regions_down: 2");
    let results =
        minutely("acme-api", &["eu-west", "us-east"], "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", |region, t| {
            match region {
                "eu-west" => within(t, "2026-04-10T10:00:00Z", "2026-04-10T10:30:00Z"),
                _ => within(t, "2026-04-10T10:20:00Z", "2026-04-10T10:40:00Z"),
            }
        });
    let period = parse_period("2026-04", contract.terms.period, &contract.tz).unwrap();
    let horizon = horizon_from(&contract, &results, at("2030-01-01T00:00:00Z"));
    let mut evaluation = super::Evaluation::new(&contract, &period);
    let mut breakdown = super::breakdown::Breakdown::new((period.start, period.end));
    for result in &results {
        evaluation.add(result);
        if let (true, Some(ms)) = (result.ok, result.duration_ms) {
            let slice = evaluation.slice_of(result.started_at).unwrap();
            breakdown.add_latency(&contract, evaluation.slice_bounds(slice).0, &result.region, ms);
        }
    }
    let (regions, days) = breakdown.finish(&evaluation, &horizon);
    let summary: Vec<_> = regions.iter().map(|view| (view.region.as_str(), view.down_slices, view.failed)).collect();
    assert_eq!(summary, [("eu-west", 30, 30), ("us-east", 20, 20)], "each region alone, despite the quorum");
    assert_eq!(regions[0].results, 43_200);
    let p99 = regions[0].latency.unwrap().p99_ms;
    assert!((p99 - 20.0).abs() <= 0.2, "within 1 % of the 20 ms measured: {p99}");

    assert_eq!(days.len(), 30);
    assert_eq!(days[9].date, jiff::civil::date(2026, 4, 10));
    assert_eq!(days[9].samples, 2 * 1_440 - 50, "failed results carry no latency");
}
