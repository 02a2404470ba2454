//! `notify:` and `alerts:` of `collector.yaml` (`docs/configuration.md`): notification channels, escalation
//! policies, and alert rules per contract. Everything is validated when the configuration loads (ids, URLs,
//! addresses, references between the three), so a typo fails at startup or reload rather than when an alert
//! should have gone out. The rules are evaluated by [`crate::alerting`].
//!
//! Beyond `{ contract, kind, policy }` a rule may tune its kind (each option only with its kind):
//! `down_slices`/`up_slices` (down), `windows` (burn_rate), `lookback` (breach_forecast), `after` (silent),
//! `within` (cert_expiry); a policy may set `repeat`, how often an unacknowledged alert is sent again.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml_ng::Value;
use slaprobe_checks::deserialize_at;
use slaprobe_checks::is_valid_label;

use slaprobe_sla::contract::Contract;

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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
    /// Microsoft Teams, through a Workflows webhook (an Adaptive Card).
    #[serde(default)]
    pub teams: Option<Teams>,
    /// Opsgenie's Alert API.
    #[serde(default)]
    pub opsgenie: Option<Opsgenie>,
    /// A Telegram bot posting to a chat.
    #[serde(default)]
    pub telegram: Option<Telegram>,
    /// A Discord channel's webhook.
    #[serde(default)]
    pub discord: Option<Discord>,
}

/// The kinds a channel may be, as named in YAML.
pub const CHANNEL_KINDS: [&str; 8] =
    ["webhook", "slack", "pagerduty", "email", "teams", "opsgenie", "telegram", "discord"];

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
    /// The Events API v2 endpoint (default PagerDuty's; its EU one, or a proxy, otherwise).
    #[serde(default)]
    pub events_url: Option<String>,
}

/// `email:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// `smtp://host:587` (STARTTLS required), `smtps://host:465`, `?tls=opportunistic` or `?tls=none`; see
    /// [`crate::notify::email`].
    pub smtp: String,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

/// `teams:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Teams {
    /// The URL of a Teams workflow started by "When a Teams webhook request is received".
    pub url: String,
}

/// `opsgenie:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opsgenie {
    /// The API key of an Opsgenie API integration.
    pub api_key: String,
    /// `us` (default, `api.opsgenie.com`) or `eu` (`api.eu.opsgenie.com`).
    #[serde(default)]
    pub region: OpsgenieRegion,
    /// Another endpoint (a proxy), instead of the region's.
    #[serde(default)]
    pub api_url: Option<String>,
    /// The priority of alerts, `P1` to `P5` (default `P3`, Opsgenie's own); test notifications are `P5`.
    #[serde(default)]
    pub priority: Option<String>,
}

/// Which Opsgenie instance an account lives in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpsgenieRegion {
    /// `https://api.opsgenie.com`.
    #[default]
    Us,
    /// `https://api.eu.opsgenie.com`.
    Eu,
}

/// `telegram:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telegram {
    /// The bot's token, as BotFather gave it (`123456:ABC…`).
    pub bot_token: String,
    /// The chat: its numeric id (`-1001234567890`) or a public channel's `@name`.
    pub chat_id: ChatId,
    /// Another Bot API server (a self-hosted `telegram-bot-api`), instead of `https://api.telegram.org`.
    #[serde(default)]
    pub api_url: Option<String>,
}

/// A Telegram chat, by number or by `@name`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum ChatId {
    /// A numeric id.
    Number(i64),
    /// A public channel's `@name`.
    Name(String),
}

/// `discord:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discord {
    /// The channel webhook's URL.
    pub url: String,
}

