//! Escalation along a policy's levels, pure: which levels an open alert is due to tell now, whether it is due a
//! repeat, and the channels of a range of levels. An acknowledged alert escalates and repeats no further.

use std::ops::Range;

use jiff::{SignedDuration, Timestamp};

use crate::config::alerting::Policy;
use crate::store::AlertRecord;

/// The levels of `policy` not yet told whose delay since the alert fired has passed at `now`.
pub fn due_levels(policy: &Policy, alert: &AlertRecord, now: Timestamp) -> Range<usize> {
    let told = (alert.levels_notified as usize).min(policy.levels.len());
    if alert.acknowledged_at.is_some() {
        return told..told;
    }
    let elapsed = now.duration_since(alert.fired_at);
    let due = policy.levels[told..]
        .iter()
        .take_while(|level| SignedDuration::try_from(level.after).is_ok_and(|after| after <= elapsed))
        .count();
    told..told + due
}

/// Whether an unacknowledged alert should be sent again to the levels told so far.
pub fn repeat_due(policy: &Policy, alert: &AlertRecord, now: Timestamp) -> bool {
    let (Some(repeat), Some(last)) = (policy.repeat, alert.last_notified_at) else { return false };
    alert.acknowledged_at.is_none()
        && alert.levels_notified > 0
        && SignedDuration::try_from(repeat).is_ok_and(|repeat| now.duration_since(last) >= repeat)
}

/// The channel ids of `levels`, each once, in order.
pub fn channels_of(policy: &Policy, levels: Range<usize>) -> Vec<String> {
    let mut channels: Vec<String> = Vec::new();
    for level in policy.levels.get(levels).unwrap_or_default() {
        for channel in &level.channels {
            if !channels.contains(channel) {
                channels.push(channel.clone());
            }
        }
    }
    channels
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::alerting::Level;
    use crate::store::AlertState;

    fn policy(repeat: Option<u64>) -> Policy {
        let level = |after: u64, channels: &[&str]| Level {
            after: Duration::from_secs(after),
            channels: channels.iter().map(|channel| (*channel).to_owned()).collect(),
        };
        Policy {
            id: "default".to_owned(),
            levels: vec![level(0, &["chat", "hook"]), level(600, &["oncall"]), level(1800, &["managers", "chat"])],
            repeat: repeat.map(Duration::from_secs),
        }
    }

    fn alert(fired: &str) -> AlertRecord {
        let fired_at: Timestamp = fired.parse().unwrap();
        AlertRecord {
            id: "acme.down.1".to_owned(),
            contract: "acme".to_owned(),
            kind: "down".to_owned(),
            policy: "default".to_owned(),
            state: AlertState::Firing,
            started_at: fired_at,
            fired_at,
            resolved_at: None,
            resolved_by: None,
            acknowledged_at: None,
            acknowledged_by: None,
            levels_notified: 0,
            last_notified_at: None,
            regions: Vec::new(),
            summary: String::new(),
            rearmed: false,
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn levels_come_due_by_their_delay_and_stop_when_acknowledged() {
        let policy = policy(None);
        let mut alert = alert("2026-11-01T12:00:00Z");
        assert_eq!(due_levels(&policy, &alert, at("2026-11-01T12:00:00Z")), 0..1);
        alert.levels_notified = 1;
        assert_eq!(due_levels(&policy, &alert, at("2026-11-01T12:09:59Z")), 1..1);
        assert_eq!(due_levels(&policy, &alert, at("2026-11-01T12:10:00Z")), 1..2);
        assert_eq!(due_levels(&policy, &alert, at("2026-11-01T12:45:00Z")), 1..3, "a late tick catches up");
        alert.acknowledged_at = Some(at("2026-11-01T12:05:00Z"));
        assert_eq!(due_levels(&policy, &alert, at("2026-11-01T12:45:00Z")), 1..1);
        alert.levels_notified = 3;
        alert.acknowledged_at = None;
        assert_eq!(due_levels(&policy, &alert, at("2026-11-02T00:00:00Z")), 3..3, "all levels told");
        assert_eq!(channels_of(&policy, 0..3), ["chat", "hook", "oncall", "managers"]);
    }

    #[test]
    fn repeats_follow_the_last_notification_unless_acknowledged() {
        let mut alert = alert("2026-11-01T12:00:00Z");
        alert.levels_notified = 1;
        alert.last_notified_at = Some(at("2026-11-01T12:00:00Z"));
        assert!(!repeat_due(&policy(None), &alert, at("2026-11-03T00:00:00Z")), "no repeat configured");
        let hourly = policy(Some(3600));
        assert!(!repeat_due(&hourly, &alert, at("2026-11-01T12:59:59Z")));
        assert!(repeat_due(&hourly, &alert, at("2026-11-01T13:00:00Z")));
        alert.acknowledged_at = Some(at("2026-11-01T12:30:00Z"));
        assert!(!repeat_due(&hourly, &alert, at("2026-11-01T13:00:00Z")));
    }
}
