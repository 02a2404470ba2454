//! The report of one contract over one period: the JSON object of `docs/sla.md`, field for field, plus
//! the fields that make it reproducible and honest: `vendor`, `service`, what input was used or ignored, when it
//! was made, whether the period is over, and how much of it was measured at all.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;

/// One contract over one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Contract id.
    pub contract: String,
    /// Vendor name.
    pub vendor: String,
    /// Service name.
    pub service: String,
    /// Period label (`2026-02`).
    pub period: String,
    /// IANA time zone the period is cut in.
    pub timezone: String,
    /// Period start.
    pub period_start: Timestamp,
    /// Period end (exclusive).
    pub period_end: Timestamp,
    /// When the report was made: slices ending after it are `future`.
    pub generated_at: Timestamp,
    /// `complete` once every slice of the period has ended, else `in_progress`.
    pub period_status: PeriodStatus,
    /// The period is still in progress: every figure is "so far" and may change.
    pub preliminary: bool,
    /// Slice length.
    pub slice_seconds: i64,
    /// Slices in the period.
    pub total_slices: u64,
    /// Slices in maintenance.
    pub excluded_slices: u64,
    /// Slices without enough reporting regions.
    pub unknown_slices: u64,
    /// Slices down (after `min_down_run`).
    pub down_slices: u64,
    /// Slices that ended before the contract's first stored result: monitoring had not begun.
    pub not_monitored_slices: u64,
    /// Slices that had not ended when the report was made.
    pub future_slices: u64,
    /// Slices that count: total − excluded − not monitored − future − (unknown with `no_data: exclude`).
    pub eligible_slices: u64,
    /// Start of the period's first slice with a result; `null` when none has any.
    pub monitored_from: Option<Timestamp>,
    /// End of the period's last slice with a result; `null` when none has any.
    pub monitored_until: Option<Timestamp>,
    /// How much of the time that could have been measured was.
    pub coverage: Coverage,
    /// Uptime percent, full precision; `null` when nothing is eligible.
    pub uptime_percent: Option<f64>,
    /// Objective, percent.
    #[serde(with = "rust_decimal::serde::float")]
    pub objective: Decimal,
    /// Uptime ≥ objective; `null` when nothing is eligible.
    pub met: Option<bool>,
    /// Credit, percent of the fee.
    #[serde(with = "rust_decimal::serde::float")]
    pub credit_percent: Decimal,
    /// Credit amount in `currency`, rounded to cents.
    #[serde(with = "rust_decimal::serde::float")]
    pub credit_amount: Decimal,
    /// Uptime at the period's end if every slice still to come is up (equal to `uptime_percent` once the
    /// period is complete).
    pub best_case_uptime_percent: Option<f64>,
    /// Whether that best case meets the objective: `false` means the objective is missed whatever follows.
    pub met_at_best: Option<bool>,
    /// Credit percent the period earns even if every slice still to come is up (equal to `credit_percent` once
    /// the period is complete).
    #[serde(with = "rust_decimal::serde::float")]
    pub credit_certain_percent: Decimal,
    /// That credit in `currency`.
    #[serde(with = "rust_decimal::serde::float")]
    pub credit_certain_amount: Decimal,
    /// Currency of `credit_amount`.
    pub currency: String,
    /// Last day to claim: period end + `claim_window`.
    pub claim_deadline: Option<Timestamp>,
    /// Error budget for the monitored time: eligible time × (100 − objective) / 100.
    pub budget_seconds: f64,
    /// Error budget for the whole period: its time outside maintenance × (100 − objective) / 100.
    pub budget_period_seconds: f64,
    /// Budget used: counted down slices × slice length.
    pub budget_used_seconds: f64,
    /// Counted down runs.
    pub incidents: Vec<Incident>,
    /// Day by day, in the contract's time zone.
    pub days: Vec<Day>,
    /// Regions that reported results for the contract's checks.
    pub regions: Vec<String>,
    /// Results that fell on the period (or its run margins) and were used.
    pub results_used: u64,
    /// Results ignored: for checks outside the contract, or from regions a check is not assigned to.
    pub results_ignored: u64,
    /// Agents expected to probe the contract's checks that sent nothing in the period; `null` when the report
    /// was made from a file and the expected agents are unknown.
    pub silent_agents: Option<Vec<String>>,
    /// Results that arrived after the period had closed, and what the report would say without them; `null`
    /// when there were none or the report was made from a file (arrival times unknown).
    pub late: Option<LateResults>,
    /// What the vendor's status page declared during the period, against our incidents
    /// ([`crate::vendor`]); `null` when the contract names no status page or the report was made from a file.
    pub vendor_status: Option<crate::vendor::VendorStatus>,
}

