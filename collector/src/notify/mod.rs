//! Sending notifications to the channels of `notify.channels` (`docs/configuration.md`), with retries, and saying
//! how each attempt went. Alerts ([`crate::alerting`]) send through here, and an admin can send a test
//! notification to any channel (`POST /api/v1/channels/{id}/test`) to check the wiring end to end.
//!
//! - **webhook**: a JSON POST of the [`Notification`]; with a `secret`, an
//!   `X-Slaprobe-Signature: sha256=<hex HMAC-SHA256 of the body>` header.
//! - **slack**, **teams**, **telegram**, **discord**: one message for people ([`chat`]).
//! - **pagerduty**, **opsgenie**: an incident opened on firing and closed on resolved, deduplicated on the alert
//!   id ([`paging`]).
//! - **email**: a plain-text message over SMTP ([`email`]).
//!
//! Closed periods' claim reports and claim reminders ([`report`]) go to the channels of `reports:` the same way.
//!
//! A delivery is tried up to [`ATTEMPTS`] times, waiting 1 s, then 2 s, between attempts; an attempt succeeds on
//! a 2xx answer (or, by email, an accepted message) within [`ATTEMPT_TIMEOUT`].
//!
//! What an attempt records is shown to viewers and kept in the store, so it names the failure's kind and cause
//! (`connect: Connection refused (os error 111)`, or the status and the start of the answer's body), never the
//! channel's URL: a Slack or webhook URL is itself the credential. As a second line of defence every string of
//! the channel's configuration that could be secret (URL, its path and query, user and password, signing secret,
//! routing key, API key, bot token) is cut out of the text.

pub mod chat;
pub mod email;
pub mod paging;
pub mod report;

use std::time::Duration;

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::Serialize;
use sha2::Sha256;

use crate::config::alerting::Channel;
use crate::digest::hex;
use crate::store::Attempt;
use chat::{ChatMessage, Tone};
use report::ReportNotice;

/// Attempts per delivery.
pub const ATTEMPTS: u32 = 3;
/// How long one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a notification says (the webhook body).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// `firing`, `resolved`, or `test` for a test notification.
    pub state: String,
    /// The alert kind (`down`, `burn_rate`, …; `test` for a test notification).
    pub kind: String,
    /// The contract.
    pub contract: String,
    /// The contract's vendor (empty for a test notification).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub vendor: String,
    /// The contract's service (empty for a test notification).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service: String,
    /// The contract's dashboard page, when the collector's `public_url` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When the condition started.
    pub started_at: Timestamp,
    /// Regions involved.
    pub regions: Vec<String>,
    /// One line for people.
    pub summary: String,
    /// The alert (none for a test): stable from firing to resolved, for deduplication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
    /// The escalation level this firing notification is for (1 = the first), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
}

impl Notification {
    /// `[FIRING] down acme-api (Acme Cloud, Public API): <summary>`: a subject or chat line (ASCII punctuation, so
    /// a mail subject stays readable unencoded).
    pub fn headline(&self) -> String {
        let scope = match (self.contract.is_empty(), self.vendor.is_empty()) {
            (true, _) => String::new(),
            (false, true) => format!(" {}", self.contract),
            (false, false) => format!(" {} ({}, {})", self.contract, self.vendor, self.service),
        };
        format!("[{}] {}{scope}: {}", self.state.to_uppercase(), self.kind, self.summary)
    }
}

impl Notification {
    /// The message chat channels get: the headline, the facts, and a link to the contract.
    pub fn chat_message(&self) -> ChatMessage {
        let facts = [
            ("Kind", self.kind.clone()),
            ("Contract", self.contract.clone()),
            ("Vendor", self.vendor.clone()),
            ("Service", self.service.clone()),
            ("Started", self.started_at.to_string()),
            ("Regions", self.regions.join(", ")),
            ("Level", self.level.map(|level| level.to_string()).unwrap_or_default()),
        ];
        ChatMessage {
            headline: self.headline(),
            summary: None,
            facts: facts.into_iter().filter(|(_, value)| !value.is_empty()).collect(),
            link: self.url.clone().map(|url| (url, "Open the contract in slaprobe")),
            tone: match self.state.as_str() {
                "firing" => Tone::Alarm,
                "resolved" => Tone::Good,
                _ => Tone::Plain,
            },
        }
    }
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// The channel.
    pub channel: String,
    /// Whether an attempt succeeded.
    pub delivered: bool,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
}

/// What a channel is sent: where, the JSON body, and extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The URL POSTed to.
    pub url: String,
    /// The JSON body.
    pub body: Vec<u8>,
    /// Headers beside `Content-Type: application/json`.
    pub headers: Vec<(String, String)>,
}

