//! Test support for slaprobe: real servers on loopback and helpers that run the real binaries.
//!
//! Every server binds `127.0.0.1:0` and reports the address it got; nothing here sends traffic anywhere but
//! loopback.
//!
//! Layout:
//! - [`certs`]: a throwaway CA and server certificates (rcgen), written to PEM files when a test needs them.
//! - [`bundles`]: evidence bundles checked by both verifiers, and tampered with and resealed.
//! - [`browser`]: headless Chromium loading a page: its DOM, console messages, requests and a screenshot.
//! - [`http_client`]: one HTTP/1.1 request per connection, for the collector's HTTP listener.
//! - [`http_server`]: an HTTP(S) server whose paths choose status, delay, redirects, headers and bodies.
//! - [`grpc_health_server`]: a gRPC health service whose statuses the test switches, plaintext or TLS.
//! - [`dns_server`]: a DNS server over UDP and TCP on one port, with NXDOMAIN, SERVFAIL and silent names.
//! - [`netns`]: network namespaces a test makes, with loopback up and sysctls of their own.
//! - [`oauth_server`]: a client-credentials token endpoint and an API that wants the token, for multi-step checks.
//! - [`openapi`]: API answers checked against the collector's OpenAPI document.
//! - [`ingest_baseline`]: the sample result and bare-SQLite baseline the ingest benchmarks share.
//! - [`evidence_overhead`]: ingest with and without chain values and signed checkpoints, for `bench_ingest`.
//! - [`process_stats`]: CPU time and peak memory of a process, from `/proc` (for the benchmarks).
//! - [`postgres`]: a PostgreSQL schema of a test's own, dropped afterwards; [`postgres_tls_front`]: TLS with a
//!   certificate of the test's own in front of it.
//! - [`prometheus`]: a real Prometheus scraping the test's targets with rule files loaded.
//! - [`proxy`]: an HTTP proxy with `CONNECT` tunnels.
//! - [`webhook_receiver`]: a webhook endpoint that keeps what it receives and answers from a script.
//! - [`smtp_receiver`]: an SMTP server that keeps the messages it accepts.
//! - [`status_page_server`]: a vendor's Statuspage-compatible status page, declaring what the test sets.
//! - [`tcp_relay`]: a TCP relay in front of a real server, cut and restored by the test.
//! - [`tcp_server`]: TCP listeners with a banner, a TLS banner, or one that closes at once.
//! - [`ports`]: a free loopback port for a process to bind, and one held closed.
//! - [`agent`]: checks from YAML, one probe attempt in-process, and the `slaprobe-agent` binary as a process.
//! - [`regions`]: one agent per region, each probing from its own loopback address.
//! - [`collector`]: the `slaprobe-collector` binary as a process.
//! - [`log_capture`]: the log of the code under test, kept in memory for assertions.
//! - [`wait`]: polling a condition until it holds, with a deadline that names what was awaited.
#![forbid(unsafe_code)]

pub mod agent;
pub mod browser;
pub mod bundles;
pub mod certs;
pub mod collector;
pub mod dns_server;
pub mod evidence_overhead;
pub mod grpc_health_server;
pub mod http_client;
pub mod http_server;
pub mod ingest_baseline;
pub mod log_capture;
pub mod netns;
pub mod oauth_server;
pub mod openapi;
pub mod ports;
pub mod postgres;
pub mod postgres_tls_front;
pub mod process_stats;
pub mod prometheus;
pub mod proxy;
pub mod regions;
pub mod smtp_receiver;
pub mod status_page_server;
pub mod tcp_relay;
pub mod tcp_server;
pub mod wait;
pub mod webhook_receiver;
