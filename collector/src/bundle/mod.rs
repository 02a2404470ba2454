//! `slaprobe-collector evidence`: the evidence bundle of one contract's period (`docs/evidence.md`), everything
//! a vendor or an auditor needs to check the claim without the collector: every result of the agents involved,
//! in seq order, with their chain values (other checks' results and refused ones by digest only); the agents'
//! signed checkpoints and gap statements and their keys; the spans in which the collector found an agent failing
//! on its own (rule 11); the contract's terms as applied; the report as JSON and HTML; a manifest with the
//! SHA-256 of every file; and a `README.txt` saying how to verify it.
//!
//! Layout:
//! - [`history`]: one agent's part: which results, and their lines.
//! - [`staging`]: writing the files, hashed, into a directory or a `.tar`.

pub mod history;
pub mod staging;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use jiff::Timestamp;
use serde::Serialize;
use slaprobe_proto::bundle::{
    CHECKPOINTS, CONTRACT, FAULTS, FORMAT, FaultLine, GAPS, KEYS_DIR, MANIFEST, Manifest, REPORT_HTML, REPORT_JSON,
    RESULTS,
};

use crate::config::CollectorConfig;
use crate::store::{Store, StoreError};
use crate::views::{ViewError, monitoring_began, select, store_reports};
use history::{AgentPart, agent_part, key_files};
use slaprobe_sla::contract::AppliedContract;
use slaprobe_sla::evaluation_window;
use slaprobe_sla::render::{Format, render};
use staging::{Staging, StagingError};

/// The bundle's own explanation.
const README: &str = "README.txt";

/// Why no bundle was written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The contract or the period (exit 64), or the store.
    #[error(transparent)]
    View(#[from] ViewError),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be written, or the output exists.
    #[error("writing the bundle: {0}")]
    Write(#[from] StagingError),
}

/// What a bundle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSummary {
    /// Lines of `results.jsonl`.
    pub results: u64,
    /// Of those, results of the contract's checks in full.
    pub full: u64,
    /// Agents.
    pub agents: usize,
    /// Checkpoints.
    pub checkpoints: u64,
    /// Gaps, signed or not.
    pub gaps: u64,
    /// Agents whose latest results no checkpoint covers yet, so they were left out: the agent, the seq the bundle
    /// stops at, and the last result left out.
    pub left_out: Vec<(String, u64, u64)>,
}

/// Writes the bundle of `contract` for `period` to `out` (a directory, or a `.tar`), its report as of `as_of`.
pub async fn write_bundle(
    config: &CollectorConfig,
    store: &Store,
    contract_id: &str,
    period_label: &str,
    out: &Path,
    as_of: Timestamp,
) -> Result<BundleSummary, BundleError> {
    let (contract, period) = select(&config.contracts, period_label, Some(contract_id))?.remove(0);
    let (from, to) = evaluation_window(contract, &period);
    let checks: BTreeSet<String> = contract.terms.checks.iter().cloned().collect();
    let reports = store_reports(config, store, period_label, Some(contract_id), as_of).await?;
    let mut staging = Staging::new(out)?;
    let mut results = staging.create(RESULTS)?;
    let mut parts: BTreeMap<String, AgentPart> = BTreeMap::new();
    let gaps = store.gaps().await?;
    for (agent, first, last) in store.seq_spans(&contract.terms.checks, from, to).await? {
        let part = agent_part(store, &agent, (first, last), &checks, &gaps, &mut results).await?;
        parts.insert(agent, part);
    }
    staging.finish(results)?;
    let left_out =
        parts.iter().filter_map(|(agent, part)| part.left_out.map(|(cut, last)| (agent.clone(), cut, last))).collect();
    let mut summary = BundleSummary { results: 0, full: 0, agents: parts.len(), checkpoints: 0, gaps: 0, left_out };
    for part in parts.values() {
        summary.results += part.lines;
        summary.full += part.full;
    }
    let (checkpoints, count) = jsonl(parts.values().flat_map(|part| &part.checkpoints));
    summary.checkpoints = count;
    staging.write(CHECKPOINTS, checkpoints.as_bytes())?;
    let (gaps, count) = jsonl(parts.values().flat_map(|part| &part.gaps));
    summary.gaps = count;
    staging.write(GAPS, gaps.as_bytes())?;
    let faults: Vec<FaultLine> = (store.agent_faults_between(from, to).await?.into_iter())
        .map(|fault| FaultLine {
            vendors: u32::try_from(fault.vendors.len()).unwrap_or(u32::MAX),
            agent_id: fault.agent_id,
            region: fault.region,
            start: fault.start,
            end: fault.end,
        })
        .collect();
    let (faults, _) = jsonl(faults.iter());
    staging.write(FAULTS, faults.as_bytes())?;
    let on_record = store.agent_keys().await?.into_iter().map(|key| (key.agent_id, key.public_key)).collect();
    for (agent, keys) in key_files(&parts, &on_record) {
        staging.write(&format!("{KEYS_DIR}/{agent}.pub"), keys.as_bytes())?;
    }
    let applied = AppliedContract::of(contract, monitoring_began(store, contract).await?);
    staging.write(CONTRACT, serde_json::to_string_pretty(&applied).unwrap_or_default().as_bytes())?;
    staging.write(REPORT_JSON, render(&reports, Format::Json).as_bytes())?;
    staging.write(REPORT_HTML, render(&reports, Format::Html).as_bytes())?;
    staging.write(README, readme(contract_id, period_label).as_bytes())?;
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        contract: contract_id.to_owned(),
        period: period_label.to_owned(),
        created_at: Timestamp::now(),
        files: staging.hashes().clone(),
    };
    let manifest = serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n";
    staging.close(manifest.as_bytes(), MANIFEST)?;
    Ok(summary)
}

/// `lines` as JSON lines, and how many there are.
fn jsonl<'a, T: Serialize + 'a>(lines: impl Iterator<Item = &'a T>) -> (String, u64) {
    let mut text = String::new();
    let mut count = 0;
    for line in lines {
        text += &serde_json::to_string(line).unwrap_or_default();
        text.push('\n');
        count += 1;
    }
    (text, count)
}

fn readme(contract: &str, period: &str) -> String {
    format!(
        "Evidence for contract {contract}, period {period}, written by slaprobe.\n\n\
         Every result the monitoring agents produced is here, each linked by SHA-256 to the one before it, and the\n\
         agents signed that chain with their own Ed25519 keys (checkpoints.jsonl, gaps.jsonl, keys/). Nothing in\n\
         this bundle needs to be taken on trust from whoever sent it:\n\n\
         1. Compare the keys in keys/ with the agents' keys as their operator pins them.\n\
         2. Run `slaprobe-verify <this bundle>` (a small program of the slaprobe project, without database or\n\
            network), or check by hand as the specification describes: the canonical JSON of each result\n\
            (RFC 8785), its digest, the chain, and the signatures. slaprobe-verify also makes the report again\n\
            from results.jsonl and contract.json and holds it against report.json and report.html.\n\
         3. Compare the terms in contract.json with the contract both parties signed.\n\n\
         faults.jsonl lists the minutes in which the collector found an agent failing on its own (every vendor it\n\
         probed failed from there alone): the report counts that agent's results there as no data. It is the\n\
         collector's finding, not signed by the agents, and can only take time away from the claim.\n\n\
         manifest.json lists the SHA-256 of every file; results.jsonl shows the contract's results in full and the\n\
         agents' other results by digest only.\n"
    )
}
