//! `notify:` and `alerts:` of `collector.yaml` (`DESIGN.md` section 6): notification channels, escalation
//! policies, and alert rules per contract. Everything is validated when the configuration loads (ids, URLs,
//! addresses, references between the three), so a typo fails at startup or reload rather than when an alert
//! should have gone out. Evaluating the rules and sending is the alerting work item's; until then the
//! collector says at startup that these sections are checked but not acted on.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml_ng::Value;
use slaprobe_agent::config::deserialize_at;
use slaprobe_agent::config::validate::is_valid_label;

use crate::contract::Contract;

/// `notify:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Where notifications go.
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// Who is told when.
    #[serde(default)]
    pub policies: Vec<Policy>,
}

/// One channel: an id and exactly one kind.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// `[a-z0-9._-]{1,64}`, unique.
    pub id: String,
    /// A JSON POST, HMAC-signed with `secret` when given.
    #[serde(default)]
    pub webhook: Option<Webhook>,
    /// A Slack-compatible incoming webhook.
    #[serde(default)]
    pub slack: Option<Slack>,
    /// PagerDuty Events API v2.
    #[serde(default)]
    pub pagerduty: Option<PagerDuty>,
    /// Email over SMTP.
    #[serde(default)]
    pub email: Option<Email>,
}

/// `webhook:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http(s)://` URL.
    pub url: String,
    /// Key of the `X-Slaprobe-Signature: sha256=<hex HMAC of the body>` header.
    #[serde(default)]
    pub secret: Option<String>,
}

/// `slack:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slack {
    /// The incoming-webhook URL.
    pub url: String,
}

/// `pagerduty:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDuty {
    /// The service's integration (routing) key.
    pub routing_key: String,
}

/// `email:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// `smtp://host:port` (STARTTLS) or `smtps://host:port`.
    pub smtp: String,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

/// An escalation policy: levels in order, each after a delay unless acknowledged.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// `[a-z0-9._-]{1,64}`, unique.
    pub id: String,
    /// At least one; delays never decrease.
    pub levels: Vec<Level>,
}

/// One escalation level.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    /// How long after the alert fires (unacknowledged) this level is told.
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    /// Channel ids.
    pub channels: Vec<String>,
}

/// What an alert watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The contract's service is down (its quorum rule holds).
    Down,
    /// The error budget burns fast.
    BurnRate,
    /// The period is forecast to end below the objective.
    BreachForecast,
    /// An agent or region sends nothing.
    Silent,
    /// A certificate expires soon.
    CertExpiry,
}

/// One `alerts:` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// The contract watched.
    pub contract: String,
    /// What is watched.
    pub kind: AlertKind,
    /// The escalation policy.
    pub policy: String,
}

/// Reads `notify` and `alerts`, adding every problem to `problems` with its path.
pub fn parse_alerting(
    notify: Option<Value>,
    alerts: Option<Value>,
    contracts: &[Contract],
    problems: &mut Vec<String>,
) -> (Notify, Vec<AlertRule>) {
    let notify: Notify = notify
        .map(|value| deserialize_at(value, "notify").unwrap_or_else(|problem| fail(problems, problem)))
        .unwrap_or_default();
    let alerts: Vec<AlertRule> = alerts
        .map(|value| deserialize_at(value, "alerts").unwrap_or_else(|problem| fail(problems, problem)))
        .unwrap_or_default();
    for (index, channel) in notify.channels.iter().enumerate() {
        let at = format!("notify.channels[{index}]");
        check_id(&at, &channel.id, notify.channels[..index].iter().map(|other| &other.id), problems);
        check_channel(&at, channel, problems);
    }
    for (index, policy) in notify.policies.iter().enumerate() {
        let at = format!("notify.policies[{index}]");
        check_id(&at, &policy.id, notify.policies[..index].iter().map(|other| &other.id), problems);
        if policy.levels.is_empty() {
            problems.push(format!("{at}.levels: give at least one level"));
        }
        for (level_index, level) in policy.levels.iter().enumerate() {
            let level_at = format!("{at}.levels[{level_index}]");
            if level_index > 0 && level.after < policy.levels[level_index - 1].after {
                problems.push(format!("{level_at}.after: shorter than the level before it"));
            }
            if level.channels.is_empty() {
                problems.push(format!("{level_at}.channels: name at least one channel"));
            }
            for name in &level.channels {
                if !notify.channels.iter().any(|channel| &channel.id == name) {
                    problems.push(format!("{level_at}.channels: no channel {name:?} in notify.channels"));
                }
            }
        }
    }
    for (index, rule) in alerts.iter().enumerate() {
        if !contracts.iter().any(|contract| contract.terms.id == rule.contract) {
            problems.push(format!("alerts[{index}].contract: no contract {:?}", rule.contract));
        }
        if !notify.policies.iter().any(|policy| policy.id == rule.policy) {
            problems.push(format!("alerts[{index}].policy: no policy {:?} in notify.policies", rule.policy));
        }
    }
    (notify, alerts)
}