/// The HTTP request an alert's `notification` makes for `channel` (any kind but email).
fn request_for(channel: &Channel, notification: &Notification) -> Result<Outgoing, String> {
    if let Some(webhook) = &channel.webhook {
        let body = serde_json::to_vec(notification).map_err(|error| error.to_string())?;
        return Ok(Outgoing { url: webhook.url.clone(), headers: signed(webhook.secret.as_deref(), &body), body });
    }
    if let Some(pagerduty) = &channel.pagerduty {
        return paging::pagerduty(pagerduty, notification);
    }
    if let Some(opsgenie) = &channel.opsgenie {
        return paging::opsgenie(opsgenie, notification);
    }
    chat::request(channel, &notification.chat_message()).unwrap_or_else(|| Err("the channel has no kind".to_owned()))
}

/// The HTTP request a webhook or chat channel gets about a closed period or a claim deadline.
fn report_request_for(channel: &Channel, notice: &ReportNotice) -> Result<Outgoing, String> {
    if let Some(webhook) = &channel.webhook {
        let body = serde_json::to_vec(notice).map_err(|error| error.to_string())?;
        return Ok(Outgoing { url: webhook.url.clone(), headers: signed(webhook.secret.as_deref(), &body), body });
    }
    chat::request(channel, &notice.chat_message()).unwrap_or_else(|| {
        Err("claim reports go to email, webhook, slack, teams, telegram or discord channels".to_owned())
    })
}

/// The signature header of `body` when the webhook has a `secret`.
fn signed(secret: Option<&str>, body: &[u8]) -> Vec<(String, String)> {
    secret
        .map(|secret| vec![("X-Slaprobe-Signature".to_owned(), format!("sha256={}", signature(secret, body)))])
        .unwrap_or_default()
}

/// The lower-case hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// Sends notifications over HTTP.
#[derive(Clone)]
pub struct Notifier {
    client: reqwest::Client,
}

impl Notifier {
    /// A notifier with its own connection pool (rustls, the system's roots).
    pub fn new() -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent(concat!("slaprobe-collector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("cannot set up the HTTP client for notifications: {error}"))?;
        Ok(Self { client })
    }

    /// Delivers `notification` to `channel`, retrying as the module notes say.
    pub async fn deliver(&self, channel: &Channel, notification: &Notification) -> Delivery {
        self.with_retries(channel, move || async move {
            match &channel.email {
                Some(email) => email::send(email, notification, ATTEMPT_TIMEOUT).await,
                None => match request_for(channel, notification) {
                    Ok(outgoing) => self.post(outgoing).await,
                    Err(problem) => Attempt { status: None, error: Some(problem) },
                },
            }
        })
        .await
    }

    /// Delivers a closed period's report or a claim reminder to `channel` ([`report`]), retrying likewise.
    pub async fn deliver_report(&self, channel: &Channel, notice: &ReportNotice) -> Delivery {
        self.with_retries(channel, move || async move {
            match &channel.email {
                Some(email) => match notice.message(email) {
                    Ok(message) => email::transmit(email, message, ATTEMPT_TIMEOUT).await,
                    Err(problem) => Attempt { status: None, error: Some(problem) },
                },
                None => match report_request_for(channel, notice) {
                    Ok(outgoing) => self.post(outgoing).await,
                    Err(problem) => Attempt { status: None, error: Some(problem) },
                },
            }
        })
        .await
    }

    /// Makes up to [`ATTEMPTS`] attempts, 1 s then 2 s apart, until one succeeds; secrets scrubbed from errors.
    async fn with_retries<F, Attempting>(&self, channel: &Channel, attempt_once: F) -> Delivery
    where
        F: Fn() -> Attempting,
        Attempting: Future<Output = Attempt>,
    {
        let mut delivery = Delivery { channel: channel.id.clone(), delivered: false, attempts: Vec::new() };
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
            }
            let outcome = attempt_once().await;
            let outcome = Attempt { error: outcome.error.map(|text| scrub(&text, &secrets_of(channel))), ..outcome };
            let done = outcome.error.is_none();
            delivery.attempts.push(outcome);
            if done {
                delivery.delivered = true;
                break;
            }
            tracing::warn!(channel = %channel.id, attempt = attempt + 1, "A notification attempt failed.");
        }
        delivery
    }

    async fn post(&self, Outgoing { url, body, headers }: Outgoing) -> Attempt {
        let mut request = self.client.post(&url).header("Content-Type", "application/json").body(body);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                Attempt { status: Some(response.status().as_u16()), error: None }
            }
            Ok(response) => {
                let status = response.status();
                let said = reply_excerpt(response).await;
                let error =
                    if said.is_empty() { format!("answered {status}") } else { format!("answered {status}: {said}") };
                Attempt { status: Some(status.as_u16()), error: Some(error) }
            }
            Err(error) => Attempt { status: None, error: Some(describe_send_error(&error)) },
        }
    }
}

