//! `retention:` in `collector.yaml`: how long raw results and their rollups are kept, and the floor that keeps
//! retention from deleting evidence a claim may still need. A contract's results must outlive its longest period
//! (31 days for a month, 92 for a quarter), the claim window after it (or [`UNSTATED_CLAIM_WINDOW`], how long
//! claim tracking looks at a period whose contract states none), and [`MARGIN`] for a dispute that runs late;
//! a shorter `retention.results` is refused, naming the contract that needs more.

use std::time::Duration;

use jiff::SignedDuration;
use serde::Deserialize;
use slaprobe_sla::contract::{Contract, PeriodKind};

/// How long results are kept when `collector.yaml` sets no `retention.results` (400 days: claims are disputed
/// for a year, and a year needs its previous month).
pub const DEFAULT_RESULTS_RETENTION: Duration = Duration::from_secs(400 * DAY);

/// The shortest retention accepted whatever the contracts: a month and a few days to claim it.
pub const MIN_RESULTS_RETENTION: Duration = Duration::from_secs(35 * DAY);

/// How long after its end a period whose contract sets no `claim_window` is still claimable, and looked at
/// again by claim tracking.
pub const UNSTATED_CLAIM_WINDOW: SignedDuration = SignedDuration::from_hours(90 * 24);

/// Kept beyond a contract's claim deadline, for a claim filed on its last day and disputed.
pub const MARGIN: Duration = Duration::from_secs(7 * DAY);

const DAY: u64 = 86_400;

/// `retention:`: how long raw results, and their per-minute rollups, are kept; with the text of each as the
/// file wrote it, so that a message quotes `36h 30m` and not a conversion of it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RetentionFile")]
pub struct Retention {
    /// Results that started longer ago are deleted in the background (default 400 days).
    pub results: Duration,
    /// Per-minute rollups (counts per check, region and minute) and the slice ledger are kept this long (default
    /// 5 years).
    pub rollups: Duration,
    /// `results` and `rollups` as written; `None` where the default applies.
    written: (Option<String>, Option<String>),
}

/// `retention:` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionFile {
    #[serde(default)]
    results: Option<String>,
    #[serde(default)]
    rollups: Option<String>,
}

impl TryFrom<RetentionFile> for Retention {
    type Error = String;

    fn try_from(file: RetentionFile) -> Result<Self, String> {
        let parse = |key: &str, text: &Option<String>, default: Duration| match text {
            Some(text) => humantime::parse_duration(text).map_err(|error| format!("{key}: {text:?}: {error}")),
            None => Ok(default),
        };
        Ok(Self {
            results: parse("results", &file.results, default_results_retention())?,
            rollups: parse("rollups", &file.rollups, default_rollups_retention())?,
            written: (file.results, file.rollups),
        })
    }
}

fn default_results_retention() -> Duration {
    DEFAULT_RESULTS_RETENTION
}

fn default_rollups_retention() -> Duration {
    Duration::from_secs(5 * 365 * DAY)
}

impl Default for Retention {
    fn default() -> Self {
        Self { results: default_results_retention(), rollups: default_rollups_retention(), written: (None, None) }
    }
}

impl Retention {
    /// What is wrong with these retentions next to `contracts`, one line each, naming the key.
    pub fn problems(&self, contracts: &[Contract]) -> Vec<String> {
        let mut problems = Vec::new();
        let (results, rollups) = (shown(self.results, &self.written.0), shown(self.rollups, &self.written.1));
        if self.rollups < self.results {
            problems.push(format!(
                "retention.rollups: {rollups} is shorter than retention.results ({results}); rollups must outlive the \
                 results"
            ));
        }
        if self.results < MIN_RESULTS_RETENTION {
            problems.push(format!(
                "retention.results: {results} is shorter than the minimum of 35d (a month and its claim window)"
            ));
        } else if let Some((contract, needed)) = neediest(contracts)
            && self.results < needed
        {
            problems.push(format!(
                "retention.results: {results} would delete results contract {:?} may still claim with: it needs at \
                 least {} ({}); raise retention.results",
                contract.terms.id,
                as_written(needed),
                why_needed(contract)
            ));
        }
        problems
    }
}

/// `value` as the file wrote it (`written`), or, where the default applies, the default and that it is one.
fn shown(value: Duration, written: &Option<String>) -> String {
    match written {
        Some(text) => text.clone(),
        None => format!("{}, the default when it is not set", as_written(value)),
    }
}

/// The contract whose results must be kept longest, and how long.
fn neediest(contracts: &[Contract]) -> Option<(&Contract, Duration)> {
    contracts.iter().map(|contract| (contract, needed_by(contract))).max_by_key(|(_, needed)| *needed)
}

/// How long `contract`'s results must be kept: its longest period, its claim window, and [`MARGIN`].
pub fn needed_by(contract: &Contract) -> Duration {
    longest_period(contract.terms.period) + claim_window(contract) + MARGIN
}

fn longest_period(period: PeriodKind) -> Duration {
    match period {
        PeriodKind::Month => Duration::from_secs(31 * DAY),
        PeriodKind::Quarter => Duration::from_secs(92 * DAY),
    }
}

fn claim_window(contract: &Contract) -> Duration {
    contract.terms.claim_window.unwrap_or(UNSTATED_CLAIM_WINDOW.unsigned_abs())
}

/// The sum [`needed_by`] makes, in words.
fn why_needed(contract: &Contract) -> String {
    let period = match contract.terms.period {
        PeriodKind::Month => "a month of up to 31d",
        PeriodKind::Quarter => "a quarter of up to 92d",
    };
    let window = match contract.terms.claim_window {
        Some(window) => format!("its claim_window of {}", as_written(window)),
        None => format!("{}d to claim, as it states no claim_window", UNSTATED_CLAIM_WINDOW.as_hours() / 24),
    };
    format!("{period}, {window}, and a margin of {}", as_written(MARGIN))
}

/// `duration` as a user would write it: whole days as `35d`, anything else as `humantime` spells it.
fn as_written(duration: Duration) -> String {
    match duration.as_secs() {
        seconds if seconds > 0 && seconds % DAY == 0 && duration.subsec_nanos() == 0 => format!("{}d", seconds / DAY),
        _ => humantime::format_duration(duration).to_string(),
    }
}
