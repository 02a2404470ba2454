//! One agent's session after Hello: batches are checked, stored and acknowledged; clock probes are echoed and
//! the agent's clock estimates recorded; spool gaps are recorded; check changes are pushed as they happen.
//!
//! Every result in a batch is either stored (flagged `clock_suspect` while the agent's last clock estimate is
//! beyond the bound) or refused with the reason and kept in the refusals table (malformed; its check not
//! assigned to the agent's region, when there is a central list; stamped too far in the future); the batch is acknowledged through its highest `seq` in both cases, so one bad
//! record cannot wedge an agent's spool.

use std::collections::VecDeque;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use prost::Message;
use slaprobe_proto::evidence::PublicKey;
use slaprobe_proto::redact::{redact_record, redacted_url};
use slaprobe_proto::{ResultRecord, limits, v1};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tonic::{Status, Streaming};

use super::IngestSettings;
use super::evidence::{ChainFollower, verify_checkpoint, verify_gap};
use super::health::HealthNotes;
use super::live::Claim;
use super::settings::Assignment;
use crate::config::AgentIdentity;
use crate::metrics::AgentLabels;
use crate::metrics::CollectorMetrics;
use crate::store::columns::stored_record;
use crate::store::{ClockReading, GapReport, IngestBatch, Refusal, ResultFlags, Store};

type Outbound = mpsc::Sender<Result<v1::CollectorMessage, Status>>;
type Reply = Result<Option<v1::collector_message::Body>, Status>;

/// Batches of one session being written at once, at most.
const WRITES_IN_FLIGHT: usize = 4;

/// Largest check list pushed in one message: the message limit less room for the envelope.
const MAX_PUSHED_BYTES: usize = limits::MAX_MESSAGE_BYTES - 64 * 1024;

/// What woke the session up.
enum Event {
    /// The oldest batch write finished.
    Written(Result<Reply, tokio::task::JoinError>),
    /// A message from the agent, the end of its stream, or a broken stream.
    Message(Result<Option<v1::AgentMessage>, Status>),
    /// The settings changed (false: they never will again).
    SettingsChanged(bool),
    /// A newer session of the same agent took over.
    Replaced,
    /// The agent's enrolment was revoked.
    Revoked,
}

/// One agent's open session.
pub struct Session {
    store: Store,
    identity: AgentIdentity,
    key: Option<PublicKey>,
    chain: ChainFollower,
    settings: watch::Receiver<Arc<IngestSettings>>,
    outbound: Outbound,
    assignment: Option<Assignment>,
    clock_suspect: bool,
    health: HealthNotes,
    pushed_version: String,
    metrics: Arc<CollectorMetrics>,
}

impl Session {
    /// A session of `identity`, signing with `key`, its chain followed from `chain`, writing to `store` and
    /// answering on `outbound`.
    pub fn new(
        store: Store,
        identity: AgentIdentity,
        (key, chain): (Option<PublicKey>, ChainFollower),
        mut settings: watch::Receiver<Arc<IngestSettings>>,
        outbound: Outbound,
        metrics: Arc<CollectorMetrics>,
    ) -> Self {
        let assignment = settings.borrow_and_update().assignment(&identity.region);
        Self {
            store,
            identity,
            key,
            chain,
            settings,
            outbound,
            assignment,
            clock_suspect: false,
            health: HealthNotes::default(),
            pushed_version: String::new(),
            metrics,
        }
    }

