//! One agent's part of a bundle: which of its results go in, and their lines.
//!
//! The results of the contract's checks that started in the report's evaluation window give a seq span; it is
//! widened back to just after the agent's last checkpoint (or signed gap) before it, so that the chain value the
//! span starts from is vouched for, and forward to the first checkpoint at or after its end, so that every result
//! in it is. While the agent has not yet signed a checkpoint past its latest results (it signs one at least every
//! `checkpoint_every`), the span ends at its latest checkpoint instead, and what is left out is reported. Inside,
//! results of the contract's checks and of control probes appear in full with their chain value; results of other
//! checks, and refused results, by their digest only (the other vendors' results stay private, and the chain
//! still verifies).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use prost::Message;
use slaprobe_proto::bundle::{CheckpointLine, DigestLine, GapLine, RESULTS};
use slaprobe_proto::evidence::{PublicKey, canonical, carried_chain, chain_hex, result_digest};
use slaprobe_proto::{ResultRecord, v1};

use super::BundleError;
use super::staging::StagingError;
use crate::store::evidence::{AgentRow, StoredCheckpoint};
use crate::store::{GapReport, Store, StoreError};

/// Rows read at once.
const READ: u32 = 10_000;
/// How far back and ahead of a span a neighbouring checkpoint is looked for first (agents sign one every 1,000
/// results at most).
const NEAR: u64 = 2_000;

/// What one agent contributes besides its lines of `results.jsonl`, which are written as they are read.
#[derive(Debug, Default)]
pub struct AgentPart {
    /// Lines it wrote to `results.jsonl`, in seq order.
    pub lines: u64,
    /// Of those, full ones.
    pub full: u64,
    /// Lines of `checkpoints.jsonl`.
    pub checkpoints: Vec<CheckpointLine>,
    /// Lines of `gaps.jsonl`.
    pub gaps: Vec<GapLine>,
    /// The keys that signed any of them.
    pub keys: BTreeSet<PublicKey>,
    /// When no checkpoint covers the agent's latest results yet: the seq the part was cut at (its latest
    /// checkpoint) and the last result left out.
    pub left_out: Option<(u64, u64)>,
}

/// `agent_id`'s part, for the span `first..=last` of results of `checks`, its result lines written to `results`
/// as they are read (a month of an agent is some 90,000 of them); `gaps` are every gap the store holds.
pub async fn agent_part(
    store: &Store,
    agent_id: &str,
    (first, last): (u64, u64),
    checks: &BTreeSet<String>,
    gaps: &[GapReport],
    results: &mut impl Write,
) -> Result<AgentPart, BundleError> {
    let statements = store.gap_statements(agent_id).await?;
    let start = start_of(store, agent_id, first, &statements).await?;
    let end = end_of(store, agent_id, last).await?;
    let mut part = AgentPart { left_out: (end.results < last).then_some((end.results, last)), ..AgentPart::default() };
    for stored in store.checkpoints(agent_id, (start.saturating_sub(1), end.checkpoint)).await? {
        part.keys.insert(stored.checkpoint.public_key);
        part.checkpoints.push(checkpoint_line(agent_id, &stored));
    }
    for statement in statements.iter().filter(|gap| gap.last_seq >= start && gap.first_seq <= end.results) {
        let signed = &statement.statement;
        part.keys.insert(signed.public_key);
        part.gaps.push(GapLine {
            agent_id: agent_id.to_owned(),
            first_seq: statement.first_seq,
            last_seq: statement.last_seq,
            reason: statement.reason.clone(),
            chain_before: signed.chain_before.as_ref().map(chain_hex),
            chain_after: signed.chain_after.as_ref().map(chain_hex),
            signature: Some(base64_of(&signed.signature)),
            public_key: Some(signed.public_key),
        });
    }
    let signed_ranges: Vec<(u64, u64)> = statements.iter().map(|gap| (gap.first_seq, gap.last_seq)).collect();
    for gap in gaps {
        let unsigned = !signed_ranges.iter().any(|(from, to)| *from <= gap.first_seq && gap.last_seq <= *to);
        if gap.agent_id == agent_id && unsigned && gap.last_seq >= start && gap.first_seq <= end.results {
            part.gaps.push(GapLine {
                agent_id: agent_id.to_owned(),
                first_seq: gap.first_seq,
                last_seq: gap.last_seq,
                reason: gap.reason.clone(),
                chain_before: None,
                chain_after: None,
                signature: None,
                public_key: None,
            });
        }
    }
    let mut cursor = start;
    while cursor <= end.results {
        let rows = store.agent_rows(agent_id, (cursor, end.results), READ).await?;
        let Some(last_read) = rows.last().map(|row| row.seq) else { break };
        for row in rows {
            let (line, full) = result_line(agent_id, row, checks);
            part.full += u64::from(full);
            part.lines += 1;
            results.write_all(line.as_bytes()).and_then(|()| results.write_all(b"\n")).map_err(|source| {
                BundleError::Write(StagingError { path: std::path::PathBuf::from(RESULTS), source })
            })?;
        }
        cursor = last_read + 1;
    }
    Ok(part)
}

