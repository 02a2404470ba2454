//! What the store keeps about alerts: each alert with its escalation progress and who acknowledged or resolved
//! it, and the leases that let exactly one collector evaluate alerts when several share a store.

use jiff::Timestamp;
use serde::Serialize;

/// Whether an alert is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition holds (or held, and nobody resolved it yet).
    Firing,
    /// Over: the condition cleared, or someone resolved it.
    Resolved,
}

impl AlertState {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }

    /// From its stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "firing" => Some(Self::Firing),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }
}

/// Who resolves an alert when its condition clears.
pub const RESOLVED_BY_CONDITION: &str = "condition";

/// One alert: a rule's condition from firing to resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    /// `<contract>.<kind>.<fired at, Unix ms>`: the same on every replica.
    pub id: String,
    /// The contract.
    pub contract: String,
    /// The alert kind.
    pub kind: String,
    /// The escalation policy it follows.
    pub policy: String,
    /// Open or over.
    pub state: AlertState,
    /// When the condition started (down: the first down slice).
    pub started_at: Timestamp,
    /// When the alert fired.
    pub fired_at: Timestamp,
    /// When it was resolved.
    pub resolved_at: Option<Timestamp>,
    /// [`RESOLVED_BY_CONDITION`], or who resolved it.
    pub resolved_by: Option<String>,
    /// When someone acknowledged it (escalation and repeats stop).
    pub acknowledged_at: Option<Timestamp>,
    /// Who.
    pub acknowledged_by: Option<String>,
    /// Escalation levels told so far.
    pub levels_notified: u32,
    /// When a firing notification last went out.
    pub last_notified_at: Option<Timestamp>,
    /// Regions involved.
    pub regions: Vec<String>,
    /// One line for people (the latest evaluation's).
    pub summary: String,
    /// After a person resolved it: whether the condition has cleared since, so that it may fire again.
    #[serde(skip)]
    pub rearmed: bool,
}

/// What a person does to an open alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    /// Stops escalation and repeats; the alert stays open until the condition clears.
    Acknowledge,
    /// Closes it now; it fires again only after the condition has cleared.
    Resolve,
}

/// A person's action on an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertChange {
    /// The alert.
    pub id: String,
    /// What.
    pub action: AlertAction,
    /// Who (the API token's name).
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// A request to hold the named lease until `until`: granted when it is free, expired, or already the holder's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseClaim {
    /// The lease (`alerting`).
    pub name: String,
    /// Who asks (a collector instance).
    pub holder: String,
    /// Now.
    pub now: Timestamp,
    /// Held until.
    pub until: Timestamp,
}