    /// Serves the session until the agent closes it, the connection drops, or the agent breaks the protocol.
    /// `config_version` is the check configuration the agent says it runs.
    ///
    /// Up to [`WRITES_IN_FLIGHT`] batches are written at once (the next is read while the store commits the
    /// last); acknowledgements still go out in order, each only once its batch and all before it are committed.
    /// Ends when `claim` is replaced by a newer session of the same agent, or revoked.
    pub async fn run(mut self, config_version: String, mut inbound: Streaming<v1::AgentMessage>, claim: Claim) {
        self.pushed_version = config_version;
        let metrics = self.metrics.clone();
        let _open = metrics.session_opened(&self.identity.agent_id);
        let mut watching = true;
        let mut inbound_open = true;
        let mut writes: VecDeque<JoinHandle<Reply>> = VecDeque::new();
        let mut reply = self.push_checks();
        loop {
            let sent = match reply {
                Ok(Some(body)) => self.outbound.send(Ok(v1::CollectorMessage { body: Some(body) })).await,
                Ok(None) => Ok(()),
                Err(status) => {
                    tracing::warn!(agent_id = %self.identity.agent_id, %status, "Closed an agent session.");
                    let _ = self.outbound.send(Err(status)).await;
                    return;
                }
            };
            if sent.is_err() || (!inbound_open && writes.is_empty()) {
                break;
            }
            let event = tokio::select! {
                written = async { writes.front_mut().expect("guarded by is_empty").await }, if !writes.is_empty() => {
                    Event::Written(written)
                }
                message = inbound.message(), if inbound_open && writes.len() < WRITES_IN_FLIGHT => {
                    Event::Message(message)
                }
                changed = self.settings.changed(), if watching => Event::SettingsChanged(changed.is_ok()),
                () = claim.replaced.cancelled() => Event::Replaced,
                () = claim.revoked.cancelled() => Event::Revoked,
            };
            reply = match event {
                Event::Written(written) => {
                    writes.pop_front();
                    written.unwrap_or_else(|error| Err(Status::internal(format!("store write task failed: {error}"))))
                }
                Event::Message(Ok(Some(message))) => self.handle(message, &mut writes).await,
                Event::Message(Ok(None)) => {
                    inbound_open = false; // acknowledge what is being written, then end
                    Ok(None)
                }
                Event::Message(Err(status)) => {
                    // Undecodable or oversized messages land here; tell the agent why, if it still listens.
                    tracing::info!(agent_id = %self.identity.agent_id, %status, "Agent session ended.");
                    let _ = self.outbound.send(Err(status)).await;
                    return;
                }
                Event::SettingsChanged(true) => self.settings_changed(),
                Event::SettingsChanged(false) => {
                    watching = false;
                    Ok(None)
                }
                // Writes in flight still commit; their acknowledgements go to the newer session's replay.
                Event::Replaced => Err(Status::aborted("replaced by a newer session of this agent")),
                Event::Revoked => Err(Status::permission_denied("this agent's enrolment was revoked")),
            };
        }
        tracing::info!(agent_id = %self.identity.agent_id, "Agent disconnected.");
    }

    async fn handle(&mut self, message: v1::AgentMessage, writes: &mut VecDeque<JoinHandle<Reply>>) -> Reply {
        match message.body {
            Some(v1::agent_message::Body::Batch(mut batch)) => {
                if let Some(health) = batch.health.take() {
                    self.note_health(health).await;
                }
                writes.extend(self.store_batch(batch)?);
                Ok(None)
            }
            Some(v1::agent_message::Body::Clock(probe)) => {
                Ok(Some(v1::collector_message::Body::Clock(v1::ClockEcho {
                    agent_unix_nanos: probe.agent_unix_nanos,
                    collector_unix_nanos: i64::try_from(Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX),
                })))
            }
            Some(v1::agent_message::Body::ClockEstimate(estimate)) => self.record_clock(estimate).await,
            Some(v1::agent_message::Body::Gap(gap)) => {
                // Results still being written may lie inside the gap: settle them first, so the gap records only
                // what the store does not hold.
                while let Some(write) = writes.pop_front() {
                    let written = write
                        .await
                        .unwrap_or_else(|error| Err(Status::internal(format!("store write task failed: {error}"))));
                    if let Some(body) = written? {
                        let sent = self.outbound.send(Ok(v1::CollectorMessage { body: Some(body) })).await;
                        sent.map_err(|_| Status::cancelled("the agent went away"))?;
                    }
                }
                self.record_gap(gap).await
            }
            Some(v1::agent_message::Body::Hello(_)) => Err(Status::invalid_argument("Hello may only open a session")),
            None => Err(Status::invalid_argument("empty agent message")),
        }
    }

