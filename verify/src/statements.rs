//! The agents' keys (`keys/AGENT.pub`, one `ed25519:…` line per key the agent signed with), their checkpoints
//! and their gap statements, each signature checked with a key of the signing agent from `keys/`.
//!
//! The keys are the bundle's trust anchor: check them against the keys pinned for the agents (the collector's
//! `agents[].public_key`, or what the agents' operator prints with `slaprobe-agent --print-public-key`).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::DeserializeOwned;
use slaprobe_proto::bundle::{CHECKPOINTS, CheckpointLine, FAULTS, FaultLine, GAPS, GapLine, KEYS_DIR};
use slaprobe_proto::evidence::{Chain, PublicKey, Statement, parse_chain_hex};
use slaprobe_sla::faults::AgentFault;

use crate::files::BundleFiles;
use crate::problems::Problem;

/// Each agent's keys.
pub type Keys = BTreeMap<String, BTreeSet<PublicKey>>;

/// A verified gap statement (or an unsigned gap: then without chain values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// First dropped seq.
    pub first_seq: u64,
    /// Last dropped seq.
    pub last_seq: u64,
    /// Why.
    pub reason: String,
    /// The chain value before it.
    pub chain_before: Option<Chain>,
    /// The last dropped result's chain value.
    pub chain_after: Option<Chain>,
    /// Whether the agent signed it (and the signature verified).
    pub signed: bool,
}

/// Every agent's keys from `keys/`.
pub fn read_keys(bundle: &BundleFiles, problems: &mut Vec<Problem>) -> Keys {
    let mut keys = Keys::new();
    for (name, bytes) in bundle.under(KEYS_DIR) {
        let file = format!("{KEYS_DIR}/{name}");
        let Some(agent) = name.strip_suffix(".pub") else {
            problems.push(Problem::file(&file, "not a key file (AGENT.pub)"));
            continue;
        };
        let text = String::from_utf8_lossy(bytes);
        for (index, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
            match line.parse::<PublicKey>() {
                Ok(key) => {
                    keys.entry(agent.to_owned()).or_default().insert(key);
                }
                Err(error) => problems.push(Problem::line(&file, index + 1, error.to_string())),
            }
        }
    }
    keys
}

