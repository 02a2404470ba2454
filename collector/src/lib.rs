//! slaprobe-collector: gRPC ingest from agents into the store, reports from the store through the SLA engine of
//! `slaprobe-sla`, the JSON API and the web dashboard, alerts, and the evidence bundles of claims.
//!
//! Layout:
//! - [`alerting`]: alert rules evaluated against the store, escalation, and the notifications they send.
//! - [`bundle`]: the evidence bundle of a contract's period, for `evidence`.
//! - [`claims`]: credit claims and their lifecycle, owed to paid, with every change recorded.
//! - [`cli`]: the one-shot commands (`check-config`, `report`, `export`, `evidence`, `close`, `migrate`,
//!   `openslo`) and their exit statuses.
//! - [`cluster`]: this collector among the replicas serving one store: heartbeats, who is alive.
//! - [`closing`]: period close: each settled period's claim report frozen in the store, revised when its figures
//!   move, and the claims it opens.
//! - [`config`]: `collector.yaml` and the checks and contracts files it names.
//! - [`digest`]: SHA-256 as hex: token hashes, check-list versions.
//! - [`http`]: the HTTP listener: health, Prometheus metrics, the JSON API, the dashboard, access tokens.
//! - [`serve`]: `slaprobe-collector serve`, gRPC ingest into the store (TLS optional).
//! - [`reload`]: reloading the configuration on SIGHUP and on file changes.
//! - [`ingest`]: the gRPC ingest service (authentication, acknowledgements after commit, config push, clock
//!   offsets, refusals and spool gaps recorded).
//! - [`ledger`]: the slice ledger: each contract's settled slices as counts, kept up in the background, so
//!   figures cost per slice rather than per raw result.
//! - [`metrics`]: the collector's Prometheus metrics, counted by ingest and served by [`http`].
//! - [`migrate`]: moving a SQLite store into PostgreSQL.
//! - [`openslo`]: contracts as OpenSLO v1 documents, and back.
//! - [`postgres_tls`]: TLS to PostgreSQL as the URL's `sslmode` and `sslrootcert` say, with rustls.
//! - [`notify`]: sending notifications to channels (signed webhook, Slack, PagerDuty, email), with retries.
//! - [`status_pages`]: the vendors' status pages, read on schedule and kept for reports to hold against our
//!   incidents.
//! - [`store`]: result storage behind one interface (SQLite today) with the agent registry, gaps and refusals.
//! - [`retention`]: deleting results past `retention.results`, by one collector at a time.
//! - [`results_file`]: reading JSON-lines results with line-numbered errors.
//! - [`views`]: what the API, dashboard, metrics, alerting and the commands read from the store: standings,
//!   period views, reports and exports.
#![forbid(unsafe_code)]

pub mod alerting;
pub mod bundle;
pub mod claims;
pub mod cli;
pub mod closing;
pub mod cluster;
pub mod config;
pub mod digest;
pub mod http;
pub mod ingest;
pub mod ledger;
pub mod metrics;
pub mod migrate;
pub mod notify;
pub mod openslo;
pub mod outage;
pub mod postgres_tls;
pub mod reload;
pub mod results_file;
pub mod retention;
pub mod serve;
pub mod status_pages;
pub mod store;
pub mod views;
