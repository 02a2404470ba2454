//! The vendor's word against ours: what the vendor declared on its public status page (incidents and scheduled
//! maintenances) held against the incidents we counted. Each of our incidents is `declared` (a vendor incident
//! overlaps it, allowing [`MATCH_SLACK`] on either side, since vendors open incidents after the fact and close
//! them early), `maintenance` (only a declared maintenance overlaps it) or `undeclared`. Each vendor incident
//! says whether we saw it. Each maintenance says how long before its start it was announced and, when the
//! contract sets `maintenance_notice`, whether that was enough notice for the vendor to exclude it. With
//! `status_page.components`, only what the vendor declared for those components (or for none in particular)
//! counts.
//!
//! Nothing here moves a figure: uptime and credits follow the contract's own maintenance windows (rules 1–9).
//! What the vendor declared is shown beside them, so that a claim can answer "that was announced maintenance"
//! and "our status page was green" before the vendor says it. The comparison is a pure function of the notices,
//! the contract and the report, so `slaprobe-verify` makes it again from what `report.json` states.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::contract::Contract;
use crate::report::Report;

/// How far apart a vendor incident and ours may lie and still be the same outage.
pub const MATCH_SLACK: SignedDuration = SignedDuration::from_mins(15);

/// What the vendor posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// An incident (`/api/v2/incidents.json`).
    Incident,
    /// A scheduled maintenance (`/api/v2/scheduled-maintenances.json`).
    Maintenance,
}

/// One incident or maintenance as the vendor's status page stated it when last read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorNotice {
    /// The vendor's id for it.
    pub id: String,
    /// Incident or maintenance.
    pub kind: NoticeKind,
    /// Its title.
    pub name: String,
    /// Its last status (`resolved`, `postmortem`, `completed`, …).
    pub status: String,
    /// The impact the vendor gave it (`none`, `minor`, `major`, `critical`, `maintenance`).
    pub impact: String,
    /// When it began: an incident's `started_at` (its `created_at` without one); a maintenance's `scheduled_for`.
    pub start: Timestamp,
    /// When it ended: an incident's `resolved_at`, a maintenance's `scheduled_until`; `null` while open.
    pub end: Option<Timestamp>,
    /// When the vendor first posted it (`created_at`).
    pub announced_at: Timestamp,
    /// The vendor's short link to it, when it gave one.
    pub link: Option<String>,
    /// The components it names (empty: none in particular).
    #[serde(default)]
    pub components: Vec<String>,
}

/// What is known of a contract's status page when a report is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusPageRead {
    /// The page's address.
    pub url: String,
    /// When it was last read successfully; `None` before the first success.
    pub checked_at: Option<Timestamp>,
    /// Why the last attempt to read it failed; `None` when it worked.
    pub problem: Option<String>,
    /// Everything it has declared, as last read.
    pub notices: Vec<VendorNotice>,
}

/// How one of our incidents stands against the vendor's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The vendor declared an incident at the time.
    Declared,
    /// The vendor declared no incident, only a maintenance at the time.
    Maintenance,
    /// The vendor declared nothing at the time.
    Undeclared,
}

impl Verdict {
    /// Its name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Declared => "declared",
            Self::Maintenance => "maintenance",
            Self::Undeclared => "undeclared",
        }
    }
}

impl NoticeKind {
    /// Its name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incident => "incident",
            Self::Maintenance => "maintenance",
        }
    }
}

/// A vendor notice of the period with what we make of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Declared {
    /// The notice as the vendor stated it.
    #[serde(flatten)]
    pub notice: VendorNotice,
    /// Incidents: whether one of our incidents matches it; `null` for maintenances.
    pub seen: Option<bool>,
    /// Maintenances: how long before its start the vendor announced it, seconds; `null` for incidents.
    pub notice_seconds: Option<i64>,
    /// Maintenances: announced at least the contract's `maintenance_notice` ahead; `null` for incidents and when
    /// the contract sets no notice.
    pub excludable: Option<bool>,
    /// Our counted downtime within it, seconds.
    pub down_seconds: i64,
}

/// One of our incidents (in the order of the report's `incidents`) against the vendor's word.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentWord {
    /// Our incident's start.
    pub start: Timestamp,
    /// Our incident's end.
    pub end: Timestamp,
    /// Declared, during maintenance, or undeclared.
    pub verdict: Verdict,
    /// The ids of the vendor's notices that match it.
    pub vendor_ids: Vec<String>,
}

/// The `vendor_status` of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VendorStatus {
    /// The status page's address.
    pub status_page: String,
    /// When it was last read successfully; `null` before the first success.
    pub checked_at: Option<Timestamp>,
    /// Why the last attempt to read it failed; `null` when it worked.
    pub problem: Option<String>,
    /// The contract's `maintenance_notice`, seconds; `null` when it sets none.
    pub maintenance_notice_seconds: Option<i64>,
    /// The vendor's incidents and maintenances that overlap the period, by start.
    pub declared: Vec<Declared>,
    /// Our incidents against them.
    pub incidents: Vec<IncidentWord>,
    /// How many of our incidents the vendor did not declare.
    pub undeclared_incidents: u64,
    /// How many vendor incidents of the period we did not see.
    pub unseen_vendor_incidents: u64,
    /// How many maintenances of the period were announced with less notice than the contract requires.
    pub short_notice_maintenances: u64,
}

