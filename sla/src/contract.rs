//! Contracts (`docs/sla.md`): the YAML shape, and validation into a [`Contract`] the SLA engine can use.
//!
//! Every number that decides money (objective, tier thresholds and credits, cap, fee, minimum amount,
//! `failed_ratio`) is a [`Decimal`], read from YAML as written, so `99.9` is exactly 99.9. Validation reports
//! every problem with its path (`contracts[0].credits.tiers[1].below: ...`).

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_yaml_ng::Value;
use slaprobe_checks::deserialize_at;
use slaprobe_checks::is_valid_label;

/// How a service's checks combine in one region (rule 4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// Down if any check is down.
    #[default]
    Any,
    /// Down only if every check has data and is down.
    All,
}

/// Calendar period of a contract.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    /// Calendar month.
    #[default]
    Month,
    /// Calendar quarter.
    Quarter,
}

/// How `unknown` slices count (rule 7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoData {
    /// Left out of the eligible time.
    #[default]
    Exclude,
    /// Counted as up.
    Up,
    /// Counted as down.
    Down,
}

/// A contract as written in YAML.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContractFile {
    /// `[a-z0-9._-]{1,64}`, unique.
    pub id: String,
    /// Vendor name, for reports.
    pub vendor: String,
    /// Service name, for reports.
    pub service: String,
    /// Check ids making up the service.
    pub checks: Vec<String>,
    /// How checks combine.
    #[serde(default)]
    pub combine: Combine,
    /// Objective, percent.
    pub objective: Decimal,
    /// Period kind.
    #[serde(default)]
    pub period: PeriodKind,
    /// IANA time zone the period is cut in.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Slice length.
    #[serde(default = "default_slice", with = "humantime_serde")]
    pub slice: Duration,
    /// A (check, region, slice) is down when failed/probes >= this.
    #[serde(default = "default_failed_ratio")]
    pub failed_ratio: Decimal,
    /// A probe slower than this (ms) counts as failed.
    #[serde(default)]
    pub slow_ms: Option<f64>,
    /// Regions that must vote down for a slice to be down.
    #[serde(default = "default_one")]
    pub min_regions_down: u32,
    /// Regions that must vote for a slice not to be unknown; default `min_regions_down`.
    #[serde(default)]
    pub min_regions_reporting: Option<u32>,
    /// How unknown slices count.
    #[serde(default)]
    pub no_data: NoData,
    /// Shorter runs of down slices do not count.
    #[serde(default = "default_one")]
    pub min_down_run: u32,
    /// Maintenance windows.
    #[serde(default)]
    pub maintenance: Vec<MaintenanceFile>,
    /// Service credits.
    pub credits: CreditsFile,
    /// Claim deadline after the period end.
    #[serde(default, with = "humantime_serde")]
    pub claim_window: Option<Duration>,
    /// Percent of the measurable time that must have been measured; below it a report warns in its headline.
    #[serde(default = "default_min_coverage")]
    pub min_coverage: f64,
    /// How long ahead the vendor must announce a maintenance for it to be excludable; reports list those
    /// announced later as not excludable.
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub maintenance_notice: Option<Duration>,
    /// The vendor's public status page, read to hold its word against ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_page: Option<StatusPageFile>,
}

/// Which status page software a vendor's page runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusPageKind {
    /// Atlassian Statuspage: `/api/v2/incidents.json` and `/api/v2/scheduled-maintenances.json`.
    Statuspage,
}

/// `status_page:` of a contract.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPageFile {
    /// The software.
    pub kind: StatusPageKind,
    /// The page's address (`https://status.example.com`), without credentials, query or fragment.
    pub url: String,
    /// How often it is read.
    #[serde(default = "default_status_poll", with = "humantime_serde")]
    pub poll_every: Duration,
    /// The page's components that are this service (`[API, Webhooks]`): only what the vendor declared for one of
    /// them, or for no component in particular, is held against our incidents; empty: everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
}

/// The shortest `poll_every`: a vendor's status page is read, not hammered.
pub const MIN_STATUS_POLL: Duration = Duration::from_secs(30);

