//! Ingest over real gRPC on loopback: acknowledgements after commit, idempotent replays, authentication and
//! bad input.

use std::net::SocketAddr;

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::{ResultRecord, v1};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Code, Request, Status, Streaming};

use super::{Agents, IngestService, IngestSettings};
use crate::config::AgentIdentity;
use crate::digest::token_hash;
use crate::store::ResultFlags;
use crate::store::Store;

struct Fixture {
    address: SocketAddr,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn serve() -> Fixture {
    serve_with(|_| {}).await
}

async fn serve_with(adjust: impl FnOnce(&mut IngestSettings)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let agents = Agents::new(vec![AgentIdentity {
        agent_id: "agent-eu-1".to_owned(),
        region: "eu-west".to_owned(),
        public_key: None,
        client_cert: None,
        enrolment: None,
        token_sha256: token_hash("s3cret"),
    }]);
    let mut settings = IngestSettings::admitting(agents);
    adjust(&mut settings);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = IngestService::new(store.clone(), settings).into_server();
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
    open_presenting(address, token, agent_id, region, Vec::new()).await
}

/// Opens a session whose Hello presents `public_key` (none when empty).
async fn open_presenting(
    address: SocketAddr,
    token: Option<&str>,
    agent_id: &str,
    region: &str,
    public_key: Vec<u8>,
) -> Result<Session, Status> {
    let mut client = v1::collector_client::CollectorClient::connect(format!("http://{address}")).await.unwrap();
    let (to_collector, outbound) = mpsc::channel(16);
    let hello = v1::Hello {
        agent_id: agent_id.to_owned(),
        region: region.to_owned(),
        version: "test".to_owned(),
        spool_backlog: 7,
        public_key,
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
    async fn send(&self, body: v1::agent_message::Body) {
        self.to_collector.send(v1::AgentMessage { body: Some(body) }).await.unwrap();
    }

    async fn send_batch(&self, results: Vec<v1::Result>) {
        self.send(v1::agent_message::Body::Batch(v1::ResultBatch { results, ..Default::default() })).await;
    }

    async fn next(&mut self) -> Result<v1::collector_message::Body, Status> {
        Ok(self.from_collector.message().await?.expect("a message").body.expect("a body"))
    }
}

/// A collector pushing the central checks of `checks_yaml` (a `checks:` document), and agent-eu-1's session
/// with it, past the checks it was pushed.
async fn serve_pushing(checks_yaml: &str) -> (Fixture, Session, v1::CheckConfig) {
    let checks = slaprobe_checks::parse_checks_document(checks_yaml).unwrap();
    let fixture = serve_with(|settings| {
        settings.checks =
            Some(checks.into_iter().map(|prepared| slaprobe_checks::Check::clone(&prepared.check)).collect());
    })
    .await;
    let mut session = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    let v1::collector_message::Body::Config(config) = session.next().await.unwrap() else { panic!("checks pushed") };
    (fixture, session, config)
}

/// Asserts that the refused results are `expected`: their seqs and reasons.
async fn assert_refused(store: &Store, expected: &[(u64, &str)]) {
    let refused = store.refused().await.unwrap();
    let reasons: Vec<(u64, &str)> = refused.iter().map(|refusal| (refusal.seq, refusal.reason.as_str())).collect();
    assert_eq!(reasons, expected);
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
    let mut oversized = result(5, -1);
    oversized.http = Some(v1::HttpDetail { headers: vec!["x: y".to_owned(); 500], ..Default::default() });
    let mut long_error = result(6, -1);
    long_error.ok = false;
    long_error.error_kind = "http".to_owned();
    long_error.error = "e".repeat(20_000);
    let batch = vec![result(1, -1), no_check, result(3, 60), result(4, -1), oversized, long_error];
    session.send_batch(batch).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 6 }));
    let seqs: Vec<u64> = stored(&fixture.store).await.iter().map(|record| record.seq.unwrap()).collect();
    assert_eq!(seqs, [1, 4], "an empty check id, a start an hour ahead, oversized captures and errors are refused");
    let refused = fixture.store.refused().await.unwrap();
    let reasons: Vec<(u64, &str)> = refused.iter().map(|refusal| (refusal.seq, refusal.reason.as_str())).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert_eq!(reasons[3], (6, "error is 20000 bytes, more than 16384"), "{reasons:?}");
    assert_eq!(reasons[0].0, 2);
    assert!(reasons[0].1.contains("check_id"), "the reason names the field: {reasons:?}");
    assert_eq!(reasons[1].0, 3);
    assert!(reasons[1].1.contains("in the future"), "{reasons:?}");
    assert_eq!(reasons[2], (5, "http.headers holds 500 entries, more than 65"), "{reasons:?}");
}

