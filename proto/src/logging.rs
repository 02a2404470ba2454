//! How both binaries write their log to standard error: `text` for a person at a terminal, or `json` for a log
//! pipeline (one JSON object per event and line, its fields at the top level, an error and its causes on that
//! one line). Chosen by `log_format` in `agent.yaml` and `collector.yaml`; the level comes from `SLAPROBE_LOG`
//! (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// `log_format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people (colours only on a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Starts logging in `format`, once per process.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("SLAPROBE_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).with_span_list(false).init(),
    }
}
