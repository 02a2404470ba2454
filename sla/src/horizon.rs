//! Rule 7's edges of knowledge: when monitoring of a contract began and the moment a report is made. Slices
//! that ended before the contract's first stored result are `not monitored`; slices that have not ended are
//! `future`. Neither is eligible nor unknown, whatever `no_data` says: a report never counts time nobody could
//! have measured.

use jiff::Timestamp;

/// What the engine is told of time beyond the results it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizon {
    /// The `started_at` of the contract's first stored result (any of its checks, any region); `None` when
    /// there is none, so nothing was monitored.
    pub monitored_from: Option<Timestamp>,
    /// The moment the report is made: slices ending after it are still to come.
    pub now: Timestamp,
}

impl Horizon {
    /// Whether a slice ending at `end` had ended by `now`.
    pub fn has_ended(&self, end: Timestamp) -> bool {
        end <= self.now
    }

    /// Whether a slice ending at `end` ended before monitoring began.
    pub fn before_monitoring(&self, end: Timestamp) -> bool {
        self.monitored_from.is_none_or(|first| end <= first)
    }
}
