//! One live session per agent. A session claims its agent id after Hello; a newer claim cancels the older
//! session, which ends with `Aborted`. An agent that reconnects after a half-open connection (its old stream
//! not yet noticed dead) so takes over at once, and two processes presenting one token cannot both stream.
//! Revoking an enrolled agent ([`LiveSessions::revoke`]) ends its session here with `PermissionDenied`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// The live session of each agent.
#[derive(Debug, Clone, Default)]
pub struct LiveSessions {
    claims: Arc<Mutex<HashMap<String, Held>>>,
    next_generation: Arc<std::sync::atomic::AtomicU64>,
}

/// The live session of one agent: its claim's generation and the tokens that end it.
#[derive(Debug)]
struct Held {
    generation: u64,
    replaced: CancellationToken,
    revoked: CancellationToken,
}

/// A session's claim on its agent id; dropping it releases the id (unless a newer session holds it).
#[derive(Debug)]
pub struct Claim {
    sessions: LiveSessions,
    agent_id: String,
    generation: u64,
    /// Cancelled when a newer session of the same agent claims the id.
    pub replaced: CancellationToken,
    /// Cancelled when the agent's enrolment is revoked.
    pub revoked: CancellationToken,
}

impl LiveSessions {
    /// Claims `agent_id` for a new session, cancelling the one that held it.
    pub fn claim(&self, agent_id: &str) -> Claim {
        let generation = self.next_generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (replaced, revoked) = (CancellationToken::new(), CancellationToken::new());
        let held = Held { generation, replaced: replaced.clone(), revoked: revoked.clone() };
        let mut claims = self.claims.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(older) = claims.insert(agent_id.to_owned(), held) {
            tracing::info!(%agent_id, "A new session of this agent replaces its older one.");
            older.replaced.cancel();
        }
        Claim { sessions: self.clone(), agent_id: agent_id.to_owned(), generation, replaced, revoked }
    }

    /// Ends `agent_id`'s live session here, as revoked; whether it had one.
    pub fn revoke(&self, agent_id: &str) -> bool {
        let claims = self.claims.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        claims.get(agent_id).inspect(|held| held.revoked.cancel()).is_some()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut claims = self.sessions.claims.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if claims.get(&self.agent_id).is_some_and(|held| held.generation == self.generation) {
            claims.remove(&self.agent_id);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_newer_claim_cancels_the_older_and_only_the_holder_releases() {
        let live = super::LiveSessions::default();
        let first = live.claim("edge-1");
        let other = live.claim("edge-2");
        let second = live.claim("edge-1");
        assert!(first.replaced.is_cancelled(), "the older session of edge-1 is told to end");
        assert!(!other.replaced.is_cancelled() && !second.replaced.is_cancelled());
        drop(first);
        let third = live.claim("edge-1");
        assert!(second.replaced.is_cancelled(), "dropping the replaced claim did not release the id");
        drop(third);
        assert!(live.claims.lock().unwrap().get("edge-1").is_none(), "the holder releases the id");
    }

    #[test]
    fn revoking_ends_only_the_agents_live_session() {
        let live = super::LiveSessions::default();
        let (edge_1, edge_2) = (live.claim("edge-1"), live.claim("edge-2"));
        assert!(live.revoke("edge-1"));
        assert!(edge_1.revoked.is_cancelled() && !edge_1.replaced.is_cancelled());
        assert!(!edge_2.revoked.is_cancelled());
        drop(edge_1);
        assert!(!live.revoke("edge-1"), "no live session is left to end");
    }
}
