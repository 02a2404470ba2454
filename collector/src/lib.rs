//! slaprobe-collector: today, the SLA engine and offline claim reports. Ingest over gRPC, storage, the
//! dashboard and alerts join it in their own work items.
//!
//! Layout:
//! - [`config`]: `collector.yaml` and the checks and contracts files it names.
//! - [`contract`]: contracts as written in YAML, validated into what the engine needs.
//! - [`serve`]: `slaprobe-collector serve`, gRPC ingest into the store.
//! - [`sla`]: the pure SLA engine (rules 1–9 of `DESIGN.md` section 5) and its report.
//! - [`ingest`]: the gRPC ingest service (authentication, acknowledgements after commit); the `serve` command
//!   that runs it, config push and the agent uplink are in progress.
//! - [`store`]: result storage behind one interface (SQLite today); used by ingest and store-backed reports,
//!   which are in progress.
//! - [`results_file`]: reading JSON-lines results with line-numbered errors.
//! - [`report_cmd`]: `slaprobe-collector report` (offline) in JSON, CSV and Markdown.
//! - [`report_html`]: the printable HTML claim document.
#![forbid(unsafe_code)]

pub mod config;
pub mod contract;
pub mod ingest;
pub mod report_cmd;
pub mod report_html;
pub mod results_file;
pub mod serve;
pub mod sla;
pub mod store;
