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
//! What ingest takes from `collector.yaml` (the admitted agents, the central checks, the clock bound) is one
//! [`IngestSettings`] value behind a watch channel: a reload replaces it, open sessions push changed checks at
//! once and end the sessions of agents whose token was removed.
//!
//! Layout:
//! - [`auth`]: tokens to agent identities.
//! - [`session`]: one agent's stream.
//! - [`settings`]: what ingest takes from the configuration.

pub mod auth;
pub mod session;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use slaprobe_proto::v1;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::http::IngestMetrics;
use crate::store::{AgentStatus, Store};
pub use auth::{AgentIdentity, Agents};
pub use settings::IngestSettings;

/// Messages queued towards one agent at most.
const OUTBOUND_QUEUE: usize = 64;

/// Largest message an agent may send (a batch of 500 results is about 100 KiB); larger ones end the session
/// with `ResourceExhausted`.
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// How far in the future a result's `started_at` may lie before it is refused (agents' clocks drift; this
/// catches the broken ones).
pub const MAX_FUTURE: Duration = Duration::from_secs(600);

/// The ingest service.
#[derive(Clone)]
pub struct IngestService {
    store: Store,
    settings: watch::Receiver<Arc<IngestSettings>>,
    metrics: Arc<IngestMetrics>,
}

impl IngestService {
    /// A service writing to `store` with fixed `settings`.
    pub fn new(store: Store, settings: IngestSettings) -> Self {
        let (_, settings) = watch::channel(Arc::new(settings));
        Self { store, settings, metrics: Arc::default() }
    }

    /// A service writing to `store` whose settings follow `settings` (reloads).
    pub fn reloading(store: Store, settings: watch::Receiver<Arc<IngestSettings>>) -> Self {
        Self { store, settings, metrics: Arc::default() }
    }

    /// Counts into `metrics` (shared with the HTTP listener's `/metrics`).
    pub fn with_metrics(mut self, metrics: Arc<IngestMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The tonic server for this service, gzip enabled both ways, messages limited to [`MAX_MESSAGE`].
    pub fn into_server(self) -> v1::collector_server::CollectorServer<Self> {
        v1::collector_server::CollectorServer::new(self)
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .send_compressed(tonic::codec::CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_MESSAGE)
    }
}

#[tonic::async_trait]
impl v1::collector_server::Collector for IngestService {
    type SessionStream = ReceiverStream<Result<v1::CollectorMessage, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<v1::AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let settings = self.settings.borrow().clone();
        let identity = settings.agents.authenticate(request.metadata())?;
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
        let status = AgentStatus {
            agent_id: identity.agent_id.clone(),
            region: identity.region.clone(),
            version: hello.version.clone(),
            connected_at: Timestamp::now(),
            spool_backlog: hello.spool_backlog,
        };
        self.store
            .record_agent(status)
            .await
            .map_err(|error| Status::unavailable(format!("{error}; try again later")))?;
        let (outbound, messages) = mpsc::channel(OUTBOUND_QUEUE);
        let session =
            session::Session::new(self.store.clone(), identity, self.settings.clone(), outbound, self.metrics.clone());
        tokio::spawn(session.run(hello.config_version, inbound));
        Ok(Response::new(ReceiverStream::new(messages)))
    }
}

#[cfg(test)]
mod tests;