#[tokio::test]
async fn the_registry_records_sessions_clocks_and_gaps_and_flags_suspect_results() {
    let fixture = serve().await;
    let mut session = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    session.send_batch(vec![result(1, -1)]).await;
    session.next().await.unwrap();
    let agents = fixture.store.agents().await.unwrap();
    assert_eq!(agents.len(), 1);
    let agent = &agents[0];
    assert_eq!(
        (agent.agent_id.as_str(), agent.region.as_str(), agent.version.as_str()),
        ("agent-eu-1", "eu-west", "test")
    );
    assert_eq!(agent.spool_backlog, 7);
    assert!(agent.last_seen >= agent.connected_at && agent.clock.is_none());

    // The agent's clock is 3 s behind the collector's: beyond the default 2 s bound.
    let estimate = v1::ClockEstimate { offset_nanos: 3_000_000_000, round_trip_nanos: 800_000 };
    session.send(v1::agent_message::Body::ClockEstimate(estimate)).await;
    session
        .send(v1::agent_message::Body::Gap(v1::SpoolGap {
            first_seq: 2,
            last_seq: 4,
            reason: "spool_full".into(),
            ..Default::default()
        }))
        .await;
    session
        .send(v1::agent_message::Body::Gap(v1::SpoolGap {
            first_seq: 2,
            last_seq: 5,
            reason: "spool_full".into(),
            ..Default::default()
        }))
        .await;
    session
        .send(v1::agent_message::Body::Gap(v1::SpoolGap {
            first_seq: 9,
            last_seq: 8,
            reason: "bogus".into(),
            ..Default::default()
        }))
        .await;
    session.send_batch(vec![result(6, -1)]).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 6 }));
    let clock = fixture.store.agents().await.unwrap()[0].clock.expect("a clock reading");
    assert_eq!((clock.offset_nanos, clock.round_trip_nanos), (3_000_000_000, 800_000));
    let gaps: Vec<(u64, u64)> =
        fixture.store.gaps().await.unwrap().iter().map(|gap| (gap.first_seq, gap.last_seq)).collect();
    assert_eq!(gaps, [(2, 5)], "a gap reported again merges; a reversed range is ignored");
    let flagged = fixture.store.flagged_results("agent-eu-1").await.unwrap();
    assert_eq!(flagged, [(6, ResultFlags::CLOCK_SUSPECT)], "only results after the estimate are flagged");

    let estimate = v1::ClockEstimate { offset_nanos: -1_500_000_000, round_trip_nanos: 800_000 };
    session.send(v1::agent_message::Body::ClockEstimate(estimate)).await;
    session.send_batch(vec![result(7, -1)]).await;
    session.next().await.unwrap();
    let flagged = fixture.store.flagged_results("agent-eu-1").await.unwrap();
    assert_eq!(flagged.len(), 1, "back within the bound, results are no longer flagged: {flagged:?}");
}

#[tokio::test]
async fn results_of_checks_not_assigned_to_the_region_are_refused_with_the_reason() {
    let (fixture, mut session, config) = serve_pushing(
        "checks:\n  - { id: acme-api, kind: tcp, target: \"127.0.0.1:1\", interval: 60s, timeout: 5s }\n\
         \x20 - { id: us-only, kind: tcp, target: \"127.0.0.1:1\", interval: 60s, regions: [us-east] }\n",
    )
    .await;
    assert!(config.checks_yaml.contains("acme-api") && !config.checks_yaml.contains("us-only"));
    let mut retired = result(2, -1);
    retired.check_id = "retired-check".to_owned();
    let mut foreign = result(3, -1);
    foreign.check_id = "us-only".to_owned();
    session.send_batch(vec![result(1, -1), retired, foreign]).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 3 }));
    let seqs: Vec<u64> = stored(&fixture.store).await.iter().map(|record| record.seq.unwrap()).collect();
    assert_eq!(seqs, [1]);
    assert_refused(
        &fixture.store,
        &[
            (2, "check \"retired-check\" is not assigned to region eu-west"),
            (3, "check \"us-only\" is not assigned to region eu-west"),
        ],
    )
    .await;
    assert!(fixture.store.flagged_results("agent-eu-1").await.unwrap().is_empty());
}

