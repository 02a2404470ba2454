//! Email channels: one plain-text message per notification (claim reports: [`super::report`]), over SMTP with
//! lettre.
//!
//! The `smtp` URL follows lettre's connection URLs, with a safer default: `smtp://host:587` upgrades with
//! STARTTLS and refuses to go on without it; `smtps://host:465` speaks TLS from the start; `?tls=opportunistic`
//! upgrades when the server offers it; `?tls=none` sends in the clear (a relay on the same machine).
//! Credentials go in the URL (`smtp://user:password@host:587`). Certificates are checked against the system's
//! roots.

use std::time::Duration;

use lettre::message::{Mailbox, MessageBuilder};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use slaprobe_proto::error_text::error_chain;

use super::Notification;
use crate::config::alerting::Email;
use crate::store::Attempt;

/// lettre's connection URL for `smtp`: STARTTLS required unless the URL says otherwise; `tls=none` removed.
fn connection_url(smtp: &str) -> String {
    let (base, query) = smtp.split_once('?').unwrap_or((smtp, ""));
    let pairs: Vec<&str> = query.split('&').filter(|pair| !pair.is_empty()).collect();
    let tls = pairs.iter().find_map(|pair| pair.strip_prefix("tls="));
    let others = pairs.iter().filter(|pair| !pair.starts_with("tls="));
    let mut kept: Vec<String> = others.map(|pair| (*pair).to_owned()).collect();
    match tls {
        Some("none") => {}
        Some(mode) => kept.push(format!("tls={mode}")),
        None if base.starts_with("smtp://") => kept.push("tls=required".to_owned()),
        None => {}
    }
    if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
}

/// A message from and to the channel's addresses with `subject`, its body still to come.
pub fn addressed(email: &Email, subject: String) -> Result<MessageBuilder, String> {
    let mailbox = |address: &str| address.parse::<Mailbox>().map_err(|error| format!("{address:?}: {error}"));
    let mut builder = Message::builder().from(mailbox(&email.from)?).subject(subject);
    for to in &email.to {
        builder = builder.to(mailbox(to)?);
    }
    Ok(builder)
}

/// The message for `notification`.
fn message(email: &Email, notification: &Notification) -> Result<Message, String> {
    let builder = addressed(email, notification.headline())?;
    let mut body = format!("{}\n\n", notification.summary);
    for (label, value) in [
        ("State", notification.state.clone()),
        ("Kind", notification.kind.clone()),
        ("Vendor", notification.vendor.clone()),
        ("Service", notification.service.clone()),
        ("Contract", notification.contract.clone()),
        ("Started", notification.started_at.to_string()),
        ("Regions", notification.regions.join(", ")),
        ("Alert", notification.alert_id.clone().unwrap_or_default()),
        ("Link", notification.url.clone().unwrap_or_default()),
    ] {
        if !value.is_empty() {
            body.push_str(&format!("{label}: {value}\n"));
        }
    }
    builder.body(body).map_err(|error| error.to_string())
}

/// One attempt to send `notification` by `email`.
pub async fn send(email: &Email, notification: &Notification, timeout: Duration) -> Attempt {
    match message(email, notification) {
        Ok(message) => transmit(email, message, timeout).await,
        Err(problem) => Attempt { status: None, error: Some(problem) },
    }
}

/// One attempt to hand `message` to the channel's SMTP server.
pub async fn transmit(email: &Email, message: Message, timeout: Duration) -> Attempt {
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&connection_url(&email.smtp)) {
        Ok(builder) => builder.timeout(Some(timeout)).build(),
        Err(error) => return Attempt { status: None, error: Some(format!("smtp: {}", error_chain(&error))) },
    };
    match transport.send(message).await {
        Ok(response) => Attempt { status: response.code().to_string().parse().ok(), error: None },
        Err(error) => Attempt {
            status: error.status().and_then(|code| code.to_string().parse().ok()),
            error: Some(error_chain(&error)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::connection_url;

    #[test]
    fn plain_smtp_urls_require_starttls_unless_told_otherwise() {
        assert_eq!(connection_url("smtp://mail.example:587"), "smtp://mail.example:587?tls=required");
        assert_eq!(connection_url("smtp://127.0.0.1:2525?tls=none"), "smtp://127.0.0.1:2525");
        assert_eq!(connection_url("smtp://m.example?tls=opportunistic"), "smtp://m.example?tls=opportunistic");
        assert_eq!(connection_url("smtps://u:p@m.example"), "smtps://u:p@m.example");
    }
}
