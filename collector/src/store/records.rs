//! What the store keeps beside the results themselves: result flags, refusals, spool gaps, the agents' signed
//! checkpoints and gap statements, and the agent registry, as the ingest path hands them over and as reads
//! return them.

use std::ops::BitOr;

use jiff::Timestamp;
use slaprobe_proto::ResultRecord;
use slaprobe_proto::evidence::{Chain, PublicKey};

use super::StoreError;
use super::alerts::{AlertChange, AlertRecord, LeaseClaim};

/// Why a stored result deserves a second look; a set of flags, empty for most results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ResultFlags(u32);

impl ResultFlags {
    /// No flag.
    pub const NONE: Self = Self(0);
    /// The agent's clock was off by more than the configured bound when it sent the result.
    pub const CLOCK_SUSPECT: Self = Self(1);
    /// The result's check was not in the collector's central check list (set by earlier collectors, which stored
    /// such results; they are now refused).
    pub const UNKNOWN_CHECK: Self = Self(2);
    /// The result arrived after the period it belongs to had closed (its end plus the settle time) for a
    /// contract that counts its check: it votes, and that period's report says what the late results changed.
    pub const LATE: Self = Self(4);
    /// The result was loaded with `slaprobe-collector import` (from a standalone agent's file or another system),
    /// not received from an agent's session.
    pub const IMPORTED: Self = Self(8);
    /// The result is a control probe's (the agent's `control_checks:`): it never counts for a contract, and the
    /// engine reads it to tell whether the agent's results of its slice are conclusive. Indexed, so a report
    /// reads every agent's controls of a time range at once.
    pub const CONTROL: Self = Self(16);

    /// The flags as stored.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// The flags from their stored form (unknown bits are kept, so a newer collector's flags survive).
    pub fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// The flags `record` itself calls for: [`Self::CONTROL`] for a control probe's result, else none.
    pub fn of_record(record: &ResultRecord) -> Self {
        if record.control { Self::CONTROL } else { Self::NONE }
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The names of the flags set, for logs and APIs.
    pub fn names(self) -> Vec<&'static str> {
        [
            (Self::CLOCK_SUSPECT, "clock_suspect"),
            (Self::UNKNOWN_CHECK, "unknown_check"),
            (Self::LATE, "late"),
            (Self::IMPORTED, "imported"),
            (Self::CONTROL, "control"),
        ]
        .into_iter()
        .filter(|(flag, _)| self.contains(*flag))
        .map(|(_, name)| name)
        .collect()
    }
}

impl BitOr for ResultFlags {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// A result the collector would not store, kept with the reason so that the refusal itself is evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The result's sequence number.
    pub seq: u64,
    /// Why it was refused.
    pub reason: String,
    /// The result exactly as received (protobuf encoding).
    pub record: Vec<u8>,
}

/// One batch from an agent's session, written in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestBatch {
    /// The sending agent (its registry entry's last-seen time is updated).
    pub agent_id: String,
    /// When the batch arrived.
    pub received_at: Timestamp,
    /// Accepted results and their flags.
    pub results: Vec<(ResultRecord, ResultFlags)>,
    /// The chain value each accepted result arrived with, in the order of `results` (shorter when results carry
    /// none: missing entries are none).
    pub chains: Vec<Option<Chain>>,
    /// Refused results.
    pub refused: Vec<Refusal>,
    /// The checkpoint the agent signed with the batch, verified.
    pub checkpoint: Option<SignedCheckpoint>,
    /// Results waiting in the agent's spool as it sent the batch, when it said.
    pub spool_backlog: Option<u64>,
}

impl IngestBatch {
    /// A batch of `results` alone, without chain values, refusals or a checkpoint (as an agent that signs
    /// nothing sends them; benchmarks and tests write results this way).
    pub fn of_results(agent_id: &str, received_at: Timestamp, results: Vec<(ResultRecord, ResultFlags)>) -> Self {
        Self {
            agent_id: agent_id.to_owned(),
            received_at,
            results,
            chains: Vec::new(),
            refused: Vec::new(),
            checkpoint: None,
            spool_backlog: None,
        }
    }
}

/// An agent's verified signature over its chain value at `seq` (`docs/evidence.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The result it covers.
    pub seq: u64,
    /// That result's chain value.
    pub chain: Chain,
    /// The Ed25519 signature (64 bytes).
    pub signature: Vec<u8>,
    /// The key that made it.
    pub public_key: PublicKey,
}

/// An agent's verified signature over a gap it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedGap {
    /// The chain value before the gap, when the agent knew it.
    pub chain_before: Option<Chain>,
    /// The chain value of the gap's last result, when the agent knew it.
    pub chain_after: Option<Chain>,
    /// The Ed25519 signature (64 bytes).
    pub signature: Vec<u8>,
    /// The key that made it.
    pub public_key: PublicKey,
}

