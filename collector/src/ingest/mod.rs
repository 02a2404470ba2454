//! gRPC ingest: the `slaprobe.v1.Collector/Session` stream (`docs/protocol.md`).
//!
//! A session is authenticated by the `authorization: Bearer <token>` metadata; the token's SHA-256 maps to
//! exactly one agent id and region, and the stream's Hello must claim those (else `PermissionDenied`), or to an
//! enrolment, whose agents are named by their Hello and admitted once approved ([`enrolment`]). Results
//! are checked, written to the store, and acknowledged cumulatively (`Ack { through_seq }`) only after the
//! store reports them durably committed; the store ignores `(agent_id, seq)` it already has, so replays are
//! harmless. The Hello's agent key must be the one pinned or on record, and the agent's evidence is verified as it
//! arrives ([`evidence`]). Right after Hello the collector pushes the agent's checks (those whose `regions` include the
//! agent's region) unless the agent already runs that version. A result that cannot be accepted (malformed,
//! its check not assigned to the agent's region, stamped later than now plus the clock bound or earlier than
//! the retention horizon) is kept among the refusals with the reason and acknowledged without being stored, so
//! one bad record cannot wedge an agent's spool. The agent's view of itself that comes with its batches is kept as
//! its history ([`health`]).
//!
//! Limits: a stream must send its Hello within [`HELLO_TIMEOUT`]; messages over [`MAX_MESSAGE`] and batches of
//! more than [`limits::MAX_BATCH_RESULTS`] end the session; each agent has one live session, and a new Hello
//! ends the older one (a reconnect after a half-open connection takes over at once, and two processes sharing
//! a token cannot both stream).
//!
//! What ingest takes from `collector.yaml` (the admitted agents, the central checks, the clock bound) is one
//! [`IngestSettings`] value behind a watch channel: a reload replaces it, open sessions push changed checks at
//! once and end the sessions of agents whose token was removed.
//!
//! Layout:
//! - [`auth`]: tokens to agent identities.
//! - [`enrolment`]: agents joining with a fleet token, recorded and admitted once approved.
//! - [`evidence`]: the agent's key, its results' chain links, its checkpoints and gap statements, verified.
//! - [`live`]: one live session per agent; a newer one replaces the older.
//! - [`refusals`]: refused sessions, counted and logged (rate-limited).
//! - [`session`]: one agent's stream.
//! - [`settings`]: what ingest takes from the configuration.

pub mod auth;
pub mod enrolment;
pub mod evidence;
pub mod health;
pub mod live;
pub mod refusals;
pub mod session;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use slaprobe_proto::{limits, v1};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::config::AgentIdentity;
use crate::config::client_cert::PresentedCertificate;
use crate::metrics::CollectorMetrics;
use crate::store::cluster::instance_name;
use crate::store::{AgentStatus, Store};
pub use auth::{Admission, Agents};
use enrolment::EnrolmentProblem;
use evidence::KeyProblem;
use live::LiveSessions;
use refusals::{Refusal, Refusals};
pub use settings::IngestSettings;

/// Messages queued towards one agent at most.
const OUTBOUND_QUEUE: usize = 64;

/// Largest message an agent may send (a batch of 500 results is about 100 KiB); larger ones end the session
/// with `ResourceExhausted`.
pub const MAX_MESSAGE: usize = limits::MAX_MESSAGE_BYTES;

/// How long a new stream may take to send its Hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The ingest service.
#[derive(Clone)]
pub struct IngestService {
    store: Store,
    settings: watch::Receiver<Arc<IngestSettings>>,
    metrics: Arc<CollectorMetrics>,
    live: LiveSessions,
    refusals: Arc<Refusals>,
}

impl IngestService {
    /// A service writing to `store` with fixed `settings`.
    pub fn new(store: Store, settings: IngestSettings) -> Self {
        let (_, settings) = watch::channel(Arc::new(settings));
        Self::reloading(store, settings)
    }

    /// A service writing to `store` whose settings follow `settings` (reloads).
    pub fn reloading(store: Store, settings: watch::Receiver<Arc<IngestSettings>>) -> Self {
        let (metrics, live, refusals) = (Arc::default(), LiveSessions::default(), Arc::default());
        Self { store, settings, metrics, live, refusals }
    }

