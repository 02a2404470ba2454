//! Rule 11: an agent whose every check failed across several vendors at once, while other regions saw those
//! vendors up, was failing itself. Time is cut into spans of [`FaultRule::span`] from the Unix epoch; in a span,
//! an agent's results are inconclusive when it has results there, every one of them failed, and at least
//! [`FaultRule::vendors`] distinct vendors of its checks were seen up from another region in the same span (a
//! passing result of one of the same checks). The judgement needs every contract's results at once, so the
//! collector makes it once per span and stores it ([`AgentFault`]); the engine sets the agent's results aside in
//! every contract slice the span overlaps ([`crate::observations::Observations::add_fault`]), as rule 10 does for
//! failing controls.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use slaprobe_proto::ResultRecord;

use crate::contract::Contract;

/// Rule 11's settings (`agent_faults:` in collector.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// Distinct vendors seen up elsewhere that an agent must see fail at once; 0 turns the rule off.
    pub vendors: usize,
    /// The spans judged, cut from the Unix epoch.
    #[serde(with = "humantime_serde")]
    pub span: Duration,
}

impl Default for FaultRule {
    fn default() -> Self {
        Self { vendors: 3, span: Duration::from_secs(60) }
    }
}

impl FaultRule {
    /// The shortest span: an agent's checks must each have had a chance to be probed in it.
    pub const SHORTEST_SPAN: Duration = Duration::from_secs(1);
    /// The longest span: a fault sets aside whole spans, so a long one hides too much.
    pub const LONGEST_SPAN: Duration = Duration::from_secs(3600);

    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        let whole = self.span.subsec_nanos() == 0;
        (!whole || self.span < Self::SHORTEST_SPAN || self.span > Self::LONGEST_SPAN)
            .then(|| format!("span: must be whole seconds from 1s to 1h, not {:?}", self.span))
    }

    /// The span's length in nanoseconds.
    fn span_ns(&self) -> i128 {
        i128::try_from(self.span.as_nanos()).unwrap_or(i128::MAX).max(1)
    }

    /// The start of the span that contains `at`.
    pub fn span_start(&self, at: Timestamp) -> Timestamp {
        let span = self.span_ns();
        let start = at.as_nanosecond().div_euclid(span) * span;
        Timestamp::from_nanosecond(start).unwrap_or(at)
    }

    /// The end of the span that starts at `start`.
    pub fn span_end(&self, start: Timestamp) -> Timestamp {
        Timestamp::from_nanosecond(start.as_nanosecond() + self.span_ns()).unwrap_or(Timestamp::MAX)
    }
}

/// One agent's results set aside over `[start, end)` by rule 11.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFault {
    /// The agent.
    pub agent_id: String,
    /// Its region.
    pub region: String,
    /// The span's start.
    pub start: Timestamp,
    /// The span's end (exclusive).
    pub end: Timestamp,
    /// The vendors whose checks the agent saw fail while another region saw them up, in order.
    pub vendors: Vec<String>,
}

/// Per check, the vendors of the contracts that name it.
pub fn vendors_of_checks<'c>(contracts: impl IntoIterator<Item = &'c Contract>) -> HashMap<String, BTreeSet<String>> {
    let mut vendors: HashMap<String, BTreeSet<String>> = HashMap::new();
    for contract in contracts {
        for check in &contract.terms.checks {
            vendors.entry(check.clone()).or_default().insert(contract.terms.vendor.clone());
        }
    }
    vendors
}

/// What one agent's results in a span came to.
#[derive(Default)]
struct AgentSpan<'r> {
    region: &'r str,
    all_failed: bool,
    checks: BTreeSet<&'r str>,
}

/// Rule 11 over one span `[start, rule.span_end(start))`: the agents whose results there are inconclusive, in
/// order of agent. `results` are the results that started in the span (control probes, results without an agent
/// and results of checks no contract names are left out); `vendors_of` says whose each check is
/// ([`vendors_of_checks`]).
pub fn judge_span(
    rule: &FaultRule,
    start: Timestamp,
    results: &[ResultRecord],
    vendors_of: &HashMap<String, BTreeSet<String>>,
) -> Vec<AgentFault> {
    if rule.vendors == 0 {
        return Vec::new();
    }
    let mut agents: BTreeMap<&str, AgentSpan<'_>> = BTreeMap::new();
    let mut passing: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for result in results.iter().filter(|result| !result.control && vendors_of.contains_key(&result.check_id)) {
        let Some(agent) = result.agent_id.as_deref() else { continue };
        let span = agents.entry(agent).or_insert_with(|| AgentSpan { all_failed: true, ..AgentSpan::default() });
        span.region = &result.region;
        span.all_failed &= !result.ok;
        span.checks.insert(&result.check_id);
        if result.ok {
            passing.entry(&result.check_id).or_default().insert(&result.region);
        }
    }
    let end = rule.span_end(start);
    agents
        .into_iter()
        .filter(|(_, span)| span.all_failed)
        .filter_map(|(agent, span)| {
            let up_elsewhere = |check: &&str| {
                passing.get(check).is_some_and(|regions| regions.iter().any(|region| *region != span.region))
            };
            let vendors: BTreeSet<&String> =
                span.checks.iter().filter(|check| up_elsewhere(check)).flat_map(|check| &vendors_of[*check]).collect();
            (vendors.len() >= rule.vendors).then(|| AgentFault {
                agent_id: agent.to_owned(),
                region: span.region.to_owned(),
                start,
                end,
                vendors: vendors.into_iter().cloned().collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