#[tokio::test]
async fn control_results_are_taken_only_as_controls_and_flagged() {
    let (fixture, mut session, config) = serve_pushing(
        "checks:\n  - { id: acme-api, kind: tcp, target: \"127.0.0.1:1\", interval: 60s, timeout: 5s }\n\
         \x20 - { id: ctl-gw, kind: tcp, target: \"127.0.0.1:2\", interval: 60s, timeout: 5s, control: true }\n",
    )
    .await;
    assert!(config.checks_yaml.contains("control: true"), "{}", config.checks_yaml);
    let control = |seq: u64, check: &str, marked: bool| {
        let mut result = result(seq, -1);
        result.check_id = check.to_owned();
        result.control = marked;
        result
    };
    let batch = vec![
        control(1, "ctl-gw", true),
        control(2, "ctl-own", true),
        control(3, "acme-api", true),
        control(4, "ctl-gw", false),
    ];
    session.send_batch(batch).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 4 }));
    let flagged = fixture.store.flagged_results("agent-eu-1").await.unwrap();
    let taken: Vec<(u64, Vec<&str>)> = flagged.iter().map(|(seq, flags)| (*seq, flags.names())).collect();
    assert_eq!(taken, [(1, vec!["control"]), (2, vec!["control"])], "the central control and the agent's own");
    assert_refused(
        &fixture.store,
        &[
            (3, "check \"acme-api\" is not a control check; it is measured, not a control"),
            (4, "check \"ctl-gw\" is a control check; its results must be marked `control`"),
        ],
    )
    .await;
}

#[tokio::test]
async fn oversized_and_undecodable_messages_end_the_session_and_harm_nothing() {
    let fixture = serve().await;
    let mut session = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    session.send_batch(vec![result(1, -1)]).await;
    session.next().await.unwrap();
    let mut huge = result(2, -1);
    huge.error = "x".repeat(super::MAX_MESSAGE + 1);
    session.send_batch(vec![huge]).await;
    let refused = session.next().await.unwrap_err();
    assert_eq!(refused.code(), Code::OutOfRange, "{refused}");

    let status = send_undecodable(fixture.address).await;
    assert_eq!(status.code(), Code::Internal, "{status}");
    assert!(status.message().contains("decode"), "{status}");

    let mut session = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    session.send_batch(vec![result(3, -1)]).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 3 }));
    let seqs: Vec<u64> = stored(&fixture.store).await.iter().map(|record| record.seq.unwrap()).collect();
    assert_eq!(seqs, [1, 3], "the store holds what was acknowledged, nothing else");
}

/// A message whose field 2 (the batch) is not a valid `ResultBatch` encoding.
#[derive(Clone, PartialEq, prost::Message)]
struct Undecodable {
    #[prost(message, optional, tag = "1")]
    hello: Option<v1::Hello>,
    #[prost(bytes = "vec", tag = "2")]
    batch: Vec<u8>,
}

/// Opens a session with a valid Hello, then sends bytes that do not decode; returns how the stream ended.
async fn send_undecodable(address: SocketAddr) -> Status {
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let hello = v1::Hello { agent_id: "agent-eu-1".into(), region: "eu-west".into(), ..Default::default() };
    let messages = vec![
        Undecodable { hello: Some(hello), batch: Vec::new() },
        Undecodable { hello: None, batch: vec![0xff, 0xff, 0xff, 0xff] },
    ];
    let mut request = Request::new(tokio_stream::iter(messages));
    request.metadata_mut().insert("authorization", "Bearer s3cret".parse().unwrap());
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/slaprobe.v1.Collector/Session");
    let codec = tonic_prost::ProstCodec::<Undecodable, v1::CollectorMessage>::default();
    match grpc.streaming(request, path, codec).await {
        Ok(response) => {
            let mut inbound = response.into_inner();
            loop {
                match inbound.message().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("the collector ended the stream without an error"),
                    Err(status) => return status,
                }
            }
        }
        Err(status) => status,
    }
}

