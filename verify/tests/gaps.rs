//! Gaps in a bundle, on small bundles made here with a key of the test's own: a signed gap explains the results
//! an agent dropped and the chain continues across it; a hidden gap, an unsigned one and one whose chain value
//! does not meet the results before it are each named.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use slaprobe_proto::bundle::{CheckpointLine, DigestLine, FORMAT, GapLine, Manifest};
use slaprobe_proto::evidence::{Chain, GENESIS, PublicKey, Statement, chain_hex, link_digest};
use slaprobe_sla::contract::AppliedContract;
use slaprobe_sla::render::{Format, render};
use slaprobe_sla::{Horizon, evaluate, parse_period};
use slaprobe_verify::files::{BundleFiles, sha256_hex};
use slaprobe_verify::verify;

/// Agent `a`'s results 1–3 and 7–8, a gap 4–6 it signed, and a checkpoint at 8; `edit` changes the gap line.
fn bundle(dir: &Path, edit: impl FnOnce(&mut Option<GapLine>, &Ed25519KeyPair)) -> BundleFiles {
    let pair =
        Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap().as_ref()).unwrap();
    let key = PublicKey::from_bytes(pair.public_key().as_ref()).unwrap();
    let sign = |statement: &Statement| BASE64.encode(pair.sign(&statement.signed_bytes()).as_ref());
    let mut results = String::new();
    let mut chain = GENESIS;
    let mut chain_before_gap = GENESIS;
    let dropped_chain: Chain = [0x5a; 32];
    for seq in [1u64, 2, 3, 7, 8] {
        if seq == 7 {
            chain_before_gap = chain;
            chain = dropped_chain;
        }
        let digest = [seq as u8; 32];
        chain = link_digest(&chain, &digest);
        let line = DigestLine {
            agent_id: "a".to_owned(),
            seq,
            digest: chain_hex(&digest),
            chain: chain_hex(&chain),
            refused: None,
        };
        results += &(serde_json::to_string(&line).unwrap() + "\n");
    }
    let checkpoint = Statement::Checkpoint { agent_id: "a".to_owned(), seq: 8, chain };
    let checkpoints = CheckpointLine {
        agent_id: "a".to_owned(),
        seq: 8,
        chain: chain_hex(&chain),
        signature: sign(&checkpoint),
        public_key: key,
    };
    let statement = Statement::Gap {
        agent_id: "a".to_owned(),
        first_seq: 4,
        last_seq: 6,
        reason: "spool_full".to_owned(),
        chain_before: Some(chain_before_gap),
        chain_after: Some(dropped_chain),
    };
    let mut gap = Some(GapLine {
        agent_id: "a".to_owned(),
        first_seq: 4,
        last_seq: 6,
        reason: "spool_full".to_owned(),
        chain_before: Some(chain_hex(&chain_before_gap)),
        chain_after: Some(chain_hex(&dropped_chain)),
        signature: Some(sign(&statement)),
        public_key: Some(key),
    });
    edit(&mut gap, &pair);
    let (contract, report_json, report_html) = terms_and_report();
    let files: BTreeMap<&str, String> = BTreeMap::from([
        ("contract.json", contract),
        ("report.json", report_json),
        ("report.html", report_html),
        ("results.jsonl", results),
        ("checkpoints.jsonl", serde_json::to_string(&checkpoints).unwrap() + "\n"),
        ("gaps.jsonl", gap.map(|gap| serde_json::to_string(&gap).unwrap() + "\n").unwrap_or_default()),
        ("keys/a.pub", format!("{key}\n")),
    ]);
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        contract: "c".to_owned(),
        period: "2026-02".to_owned(),
        created_at: jiff::Timestamp::UNIX_EPOCH,
        files: files.iter().map(|(name, text)| ((*name).to_owned(), sha256_hex(text.as_bytes()))).collect(),
    };
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
    BundleFiles::read(dir).unwrap()
}

/// `contract.json`, `report.json` and `report.html` of contract `c` for 2026-02, none of whose results are in
/// these bundles (every line is another check's, by digest): a report of nothing monitored.
fn terms_and_report() -> (String, String, String) {
    let applied: AppliedContract = serde_json::from_value(serde_json::json!({
        "terms": {
            "id": "c", "vendor": "V", "service": "S", "checks": ["web"], "objective": "99.9",
            "credits": { "fee": "100", "currency": "USD", "tiers": [ { "below": "99.9", "credit": "10" } ] }
        },
        "placement": {},
        "monitoring_began": null
    }))
    .unwrap();
    let contract = applied.contract("contract.json").unwrap();
    let period = parse_period("2026-02", contract.terms.period, &contract.tz).unwrap();
    let horizon = Horizon { monitored_from: None, now: "2026-03-02T00:00:00Z".parse().unwrap() };
    let pair = [(&contract, evaluate(&contract, &period, &[], &horizon))];
    (serde_json::to_string(&applied).unwrap(), render(&pair, Format::Json), render(&pair, Format::Html))
}

fn problems(edit: impl FnOnce(&mut Option<GapLine>, &Ed25519KeyPair)) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    verify(&bundle(dir.path(), edit)).problems.iter().map(ToString::to_string).collect()
}

#[test]
fn a_signed_gap_carries_the_chain_across_the_dropped_results() {
    let dir = tempfile::tempdir().unwrap();
    let verdict = verify(&bundle(dir.path(), |_, _| {}));
    assert!(verdict.problems.is_empty(), "{:?}", verdict.problems);
    assert_eq!((verdict.results, verdict.checkpoints), (5, 1));
    assert_eq!(verdict.signed_gaps, [("a".to_owned(), 4, 6, "spool_full".to_owned())]);
}

#[test]
fn a_hidden_gap_is_named() {
    let problems = problems(|gap, _| *gap = None);
    assert!(
        problems
            .iter()
            .any(|problem| problem.contains("results 4..=6 of a are missing and no gap statement explains them")),
        "{problems:?}"
    );
}

#[test]
fn an_unsigned_gap_explains_nothing() {
    let problems = problems(|gap, _| {
        if let Some(gap) = gap {
            gap.signature = None;
        }
    });
    assert!(
        problems.iter().any(|problem| problem.contains("reported the gap (spool_full) but did not sign it")),
        "{problems:?}"
    );
}

#[test]
fn a_gap_signed_over_another_chain_value_is_named() {
    let problems = problems(|gap, pair| {
        let Some(gap) = gap else { return };
        let wrong: Chain = [9; 32];
        let statement = Statement::Gap {
            agent_id: "a".to_owned(),
            first_seq: 4,
            last_seq: 6,
            reason: "spool_full".to_owned(),
            chain_before: Some(wrong),
            chain_after: Some([0x5a; 32]),
        };
        gap.chain_before = Some(chain_hex(&wrong));
        gap.signature = Some(BASE64.encode(pair.sign(&statement.signed_bytes()).as_ref()));
    });
    assert!(problems.iter().any(|problem| problem.contains("follows chain value 0909")), "{problems:?}");
}