/// An agent opening a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStatus {
    /// Agent id.
    pub agent_id: String,
    /// Region label.
    pub region: String,
    /// Agent software version.
    pub version: String,
    /// When the session opened.
    pub connected_at: Timestamp,
    /// Results waiting in the agent's spool at that moment.
    pub spool_backlog: u64,
    /// The replica holding the session ([`super::cluster::ReplicaRecord::name`]).
    pub collector: String,
}

/// An agent's clock against the collector's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockReading {
    /// Collector clock minus agent clock, nanoseconds.
    pub offset_nanos: i64,
    /// Round trip of the measurement, nanoseconds (the offset is exact to half of it).
    pub round_trip_nanos: i64,
    /// When the collector received the estimate.
    pub measured_at: Timestamp,
}

/// A range of an agent's results its spool dropped before they could be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapReport {
    /// Agent id.
    pub agent_id: String,
    /// First dropped sequence number.
    pub first_seq: u64,
    /// Last dropped sequence number (inclusive).
    pub last_seq: u64,
    /// Why the results were dropped.
    pub reason: String,
    /// When the collector first heard of the gap.
    pub reported_at: Timestamp,
    /// The agent's signed statement of the gap, verified; none from agents older than signing.
    pub statement: Option<SignedGap>,
}

/// A stored refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedResult {
    /// Agent id.
    pub agent_id: String,
    /// Sequence number.
    pub seq: u64,
    /// Why it was refused.
    pub reason: String,
    /// When it arrived.
    pub received_at: Timestamp,
}

/// An agent's registry entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    /// Agent id.
    pub agent_id: String,
    /// Region label.
    pub region: String,
    /// Agent software version at its last session.
    pub version: String,
    /// When its last session opened.
    pub connected_at: Timestamp,
    /// When it last sent results.
    pub last_seen: Timestamp,
    /// Results waiting in its spool, as its latest batch (or the Hello of its latest session) said.
    pub spool_backlog: u64,
    /// Its latest clock estimate, if any.
    pub clock: Option<ClockReading>,
    /// The replica holding its session, as recorded (`None`: no session since it last ended).
    pub session_collector: Option<String>,
}

/// One write the store's writer performs; every variant commits durably before it is answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Write {
    /// Results with flags, from any agents (tools and tests).
    Results(Vec<(ResultRecord, ResultFlags)>),
    /// One agent batch.
    Ingested(IngestBatch),
    /// A session opening.
    Agent(AgentStatus),
    /// A clock estimate for `agent_id`.
    Clock(String, ClockReading),
    /// A spool gap.
    Gap(GapReport),
    /// Record `key` as `agent_id`'s key: replacing the one on record when `pinned` (the configuration says so),
    /// else only when there is none yet.
    AgentKey(String, PublicKey, bool),
    /// A notification delivery, for the log.
    Delivery(DeliveryRecord),
    /// An alert as the evaluator sees it (inserted, or updated while firing).
    Alert(AlertRecord),
    /// A person's acknowledgement or resolution.
    AlertChange(AlertChange),
    /// A resolved alert's condition has cleared.
    Rearm(String),
    /// A lease claim.
    Lease(LeaseClaim),
    /// Give up a lease (`name`, `holder`) before it expires.
    ReleaseLease(String, String),
    /// Delete up to [`PRUNE_BATCH`] results that started before this.
    Prune(Timestamp),
    /// Recompute the per-minute rollups of these checks from the results that started in `[from, to)`.
    Rollup(RollupWindow),
    /// Delete the rollups of minutes before this.
    PruneRollups(Timestamp),
    /// One step of a contract's slice ledger.
    Ledger(Box<super::ledger::LedgerWrite>),
    /// Clear these ledger marks.
    ClearMarks(Vec<i64>),
    /// Delete the ledger rows of slices that ended before this.
    PruneLedger(Timestamp),
    /// A revision of a closed period, with its artifacts.
    Revision(Box<super::periods::RevisionRow>),
    /// A claim change.
    Claim(Box<super::periods::ClaimRow>),
    /// A report delivery taken or finished.
    ReportDelivery(Box<super::periods::DeliveryStep>),
    /// A status page's record, in place of its last one.
    StatusPage(Box<super::status_pages::StatusPageRow>),
    /// A row of an agent's history of itself.
    Health(Box<super::agent_health::HealthRow>),
    /// Rule 11's judgement of some spans.
    Faults(Box<super::faults::FaultRows>),
    /// A replica's heartbeat, its leaving, or the end of a session it held.
    Cluster(Box<super::cluster::ClusterWrite>),
    /// An enrolled agent recorded or changed.
    Enrolment(Box<super::enrolments::EnrolmentWrite>),
}