#[tokio::test]
async fn a_reload_that_removes_the_token_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let identity = AgentIdentity {
        agent_id: "agent-eu-1".to_owned(),
        region: "eu-west".to_owned(),
        public_key: None,
        client_cert: None,
        enrolment: None,
        token_sha256: token_hash("s3cret"),
    };
    let (settings, watched) =
        tokio::sync::watch::channel(std::sync::Arc::new(IngestSettings::admitting(Agents::new(vec![identity]))));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = IngestService::reloading(store, watched).into_server();
    tokio::spawn(
        tonic::transport::Server::builder().add_service(service).serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let mut session = open(address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    session.send_batch(vec![result(1, -1)]).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 1 }));
    settings.send_replace(std::sync::Arc::new(IngestSettings::default()));
    let ended = session.next().await.unwrap_err();
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended}");
    assert!(ended.message().contains("removed"), "{ended}");
}

#[tokio::test]
async fn a_gap_records_only_what_the_store_does_not_hold() {
    // The agent's spool dropped 9–14 while 10–12 were on their way: those arrive, and are not "lost".
    let fixture = serve().await;
    let mut session = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    session.send_batch(vec![result(10, -1), result(11, -1), result(12, -1)]).await;
    let gap = v1::SpoolGap { first_seq: 9, last_seq: 14, reason: "spool_full".into(), ..Default::default() };
    session.send(v1::agent_message::Body::Gap(gap)).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 12 }));
    session.send_batch(vec![result(15, -1)]).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 15 }));
    let gaps: Vec<(u64, u64)> =
        fixture.store.gaps().await.unwrap().iter().map(|gap| (gap.first_seq, gap.last_seq)).collect();
    assert_eq!(gaps, [(9, 9), (13, 14)]);
    let seqs: Vec<u64> = stored(&fixture.store).await.iter().filter_map(|record| record.seq).collect();
    assert_eq!(seqs, [10, 11, 12, 15]);
}

#[tokio::test]
async fn a_new_session_of_the_same_agent_replaces_the_older_one() {
    let fixture = serve().await;
    let mut older = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    let mut newer = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    let ended = older.next().await.unwrap_err();
    assert_eq!(ended.code(), Code::Aborted, "{ended}");
    assert!(ended.message().contains("replaced by a newer session"), "{ended}");
    newer.send_batch(vec![result(1, -1)]).await;
    assert_eq!(newer.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 1 }));
}

#[tokio::test]
async fn a_stream_that_sends_no_hello_is_closed_after_ten_seconds() {
    let fixture = serve().await;
    let mut client =
        v1::collector_client::CollectorClient::connect(format!("http://{}", fixture.address)).await.unwrap();
    let (_silent, outbound) = mpsc::channel::<v1::AgentMessage>(1);
    let mut request = Request::new(ReceiverStream::new(outbound));
    request.metadata_mut().insert("authorization", "Bearer s3cret".parse().unwrap());
    let started = std::time::Instant::now();
    let refused = client.session(request).await.expect_err("closed without a Hello");
    assert_eq!(refused.code(), Code::DeadlineExceeded, "{refused}");
    let waited = started.elapsed();
    assert!(waited >= super::HELLO_TIMEOUT && waited < super::HELLO_TIMEOUT * 2, "closed after {waited:?}");
}

#[tokio::test]
async fn a_batch_over_the_result_cap_ends_the_session_and_stores_nothing() {
    let fixture = serve().await;
    let mut session = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    let count = slaprobe_proto::limits::MAX_BATCH_RESULTS as u64 + 1;
    session.send_batch((1..=count).map(|seq| result(seq, -1)).collect()).await;
    let refused = session.next().await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
    assert!(refused.message().contains("at most 1000 per batch"), "{refused}");
    assert!(stored(&fixture.store).await.is_empty());
}