/// Whether every slice of the period has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodStatus {
    /// Every slice has ended: the figures are final (unless results arrive late, which `late` then says).
    Complete,
    /// Slices are still to come.
    InProgress,
}

/// How much of the time that could have been measured was: the slices that have ended, less maintenance,
/// against those enough regions reported in. Time before monitoring began lowers it, so a month measured from
/// its 15th shows about half.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    /// Slices of the period that have ended and are not in maintenance.
    pub measurable_slices: u64,
    /// Of those, slices enough regions reported in for the votes to decide (up or down).
    pub reported_slices: u64,
    /// `reported / measurable`, percent; `null` when nothing was measurable yet.
    pub percent: Option<f64>,
    /// The contract's `min_coverage`: below it the report warns in its headline.
    pub warn_below_percent: f64,
    /// Coverage is below `warn_below_percent`.
    pub low: bool,
    /// Each region that reported.
    pub regions: Vec<RegionCoverage>,
}

/// One region's share of the measurable time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionCoverage {
    /// Region label.
    pub region: String,
    /// Measurable slices it voted in.
    pub reported_slices: u64,
    /// Of the measurable slices, percent; `null` when nothing was measurable yet.
    pub percent: Option<f64>,
    /// Measurable slices in which some of its results were set aside as inconclusive, because the agent's own
    /// control probes failed there (rule 10) or every vendor it probes failed from it alone (rule 11): they count
    /// as no data from the region.
    pub inconclusive_slices: u64,
}

/// Results that arrived after their period closed (flagged `late` at ingest). They vote like any other; this
/// says how many there were and what the report would be without them, so a changed figure is explained.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LateResults {
    /// How many of the results used arrived late.
    pub results: u64,
    /// Down slices without them.
    pub down_slices_without: u64,
    /// Uptime without them.
    pub uptime_percent_without: Option<f64>,
    /// Credit owed without them.
    #[serde(with = "rust_decimal::serde::float")]
    pub credit_amount_without: Decimal,
}

/// A counted run of down slices, clipped to the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// Start of the first down slice.
    pub start: Timestamp,
    /// End of the last down slice.
    pub end: Timestamp,
    /// `end − start`.
    pub duration_seconds: i64,
    /// Regions that voted down during the run.
    pub regions: Vec<String>,
    /// Checks that were down in those regions.
    pub checks: Vec<String>,
    /// Up to three distinct errors seen, earliest first.
    pub sample_errors: Vec<String>,
    /// What we observed: one failed result from each region that voted down, the earliest, with its failure
    /// captures ([`crate::observed`]); empty where the report was made without the raw results.
    pub observed: Vec<slaprobe_proto::ResultRecord>,
    /// How each region that reported in the period was measuring during the incident, by the agents' own
    /// reports of themselves (the collector's word); empty where the report was made without them.
    pub measurement: Vec<RegionMeasurement>,
}

/// How one region's agents were measuring during an incident, by what they reported of themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RegionMeasurement {
    /// Region label.
    pub region: String,
    /// `normal`: every report of its agents from shortly before the incident to its end was normal (controls
    /// passing, clock within bound, nothing dropped); `abnormal`: some was not (`notes` say what); `unknown`: its
    /// agents reported nothing of themselves then.
    pub state: MeasurementState,
    /// What was not normal, each once (`agent-eu-1: controls failing (2 of 3) at 12:03:00Z`).
    pub notes: Vec<String>,
}

/// See [`RegionMeasurement::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasurementState {
    /// Measuring normally throughout.
    Normal,
    /// Something was off; see the notes.
    Abnormal,
    /// Nothing reported.
    Unknown,
}

/// One local day of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    /// Local date (`2026-02-10`).
    pub date: jiff::civil::Date,
    /// Slices starting that day.
    pub total_slices: u64,
    /// Of those, in maintenance.
    pub excluded_slices: u64,
    /// Of those, unknown.
    pub unknown_slices: u64,
    /// Of those, down.
    pub down_slices: u64,
    /// Of those, before monitoring began.
    pub not_monitored_slices: u64,
    /// Of those, not yet ended.
    pub future_slices: u64,
    /// The day's uptime by the contract's rules; `null` when nothing that day is eligible.
    pub uptime_percent: Option<f64>,
}
