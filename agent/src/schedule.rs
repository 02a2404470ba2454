//! The scheduler: every check runs once per `interval`, in slots anchored to the wall clock.
//!
//! A check's slots are `k × interval + offset` since the Unix epoch, where `offset` is the check's `phase` (which
//! the collector staggers across the agents probing it) or else derived from a hash of the check id
//! ([`slaprobe_checks::phase`]). So slots are predictable (`scheduled_at` can be computed by anyone), stable across
//! restarts and reloads, and spread across the interval: 10,000 checks at 60 s start about 170 per second.
//!
//! A wall-clock step forward skips to the slots of the new time; a step back makes the next slot follow the new
//! time instead of waiting out the step (the clock watcher logs each step once).
//!
//! Each check has its own task that sleeps until the next slot, takes a permit (bounded concurrency), and runs
//! one attempt with a deadline of `min(timeout, slot + interval − now)`, so an attempt never outlives its slot.
//! A slot that cannot start before its end is skipped and logged. A check's attempts never overlap: the task is
//! sequential, and a changed check's new task waits for the old one to finish.
//!
//! A check with `confirm:` is probed again between slots: `after` a failed attempt began, and again while it keeps
//! failing (up to `attempts` per slot), and once `after` the first success that follows a failure, so both the
//! failure and the recovery are seen by two attempts and the recovery is measured to about `after`. Each
//! confirmation must end, its whole timeout included, before the next slot; a check that never fails makes none.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::{WallClock, until};
use crate::probe::AttemptWindow;
use slaprobe_checks::{ConfirmSettings, PreparedCheck, offset_of};

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

/// A scheduled check: the prepared check its task runs (shared with it, not copied), and how to stop it.
struct Running {
    check: Arc<PreparedCheck>,
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
                Some(running) if running.check.check == prepared.check => {
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
            let check = Arc::new(prepared);
            let handle = tokio::spawn(check_loop(self.shared.clone(), check.clone(), stop.clone(), previous));
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
    check: Arc<PreparedCheck>,
    stop: CancellationToken,
    previous: Option<JoinHandle<()>>,
) {
    if let Some(previous) = previous {
        let _ = previous.await;
    }
    let interval = check.check.interval;
    let offset = offset_of(&check.check);
    let interval_signed = SignedDuration::try_from(interval).unwrap_or(SignedDuration::MAX);
    let mut last_slot: Option<Timestamp> = None;
    let mut failing = false;
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
        let keep_going = Box::pin(run_slot(&shared, &check, slot, interval_signed, &stop, &mut failing)).await;
        if !keep_going {
            return;
        }
    }
}

/// Runs one slot: its attempt, then the confirmations the check's `confirm:` asks for ([`confirm`]).
/// `failing` says whether the check's latest attempt failed, and is kept up to date. Returns false when the check
/// is stopping or nobody takes results any more.
async fn run_slot<R: AttemptRunner>(
    shared: &Shared<R>,
    check: &PreparedCheck,
    slot: Timestamp,
    interval: SignedDuration,
    stop: &CancellationToken,
    failing: &mut bool,
) -> bool {
    let slot_end = slot + interval;
    let ok = match attempt(shared, check, slot, slot_end, false, stop).await {
        Attempted::Stopping => return false,
        Attempted::Skipped => return true,
        Attempted::Done(ok) => ok,
    };
    let Some(settings) = check.check.confirm else {
        *failing = !ok;
        return true;
    };
    confirm(shared, check, settings, (slot, slot_end), (*failing, ok), stop).await.is_some_and(|ok| {
        *failing = !ok;
        true
    })
}

/// What became of one attempt.
enum Attempted {
    /// It ran; whether it passed.
    Done(bool),
    /// No probe capacity before it had to end.
    Skipped,
    /// The check is stopping, or nobody takes results any more.
    Stopping,
}

/// Runs one attempt planned for `planned`, to end by `end`: waits for a permit, probes within the budget left,
/// hands the result on.
async fn attempt<R: AttemptRunner>(
    shared: &Shared<R>,
    check: &PreparedCheck,
    planned: Timestamp,
    end: Timestamp,
    confirmation: bool,
    stop: &CancellationToken,
) -> Attempted {
    let permit = tokio::select! {
        permit = shared.permits.acquire() => permit,
        () = stop.cancelled() => return Attempted::Stopping,
    };
    let Ok(permit) = permit else { return Attempted::Stopping };
    let started_at = shared.clock.now();
    let budget = until(started_at, end).min(check.timeout);
    if budget.is_zero() {
        let said = "Skipped an attempt: no probe capacity before it had to end.";
        tracing::warn!(check_id = %check.check.id, %planned, "{said}");
        return Attempted::Skipped;
    }
    let window = AttemptWindow { scheduled_at: Some(planned), started_at, timeout: budget };
    let mut record = shared.runner.attempt(check, window, shared.abort_in_flight.clone()).await;
    drop(permit);
    record.confirmation = confirmation;
    let ok = record.ok;
    if shared.results.send(record).await.is_err() {
        return Attempted::Stopping;
    }
    Attempted::Done(ok)
}

/// The confirmations after a slot's attempt: while the check fails, another attempt `after` the last one began
/// (at most `attempts` of them in the slot), and after a success that follows a failure, one more. Each must
/// end before the next slot, `timeout` included. `(was_failing, ok)`: whether the attempt before the slot's
/// failed, and whether the slot's passed. Returns whether the latest attempt passed; `None` when stopping.
async fn confirm<R: AttemptRunner>(
    shared: &Shared<R>,
    check: &PreparedCheck,
    settings: ConfirmSettings,
    (slot, slot_end): (Timestamp, Timestamp),
    (was_failing, ok): (bool, bool),
    stop: &CancellationToken,
) -> Option<bool> {
    let after = SignedDuration::try_from(settings.after).unwrap_or(SignedDuration::MAX);
    let timeout = SignedDuration::try_from(check.timeout).unwrap_or(SignedDuration::MAX);
    let limit = settings.attempts.unwrap_or(u32::MAX);
    let (mut failed_before, mut latest_ok, mut last_start) = (was_failing, ok, slot);
    let mut after_failures = 0;
    loop {
        let wanted = if latest_ok { failed_before } else { after_failures < limit };
        let now = shared.clock.now();
        let next = (last_start + after).max(now);
        if !wanted || next + timeout > slot_end {
            return Some(latest_ok);
        }
        tokio::select! {
            () = tokio::time::sleep(until(now, next)) => {}
            () = stop.cancelled() => return None,
        }
        if !latest_ok {
            after_failures += 1;
        }
        last_start = next;
        match attempt(shared, check, next, slot_end, true, stop).await {
            Attempted::Stopping => return None,
            Attempted::Skipped => return Some(latest_ok),
            Attempted::Done(ok) => (failed_before, latest_ok) = (!latest_ok, ok),
        }
    }
}

#[cfg(test)]
mod tests;
