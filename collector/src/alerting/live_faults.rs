//! Rule 11 for alerts, which cannot wait until a span is judged for good (about 45 s after it ends): each span
//! is judged once, from the results stored when it is first needed after it ended, and kept for every rule that
//! asks for it later, so that a tick over many contracts reads every contract's results of a new span once, not
//! once per rule.

use jiff::{SignedDuration, Timestamp};
use slaprobe_sla::faults::{AgentFault, FaultRule};

use crate::config::CollectorConfig;
use crate::ledger::faults::judge_now;
use crate::store::{Store, StoreError};

/// How long judged spans are kept: longer than any `down` rule looks back.
const KEPT: SignedDuration = SignedDuration::from_hours(6);

/// The spans judged so far; see the module documentation.
#[derive(Default)]
pub struct LiveFaults {
    /// The settings they were judged under.
    rule: Option<FaultRule>,
    /// The spans that start before this and after `from` are judged.
    judged: Option<(Timestamp, Timestamp)>,
    faults: Vec<AgentFault>,
}

impl LiveFaults {
    /// The faults of the spans that have ended by `to` and overlap `[from, to)`: those judged before, and the
    /// newer ones judged now.
    pub async fn between(
        &mut self,
        store: &Store,
        config: &CollectorConfig,
        (from, to): (Timestamp, Timestamp),
    ) -> Result<Vec<AgentFault>, StoreError> {
        let rule = config.agent_faults;
        if self.rule != Some(rule) {
            *self = Self { rule: Some(rule), ..Self::default() };
        }
        let (first, end) = (rule.span_start(from), rule.span_start(to));
        let (judged_from, judged_until) = match self.judged {
            // Judged spans that go on from the earlier ones: only the newer ones are read.
            Some((judged_from, judged_until)) if judged_from <= first && first <= judged_until => {
                (judged_from, judged_until)
            }
            _ => {
                self.faults.clear();
                (first, first)
            }
        };
        if end > judged_until {
            self.faults.extend(judge_now(store, config, (judged_until, end)).await?);
        }
        let until = end.max(judged_until);
        let kept_from = until.saturating_sub(KEPT).unwrap_or(until).max(judged_from);
        self.faults.retain(|fault| fault.end > kept_from);
        self.judged = Some((rule.span_start(kept_from), until));
        Ok(self.faults.iter().filter(|fault| fault.start < to && fault.end > from).cloned().collect())
    }
}
