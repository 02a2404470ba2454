//! What signed evidence costs at ingest, for `bench_ingest`: the same results streamed over gRPC into a fresh
//! collector's ingest service and SQLite store twice, once as today's agents send them (each result with its
//! chain value, a signed checkpoint every two batches of 500, the key in Hello) and once as agents older than
//! signing did (no chain, no checkpoints, no key). The driver sends prepared batches as fast as the window of
//! acknowledgements allows, so only the collector's work differs between the two.

use std::time::Instant;

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use slaprobe_collector::ingest::{Agents, IngestService, IngestSettings};
use slaprobe_collector::store::Store;
use slaprobe_proto::evidence::{GENESIS, Statement, canonical, link};
use slaprobe_proto::{ResultRecord, v1};

use crate::ingest_baseline::bench_identities;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};

/// Results per batch, as the agent sends them.
const BATCH: usize = 500;
/// Batches sent ahead of their acknowledgements, at most (the agent's window is 5,000 results).
const WINDOW: usize = 10;

/// One agent's prepared session: its Hello and batches.
pub struct Stream {
    hello: v1::Hello,
    batches: Vec<v1::ResultBatch>,
}

/// Each agent's results (`rows[agent]`, seq assigned) as today's agents send them (`signed`) or as older ones did.
pub fn prepare(rows: &[Vec<ResultRecord>], signed: bool) -> Vec<Stream> {
    rows.iter()
        .enumerate()
        .map(|(agent, records)| {
            let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("key");
            let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).expect("key pair");
            let agent_id = format!("agent-{agent}");
            let mut previous = GENESIS;
            let mut batches = Vec::new();
            for (index, chunk) in records.chunks(BATCH).enumerate() {
                let mut results = Vec::with_capacity(chunk.len());
                for record in chunk {
                    let mut result = v1::Result::from(record);
                    if signed {
                        previous = link(&previous, &canonical(record).expect("canonical"));
                        result.chain = previous.to_vec();
                    }
                    results.push(result);
                }
                let last = results.last().map_or(0, |result| result.seq);
                let checkpoint = (signed && index % 2 == 0).then(|| {
                    let statement = Statement::Checkpoint { agent_id: agent_id.clone(), seq: last, chain: previous };
                    let signature = pair.sign(&statement.signed_bytes()).as_ref().to_vec();
                    v1::Checkpoint { seq: last, chain: previous.to_vec(), signature }
                });
                batches.push(v1::ResultBatch { results, checkpoint, health: None });
            }
            let hello = v1::Hello {
                agent_id,
                region: format!("region-{agent}"),
                version: "bench".to_owned(),
                public_key: if signed { pair.public_key().as_ref().to_vec() } else { Vec::new() },
                ..Default::default()
            };
            Stream { hello, batches }
        })
        .collect()
}

/// Results per second: every stream sent to a fresh collector storing in `database`, until all are acknowledged.
pub async fn ingest_rate(database: &std::path::Path, streams: Vec<Stream>) -> f64 {
    let store = Store::open_sqlite(database).expect("store");
    let identities = bench_identities(streams.len());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let service = IngestService::new(store, IngestSettings::admitting(Agents::new(identities))).into_server();
    let server = tokio::spawn(
        tonic::transport::Server::builder().add_service(service).serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let total: usize = streams.iter().flat_map(|stream| &stream.batches).map(|batch| batch.results.len()).sum();
    let started = Instant::now();
    let sessions: Vec<_> =
        streams.into_iter().enumerate().map(|(agent, stream)| tokio::spawn(send(address, agent, stream))).collect();
    for session in sessions {
        session.await.expect("session task");
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    server.abort();
    rate
}

async fn send(address: std::net::SocketAddr, agent: usize, stream: Stream) {
    let mut client =
        v1::collector_client::CollectorClient::connect(format!("http://{address}")).await.expect("connect");
    let (to_collector, outbound) = mpsc::channel(WINDOW + 1);
    let body = |body| v1::AgentMessage { body: Some(body) };
    to_collector.send(body(v1::agent_message::Body::Hello(stream.hello))).await.expect("hello");
    let mut request = tonic::Request::new(ReceiverStream::new(outbound));
    let token = format!("Bearer token-{agent}").parse().expect("metadata");
    request.metadata_mut().insert("authorization", token);
    let mut inbound = client.session(request).await.expect("session").into_inner();
    let last_seq = stream.batches.last().and_then(|batch| batch.results.last()).map_or(0, |result| result.seq);
    let mut batches = stream.batches.into_iter();
    let mut in_flight = 0;
    loop {
        while in_flight < WINDOW {
            let Some(batch) = batches.next() else { break };
            to_collector.send(body(v1::agent_message::Body::Batch(batch))).await.expect("send");
            in_flight += 1;
        }
        match inbound.message().await.expect("a message").and_then(|message| message.body) {
            Some(v1::collector_message::Body::Ack(ack)) => {
                in_flight -= 1;
                if ack.through_seq >= last_seq {
                    return;
                }
            }
            Some(_) => {}
            None => panic!("the session ended early"),
        }
    }
}
