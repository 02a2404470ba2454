//! The agent's uplink against the collector's real ingest service on loopback: the spool is delivered into the
//! SQLite store exactly once, the spool empties as acknowledgements arrive, and a collector that is not there
//! yet is retried until it is.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_agent::spool::Spool;
use slaprobe_agent::uplink::{self, Links};
use slaprobe_collector::config::AgentIdentity;
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::ingest::{Agents, IngestService, IngestSettings};
use slaprobe_collector::metrics::CollectorMetrics;
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::plaintext_uplink;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::{log_capture, wait};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

fn record(index: i64) -> ResultRecord {
    serde_json::from_value(serde_json::json!({
        "check_id": "acme-api", "region": "eu-west", "agent_id": "agent-eu-1",
        "started_at": (Timestamp::now() - SignedDuration::from_secs(3600 - index)).to_string(),
        "ok": index % 10 != 3, "duration_ms": 5.5,
    }))
    .unwrap()
}

fn spool_with(dir: &std::path::Path, count: i64) -> Arc<Mutex<Spool>> {
    let mut spool = Spool::open(dir, 64 * 1024 * 1024).unwrap();
    for index in 0..count {
        spool.append(&mut record(index)).unwrap();
    }
    spool.sync().unwrap();
    Arc::new(Mutex::new(spool))
}

async fn serve_on(listener: TcpListener, store: Store) -> Arc<CollectorMetrics> {
    let agents = Agents::new(vec![AgentIdentity {
        agent_id: "agent-eu-1".to_owned(),
        region: "eu-west".to_owned(),
        token_sha256: token_hash("s3cret"),
        public_key: None,
        client_cert: None,
        enrolment: None,
    }]);
    let metrics = Arc::new(CollectorMetrics::default());
    let service =
        IngestService::new(store, IngestSettings::admitting(agents)).with_metrics(metrics.clone()).into_server();
    tokio::spawn(
        tonic::transport::Server::builder().add_service(service).serve_with_incoming(TcpListenerStream::new(listener)),
    );
    metrics
}

