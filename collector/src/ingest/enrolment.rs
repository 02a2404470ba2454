//! Agents joining with a fleet token (`enrolments:`). The agent is the one its Hello names, in the enrolment's
//! region: its first session records it with the key it presents (pending, or approved at once where the
//! enrolment says `auto_approve`), and every later session must present the same key, so another host holding the
//! fleet token cannot take its name. Pending and revoked agents are refused with the reason; the agent retries
//! (every 30 s at most) and is admitted at its first attempt after an admin approves it. Revoking ends the
//! agent's live session: at once on the replica that was asked, within [`SWEEP_EVERY`] on the others.
//!
//! New agents are bounded: an enrolment takes at most [`MAX_PENDING`] agents waiting for approval and
//! [`MAX_ENROLLED`] in all, and a refused agent's record is refreshed at most once per [`REFRESH_EVERY`], so that
//! a leaked fleet token can neither grow the store without end nor keep its writer busy.

use std::net::IpAddr;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_checks::is_valid_label;
use slaprobe_proto::evidence::PublicKey;
use slaprobe_proto::v1;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::auth::Agents;
use super::live::LiveSessions;
use super::refusals::Refusal;
use crate::config::{AgentIdentity, Enrolment};
use crate::store::enrolments::{EnrolledAgent, EnrolmentState};
use crate::store::{Store, StoreError};

/// Agents waiting for approval in one enrolment, at most; further new agents are refused until some are
/// approved or revoked.
pub const MAX_PENDING: u64 = 1000;

/// Agents on record for one enrolment, at most, whatever their state (`auto_approve` admits without an admin).
pub const MAX_ENROLLED: u64 = 10_000;

/// A refused agent's record (last seen, address, version) is refreshed at most this often.
pub const REFRESH_EVERY: SignedDuration = SignedDuration::from_mins(1);

/// How often each replica ends the live sessions of agents revoked through another replica.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Why an enrolling session was not admitted.
#[derive(Debug)]
pub enum EnrolmentProblem {
    /// The store could not say; try again later.
    Store(StoreError),
    /// Refused: the reason, and what to tell the agent.
    Refused(Refusal, Status),
}

