//! Rule 10 with control probes: worked example F of `docs/sla.md` (our network failed, not the vendor's), its
//! variations, and properties: controls that pass change nothing, and failing ones only ever take down votes away.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use rust_decimal::Decimal;
use slaprobe_proto::ResultRecord;

use super::{report, within};
use crate::fixtures::{at, contract, every};

const CONTROLS: [&str; 3] = ["ctl-gateway", "ctl-resolver", "ctl-peer"];
const REGIONS: [&str; 2] = ["eu-west", "us-east"];

const MINUTE: SignedDuration = SignedDuration::from_mins(1);

/// April 2026's results of `acme-api` from eu-west and us-east (agents `eu-west-1`, `us-east-1`), one every
/// `step`, failed where `down(region, t)`.
fn measured(step: SignedDuration, down: impl Fn(&str, Timestamp) -> bool) -> Vec<ResultRecord> {
    with_agents(every(step, "acme-api", &REGIONS, "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", down))
}

/// Each region's agent's three control probes over April, one every `step` each; in region `region` at `t` the
/// first `failing(region, t)` of them fail.
fn controls(step: SignedDuration, failing: impl Fn(&str, Timestamp) -> usize) -> Vec<ResultRecord> {
    let mut results = Vec::new();
    for (index, control) in CONTROLS.iter().enumerate() {
        let probes = every(step, control, &REGIONS, "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", |region, t| {
            index < failing(region, t)
        });
        results.extend(with_agents(probes).into_iter().map(|result| ResultRecord { control: true, ..result }));
    }
    results
}

fn with_agents(results: Vec<ResultRecord>) -> Vec<ResultRecord> {
    (results.into_iter())
        .map(|result| ResultRecord { agent_id: Some(format!("{}-1", result.region)), ..result })
        .collect()
}

fn the_hour(t: Timestamp) -> bool {
    within(t, "2026-04-10T12:00:00Z", "2026-04-10T13:00:00Z")
}

#[test]
fn example_f_our_network_failed_not_the_vendors() {
    let contract = contract("");
    // eu-west's uplink fails for an hour: the vendor and two of its three controls fail from there only.
    let vendor = measured(MINUTE, |region, t| region == "eu-west" && the_hour(t));
    let failing = controls(MINUTE, |region, t| if region == "eu-west" && the_hour(t) { 2 } else { 0 });
    let with_controls: Vec<ResultRecord> = vendor.iter().cloned().chain(failing).collect();

    let without = report(&contract, "2026-04", &vendor);
    assert_eq!((without.down_slices, without.credit_amount), (60, Decimal::new(20000, 2)));

    let report = report(&contract, "2026-04", &with_controls);
    assert_eq!((report.down_slices, report.unknown_slices), (0, 0), "us-east alone reported, and up");
    assert_eq!(report.uptime_percent, Some(100.0));
    assert_eq!(report.credit_amount, Decimal::ZERO);
    assert!(report.incidents.is_empty());
    let inconclusive: Vec<(&str, u64)> =
        report.coverage.regions.iter().map(|region| (region.region.as_str(), region.inconclusive_slices)).collect();
    assert_eq!(inconclusive, [("eu-west", 60), ("us-east", 0)]);
    assert_eq!(report.coverage.regions[0].reported_slices, 43_200 - 60);
    assert_eq!(report.results_used, vendor.len() as u64, "control results are never the contract's");
    let markdown = crate::render::render(&[(&contract, report.clone())], crate::render::Format::Md);
    let said = "Inconclusive: **eu-west 1 h** (the agent's own control probes failed there, or every vendor it \
                probes failed from it alone, so its results counted \
                as no data from its region (our network, not the vendor's)).";
    assert!(markdown.contains(said), "{markdown}");
    assert_eq!(report.results_ignored, 0);
}

#[test]
fn a_vendor_down_where_controls_pass_is_still_down() {
    let contract = contract("");
    let vendor = measured(MINUTE, |_, t| the_hour(t));
    let mut results = vendor.clone();
    results.extend(controls(MINUTE, |region, t| if region == "eu-west" && the_hour(t) { 3 } else { 0 }));
    let report = report(&contract, "2026-04", &results);
    assert_eq!(report.down_slices, 60, "us-east's controls pass and it saw the vendor down");
    assert_eq!(report.incidents[0].regions, ["us-east"]);
}

#[test]
fn one_failing_control_of_three_is_not_a_majority() {
    let contract = contract("");
    let mut results = measured(MINUTE, |region, t| region == "eu-west" && the_hour(t));
    results.extend(controls(MINUTE, |region, t| if region == "eu-west" && the_hour(t) { 1 } else { 0 }));
    let report = report(&contract, "2026-04", &results);
    assert_eq!(report.down_slices, 60);
    assert!(report.coverage.regions.iter().all(|region| region.inconclusive_slices == 0));
}

#[test]
fn an_inconclusive_region_is_no_data_for_the_quorum() {
    // With two regions needed to report, the hour in which eu-west is inconclusive is unknown, not up.
    let contract = contract("min_regions_reporting: 2\n");
    let mut results = measured(MINUTE, |region, t| region == "eu-west" && the_hour(t));
    results.extend(controls(MINUTE, |region, t| if region == "eu-west" && the_hour(t) { 3 } else { 0 }));
    let report = report(&contract, "2026-04", &results);
    assert_eq!((report.down_slices, report.unknown_slices), (0, 60));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn controls_only_ever_take_down_votes_away(
        outages in prop::collection::vec((0i64..700, 0usize..2, 1i64..5), 0..6),
        control_faults in prop::collection::vec((0i64..700, 0usize..2, 1i64..5, 0usize..4), 0..6),
        min_down_run in 1u32..3,
    ) {
        const HOUR: SignedDuration = SignedDuration::from_hours(1);
        let contract = contract(&format!("slice: 1h\nmin_down_run: {min_down_run}\n"));
        let hour = |index: i64| at("2026-04-01T00:00:00Z") + SignedDuration::from_hours(index);
        let inside = |t: Timestamp, start: i64, hours: i64| hour(start) <= t && t < hour(start + hours);
        let vendor = measured(HOUR, |region, t| {
            outages.iter().any(|(start, skip, hours)| REGIONS[*skip] != region && inside(t, *start, *hours))
        });
        let passing = controls(HOUR, |_, _| 0);
        let failing = controls(HOUR, |region, t| {
            (control_faults.iter())
                .filter(|(start, at_region, hours, _)| REGIONS[*at_region] == region && inside(t, *start, *hours))
                .map(|(.., failing)| *failing)
                .max()
                .unwrap_or(0)
        });
        let alone = report(&contract, "2026-04", &vendor);
        let with = |controls: &[ResultRecord]| {
            let results: Vec<ResultRecord> = vendor.iter().chain(controls).cloned().collect();
            report(&contract, "2026-04", &results)
        };
        prop_assert_eq!(&with(&passing), &alone, "controls that pass change nothing");
        let judged = with(&failing);
        prop_assert!(judged.down_slices <= alone.down_slices);
        prop_assert!(judged.credit_amount <= alone.credit_amount || judged.eligible_slices < alone.eligible_slices);
    }
}
