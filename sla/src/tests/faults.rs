//! Rule 11: worked example G of `docs/sla.md` (one agent saw three vendors fail at once while another region saw
//! them up), what does not make a fault, and a property: faults only ever take down votes away.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use rust_decimal::Decimal;
use slaprobe_proto::ResultRecord;

use super::{report, within};
use crate::contract::Contract;
use crate::faults::{AgentFault, FaultRule, judge_span, vendors_of_checks};
use crate::fixtures::{at, contract, every, horizon_from};
use crate::{Evaluation, Report, parse_period};

const REGIONS: [&str; 2] = ["eu-west", "us-east"];
const MINUTE: SignedDuration = SignedDuration::from_mins(1);

/// Acme's, Bolt's and Crux's contracts, one check each.
fn contracts() -> [Contract; 3] {
    ["acme", "bolt", "crux"].map(|name| {
        let vendor = format!("{}{}", name[..1].to_uppercase(), &name[1..]);
        contract(&format!("id: {name}\nvendor: {vendor}\nchecks: [{name}-api]\n"))
    })
}

/// April's results of every check from both regions' agents, one every `step` each, failed where `down(check,
/// region, t)`.
fn measured(step: SignedDuration, down: impl Fn(&str, &str, Timestamp) -> bool) -> Vec<ResultRecord> {
    let mut results = Vec::new();
    for check in ["acme-api", "bolt-api", "crux-api"] {
        let probes = every(step, check, &REGIONS, "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", |region, t| {
            down(check, region, t)
        });
        results.extend(
            probes.into_iter().map(|result| ResultRecord { agent_id: Some(format!("{}-1", result.region)), ..result }),
        );
    }
    results
}

/// Rule 11 judged over every minute of `results`, as the collector does.
fn judged(results: &[ResultRecord], contracts: &[Contract]) -> Vec<AgentFault> {
    let rule = FaultRule::default();
    let vendors = vendors_of_checks(contracts);
    let mut spans: BTreeMap<Timestamp, Vec<ResultRecord>> = BTreeMap::new();
    for result in results {
        spans.entry(rule.span_start(result.started_at)).or_default().push(result.clone());
    }
    spans.iter().flat_map(|(start, results)| judge_span(&rule, *start, results, &vendors)).collect()
}

/// The report of April with `faults` applied, once the period is long over.
fn report_with(contract: &Contract, results: &[ResultRecord], faults: &[AgentFault]) -> Report {
    let period = parse_period("2026-04", contract.terms.period, &contract.tz).unwrap();
    let mut evaluation = Evaluation::new(contract, &period);
    results.iter().for_each(|result| evaluation.add(result));
    faults.iter().for_each(|fault| evaluation.add_fault(fault));
    evaluation.report(&horizon_from(contract, results, at("2030-01-01T00:00:00Z")))
}

fn the_hour(t: Timestamp) -> bool {
    within(t, "2026-04-10T12:00:00Z", "2026-04-10T13:00:00Z")
}

#[test]
fn example_g_every_vendor_failed_from_one_agent_only() {
    let contracts = contracts();
    // eu-west's agent loses its route to the Internet for an hour; it has no control checks.
    let results = measured(MINUTE, |_, region, t| region == "eu-west" && the_hour(t));
    let faults = judged(&results, &contracts);
    assert_eq!(faults.len(), 60, "one fault per minute of the hour");
    assert!(faults.iter().all(|fault| fault.agent_id == "eu-west-1" && fault.vendors == ["Acme", "Bolt", "Crux"]));
    assert_eq!((faults[0].start, faults[59].end), (at("2026-04-10T12:00:00Z"), at("2026-04-10T13:00:00Z")));

    let acme = &contracts[0];
    let without = report(acme, "2026-04", &results);
    assert_eq!((without.down_slices, without.credit_amount), (60, Decimal::new(20000, 2)));
    let report = report_with(acme, &results, &faults);
    assert_eq!((report.down_slices, report.unknown_slices, report.credit_amount), (0, 0, Decimal::ZERO));
    let inconclusive: Vec<(&str, u64)> =
        report.coverage.regions.iter().map(|region| (region.region.as_str(), region.inconclusive_slices)).collect();
    assert_eq!(inconclusive, [("eu-west", 60), ("us-east", 0)]);
}

#[test]
fn vendors_down_everywhere_or_too_few_vendors_stay_down() {
    let contracts = contracts();
    // All three down from both regions: that is the vendors' (or the Internet's) outage, not our agent's.
    let everywhere = measured(MINUTE, |_, _, t| the_hour(t));
    assert!(judged(&everywhere, &contracts).is_empty());
    assert_eq!(report(&contracts[0], "2026-04", &everywhere).down_slices, 60);
    // Only Acme and Bolt failed from eu-west, Crux still answered: eu-west's agent could reach the Internet.
    let two = measured(MINUTE, |check, region, t| region == "eu-west" && check != "crux-api" && the_hour(t));
    assert!(judged(&two, &contracts).is_empty());
    assert_eq!(report(&contracts[0], "2026-04", &two).down_slices, 60);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn faults_only_ever_take_down_votes_away(
        outages in prop::collection::vec((0i64..700, 0usize..2, 0usize..3, 1i64..5), 0..8),
        faults in prop::collection::vec((0i64..700, 0usize..2, 1i64..5), 0..6),
    ) {
        let contract = contract("slice: 1h\n");
        let hour = |index: i64| at("2026-04-01T00:00:00Z") + SignedDuration::from_hours(index);
        let checks = ["acme-api", "bolt-api", "crux-api"];
        let results: Vec<ResultRecord> = measured(SignedDuration::from_hours(1), |check, region, t| {
            outages.iter().any(|(start, at_region, at_check, hours)| {
                REGIONS[*at_region] == region && checks[*at_check] == check && hour(*start) <= t
                    && t < hour(start + hours)
            })
        });
        let faults: Vec<AgentFault> = (faults.iter())
            .map(|(start, at_region, hours)| AgentFault {
                agent_id: format!("{}-1", REGIONS[*at_region]),
                region: REGIONS[*at_region].to_owned(),
                start: hour(*start),
                end: hour(start + hours),
                vendors: Vec::new(),
            })
            .collect();
        let alone = report(&contract, "2026-04", &results);
        prop_assert_eq!(&report_with(&contract, &results, &[]), &alone, "no faults change nothing");
        let judged = report_with(&contract, &results, &faults);
        prop_assert!(judged.down_slices <= alone.down_slices);
        prop_assert!(judged.credit_amount <= alone.credit_amount || judged.eligible_slices < alone.eligible_slices);
    }
}