impl From<StoreError> for EnrolmentProblem {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

fn refused(reason: Refusal, status: Status) -> EnrolmentProblem {
    EnrolmentProblem::Refused(reason, status)
}

/// The identity of the agent `hello` names, enrolling with `enrolment` from `remote` (`agents` to keep it off the
/// names of configured agents): recorded at its first session, admitted once approved.
pub async fn admit(
    store: &Store,
    agents: &Agents,
    enrolment: &Enrolment,
    hello: &v1::Hello,
    remote: Option<IpAddr>,
) -> Result<AgentIdentity, EnrolmentProblem> {
    let agent_id = &hello.agent_id;
    let mismatch = |message: String| refused(Refusal::IdentityMismatch, Status::permission_denied(message));
    if !is_valid_label(agent_id) {
        return Err(mismatch(format!("agent id {:?} must match [a-z0-9._-]{{1,64}} to enrol", cut(agent_id))));
    }
    if hello.region != enrolment.region {
        return Err(mismatch(format!(
            "enrolment {:?} is for region {:?}; the stream claims region {:?}",
            enrolment.name,
            enrolment.region,
            cut(&hello.region)
        )));
    }
    if agents.is_configured(agent_id) {
        return Err(mismatch(format!(
            "agent id {agent_id:?} is an agent of collector.yaml's `agents:`; an enrolling agent needs another name"
        )));
    }
    let key = presented_key(agent_id, &hello.public_key)?;
    let now = Timestamp::now();
    let seen = EnrolledAgent {
        agent_id: agent_id.clone(),
        enrolment: enrolment.name.clone(),
        region: enrolment.region.clone(),
        state: if enrolment.auto_approve { EnrolmentState::Approved } else { EnrolmentState::Pending },
        public_key: key,
        first_seen_at: now,
        last_seen_at: now,
        remote,
        version: hello.version.chars().take(64).collect(),
        decided_at: enrolment.auto_approve.then_some(now),
        decided_by: enrolment.auto_approve.then(|| "auto_approve".to_owned()),
    };
    let recorded = match store.enrolled_agent(agent_id).await? {
        Some(recorded) => recorded,
        None => {
            let (enrolled, pending) = store.enrolment_counts(&enrolment.name).await?;
            let full = if enrolled >= MAX_ENROLLED {
                Some(format!("{MAX_ENROLLED} agents on record"))
            } else if !enrolment.auto_approve && pending >= MAX_PENDING {
                Some(format!("{MAX_PENDING} agents waiting for approval; approve or revoke some"))
            } else {
                None
            };
            if let Some(full) = full {
                let message = format!("enrolment {:?} already has {full}", enrolment.name);
                return Err(refused(Refusal::EnrolmentFull, Status::resource_exhausted(message)));
            }
            let recorded = store.enrol(&seen).await?;
            if recorded == seen {
                let state = seen.state.label();
                tracing::info!(%agent_id, enrolment = %enrolment.name, state, "An agent enrolled.");
            }
            recorded
        }
    };
    if recorded.enrolment != enrolment.name {
        return Err(mismatch(format!(
            "agent {agent_id:?} enrolled with enrolment {:?}, not {:?}",
            recorded.enrolment, enrolment.name
        )));
    }
    if recorded.public_key != key {
        return Err(refused(
            Refusal::KeyMismatch,
            Status::permission_denied(format!(
                "agent {agent_id:?} enrolled with key {}; this session presents {key}. Another host with the same \
                 name? Give each host its own agent_id",
                recorded.public_key
            )),
        ));
    }
    refresh(store, recorded.clone(), &seen).await?;
    match recorded.state {
        EnrolmentState::Approved => Ok(AgentIdentity {
            agent_id: agent_id.clone(),
            region: enrolment.region.clone(),
            token_sha256: enrolment.token_sha256.clone(),
            public_key: None,
            client_cert: None,
            enrolment: Some(enrolment.name.clone()),
        }),
        EnrolmentState::Pending => Err(refused(
            Refusal::EnrolmentPending,
            Status::permission_denied(format!(
                "agent {agent_id:?} waits for approval in enrolment {:?}: an admin approves it on the agents page, \
                 or with POST /api/v1/enrolments/{agent_id}/approve",
                enrolment.name
            )),
        )),
        EnrolmentState::Revoked => Err(refused(
            Refusal::EnrolmentRevoked,
            Status::permission_denied(format!("agent {agent_id:?}'s enrolment was revoked")),
        )),
    }
}

/// The key an enrolling agent presents: required, as it is what keeps the agent's name its own.
fn presented_key(agent_id: &str, presented: &[u8]) -> Result<PublicKey, EnrolmentProblem> {
    if presented.is_empty() {
        return Err(refused(
            Refusal::KeyMissing,
            Status::permission_denied(format!(
                "agent {agent_id:?} presented no key; enrolling needs an agent that signs (this version or later)"
            )),
        ));
    }
    PublicKey::from_bytes(presented).map_err(|error| {
        let message = format!("agent {agent_id:?} presented an unreadable key: {error}");
        refused(Refusal::KeyMissing, Status::permission_denied(message))
    })
}

/// Brings `recorded`'s last session up to `seen` (when, from where, which version, the enrolment's region now): at
/// once when admitted or when any of those changed, else at most once per [`REFRESH_EVERY`].
async fn refresh(store: &Store, mut recorded: EnrolledAgent, seen: &EnrolledAgent) -> Result<(), StoreError> {
    let stale = seen.last_seen_at.duration_since(recorded.last_seen_at) >= REFRESH_EVERY;
    let moved = recorded.remote != seen.remote || recorded.version != seen.version || recorded.region != seen.region;
    if recorded.last_seen_at == seen.last_seen_at || !(stale || moved || recorded.state == EnrolmentState::Approved) {
        return Ok(());
    }
    recorded.last_seen_at = seen.last_seen_at;
    recorded.remote = seen.remote;
    recorded.version.clone_from(&seen.version);
    recorded.region.clone_from(&seen.region);
    store.put_enrolled_agent(&recorded).await.map(drop)
}

/// A claimed name or region from an unauthenticated peer, cut to a label's length for the message.
fn cut(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Ends, every [`SWEEP_EVERY`] until `stop`, the live sessions here of agents revoked (through any replica).
pub async fn end_revoked(store: Store, live: LiveSessions, stop: CancellationToken) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = stop.cancelled() => return,
        }
        match store.revoked_agents().await {
            Ok(agents) => {
                for agent in &agents {
                    if live.revoke(&agent.agent_id) {
                        tracing::info!(agent_id = %agent.agent_id, "Ended the session of a revoked agent.");
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "Could not read the enrolled agents; trying again shortly."),
        }
    }
}
