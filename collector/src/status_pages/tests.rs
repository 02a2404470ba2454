//! Keeping what a page declared over reads, and the wait after failures.

use jiff::{SignedDuration, Timestamp};
use slaprobe_sla::vendor::{NoticeKind, VendorNotice};

use super::{KEEP, MAX_BACKOFF, due_at, merged};
use crate::store::status_pages::StatusPageRecord;

fn notice(id: &str, start: Timestamp, status: &str) -> VendorNotice {
    VendorNotice {
        id: id.to_owned(),
        kind: NoticeKind::Incident,
        name: id.to_owned(),
        status: status.to_owned(),
        impact: "major".to_owned(),
        start,
        end: Some(start + SignedDuration::from_hours(1)),
        announced_at: start,
        link: None,
        components: Vec::new(),
    }
}

#[test]
fn a_notice_the_page_no_longer_lists_is_kept_and_a_listed_one_is_updated() {
    let now: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
    let day = SignedDuration::from_hours(24);
    let stored = vec![notice("old", now - day * 30, "resolved"), notice("open", now - day, "investigating")];
    let fresh =
        vec![notice("open", now - day, "resolved"), notice("new", now - SignedDuration::from_hours(2), "resolved")];
    let kept = merged(stored, fresh, now);
    let ids: Vec<(&str, &str)> = kept.iter().map(|notice| (notice.id.as_str(), notice.status.as_str())).collect();
    assert_eq!(ids, [("new", "resolved"), ("open", "resolved"), ("old", "resolved")], "latest first");
    let ancient = notice("ancient", now - KEEP - day, "resolved");
    assert!(merged(vec![ancient], Vec::new(), now).is_empty(), "ended more than {KEEP:?} ago");
}

#[test]
fn each_failure_doubles_the_wait_up_to_an_hour() {
    let at: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
    let every = SignedDuration::from_mins(5);
    let record = |failures| StatusPageRecord {
        url: "https://status.example.com".to_owned(),
        checked_at: None,
        attempted_at: at,
        problem: None,
        failures,
        notices: Vec::new(),
    };
    let waits: Vec<i64> = [0, 1, 2, 3, 4, 30]
        .into_iter()
        .map(|failures| due_at(&record(failures), every).duration_since(at).as_mins())
        .collect();
    assert_eq!(waits, [5, 10, 20, 40, 60, MAX_BACKOFF.as_mins()]);
}
