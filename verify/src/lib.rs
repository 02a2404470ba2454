//! `slaprobe-verify`: checks an evidence bundle (`docs/evidence.md`) with nothing but its files: no database, no
//! network, no trust in the collector that wrote it.
//!
//! What it checks, each problem named with its file and line:
//! - the manifest: every file it lists is there with that SHA-256, and nothing else is;
//! - every checkpoint's and every gap statement's signature, with a key in `keys/` of that agent;
//! - every agent's results in seq order, each linking to the one before it, from a value vouched for (seq 1, a
//!   checkpoint, a signed gap) to a signed checkpoint at or after its last result; every seq missing between
//!   them explained by a signed gap statement whose chain values match;
//! - the report: made again from the contract's results in the bundle with the collector's own engine, it must
//!   match `report.json` field for field and `report.html` byte for byte.
//!
//! Layout:
//! - [`files`]: the bundle's files, from a directory or a `.tar`, bounded in size.
//! - [`problems`]: a problem and where it is.
//! - [`statements`]: keys, checkpoints and gap statements, read and their signatures checked.
//! - [`chains`]: each agent's results followed link by link.
//! - [`reproduce`]: the report made again from the results and held against the one in the bundle.
#![forbid(unsafe_code)]

pub mod chains;
pub mod files;
pub mod problems;
pub mod reproduce;
pub mod statements;

use slaprobe_proto::bundle::{FORMAT, MANIFEST, Manifest};

use files::BundleFiles;
use problems::Problem;
use reproduce::{Recount, Reproduced};

/// What a bundle holds and what is wrong with it.
#[derive(Debug, Default)]
pub struct Verdict {
    /// The contract and period, from the manifest.
    pub subject: Option<(String, String)>,
    /// Results checked (full and digest-only lines).
    pub results: u64,
    /// Results shown in full (the contract's own).
    pub full_results: u64,
    /// Agents whose results the bundle holds.
    pub agents: usize,
    /// Checkpoints whose signature verified.
    pub checkpoints: u64,
    /// Gaps explained by a signed statement: agent, first and last seq, reason.
    pub signed_gaps: Vec<(String, u64, u64, String)>,
    /// The report made again, when it matched the bundle's.
    pub reproduced: Option<Reproduced>,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

/// Checks `bundle`.
pub fn verify(bundle: &BundleFiles) -> Verdict {
    let mut verdict = Verdict::default();
    let manifest = check_manifest(bundle, &mut verdict.problems);
    let terms = manifest.as_ref().and_then(|manifest| {
        let terms = reproduce::read_terms(bundle, &manifest.period, &mut verdict.problems);
        if let Some(id) = terms.as_ref().map(|terms| terms.contract_id()).filter(|id| *id != manifest.contract) {
            verdict.problems.push(Problem::file(
                slaprobe_proto::bundle::CONTRACT,
                format!("terms of contract {id:?}; the manifest is for {:?}", manifest.contract),
            ));
        }
        terms
    });
    verdict.subject = manifest.map(|manifest| (manifest.contract, manifest.period));
    let keys = statements::read_keys(bundle, &mut verdict.problems);
    let checkpoints = statements::read_checkpoints(bundle, &keys, &mut verdict.problems);
    let gaps = statements::read_gaps(bundle, &keys, &mut verdict.problems);
    verdict.checkpoints = checkpoints.values().map(|by_seq| by_seq.len() as u64).sum();
    verdict.signed_gaps = gaps
        .iter()
        .flat_map(|(agent, gaps)| {
            gaps.iter().map(move |gap| (agent.clone(), gap.first_seq, gap.last_seq, gap.reason.clone()))
        })
        .collect();
    let mut recount = terms.as_ref().map(Recount::new);
    let followed = chains::follow(bundle, &checkpoints, &gaps, &mut verdict.problems, |line, record, problems| {
        if let Some(recount) = &mut recount {
            recount.add(line, record, problems);
        }
    });
    if let Some(recount) = &mut recount {
        for fault in statements::read_faults(bundle, &mut verdict.problems) {
            recount.add_fault(&fault);
        }
    }
    verdict.reproduced = recount.and_then(|recount| recount.finish(bundle, &mut verdict.problems));
    verdict.results = followed.results;
    verdict.full_results = followed.full_results;
    verdict.agents = followed.agents;
    verdict
}

/// The manifest, after checking that it lists every file of the bundle with its SHA-256.
fn check_manifest(bundle: &BundleFiles, problems: &mut Vec<Problem>) -> Option<Manifest> {
    let Some(bytes) = bundle.get(MANIFEST) else {
        problems.push(Problem::file(MANIFEST, "missing: the bundle has no manifest"));
        return None;
    };
    let manifest: Manifest = match serde_json::from_slice(bytes) {
        Ok(manifest) => manifest,
        Err(error) => {
            problems.push(Problem::file(MANIFEST, format!("not a manifest: {error}")));
            return None;
        }
    };
    if manifest.format != FORMAT {
        problems.push(Problem::file(MANIFEST, format!("format {:?}; this verifier reads {FORMAT:?}", manifest.format)));
    }
    for (name, expected) in &manifest.files {
        match bundle.sha256_hex_of(name) {
            None => problems.push(Problem::file(name, "listed in the manifest but missing")),
            Some(Err(error)) => problems.push(Problem::file(name, format!("cannot be read: {error}"))),
            Some(Ok(actual)) => {
                if !actual.eq_ignore_ascii_case(expected) {
                    problems.push(Problem::file(name, format!("SHA-256 is {actual}; the manifest says {expected}")));
                }
            }
        }
    }
    for name in bundle.names() {
        if name != MANIFEST && !manifest.files.contains_key(name) {
            problems.push(Problem::file(name, "not listed in the manifest"));
        }
    }
    Some(manifest)
}