fn fail<T: Default>(problems: &mut Vec<String>, problem: String) -> T {
    problems.push(problem);
    T::default()
}

fn check_id<'a>(at: &str, id: &str, earlier: impl Iterator<Item = &'a String>, problems: &mut Vec<String>) {
    if !is_valid_label(id) {
        problems.push(format!("{at}.id: {id:?} must match [a-z0-9._-]{{1,64}}"));
    }
    if earlier.into_iter().any(|other| other == id) {
        problems.push(format!("{at}.id: duplicate id {id:?}"));
    }
}

fn check_channel(at: &str, channel: &Channel, problems: &mut Vec<String>) {
    let kinds =
        [channel.webhook.is_some(), channel.slack.is_some(), channel.pagerduty.is_some(), channel.email.is_some()];
    if kinds.iter().filter(|set| **set).count() != 1 {
        problems.push(format!("{at}: give exactly one of `webhook`, `slack`, `pagerduty`, `email`"));
    }
    let web_url = |key: &str, url: &str, problems: &mut Vec<String>| {
        if !url.starts_with("https://") && !url.starts_with("http://") {
            problems.push(format!("{at}.{key}.url: {url:?} is not an http(s):// URL"));
        }
    };
    if let Some(webhook) = &channel.webhook {
        web_url("webhook", &webhook.url, problems);
        if webhook.secret.as_deref().is_some_and(str::is_empty) {
            problems.push(format!("{at}.webhook.secret: empty (leave it out to send unsigned)"));
        }
    }
    if let Some(slack) = &channel.slack {
        web_url("slack", &slack.url, problems);
    }
    if let Some(pagerduty) = &channel.pagerduty
        && pagerduty.routing_key.trim().is_empty()
    {
        problems.push(format!("{at}.pagerduty.routing_key: empty"));
    }
    if let Some(email) = &channel.email {
        if !email.smtp.starts_with("smtp://") && !email.smtp.starts_with("smtps://") {
            problems.push(format!("{at}.email.smtp: {:?} is not an smtp:// or smtps:// URL", email.smtp));
        }
        if email.to.is_empty() {
            problems.push(format!("{at}.email.to: give at least one recipient"));
        }
        for (key, address) in std::iter::once(("from".to_owned(), &email.from))
            .chain(email.to.iter().enumerate().map(|(index, to)| (format!("to[{index}]"), to)))
        {
            if !is_address(address) {
                problems.push(format!("{at}.email.{key}: {address:?} is not an email address"));
            }
        }
    }
}

/// `local@domain` with no spaces or angle brackets: enough to catch typos; the SMTP server has the last word.
fn is_address(text: &str) -> bool {
    text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !text.contains(|c: char| c.is_whitespace() || c == '<' || c == '>')
    })
}
