//! `reports:` of `collector.yaml`: where the claim reports of closed periods go, and the reminders of claims not
//! yet submitted. Channels are those of `notify.channels` that carry a document: email (the HTML report as the
//! message, JSON and CSV attached), webhook (the report's JSON, signed like an alert), and Slack-compatible
//! hooks, Teams, Telegram and Discord (a summary with a link); PagerDuty and Opsgenie page people and are refused
//! here.
//!
//! ```yaml
//! reports:
//!   channels: [finance-mail, finance-hook]
//!   send: owed           # owed (default): only periods that leave a credit owed; all: every closed period
//!   remind_before: 5d    # a reminder this long before the claim deadline of every credit not yet submitted
//! ```

use std::time::Duration;

use serde::Deserialize;
use serde_yaml_ng::Value;
use slaprobe_checks::deserialize_at;

use super::alerting::Notify;

/// Which closed periods are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendWhich {
    /// Only periods whose report leaves a credit owed.
    #[default]
    Owed,
    /// Every closed period.
    All,
}

/// `reports:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reports {
    /// Channel ids of `notify.channels`.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Which closed periods are sent.
    #[serde(default)]
    pub send: SendWhich,
    /// How long before the claim deadline an unsubmitted claim is reminded of (default 5 days).
    #[serde(default = "default_remind_before", with = "humantime_serde")]
    pub remind_before: Duration,
}

fn default_remind_before() -> Duration {
    Duration::from_secs(5 * 24 * 3600)
}

impl Default for Reports {
    fn default() -> Self {
        Self { channels: Vec::new(), send: SendWhich::default(), remind_before: default_remind_before() }
    }
}

/// Reads `reports:` against the channels of `notify`, adding what is wrong to `problems`.
pub fn parse_reports(value: Option<Value>, notify: &Notify, problems: &mut Vec<String>) -> Reports {
    let Some(value) = value else { return Reports::default() };
    let reports: Reports = match deserialize_at(value, "reports") {
        Ok(reports) => reports,
        Err(problem) => {
            problems.push(problem);
            return Reports::default();
        }
    };
    for (index, name) in reports.channels.iter().enumerate() {
        let at = format!("reports.channels[{index}]");
        match notify.channels.iter().find(|channel| &channel.id == name) {
            None => problems.push(format!("{at}: no channel {name:?} in notify.channels")),
            Some(channel) if channel.pagerduty.is_some() || channel.opsgenie.is_some() => problems.push(format!(
                "{at}: {name:?} is a {} channel, which pages people; claim reports go to email, webhook, slack, \
                 teams, telegram or discord channels",
                if channel.pagerduty.is_some() { "PagerDuty" } else { "Opsgenie" }
            )),
            Some(_) => {}
        }
        if reports.channels[..index].contains(name) {
            problems.push(format!("{at}: {name:?} is named twice"));
        }
    }
    if reports.remind_before.is_zero() {
        problems.push("reports.remind_before: give a duration such as 5d".to_owned());
    }
    reports
}
