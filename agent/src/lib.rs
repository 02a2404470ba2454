//! slaprobe-agent: probes HTTP(S), DNS, TCP, TLS, gRPC health and ICMP endpoints on a wall-clock schedule, one
//! attempt each on a fresh connection, with timing phases, and records every attempt as a result
//! (`docs/checks.md`, `docs/results.md`, `docs/configuration.md`).
//!
//! Standalone, checks come from `agent.yaml` and results go to JSON lines; with a collector, results go through
//! a durable disk spool and are streamed over gRPC, and the collector pushes the checks.
//!
//! Layout:
//! - [`config`]: `agent.yaml`, validation with every error and its path (the check format is `slaprobe_checks`).
//! - [`probe`]: the probes of every kind, their phases and failure classes.
//! - [`schedule`]: wall-clock slots, spreading, bounded concurrency, reload without losing slots.
//! - [`output`]: JSON-lines result writer.
//! - [`spool`]: the durable, checksummed, capped on-disk spool.
//! - [`signing`]: the agent's Ed25519 key, which signs its checkpoints and gap statements.
//! - [`private_files`]: files and directories only the agent's user may read (0600/0700).
//! - [`uplink`]: streams the spool to the collector over gRPC and applies its acknowledgements.
//! - [`metrics`]: Prometheus metrics and the small listener serving them.
//! - [`clock`]: the wall clock behind a trait, for paused-time tests.
//! - [`run`]: the agent loop the binary calls.
#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod health;
pub mod metrics;
pub mod output;
pub mod private_files;
pub mod probe;
pub mod run;
pub mod schedule;
pub mod signing;
pub mod spool;
pub mod uplink;
