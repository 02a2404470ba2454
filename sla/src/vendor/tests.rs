//! The vendor's word against a month with three outages of ours: one it declared, one during a maintenance it
//! announced two hours ahead, one it never mentioned; and an incident of its own that we never saw.

use jiff::Timestamp;

use super::*;
use crate::fixtures::{at, contract, horizon_from, minutely};
use crate::{evaluate, parse_period};

fn notice(id: &str, kind: NoticeKind, start: &str, end: Option<&str>, announced: &str) -> VendorNotice {
    VendorNotice {
        id: id.to_owned(),
        kind,
        name: format!("{id} title"),
        status: "resolved".to_owned(),
        impact: "major".to_owned(),
        start: at(start),
        end: end.map(at),
        announced_at: at(announced),
        link: None,
        components: Vec::new(),
    }
}

fn within(t: Timestamp, from: &str, to: &str) -> bool {
    at(from) <= t && t < at(to)
}

fn february() -> (crate::contract::Contract, Report) {
    let contract = contract("maintenance_notice: 72h");
    let period = parse_period("2026-02", contract.terms.period, &contract.tz).unwrap();
    let results = minutely("acme-api", &["eu"], "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", |_, t| {
        within(t, "2026-02-10T10:00:00Z", "2026-02-10T10:30:00Z")
            || within(t, "2026-02-20T14:00:00Z", "2026-02-20T14:20:00Z")
            || within(t, "2026-02-25T03:00:00Z", "2026-02-25T03:40:00Z")
    });
    let horizon = horizon_from(&contract, &results, at("2026-03-02T00:00:00Z"));
    let report = evaluate(&contract, &period, &results, &horizon);
    (contract, report)
}

fn page(notices: Vec<VendorNotice>) -> StatusPageRead {
    StatusPageRead {
        url: "https://status.acme.example".to_owned(),
        checked_at: Some(at("2026-03-01T12:00:00Z")),
        problem: None,
        notices,
    }
}

#[test]
fn each_incident_is_declared_during_maintenance_or_undeclared() {
    let (contract, report) = february();
    assert_eq!(report.incidents.len(), 3);
    let notices = vec![
        // Opened 12 minutes into ours, resolved before ours ended.
        notice(
            "inc-1",
            NoticeKind::Incident,
            "2026-02-10T10:12:00Z",
            Some("2026-02-10T10:25:00Z"),
            "2026-02-10T10:12:00Z",
        ),
        notice(
            "inc-2",
            NoticeKind::Incident,
            "2026-02-15T08:00:00Z",
            Some("2026-02-15T09:00:00Z"),
            "2026-02-15T08:05:00Z",
        ),
        notice(
            "mnt-1",
            NoticeKind::Maintenance,
            "2026-02-25T03:00:00Z",
            Some("2026-02-25T05:00:00Z"),
            "2026-02-25T01:00:00Z",
        ),
        notice(
            "mnt-0",
            NoticeKind::Maintenance,
            "2026-02-05T03:00:00Z",
            Some("2026-02-05T04:00:00Z"),
            "2026-01-29T03:00:00Z",
        ),
        // Another month's.
        notice(
            "inc-0",
            NoticeKind::Incident,
            "2026-01-20T08:00:00Z",
            Some("2026-01-20T09:00:00Z"),
            "2026-01-20T08:00:00Z",
        ),
    ];
    let status = compare(page(notices), &contract, &report);
    let verdicts: Vec<(Verdict, Vec<String>)> =
        status.incidents.iter().map(|word| (word.verdict, word.vendor_ids.clone())).collect();
    assert_eq!(
        verdicts,
        [
            (Verdict::Declared, vec!["inc-1".to_owned()]),
            (Verdict::Undeclared, vec![]),
            (Verdict::Maintenance, vec!["mnt-1".to_owned()]),
        ]
    );
    let ids: Vec<&str> = status.declared.iter().map(|declared| declared.notice.id.as_str()).collect();
    assert_eq!(ids, ["mnt-0", "inc-1", "inc-2", "mnt-1"], "the period's notices by start");
    let by_id = |id: &str| status.declared.iter().find(|declared| declared.notice.id == id).unwrap();
    assert_eq!((by_id("inc-1").seen, by_id("inc-1").down_seconds), (Some(true), 13 * 60));
    assert_eq!((by_id("inc-2").seen, by_id("inc-2").down_seconds), (Some(false), 0));
    assert_eq!(
        (by_id("mnt-1").notice_seconds, by_id("mnt-1").excludable, by_id("mnt-1").down_seconds),
        (Some(2 * 3600), Some(false), 40 * 60)
    );
    assert_eq!((by_id("mnt-0").notice_seconds, by_id("mnt-0").excludable), (Some(7 * 86_400), Some(true)));
    assert_eq!(
        (status.undeclared_incidents, status.unseen_vendor_incidents, status.short_notice_maintenances),
        (1, 1, 1)
    );
    assert_eq!(status.maintenance_notice_seconds, Some(72 * 3600));
}

