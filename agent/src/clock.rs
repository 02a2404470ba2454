//! The wall clock the scheduler reads, behind a trait so that tests can drive it from tokio's paused time.
//!
//! Slots are wall-clock instants (so `scheduled_at` is predictable and agents in different regions agree on
//! them); waiting for them uses tokio's timer. [`watch_steps`] compares the two every second and logs each
//! step of the wall clock (NTP correcting a bad clock, a VM resumed) once, however many checks it affects.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

/// A source of UTC wall-clock time.
pub trait WallClock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// How long from `now` until `then`; zero if `then` has passed.
pub fn until(now: Timestamp, then: Timestamp) -> Duration {
    let nanos = then.as_nanosecond() - now.as_nanosecond();
    u64::try_from(nanos).map(Duration::from_nanos).unwrap_or(Duration::ZERO)
}

/// How far the wall clock must move apart from the monotonic clock to count as a step.
pub const STEP: SignedDuration = SignedDuration::from_secs(1);

/// Logs one warning for every step of `clock` against the monotonic clock, until `stop`.
pub async fn watch_steps(clock: Arc<dyn WallClock>, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let (mut wall, mut mono) = (clock.now(), tokio::time::Instant::now());
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        let (wall_now, mono_now) = (clock.now(), tokio::time::Instant::now());
        if let Some(step) = step_between(wall, mono_now - mono, wall_now) {
            let direction = if step.is_positive() { "forward" } else { "back" };
            tracing::warn!(
                step_seconds = step.as_secs_f64(),
                "The wall clock stepped {direction}; slots follow the new time."
            );
        }
        (wall, mono) = (wall_now, mono_now);
    }
}

/// The step of the wall clock from `before` to `after` while the monotonic clock advanced `elapsed`, if it is
/// larger than [`STEP`].
pub fn step_between(before: Timestamp, elapsed: Duration, after: Timestamp) -> Option<SignedDuration> {
    let expected = before + SignedDuration::try_from(elapsed).unwrap_or(SignedDuration::MAX);
    let step = after.duration_since(expected);
    (step.abs() > STEP).then_some(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_beyond_a_second_either_way_are_told_apart_from_drift() {
        let before: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        let second = Duration::from_secs(1);
        assert_eq!(step_between(before, second, before + SignedDuration::from_millis(1_400)), None, "drift");
        assert_eq!(
            step_between(before, second, before + SignedDuration::from_hours(1)),
            Some(SignedDuration::from_hours(1) - SignedDuration::from_secs(1))
        );
        let back = step_between(before, second, before - SignedDuration::from_mins(5)).unwrap();
        assert!(back.is_negative(), "{back:?}");
    }
}