/// Which results a rollup write counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupWindow {
    /// The checks.
    pub checks: Vec<String>,
    /// From (inclusive; rounded down to the minute).
    pub from: Timestamp,
    /// To (exclusive).
    pub to: Timestamp,
}

/// One check's results from one region in one minute, as counts: what outlives the raw results.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rollup {
    /// The region.
    pub region: String,
    /// The minute's start.
    pub minute: Timestamp,
    /// Results that started in it.
    pub total: u64,
    /// Of those, the ones that failed (as the agent judged them; contracts' `slow_ms` is not applied).
    pub failed: u64,
}

/// Nanoseconds in a minute, the rollups' grain.
pub const MINUTE_NANOS: i64 = 60_000_000_000;

/// Results one prune write deletes at most, so the writer is never held long.
pub const PRUNE_BATCH: u64 = 10_000;

impl Write {
    /// Refuses a write the store cannot key: every result needs its `agent_id` and `seq`.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let results: Box<dyn Iterator<Item = &ResultRecord>> = match self {
            Self::Results(results) => Box::new(results.iter().map(|(result, _)| result)),
            Self::Ingested(batch) => Box::new(batch.results.iter().map(|(result, _)| result)),
            Self::Agent(_)
            | Self::Clock(..)
            | Self::Gap(_)
            | Self::AgentKey(..)
            | Self::Delivery(_)
            | Self::Alert(_)
            | Self::AlertChange(_)
            | Self::Rearm(_)
            | Self::Lease(_)
            | Self::ReleaseLease(..)
            | Self::Prune(_)
            | Self::Rollup(_)
            | Self::PruneRollups(_)
            | Self::Ledger(_)
            | Self::ClearMarks(_)
            | Self::PruneLedger(_)
            | Self::Revision(_)
            | Self::Claim(_)
            | Self::ReportDelivery(_)
            | Self::StatusPage(_)
            | Self::Cluster(_)
            | Self::Enrolment(_)
            | Self::Health(_)
            | Self::Faults(_) => return Ok(()),
        };
        for (index, result) in results.enumerate() {
            if result.agent_id.is_none() || result.seq.is_none() {
                return Err(StoreError::BadResult { index, problem: "agent_id and seq are required".to_owned() });
            }
        }
        Ok(())
    }
}

/// A notification the collector sent (or tried to), as the delivery log keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeliveryRecord {
    /// When the first attempt was made.
    pub sent_at: Timestamp,
    /// The channel.
    pub channel: String,
    /// The notification's state (`firing`, `resolved`, `test`).
    pub state: String,
    /// The alert kind.
    pub kind: String,
    /// The contract (empty for a test).
    pub contract: String,
    /// Whether an attempt succeeded.
    pub delivered: bool,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// The alert it was about (none for a test).
    pub alert_id: Option<String>,
}

/// One attempt to deliver a notification: what the receiver answered.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attempt {
    /// The status answered, if any: HTTP, or the SMTP reply code.
    pub status: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Which results a page of [`crate::store::Store::results_page`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultQuery {
    /// The check.
    pub check_id: String,
    /// Only this region, if given.
    pub region: Option<String>,
    /// `started_at` at or after this.
    pub from: Timestamp,
    /// `started_at` before this.
    pub to: Timestamp,
    /// Only results after this position (the previous page's last).
    pub after: Option<ResultPosition>,
    /// At most this many.
    pub limit: u32,
}

/// A result's place in the order pages follow: `started_at`, then agent, then sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultPosition {
    /// Its `started_at`, nanoseconds since the Unix epoch.
    pub started_at_ns: i64,
    /// Its agent.
    pub agent_id: String,
    /// Its sequence number.
    pub seq: u64,
}

impl std::fmt::Display for ResultPosition {
    /// The opaque cursor clients pass back: `<started_at_ns>.<seq>.<agent_id>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.started_at_ns, self.seq, self.agent_id)
    }
}

impl std::str::FromStr for ResultPosition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("{text:?} is not a cursor this API returned");
        let mut parts = text.splitn(3, '.');
        let (Some(started), Some(seq), Some(agent_id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid());
        };
        let digits = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
        if !digits(started.strip_prefix('-').unwrap_or(started))
            || !digits(seq)
            || !slaprobe_checks::is_valid_label(agent_id)
        {
            return Err(invalid());
        }
        Ok(Self {
            started_at_ns: started.parse().map_err(|_| invalid())?,
            seq: seq.parse().map_err(|_| invalid())?,
            agent_id: agent_id.to_owned(),
        })
    }
}

/// A stored result with its flags and its place in the page order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResult {
    /// The result.
    pub record: ResultRecord,
    /// Flags the collector set on it.
    pub flags: ResultFlags,
    /// When it arrived from the agent (unknown for results imported or stored by earlier collectors).
    pub received_at: Option<Timestamp>,
    /// Its position.
    pub position: ResultPosition,
}