/// A maintenance window: explicit (`start`, `end`) or weekly (`weekly`, `at`, `duration`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceFile {
    /// Explicit window start (RFC 3339).
    #[serde(default)]
    pub start: Option<Timestamp>,
    /// Explicit window end (RFC 3339), exclusive.
    #[serde(default)]
    pub end: Option<Timestamp>,
    /// Weekday of a weekly window (`mon` … `sun`).
    #[serde(default)]
    pub weekly: Option<String>,
    /// Local start time of a weekly window (`HH:MM`), in the contract's time zone.
    #[serde(default)]
    pub at: Option<String>,
    /// Length of a weekly window.
    #[serde(default, with = "humantime_serde")]
    pub duration: Option<Duration>,
}

/// `credits:` as written.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreditsFile {
    /// Fee for one period.
    pub fee: Decimal,
    /// ISO 4217 code.
    pub currency: String,
    /// Credit tiers.
    pub tiers: Vec<Tier>,
    /// Cap, percent of the fee.
    #[serde(default = "default_cap")]
    pub cap: Decimal,
    /// A credit at or below this amount is not issued.
    #[serde(default)]
    pub min_amount: Decimal,
}

/// One tier: uptime below `below` percent earns `credit` percent of the fee.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Threshold, percent.
    pub below: Decimal,
    /// Credit, percent of the fee.
    pub credit: Decimal,
}

/// A maintenance window, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Maintenance {
    /// `[start, end)`.
    Explicit {
        /// Start.
        start: Timestamp,
        /// End, exclusive.
        end: Timestamp,
    },
    /// Every week on `day` at local `at`, for `duration`.
    Weekly {
        /// Weekday.
        day: Weekday,
        /// Local time.
        at: Time,
        /// Length.
        duration: Duration,
    },
}

/// A validated contract.
#[derive(Debug, Clone)]
pub struct Contract {
    /// The contract as written (ids, names, thresholds).
    pub terms: ContractFile,
    /// The time zone, resolved.
    pub tz: TimeZone,
    /// `min_regions_reporting`, defaulted.
    pub min_regions_reporting: u32,
    /// Maintenance windows, resolved.
    pub maintenance: Vec<Maintenance>,
    /// The regions the contract's checks are assigned to (their `regions` in the collector's central list):
    /// only results from those regions vote. A check not listed here runs in every region; an offline report
    /// from a results file lists none.
    pub placement: Placement,
    /// Checks declared agent-local (`{ id: ..., local: true }` in `checks`): defined in the agents' own
    /// `agent.yaml`, so the collector's check list need not name them.
    pub local_checks: std::collections::BTreeSet<String>,
}

/// Check id → the regions that check runs in, for checks assigned to some regions only.
pub type Placement = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

/// A contract as a report applied it: the terms as written, where its checks were placed, and when monitoring of
/// it began. It is `contract.json` of an evidence bundle, from which the report is computed again.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedContract {
    /// The terms as written.
    pub terms: ContractFile,
    /// Which regions each check is placed in: only they vote.
    pub placement: Placement,
    /// The `started_at` of the contract's first stored result (rule 7: slices that ended before it were not
    /// monitored); `null` when there is none.
    pub monitoring_began: Option<Timestamp>,
}

impl AppliedContract {
    /// `contract` as applied, monitoring having begun at `monitoring_began`.
    pub fn of(contract: &Contract, monitoring_began: Option<Timestamp>) -> Self {
        Self { terms: contract.terms.clone(), placement: contract.placement.clone(), monitoring_began }
    }

    /// The validated contract; every problem with its path under `path`.
    pub fn contract(&self, path: &str) -> Result<Contract, Vec<String>> {
        let mut contract = validate(self.terms.clone(), &format!("{path}.terms"))?;
        contract.placement = self.placement.clone();
        Ok(contract)
    }
}