/// The most of a failed answer's body kept in a delivery's error: services say why there (`chat not found`,
/// `Key format is not valid!`), and a body can be anything, so it is cut short.
const REPLY_EXCERPT_BYTES: usize = 300;

/// The start of `response`'s body as one line of printable text (empty when it has none or it cannot be read
/// in time).
async fn reply_excerpt(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < REPLY_EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(REPLY_EXCERPT_BYTES);
    let text = String::from_utf8_lossy(&body);
    let printable: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    printable.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why a request failed, without its URL: the kind of failure and the innermost cause.
fn describe_send_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "response"
    } else {
        "request"
    };
    let root = std::iter::successors(std::error::Error::source(error), |cause| cause.source()).last();
    match root {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_owned(),
    }
}

/// Text shown for a secret that was cut out of a message.
const REDACTED: &str = "[redacted]";

/// The strings of `channel`'s configuration that no message may contain.
fn secrets_of(channel: &Channel) -> Vec<String> {
    let mut secrets = Vec::new();
    let mut add_url = |text: &str| {
        secrets.push(text.to_owned());
        if let Ok(url) = reqwest::Url::parse(text) {
            secrets.extend(
                [url.path(), url.query().unwrap_or_default(), url.password().unwrap_or_default()].map(str::to_owned),
            );
            secrets.push(url.username().to_owned());
        }
    };
    for url in [
        channel.webhook.as_ref().map(|webhook| &webhook.url),
        channel.slack.as_ref().map(|slack| &slack.url),
        channel.teams.as_ref().map(|teams| &teams.url),
        channel.discord.as_ref().map(|discord| &discord.url),
        channel.pagerduty.as_ref().and_then(|pagerduty| pagerduty.events_url.as_ref()),
        channel.opsgenie.as_ref().and_then(|opsgenie| opsgenie.api_url.as_ref()),
        channel.telegram.as_ref().and_then(|telegram| telegram.api_url.as_ref()),
        channel.email.as_ref().map(|email| &email.smtp),
    ]
    .into_iter()
    .flatten()
    {
        add_url(url);
    }
    secrets.extend(channel.webhook.as_ref().and_then(|webhook| webhook.secret.clone()));
    secrets.extend(channel.pagerduty.as_ref().map(|pagerduty| pagerduty.routing_key.clone()));
    secrets.extend(channel.opsgenie.as_ref().map(|opsgenie| opsgenie.api_key.clone()));
    secrets.extend(channel.telegram.as_ref().map(|telegram| telegram.bot_token.clone()));
    // Short fragments ("/", "") would cut ordinary words; secrets are longer than this.
    secrets.retain(|secret| secret.len() >= 4);
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    secrets
}

/// `text` with every one of `secrets` replaced by [`REDACTED`], longest first.
fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_owned(), |text, secret| text.replace(secret.as_str(), REDACTED))
}

#[cfg(test)]
mod tests {
    use crate::config::alerting::{Channel, Email, Slack};

    #[test]
    fn channel_secrets_are_cut_out_of_messages() {
        let slack = Channel {
            id: "chat".into(),
            slack: Some(Slack { url: "https://hooks.example/services/T000/B000/SECRET".into() }),
            ..Channel::default()
        };
        let text = "error sending request for url (https://hooks.example/services/T000/B000/SECRET): refused";
        let scrubbed = super::scrub(text, &super::secrets_of(&slack));
        assert_eq!(scrubbed, "error sending request for url ([redacted]): refused");
        let partial = super::scrub("POST /services/T000/B000/SECRET answered 404", &super::secrets_of(&slack));
        assert_eq!(partial, "POST [redacted] answered 404");
        let email = Channel {
            id: "mail".into(),
            email: Some(Email {
                smtp: "smtp://alice:hunter22@mail.example:587".into(),
                from: "a@example.com".into(),
                to: vec!["b@example.com".into()],
            }),
            ..Channel::default()
        };
        let scrubbed = super::scrub("auth failed for alice with hunter22", &super::secrets_of(&email));
        assert_eq!(scrubbed, "auth failed for [redacted] with [redacted]");
    }

    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
