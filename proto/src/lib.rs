//! slaprobe's wire formats, shared by the agent, the collector and users' tooling.
//!
//! Today this crate holds the result record of `DESIGN.md` section 3 in its JSON-lines form, the format of
//! `slaprobe-agent --output jsonl:PATH`. The gRPC messages of section 4 (`proto/slaprobe/v1/*.proto`) and their
//! conversions join it with the agent ⇄ collector pipeline.
//!
//! Layout:
//! - [`record`]: [`ResultRecord`] and its kind-specific details, with serde (de)serialisation.
#![forbid(unsafe_code)]

pub mod record;

pub use record::{DnsDetail, HttpDetail, Phases, ResultRecord, TcpDetail};