impl VendorStatus {
    /// What the report states it was made from: the page and the notices, without what was made of them.
    pub fn read(&self) -> StatusPageRead {
        StatusPageRead {
            url: self.status_page.clone(),
            checked_at: self.checked_at,
            problem: self.problem.clone(),
            notices: self.declared.iter().map(|declared| declared.notice.clone()).collect(),
        }
    }
}

/// The vendor's word in `read` against `report`'s incidents under `contract`.
pub fn compare(read: StatusPageRead, contract: &Contract, report: &Report) -> VendorStatus {
    let now = report.generated_at;
    let ours: Vec<(Timestamp, Timestamp)> =
        report.incidents.iter().map(|incident| (incident.start, incident.end)).collect();
    let notice_required = contract.terms.maintenance_notice.and_then(|notice| SignedDuration::try_from(notice).ok());
    let ours_only = contract.terms.status_page.as_ref().map(|page| page.components.as_slice()).unwrap_or_default();
    let mut notices: Vec<VendorNotice> = read
        .notices
        .into_iter()
        .filter(|notice| notice.start < report.period_end && report.period_start < until(notice, now))
        .filter(|notice| concerns(notice, ours_only))
        .collect();
    notices.sort_by(|left, right| (left.start, left.kind, &left.id).cmp(&(right.start, right.kind, &right.id)));
    let declared: Vec<Declared> = notices
        .into_iter()
        .map(|notice| {
            let span = (notice.start, until(&notice, now));
            let down_seconds = ours.iter().map(|incident| overlap(*incident, span)).sum();
            match notice.kind {
                NoticeKind::Incident => Declared {
                    seen: Some(ours.iter().any(|incident| near(*incident, span))),
                    notice_seconds: None,
                    excludable: None,
                    down_seconds,
                    notice,
                },
                NoticeKind::Maintenance => {
                    let ahead = notice.start.duration_since(notice.announced_at);
                    Declared {
                        seen: None,
                        notice_seconds: Some(ahead.as_secs()),
                        excludable: notice_required.map(|required| ahead >= required),
                        down_seconds,
                        notice,
                    }
                }
            }
        })
        .collect();
    let incidents: Vec<IncidentWord> = ours
        .iter()
        .map(|&(start, end)| {
            let matching = |kind: NoticeKind| -> Vec<String> {
                declared
                    .iter()
                    .filter(|declared| declared.notice.kind == kind)
                    .filter(|declared| {
                        let span = (declared.notice.start, until(&declared.notice, now));
                        match kind {
                            NoticeKind::Incident => near((start, end), span),
                            NoticeKind::Maintenance => overlap((start, end), span) > 0,
                        }
                    })
                    .map(|declared| declared.notice.id.clone())
                    .collect()
            };
            let (verdict, vendor_ids) = match (matching(NoticeKind::Incident), matching(NoticeKind::Maintenance)) {
                (incidents, _) if !incidents.is_empty() => (Verdict::Declared, incidents),
                (_, maintenances) if !maintenances.is_empty() => (Verdict::Maintenance, maintenances),
                _ => (Verdict::Undeclared, Vec::new()),
            };
            IncidentWord { start, end, verdict, vendor_ids }
        })
        .collect();
    let count = |keep: &dyn Fn(&Declared) -> bool| declared.iter().filter(|declared| keep(declared)).count() as u64;
    VendorStatus {
        status_page: read.url,
        checked_at: read.checked_at,
        problem: read.problem,
        maintenance_notice_seconds: notice_required.map(|notice| notice.as_secs()),
        undeclared_incidents: incidents.iter().filter(|word| word.verdict == Verdict::Undeclared).count() as u64,
        unseen_vendor_incidents: count(&|declared| declared.seen == Some(false)),
        short_notice_maintenances: count(&|declared| declared.excludable == Some(false)),
        declared,
        incidents,
    }
}

/// Whether `notice` concerns the service whose components are `ours` (any, when none are named): it names one of
/// them (case aside), or no component at all.
fn concerns(notice: &VendorNotice, ours: &[String]) -> bool {
    ours.is_empty()
        || notice.components.is_empty()
        || notice.components.iter().any(|named| ours.iter().any(|our| our.eq_ignore_ascii_case(named)))
}

/// A notice's end, an open one lasting until `now`.
fn until(notice: &VendorNotice, now: Timestamp) -> Timestamp {
    notice.end.unwrap_or(now).max(notice.start)
}

/// Seconds two spans share.
fn overlap((start, end): (Timestamp, Timestamp), (other_start, other_end): (Timestamp, Timestamp)) -> i64 {
    let (from, to) = (start.max(other_start), end.min(other_end));
    if from < to { to.duration_since(from).as_secs() } else { 0 }
}

/// Whether two spans overlap or lie within [`MATCH_SLACK`] of each other.
fn near((start, end): (Timestamp, Timestamp), (other_start, other_end): (Timestamp, Timestamp)) -> bool {
    let widen = |at: Timestamp| at.checked_add(MATCH_SLACK).unwrap_or(at);
    start <= widen(other_end) && other_start <= widen(end)
}

#[cfg(test)]
mod tests;
