//! Agent tokens: the collector keeps only their SHA-256 (hex). An agent's own token maps to one agent id and
//! region (`agents:`); a fleet token (`enrolments:`) admits any agent id its Hello names, in the enrolment's
//! region, once that agent is approved ([`super::enrolment`]).

use tonic::Status;
use tonic::metadata::MetadataMap;

use super::refusals::Refusal;
use crate::config::{AgentIdentity, Enrolment};
use crate::digest::token_hash;

/// The admitted agents and the enrolments agents may join with.
#[derive(Debug, Clone, Default)]
pub struct Agents {
    identities: Vec<AgentIdentity>,
    enrolments: Vec<Enrolment>,
}

/// Whom a session's token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// An agent of `agents:`.
    Agent(AgentIdentity),
    /// A fleet token: the agent is the one its Hello names, if enrolled and approved.
    Enrolling(Enrolment),
}

impl Agents {
    /// Admits `identities`.
    pub fn new(identities: Vec<AgentIdentity>) -> Self {
        Self { identities, enrolments: Vec::new() }
    }

    /// Also admits agents enrolling with `enrolments`.
    pub fn with_enrolments(mut self, enrolments: Vec<Enrolment>) -> Self {
        self.enrolments = enrolments;
        self
    }

    /// Whether `identity` (agent, region and token; for an enrolled agent, its enrolment's) is still admitted.
    pub fn admits(&self, identity: &AgentIdentity) -> bool {
        match &identity.enrolment {
            None => self.identities.contains(identity),
            Some(name) => self.enrolments.iter().any(|enrolment| {
                enrolment.name == *name
                    && enrolment.region == identity.region
                    && enrolment.token_sha256 == identity.token_sha256
            }),
        }
    }

    /// Whether `agent_id` is an agent of `agents:` (no enrolled agent may take its name).
    pub fn is_configured(&self, agent_id: &str) -> bool {
        self.identities.iter().any(|identity| identity.agent_id == agent_id)
    }

    /// The ids of the agents of `agents:` in `regions` (every one when `None`), sorted.
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

    /// Whom the token the request presents (`authorization: Bearer <token>`) names, or why nobody, with the
    /// status to answer.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Admission, (Refusal, Status)> {
        let header = metadata.get("authorization").ok_or_else(|| {
            (Refusal::NoToken, Status::unauthenticated("no agent token: send `authorization: Bearer <token>`"))
        })?;
        let token = header.to_str().ok().and_then(|value| value.strip_prefix("Bearer ")).ok_or_else(|| {
            let status = Status::unauthenticated("the authorization metadata is not `Bearer <token>`");
            (Refusal::MalformedAuthorization, status)
        })?;
        let hash = token_hash(token.trim());
        let agent = self.identities.iter().find(|identity| identity.token_sha256.eq_ignore_ascii_case(&hash));
        let enrolment = || self.enrolments.iter().find(|enrolment| enrolment.token_sha256 == hash);
        match (agent, enrolment()) {
            (Some(identity), _) => Ok(Admission::Agent(identity.clone())),
            (None, Some(enrolment)) => Ok(Admission::Enrolling(enrolment.clone())),
            (None, None) => Err((Refusal::UnknownToken, Status::unauthenticated("unknown agent token"))),
        }
    }
}