    /// After a reload: ends the session if the agent's token is gone, else pushes its checks if they changed.
    fn settings_changed(&mut self) -> Reply {
        let settings = self.settings.borrow_and_update().clone();
        if !settings.agents.admits(&self.identity) {
            return Err(Status::unauthenticated(
                "this agent's entry or enrolment (token, region or pinned key) changed in, or was removed from, \
                 the collector's configuration",
            ));
        }
        self.assignment = settings.assignment(&self.identity.region);
        self.push_checks()
    }

    /// The agent's checks, if they differ from what it runs; a refusal instead when they do not fit a message.
    fn push_checks(&mut self) -> Reply {
        let config = self.settings.borrow().pushed_config(&self.identity.agent_id, &self.identity.region);
        let Some(config) = config.filter(|config| config.version != self.pushed_version) else { return Ok(None) };
        self.pushed_version = config.version.clone();
        let bytes = config.encoded_len();
        if bytes > MAX_PUSHED_BYTES {
            let refused = format!(
                "the check list for region {} is {bytes} bytes, over the limit of {MAX_PUSHED_BYTES}; the agent \
                 keeps the checks it runs",
                self.identity.region
            );
            tracing::error!(agent_id = %self.identity.agent_id, bytes, limit = MAX_PUSHED_BYTES, "Could not push checks: the list is too large for one message; split the region or shorten the list.");
            self.metrics.config_pushes_refused.inc();
            return Ok(Some(v1::collector_message::Body::Config(v1::CheckConfig { refused, ..Default::default() })));
        }
        tracing::info!(agent_id = %self.identity.agent_id, version = %config.version, "Pushing checks to the agent.");
        Ok(Some(v1::collector_message::Body::Config(config)))
    }

    /// Keeps the agent's view of itself when it says something new ([`HealthNotes`]); a store failure is
    /// logged, not the session's end (the results that follow will tell).
    async fn note_health(&mut self, health: v1::AgentHealth) {
        let bound = self.settings.borrow().max_clock_offset;
        let Some(record) = self.health.take(&self.identity, health, Timestamp::now(), bound) else { return };
        if let Err(error) = self.store.record_health(&record).await {
            tracing::warn!(agent_id = %self.identity.agent_id, %error, "Could not keep the agent's view of itself.");
        }
    }

    async fn record_clock(&mut self, estimate: v1::ClockEstimate) -> Reply {
        let agent_id = &self.identity.agent_id;
        if estimate.round_trip_nanos < 0 {
            tracing::warn!(%agent_id, round_trip_nanos = estimate.round_trip_nanos, "Ignored a clock estimate with a negative round trip.");
            return Ok(None);
        }
        let offset = SignedDuration::from_nanos(estimate.offset_nanos);
        let bound = self.settings.borrow().max_clock_offset;
        let suspect = offset.unsigned_abs() > bound;
        if suspect != self.clock_suspect {
            if suspect {
                tracing::warn!(%agent_id, offset_ms = offset.as_millis(), bound_ms = bound.as_millis(), "Agent clock is off; its results are flagged clock_suspect.");
            } else {
                tracing::info!(%agent_id, offset_ms = offset.as_millis(), "Agent clock is back within the bound.");
            }
        }
        self.clock_suspect = suspect;
        let labels = AgentLabels { agent_id: agent_id.clone() };
        self.metrics.clock_offset_seconds.get_or_create(&labels).set(offset.as_secs_f64());
        let reading = ClockReading {
            offset_nanos: estimate.offset_nanos,
            round_trip_nanos: estimate.round_trip_nanos,
            measured_at: Timestamp::now(),
        };
        self.store.record_clock(agent_id, reading).await.map_err(unavailable)?;
        Ok(None)
    }