/// An escalation policy: levels in order, each after a delay unless acknowledged.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// `[a-z0-9._-]{1,64}`, unique.
    pub id: String,
    /// At least one; delays never decrease.
    pub levels: Vec<Level>,
    /// Send a firing, unacknowledged alert again this often (to the levels told so far); never when absent.
    #[serde(default, with = "humantime_serde")]
    pub repeat: Option<Duration>,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
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
    /// down: consecutive down slices that fire the alert.
    #[serde(default)]
    pub down_slices: Option<u32>,
    /// down: consecutive up slices that resolve it.
    #[serde(default)]
    pub up_slices: Option<u32>,
    /// burn_rate: the (long, short, burn rate) window pairs, for a 30-day period.
    #[serde(default)]
    pub windows: Option<Vec<BurnWindow>>,
    /// breach_forecast: the trailing window whose down rate is projected to the period's end.
    #[serde(default, with = "humantime_serde")]
    pub lookback: Option<Duration>,
    /// silent: how long an agent may send nothing.
    #[serde(default, with = "humantime_serde")]
    pub after: Option<Duration>,
    /// cert_expiry: how far ahead a certificate's expiry is reported.
    #[serde(default, with = "humantime_serde")]
    pub within: Option<Duration>,
}

/// One multi-window burn-rate condition (Google SRE workbook, chapter 5): the budget burns at least `burn` times
/// the sustainable rate over both the `long` and the `short` window. Windows are given for a 30-day period and
/// scaled to the contract's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnWindow {
    /// The long window.
    #[serde(with = "humantime_serde")]
    pub long: Duration,
    /// The short window, which makes the alert resolve soon after the burning stops.
    #[serde(with = "humantime_serde")]
    pub short: Duration,
    /// The burn rate: 1 spends exactly the period's budget by its end.
    pub burn: rust_decimal::Decimal,
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

impl AlertRule {
    /// The rule's identity: one alert at a time per contract and kind.
    pub fn key(&self) -> String {
        format!("{}.{}", self.contract, self.kind.as_str())
    }

    /// down: consecutive down slices that fire (default 2).
    pub fn down_slices(&self) -> u32 {
        self.down_slices.unwrap_or(2)
    }

    /// down: consecutive up slices that resolve (default 2).
    pub fn up_slices(&self) -> u32 {
        self.up_slices.unwrap_or(2)
    }

    /// burn_rate: the configured windows, or the workbook's: 14.4× over 1 h and 5 m, 6× over 6 h and 30 m, 1×
    /// over 3 d and 6 h.
    pub fn windows(&self) -> Vec<BurnWindow> {
        self.windows.clone().unwrap_or_else(Self::default_windows)
    }

    /// The workbook's windows.
    pub fn default_windows() -> Vec<BurnWindow> {
        [(HOUR, 5 * MINUTE, 144, 1), (6 * HOUR, 30 * MINUTE, 6, 0), (3 * DAY, 6 * HOUR, 1, 0)]
            .into_iter()
            .map(|(long, short, burn, scale)| BurnWindow {
                long: Duration::from_secs(long),
                short: Duration::from_secs(short),
                burn: rust_decimal::Decimal::new(burn, scale),
            })
            .collect()
    }

    /// breach_forecast: the trailing window (default 24 h).
    pub fn lookback(&self) -> Duration {
        self.lookback.unwrap_or(Duration::from_secs(DAY))
    }

    /// silent: the allowed silence (default 5 min, as the dashboard marks agents silent).
    pub fn after(&self) -> Duration {
        self.after.unwrap_or(Duration::from_secs(5 * MINUTE))
    }

    /// cert_expiry: how far ahead (default 14 days).
    pub fn within(&self) -> Duration {
        self.within.unwrap_or(Duration::from_secs(14 * DAY))
    }
}

impl AlertKind {
    /// The name used in YAML, notifications and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::BurnRate => "burn_rate",
            Self::BreachForecast => "breach_forecast",
            Self::Silent => "silent",
            Self::CertExpiry => "cert_expiry",
        }
    }
}

