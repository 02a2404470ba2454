//! Evidence at ingest over real gRPC: an agent's key recorded at first sight and refused when it changes until
//! pinned; chain links and checkpoints verified, with what does not verify refused with the reason; gap
//! statements kept signed, or unsigned when their signature is forged.

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use slaprobe_proto::evidence::{Chain, GENESIS, PublicKey, Statement, canonical, link};

use super::*;

/// A test agent: a key pair and the chain so far.
struct Agent {
    pair: Ed25519KeyPair,
    previous: Chain,
}

impl Agent {
    fn new() -> Self {
        let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Self { pair: Ed25519KeyPair::from_pkcs8(document.as_ref()).unwrap(), previous: GENESIS }
    }

    fn key(&self) -> PublicKey {
        PublicKey::from_bytes(self.pair.public_key().as_ref()).unwrap()
    }

    async fn open(&self, address: SocketAddr) -> Result<Session, Status> {
        open_presenting(address, Some("s3cret"), "agent-eu-1", "eu-west", self.key().as_bytes().to_vec()).await
    }

    /// Result `seq`, chained to the one before.
    fn chained(&mut self, seq: u64) -> v1::Result {
        let mut result = result(seq, -1);
        let chain = link(&self.previous, &canonical(&ResultRecord::try_from(result.clone()).unwrap()).unwrap());
        result.chain = chain.to_vec();
        self.previous = chain;
        result
    }

    fn sign(&self, statement: &Statement) -> Vec<u8> {
        self.pair.sign(&statement.signed_bytes()).as_ref().to_vec()
    }

    /// A checkpoint over the last result made.
    fn checkpoint(&self, seq: u64) -> v1::Checkpoint {
        let statement = Statement::Checkpoint { agent_id: "agent-eu-1".to_owned(), seq, chain: self.previous };
        v1::Checkpoint { seq, chain: self.previous.to_vec(), signature: self.sign(&statement) }
    }
}

async fn send_checkpointed(session: &Session, results: Vec<v1::Result>, checkpoint: v1::Checkpoint) {
    let batch = v1::ResultBatch { results, checkpoint: Some(checkpoint), health: None };
    session.send(v1::agent_message::Body::Batch(batch)).await;
}

