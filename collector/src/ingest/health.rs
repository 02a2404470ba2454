//! The agent's view of itself that comes with its batches ([`v1::AgentHealth`]), kept as its history
//! ([`HealthRecord`]): a record when something that decides whether it was measuring normally changed (its
//! controls, drops, clock against the bound, resolver), else at most one every [`HEALTH_EVERY`].

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::v1;

use crate::config::AgentIdentity;
use crate::store::agent_health::HealthRecord;

/// How often an unchanged view is recorded while batches flow.
pub const HEALTH_EVERY: SignedDuration = SignedDuration::from_secs(60);

/// Longest resolver text kept (what an agent sends is cut there).
const RESOLVER_CHARS: usize = 200;

/// What of a view decides whether the agent was measuring normally.
type Telling = (u32, u32, u64, bool, String);

/// The last view a session recorded; see the module documentation.
#[derive(Debug, Default)]
pub struct HealthNotes {
    last: Option<(Timestamp, Telling)>,
}

impl HealthNotes {
    /// The record to keep of `health`, which `identity`'s batch brought at `now` (`bound`: the collector's
    /// `max_clock_offset`), or `None` when the last one still says it.
    pub fn take(
        &mut self,
        identity: &AgentIdentity,
        health: v1::AgentHealth,
        now: Timestamp,
        bound: Duration,
    ) -> Option<HealthRecord> {
        let resolver: String = health.resolver.chars().take(RESOLVER_CHARS).collect();
        let off =
            health.clock_offset_nanos.is_some_and(|offset| SignedDuration::from_nanos(offset).unsigned_abs() > bound);
        let telling = (health.controls_probed, health.controls_failing, health.dropped_results, off, resolver.clone());
        let due = match &self.last {
            Some((at, last)) => *last != telling || now.duration_since(*at) >= HEALTH_EVERY,
            None => true,
        };
        if !due {
            return None;
        }
        self.last = Some((now, telling));
        Some(HealthRecord {
            agent_id: identity.agent_id.clone(),
            region: identity.region.clone(),
            at: now,
            clock_offset_ms: health.clock_offset_nanos.map(|nanos| nanos as f64 / 1e6),
            resolver,
            spool_backlog: health.spool_backlog,
            dropped_results: health.dropped_results,
            controls_probed: health.controls_probed,
            controls_failing: health.controls_failing.min(health.controls_probed),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::SignedDuration;
    use slaprobe_proto::v1;

    use super::HealthNotes;
    use crate::config::AgentIdentity;

    #[test]
    fn a_view_is_kept_when_it_changes_or_a_minute_has_passed_and_bounded() {
        let identity = AgentIdentity {
            agent_id: "agent-eu-1".to_owned(),
            region: "eu-west".to_owned(),
            token_sha256: String::new(),
            public_key: None,
            client_cert: None,
            enrolment: None,
        };
        let healthy = v1::AgentHealth {
            clock_offset_nanos: Some(2_000_000),
            resolver: "r".repeat(1000),
            controls_probed: 3,
            ..Default::default()
        };
        let mut notes = HealthNotes::default();
        let start: jiff::Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let bound = Duration::from_secs(2);
        let first = notes.take(&identity, healthy.clone(), start, bound).unwrap();
        assert_eq!((first.resolver.len(), first.clock_offset_ms, first.region.as_str()), (200, Some(2.0), "eu-west"));
        let soon = start + SignedDuration::from_secs(5);
        assert!(notes.take(&identity, healthy.clone(), soon, bound).is_none(), "nothing new");
        let failing = v1::AgentHealth { controls_failing: 2, ..healthy.clone() };
        assert_eq!(notes.take(&identity, failing.clone(), soon, bound).unwrap().controls_failing, 2);
        let off = v1::AgentHealth { clock_offset_nanos: Some(-3_000_000_000), ..failing.clone() };
        assert!(notes.take(&identity, off.clone(), soon, bound).is_some(), "the clock went beyond the bound");
        assert!(notes.take(&identity, off.clone(), start + SignedDuration::from_secs(64), bound).is_none());
        assert!(
            notes.take(&identity, off.clone(), start + SignedDuration::from_secs(65), bound).is_some(),
            "a minute on"
        );
        let lying = v1::AgentHealth { controls_failing: 9, ..healthy };
        let kept = notes.take(&identity, lying, start + SignedDuration::from_secs(66), bound).unwrap();
        assert_eq!(kept.controls_failing, 3, "never more failing than probed");
    }
}
