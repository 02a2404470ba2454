//! The scheduler: every check runs once per `interval`, in slots anchored to the wall clock.
//!
//! A check's slots are `k × interval + offset` since the Unix epoch, where `offset` is derived from a hash of the
//! check id. So slots are predictable (`scheduled_at` can be computed by anyone), stable across restarts and
//! reloads, and spread across the interval: 10,000 checks at 60 s start about 170 per second, not all at once.
//!
//! A wall-clock step forward skips to the slots of the new time; a step back makes the next slot follow the new
//! time instead of waiting out the step (the clock watcher logs each step once).
//!
//! Each check has its own task that sleeps until the next slot, takes a permit (bounded concurrency), and runs
//! one attempt with a deadline of `min(timeout, slot + interval − now)`, so an attempt never outlives its slot.
//! A slot that cannot start before its end is skipped and logged. A check's attempts never overlap: the task is
//! sequential, and a changed check's new task waits for the old one to finish.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use slaprobe_proto::ResultRecord;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::{WallClock, until};
use crate::probe::AttemptWindow;
use slaprobe_checks::{Check, PreparedCheck};

/// Runs one attempt; the agent's runner probes for real, the scheduler's own tests substitute a timed stand-in.
pub trait AttemptRunner: Send + Sync + 'static {
    /// Runs `check` within `window`; `abort` firing means the agent is out of shutdown grace.
    fn attempt(
        &self,
        check: &PreparedCheck,
        window: AttemptWindow,
        abort: CancellationToken,
    ) -> impl Future<Output = ResultRecord> + Send;
}

/// The offset of a check's slots within its interval, from a SHA-256 of its id (millisecond resolution).
pub fn slot_offset(check_id: &str, interval: Duration) -> Duration {
    let digest = Sha256::digest(check_id.as_bytes());
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&digest[..8]);
    let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(u64::from_be_bytes(prefix) % interval_ms)
}

/// The first slot at or after `not_before`.
pub fn next_slot(not_before: Timestamp, interval: Duration, offset: Duration) -> Timestamp {
    let interval_ns = i128::try_from(interval.as_nanos()).unwrap_or(i128::MAX).max(1);
    let offset_ns = i128::try_from(offset.as_nanos()).unwrap_or(0);
    let since_anchor = not_before.as_nanosecond() - offset_ns;
    let k = since_anchor.div_euclid(interval_ns) + i128::from(since_anchor.rem_euclid(interval_ns) != 0);
    Timestamp::from_nanosecond(k * interval_ns + offset_ns).unwrap_or(not_before)
}

/// What [`Scheduler::apply`] changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplySummary {
    /// Checks started.
    pub added: usize,
    /// Checks restarted with new settings.
    pub changed: usize,
    /// Checks stopped.
    pub removed: usize,
    /// Checks left running on their slots.
    pub unchanged: usize,
}

struct Shared<R> {
    runner: R,
    permits: Semaphore,
    results: mpsc::Sender<ResultRecord>,
    clock: Arc<dyn WallClock>,
    abort_in_flight: CancellationToken,
}

struct Running {
    check: Check,
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

/// Owns one task per scheduled check.
pub struct Scheduler<R: AttemptRunner> {
    shared: Arc<Shared<R>>,
    running: HashMap<String, Running>,
}

impl<R: AttemptRunner> Scheduler<R> {
    /// A scheduler with no checks yet; results go to `results`.
    pub fn new(
        runner: R,
        max_concurrent: usize,
        results: mpsc::Sender<ResultRecord>,
        clock: Arc<dyn WallClock>,
    ) -> Self {
        let shared = Shared {
            runner,
            permits: Semaphore::new(max_concurrent),
            results,
            clock,
            abort_in_flight: CancellationToken::new(),
        };
        Self { shared: Arc::new(shared), running: HashMap::new() }
    }