#[tokio::test]
async fn chained_results_are_stored_with_their_checkpoint_and_what_does_not_verify_is_refused() {
    let fixture = serve().await;
    let mut agent = Agent::new();
    let mut session = agent.open(fixture.address).await.unwrap();
    let results = (1..=3).map(|seq| agent.chained(seq)).collect();
    send_checkpointed(&session, results, agent.checkpoint(3)).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 3 }));
    assert_eq!(stored(&fixture.store).await.len(), 3);
    let checkpoints = fixture.store.checkpoints("agent-eu-1", (0, i64::MAX as u64)).await.unwrap();
    assert_eq!(checkpoints.len(), 1);
    assert_eq!((checkpoints[0].checkpoint.seq, checkpoints[0].checkpoint.chain), (3, agent.previous));
    let keys = fixture.store.agent_keys().await.unwrap();
    assert_eq!(keys[0].public_key, agent.key(), "the first key presented is recorded");

    // Result 4 altered after it was chained: refused; result 5 links to the value 4 carries and is taken.
    let mut altered = agent.chained(4);
    altered.ok = false;
    session.send_batch(vec![altered, agent.chained(5)]).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 5 }));
    let refused = fixture.store.refused().await.unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].seq, 4);
    assert!(refused[0].reason.starts_with("chain: result 4 carries chain value"), "{}", refused[0].reason);
    assert_eq!(stored(&fixture.store).await.len(), 4);

    // A checkpoint whose signature does not verify: its whole batch is refused.
    let results = (6..=7).map(|seq| agent.chained(seq)).collect();
    let mut forged = agent.checkpoint(7);
    forged.signature[0] ^= 1;
    send_checkpointed(&session, results, forged).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 7 }));
    let refused = fixture.store.refused().await.unwrap();
    let reasons: Vec<(u64, &str)> = refused.iter().map(|refusal| (refusal.seq, refusal.reason.as_str())).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    for (seq, reason) in &reasons[1..] {
        assert!([6, 7].contains(seq));
        assert!(reason.contains("checkpoint at seq 7: the signature does not verify"), "{reason}");
    }
    assert_eq!(fixture.store.checkpoints("agent-eu-1", (0, i64::MAX as u64)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_agent_keeps_the_key_it_first_presented_until_another_is_pinned() {
    let fixture = serve().await;
    let (first, second) = (Agent::new(), Agent::new());
    drop(first.open(fixture.address).await.unwrap());
    let refused = second.open(fixture.address).await.err().expect("another key is refused");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(refused.message().contains("the key on record for it is"), "{}", refused.message());
    assert!(refused.message().contains(&format!("`public_key: {}`", second.key())), "names the fix");
    let keyless = open(fixture.address, Some("s3cret"), "agent-eu-1", "eu-west").await.err().expect("refused");
    assert!(keyless.message().contains("presented no key"), "{}", keyless.message());

    let pinned = second.key();
    let fixture = serve_with(|settings| {
        settings.agents = Agents::new(vec![AgentIdentity {
            agent_id: "agent-eu-1".to_owned(),
            region: "eu-west".to_owned(),
            public_key: Some(pinned),
            client_cert: None,
            enrolment: None,
            token_sha256: token_hash("s3cret"),
        }]);
    })
    .await;
    let refused = first.open(fixture.address).await.err().expect("not the pinned key");
    assert!(refused.message().contains("collector.yaml pins"), "{}", refused.message());
    drop(second.open(fixture.address).await.unwrap());
    assert_eq!(fixture.store.agent_keys().await.unwrap()[0].public_key, pinned);
}

#[tokio::test]
async fn gap_statements_are_kept_signed_and_a_forged_one_leaves_the_gap_unsigned() {
    let fixture = serve().await;
    let mut agent = Agent::new();
    let mut session = agent.open(fixture.address).await.unwrap();
    let statement = |first_seq, last_seq| Statement::Gap {
        agent_id: "agent-eu-1".to_owned(),
        first_seq,
        last_seq,
        reason: "spool_full".to_owned(),
        chain_before: Some(GENESIS),
        chain_after: Some([4; 32]),
    };
    let gap = |first_seq, last_seq, signature| v1::SpoolGap {
        first_seq,
        last_seq,
        reason: "spool_full".to_owned(),
        chain_before: GENESIS.to_vec(),
        chain_after: vec![4; 32],
        signature,
    };
    session.send(v1::agent_message::Body::Gap(gap(1, 4, agent.sign(&statement(1, 4))))).await;
    session.send(v1::agent_message::Body::Gap(gap(6, 7, agent.sign(&statement(6, 8))))).await;
    agent.previous = [4; 32];
    session.send_batch(vec![agent.chained(5)]).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 5 }));
    let gaps = fixture.store.gaps().await.unwrap();
    assert_eq!(gaps.len(), 2, "both gaps are recorded: {gaps:?}");
    let statements = fixture.store.gap_statements("agent-eu-1").await.unwrap();
    assert_eq!(statements.len(), 1, "only the genuine statement is kept as signed");
    assert_eq!((statements[0].first_seq, statements[0].last_seq), (1, 4));
    assert_eq!(statements[0].statement.chain_after, Some([4; 32]));
}

#[tokio::test]
async fn a_new_session_continues_the_chain_where_the_store_left_it() {
    let fixture = serve().await;
    let mut agent = Agent::new();
    let mut session = agent.open(fixture.address).await.unwrap();
    session.send_batch((1..=3).map(|seq| agent.chained(seq)).collect()).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 3 }));
    drop(session);

    // The first result of the next session links to result 3 as stored: an altered one is caught at once.
    let mut session = agent.open(fixture.address).await.unwrap();
    let mut altered = agent.chained(4);
    altered.duration_ms = Some(1.0);
    session.send_batch(vec![altered]).await;
    assert_eq!(session.next().await.unwrap(), v1::collector_message::Body::Ack(v1::Ack { through_seq: 4 }));
    let refused = fixture.store.refused().await.unwrap();
    assert_eq!(refused.iter().map(|refusal| refusal.seq).collect::<Vec<_>>(), [4]);
    assert!(refused[0].reason.contains("does not follow result 3"), "{}", refused[0].reason);
}
