//! The scheduler's bookkeeping: one entry per check, and one timer queue ([`DelayQueue`]) holding the next slot
//! of every check that is waiting for one.
//!
//! A check is always in one of four states: waiting for its next slot (in the queue), in flight (a slot task runs
//! its attempt and confirmations), superseded (changed by a reload while in flight: its new settings start once
//! the old attempt ends, so a check's attempts never overlap), or stopped (nobody takes results any more).
//! A waiting check costs its map entry, its key and its timer, about 240 bytes; a task per check cost 700.

use std::collections::HashMap;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_checks::{PreparedCheck, offset_of};
use tokio_util::sync::CancellationToken;
use tokio_util::time::DelayQueue;
use tokio_util::time::delay_queue::Key;

use super::{ApplySummary, next_slot};
use crate::clock::{WallClock, until};

/// The longest a timer is set for: the queue's wheel ends at about two years. A slot further away (a check run
/// once a year, say) is reached by setting the timer again when it fires early.
const LONGEST_TIMER: Duration = Duration::from_secs(365 * 24 * 3600);

/// Every scheduled check and the timers of those waiting.
#[derive(Default)]
pub(super) struct Timers {
    entries: HashMap<Arc<str>, Entry>,
    queue: DelayQueue<Arc<str>>,
    next_generation: u32,
    closed: bool,
}

/// One scheduled check.
struct Entry {
    check: PreparedCheck,
    /// Where the check's slots fall within its interval ([`offset_of`], a hash of its id, kept).
    offset: Duration,
    /// Told apart from an earlier version of the same check still in flight.
    generation: u32,
    /// Whether the latest attempt failed (confirmations follow failures).
    failing: bool,
    state: State,
}

enum State {
    Waiting { key: Key, slot: Timestamp },
    InFlight { stop: CancellationToken, slot: Timestamp },
    Superseded,
    Stopped,
}

/// A slot that is due, handed to a task of its own.
pub(super) struct DueSlot {
    pub(super) id: Arc<str>,
    pub(super) check: PreparedCheck,
    pub(super) generation: u32,
    pub(super) slot: Timestamp,
    pub(super) failing: bool,
    pub(super) stop: CancellationToken,
}

impl Timers {
    /// Makes `checks` the scheduled set: new ones wait for their first slot, changed ones start afresh (after
    /// their attempt in flight, if any), missing ones stop, unchanged ones keep their slots and state.
    pub(super) fn apply(&mut self, checks: impl IntoIterator<Item = PreparedCheck>, now: Timestamp) -> ApplySummary {
        let checks = checks.into_iter();
        let mut summary = ApplySummary::default();
        let mut next = HashMap::with_capacity(checks.size_hint().0);
        for prepared in checks {
            let id: Arc<str> = Arc::from(prepared.check.id.as_str());
            let entry = match self.entries.remove(&id) {
                Some(entry) if entry.check.check == prepared.check => {
                    summary.unchanged += 1;
                    entry
                }
                Some(mut entry) => {
                    summary.changed += 1;
                    entry.offset = offset_of(&prepared.check);
                    (entry.check, entry.generation, entry.failing) = (prepared, self.fresh_generation(), false);
                    match mem::replace(&mut entry.state, State::Superseded) {
                        State::Waiting { key, .. } => {
                            self.queue.remove(&key);
                            entry.wait(&id, &mut self.queue, None, now);
                        }
                        State::InFlight { stop, .. } => stop.cancel(),
                        State::Superseded => {}
                        State::Stopped => entry.wait(&id, &mut self.queue, None, now),
                    }
                    entry
                }
                None => {
                    summary.added += 1;
                    let generation = self.fresh_generation();
                    let offset = offset_of(&prepared.check);
                    let mut entry =
                        Entry { check: prepared, offset, generation, failing: false, state: State::Stopped };
                    entry.wait(&id, &mut self.queue, None, now);
                    entry
                }
            };
            next.insert(id, entry);
        }
        for (_, entry) in self.entries.drain() {
            summary.removed += 1;
            match entry.state {
                State::Waiting { key, .. } => drop(self.queue.remove(&key)),
                State::InFlight { stop, .. } => stop.cancel(),
                State::Superseded | State::Stopped => {}
            }
        }
        self.entries = next;
        summary
    }

