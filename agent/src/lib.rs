//! slaprobe-agent: probes HTTP(S), DNS and TCP endpoints on a wall-clock schedule, one attempt each on a fresh
//! connection, with timing phases, and records every attempt as a result (`DESIGN.md` sections 2, 3 and 6).
//!
//! This build runs standalone: checks come from `agent.yaml` and results go to JSON lines. Streaming to the
//! collector through a disk spool arrives with the pipeline work.
//!
//! Layout:
//! - [`config`]: `agent.yaml` and the check format, validation with every error and its path.
//! - [`probe`]: the HTTP, DNS and TCP probes, their phases and failure classes.
//! - [`schedule`]: wall-clock slots, spreading, bounded concurrency, reload without losing slots.
//! - [`output`]: JSON-lines result writer.
//! - [`spool`]: the durable, checksummed, capped on-disk spool.
//! - [`uplink`]: streams the spool to the collector over gRPC and applies its acknowledgements (the agent's
//!   collector mode that feeds the spool and runs the uplink is in progress).
//! - [`clock`]: the wall clock behind a trait, for paused-time tests.
//! - [`run`]: the standalone agent loop the binary calls.
#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod output;
pub mod probe;
pub mod run;
pub mod schedule;
pub mod spool;
pub mod uplink;
