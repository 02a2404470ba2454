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
//! One timer queue holds every check's next slot ([`timers`]), and one driver task takes the due ones off it, at
//! most once per 4 ms (slots due closer together start together, a few milliseconds late): each slot runs in a
//! task of its own, which takes a permit (bounded concurrency) and runs one attempt with a deadline
//! of `min(timeout, slot + interval − now)`, so an attempt never outlives its slot. A slot that cannot start
//! before its end is skipped and logged. A check's attempts never overlap: its next slot is set when its slot
//! task ends, and a check changed by a reload starts afresh once its attempt in flight has ended. So an idle
//! check costs an entry and a timer, not a task: 100,000 checks fit on a small edge host.
//!
//! A check with `confirm:` is probed again between slots: `after` a failed attempt began, and again while it keeps
//! failing (up to `attempts` per slot), and once `after` the first success that follows a failure, so both the
//! failure and the recovery are seen by two attempts and the recovery is measured to about `after`. Each
//! confirmation must end, its whole timeout included, before the next slot; a check that never fails makes none.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use slaprobe_proto::ResultRecord;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::WallClock;
use crate::probe::AttemptWindow;
use slaprobe_checks::PreparedCheck;

mod slot;
mod timers;

use timers::{DueSlot, Timers};

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

/// What the driver and the slot tasks share.
struct Shared<R> {
    runner: R,
    permits: Semaphore,
    results: mpsc::Sender<ResultRecord>,
    clock: Arc<dyn WallClock>,
    abort_in_flight: CancellationToken,
    timers: Mutex<Timers>,
    slots: TaskTracker,
}

impl<R> Shared<R> {
    fn timers(&self) -> MutexGuard<'_, Timers> {
        // A slot task that panicked holding the lock left the bookkeeping whole: each change to it is one step.
        self.timers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Schedules every check; see the module documentation.
pub struct Scheduler<R: AttemptRunner> {
    shared: Arc<Shared<R>>,
    stop_driver: CancellationToken,
    driver: JoinHandle<()>,
}

impl<R: AttemptRunner> Scheduler<R> {
    /// A scheduler with no checks yet; results go to `results`. Starts its driver task on the current runtime.
    pub fn new(
        runner: R,
        max_concurrent: usize,
        results: mpsc::Sender<ResultRecord>,
        clock: Arc<dyn WallClock>,
    ) -> Self {
        let shared = Arc::new(Shared {
            runner,
            permits: Semaphore::new(max_concurrent),
            results,
            clock,
            abort_in_flight: CancellationToken::new(),
            timers: Mutex::new(Timers::default()),
            slots: TaskTracker::new(),
        });
        let stop_driver = CancellationToken::new();
        let driver = tokio::spawn(drive(shared.clone(), stop_driver.clone()));
        Self { shared, stop_driver, driver }
    }

    /// Makes `checks` the running set: new ones start, changed ones restart, missing ones stop, and unchanged
    /// ones keep running undisturbed.
    pub fn apply(&mut self, checks: impl IntoIterator<Item = PreparedCheck>) -> ApplySummary {
        let now = self.shared.clock.now();
        self.shared.timers().apply(checks, now)
    }

    /// Stops scheduling; attempts in flight get `grace` to finish, then are recorded as cancelled.
    pub async fn shutdown(self, grace: Duration) {
        self.stop_driver.cancel();
        if let Err(error) = self.driver.await {
            tracing::error!(%error, "The scheduler's driver failed.");
        }
        self.shared.timers().close();
        self.shared.slots.close();
        tokio::select! {
            () = self.shared.slots.wait() => return,
            () = tokio::time::sleep(grace) => self.shared.abort_in_flight.cancel(),
        }
        self.shared.slots.wait().await;
    }
}

/// Starts each due slot in a task of its own, until `stop`; sleeps until the next is due, or a sooner one is
/// queued.
async fn drive<R: AttemptRunner>(shared: Arc<Shared<R>>, stop: CancellationToken) {
    let sooner = shared.timers().sooner();
    let alarm = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(alarm);
    loop {
        let next = shared.timers().start_due(Instant::now(), &*shared.clock, |due| {
            shared.slots.spawn(run_due(shared.clone(), due));
        });
        match next {
            Some(at) => {
                if alarm.deadline() != at {
                    alarm.as_mut().reset(at);
                }
                tokio::select! {
                    () = &mut alarm => {}
                    () = sooner.notified() => {}
                    () = stop.cancelled() => return,
                }
            }
            None => tokio::select! {
                () = sooner.notified() => {}
                () = stop.cancelled() => return,
            },
        }
    }
}

/// Runs a due slot, then sets the check's next one. The slot's state is boxed, so that the task spawned for it
/// is small to move.
async fn run_due<R: AttemptRunner>(shared: Arc<Shared<R>>, due: DueSlot) {
    let failing = Box::pin(slot::run_slot(&shared, &due.check, due.slot, &due.stop, due.failing)).await;
    let now = shared.clock.now();
    shared.timers().finished(&due.id, due.generation, failing, now);
}

#[cfg(test)]
mod tests;