    /// Counts into `metrics` (shared with the HTTP listener's `/metrics`).
    pub fn with_metrics(mut self, metrics: Arc<CollectorMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Keeps the live sessions in `live` (shared with the HTTP listener, which ends a revoked agent's).
    pub fn with_live_sessions(mut self, live: LiveSessions) -> Self {
        self.live = live;
        self
    }

    /// Records refused sessions into `refusals` (shared with the HTTP listener's agents page).
    pub fn with_refusals(mut self, refusals: Arc<Refusals>) -> Self {
        self.refusals = refusals;
        self
    }

    /// The tonic server for this service, gzip enabled both ways, messages limited to [`MAX_MESSAGE`].
    pub fn into_server(self) -> v1::collector_server::CollectorServer<Self> {
        v1::collector_server::CollectorServer::new(self)
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .send_compressed(tonic::codec::CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
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
        let remote = request.remote_addr().map(|address| address.ip());
        let admission = settings.agents.authenticate(request.metadata()).map_err(|(reason, status)| {
            self.refusals.refused(&self.metrics, remote, None, reason);
            status
        })?;
        if let Admission::Agent(AgentIdentity { agent_id, client_cert: Some(binding), .. }) = &admission {
            let presented = request.peer_certs().and_then(|chain| PresentedCertificate::read(chain.first()?));
            if !presented.as_ref().is_some_and(|presented| binding.admits(presented)) {
                self.refusals.refused(&self.metrics, remote, Some(agent_id), Refusal::CertificateMismatch);
                return Err(Status::permission_denied(format!(
                    "agent {agent_id:?} is bound to another client certificate than the one presented"
                )));
            }
        }
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await.map_err(|_| {
            Status::deadline_exceeded(format!("no Hello within {} s of opening the stream", HELLO_TIMEOUT.as_secs()))
        })?;
        let hello = match first? {
            Some(v1::AgentMessage { body: Some(v1::agent_message::Body::Hello(hello)) }) => hello,
            _ => return Err(Status::invalid_argument("the first message of a session must be Hello")),
        };
        let identity = match admission {
            Admission::Agent(identity) => {
                if hello.agent_id != identity.agent_id || hello.region != identity.region {
                    self.refusals.refused(&self.metrics, remote, Some(&hello.agent_id), Refusal::IdentityMismatch);
                    return Err(Status::permission_denied(format!(
                        "this token belongs to agent {:?} in region {:?}; the stream claims agent {:?} in region {:?}",
                        identity.agent_id, identity.region, hello.agent_id, hello.region
                    )));
                }
                identity
            }
            Admission::Enrolling(enrolment) => {
                match enrolment::admit(&self.store, &settings.agents, &enrolment, &hello, remote).await {
                    Ok(identity) => identity,
                    Err(EnrolmentProblem::Store(error)) => {
                        return Err(Status::unavailable(format!("{error}; try again later")));
                    }
                    Err(EnrolmentProblem::Refused(reason, status)) => {
                        self.refusals.refused(&self.metrics, remote, Some(&hello.agent_id), reason);
                        return Err(status);
                    }
                }
            }
        };
        let key = match evidence::admit_key(&self.store, &identity, &hello.public_key).await {
            Ok(key) => key,
            Err(KeyProblem::Store(error)) => return Err(Status::unavailable(format!("{error}; try again later"))),
            Err(KeyProblem::Refused(reason, problem)) => {
                self.refusals.refused(&self.metrics, remote, Some(&hello.agent_id), reason);
                tracing::warn!(agent_id = %identity.agent_id, %problem, "Refused an agent's key.");
                return Err(Status::permission_denied(problem));
            }
        };
        tracing::info!(agent_id = %identity.agent_id, version = %hello.version, backlog = hello.spool_backlog, signed = key.is_some(), "Agent connected.");
        let connected_at = Timestamp::now();
        let status = AgentStatus {
            agent_id: identity.agent_id.clone(),
            region: identity.region.clone(),
            version: hello.version.clone(),
            connected_at,
            spool_backlog: hello.spool_backlog,
            collector: instance_name().to_owned(),
        };
        self.store
            .record_agent(status)
            .await
            .map_err(|error| Status::unavailable(format!("{error}; try again later")))?;
        let (outbound, messages) = mpsc::channel(OUTBOUND_QUEUE);
        let claim = self.live.claim(&identity.agent_id);
        let chain = evidence::ChainFollower::resuming(&self.store, &identity.agent_id)
            .await
            .map_err(|error| Status::unavailable(format!("{error}; try again later")))?;
        let identity_id = identity.agent_id.clone();
        let session = session::Session::new(
            self.store.clone(),
            identity,
            (key, chain),
            self.settings.clone(),
            outbound,
            self.metrics.clone(),
        );
        let (store, agent_id) = (self.store.clone(), identity_id);
        tokio::spawn(async move {
            session.run(hello.config_version, inbound, claim).await;
            // Unless a newer session took its place, every replica now shows the agent not connected.
            if let Err(error) = store.session_ended(&agent_id, instance_name(), connected_at).await {
                let effect = "it shows until the agent is back";
                tracing::debug!(%agent_id, %error, effect, "Could not record the end of a session.");
            }
        });
        Ok(Response::new(ReceiverStream::new(messages)))
    }
}

#[cfg(test)]
mod tests;