/// Every checkpoint whose signature verifies, by agent and seq (its chain value); the others are problems.
pub fn read_checkpoints(
    bundle: &BundleFiles,
    keys: &Keys,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, BTreeMap<u64, Chain>> {
    let mut checkpoints: BTreeMap<String, BTreeMap<u64, Chain>> = BTreeMap::new();
    for (line, checkpoint) in lines::<CheckpointLine>(bundle, CHECKPOINTS, problems) {
        let problem = |message: String| Problem::line(CHECKPOINTS, line, message);
        let chain = match parse_chain_hex(&checkpoint.chain) {
            Ok(chain) => chain,
            Err(error) => {
                problems.push(problem(format!("chain: {error}")));
                continue;
            }
        };
        let statement = Statement::Checkpoint { agent_id: checkpoint.agent_id.clone(), seq: checkpoint.seq, chain };
        match signed_by(keys, &checkpoint.agent_id, &checkpoint.public_key, &statement, &checkpoint.signature) {
            Ok(()) => {
                checkpoints.entry(checkpoint.agent_id).or_default().insert(checkpoint.seq, chain);
            }
            Err(message) => problems
                .push(problem(format!("checkpoint of {} at seq {}: {message}", checkpoint.agent_id, checkpoint.seq))),
        }
    }
    checkpoints
}

/// Every gap by agent, signed ones verified (a signature that does not verify is a problem, and the gap counts
/// as unsigned).
pub fn read_gaps(bundle: &BundleFiles, keys: &Keys, problems: &mut Vec<Problem>) -> BTreeMap<String, Vec<Gap>> {
    let mut gaps: BTreeMap<String, Vec<Gap>> = BTreeMap::new();
    for (line, gap) in lines::<GapLine>(bundle, GAPS, problems) {
        let chain = |value: &Option<String>| value.as_deref().map(parse_chain_hex).transpose();
        let (chain_before, chain_after) = match (chain(&gap.chain_before), chain(&gap.chain_after)) {
            (Ok(before), Ok(after)) => (before, after),
            (Err(error), _) | (_, Err(error)) => {
                problems.push(Problem::line(GAPS, line, format!("chain value: {error}")));
                continue;
            }
        };
        let signed = match (&gap.signature, &gap.public_key) {
            (Some(signature), Some(key)) => {
                let statement = Statement::Gap {
                    agent_id: gap.agent_id.clone(),
                    first_seq: gap.first_seq,
                    last_seq: gap.last_seq,
                    reason: gap.reason.clone(),
                    chain_before,
                    chain_after,
                };
                match signed_by(keys, &gap.agent_id, key, &statement, signature) {
                    Ok(()) => true,
                    Err(message) => {
                        let range = format!("{}..={}", gap.first_seq, gap.last_seq);
                        problems.push(Problem::line(GAPS, line, format!("gap {range} of {}: {message}", gap.agent_id)));
                        false
                    }
                }
            }
            _ => false,
        };
        gaps.entry(gap.agent_id).or_default().push(Gap {
            first_seq: gap.first_seq,
            last_seq: gap.last_seq,
            reason: gap.reason,
            chain_before: chain_before.filter(|_| signed),
            chain_after: chain_after.filter(|_| signed),
            signed,
        });
    }
    gaps
}

/// Whether `signature` (base64) is `key`'s signature of `statement`, and `key` one of `agent`'s in `keys/`.
fn signed_by(keys: &Keys, agent: &str, key: &PublicKey, statement: &Statement, signature: &str) -> Result<(), String> {
    if !keys.get(agent).is_some_and(|known| known.contains(key)) {
        return Err(format!("signed with {key}, which is not among the agent's keys in {KEYS_DIR}/{agent}.pub"));
    }
    let signature = BASE64.decode(signature).map_err(|error| format!("the signature is not base64: {error}"))?;
    if key.verifies(statement, &signature) { Ok(()) } else { Err(format!("the signature does not verify with {key}")) }
}

/// The spans in which the collector found an agent failing on its own (rule 11), as the bundle states them; none
/// when the bundle has no such file (it was written before the rule).
pub fn read_faults(bundle: &BundleFiles, problems: &mut Vec<Problem>) -> Vec<AgentFault> {
    if !bundle.names().any(|name| name == FAULTS) {
        return Vec::new();
    }
    (lines::<FaultLine>(bundle, FAULTS, problems).into_iter())
        .map(|(_, line)| AgentFault {
            agent_id: line.agent_id,
            region: line.region,
            start: line.start,
            end: line.end,
            vendors: Vec::new(),
        })
        .collect()
}

/// The lines of a JSON-lines file of the bundle with their numbers; a missing file has none, a bad line is a
/// problem.
pub fn lines<T: DeserializeOwned>(bundle: &BundleFiles, file: &str, problems: &mut Vec<Problem>) -> Vec<(usize, T)> {
    let mut parsed = Vec::new();
    for_each_line(bundle, file, problems, |line, value, _| parsed.push((line, value)));
    parsed
}

/// Hands each line of a JSON-lines file of the bundle, parsed, to `visit` with its number and the problems so
/// far, one at a time (a bundle's results run to millions of lines); a missing file has none, a bad line is a
/// problem.
pub fn for_each_line<T: DeserializeOwned>(
    bundle: &BundleFiles,
    file: &str,
    problems: &mut Vec<Problem>,
    mut visit: impl FnMut(usize, T, &mut Vec<Problem>),
) {
    let mut reader = match bundle.open(file) {
        None => {
            problems.push(Problem::file(file, "missing"));
            return;
        }
        Some(Err(error)) => {
            problems.push(Problem::file(file, format!("cannot be read: {error}")));
            return;
        }
        Some(Ok(reader)) => reader,
    };
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) => {
                problems.push(Problem::line(file, number, format!("cannot be read: {error}")));
                return;
            }
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(&line) {
            Ok(value) => visit(number, value, problems),
            Err(error) => problems.push(Problem::line(file, number, error.to_string())),
        }
    }
}
