//! Rule 11's judgement of one span: what makes an agent's results inconclusive there, and what does not.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;

use super::{AgentFault, FaultRule, judge_span, vendors_of_checks};
use crate::fixtures::{at, contract, every};

/// Three vendors' contracts, one check each, and a fourth check of the first vendor.
fn vendors() -> std::collections::HashMap<String, std::collections::BTreeSet<String>> {
    let contracts = [
        contract("id: acme\nvendor: Acme\nchecks: [acme-api, acme-web]\n"),
        contract("id: bolt\nvendor: Bolt\nchecks: [bolt-api]\n"),
        contract("id: crux\nvendor: Crux\nchecks: [crux-api]\n"),
    ];
    vendors_of_checks(&contracts)
}

fn result(check: &str, agent: &str, ok: bool, second: i64) -> ResultRecord {
    let region = agent.rsplit_once('-').map_or(agent, |(region, _)| region);
    let started = start() + SignedDuration::from_secs(second);
    let one = every(
        SignedDuration::from_mins(1),
        check,
        &[region],
        "2026-04-10T12:03:00Z",
        "2026-04-10T12:04:00Z",
        |_, _| !ok,
    );
    ResultRecord { agent_id: Some(agent.to_owned()), started_at: started, ..one[0].clone() }
}

fn start() -> Timestamp {
    at("2026-04-10T12:03:00Z")
}

/// Every check probed once from eu-west (failing unless named in `eu_passing`) and once from us-east (passing
/// unless named in `us_failing`).
fn span(eu_passing: &[&str], us_failing: &[&str]) -> Vec<ResultRecord> {
    let checks = ["acme-api", "acme-web", "bolt-api", "crux-api"];
    let mut results = Vec::new();
    for (second, check) in (5..).zip(checks) {
        results.push(result(check, "eu-west-1", eu_passing.contains(&check), second));
        results.push(result(check, "us-east-1", !us_failing.contains(&check), second + 1));
    }
    results
}

#[test]
fn every_check_failing_across_three_vendors_seen_up_elsewhere_is_a_fault() {
    let faults = judge_span(&FaultRule::default(), start(), &span(&[], &[]), &vendors());
    let vendors = ["Acme", "Bolt", "Crux"].map(str::to_owned).to_vec();
    let end = at("2026-04-10T12:04:00Z");
    assert_eq!(
        faults,
        [AgentFault { agent_id: "eu-west-1".into(), region: "eu-west".into(), start: start(), end, vendors }]
    );
}

#[test]
fn one_passing_check_or_a_vendor_down_elsewhere_too_is_no_fault() {
    let rule = FaultRule::default();
    assert!(judge_span(&rule, start(), &span(&["acme-web"], &[]), &vendors()).is_empty(), "it still reached Acme");
    // Crux failed from us-east as well: only two vendors were seen up elsewhere.
    assert!(judge_span(&rule, start(), &span(&[], &["crux-api"]), &vendors()).is_empty());
    // Acme's web check failed elsewhere but its API did not: Acme still counts as seen up.
    assert_eq!(judge_span(&rule, start(), &span(&[], &["acme-web"]), &vendors()).len(), 1);
    let two = FaultRule { vendors: 2, ..rule };
    assert_eq!(judge_span(&two, start(), &span(&[], &["crux-api"]), &vendors()).len(), 1);
    let off = FaultRule { vendors: 0, ..rule };
    assert!(judge_span(&off, start(), &span(&[], &[]), &vendors()).is_empty());
}

#[test]
fn another_agent_of_the_same_region_does_not_count_as_elsewhere() {
    let mut results = span(&[], &[]);
    results.retain(|result| result.region == "eu-west");
    let neighbour: Vec<ResultRecord> = (results.iter())
        .map(|result| ResultRecord { agent_id: Some("eu-west-2".into()), ok: true, ..result.clone() })
        .collect();
    results.extend(neighbour);
    assert!(judge_span(&FaultRule::default(), start(), &results, &vendors()).is_empty());
}

#[test]
fn controls_unnamed_checks_and_results_without_an_agent_are_left_out() {
    let mut results = span(&[], &[]);
    results.push(ResultRecord { control: true, ok: true, ..result("ctl-gateway", "eu-west-1", true, 30) });
    results.push(result("not-in-a-contract", "eu-west-1", true, 31));
    results.push(ResultRecord { agent_id: None, ..result("acme-api", "eu-west-1", true, 32) });
    assert_eq!(judge_span(&FaultRule::default(), start(), &results, &vendors()).len(), 1);
}

#[test]
fn spans_are_cut_from_the_epoch_and_their_length_is_checked() {
    let rule = FaultRule { span: Duration::from_secs(300), ..FaultRule::default() };
    assert_eq!(rule.span_start(at("2026-04-10T12:07:59Z")), at("2026-04-10T12:05:00Z"));
    assert_eq!(rule.span_end(at("2026-04-10T12:05:00Z")), at("2026-04-10T12:10:00Z"));
    assert_eq!(rule.problem(), None);
    let half = FaultRule { span: Duration::from_millis(1500), ..rule };
    assert_eq!(half.problem().as_deref(), Some("span: must be whole seconds from 1s to 1h, not 1.5s"));
    let long = FaultRule { span: Duration::from_secs(7200), ..rule };
    assert!(long.problem().is_some());
}
