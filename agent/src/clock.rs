//! The wall clock the scheduler reads, behind a trait so that tests can drive it from tokio's paused time.
//!
//! Slots are wall-clock instants (so `scheduled_at` is predictable and agents in different regions agree on
//! them); waiting for them uses tokio's timer.

use std::time::Duration;

use jiff::Timestamp;

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