    /// The next slot that is due. Never ready with nothing: an empty queue stays pending until a check is added.
    /// A slot whose timer fired across a step of the wall clock is not run: forward past the whole slot, or back
    /// by more than an interval, the check waits for the new time's next slot (the clock watcher logs the step);
    /// back a little, it waits for the same slot again.
    pub(super) fn poll_due(&mut self, cx: &mut Context<'_>, clock: &dyn WallClock) -> Poll<DueSlot> {
        loop {
            let Poll::Ready(Some(expired)) = self.queue.poll_expired(cx) else { return Poll::Pending };
            let fired = expired.key();
            let id = expired.into_inner();
            let Some(entry) = self.entries.get_mut(&id) else { continue };
            let State::Waiting { key, slot } = entry.state else { continue };
            if key != fired {
                continue;
            }
            let now = clock.now();
            let interval = entry.interval();
            if now >= slot + interval || slot > now + interval {
                entry.wait(&id, &mut self.queue, None, now);
                continue;
            }
            if now < slot {
                entry.state = State::Waiting { key: self.queue.insert(id.clone(), timer(now, slot)), slot };
                continue;
            }
            let stop = CancellationToken::new();
            entry.state = State::InFlight { stop: stop.clone(), slot };
            let (check, generation, failing) = (entry.check.clone(), entry.generation, entry.failing);
            return Poll::Ready(DueSlot { id, check, generation, slot, failing, stop });
        }
    }

    /// A slot task ended: `failing` is whether its latest attempt failed, `None` when nobody takes results any
    /// more. The check waits for its next slot, unless it was removed, changed (then its new version starts), or
    /// the scheduler is closing.
    pub(super) fn finished(&mut self, id: &Arc<str>, generation: u32, failing: Option<bool>, now: Timestamp) {
        if self.closed {
            return;
        }
        let Some(entry) = self.entries.get_mut(id) else { return };
        match (&entry.state, failing) {
            (State::InFlight { slot, .. }, Some(failing)) if entry.generation == generation => {
                let last_slot = *slot;
                entry.failing = failing;
                entry.wait(id, &mut self.queue, Some(last_slot), now);
            }
            (State::InFlight { .. }, None) if entry.generation == generation => entry.state = State::Stopped,
            (State::Superseded, _) => entry.wait(id, &mut self.queue, None, now),
            _ => {}
        }
    }

    /// Stops scheduling: no slot starts any more, and those in flight are told to stop after their attempt.
    pub(super) fn close(&mut self) {
        self.closed = true;
        self.queue.clear();
        for entry in self.entries.values_mut() {
            if let State::InFlight { stop, .. } = mem::replace(&mut entry.state, State::Stopped) {
                stop.cancel();
            }
        }
    }

    fn fresh_generation(&mut self) -> u32 {
        self.next_generation = self.next_generation.wrapping_add(1);
        self.next_generation
    }
}

impl Entry {
    fn interval(&self) -> SignedDuration {
        SignedDuration::try_from(self.check.check.interval).unwrap_or(SignedDuration::MAX)
    }

    /// Sets the timer for the check's next slot: the first after `last_slot`, or after `now` when there was none
    /// or the wall clock stepped back by more than an interval since (then the slots follow the clock rather than
    /// wait out the step).
    fn wait(&mut self, id: &Arc<str>, queue: &mut DelayQueue<Arc<str>>, last_slot: Option<Timestamp>, now: Timestamp) {
        let not_before = match last_slot {
            Some(last) if last <= now + self.interval() => last + SignedDuration::from_nanos(1),
            _ => now,
        };
        let slot = next_slot(not_before, self.check.check.interval, self.offset);
        self.state = State::Waiting { key: queue.insert(id.clone(), timer(now, slot)), slot };
    }
}

/// The timer to set at `now` for `slot`.
fn timer(now: Timestamp, slot: Timestamp) -> Duration {
    until(now, slot).min(LONGEST_TIMER)
}
