//! `import`: bulk-loading result lines into the store, from a standalone agent's `--output jsonl:` file or from
//! another system. Lines are read one at a time on a blocking thread and written in batches as they come, so a
//! file of any length takes bounded memory; a progress bar on standard error follows the bytes read. Every
//! malformed line is reported with its number and skipped. Results are keyed by `(agent_id, seq)` like an
//! agent's, so importing the same file again stores nothing twice: a line without `agent_id` takes its region's
//! name, a line without `seq` a number derived from its check and start. Imported results are flagged
//! `imported`, and leave ledger marks like any late result, so the slice ledger folds them in.

use std::io::BufReader;
use std::path::Path;

use sha2::{Digest, Sha256};
use slaprobe_proto::ResultRecord;

use super::{CliError, with_store};
use crate::results_file::for_each_line;

/// Results written per transaction.
const BATCH: usize = 5_000;

/// What an import did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    /// Results newly stored.
    pub imported: u64,
    /// Results already in the store, left as they were.
    pub already_stored: u64,
    /// Malformed lines skipped.
    pub bad_lines: usize,
}

/// `import --config FILE --results FILE`: loads the results file into the configured store.
pub fn import_results(config: &Path, results: &Path) -> Result<ImportSummary, CliError> {
    let file =
        std::fs::File::open(results).map_err(|error| CliError::Usage(format!("{}: {error}", results.display())))?;
    let size = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
    let bar = indicatif::ProgressBar::new(size).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut summary = ImportSummary::default();
    with_store(config, async |_, store| {
        let (batches, mut arriving) = tokio::sync::mpsc::channel::<Vec<ResultRecord>>(4);
        let reading_bar = bar.clone();
        let reading = tokio::task::spawn_blocking(move || {
            let reader = BufReader::new(reading_bar.wrap_read(file));
            let mut batch = Vec::with_capacity(BATCH);
            let each = |mut result: ResultRecord| {
                identify(&mut result);
                batch.push(result);
                if batch.len() >= BATCH {
                    // A closed channel means the writer stopped on an error, which it reports.
                    let _ = batches.blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                }
            };
            let bad = for_each_line(reader, each, |number, problem| {
                reading_bar.suspend(|| eprintln!("line {number}: {problem} (skipped)"));
            })?;
            if !batch.is_empty() {
                let _ = batches.blocking_send(batch);
            }
            Ok::<usize, std::io::Error>(bad.count)
        });
        while let Some(batch) = arriving.recv().await {
            let outcome = store.import_results(batch).await?;
            summary.imported += outcome.inserted;
            summary.already_stored += outcome.duplicates;
        }
        let read = reading.await.map_err(|error| CliError::Io(format!("reading {}: {error}", results.display())))?;
        summary.bad_lines = read.map_err(|error| CliError::Io(format!("reading {}: {error}", results.display())))?;
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(summary)
}

/// Gives `result` the identity the store keys it by: its region as agent when it names none, and when it has no
/// sequence number one derived from its agent, check and start (the same line always gets the same one).
fn identify(result: &mut ResultRecord) {
    let agent = result.agent_id.get_or_insert_with(|| result.region.clone()).clone();
    if result.seq.is_none() {
        let digest = Sha256::new()
            .chain_update(agent.as_bytes())
            .chain_update([0])
            .chain_update(result.check_id.as_bytes())
            .chain_update([0])
            .chain_update(result.started_at.as_nanosecond().to_be_bytes())
            .finalize();
        let mut first = [0; 8];
        first.copy_from_slice(&digest[..8]);
        result.seq = Some(u64::from_be_bytes(first) & i64::MAX as u64);
    }
}
