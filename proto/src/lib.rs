//! slaprobe's wire formats, shared by the agent, the collector and users' tooling.
//!
//! Layout:
//! - [`record`]: [`ResultRecord`], the result record of `docs/results.md` in its JSON-lines form (agent
//!   `--output`, collector `export`, offline `report`).
//! - [`v1`]: the `slaprobe.v1` gRPC protocol (`proto/slaprobe/v1/collector.proto`), generated with protox and
//!   tonic-prost-build; every message and field is documented in the `.proto` file.
//! - [`convert`]: [`ResultRecord`] ⇄ [`v1::Result`], with errors that name the bad field.
//! - [`limits`]: message and batch sizes both ends of the stream keep.
//! - [`capture`]: what a failed attempt keeps of the server's answer, its bounds and redaction.
//! - [`bundle`]: the files of an evidence bundle, as the collector writes them and the verifier reads them.
//! - [`evidence`]: the canonical encoding of a result, the hash chain over an agent's results, the statements it
//!   signs, and agent keys (`docs/evidence.md`).
//! - [`redact`]: URLs without credentials or query values, as every part shows and stores them.
//! - [`logging`]: the binaries' log format, text or JSON lines (`log_format`).
//! - [`error_text`]: an error as one line with its causes, as both binaries log and store them.
#![forbid(unsafe_code)]

pub mod bundle;
pub mod capture;
pub mod convert;
pub mod error_text;
pub mod evidence;
pub mod limits;
pub mod logging;
pub mod record;
pub mod redact;

/// The `slaprobe.v1` protocol, generated from `proto/slaprobe/v1/collector.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("slaprobe.v1");
}

pub use record::{
    CertificateSummary, DnsDetail, GrpcDetail, HttpDetail, HttpStepDetail, IcmpDetail, Phases, ResultRecord, TcpDetail,
    TlsDetail,
};
