//! The thread that writes results into the spool, and keeps probing safe when the disk fails.
//!
//! It takes every result waiting, appends them, syncs once (each result durable within [`BATCH_PAUSE`] of its
//! attempt's end), tells the uplink, and pauses [`BATCH_PAUSE`]. When a write or sync fails (disk full, EIO),
//! nothing stops: the results wait in memory (at most [`MEMORY_QUEUE`]; beyond it the oldest are lost and
//! counted in `slaprobe_agent_results_lost_total`), the spool is reopened as after a crash (a torn tail is cut
//! off), and the write is tried again every [`RETRY_PAUSE`]. While it fails, `slaprobe_agent_spool_write_failing`
//! is 1, `/healthz` answers 503 and the error is logged at most once a minute; the first write that succeeds
//! clears all of that. Results whose sequence numbers reached the disk before the failure are not written twice.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slaprobe_proto::ResultRecord;
use tokio::sync::{Notify, mpsc};

use super::Spool;
use crate::metrics::AgentMetrics;

/// Pause between batches.
pub const BATCH_PAUSE: Duration = Duration::from_millis(100);
/// Pause between attempts while writes fail.
pub const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Results held in memory at most while writes fail.
pub const MEMORY_QUEUE: usize = 100_000;
/// How often a continuing failure is logged.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Appends every record from `results` to `spool` until the channel closes, notifying `appended` after each
/// durable batch; returns how many were spooled. Fails only if results are still unwritten at shutdown.
pub fn write_spool(
    spool: &Mutex<Spool>,
    appended: &Arc<Notify>,
    mut results: mpsc::Receiver<ResultRecord>,
    metrics: &AgentMetrics,
) -> io::Result<u64> {
    let mut held: VecDeque<ResultRecord> = VecDeque::new();
    let mut written = 0;
    let mut failure: Option<Failure> = None;
    let mut open = true;
    while open || !held.is_empty() {
        if held.is_empty() {
            match results.blocking_recv() {
                Some(record) => held.push_back(record),
                None => break,
            }
        }
        loop {
            match results.try_recv() {
                Ok(record) => held.push_back(record),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let lost = held.len().saturating_sub(MEMORY_QUEUE);
        if lost > 0 {
            held.drain(..lost);
            metrics.results_lost.inc_by(lost as u64);
            tracing::error!(lost, "The spool cannot be written and the memory queue is full; lost the oldest results.");
        }
        match write_held(spool, &mut held) {
            Ok(count) => {
                written += count;
                appended.notify_one();
                if let Some(ended) = failure.take() {
                    metrics.spool_write_failing.set(0);
                    tracing::info!(failed_for_seconds = ended.since.elapsed().as_secs(), "Spool writes work again.");
                }
                std::thread::sleep(BATCH_PAUSE);
            }
            Err(error) => {
                metrics.spool_write_errors.inc();
                metrics.spool_write_failing.set(1);
                let now = Instant::now();
                let state = failure.get_or_insert(Failure { since: now, logged: None });
                if state.logged.is_none_or(|logged| now.duration_since(logged) >= LOG_EVERY) {
                    state.logged = Some(now);
                    tracing::error!(%error, waiting = held.len(), "Cannot write results to the spool; they wait in memory and probing goes on.");
                }
                if !open {
                    return Err(io::Error::other(format!(
                        "{} results could not be written to the spool before shutdown: {error}",
                        held.len()
                    )));
                }
                std::thread::sleep(RETRY_PAUSE);
            }
        }
    }
    Ok(written)
}

/// Since when writes have been failing, and when that was last logged.
struct Failure {
    since: Instant,
    logged: Option<Instant>,
}

/// Appends and syncs `held`, emptying it; on failure reopens the spool and keeps in `held` only the results that
/// did not reach the disk.
fn write_held(spool: &Mutex<Spool>, held: &mut VecDeque<ResultRecord>) -> io::Result<u64> {
    let mut spool = spool.lock().map_err(|_| io::Error::other("the spool lock is poisoned"))?;
    let attempt = held.iter_mut().try_for_each(|record| spool.append(record).map(drop)).and_then(|()| spool.sync());
    match attempt {
        Ok(()) => {
            let count = held.len() as u64;
            held.clear();
            Ok(count)
        }
        Err(error) => {
            if let Err(reopen) = spool.reopen() {
                tracing::debug!(error = %reopen, "Could not reopen the spool yet.");
            }
            let durable = spool.durable_seq();
            while held.front().and_then(|record| record.seq).is_some_and(|seq| seq <= durable) {
                held.pop_front();
            }
            Err(error)
        }
    }
}
