//! slaprobe-collector: gRPC ingest from agents into the store, the SLA engine, claim reports, the JSON API and
//! the web dashboard, and alerts.
//!
//! Layout:
//! - [`alerting`]: alert rules evaluated against the store, escalation, and the notifications they send.
//! - [`bundle`]: the evidence bundle of a contract's period, for `evidence`.
//! - [`cli`]: the one-shot commands (`check-config`, `report`, `export`, `evidence`, `migrate`) and their exit
//!   statuses.
//! - [`config`]: `collector.yaml` and the checks and contracts files it names.
//! - [`contract`]: contracts as written in YAML, validated into what the engine needs.
//! - [`digest`]: SHA-256 as hex: token hashes, check-list versions.
//! - [`display`]: how figures read for people (percent cut, not rounded; durations; money).
//! - [`http`]: the HTTP listener: health, Prometheus metrics, the JSON API, the dashboard, access tokens.
//! - [`serve`]: `slaprobe-collector serve`, gRPC ingest into the store (TLS optional).
//! - [`reload`]: reloading the configuration on SIGHUP and on file changes.
//! - [`sla`]: the pure SLA engine (rules 1–9 of `docs/sla.md`) and its report.
//! - [`ingest`]: the gRPC ingest service (authentication, acknowledgements after commit, config push, clock
//!   offsets, refusals and spool gaps recorded).
//! - [`ledger`]: the slice ledger: each contract's settled slices as counts, kept up in the background, so
//!   figures cost per slice rather than per raw result.
//! - [`metrics`]: the collector's Prometheus metrics, counted by ingest and served by [`http`].
//! - [`migrate`]: moving a SQLite store into PostgreSQL.
//! - [`notify`]: sending notifications to channels (signed webhook, Slack, PagerDuty, email), with retries.
//! - [`store`]: result storage behind one interface (SQLite today) with the agent registry, gaps and refusals.
//! - [`retention`]: deleting results past `retention.results`, by one collector at a time.
//! - [`results_file`]: reading JSON-lines results with line-numbered errors.
//! - [`render`]: reports as JSON, CSV, Markdown and the printable HTML claim document.
//! - [`views`]: what the API, dashboard, metrics, alerting and the commands read from the store: standings,
//!   period views, reports and exports.
#![forbid(unsafe_code)]

pub mod alerting;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod contract;
pub mod digest;
pub mod display;
pub mod http;
pub mod ingest;
pub mod ledger;
pub mod metrics;
pub mod migrate;
pub mod notify;
pub mod outage;
pub mod reload;
pub mod render;
pub mod results_file;
pub mod retention;
pub mod serve;
pub mod sla;
pub mod store;
pub mod views;
