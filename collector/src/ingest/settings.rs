//! What ingest takes from `collector.yaml`: the admitted agents, the central check list pushed to them, and the
//! clock-offset bound beyond which an agent's results are flagged.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_checks::{Check, ChecksDocument, slot_offset, staggered};
use slaprobe_proto::v1;

use super::auth::Agents;
use crate::config::{CollectorConfig, DEFAULT_MAX_CLOCK_OFFSET, DEFAULT_RESULTS_RETENTION};
use slaprobe_sla::contract::Contract;
use slaprobe_sla::status::current_period;

/// Ingest's view of the configuration; a reload replaces it whole.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Agents admitted.
    pub agents: Agents,
    /// The central check list, its control checks included, or `None` when agents run their own checks
    /// (nothing is pushed, and results of any check are taken).
    pub checks: Option<Vec<Check>>,
    /// An agent whose clock is off by more than this gets its results flagged `clock_suspect`, and a result
    /// stamped further than this in the future is refused.
    pub max_clock_offset: Duration,
    /// Results that started longer ago than this (`retention.results`) are refused: they would be deleted.
    pub retention: Duration,
    /// When each contract's periods close, to flag late results.
    pub closes: Vec<PeriodClose>,
}

/// A contract and its settle time: a result of one of its checks that arrives later than the end of its
/// period plus the settle time is `late`.
#[derive(Debug, Clone)]
pub struct PeriodClose {
    /// The contract.
    pub contract: Contract,
    /// How long after a slice ends its results are all in.
    pub settle: SignedDuration,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            agents: Agents::default(),
            checks: None,
            max_clock_offset: DEFAULT_MAX_CLOCK_OFFSET,
            retention: DEFAULT_RESULTS_RETENTION,
            closes: Vec::new(),
        }
    }
}

impl IngestSettings {
    /// What ingest takes from `config`. An empty central check list pushes nothing, control checks neither:
    /// agents then run the checks (and controls) of their own `agent.yaml`.
    pub fn from_config(config: &CollectorConfig) -> Self {
        let central = config.checks.iter().chain(&config.control_checks);
        let checks =
            (!config.checks.is_empty()).then(|| central.map(|prepared| Check::clone(&prepared.check)).collect());
        let closes = config
            .contracts
            .iter()
            .map(|contract| PeriodClose { contract: contract.clone(), settle: config.settle_time(contract) })
            .collect();
        Self {
            agents: Agents::new(config.agents.clone()).with_enrolments(config.enrolments.clone()),
            checks,
            max_clock_offset: config.max_clock_offset,
            retention: config.retention.results,
            closes,
        }
    }

    /// Settings admitting `agents`, pushing no checks, with the default clock bound.
    pub fn admitting(agents: Agents) -> Self {
        Self { agents, ..Self::default() }
    }

    /// The checks document for `agent_id` in `region` and its version (hex SHA-256 of the document), if checks
    /// are pushed. Each check without a `phase` of its own gets the agent's turn among the configured agents that
    /// probe it ([`staggered`]), so they do not all probe at the same moment; an enrolled agent gets a spot of
    /// its own from a hash of the check and its name, so a fleet spreads over the interval too.
    pub fn pushed_config(&self, agent_id: &str, region: &str) -> Option<v1::CheckConfig> {
        let checks = self.checks.as_ref()?;
        let region = region.to_owned();
        let chosen: Vec<Check> = checks
            .iter()
            .filter(|check| check.regions.as_ref().is_none_or(|regions| regions.contains(&region)))
            .map(|check| {
                let probing = self.agents.ids_in(check.regions.as_ref());
                let mut check = check.clone();
                if check.phase.is_none() {
                    check.phase = Some(match probing.iter().position(|id| *id == agent_id) {
                        Some(position) => staggered(&check, position, probing.len()),
                        // An enrolled agent, not among the configured ones: a spot of its own, from its name.
                        None => slot_offset(&format!("{}/{agent_id}", check.id), check.interval),
                    });
                }
                check
            })
            .collect();
        let document = ChecksDocument::new(&chosen);
        Some(v1::CheckConfig { version: document.version, checks_yaml: document.yaml, ..Default::default() })
    }

    /// Whether a result of `check` that started at `started_at` and arrived at `received_at` is late for any
    /// contract counting that check. Cheap for the usual result, which arrives within the settle time.
    pub fn is_late(&self, check: &str, started_at: Timestamp, received_at: Timestamp) -> bool {
        self.closes.iter().filter(|close| close.contract.terms.checks.iter().any(|id| id == check)).any(|close| {
            received_at > started_at + close.settle
                && current_period(&close.contract, started_at)
                    .is_ok_and(|period| received_at > period.end + close.settle)
        })
    }

    /// What results an agent of `region` may send, or `None` when there is no central list (any check).
    pub fn assignment(&self, region: &str) -> Option<Assignment> {
        let checks = self.checks.as_ref()?;
        let assigned = checks
            .iter()
            .filter(|check| check.regions.as_ref().is_none_or(|regions| regions.iter().any(|r| r == region)));
        Some(Assignment {
            assigned: assigned.map(|check| (check.id.clone(), check.control)).collect(),
            central: checks.iter().map(|check| check.id.clone()).collect(),
        })
    }
}

/// The checks an agent's results may be of, with a central check list: those assigned to its region (a control
/// result must be of a control check and the other way round), and its own controls (`control_checks:` in its
/// agent.yaml), whose ids are none of the central list's.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// The central checks assigned to the region, by id: whether each is a control check.
    assigned: HashMap<String, bool>,
    /// Every central check's id, whatever its regions.
    central: HashSet<String>,
}

impl Assignment {
    /// Whether `region`'s agent may send a result of `check` (`control`: marked as a control probe); why not.
    pub fn admits(&self, check: &str, control: bool, region: &str) -> Result<(), String> {
        match self.assigned.get(check) {
            Some(is_control) if *is_control == control => Ok(()),
            Some(true) => Err(format!("check {check:?} is a control check; its results must be marked `control`")),
            Some(false) => Err(format!("check {check:?} is not a control check; it is measured, not a control")),
            None if control && !self.central.contains(check) => Ok(()),
            None => Err(format!("check {check:?} is not assigned to region {region}")),
        }
    }
}
