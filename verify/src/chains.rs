//! Each agent's results in `results.jsonl`, followed link by link: in seq order and once each; each chain value
//! `SHA-256(previous value ‖ digest)`, with the digest computed from the record for a full line (its canonical
//! JSON without `chain`) or given for a digest-only line; starting from a value something vouches for (seq 1's
//! zeros, a checkpoint, a signed gap); across missing seqs only where signed gaps explain them, with matching
//! chain values; every checkpoint matching the value at its seq; and the agent's last full result covered by a
//! checkpoint at or after it.

use std::collections::BTreeMap;

use serde_json::Value;
use slaprobe_proto::bundle::{DigestLine, RESULTS};
use slaprobe_proto::evidence::{
    Chain, GENESIS, canonical_value, chain_hex, link_digest, parse_chain_hex, result_digest,
};

use crate::files::BundleFiles;
use crate::problems::Problem;
use crate::statements::{Gap, for_each_line};

/// What following the chains counted.
#[derive(Debug, Default)]
pub struct Followed {
    /// Results followed.
    pub results: u64,
    /// Of those, shown in full.
    pub full_results: u64,
    /// Agents.
    pub agents: usize,
}

/// One line of `results.jsonl`, read.
struct Entry {
    agent_id: String,
    seq: u64,
    digest: Chain,
    chain: Chain,
    /// A full line's record (its JSON without the chain value).
    record: Option<Value>,
}

/// Where an agent's chain stands.
#[derive(Default)]
struct AgentState {
    /// The last result followed: its seq and chain value.
    last: Option<(u64, Chain)>,
    /// The last full result: its seq and line.
    last_full: Option<(u64, usize)>,
}

/// Follows every agent's chain in `results.jsonl`, handing each full result to `on_full` with its line.
pub fn follow(
    bundle: &BundleFiles,
    checkpoints: &BTreeMap<String, BTreeMap<u64, Chain>>,
    gaps: &BTreeMap<String, Vec<Gap>>,
    problems: &mut Vec<Problem>,
    mut on_full: impl FnMut(usize, Value, &mut Vec<Problem>),
) -> Followed {
    let mut followed = Followed::default();
    let mut agents: BTreeMap<String, AgentState> = BTreeMap::new();
    for_each_line::<Value>(bundle, RESULTS, problems, |line, value, problems| {
        let mut entry = match read_entry(value) {
            Ok(entry) => entry,
            Err(message) => {
                problems.push(Problem::line(RESULTS, line, message));
                return;
            }
        };
        let problem = |message: String| Problem::line(RESULTS, line, message);
        let (agent, seq) = (entry.agent_id.as_str(), entry.seq);
        let no_gaps = Vec::new();
        let agent_gaps = gaps.get(agent).unwrap_or(&no_gaps);
        let agent_checkpoints = checkpoints.get(agent);
        let state = agents.entry(agent.to_owned()).or_default();
        let previous = match state.last {
            Some((last, _)) if seq <= last => {
                problems.push(problem(format!(
                    "seq {seq} of {agent} comes after seq {last}: results must be in seq order, each once"
                )));
                return;
            }
            Some((last, chain)) if seq == last + 1 => Some(chain),
            Some((last, chain)) => across_gaps(agent, last, chain, seq, agent_gaps)
                .map_err(problem)
                .map_err(|problem| problems.push(problem))
                .ok(),
            None => {
                let vouched = vouched_before(seq, agent_checkpoints, agent_gaps);
                if vouched.is_none() {
                    problems.push(problem(format!(
                        "{agent}'s results start at seq {seq}, but nothing vouches for the chain value before it \
                         (no checkpoint at seq {}, no signed gap ending there)",
                        seq.saturating_sub(1)
                    )));
                }
                vouched
            }
        };
        if let Some(previous) = previous {
            let expected = link_digest(&previous, &entry.digest);
            if expected != entry.chain {
                problems.push(problem(format!(
                    "result {seq} of {agent} does not link: it carries chain value {}, but SHA-256 of the value \
                     before it and its digest is {}: it was altered, or is out of place",
                    chain_hex(&entry.chain),
                    chain_hex(&expected)
                )));
            }
        }
        if let Some(signed) = agent_checkpoints.and_then(|by_seq| by_seq.get(&seq))
            && *signed != entry.chain
        {
            problems.push(problem(format!(
                "result {seq} of {agent} carries chain value {}, but the agent's checkpoint at seq {seq} signs {}",
                chain_hex(&entry.chain),
                chain_hex(signed)
            )));
        }
        state.last = Some((seq, entry.chain));
        if let Some(record) = entry.record.take() {
            state.last_full = Some((seq, line));
            followed.full_results += 1;
            on_full(line, record, problems);
        }
        followed.results += 1;
    });
    for (agent, state) in &agents {
        let (Some((last_full, line)), Some((last, _))) = (state.last_full, state.last) else { continue };
        let covered = checkpoints.get(agent).is_some_and(|by_seq| by_seq.range(last_full..=last).next().is_some());
        if !covered {
            problems.push(Problem::line(
                RESULTS,
                line,
                format!(
                    "no signed checkpoint covers {agent}'s results up to seq {last_full}: the bundle must reach a \
                     checkpoint at or after it"
                ),
            ));
        }
    }
    followed.agents = agents.len();
    followed
}

