//! The scheduler's bookkeeping: one entry per check, and one timer queue holding the next slot of every check
//! that is waiting for one.
//!
//! A check is always in one of four states: waiting for its next slot (in the queue), in flight (a slot task runs
//! its attempt and confirmations), superseded (changed by a reload while in flight: its new settings start once
//! the old attempt ends, so a check's attempts never overlap), or stopped (nobody takes results any more).
//! A waiting check costs its map entry, its key and its place in the queue, about 200 bytes; a task per check
//! cost 700.
//!
//! The queue is a heap ordered by when each timer is due on the monotonic clock; the driver sleeps until the
//! first. It wakes at most once per [`WAKE_GAP`]: a slot falling less than that after the driver last started
//! slots starts with the next batch, up to [`WAKE_GAP`] after its instant (its `scheduled_at` stays the slot).
//! A lone slot starts at its instant. A thousand checks a second thus cost 250 wake-ups instead of a thousand,
//! each one a thread switch and a timer set again.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::mem;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_checks::{PreparedCheck, offset_of};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ApplySummary, next_slot};
use crate::clock::{WallClock, until};

/// The longest a timer is set for. A slot further away (a check run once every few years, say) is reached by
/// setting the timer again when it fires early.
const LONGEST_TIMER: Duration = Duration::from_secs(365 * 24 * 3600);

/// The least time between two wake-ups of the driver that start slots.
const WAKE_GAP: Duration = Duration::from_millis(4);

/// Queued timers beyond this many more than the checks make the queue drop those no longer waited on.
const STALE_SLACK: usize = 1024;

/// Every scheduled check and the timers of those waiting.
#[derive(Default)]
pub(super) struct Timers {
    entries: HashMap<Arc<str>, Entry>,
    queue: TimerQueue,
    next_generation: u32,
    /// When the driver last started slots: it starts none again before [`WAKE_GAP`] has passed.
    last_start: Option<Instant>,
    closed: bool,
}

/// The timers of the waiting checks, soonest first.
#[derive(Default)]
struct TimerQueue {
    heap: BinaryHeap<Reverse<Queued>>,
    next_ticket: u64,
    /// When the driver looks next (`None`: only when told); a timer due sooner tells it through `sooner`.
    alarm: Option<Instant>,
    sooner: Arc<Notify>,
}

