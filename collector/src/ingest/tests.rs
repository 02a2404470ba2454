//! Ingest over real gRPC on loopback: acknowledgements after commit, idempotent replays, authentication and
//! bad input.

use std::net::SocketAddr;

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::{ResultRecord, v1};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Code, Request, Status, Streaming};

use super::auth::token_hash;
use super::{AgentIdentity, Agents, IngestService};
use crate::store::Store;

struct Fixture {
    address: SocketAddr,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn serve() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let agents = Agents::new(vec![AgentIdentity {
        agent_id: "agent-eu-1".to_owned(),
        region: "eu-west".to_owned(),
        token_sha256: token_hash("s3cret"),
    }]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = IngestService::new(store.clone(), agents).into_server();
    tokio::spawn(
        tonic::transport::Server::builder().add_service(service).serve_with_incoming(TcpListenerStream::new(listener)),
    );
    Fixture { address, store, _dir: dir }
}

struct Session {
    to_collector: mpsc::Sender<v1::AgentMessage>,
    from_collector: Streaming<v1::CollectorMessage>,
}

async fn open(address: SocketAddr, token: Option<&str>, agent_id: &str, region: &str) -> Result<Session, Status> {
    let mut client = v1::collector_client::CollectorClient::connect(format!("http://{address}")).await.unwrap();
    let (to_collector, outbound) = mpsc::channel(16);
    let hello = v1::Hello {
        agent_id: agent_id.to_owned(),
        region: region.to_owned(),
        version: "test".to_owned(),
        ..Default::default()
    };
    to_collector.send(v1::AgentMessage { body: Some(v1::agent_message::Body::Hello(hello)) }).await.unwrap();
    let mut request = Request::new(ReceiverStream::new(outbound));
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let from_collector = client.session(request).await?.into_inner();
    Ok(Session { to_collector, from_collector })
}

fn result(seq: u64, minutes_from_now: i64) -> v1::Result {
    let record: ResultRecord = serde_json::from_value(serde_json::json!({
        "check_id": "acme-api", "region": "eu-west", "agent_id": "agent-eu-1", "seq": seq,
        "started_at": (Timestamp::now() + SignedDuration::from_mins(minutes_from_now)).to_string(),
        "ok": true, "duration_ms": 10.0,
    }))
    .unwrap();
    v1::Result::from(&record)
}

impl Session {
    async fn send_batch(&self, results: Vec<v1::Result>) {
        let batch = v1::ResultBatch { results, ..Default::default() };
        self.to_collector.send(v1::AgentMessage { body: Some(v1::agent_message::Body::Batch(batch)) }).await.unwrap();
    }

    async fn next(&mut self) -> Result<v1::collector_message::Body, Status> {
        Ok(self.from_collector.message().await?.expect("a message").body.expect("a body"))
    }
}

async fn stored(store: &Store) -> Vec<ResultRecord> {
    let far = "2100-01-01T00:00:00Z".parse().unwrap();
    store.results_between(&["acme-api".to_owned()], Timestamp::UNIX_EPOCH, far).await.unwrap()
}

#[tokio::test]
async fn batches_are_acknowledged_after_commit_and_replays_change_nothing() {
    let fixture = serve().await;
    let mut session = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    session.send_batch((1..=3).map(|seq| result(seq, -1)).collect()).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 3 }));
    assert_eq!(stored(&fixture.store).await.len(), 3, "stored before the ack arrived");
    session.send_batch((2..=4).map(|seq| result(seq, -1)).collect()).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 4 }));
    let seqs: Vec<u64> = stored(&fixture.store).await.iter().map(|record| record.seq.unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4], "the replayed results 2 and 3 are not duplicated");

    let probe = v1::ClockProbe { agent_unix_nanos: 42 };
    session.to_collector.send(v1::AgentMessage { body: Some(v1::agent_message::Body::Clock(probe)) }).await.unwrap();
    let v1::collector_message::Body::Clock(echo) = session.next().await.unwrap() else { panic!("a clock echo") };
    assert_eq!(echo.agent_unix_nanos, 42);
    assert!(echo.collector_unix_nanos > 0);
}

#[tokio::test]
async fn tokens_and_identities_are_enforced() {
    let fixture = serve().await;
    let missing = open(fixture.address, None, "agent-eu-1", "eu-west").await.err().expect("refused");
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing}");
    let wrong = open(fixture.address, Some("guess"), "agent-eu-1", "eu-west").await.err().expect("refused");
    assert_eq!(wrong.code(), Code::Unauthenticated, "{wrong}");
    let impostor = open(fixture.address, Some("s3cret"), "agent-us-1", "us-east").await.err().expect("refused");
    assert_eq!(impostor.code(), Code::PermissionDenied, "{impostor}");
    assert!(impostor.message().contains("agent \"agent-eu-1\" in region \"eu-west\""), "{impostor}");

    let mut session = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    let mut foreign = result(1, -1);
    foreign.region = "us-east".to_owned();
    session.send_batch(vec![foreign]).await;
    assert_eq!(session.next().await.unwrap_err().code(), Code::PermissionDenied);
    assert!(stored(&fixture.store).await.is_empty(), "nothing stored from refused sessions");
}

#[tokio::test]
async fn bad_results_are_refused_with_a_reason_and_the_rest_stored() {
    let fixture = serve().await;
    let mut session = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    let mut no_check = result(2, -1);
    no_check.check_id.clear();
    session.send_batch(vec![result(1, -1), no_check, result(3, 60), result(4, -1)]).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 4 }));
    let seqs: Vec<u64> = stored(&fixture.store).await.iter().map(|record| record.seq.unwrap()).collect();
    assert_eq!(seqs, [1, 4], "an empty check id and a start an hour ahead are refused; the batch still counts");
}
