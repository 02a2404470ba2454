//! The chat channels: one message for people, as each service takes it.
//!
//! - **slack** (and Slack-compatible hooks: Mattermost, Rocket.Chat): `{"text": …}` with the link as `<url|text>`;
//! - **teams**: a Workflows webhook ("When a Teams webhook request is received") gets a `message` with one
//!   Adaptive Card 1.4: the headline (red while firing, green when resolved), the summary, the facts, and a
//!   button to the dashboard;
//! - **telegram**: the Bot API's `sendMessage` as plain text (no parse mode, so nothing in a summary needs
//!   escaping), link previews off;
//! - **discord**: the webhook's `content` as plain text, mentions disabled so an `@everyone` in a vendor's error
//!   text pings nobody.
//!
//! Texts are cut to each service's limit (Discord 2,000 characters, Telegram 4,096) with an ellipsis.

use serde_json::{Value, json};

use super::Outgoing;
use crate::config::alerting::Channel;

/// Telegram's Bot API, unless the channel names another server.
pub const TELEGRAM_API_URL: &str = "https://api.telegram.org";
/// The longest `content` Discord takes.
const DISCORD_LIMIT: usize = 2000;
/// The longest `text` Telegram takes.
const TELEGRAM_LIMIT: usize = 4096;

/// How a message should look: alarming, good news, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A firing alert.
    Alarm,
    /// A resolved alert.
    Good,
    /// A test, a report or a reminder.
    Plain,
}

/// One message for people, whatever the service.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    /// The first line.
    pub headline: String,
    /// More words, if any.
    pub summary: Option<String>,
    /// Labelled values (Teams shows them as a table; the others leave them out).
    pub facts: Vec<(&'static str, String)>,
    /// The page in slaprobe, and what the link says.
    pub link: Option<(String, &'static str)>,
    /// Its colour.
    pub tone: Tone,
}

impl ChatMessage {
    /// The headline, the summary and the bare link, one per line.
    fn plain_text(&self) -> String {
        let mut lines = vec![self.headline.clone()];
        lines.extend(self.summary.clone());
        lines.extend(self.link.as_ref().map(|(url, _)| url.clone()));
        lines.join("\n")
    }
}

/// The request `channel` gets for `message`, if it is a chat channel.
pub fn request(channel: &Channel, message: &ChatMessage) -> Option<Result<Outgoing, String>> {
    let (url, body) = if let Some(slack) = &channel.slack {
        (slack.url.clone(), slack_body(message))
    } else if let Some(teams) = &channel.teams {
        (teams.url.clone(), teams_body(message))
    } else if let Some(discord) = &channel.discord {
        (discord.url.clone(), discord_body(message))
    } else if let Some(telegram) = &channel.telegram {
        let base = telegram.api_url.as_deref().unwrap_or(TELEGRAM_API_URL).trim_end_matches('/');
        let body = json!({
            "chat_id": telegram.chat_id,
            "text": cut(&message.plain_text(), TELEGRAM_LIMIT),
            "link_preview_options": { "is_disabled": true },
        });
        (format!("{base}/bot{}/sendMessage", telegram.bot_token), body)
    } else {
        return None;
    };
    Some(
        serde_json::to_vec(&body)
            .map(|body| Outgoing { url, body, headers: Vec::new() })
            .map_err(|error| error.to_string()),
    )
}

fn slack_body(message: &ChatMessage) -> Value {
    let mut lines = vec![message.headline.clone()];
    lines.extend(message.summary.clone());
    lines.extend(message.link.as_ref().map(|(url, text)| format!("<{url}|{text}>")));
    json!({ "text": lines.join("\n") })
}

fn teams_body(message: &ChatMessage) -> Value {
    let color = match message.tone {
        Tone::Alarm => "Attention",
        Tone::Good => "Good",
        Tone::Plain => "Default",
    };
    let mut body = vec![
        json!({ "type": "TextBlock", "text": message.headline, "weight": "Bolder", "color": color, "wrap": true }),
    ];
    body.extend(message.summary.iter().map(|summary| json!({ "type": "TextBlock", "text": summary, "wrap": true })));
    if !message.facts.is_empty() {
        let facts: Vec<Value> =
            message.facts.iter().map(|(title, value)| json!({ "title": title, "value": value })).collect();
        body.push(json!({ "type": "FactSet", "facts": facts }));
    }
    let actions: Vec<Value> =
        message.link.iter().map(|(url, text)| json!({ "type": "Action.OpenUrl", "title": text, "url": url })).collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            },
        }],
    })
}

fn discord_body(message: &ChatMessage) -> Value {
    json!({
        "username": "slaprobe",
        "content": cut(&message.plain_text(), DISCORD_LIMIT),
        "allowed_mentions": { "parse": [] },
    })
}

/// `text` cut to at most `limit` characters, ending in an ellipsis when cut.
pub fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut kept: String = text.chars().take(limit.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn texts_are_cut_to_the_limit_with_an_ellipsis() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("exactly10!", 10), "exactly10!");
        assert_eq!(cut("ünïcödé text", 5), "ünïc…");
        assert_eq!(cut("ünïcödé text", 5).chars().count(), 5);
    }
}