impl Contract {
    /// Whether a result of `check` from `region` may vote in this contract.
    pub fn admits(&self, check: &str, region: &str) -> bool {
        self.placement.get(check).is_none_or(|regions| regions.contains(region))
    }
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

fn default_slice() -> Duration {
    Duration::from_secs(60)
}

fn default_failed_ratio() -> Decimal {
    Decimal::new(5, 1)
}

fn default_one() -> u32 {
    1
}

fn default_min_coverage() -> f64 {
    90.0
}

fn default_status_poll() -> Duration {
    Duration::from_secs(300)
}

fn default_cap() -> Decimal {
    Decimal::ONE_HUNDRED
}

/// Parses and validates a `contracts:` list; every problem is reported with its path under `path`.
pub fn parse_contracts(value: Value, path: &str) -> Result<Vec<Contract>, Vec<String>> {
    let items = match value {
        Value::Sequence(items) => items,
        Value::Null => Vec::new(),
        _ => return Err(vec![format!("{path}: expected a list of contracts")]),
    };
    let mut problems = Vec::new();
    let mut contracts: Vec<Contract> = Vec::with_capacity(items.len());
    for (index, mut item) in items.into_iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let local_checks = match take_local_checks(&mut item, &item_path) {
            Ok(local) => local,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        match deserialize_at::<ContractFile>(item, &item_path)
            .map_err(|problem| vec![problem])
            .and_then(|terms| validate(terms, &item_path))
        {
            Ok(mut contract) => {
                contract.local_checks = local_checks;
                if contracts.iter().any(|other| other.terms.id == contract.terms.id) {
                    problems.push(format!("{item_path}.id: duplicate id {:?}", contract.terms.id));
                }
                contracts.push(contract);
            }
            Err(contract_problems) => problems.extend(contract_problems),
        }
    }
    if problems.is_empty() { Ok(contracts) } else { Err(problems) }
}

/// One `checks` entry written as a mapping: `{ id: acme-internal, local: true }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckEntry {
    id: String,
    #[serde(default)]
    local: bool,
}

/// Replaces each mapping entry of a contract's `checks` with its id; returns the ids declared `local: true`.
fn take_local_checks(item: &mut Value, path: &str) -> Result<std::collections::BTreeSet<String>, String> {
    let mut local = std::collections::BTreeSet::new();
    let Some(Value::Sequence(checks)) = item.get_mut("checks") else { return Ok(local) };
    for (index, entry) in checks.iter_mut().enumerate() {
        if let Value::Mapping(mapping) = entry {
            let parsed: CheckEntry =
                deserialize_at(Value::Mapping(mapping.clone()), &format!("{path}.checks[{index}]"))?;
            if parsed.local {
                local.insert(parsed.id.clone());
            }
            *entry = Value::String(parsed.id);
        }
    }
    Ok(local)
}

