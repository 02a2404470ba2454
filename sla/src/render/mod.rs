//! Reports rendered for people and tools: `json` (one object per contract per line, the fields of `docs/sla.md`), `csv`
//! (one row per contract, every figure at full precision), `md` ([`markdown`]) and `html` (the printable claim
//! document, [`html`], with its appendix of what we observed, [`observed`], and the vendor's status page against our
//! incidents, [`vendor`]). The API, the dashboard's links and the `report` command all render through here, so a report
//! reads the same wherever it is fetched.

use crate::Report;
use crate::contract::Contract;

pub mod csv;
pub mod html;
pub mod markdown;
pub mod observed;
pub mod vendor;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per contract per line.
    Json,
    /// A header and one row per contract.
    Csv,
    /// Markdown tables.
    Md,
    /// A self-contained, printable claim document.
    Html,
}

impl Format {
    /// The media type of a report in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Md => "text/markdown; charset=utf-8",
            Self::Html => "text/html; charset=utf-8",
        }
    }
}

/// Renders `reports` in `format`.
pub fn render(pairs: &[(&Contract, Report)], format: Format) -> String {
    let pairs: Vec<(&Contract, &Report)> = pairs.iter().map(|(contract, report)| (*contract, report)).collect();
    match format {
        Format::Html => html::render_html(&pairs),
        Format::Json => {
            pairs.iter().map(|(_, report)| serde_json::to_string(report).unwrap_or_default() + "\n").collect()
        }
        Format::Csv => csv::render_csv(&pairs),
        Format::Md => markdown::render_markdown(&pairs),
    }
}
