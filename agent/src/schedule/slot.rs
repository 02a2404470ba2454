//! One slot of one check: its attempt, within the slot, then the confirmations `confirm:` asks for.

use jiff::{SignedDuration, Timestamp};
use slaprobe_checks::{ConfirmSettings, PreparedCheck};
use tokio_util::sync::CancellationToken;

use super::{AttemptRunner, Shared};
use crate::clock::until;
use crate::probe::AttemptWindow;

/// Runs one slot: its attempt, then the confirmations the check's `confirm:` asks for ([`confirm`]).
/// `failing` says whether the check's latest attempt failed. Returns whether the slot's latest attempt failed
/// (unchanged when the slot was skipped); `None` when the check is stopping or nobody takes results any more.
pub(super) async fn run_slot<R: AttemptRunner>(
    shared: &Shared<R>,
    check: &PreparedCheck,
    slot: Timestamp,
    stop: &CancellationToken,
    failing: bool,
) -> Option<bool> {
    let interval = SignedDuration::try_from(check.check.interval).unwrap_or(SignedDuration::MAX);
    let slot_end = slot + interval;
    let ok = match attempt(shared, check, slot, slot_end, false, stop).await {
        Attempted::Stopping => return None,
        Attempted::Skipped => return Some(failing),
        Attempted::Done(ok) => ok,
    };
    let Some(settings) = check.check.confirm else { return Some(!ok) };
    confirm(shared, check, settings, (slot, slot_end), (failing, ok), stop).await.map(|ok| !ok)
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
