//! What the channels of `reports:` get about a closed period or a claim deadline ([`ReportNotice`]):
//!
//! - **email**: the claim report's HTML as the message (with a plain-text summary for mail readers without
//!   HTML), `report.json` and `report.csv` attached; a reminder is the summary alone;
//! - **webhook**: the notice as JSON, the report's JSON object under `report`, signed like an alert
//!   (`X-Slaprobe-Signature`);
//! - **slack**, **teams**, **telegram**, **discord**: the headline and summary, with a link to the claim when
//!   `public_url` is set ([`super::chat`]).

use jiff::Timestamp;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use rust_decimal::Decimal;
use serde::Serialize;

use super::chat::{ChatMessage, Tone};
use super::email;
use crate::claims::ClaimState;
use crate::config::alerting::Email;
use crate::store::ArtifactSummary;

/// `closed` for a period's report (`kind: period_closed`), `reminder` for a claim deadline coming
/// (`kind: claim_reminder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A revision of a closed period.
    PeriodClosed,
    /// A credit owed whose claim deadline is near and that nobody has submitted.
    ClaimReminder,
}

/// A closed period's report, or a reminder of its claim, as sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportNotice {
    /// `closed` or `reminder`.
    pub state: &'static str,
    /// What it is about.
    pub kind: NoticeKind,
    /// The contract.
    pub contract: String,
    /// Its vendor.
    pub vendor: String,
    /// Its service.
    pub service: String,
    /// The period.
    pub period: String,
    /// The closed period's revision.
    pub revision: u32,
    /// The credit owed.
    #[serde(with = "rust_decimal::serde::str")]
    pub credit_amount: Decimal,
    /// Its currency.
    pub currency: String,
    /// The last day to claim.
    pub claim_deadline: Option<Timestamp>,
    /// Where the claim stands (none without credit owed).
    pub claim_state: Option<ClaimState>,
    /// One line for people.
    pub summary: String,
    /// The claim's (or, without one, the contract's) dashboard page, when `public_url` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The revision's files with their SHA-256.
    pub artifacts: Vec<ArtifactSummary>,
    /// The report's JSON object (a closed period only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    /// The report's files to attach or show: HTML, then CSV (a closed period only).
    #[serde(skip)]
    pub documents: Option<Documents>,
}

/// A revision's files as sent by email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documents {
    /// `report.html`.
    pub html: String,
    /// `report.json`.
    pub json: String,
    /// `report.csv`.
    pub csv: String,
}

impl ReportNotice {
    /// A subject or chat line: `[CLAIM] Acme Cloud owes 200.00 USD for 2026-10 (acme-api); claim by 2026-12-30`.
    pub fn headline(&self) -> String {
        let deadline = self
            .claim_deadline
            .map(|at| format!("; claim by {}", jiff::tz::TimeZone::UTC.to_datetime(at).date()))
            .unwrap_or_default();
        let owed = format!(
            "{} owes {} {} for {} ({})",
            self.vendor, self.credit_amount, self.currency, self.period, self.contract
        );
        match (self.kind, self.revision, self.credit_amount > Decimal::ZERO) {
            (NoticeKind::ClaimReminder, _, _) => format!("[REMINDER] {owed}, not claimed yet{deadline}"),
            (NoticeKind::PeriodClosed, 1, true) => format!("[CLAIM] {owed}{deadline}"),
            (NoticeKind::PeriodClosed, revision, true) => format!("[REVISED r{revision}] {owed}{deadline}"),
            (NoticeKind::PeriodClosed, revision, false) => {
                format!("[REPORT r{revision}] {} {}: no credit owed", self.contract, self.period)
            }
        }
    }

    /// The plain-text part: the headline, the summary and the link.
    fn text(&self) -> String {
        let mut text = format!("{}\n\n{}\n", self.headline(), self.summary);
        if let Some(url) = &self.url {
            text.push_str(&format!("\n{url}\n"));
        }
        for artifact in &self.artifacts {
            text.push_str(&format!("\n{} SHA-256 {}", artifact.name, artifact.sha256));
        }
        text
    }

    /// The message chat channels get: the headline, the summary, and a link to the claim.
    pub fn chat_message(&self) -> ChatMessage {
        ChatMessage {
            headline: self.headline(),
            summary: Some(self.summary.clone()),
            facts: Vec::new(),
            link: self.url.clone().map(|url| (url, "Open the claim in slaprobe")),
            tone: Tone::Plain,
        }
    }

    /// The email message: the HTML report with its JSON and CSV attached, or the text alone.
    pub fn message(&self, channel: &Email) -> Result<Message, String> {
        let builder = email::addressed(channel, self.headline())?;
        let message = match &self.documents {
            Some(documents) => {
                let attach = |name: &str, body: &str, media: &str| {
                    let media = ContentType::parse(media).map_err(|error| error.to_string())?;
                    Ok::<SinglePart, String>(Attachment::new(name.to_owned()).body(body.to_owned(), media))
                };
                let name = |file: &str| format!("{}-{}-r{}-{file}", self.contract, self.period, self.revision);
                builder.multipart(
                    MultiPart::mixed()
                        .multipart(MultiPart::alternative_plain_html(self.text(), documents.html.clone()))
                        .singlepart(attach(&name("report.json"), &documents.json, "application/json")?)
                        .singlepart(attach(&name("report.csv"), &documents.csv, "text/csv; charset=utf-8")?),
                )
            }
            None => builder.body(self.text()),
        };
        message.map_err(|error| error.to_string())
    }
}
