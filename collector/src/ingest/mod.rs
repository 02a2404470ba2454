//! gRPC ingest: the `slaprobe.v1.Collector/Session` stream (`DESIGN.md` section 4).
//!
//! A session is authenticated by the `authorization: Bearer <token>` metadata; the token's SHA-256 maps to
//! exactly one agent id and region, and the stream's Hello must claim those (else `PermissionDenied`). Results
//! are checked, written to the store, and acknowledged cumulatively (`Ack { through_seq }`) only after the
//! store reports them durably committed; the store ignores `(agent_id, seq)` it already has, so replays are
//! harmless. Right after Hello the collector pushes the agent's checks (those whose `regions` include the
//! agent's region) unless the agent already runs that version. A result that cannot be accepted (malformed, or stamped implausibly far in the future) is logged
//! with the reason and acknowledged without being stored, so one bad record cannot wedge an agent's spool.
//!
//! Layout:
//! - [`auth`]: tokens to agent identities.
//! - [`session`]: one agent's stream.

pub mod auth;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use slaprobe_proto::v1;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use slaprobe_agent::config::{Check, checks_document};

use crate::store::Store;
pub use auth::{AgentIdentity, Agents};

/// Messages queued towards one agent at most.
const OUTBOUND_QUEUE: usize = 64;

/// How far in the future a result's `started_at` may lie before it is refused (agents' clocks drift; this
/// catches the broken ones).
pub const MAX_FUTURE: Duration = Duration::from_secs(600);

/// The ingest service.
#[derive(Clone)]
pub struct IngestService {
    store: Store,
    agents: Arc<Agents>,
    checks: Option<Arc<Vec<Check>>>,
}

impl IngestService {
    /// A service writing to `store`, admitting `agents`, pushing no checks.
    pub fn new(store: Store, agents: Agents) -> Self {
        Self { store, agents: Arc::new(agents), checks: None }
    }

    /// Pushes `checks` (the central list) to agents, each getting those whose `regions` include its own.
    pub fn with_checks(mut self, checks: Vec<Check>) -> Self {
        self.checks = Some(Arc::new(checks));
        self
    }

    /// The checks document and its version (hex SHA-256 of the document) for `region`, if checks are pushed.
    pub fn pushed_config(&self, region: &str) -> Option<v1::CheckConfig> {
        let checks = self.checks.as_ref()?;
        let region = region.to_owned();
        let chosen =
            checks.iter().filter(|check| check.regions.as_ref().is_none_or(|regions| regions.contains(&region)));
        let checks_yaml = checks_document(chosen);
        Some(v1::CheckConfig {
            version: auth::token_hash(&checks_yaml),
            checks_yaml,
            phase_offsets_ms: Default::default(),
        })
    }

    /// The tonic server for this service, gzip enabled both ways.
    pub fn into_server(self) -> v1::collector_server::CollectorServer<Self> {
        v1::collector_server::CollectorServer::new(self)
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .send_compressed(tonic::codec::CompressionEncoding::Gzip)
    }
}

#[tonic::async_trait]
impl v1::collector_server::Collector for IngestService {
    type SessionStream = ReceiverStream<Result<v1::CollectorMessage, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<v1::AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let identity = self.agents.authenticate(request.metadata())?;
        let mut inbound = request.into_inner();
        let hello = match inbound.message().await? {
            Some(v1::AgentMessage { body: Some(v1::agent_message::Body::Hello(hello)) }) => hello,
            _ => return Err(Status::invalid_argument("the first message of a session must be Hello")),
        };
        if hello.agent_id != identity.agent_id || hello.region != identity.region {
            return Err(Status::permission_denied(format!(
                "this token belongs to agent {:?} in region {:?}; the stream claims agent {:?} in region {:?}",
                identity.agent_id, identity.region, hello.agent_id, hello.region
            )));
        }
        tracing::info!(agent_id = %identity.agent_id, version = %hello.version, backlog = hello.spool_backlog, "Agent connected.");
        let (outbound, messages) = mpsc::channel(OUTBOUND_QUEUE);
        if let Some(config) =
            self.pushed_config(&identity.region).filter(|config| config.version != hello.config_version)
        {
            let body = v1::collector_message::Body::Config(config);
            outbound
                .send(Ok(v1::CollectorMessage { body: Some(body) }))
                .await
                .map_err(|_| Status::cancelled("closed"))?;
        }
        tokio::spawn(session::run(self.store.clone(), identity, inbound, outbound));
        Ok(Response::new(ReceiverStream::new(messages)))
    }
}

#[cfg(test)]
mod tests;
