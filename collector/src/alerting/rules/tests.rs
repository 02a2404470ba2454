//! Rule tests with synthetic slice votes and results, and numbers worked out by hand.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::{HttpDetail, ResultRecord};

use super::*;
use crate::config::alerting::AlertRule;
use slaprobe_sla::engine::{SliceState, SliceVote, slice_votes};
use slaprobe_sla::fixtures::{at, contract, minutely, status};

/// Monitoring that began long before any slice these tests judge.
const EVER: Option<Timestamp> = Some(Timestamp::MIN);
use slaprobe_sla::parse_period;

/// Votes of one-minute slices from 2026-04-01T00:00Z, one per character: `U`p, `D`own (in `eu`), `?` unknown,
/// `x` excluded.
fn votes(pattern: &str) -> Vec<SliceVote> {
    let start = at("2026-04-01T00:00:00Z");
    pattern
        .chars()
        .enumerate()
        .map(|(index, mark)| {
            let slice_start = start + SignedDuration::from_mins(index as i64);
            let state = match mark {
                'U' => SliceState::Up,
                'D' => SliceState::Down,
                '?' => SliceState::Unknown,
                _ => SliceState::Excluded,
            };
            SliceVote {
                start: slice_start,
                end: slice_start + SignedDuration::from_mins(1),
                state,
                down_regions: if state == SliceState::Down { vec!["eu".to_owned()] } else { Vec::new() },
            }
        })
        .collect()
}

#[test]
fn down_fires_after_n_down_slices_and_resolves_after_m_up_slices() {
    assert_eq!(down(&votes("UUUD"), 2, 2, false), None, "one down slice is not two");
    let finding = down(&votes("UUDD"), 2, 2, false).expect("two down slices fire");
    assert_eq!(finding.since, Some(at("2026-04-01T00:02:00Z")), "since the run's first slice");
    assert_eq!(finding.regions, ["eu"]);
    assert_eq!(down(&votes("UUD?D"), 2, 2, false), None, "an unknown slice breaks the run");
    assert!(down(&votes("DDDU"), 2, 2, true).is_some(), "one up slice does not resolve");
    assert!(down(&votes("DDU??"), 2, 2, true).is_some(), "unknown slices do not count up");
    assert_eq!(down(&votes("DDU?xU"), 2, 2, true), None, "nor do they break the recovery");
    assert!(down(&votes("DDUDU"), 2, 2, true).is_some(), "a down slice does");
    let still = down(&votes("UDDU??"), 2, 2, true).unwrap();
    assert_eq!(still.since, Some(at("2026-04-01T00:01:00Z")), "the latest down run is described");
    assert_eq!(down(&votes("DDUU"), 2, 2, true), None, "two up slices resolve");
    assert!(down(&votes("UUDDD"), 3, 1, false).is_some());
    assert_eq!(down(&votes("DDDU"), 3, 1, true), None);
}

#[test]
fn down_follows_the_quorum_rule_of_the_contract() {
    let contract = contract("min_regions_down: 2");
    let regions = ["ap", "eu", "us"];
    let slice_votes_for = |failing: &'static [&'static str]| {
        let results = minutely("acme-api", &regions, "2026-04-01T00:00:00Z", "2026-04-01T00:10:00Z", |region, t| {
            failing.contains(&region) && t >= at("2026-04-01T00:05:00Z")
        });
        let window = (at("2026-04-01T00:00:00Z"), at("2026-04-01T00:10:00Z"));
        slice_votes(&contract, at("2026-04-01T00:00:00Z"), window, EVER, &results, &[])
    };
    let one_region = slice_votes_for(&["eu"]);
    assert_eq!(one_region.len(), 10);
    assert_eq!(down(&one_region, 2, 2, false), None, "1 of 3 regions down under quorum 2 is up");
    let two_regions = slice_votes_for(&["eu", "us"]);
    let finding = down(&two_regions, 2, 2, false).expect("2 of 3 regions down fires");
    assert_eq!(finding.regions, ["eu", "us"]);
    assert_eq!(finding.since, Some(at("2026-04-01T00:05:00Z")));
}

#[test]
fn slice_votes_keep_to_whole_slices_on_the_period_grid() {
    let contract = contract("");
    let results = minutely("acme-api", &["eu"], "2026-04-01T00:00:00Z", "2026-04-01T00:10:00Z", |_, _| false);
    let anchor = at("2026-04-01T00:00:00Z");
    let votes =
        slice_votes(&contract, anchor, (at("2026-04-01T00:02:30Z"), at("2026-04-01T00:07:59Z")), EVER, &results, &[]);
    let starts: Vec<String> = votes.iter().map(|vote| vote.start.to_string()).collect();
    assert_eq!(
        starts,
        ["2026-04-01T00:03:00Z", "2026-04-01T00:04:00Z", "2026-04-01T00:05:00Z", "2026-04-01T00:06:00Z"]
    );
    let before = slice_votes(&contract, anchor, (at("2026-03-31T23:58:00Z"), anchor), EVER, &results, &[]);
    assert_eq!(before.len(), 2, "slices before the anchor step back from it");
    assert!(before.iter().all(|vote| vote.state == SliceState::Unknown));
}

