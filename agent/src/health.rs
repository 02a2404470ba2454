//! The agent's view of itself that goes with every batch it sends ([`v1::AgentHealth`]): its latest clock
//! estimate, the resolver its probes use, its spool's backlog and drops, and how its control probes stand (per
//! control check, its latest attempt of the last [`CONTROLS_WINDOW`]). The collector keeps it as the agent's
//! history, so a claim report can say that a region was measuring normally during an incident.

use std::collections::HashMap;

use slaprobe_proto::v1;

/// How far back a control check's latest attempt counts.
pub const CONTROLS_WINDOW_NANOS: i64 = 5 * 60 * 1_000_000_000;

/// What the agent knows of itself between batches; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct SelfView {
    resolver: String,
    clock_offset_nanos: Option<i64>,
    /// Per control check: when its latest attempt started (nanoseconds since the epoch) and whether it passed.
    controls: HashMap<String, (i64, bool)>,
}

impl SelfView {
    /// Nothing known yet but the resolver the probes use (`ip:port`, or why there is none).
    pub fn new(resolver: String) -> Self {
        Self { resolver, ..Self::default() }
    }

    /// Takes the latest clock estimate (collector clock minus agent clock).
    pub fn clock(&mut self, offset_nanos: i64) {
        self.clock_offset_nanos = Some(offset_nanos);
    }

    /// Takes in the control probes among `results` (about to be sent).
    pub fn saw(&mut self, results: &[v1::Result]) {
        for result in results.iter().filter(|result| result.control) {
            let latest = self.controls.entry(result.check_id.clone()).or_insert((i64::MIN, true));
            if result.started_unix_nanos >= latest.0 {
                *latest = (result.started_unix_nanos, result.ok);
            }
        }
    }

    /// The view as of `now_nanos`, with the spool's `backlog` and the results it `dropped`; control checks whose
    /// latest attempt is older than [`CONTROLS_WINDOW_NANOS`] are forgotten.
    pub fn health(&mut self, now_nanos: i64, backlog: u64, dropped: u64) -> v1::AgentHealth {
        self.controls.retain(|_, (at, _)| now_nanos.saturating_sub(*at) <= CONTROLS_WINDOW_NANOS);
        let failing = self.controls.values().filter(|(_, ok)| !ok).count();
        v1::AgentHealth {
            clock_offset_nanos: self.clock_offset_nanos,
            resolver: self.resolver.clone(),
            spool_backlog: backlog,
            dropped_results: dropped,
            controls_probed: u32::try_from(self.controls.len()).unwrap_or(u32::MAX),
            controls_failing: u32::try_from(failing).unwrap_or(u32::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CONTROLS_WINDOW_NANOS, SelfView};
    use slaprobe_proto::v1;

    fn control(check: &str, at: i64, ok: bool) -> v1::Result {
        v1::Result { check_id: check.to_owned(), started_unix_nanos: at, ok, control: true, ..Default::default() }
    }

    #[test]
    fn each_control_counts_by_its_latest_attempt_within_the_window() {
        let mut view = SelfView::new("127.0.0.53:53".to_owned());
        let measured = v1::Result { check_id: "api".to_owned(), ok: false, ..Default::default() };
        view.saw(&[control("gw", 10, false), control("gw", 20, true), control("dns", 15, false), measured]);
        view.saw(&[control("dns", 5, true)]);
        view.clock(-1_500);
        let health = view.health(30, 7, 2);
        assert_eq!((health.controls_probed, health.controls_failing), (2, 1), "gw passes at 20, dns fails at 15");
        assert_eq!((health.clock_offset_nanos, health.spool_backlog, health.dropped_results), (Some(-1_500), 7, 2));
        assert_eq!(health.resolver, "127.0.0.53:53");
        let later = view.health(20 + CONTROLS_WINDOW_NANOS + 1, 0, 2);
        assert_eq!((later.controls_probed, later.controls_failing), (0, 0), "forgotten after the window");
    }
}