#[test]
fn an_incident_opened_soon_after_ours_ended_is_the_same_outage() {
    let (contract, report) = february();
    let late = notice("late", NoticeKind::Incident, "2026-02-20T14:30:00Z", None, "2026-02-20T14:30:00Z");
    let too_late = notice("later", NoticeKind::Incident, "2026-02-20T14:36:00Z", None, "2026-02-20T14:36:00Z");
    let status = compare(page(vec![late]), &contract, &report);
    assert_eq!(status.incidents[1].verdict, Verdict::Declared, "10 minutes after ours ended, open since");
    let status = compare(page(vec![too_late]), &contract, &report);
    assert_eq!(status.incidents[1].verdict, Verdict::Undeclared, "16 minutes after");
}

#[test]
fn without_a_notice_term_no_maintenance_is_judged() {
    let (_, report) = february();
    let contract = contract("{}");
    let maintenance = notice(
        "mnt",
        NoticeKind::Maintenance,
        "2026-02-25T03:00:00Z",
        Some("2026-02-25T05:00:00Z"),
        "2026-02-25T02:00:00Z",
    );
    let status = compare(page(vec![maintenance]), &contract, &report);
    assert_eq!((status.declared[0].excludable, status.short_notice_maintenances), (None, 0));
    assert_eq!(status.maintenance_notice_seconds, None);
}

#[test]
fn what_a_report_states_makes_the_same_comparison_again() {
    let (contract, report) = february();
    let notices = vec![
        notice(
            "inc-1",
            NoticeKind::Incident,
            "2026-02-10T10:12:00Z",
            Some("2026-02-10T10:25:00Z"),
            "2026-02-10T10:12:00Z",
        ),
        notice(
            "mnt-1",
            NoticeKind::Maintenance,
            "2026-02-25T03:00:00Z",
            Some("2026-02-25T05:00:00Z"),
            "2026-02-25T01:00:00Z",
        ),
    ];
    let status = compare(page(notices), &contract, &report);
    let stated: VendorStatus = serde_json::from_str(&serde_json::to_string(&status).unwrap()).unwrap();
    assert_eq!(compare(stated.read(), &contract, &report), status);
}

#[test]
fn a_status_page_address_may_not_carry_credentials_or_a_query() {
    for (url, expected) in [
        ("https://user:pw@status.example.com", "'@' is not allowed"),
        ("https://status.example.com/?key=1", "'?' is not allowed"),
        ("ftp://status.example.com", "is not an http:// or https:// address"),
        ("https://", "is not an http:// or https:// address"),
    ] {
        let yaml = format!(
            "- {{ id: x, vendor: V, service: S, checks: [c], objective: 99.9, credits: {{ fee: 1, currency: USD, \
             tiers: [] }}, status_page: {{ kind: statuspage, url: \"{url}\" }} }}"
        );
        let problems = crate::contract::parse_contracts(serde_yaml_ng::from_str(&yaml).unwrap(), "contracts")
            .err()
            .unwrap_or_else(|| panic!("{url} accepted"));
        assert!(problems[0].starts_with("contracts[0].status_page.url: "), "{problems:?}");
        assert!(problems[0].contains(expected), "{problems:?}");
    }
}

#[test]
fn with_components_named_only_their_notices_count() {
    let (_, report) = february();
    let contract = contract(
        "{ maintenance_notice: 72h, status_page: { kind: statuspage, url: \"https://status.acme.example\", \
         components: [API] } }",
    );
    let on = |mut notice: VendorNotice, components: &[&str]| {
        notice.components = components.iter().map(|name| (*name).to_owned()).collect();
        notice
    };
    let billing = notice("billing", NoticeKind::Incident, "2026-02-20T14:00:00Z", None, "2026-02-20T14:00:00Z");
    let page_wide = notice(
        "all",
        NoticeKind::Incident,
        "2026-02-10T10:00:00Z",
        Some("2026-02-10T10:20:00Z"),
        "2026-02-10T10:00:00Z",
    );
    let api = notice("api", NoticeKind::Maintenance, "2026-02-25T03:00:00Z", None, "2026-02-25T02:00:00Z");
    let status =
        compare(page(vec![on(billing, &["Billing"]), page_wide, on(api, &["api", "Billing"])]), &contract, &report);
    let ids: Vec<&str> = status.declared.iter().map(|declared| declared.notice.id.as_str()).collect();
    assert_eq!(ids, ["all", "api"], "billing's incident is another service's");
    assert_eq!(status.incidents[1].verdict, Verdict::Undeclared);
}