/// Validates one contract.
pub fn validate(terms: ContractFile, path: &str) -> Result<Contract, Vec<String>> {
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: String| problems.push(format!("{path}.{field}: {message}"));
    let hundred = Decimal::ONE_HUNDRED;
    if !is_valid_label(&terms.id) {
        problem("id", format!("{:?} must match [a-z0-9._-]{{1,64}}", terms.id));
    }
    if terms.checks.is_empty() {
        problem("checks", "must name at least one check".to_owned());
    }
    for (index, check) in terms.checks.iter().enumerate() {
        if !is_valid_label(check) {
            problem(&format!("checks[{index}]"), format!("{check:?} is not a check id"));
        }
    }
    if terms.objective <= Decimal::ZERO || terms.objective > hundred {
        problem("objective", format!("{} is not in (0, 100]", terms.objective));
    }
    let tz = TimeZone::get(&terms.timezone)
        .map_err(|_| problem("timezone", format!("{:?} is not an IANA time zone", terms.timezone)))
        .ok();
    if terms.slice < Duration::from_secs(1) || terms.slice.subsec_nanos() != 0 {
        problem(
            "slice",
            format!("{} must be a whole number of seconds, at least 1s", humantime::format_duration(terms.slice)),
        );
    }
    if terms.failed_ratio <= Decimal::ZERO || terms.failed_ratio > Decimal::ONE {
        problem("failed_ratio", format!("{} is not in (0, 1]", terms.failed_ratio));
    }
    if terms.slow_ms.is_some_and(|slow| !(slow > 0.0 && slow.is_finite())) {
        problem("slow_ms", "must be a positive number of milliseconds".to_owned());
    }
    if terms.min_regions_down == 0 {
        problem("min_regions_down", "must be at least 1".to_owned());
    }
    if terms.min_regions_reporting == Some(0) {
        problem("min_regions_reporting", "must be at least 1".to_owned());
    }
    if !(0.0..=100.0).contains(&terms.min_coverage) {
        problem("min_coverage", format!("{} is not in [0, 100]", terms.min_coverage));
    }
    if terms.min_down_run == 0 {
        problem("min_down_run", "must be at least 1".to_owned());
    }
    if let Some(page) = &terms.status_page {
        if let Err(message) = check_status_url(&page.url) {
            problem("status_page.url", message);
        }
        if page.poll_every < MIN_STATUS_POLL {
            problem(
                "status_page.poll_every",
                format!("{} is below the 30s minimum", humantime::format_duration(page.poll_every)),
            );
        }
    }
    let mut maintenance = Vec::new();
    for (index, window) in terms.maintenance.iter().enumerate() {
        match resolve_maintenance(window) {
            Ok(resolved) => maintenance.push(resolved),
            Err(message) => problem(&format!("maintenance[{index}]"), message),
        }
    }
    let credits = &terms.credits;
    if credits.fee < Decimal::ZERO {
        problem("credits.fee", format!("{} is negative", credits.fee));
    }
    if credits.currency.len() != 3 || !credits.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        problem("credits.currency", format!("{:?} is not an ISO 4217 code like USD", credits.currency));
    }
    if credits.cap < Decimal::ZERO || credits.cap > hundred {
        problem("credits.cap", format!("{} is not in [0, 100]", credits.cap));
    }
    if credits.min_amount < Decimal::ZERO {
        problem("credits.min_amount", format!("{} is negative", credits.min_amount));
    }
    for (index, tier) in credits.tiers.iter().enumerate() {
        let field = format!("credits.tiers[{index}]");
        if tier.below <= Decimal::ZERO || tier.below > hundred {
            problem(&format!("{field}.below"), format!("{} is not in (0, 100]", tier.below));
        }
        // A tier may promise more than the fee (tiers stated against a larger base): `cap` bounds the credit.
        if tier.credit < Decimal::ZERO {
            problem(&format!("{field}.credit"), format!("{} is negative", tier.credit));
        }
        if let Some(previous) = index.checked_sub(1).map(|previous| &credits.tiers[previous]) {
            if tier.below >= previous.below {
                problem(
                    &format!("{field}.below"),
                    format!("tiers must go down: {} is not below {}", tier.below, previous.below),
                );
            }
            if tier.credit < previous.credit {
                problem(
                    &format!("{field}.credit"),
                    format!("a lower tier cannot earn less: {} < {}", tier.credit, previous.credit),
                );
            }
        }
    }
    let min_regions_reporting = terms.min_regions_reporting.unwrap_or(terms.min_regions_down);
    match tz {
        Some(tz) if problems.is_empty() => Ok(Contract {
            terms,
            tz,
            min_regions_reporting,
            maintenance,
            placement: Placement::new(),
            local_checks: std::collections::BTreeSet::new(),
        }),
        _ => Err(problems),
    }
}

/// A status page's address: `http(s)://host[/path]`, nothing a report should not show.
fn check_status_url(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest.filter(|rest| !rest.is_empty() && !rest.starts_with('/')) else {
        return Err(format!("{url:?} is not an http:// or https:// address"));
    };
    if url.len() > 300 {
        return Err("longer than 300 characters".to_owned());
    }
    if let Some(character) =
        rest.chars().find(|character| matches!(character, '@' | '?' | '#') || !character.is_ascii_graphic())
    {
        return Err(format!(
            "{character:?} is not allowed: give the page's address without credentials, query or fragment"
        ));
    }
    Ok(())
}

fn resolve_maintenance(window: &MaintenanceFile) -> Result<Maintenance, String> {
    match window {
        MaintenanceFile { start: Some(start), end: Some(end), weekly: None, at: None, duration: None } => {
            if start < end {
                Ok(Maintenance::Explicit { start: *start, end: *end })
            } else {
                Err(format!("end {end} is not after start {start}"))
            }
        }
        MaintenanceFile { start: None, end: None, weekly: Some(day), at: Some(at), duration: Some(duration) } => {
            let day = parse_weekday(day).ok_or_else(|| format!("weekly: {day:?} is not a weekday (mon … sun)"))?;
            let at: Time = at.parse().map_err(|_| format!("at: {at:?} is not a time like \"03:00\""))?;
            if duration.is_zero() || *duration > Duration::from_secs(7 * 86_400) {
                return Err("duration: must be above 0 and at most a week".to_owned());
            }
            Ok(Maintenance::Weekly { day, at, duration: *duration })
        }
        _ => Err("give either start and end, or weekly, at and duration".to_owned()),
    }
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    Some(match text.to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}
