//! One agent's session after Hello: batches are checked, stored and acknowledged; clock probes are echoed;
//! spool gaps are logged (they become evidence-coverage records with the store's gap table).

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::{ResultRecord, v1};
use tokio::sync::mpsc;
use tonic::{Status, Streaming};

use super::{AgentIdentity, MAX_FUTURE};
use crate::store::Store;

type Outbound = mpsc::Sender<Result<v1::CollectorMessage, Status>>;

/// Serves the session until the agent closes it, the connection drops, or the agent breaks the protocol.
pub async fn run(store: Store, identity: AgentIdentity, mut inbound: Streaming<v1::AgentMessage>, outbound: Outbound) {
    loop {
        let message = match inbound.message().await {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(status) => {
                tracing::info!(agent_id = %identity.agent_id, %status, "Agent session ended.");
                return;
            }
        };
        let reply = match message.body {
            Some(v1::agent_message::Body::Batch(batch)) => handle_batch(&store, &identity, batch).await,
            Some(v1::agent_message::Body::Clock(probe)) => {
                Ok(Some(v1::collector_message::Body::Clock(v1::ClockEcho {
                    agent_unix_nanos: probe.agent_unix_nanos,
                    collector_unix_nanos: i64::try_from(Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX),
                })))
            }
            Some(v1::agent_message::Body::Gap(gap)) => {
                tracing::warn!(
                    agent_id = %identity.agent_id, first = gap.first_seq, last = gap.last_seq, reason = %gap.reason,
                    "Agent reports results its spool dropped."
                );
                Ok(None)
            }
            Some(v1::agent_message::Body::Hello(_)) => Err(Status::invalid_argument("Hello may only open a session")),
            None => Err(Status::invalid_argument("empty agent message")),
        };
        let sent = match reply {
            Ok(Some(body)) => outbound.send(Ok(v1::CollectorMessage { body: Some(body) })).await,
            Ok(None) => Ok(()),
            Err(status) => {
                tracing::warn!(agent_id = %identity.agent_id, %status, "Closed an agent session.");
                let _ = outbound.send(Err(status)).await;
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
    tracing::info!(agent_id = %identity.agent_id, "Agent disconnected.");
}

/// Checks, stores and acknowledges one batch.
async fn handle_batch(
    store: &Store,
    identity: &AgentIdentity,
    batch: v1::ResultBatch,
) -> Result<Option<v1::collector_message::Body>, Status> {
    let Some(through_seq) = batch.results.iter().map(|result| result.seq).max() else { return Ok(None) };
    let latest_allowed = Timestamp::now() + SignedDuration::try_from(MAX_FUTURE).unwrap_or(SignedDuration::ZERO);
    let mut accepted = Vec::with_capacity(batch.results.len());
    for result in batch.results {
        if result.agent_id != identity.agent_id || result.region != identity.region {
            return Err(Status::permission_denied(format!(
                "result {} claims agent {:?} in region {:?}; this session is agent {:?} in region {:?}",
                result.seq, result.agent_id, result.region, identity.agent_id, identity.region
            )));
        }
        let seq = result.seq;
        match check(result, latest_allowed) {
            Ok(record) => accepted.push(record),
            Err(reason) => tracing::warn!(agent_id = %identity.agent_id, seq, %reason, "Refused a result."),
        }
    }
    store
        .write_results(accepted)
        .await
        .map_err(|error| Status::unavailable(format!("{error}; nothing acknowledged, send again")))?;
    Ok(Some(v1::collector_message::Body::Ack(v1::Ack { through_seq })))
}

/// A result the store may take, or why not.
fn check(result: v1::Result, latest_allowed: Timestamp) -> Result<ResultRecord, String> {
    if result.seq == 0 {
        return Err("seq 0 is not a sequence number (they start at 1)".to_owned());
    }
    let record = ResultRecord::try_from(result).map_err(|error| error.to_string())?;
    if record.started_at > latest_allowed {
        return Err(format!("started_at {} is more than {} s in the future", record.started_at, MAX_FUTURE.as_secs()));
    }
    Ok(record)
}