/// Reads `notify` and `alerts`, adding every problem to `problems` with its path. `contracts` is `None` when
/// they could not be read: the rules' contract names are then not checked, so one mistake is not reported twice.
pub fn parse_alerting(
    notify: Option<Value>,
    alerts: Option<Value>,
    contracts: Option<&[Contract]>,
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
        if policy.repeat.is_some_and(|repeat| repeat < Duration::from_secs(60)) {
            problems.push(format!("{at}.repeat: at least 1m (or leave it out to send once)"));
        }
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
        if contracts.is_some_and(|contracts| !contracts.iter().any(|contract| contract.terms.id == rule.contract)) {
            problems.push(format!("alerts[{index}].contract: no contract {:?}", rule.contract));
        }
        if !notify.policies.iter().any(|policy| policy.id == rule.policy) {
            problems.push(format!("alerts[{index}].policy: no policy {:?} in notify.policies", rule.policy));
        }
        if alerts[..index].iter().any(|other| other.contract == rule.contract && other.kind == rule.kind) {
            problems.push(format!(
                "alerts[{index}]: a second {} alert for contract {:?} (one per contract and kind)",
                rule.kind.as_str(),
                rule.contract
            ));
        }
        check_rule_options(&format!("alerts[{index}]"), rule, problems);
    }
    (notify, alerts)
}

/// Each tuning option only with its kind, and with a sensible value.
fn check_rule_options(at: &str, rule: &AlertRule, problems: &mut Vec<String>) {
    let options = [
        ("down_slices", rule.down_slices.is_some(), AlertKind::Down),
        ("up_slices", rule.up_slices.is_some(), AlertKind::Down),
        ("windows", rule.windows.is_some(), AlertKind::BurnRate),
        ("lookback", rule.lookback.is_some(), AlertKind::BreachForecast),
        ("after", rule.after.is_some(), AlertKind::Silent),
        ("within", rule.within.is_some(), AlertKind::CertExpiry),
    ];
    for (name, given, kind) in options {
        if given && rule.kind != kind {
            problems.push(format!("{at}.{name}: only for kind {}", kind.as_str()));
        }
    }
    for (name, count) in [("down_slices", rule.down_slices), ("up_slices", rule.up_slices)] {
        if count == Some(0) {
            problems.push(format!("{at}.{name}: must be at least 1"));
        }
    }
    for (name, duration) in [("lookback", rule.lookback), ("after", rule.after), ("within", rule.within)] {
        if duration.is_some_and(|duration| duration.is_zero()) {
            problems.push(format!("{at}.{name}: must be longer than 0s"));
        }
    }
    if rule.windows.as_ref().is_some_and(Vec::is_empty) {
        problems.push(format!("{at}.windows: give at least one window or leave it out for the defaults"));
    }
    for (index, window) in rule.windows.iter().flatten().enumerate() {
        if window.short.is_zero() || window.short >= window.long {
            problems.push(format!("{at}.windows[{index}].short: must be longer than 0s and shorter than `long`"));
        }
        if window.burn <= rust_decimal::Decimal::ZERO {
            problems.push(format!("{at}.windows[{index}].burn: must be above 0"));
        }
    }
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

/// Said of a channel URL in a problem instead of the URL: a hook URL is a credential, an SMTP URL may hold one,
/// and problems reach logs and the admin API.
const NOT_SHOWN: &str = " (the URL is not shown: it may be a credential)";

/// How a channel URL's scheme reads in a problem: `scheme "ftp"`, or `no scheme` when there is none or it is
/// not one (so nothing else of the URL is echoed).
fn scheme_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _))
            if (1..=16).contains(&scheme.len())
                && scheme.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"+.-".contains(&byte)) =>
        {
            format!("scheme {scheme:?}")
        }
        _ => "no scheme".to_owned(),
    }
}