/// A timer in the queue: when it is due, which wait of its check it belongs to (a check changed, removed or
/// stopped since leaves its timer behind, told apart by the ticket and skipped), and the check.
struct Queued {
    due: Instant,
    ticket: u64,
    id: Arc<str>,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.ticket) == (other.due, other.ticket)
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.ticket).cmp(&(other.due, other.ticket))
    }
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
    Waiting { ticket: u64, slot: Timestamp },
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
                        State::Waiting { .. } | State::Stopped => entry.wait(&id, &mut self.queue, None, now),
                        State::InFlight { stop, .. } => stop.cancel(),
                        State::Superseded => {}
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
            if let State::InFlight { stop, .. } = entry.state {
                stop.cancel();
            }
        }
        self.entries = next;
        self.queue.drop_stale(&self.entries);
        summary
    }

    /// What tells the driver that a timer is due before its alarm.
    pub(super) fn sooner(&self) -> Arc<Notify> {
        self.queue.sooner.clone()
    }

    /// Hands every slot due at `now` (monotonic) to `start`, unless slots were started less than [`WAKE_GAP`]
    /// ago; returns when to look again (`None`: when told). A slot whose timer fired across a step of the wall
    /// clock is not run: forward past the whole slot, or back by more than an interval, the check waits for the
    /// new time's next slot (the clock watcher logs the step); back a little, it waits for the same slot again.
    pub(super) fn start_due(
        &mut self,
        now: Instant,
        clock: &dyn WallClock,
        mut start: impl FnMut(DueSlot),
    ) -> Option<Instant> {
        let rested = self.last_start.is_none_or(|last| now >= last + WAKE_GAP);
        if rested && !self.closed {
            let mut started = false;
            while let Some(due) = self.pop_due(now, clock) {
                start(due);
                started = true;
            }
            if started {
                self.last_start = Some(now);
            }
        }
        let first = self.queue.heap.peek().map(|Reverse(queued)| queued.due);
        self.queue.alarm = first.map(|due| self.last_start.map_or(due, |last| due.max(last + WAKE_GAP)));
        self.queue.alarm
    }

    /// The next due slot to run, setting again the timers of those that fired across a wall-clock step.
    fn pop_due(&mut self, now: Instant, clock: &dyn WallClock) -> Option<DueSlot> {
        loop {
            let Reverse(Queued { ticket, id, .. }) = self.queue.pop_due(now)?;
            let Some(entry) = self.entries.get_mut(&id) else { continue };
            let State::Waiting { ticket: waited, slot } = entry.state else { continue };
            if waited != ticket {
                continue;
            }
            let wall = clock.now();
            let interval = entry.interval();
            if wall >= slot + interval || slot > wall + interval {
                entry.wait(&id, &mut self.queue, None, wall);
                continue;
            }
            if wall < slot {
                entry.state = State::Waiting { ticket: self.queue.push(&id, wall, slot), slot };
                continue;
            }
            let stop = CancellationToken::new();
            entry.state = State::InFlight { stop: stop.clone(), slot };
            let (check, generation, failing) = (entry.check.clone(), entry.generation, entry.failing);
            return Some(DueSlot { id, check, generation, slot, failing, stop });
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
        self.queue.heap.clear();
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

impl TimerQueue {
    /// Queues a timer for `slot`, seen at wall-clock `now`; tells the driver if it is due before its alarm.
    /// Returns the timer's ticket.
    fn push(&mut self, id: &Arc<str>, now: Timestamp, slot: Timestamp) -> u64 {
        let due = Instant::now() + until(now, slot).min(LONGEST_TIMER);
        self.next_ticket += 1;
        self.heap.push(Reverse(Queued { due, ticket: self.next_ticket, id: id.clone() }));
        if self.alarm.is_none_or(|alarm| due < alarm) {
            self.sooner.notify_one();
        }
        self.next_ticket
    }

    /// The soonest timer, if it is due at `now`.
    fn pop_due(&mut self, now: Instant) -> Option<Reverse<Queued>> {
        match self.heap.peek() {
            Some(Reverse(queued)) if queued.due <= now => self.heap.pop(),
            _ => None,
        }
    }

    /// Drops the timers no check waits on any more (left by checks changed or removed), once they outnumber
    /// the checks by far.
    fn drop_stale(&mut self, entries: &HashMap<Arc<str>, Entry>) {
        if self.heap.len() <= entries.len() * 2 + STALE_SLACK {
            return;
        }
        self.heap.retain(|Reverse(queued)| {
            let state = entries.get(&queued.id).map(|entry| &entry.state);
            matches!(state, Some(State::Waiting { ticket, .. }) if *ticket == queued.ticket)
        });
    }
}

impl Entry {
    fn interval(&self) -> SignedDuration {
        SignedDuration::try_from(self.check.check.interval).unwrap_or(SignedDuration::MAX)
    }

    /// Sets the timer for the check's next slot: the first after `last_slot`, or after `now` when there was none
    /// or the wall clock stepped back by more than an interval since (then the slots follow the clock rather than
    /// wait out the step).
    fn wait(&mut self, id: &Arc<str>, queue: &mut TimerQueue, last_slot: Option<Timestamp>, now: Timestamp) {
        let not_before = match last_slot {
            Some(last) if last <= now + self.interval() => last + SignedDuration::from_nanos(1),
            _ => now,
        };
        let slot = next_slot(not_before, self.check.check.interval, self.offset);
        self.state = State::Waiting { ticket: queue.push(id, now, slot), slot };
    }
}

#[cfg(test)]
mod tests {
    use super::{STALE_SLACK, Timers};
    use crate::schedule::tests::checks;

    #[test]
    fn timers_left_by_reloads_are_dropped_before_they_pile_up() {
        let version = |interval: &str| {
            let check =
                |index| format!("- {{ id: c{index}, kind: tcp, target: \"127.0.0.1:9\", interval: {interval} }}\n");
            (0..10).map(check).collect::<String>()
        };
        let mut timers = Timers::default();
        let now = "2026-03-01T00:00:00Z".parse().unwrap();
        for reload in 0..500 {
            let summary = timers.apply(checks(&version(if reload % 2 == 0 { "1h" } else { "2h" })), now);
            assert_eq!(summary.changed, if reload == 0 { 0 } else { 10 });
        }
        assert!(timers.queue.heap.len() <= 10 * 2 + STALE_SLACK + 10, "{} timers queued", timers.queue.heap.len());
        let waiting = timers.entries.values().filter(|entry| matches!(entry.state, super::State::Waiting { .. }));
        assert_eq!(waiting.count(), 10, "every check still waits for its slot");
    }
}
