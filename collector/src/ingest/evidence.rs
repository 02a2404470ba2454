//! Verifying an agent's evidence as it arrives (`docs/evidence.md`): the key its Hello presents, each result's
//! chain link, the checkpoints and the gap statements it signs.
//!
//! - **Key**: a key pinned in `collector.yaml` (`agents[].public_key`) must be the one presented; without a pin,
//!   the first key an agent presents is recorded and every later session must present it. An agent that
//!   presents none (older than signing) is taken unsigned only while it has no key pinned or on record.
//! - **Links**: a result carrying a chain value must link to its predecessor's when that one is known (the
//!   previous result of the session, the agent's latest stored or refused result when the session opened, or
//!   seq 1's genesis value); a result that does not is refused with the reason. Results carrying none (from
//!   agents older than chaining) are taken, and are not evidence.
//! - **Checkpoints**: must cover a result of their batch, with its chain value, and verify with the session's
//!   key; otherwise the whole batch is refused, since nothing in it can be vouched for.
//! - **Gap statements**: a signature that does not verify leaves the gap recorded unsigned (a gap is a fact to
//!   keep whoever vouches for it).

use prost::Message;
use slaprobe_proto::evidence::{
    Chain, GENESIS, PublicKey, Statement, canonical, carried_chain, chain_from_bytes, chain_hex, link,
};
use slaprobe_proto::{ResultRecord, v1};

use super::refusals::Refusal;
use crate::config::AgentIdentity;
use crate::store::{SignedCheckpoint, SignedGap, Store, StoreError};

/// Why a session's key was not taken: the refusal and what to tell the agent.
#[derive(Debug)]
pub enum KeyProblem {
    /// The store could not settle the key; try again later.
    Store(StoreError),
    /// The key is missing, unreadable or another than expected.
    Refused(Refusal, String),
}

/// The key `identity`'s session signs with, after checking the `presented` one against the pin and the store;
/// `None` for an agent that signs nothing.
pub async fn admit_key(
    store: &Store,
    identity: &AgentIdentity,
    presented: &[u8],
) -> Result<Option<PublicKey>, KeyProblem> {
    let agent_id = &identity.agent_id;
    let pinned = identity.public_key;
    if presented.is_empty() {
        let on_record = match pinned {
            Some(key) => Some(key),
            None => store.agent_key(agent_id).await.map_err(KeyProblem::Store)?,
        };
        return match on_record {
            None => Ok(None),
            Some(key) => Err(KeyProblem::Refused(
                Refusal::KeyMissing,
                format!(
                    "agent {agent_id:?} presented no key, but its key is {key}: run an agent that signs (this version or later)"
                ),
            )),
        };
    }
    let presented = PublicKey::from_bytes(presented).map_err(|error| {
        KeyProblem::Refused(Refusal::KeyMissing, format!("agent {agent_id:?} presented an unreadable key: {error}"))
    })?;
    if let Some(pinned) = pinned
        && pinned != presented
    {
        return Err(KeyProblem::Refused(
            Refusal::KeyMismatch,
            format!("agent {agent_id:?} presented key {presented}; collector.yaml pins {pinned}"),
        ));
    }
    let on_record = store.settle_agent_key(agent_id, presented, pinned.is_some()).await.map_err(KeyProblem::Store)?;
    match on_record {
        Some(key) if key != presented => Err(KeyProblem::Refused(
            Refusal::KeyMismatch,
            format!(
                "agent {agent_id:?} presented key {presented}; the key on record for it is {key}. If the agent was \
                 given a new key, pin it in collector.yaml: `public_key: {presented}` in its agents entry"
            ),
        )),
        _ => Ok(Some(presented)),
    }
}

/// The chain as one session has followed it.
#[derive(Debug)]
pub struct ChainFollower {
    /// The last result seen: its seq and chain value (none: it carried none).
    previous: Option<(u64, Option<Chain>)>,
}

impl ChainFollower {
    /// A follower that knows where the agent's chain stood in the store: its latest stored or refused result.
    pub async fn resuming(store: &Store, agent_id: &str) -> Result<Self, StoreError> {
        let latest = store.latest_row(agent_id).await?;
        let previous = latest.map(|row| {
            let chain =
                v1::Result::decode(row.record.as_slice()).ok().and_then(|result| carried_chain(&result).ok().flatten());
            (row.seq, chain)
        });
        Ok(Self { previous })
    }