#[tokio::test]
async fn a_check_list_too_large_for_one_message_is_refused_in_words() {
    let mut yaml = String::from("checks:\n");
    for index in 0..12_000 {
        let path = "p".repeat(300);
        yaml.push_str(&format!(
            "  - {{ id: c{index}, kind: http, target: \"http://127.0.0.1:1/{path}\", interval: 60s }}\n"
        ));
    }
    let checks = slaprobe_checks::parse_checks_document(&yaml).unwrap();
    let fixture = serve_with(|settings| {
        settings.checks =
            Some(checks.into_iter().map(|prepared| slaprobe_checks::Check::clone(&prepared.check)).collect());
    })
    .await;
    let mut session = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.unwrap();
    let v1::collector_message::Body::Config(config) = session.next().await.unwrap() else { panic!("a config") };
    assert!(config.checks_yaml.is_empty(), "nothing pushed");
    assert!(config.refused.contains("region eu-west") && config.refused.contains("over the limit"), "{config:?}");
    session.send_batch(vec![result(1, -1)]).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 1 }));
}

mod evidence;

#[test]
fn each_agent_probing_a_check_gets_its_turn_across_the_interval() {
    let identity = |agent_id: &str, region: &str| crate::config::AgentIdentity {
        agent_id: agent_id.to_owned(),
        region: region.to_owned(),
        token_sha256: String::new(),
        public_key: None,
        client_cert: None,
        enrolment: None,
    };
    let agents = Agents::new(vec![
        identity("edge-c", "ap"),
        identity("edge-a", "eu"),
        identity("edge-b", "us"),
        identity("x", "eu"),
    ]);
    let checks = slaprobe_checks::parse_checks_document(
        "checks:\n  - { id: api, kind: tcp, target: \"127.0.0.1:1\", interval: 60s, regions: [eu, us, ap] }\n\
         \x20 - { id: pinned, kind: tcp, target: \"127.0.0.1:1\", interval: 60s, phase: 7s }\n",
    )
    .unwrap();
    let mut settings = IngestSettings::admitting(agents);
    settings.checks = Some(checks.into_iter().map(|prepared| slaprobe_checks::Check::clone(&prepared.check)).collect());
    let phases = |agent: &str, region: &str| -> Vec<(String, Option<std::time::Duration>)> {
        let pushed = settings.pushed_config(agent, region).unwrap();
        let checks = slaprobe_checks::parse_checks_document(&pushed.checks_yaml).unwrap();
        checks.into_iter().map(|prepared| (prepared.check.id.clone(), prepared.check.phase)).collect()
    };
    let base = slaprobe_checks::slot_offset("api", std::time::Duration::from_secs(60)).as_millis() as u64;
    let turn = |quarter: u64| Some(std::time::Duration::from_millis((base + quarter * 15_000) % 60_000));
    let pinned = ("pinned".to_owned(), Some(std::time::Duration::from_secs(7)));
    // Four agents run `api` (sorted: edge-a, edge-b, edge-c, x): a quarter of the interval apart.
    assert_eq!(phases("edge-a", "eu"), [("api".to_owned(), turn(0)), pinned.clone()]);
    assert_eq!(phases("edge-b", "us"), [("api".to_owned(), turn(1)), pinned.clone()]);
    assert_eq!(phases("edge-c", "ap"), [("api".to_owned(), turn(2)), pinned.clone()]);
    assert_eq!(phases("x", "eu"), [("api".to_owned(), turn(3)), pinned.clone()], "a phase of its own is kept");
    // Enrolled agents (not configured) each get a spot of their own from their name, not all the same one.
    let spot = |agent: &str| slaprobe_checks::slot_offset(&format!("api/{agent}"), std::time::Duration::from_secs(60));
    assert_eq!(phases("node-1", "eu"), [("api".to_owned(), Some(spot("node-1"))), pinned.clone()]);
    assert_eq!(phases("node-2", "eu"), [("api".to_owned(), Some(spot("node-2"))), pinned]);
    assert_ne!(spot("node-1"), spot("node-2"));
}