    async fn record_gap(&self, gap: v1::SpoolGap) -> Reply {
        let agent_id = &self.identity.agent_id;
        if gap.first_seq == 0 || gap.first_seq > gap.last_seq {
            // Refusing the session would not help: the agent reports its gaps again on every session.
            tracing::warn!(%agent_id, first = gap.first_seq, last = gap.last_seq, "Ignored a spool gap that is not a range of sequence numbers (they start at 1).");
            return Ok(None);
        }
        tracing::warn!(%agent_id, first = gap.first_seq, last = gap.last_seq, reason = %gap.reason, "Agent reports results its spool dropped.");
        let statement = verify_gap(agent_id, self.key, &gap).unwrap_or_else(|problem| {
            tracing::warn!(%agent_id, %problem, "Recorded a gap as unsigned: its statement does not verify.");
            self.metrics.count_rejected_evidence("gap_statement");
            None
        });
        let report = GapReport {
            agent_id: agent_id.clone(),
            first_seq: gap.first_seq,
            last_seq: gap.last_seq,
            reason: gap.reason,
            reported_at: Timestamp::now(),
            statement,
        };
        self.store.record_gap(report).await.map_err(unavailable)?;
        Ok(None)
    }

    /// Checks one batch and starts writing it; the write answers with the batch's acknowledgement. `None` for
    /// an empty batch.
    fn store_batch(&mut self, batch: v1::ResultBatch) -> Result<Option<JoinHandle<Reply>>, Status> {
        if batch.results.len() > limits::MAX_BATCH_RESULTS {
            return Err(Status::resource_exhausted(format!(
                "a batch of {} results; at most {} per batch",
                batch.results.len(),
                limits::MAX_BATCH_RESULTS
            )));
        }
        let Some(through_seq) = batch.results.iter().map(|result| result.seq).max() else { return Ok(None) };
        let received_at = Timestamp::now();
        let window = {
            let settings = self.settings.borrow();
            let offset = SignedDuration::try_from(settings.max_clock_offset).unwrap_or(SignedDuration::ZERO);
            let retention = SignedDuration::try_from(settings.retention).unwrap_or(SignedDuration::MAX);
            (received_at.saturating_sub(retention).unwrap_or(Timestamp::MIN), received_at + offset)
        };
        let identity = &self.identity;
        let mut ingested = IngestBatch {
            agent_id: identity.agent_id.clone(),
            received_at,
            results: Vec::new(),
            chains: Vec::new(),
            refused: Vec::new(),
            checkpoint: None,
            spool_backlog: batch.health.as_ref().map(|health| health.spool_backlog),
        };
        let mut carried = Vec::with_capacity(batch.results.len());
        for result in batch.results {
            if result.agent_id != identity.agent_id || result.region != identity.region {
                return Err(Status::permission_denied(format!(
                    "result {} claims agent {:?} in region {:?}; this session is agent {:?} in region {:?}",
                    result.seq, result.agent_id, result.region, identity.agent_id, identity.region
                )));
            }
            let decoded = ResultRecord::try_from(result.clone()).map_err(|error| error.to_string());
            let chain = self.chain.follow(&result, decoded.as_ref().ok());
            if chain.is_err() {
                self.metrics.count_rejected_evidence("chain_link");
            }
            carried.push((result.seq, chain.clone().ok().flatten()));
            match chain.and_then(|chain| {
                self.assigned(&result)?;
                accept(&result, decoded, window).map(|record| (record, chain))
            }) {
                Ok((record, chain)) => {
                    let flags = self.flags(&record, received_at);
                    ingested.results.push((record, flags));
                    ingested.chains.push(chain);
                }
                Err(reason) => {
                    // Kept as received, but a URL with credentials (from an older agent) is stored redacted.
                    let mut kept = result;
                    if let Some(url) = kept.http.as_mut().and_then(|http| http.final_url.as_mut()) {
                        *url = redacted_url(url);
                    }
                    ingested.refused.push(Refusal { seq: kept.seq, reason, record: kept.encode_to_vec() });
                }
            }
        }
        if let Some(checkpoint) = batch.checkpoint {
            match verify_checkpoint(&identity.agent_id, self.key, checkpoint, &carried) {
                Ok(checkpoint) => ingested.checkpoint = Some(checkpoint),
                Err(reason) => {
                    self.metrics.count_rejected_evidence("checkpoint");
                    refuse_all(&mut ingested, &reason);
                }
            }
        }
        // One line per batch, not per result: an agent whose every result is refused would flood the log.
        if let Some(first) = ingested.refused.first() {
            tracing::warn!(
                agent_id = %identity.agent_id,
                refused = ingested.refused.len(),
                first_seq = first.seq,
                first_reason = %first.reason,
                "Refused results of a batch; each is stored with its reason."
            );
        }
        let (store, metrics) = (self.store.clone(), self.metrics.clone());
        Ok(Some(tokio::spawn(async move {
            let refused = ingested.refused.len() as u64;
            let started = std::time::Instant::now();
            let outcome = store.write_ingested(ingested).await.map_err(unavailable)?;
            metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
            metrics.batches.inc();
            metrics.results_stored.inc_by(outcome.inserted);
            metrics.results_duplicate.inc_by(outcome.duplicates);
            metrics.results_refused.inc_by(refused);
            Ok(Some(v1::collector_message::Body::Ack(v1::Ack { through_seq })))
        })))
    }