    /// Makes `checks` the running set: new ones start, changed ones restart, missing ones stop, and unchanged
    /// ones keep running undisturbed.
    pub fn apply(&mut self, checks: impl IntoIterator<Item = PreparedCheck>) -> ApplySummary {
        let mut summary = ApplySummary::default();
        let mut next = HashMap::new();
        for prepared in checks {
            let id = prepared.check.id.clone();
            let previous = match self.running.remove(&id) {
                Some(running) if running.check == prepared.check => {
                    summary.unchanged += 1;
                    next.insert(id, running);
                    continue;
                }
                Some(running) => {
                    summary.changed += 1;
                    running.stop.cancel();
                    Some(running.handle)
                }
                None => {
                    summary.added += 1;
                    None
                }
            };
            let stop = CancellationToken::new();
            let check = prepared.check.clone();
            let handle = tokio::spawn(check_loop(self.shared.clone(), prepared, stop.clone(), previous));
            next.insert(id, Running { check, stop, handle });
        }
        for (_, running) in self.running.drain() {
            summary.removed += 1;
            running.stop.cancel();
        }
        self.running = next;
        summary
    }

    /// Stops scheduling; attempts in flight get `grace` to finish, then are recorded as cancelled.
    pub async fn shutdown(self, grace: Duration) {
        let handles: Vec<JoinHandle<()>> = self
            .running
            .into_values()
            .map(|running| {
                running.stop.cancel();
                running.handle
            })
            .collect();
        let all_done = async {
            for handle in handles {
                if let Err(error) = handle.await {
                    tracing::error!(%error, "A check task failed.");
                }
            }
        };
        tokio::pin!(all_done);
        tokio::select! {
            () = &mut all_done => return,
            () = tokio::time::sleep(grace) => self.shared.abort_in_flight.cancel(),
        }
        all_done.await;
    }
}

async fn check_loop<R: AttemptRunner>(
    shared: Arc<Shared<R>>,
    check: PreparedCheck,
    stop: CancellationToken,
    previous: Option<JoinHandle<()>>,
) {
    if let Some(previous) = previous {
        let _ = previous.await;
    }
    let interval = check.check.interval;
    let offset = slot_offset(&check.check.id, interval);
    let interval_signed = SignedDuration::try_from(interval).unwrap_or(SignedDuration::MAX);
    let mut last_slot: Option<Timestamp> = None;
    loop {
        let now = shared.clock.now();
        let not_before = match last_slot {
            // After a step back by more than an interval, follow the clock rather than wait out the step.
            Some(last) if last <= now + interval_signed => last + SignedDuration::from_nanos(1),
            _ => now,
        };
        let slot = next_slot(not_before, interval, offset);
        tokio::select! {
            () = tokio::time::sleep(until(now, slot)) => {}
            () = stop.cancelled() => return,
        }
        // The timer runs on the monotonic clock: a wall-clock step during the sleep shows here. Forward past the
        // whole slot, or back by more than an interval: start again from the new time (the watcher logs it).
        let now = shared.clock.now();
        if now >= slot + interval_signed || slot > now + interval_signed {
            last_slot = None;
            continue;
        }
        if now < slot {
            continue; // stepped back a little: sleep to the same slot again
        }
        last_slot = Some(slot);
        // Boxed: a slot's state (permit wait, attempt, result hand-off) lives on the heap only while it runs,
        // so an idle check task stays small (10,000 of them per agent are expected).
        let keep_going = Box::pin(run_slot(&shared, &check, slot, interval_signed, &stop)).await;
        if !keep_going {
            return;
        }
    }
}

/// Runs one slot: waits for a permit, probes within the slot's budget, hands the result on. Returns false when
/// the check is stopping or nobody takes results any more.
async fn run_slot<R: AttemptRunner>(
    shared: &Shared<R>,
    check: &PreparedCheck,
    slot: Timestamp,
    interval: SignedDuration,
    stop: &CancellationToken,
) -> bool {
    let permit = tokio::select! {
        permit = shared.permits.acquire() => permit,
        () = stop.cancelled() => return false,
    };
    let Ok(permit) = permit else { return false };
    let started_at = shared.clock.now();
    let budget = until(started_at, slot + interval).min(check.timeout);
    if budget.is_zero() {
        tracing::warn!(check_id = %check.check.id, %slot, "Skipped a slot: no probe capacity before it ended.");
        return true;
    }
    let window = AttemptWindow { scheduled_at: Some(slot), started_at, timeout: budget };
    let record = shared.runner.attempt(check, window, shared.abort_in_flight.clone()).await;
    drop(permit);
    shared.results.send(record).await.is_ok()
}

#[cfg(test)]
mod tests;
