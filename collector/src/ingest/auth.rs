//! Agent tokens: the collector keeps only their SHA-256 (hex), each mapped to one agent id and region.

use tonic::Status;
use tonic::metadata::MetadataMap;

use super::refusals::Refusal;
use crate::config::AgentIdentity;
use crate::digest::token_hash;

/// The admitted agents.
#[derive(Debug, Clone, Default)]
pub struct Agents {
    identities: Vec<AgentIdentity>,
}

impl Agents {
    /// Admits `identities`.
    pub fn new(identities: Vec<AgentIdentity>) -> Self {
        Self { identities }
    }

    /// Whether `identity` (agent, region and token) is still admitted.
    pub fn admits(&self, identity: &AgentIdentity) -> bool {
        self.identities.contains(identity)
    }

    /// The ids of the agents in `regions` (every admitted agent when `None`), sorted.
    pub fn ids_in(&self, regions: Option<&Vec<String>>) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .identities
            .iter()
            .filter(|identity| regions.is_none_or(|regions| regions.contains(&identity.region)))
            .map(|identity| identity.agent_id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The identity whose token the request presents (`authorization: Bearer <token>`), or why there is none
    /// with the status to answer.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<AgentIdentity, (Refusal, Status)> {
        let header = metadata.get("authorization").ok_or_else(|| {
            (Refusal::NoToken, Status::unauthenticated("no agent token: send `authorization: Bearer <token>`"))
        })?;
        let token = header.to_str().ok().and_then(|value| value.strip_prefix("Bearer ")).ok_or_else(|| {
            let status = Status::unauthenticated("the authorization metadata is not `Bearer <token>`");
            (Refusal::MalformedAuthorization, status)
        })?;
        let hash = token_hash(token.trim());
        self.identities
            .iter()
            .find(|identity| identity.token_sha256.eq_ignore_ascii_case(&hash))
            .cloned()
            .ok_or_else(|| (Refusal::UnknownToken, Status::unauthenticated("unknown agent token")))
    }
}