fn check_channel(at: &str, channel: &Channel, problems: &mut Vec<String>) {
    let kinds = [
        channel.webhook.is_some(),
        channel.slack.is_some(),
        channel.pagerduty.is_some(),
        channel.email.is_some(),
        channel.teams.is_some(),
        channel.opsgenie.is_some(),
        channel.telegram.is_some(),
        channel.discord.is_some(),
    ];
    if kinds.iter().filter(|set| **set).count() != 1 {
        let names: Vec<String> = CHANNEL_KINDS.iter().map(|kind| format!("`{kind}`")).collect();
        problems.push(format!("{at}: give exactly one of {}", names.join(", ")));
    }
    let web_url = |key: &str, url: &str, problems: &mut Vec<String>| {
        if !url.starts_with("https://") && !url.starts_with("http://") {
            problems.push(format!("{at}.{key}: {} is not http:// or https://{NOT_SHOWN}", scheme_of(url)));
        }
    };
    if let Some(webhook) = &channel.webhook {
        web_url("webhook.url", &webhook.url, problems);
        if webhook.secret.as_deref().is_some_and(str::is_empty) {
            problems.push(format!("{at}.webhook.secret: empty (leave it out to send unsigned)"));
        }
    }
    if let Some(slack) = &channel.slack {
        web_url("slack.url", &slack.url, problems);
    }
    if let Some(pagerduty) = &channel.pagerduty {
        if pagerduty.routing_key.trim().is_empty() {
            problems.push(format!("{at}.pagerduty.routing_key: empty"));
        }
        if let Some(url) = &pagerduty.events_url {
            web_url("pagerduty.events_url", url, problems);
        }
    }
    if let Some(teams) = &channel.teams {
        web_url("teams.url", &teams.url, problems);
    }
    if let Some(discord) = &channel.discord {
        web_url("discord.url", &discord.url, problems);
    }
    if let Some(opsgenie) = &channel.opsgenie {
        if opsgenie.api_key.trim().is_empty() {
            problems.push(format!("{at}.opsgenie.api_key: empty"));
        }
        if let Some(url) = &opsgenie.api_url {
            web_url("opsgenie.api_url", url, problems);
        }
        if let Some(priority) = &opsgenie.priority
            && !["P1", "P2", "P3", "P4", "P5"].contains(&priority.as_str())
        {
            problems.push(format!("{at}.opsgenie.priority: {priority:?} is not one of P1, P2, P3, P4, P5"));
        }
    }
    if let Some(telegram) = &channel.telegram {
        check_telegram(at, telegram, problems);
        if let Some(url) = &telegram.api_url {
            web_url("telegram.api_url", url, problems);
        }
    }
    if let Some(email) = &channel.email {
        if !email.smtp.starts_with("smtp://") && !email.smtp.starts_with("smtps://") {
            problems.push(format!("{at}.email.smtp: {} is not smtp:// or smtps://{NOT_SHOWN}", scheme_of(&email.smtp)));
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

/// A bot token is `<bot id>:<secret>` and goes into the API's URL path, so nothing else may be in it; a chat is
/// a number or `@name`. The token is never echoed.
fn check_telegram(at: &str, telegram: &Telegram, problems: &mut Vec<String>) {
    let token_ok = telegram.bot_token.split_once(':').is_some_and(|(bot, secret)| {
        !bot.is_empty()
            && bot.bytes().all(|byte| byte.is_ascii_digit())
            && !secret.is_empty()
            && secret.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
    });
    if !token_ok {
        problems.push(format!(
            "{at}.telegram.bot_token: not a bot token (`<digits>:<letters, digits, _ or ->`, as BotFather gives it; \
             the value is not shown)"
        ));
    }
    if let ChatId::Name(name) = &telegram.chat_id {
        let public = name.strip_prefix('@').is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
        });
        if !public && name.parse::<i64>().is_err() {
            problems.push(format!("{at}.telegram.chat_id: {name:?} is neither a number nor a public `@name`"));
        }
    }
}

/// `local@domain` with no spaces or angle brackets: enough to catch typos; the SMTP server has the last word.
fn is_address(text: &str) -> bool {
    text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !text.contains(|c: char| c.is_whitespace() || c == '<' || c == '>')
    })
}