/// `total` one-minute votes, up but for the slices `down` counts back from the end (1 = the last slice).
fn trailing_votes(total: usize, down: &[usize]) -> Vec<SliceVote> {
    let pattern: String = (0..total).map(|index| if down.contains(&(total - index)) { 'D' } else { 'U' }).collect();
    votes(&pattern)
}

const THIRTY_DAYS: Duration = Duration::from_secs(30 * 24 * 3600);
const THREE_DAYS_OF_MINUTES: usize = 3 * 24 * 60;

#[test]
fn time_before_the_first_result_burns_no_budget_even_with_no_data_down() {
    // A contract monitored from 00:30, all up since; with `no_data: down` the half hour before would burn the
    // budget 500 times over if it counted as unknown.
    let contract = contract("no_data: down");
    let results = minutely("acme-api", &["eu"], "2026-04-01T00:30:00Z", "2026-04-01T01:00:00Z", |_, _| false);
    let window = (at("2026-04-01T00:00:00Z"), at("2026-04-01T01:00:00Z"));
    let anchor = at("2026-04-01T00:00:00Z");
    let windows = AlertRule::default_windows();
    let judged = |monitored_from| slice_votes(&contract, anchor, window, monitored_from, &results, &[]);
    let from_first_result = judged(Some(at("2026-04-01T00:30:05Z")));
    assert_eq!(from_first_result.iter().filter(|vote| vote.state == SliceState::NotMonitored).count(), 30);
    assert_eq!(burn_rate(&contract, &windows, THIRTY_DAYS, &from_first_result), None);
    assert!(burn_rate(&contract, &windows, THIRTY_DAYS, &judged(EVER)).is_some(), "unknown counts down");
}

#[test]
fn burn_rate_windows_match_the_numbers_worked_by_hand() {
    // Objective 99 %: the budget is 1 % of the slices. Page at 14.4x over 1 h (60 slices) and 5 m: 14.4 % of 60
    // slices is 8.64, so 9 down slices in the last hour fire (15x) and 8 do not (13.3x); the 6 h and 3 d windows
    // stay below 6x (9 / 360 = 2.5 %) and 1x (9 / 4320 = 0.21 %).
    let contract =
        contract("objective: 99\ncredits: { fee: 100, currency: USD, tiers: [ { below: 99, credit: 10 } ] }");
    let windows = AlertRule::default_windows();
    let nine: Vec<usize> = (1..=9).collect();
    let finding = burn_rate(&contract, &windows, THIRTY_DAYS, &trailing_votes(THREE_DAYS_OF_MINUTES, &nine))
        .expect("9 down slices in the last hour burn at 15x");
    assert!(finding.summary.contains("15.0x over 1 h and 100.0x over 5 min"), "{}", finding.summary);
    assert!(finding.summary.contains("alert at 14.4x"), "{}", finding.summary);
    let eight: Vec<usize> = (1..=8).collect();
    assert_eq!(burn_rate(&contract, &windows, THIRTY_DAYS, &trailing_votes(THREE_DAYS_OF_MINUTES, &eight)), None);

    // 6x over 6 h (360 slices) and 30 m: 6 % of 360 is 21.6, so 22 down slices fire when 2 of them (6 % of 30 is
    // 1.8) fall in the last 30 minutes; 21 do not. Kept out of the last hour but for those 2, so 14.4x is quiet
    // (2 / 60 = 3.3 %).
    let spread = |count: usize| -> Vec<usize> { [10, 20].into_iter().chain(100..100 + count - 2).collect() };
    let finding = burn_rate(&contract, &windows, THIRTY_DAYS, &trailing_votes(THREE_DAYS_OF_MINUTES, &spread(22)))
        .expect("22 down slices in 6 h burn at 6.1x");
    assert!(finding.summary.contains("alert at 6x"), "{}", finding.summary);
    assert_eq!(burn_rate(&contract, &windows, THIRTY_DAYS, &trailing_votes(THREE_DAYS_OF_MINUTES, &spread(21))), None);

    // The short window makes it resolve: the same 9 slices, 5 minutes ago, leave the last 5 minutes clean.
    let earlier: Vec<usize> = (6..=14).collect();
    assert_eq!(burn_rate(&contract, &windows, THIRTY_DAYS, &trailing_votes(THREE_DAYS_OF_MINUTES, &earlier)), None);
}

#[test]
fn burn_rate_windows_scale_with_the_period() {
    let minute = Duration::from_secs(60);
    let days = |days: u64| Duration::from_secs(days * 24 * 3600);
    assert_eq!(scaled_slices(Duration::from_secs(3600), days(30), minute), 60);
    assert_eq!(
        scaled_slices(Duration::from_secs(3600), days(31), minute),
        62,
        "1 h of a 30-day month is 62 m of a 31-day one"
    );
    assert_eq!(scaled_slices(Duration::from_secs(300), days(90), minute), 15, "5 m scale to 15 m in a 90-day quarter");
    assert_eq!(scaled_slices(Duration::from_secs(300), days(30), Duration::from_secs(600)), 1, "never below one slice");
}