    /// Checks that `result`, decoding to `record`, links to its predecessor when that is known; returns the chain
    /// value it carries, or why it is refused.
    pub fn follow(&mut self, result: &v1::Result, record: Option<&ResultRecord>) -> Result<Option<Chain>, String> {
        let seq = result.seq;
        let predecessor = match self.previous {
            _ if seq == 1 => Some(GENESIS),
            Some((previous, chain)) if previous.checked_add(1) == Some(seq) => Some(chain.unwrap_or(GENESIS)),
            _ => None,
        };
        let carried = chain_from_bytes(&result.chain).map_err(|problem| format!("chain: {problem}"));
        self.previous = Some((seq, carried.clone().ok().flatten()));
        let carried = carried?;
        let (Some(chain), Some(previous), Some(record)) = (carried, predecessor, record) else { return Ok(carried) };
        let canonical = canonical(record).map_err(|error| format!("chain: no canonical form: {error}"))?;
        let expected = link(&previous, &canonical);
        if expected != chain {
            return Err(format!(
                "chain: result {seq} carries chain value {}, but SHA-256 of its predecessor's value {} and its \
                 canonical JSON is {}: it was altered, or does not follow result {}",
                chain_hex(&chain),
                chain_hex(&previous),
                chain_hex(&expected),
                seq.saturating_sub(1),
            ));
        }
        Ok(Some(chain))
    }
}

/// `checkpoint` verified for `agent_id`'s batch whose results carried `chains` (by seq), or why not.
pub fn verify_checkpoint(
    agent_id: &str,
    key: Option<PublicKey>,
    checkpoint: v1::Checkpoint,
    chains: &[(u64, Option<Chain>)],
) -> Result<SignedCheckpoint, String> {
    let seq = checkpoint.seq;
    let key = key.ok_or_else(|| format!("checkpoint at seq {seq}: the agent presented no key to verify it with"))?;
    let chain = chain_from_bytes(&checkpoint.chain)
        .map_err(|problem| format!("checkpoint at seq {seq}: chain: {problem}"))?
        .ok_or_else(|| format!("checkpoint at seq {seq}: no chain value"))?;
    match chains.iter().find(|(result, _)| *result == seq) {
        Some((_, Some(carried))) if *carried == chain => {}
        Some(_) => return Err(format!("checkpoint at seq {seq}: its chain value is not the one result {seq} carries")),
        None => return Err(format!("checkpoint at seq {seq}: no result {seq} in its batch")),
    }
    let statement = Statement::Checkpoint { agent_id: agent_id.to_owned(), seq, chain };
    if !key.verifies(&statement, &checkpoint.signature) {
        return Err(format!("checkpoint at seq {seq}: the signature does not verify with the agent's key {key}"));
    }
    Ok(SignedCheckpoint { seq, chain, signature: checkpoint.signature, public_key: key })
}

/// The verified statement of `gap` from `agent_id`, or why there is none (unsigned, or a bad signature).
pub fn verify_gap(agent_id: &str, key: Option<PublicKey>, gap: &v1::SpoolGap) -> Result<Option<SignedGap>, String> {
    let Some(key) = key.filter(|_| !gap.signature.is_empty()) else { return Ok(None) };
    let chain =
        |bytes: &[u8]| chain_from_bytes(bytes).map_err(|problem| format!("gap statement: chain value: {problem}"));
    let (chain_before, chain_after) = (chain(&gap.chain_before)?, chain(&gap.chain_after)?);
    let statement = Statement::Gap {
        agent_id: agent_id.to_owned(),
        first_seq: gap.first_seq,
        last_seq: gap.last_seq,
        reason: gap.reason.clone(),
        chain_before,
        chain_after,
    };
    if !key.verifies(&statement, &gap.signature) {
        return Err(format!(
            "gap statement {}..={}: the signature does not verify with the agent's key {key}",
            gap.first_seq, gap.last_seq
        ));
    }
    Ok(Some(SignedGap { chain_before, chain_after, signature: gap.signature.clone(), public_key: key }))
}
