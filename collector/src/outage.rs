//! A background task's failures logged once per outage: the first failure is for the caller to log as a
//! warning, the repeats while it lasts are only counted, and the first success after it reports how long it
//! lasted and how many runs failed. A store away for ten minutes makes one warning and one recovery line per
//! task, not one a second.

use std::time::{Duration, Instant};

/// The state of one task's outage; see the module documentation.
#[derive(Debug, Default)]
pub struct Outage {
    since: Option<(Instant, u64)>,
}

/// An outage that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// How long it lasted, from its first failure to the success that ended it.
    pub lasted: Duration,
    /// The runs that failed.
    pub failures: u64,
}

impl Outage {
    /// Notes a failure; `true` when it is the first of an outage (the one to log).
    pub fn failed(&mut self) -> bool {
        match &mut self.since {
            Some((_, failures)) => {
                *failures += 1;
                false
            }
            None => {
                self.since = Some((Instant::now(), 1));
                true
            }
        }
    }

    /// Notes a success: the outage it ends, if one was going on.
    pub fn worked(&mut self) -> Option<Ended> {
        let (since, failures) = self.since.take()?;
        Some(Ended { lasted: since.elapsed(), failures })
    }
}

#[cfg(test)]
mod tests {
    use super::Outage;

    #[test]
    fn only_the_first_failure_of_an_outage_is_told_and_its_end_counts_them_all() {
        let mut outage = Outage::default();
        assert_eq!(outage.worked(), None, "no outage yet");
        assert!(outage.failed());
        assert!(!outage.failed());
        assert!(!outage.failed());
        assert_eq!(outage.worked().map(|ended| ended.failures), Some(3));
        assert_eq!(outage.worked(), None, "told once");
        assert!(outage.failed(), "a new outage is told again");
    }
}
