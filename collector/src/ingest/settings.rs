//! What ingest takes from `collector.yaml`: the admitted agents, the central check list pushed to them, and the
//! clock-offset bound beyond which an agent's results are flagged.

use std::collections::HashSet;
use std::time::Duration;

use slaprobe_agent::config::{Check, checks_document};
use slaprobe_proto::v1;

use super::auth::{Agents, token_hash};

/// The clock-offset bound when `collector.yaml` sets none.
pub const DEFAULT_MAX_CLOCK_OFFSET: Duration = Duration::from_secs(2);

/// Ingest's view of the configuration; a reload replaces it whole.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Agents admitted.
    pub agents: Agents,
    /// The central check list, or `None` when agents run their own checks (nothing is pushed, no result is
    /// flagged as an unknown check).
    pub checks: Option<Vec<Check>>,
    /// An agent whose clock is off by more than this gets its results flagged `clock_suspect`.
    pub max_clock_offset: Duration,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self { agents: Agents::default(), checks: None, max_clock_offset: DEFAULT_MAX_CLOCK_OFFSET }
    }
}

impl IngestSettings {
    /// Settings admitting `agents`, pushing no checks, with the default clock bound.
    pub fn admitting(agents: Agents) -> Self {
        Self { agents, ..Self::default() }
    }

    /// The checks document for `region` and its version (hex SHA-256 of the document), if checks are pushed.
    pub fn pushed_config(&self, region: &str) -> Option<v1::CheckConfig> {
        let checks = self.checks.as_ref()?;
        let region = region.to_owned();
        let chosen =
            checks.iter().filter(|check| check.regions.as_ref().is_none_or(|regions| regions.contains(&region)));
        let checks_yaml = checks_document(chosen);
        Some(v1::CheckConfig { version: token_hash(&checks_yaml), checks_yaml, phase_offsets_ms: Default::default() })
    }

    /// The ids of the central checks, or `None` when there is no central list.
    pub fn known_checks(&self) -> Option<HashSet<String>> {
        self.checks.as_ref().map(|checks| checks.iter().map(|check| check.id.clone()).collect())
    }
}