/// The first seq of the part: just after the last checkpoint or signed gap before `first`, or 1.
async fn start_of(
    store: &Store,
    agent_id: &str,
    first: u64,
    statements: &[crate::store::evidence::StoredGapStatement],
) -> Result<u64, StoreError> {
    if first <= 1 {
        return Ok(1);
    }
    let mut before = store.checkpoints(agent_id, (first.saturating_sub(NEAR), first - 1)).await?;
    if before.is_empty() {
        before = store.checkpoints(agent_id, (1, first - 1)).await?;
    }
    let checkpoint = before.last().map(|stored| stored.checkpoint.seq);
    let gap_end = statements.iter().map(|gap| gap.last_seq).filter(|seq| *seq < first).max();
    Ok(checkpoint.max(gap_end).map_or(1, |vouched| vouched + 1))
}

/// Where the part ends: the first checkpoint at or after `last`; without one yet, the latest checkpoint before it
/// (results the agent has not signed yet are not evidence yet), or `last` when the agent never signed one.
struct End {
    results: u64,
    checkpoint: u64,
}

async fn end_of(store: &Store, agent_id: &str, last: u64) -> Result<End, StoreError> {
    let mut after = store.checkpoints(agent_id, (last, last.saturating_add(NEAR))).await?;
    if after.is_empty() {
        after = store.checkpoints(agent_id, (last, u64::MAX >> 1)).await?;
    }
    let end = match after.first() {
        Some(stored) => stored.checkpoint.seq,
        None => {
            let mut before = store.checkpoints(agent_id, (last.saturating_sub(NEAR), last)).await?;
            if before.is_empty() {
                before = store.checkpoints(agent_id, (1, last)).await?;
            }
            before.last().map_or(last, |stored| stored.checkpoint.seq)
        }
    };
    Ok(End { results: end, checkpoint: end })
}

fn checkpoint_line(agent_id: &str, stored: &StoredCheckpoint) -> CheckpointLine {
    let checkpoint = &stored.checkpoint;
    CheckpointLine {
        agent_id: agent_id.to_owned(),
        seq: checkpoint.seq,
        chain: chain_hex(&checkpoint.chain),
        signature: base64_of(&checkpoint.signature),
        public_key: checkpoint.public_key,
    }
}

/// A row's line: in full (the record and its chain value) for a stored result of `checks` or of a control probe
/// (what decides whether the agent's results are conclusive), by digest otherwise; whether it is full.
fn result_line(agent_id: &str, row: AgentRow, checks: &BTreeSet<String>) -> (String, bool) {
    let decoded = v1::Result::decode(row.record.as_slice()).ok();
    let chain = decoded.as_ref().and_then(|result| carried_chain(result).ok().flatten());
    let record = decoded.and_then(|result| ResultRecord::try_from(result).ok());
    let full_line = |record: &ResultRecord| {
        let mut value = serde_json::to_value(record).unwrap_or_default();
        if let (Some(object), Some(chain)) = (value.as_object_mut(), chain) {
            object.insert("chain".to_owned(), chain_hex(&chain).into());
        }
        value.to_string()
    };
    match (record, chain) {
        (Some(record), _) if row.refused.is_none() && (checks.contains(&record.check_id) || record.control) => {
            (full_line(&record), true)
        }
        (Some(record), Some(chain)) => {
            let digest = canonical(&record).map(|canonical| chain_hex(&result_digest(&canonical)));
            let line = DigestLine {
                agent_id: agent_id.to_owned(),
                seq: row.seq,
                digest: digest.unwrap_or_default(),
                chain: chain_hex(&chain),
                refused: row.refused,
            };
            (serde_json::to_string(&line).unwrap_or_default(), false)
        }
        // No chain value (an agent older than chaining) or no record (refused as undecodable): in full, so the
        // verifier names it.
        (Some(record), None) => (full_line(&record), true),
        (None, _) => {
            let line = serde_json::json!({ "agent_id": agent_id, "seq": row.seq, "undecodable": row.refused });
            (line.to_string(), false)
        }
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Every agent's keys in the bundle: `keys/AGENT.pub`'s lines.
pub fn key_files(
    parts: &BTreeMap<String, AgentPart>,
    on_record: &BTreeMap<String, PublicKey>,
) -> BTreeMap<String, String> {
    parts
        .iter()
        .map(|(agent, part)| {
            let mut keys = part.keys.clone();
            keys.extend(on_record.get(agent));
            (agent.clone(), keys.iter().map(|key| format!("{key}\n")).collect())
        })
        .collect()
}