/// A line as an entry: a digest-only line, or a full record whose digest is computed.
fn read_entry(mut value: Value) -> Result<Entry, String> {
    let object = value.as_object_mut().ok_or("not a JSON object")?;
    if object.contains_key("digest") {
        let line: DigestLine = serde_json::from_value(value).map_err(|error| error.to_string())?;
        return Ok(Entry {
            digest: parse_chain_hex(&line.digest).map_err(|error| format!("digest: {error}"))?,
            chain: parse_chain_hex(&line.chain).map_err(|error| format!("chain: {error}"))?,
            agent_id: line.agent_id,
            seq: line.seq,
            record: None,
        });
    }
    let chain = match object.remove("chain") {
        Some(Value::String(text)) => parse_chain_hex(&text).map_err(|error| format!("chain: {error}"))?,
        _ => return Err("no chain value (`chain`, 64 hex digits)".to_owned()),
    };
    let agent_id = object.get("agent_id").and_then(Value::as_str).ok_or("no agent_id")?.to_owned();
    let seq = object.get("seq").and_then(Value::as_u64).ok_or("no seq")?;
    let digest = result_digest(&canonical_value(&value));
    Ok(Entry { agent_id, seq, digest, chain, record: Some(value) })
}

/// The chain value before `seq`, when something vouches for it: zeros before seq 1, a checkpoint at `seq - 1`,
/// or a signed gap ending there.
fn vouched_before(seq: u64, checkpoints: Option<&BTreeMap<u64, Chain>>, gaps: &[Gap]) -> Option<Chain> {
    if seq == 1 {
        return Some(GENESIS);
    }
    let before = seq - 1;
    checkpoints
        .and_then(|by_seq| by_seq.get(&before).copied())
        .or_else(|| gaps.iter().find(|gap| gap.signed && gap.last_seq == before).and_then(|gap| gap.chain_after))
}

/// The chain value before `seq` when the results after `last` up to it are missing: signed gaps must cover every
/// missing seq, each starting from the chain value where the one before ended (when it starts right there).
fn across_gaps(agent: &str, last: u64, mut chain: Chain, seq: u64, gaps: &[Gap]) -> Result<Chain, String> {
    let mut next = last + 1;
    while next < seq {
        // A gap may start before `next`: results of a dropped segment that were already on their way arrived.
        let Some(gap) = gaps.iter().find(|gap| gap.first_seq <= next && next <= gap.last_seq && gap.last_seq < seq)
        else {
            return Err(format!(
                "results {next}..={} of {agent} are missing and no gap statement explains them",
                seq - 1
            ));
        };
        if !gap.signed {
            return Err(format!(
                "results {}..={} of {agent} are missing; the agent reported the gap ({}) but did not sign it",
                gap.first_seq, gap.last_seq, gap.reason
            ));
        }
        if gap.first_seq == next && gap.chain_before.is_some_and(|before| before != chain) {
            return Err(format!(
                "the signed gap {}..={} of {agent} follows chain value {}, not the {} of result {}",
                gap.first_seq,
                gap.last_seq,
                gap.chain_before.map(|before| chain_hex(&before)).unwrap_or_default(),
                chain_hex(&chain),
                next - 1
            ));
        }
        chain = gap.chain_after.ok_or_else(|| {
            format!("the gap {}..={} of {agent} does not say where the chain continues", gap.first_seq, gap.last_seq)
        })?;
        next = gap.last_seq + 1;
    }
    Ok(chain)
}
