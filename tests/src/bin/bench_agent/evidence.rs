//! What signing costs the agent, timed in this process on the results the agent produced in collector mode: the
//! chain value of each result (its canonical JSON and a SHA-256, what the spool adds per result) and the
//! Ed25519 signature of a checkpoint (one per 1,000 results at most).

use std::time::Instant;

use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;
use slaprobe_proto::ResultRecord;
use slaprobe_proto::evidence::{GENESIS, Statement, canonical, link};

/// Milliseconds per result to chain `records`, and per checkpoint signature.
pub fn cost(records: &[ResultRecord]) -> (f64, f64) {
    let started = Instant::now();
    let mut previous = GENESIS;
    for record in records {
        previous = link(&previous, &canonical(record).expect("canonical"));
    }
    let chain_ms = started.elapsed().as_secs_f64() * 1000.0 / records.len().max(1) as f64;

    let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("key");
    let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).expect("key pair");
    const SIGNATURES: u32 = 1_000;
    let started = Instant::now();
    for seq in 0..SIGNATURES {
        let statement = Statement::Checkpoint { agent_id: "bench".to_owned(), seq: u64::from(seq), chain: previous };
        std::hint::black_box(pair.sign(&statement.signed_bytes()));
    }
    let sign_ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(SIGNATURES);
    (chain_ms, sign_ms)
}