async fn stored(store: &Store) -> Vec<ResultRecord> {
    let far = "2100-01-01T00:00:00Z".parse().unwrap();
    store.results_between(&["acme-api".to_owned()], Timestamp::UNIX_EPOCH, far).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_spool_is_delivered_exactly_once_even_to_a_late_collector() {
    log_capture::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let spool = spool_with(&dir.path().join("spool"), 2_000);
    // Learn a free port, release it, and let the agent find nobody there at first.
    let address = free_addr();
    let settings = plaintext_uplink(dir.path(), address, "s3cret", "agent-eu-1", "eu-west");
    let appended = Arc::new(Notify::new());
    let shutdown = CancellationToken::new();
    let uplink = tokio::spawn(uplink::run(
        settings,
        spool.clone(),
        Links { appended: appended.clone(), ..Links::detached() },
        shutdown.clone(),
    ));
    // It tries, fails to connect, and keeps trying.
    wait::until(Duration::from_secs(10), "two failed connection attempts", async || {
        log_capture::lines_with(&["Collector session ended", &address.to_string(), "cannot connect"]).len() >= 2
    })
    .await;
    assert_eq!(spool.lock().unwrap().backlog(), 2_000, "nothing leaves the spool unacknowledged");

    serve_on(TcpListener::bind(address).await.unwrap(), store.clone()).await;
    wait::until(Duration::from_secs(30), "the spool to be delivered", async || stored(&store).await.len() == 2_000)
        .await;
    wait::until(Duration::from_secs(10), "the acknowledgements", async || spool.lock().unwrap().acked() == 2_000).await;
    assert_eq!(spool.lock().unwrap().backlog(), 0);

    // Results appended while connected follow at once.
    {
        let mut spool = spool.lock().unwrap();
        spool.append(&mut record(2_000)).unwrap();
        spool.sync().unwrap();
    }
    appended.notify_one();
    wait::until(Duration::from_secs(10), "the new result", async || stored(&store).await.len() == 2_001).await;
    let seqs: Vec<u64> = stored(&store).await.iter().map(|record| record.seq.unwrap()).collect();
    assert_eq!(seqs, (1..=2_001).collect::<Vec<u64>>(), "every seq exactly once, in order");
    shutdown.cancel();
    uplink.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_keeps_everything_in_the_spool() {
    log_capture::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let spool = spool_with(&dir.path().join("spool"), 10);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let metrics = serve_on(listener, store.clone()).await;
    let settings = plaintext_uplink(dir.path(), address, "wrong", "agent-eu-1", "eu-west");
    let shutdown = CancellationToken::new();
    let uplink = tokio::spawn(uplink::run(settings, spool.clone(), Links::detached(), shutdown.clone()));
    // The collector refuses the session itself (not a connection failure), again on every retry.
    wait::until(Duration::from_secs(10), "two refused sessions", async || {
        log_capture::lines_with(&[
            "Collector session ended",
            &address.to_string(),
            "valid authentication credentials",
            "unknown agent token",
        ])
        .len()
            >= 2
    })
    .await;
    shutdown.cancel();
    uplink.await.unwrap();
    assert!(stored(&store).await.is_empty());
    assert!(store.agents().await.unwrap().is_empty(), "no session was recorded for the agent");
    assert_eq!(spool.lock().unwrap().backlog(), 10, "nothing is deleted without an acknowledgement");

    // The collector counted every refusal and said so once, naming where the sessions came from.
    let text = metrics.encode().unwrap();
    let counted = text
        .lines()
        .find_map(|line| {
            line.strip_prefix("slaprobe_collector_agent_sessions_refused_total{reason=\"unknown_token\"} ")
        })
        .and_then(|count| count.parse::<u64>().ok());
    assert!(counted.is_some_and(|count| count >= 2), "{text}");
    let said = log_capture::lines_with(&["Refused an agent session.", "remote=127.0.0.1", "reason=\"unknown_token\""]);
    assert_eq!(said.len(), 1, "logged once a minute at most: {said:?}");
}

/// A collector that acknowledges far more than it was sent, counting the sessions opened with it.
#[derive(Clone, Default)]
struct OverAcknowledging {
    sessions: Arc<std::sync::atomic::AtomicU32>,
}

#[tonic::async_trait]
impl slaprobe_proto::v1::collector_server::Collector for OverAcknowledging {
    type SessionStream =
        tokio_stream::wrappers::ReceiverStream<Result<slaprobe_proto::v1::CollectorMessage, tonic::Status>>;

    async fn session(
        &self,
        request: tonic::Request<tonic::Streaming<slaprobe_proto::v1::AgentMessage>>,
    ) -> Result<tonic::Response<Self::SessionStream>, tonic::Status> {
        use slaprobe_proto::v1::{Ack, CollectorMessage, agent_message, collector_message};
        self.sessions.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut inbound = request.into_inner();
        let (outbound, messages) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                if let Some(agent_message::Body::Batch(_)) = message.body {
                    let ack = collector_message::Body::Ack(Ack { through_seq: 1_000_000 });
                    let _ = outbound.send(Ok(CollectorMessage { body: Some(ack) })).await;
                }
            }
        });
        Ok(tonic::Response::new(tokio_stream::wrappers::ReceiverStream::new(messages)))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledgement_of_results_never_sent_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with(&dir.path().join("spool"), 10);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let rogue = OverAcknowledging::default();
    let service = slaprobe_proto::v1::collector_server::CollectorServer::new(rogue.clone())
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    tokio::spawn(
        tonic::transport::Server::builder().add_service(service).serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let settings = plaintext_uplink(dir.path(), address, "s3cret", "agent-eu-1", "eu-west");
    let shutdown = CancellationToken::new();
    let uplink = tokio::spawn(uplink::run(settings, spool.clone(), Links::detached(), shutdown.clone()));
    let sessions = || rogue.sessions.load(std::sync::atomic::Ordering::SeqCst);
    wait::until(Duration::from_secs(10), "a second session after the bad acknowledgement", async || sessions() >= 2)
        .await;
    shutdown.cancel();
    uplink.await.unwrap();
    let spool = spool.lock().unwrap();
    assert_eq!((spool.acked(), spool.backlog()), (0, 10), "nothing acknowledged, nothing deleted");
}
