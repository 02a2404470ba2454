//! Sending notifications to the channels of `notify.channels` (`DESIGN.md` section 6), with retries, and saying
//! how each attempt went. Alert evaluation (its own work item) will send through here; today an admin can send a
//! test notification to any channel (`POST /api/v1/channels/{id}/test`) to check the wiring end to end.
//!
//! - **webhook**: a JSON POST of the [`Notification`]; with a `secret`, an
//!   `X-Slaprobe-Signature: sha256=<hex HMAC-SHA256 of the body>` header.
//! - **slack**: a Slack-compatible incoming webhook, `{"text": ...}`.
//! - **pagerduty** and **email** are validated but not sent by this build; sending to them says so.
//!
//! A delivery is tried up to [`ATTEMPTS`] times, waiting 1 s, then 2 s, between attempts; an attempt succeeds on
//! a 2xx answer within [`ATTEMPT_TIMEOUT`].

use std::time::Duration;

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::Serialize;
use sha2::Sha256;

use crate::config::alerting::Channel;
use crate::ingest::auth::hex;

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
    /// When the condition started.
    pub started_at: Timestamp,
    /// Regions involved.
    pub regions: Vec<String>,
    /// One line for people.
    pub summary: String,
}

/// One attempt's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Attempt {
    /// The HTTP status answered, if any.
    pub status: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<String>,
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
struct Outgoing {
    url: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

/// The request a channel gets, or why this build cannot send to it.
fn request_for(channel: &Channel, notification: &Notification) -> Result<Outgoing, String> {
    if let Some(webhook) = &channel.webhook {
        let body = serde_json::to_vec(notification).map_err(|error| error.to_string())?;
        let headers = webhook
            .secret
            .as_deref()
            .map(|secret| vec![("X-Slaprobe-Signature".to_owned(), format!("sha256={}", signature(secret, &body)))])
            .unwrap_or_default();
        return Ok(Outgoing { url: webhook.url.clone(), body, headers });
    }
    if let Some(slack) = &channel.slack {
        let text = format!("[{}] {}", notification.state, notification.summary);
        let body = serde_json::to_vec(&serde_json::json!({ "text": text })).map_err(|error| error.to_string())?;
        return Ok(Outgoing { url: slack.url.clone(), body, headers: Vec::new() });
    }
    let kind = if channel.pagerduty.is_some() { "pagerduty" } else { "email" };
    Err(format!("this build does not send to {kind} channels yet"))
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
        let mut delivery = Delivery { channel: channel.id.clone(), delivered: false, attempts: Vec::new() };
        let Outgoing { url, body, headers } = match request_for(channel, notification) {
            Ok(request) => request,
            Err(problem) => {
                delivery.attempts.push(Attempt { status: None, error: Some(problem) });
                return delivery;
            }
        };
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
            }
            let mut request = self.client.post(&url).header("Content-Type", "application/json").body(body.clone());
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            let outcome = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    Attempt { status: Some(response.status().as_u16()), error: None }
                }
                Ok(response) => Attempt {
                    status: Some(response.status().as_u16()),
                    error: Some(format!("answered {}", response.status())),
                },
                Err(error) => Attempt { status: None, error: Some(error_chain(&error)) },
            };
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
}

/// `error` with its sources, so "connection refused" is not hidden behind "error sending request".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