#[test]
fn breach_forecast_projects_the_recent_down_rate_to_the_period_end() {
    // April (43,200 minutes), objective 99.9 %: 43.2 minutes of budget. On April 11 at 00:00, 14,400 minutes are
    // over and 28,800 remain. 10 down minutes in the last 24 h (1,440 slices): r = 10/1440, projected down =
    // 10 + 28,800 × 10/1440 = 210 minutes, uptime (43,200 − 210) / 43,200 = 99.513 %: below the objective.
    let contract = contract("");
    let period = parse_period("2026-04", contract.terms.period, &contract.tz).unwrap();
    let now = at("2026-04-11T00:00:00Z");
    let forecast = |outage: (&'static str, &'static str)| {
        let results = minutely("acme-api", &["eu"], "2026-04-01T00:00:00Z", "2026-04-11T00:00:00Z", |_, t| {
            at(outage.0) <= t && t < at(outage.1)
        });
        let standing =
            status(&contract, &period, &slaprobe_sla::fixtures::horizon_from(&contract, &results, now), &results);
        let recent =
            slice_votes(&contract, period.start, (now - SignedDuration::from_hours(24), now), EVER, &results, &[]);
        breach_forecast(&contract, &standing, &recent)
    };
    let finding =
        forecast(("2026-04-10T12:00:00Z", "2026-04-10T12:10:00Z")).expect("a recent outage projects a breach");
    assert!(
        finding.summary.starts_with("projected 99.513 % at the period's end (objective 99.9 %)"),
        "{}",
        finding.summary
    );
    assert_eq!(finding.regions, ["eu"]);
    // The same 10 minutes two days earlier: r = 0, projected uptime (43,200 − 10) / 43,200 = 99.976 %.
    assert_eq!(forecast(("2026-04-08T12:00:00Z", "2026-04-08T12:10:00Z")), None);
}

#[test]
fn silent_names_quiet_agents_and_regions_left_without_any() {
    let now = at("2026-04-01T12:00:00Z");
    let agent = |id: &str, region: &str, seen: Option<&str>| Watched {
        agent_id: id.to_owned(),
        region: region.to_owned(),
        last_seen: seen.map(at),
    };
    let five_minutes = Duration::from_secs(300);
    let watching_since = at("2026-04-01T11:00:00Z");
    let fresh = [agent("eu-1", "eu", Some("2026-04-01T11:59:00Z")), agent("us-1", "us", Some("2026-04-01T11:55:01Z"))];
    assert_eq!(silent(&fresh, watching_since, now, five_minutes), None);
    let quiet = [
        agent("eu-1", "eu", Some("2026-04-01T11:59:00Z")),
        agent("eu-2", "eu", Some("2026-04-01T11:50:00Z")),
        agent("us-1", "us", None),
    ];
    let finding = silent(&quiet, watching_since, now, five_minutes).expect("two agents are quiet");
    assert_eq!(finding.regions, ["eu", "us"]);
    assert!(finding.summary.contains("eu-2 (eu, last seen 2026-04-01T11:50:00Z)"), "{}", finding.summary);
    assert!(finding.summary.contains("us-1 (us, never connected)"), "{}", finding.summary);
    assert!(finding.summary.ends_with("nothing at all from us"), "eu still has eu-1: {}", finding.summary);
    assert_eq!(silent(&quiet[2..], at("2026-04-01T11:58:00Z"), now, five_minutes), None, "counted from the start");
}

#[test]
fn cert_expiry_reports_the_soonest_certificate_within_the_horizon() {
    let now = at("2026-04-01T00:00:00Z");
    let result = |region: &str, expires: &str| ResultRecord {
        check_id: "acme-api".to_owned(),
        region: region.to_owned(),
        ok: true,
        started_at: now,
        http: Some(HttpDetail { cert_expires_at: Some(at(expires)), ..HttpDetail::default() }),
        ..minutely("acme-api", &[region], "2026-04-01T00:00:00Z", "2026-04-01T00:01:00Z", |_, _| false).remove(0)
    };
    let fortnight = Duration::from_secs(14 * 24 * 3600);
    let later = [result("eu", "2026-05-01T00:00:00Z"), result("us", "2026-04-20T00:00:00Z")];
    assert_eq!(cert_expiry(&later, now, fortnight), None);
    let soon = [result("eu", "2026-05-01T00:00:00Z"), result("us", "2026-04-08T00:00:00Z")];
    let finding = cert_expiry(&soon, now, fortnight).expect("7 days is within 14");
    assert_eq!(finding.regions, ["us"]);
    assert!(finding.summary.contains("acme-api expires in 7 d (2026-04-08T00:00:00Z"), "{}", finding.summary);
}
