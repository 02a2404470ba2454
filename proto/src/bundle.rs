//! The files of an evidence bundle (`docs/evidence.md`), as `slaprobe-collector evidence` writes them and
//! `slaprobe-verify` reads them: names, the manifest, and the lines of `checkpoints.jsonl`, `gaps.jsonl` and the
//! digest-only lines of `results.jsonl`. A full line of `results.jsonl` is a result record (`docs/results.md`)
//! with its `chain` value added.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::evidence::PublicKey;

/// The manifest's `format`.
pub const FORMAT: &str = "slaprobe-evidence-1";
/// The manifest: what the bundle holds, with the SHA-256 of every other file.
pub const MANIFEST: &str = "manifest.json";
/// Every result of the agents involved, by agent then seq.
pub const RESULTS: &str = "results.jsonl";
/// The agents' signed checkpoints.
pub const CHECKPOINTS: &str = "checkpoints.jsonl";
/// The gaps the agents reported, signed or not.
pub const GAPS: &str = "gaps.jsonl";
/// The spans in which the collector found an agent failing on its own (rule 11 of the SLA rules), one JSON line
/// each: the collector's judgement, which the report applied; a bundle without it had none.
pub const FAULTS: &str = "faults.jsonl";
/// The directory of the agents' public keys, one `AGENT.pub` each.
pub const KEYS_DIR: &str = "keys";
/// The contract's terms as applied.
pub const CONTRACT: &str = "contract.json";
/// The claim report, as `report --format json` prints it.
pub const REPORT_JSON: &str = "report.json";
/// The claim report for people.
pub const REPORT_HTML: &str = "report.html";

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The contract's id.
    pub contract: String,
    /// The period (`2026-02`, `2026-Q1`).
    pub period: String,
    /// When the bundle was written.
    pub created_at: Timestamp,
    /// Every other file's path in the bundle and the hex SHA-256 of its bytes.
    pub files: BTreeMap<String, String>,
}

/// A line of `results.jsonl` for a result shown by its digest only: one of another check, or one the collector
/// refused (then with the reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestLine {
    /// The agent.
    pub agent_id: String,
    /// Its sequence number.
    pub seq: u64,
    /// SHA-256 of its canonical encoding (hex).
    pub digest: String,
    /// Its chain value (hex).
    pub chain: String,
    /// Why the collector refused it, when it did (it did not vote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// A line of `checkpoints.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointLine {
    /// The signing agent.
    pub agent_id: String,
    /// The result it covers.
    pub seq: u64,
    /// That result's chain value (hex).
    pub chain: String,
    /// The Ed25519 signature of the checkpoint statement (base64).
    pub signature: String,
    /// The key that made it.
    pub public_key: PublicKey,
}

/// A line of `faults.jsonl`: a span in which the collector found an agent failing on its own (rule 11 of the
/// SLA rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultLine {
    /// The agent.
    pub agent_id: String,
    /// Its region.
    pub region: String,
    /// The span's start.
    pub start: Timestamp,
    /// The span's end (exclusive).
    pub end: Timestamp,
    /// How many distinct vendors the agent saw fail while other regions saw them up. Their names stay out of
    /// the bundle, as other vendors' results do: which vendors a customer monitors is not this vendor's business.
    pub vendors: u32,
}

/// A line of `gaps.jsonl`: a range of results the agent dropped, with its signed statement when it made one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapLine {
    /// The agent.
    pub agent_id: String,
    /// First dropped sequence number.
    pub first_seq: u64,
    /// Last dropped sequence number (inclusive).
    pub last_seq: u64,
    /// Why (`spool_full`, `spool_corrupt`).
    pub reason: String,
    /// The chain value before the gap (hex), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_before: Option<String>,
    /// The last dropped result's chain value (hex), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_after: Option<String>,
    /// The Ed25519 signature of the gap statement (base64); none for a gap the agent did not sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The key that signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKey>,
}