    /// With a central check list, only results of checks assigned to the agent's region are taken (an agent
    /// cannot vote for a check of another region), and of the agent's own controls ([`Assignment`]).
    fn assigned(&self, result: &v1::Result) -> Result<(), String> {
        match &self.assignment {
            Some(assignment) => assignment.admits(&result.check_id, result.control, &self.identity.region),
            None => Ok(()),
        }
    }

    fn flags(&self, record: &ResultRecord, received_at: Timestamp) -> ResultFlags {
        let mut flags = ResultFlags::NONE;
        if self.clock_suspect {
            flags = flags | ResultFlags::CLOCK_SUSPECT;
        }
        if self.settings.borrow().is_late(&record.check_id, record.started_at, received_at) {
            flags = flags | ResultFlags::LATE;
        }
        if record.control {
            flags = flags | ResultFlags::CONTROL;
        }
        flags
    }
}

/// Moves every accepted result of `batch` to its refusals with `reason` (a checkpoint that does not verify
/// vouches for nothing in it).
fn refuse_all(batch: &mut IngestBatch, reason: &str) {
    let chains = std::mem::take(&mut batch.chains);
    for (index, (record, _)) in std::mem::take(&mut batch.results).into_iter().enumerate() {
        let record_bytes = stored_record(&record, chains.get(index).copied().flatten());
        batch.refused.push(Refusal {
            seq: record.seq.unwrap_or_default(),
            reason: reason.to_owned(),
            record: record_bytes,
        });
    }
    batch.refused.sort_by_key(|refusal| refusal.seq);
}

fn unavailable(error: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("{error}; nothing acknowledged, send again"))
}

/// The record the store may take, or why not: its failure captures within their bounds, and `started_at` in
/// `(earliest, latest)` (the retention horizon, and now plus the clock bound).
fn accept(
    result: &v1::Result,
    decoded: Result<ResultRecord, String>,
    (earliest, latest): (Timestamp, Timestamp),
) -> Result<ResultRecord, String> {
    if result.seq == 0 {
        return Err("seq 0 is not a sequence number (they start at 1)".to_owned());
    }
    let mut record = decoded?;
    slaprobe_proto::capture::check_bounds(&record)?;
    redact_record(&mut record);
    if record.started_at > latest {
        return Err(format!(
            "started_at {} lies in the future (later than {latest}, now plus the clock bound)",
            record.started_at
        ));
    }
    if record.started_at < earliest {
        return Err(format!(
            "started_at {} is older than the retention horizon ({earliest}); it would be deleted",
            record.started_at
        ));
    }
    Ok(record)
}
