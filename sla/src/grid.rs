//! Rules 1–2: the slice grid. Slices are cut from the period start; a result belongs to the slice containing its
//! `started_at`. The grid reaches `margin` slices past each end of the period so that runs of down slices can be
//! judged across period boundaries (rule 6): slices before the period step back from its start, slices after it
//! step on from its end. When the slice length does not divide the period, the last slice inside it is short.

use std::ops::Range;
use std::time::Duration;

use jiff::Timestamp;

use super::period::Period;

/// Slice boundaries over a period and its margins, in nanoseconds since the epoch.
#[derive(Debug, Clone)]
pub struct Grid {
    start: i128,
    end: i128,
    slice: i128,
    before: usize,
    inside: usize,
    after: usize,
}

impl Grid {
    /// The grid for `period` with `slice`-long slices and `margin` extra slices on each side.
    pub fn new(period: &Period, slice: Duration, margin: usize) -> Self {
        let (start, end) = (period.start.as_nanosecond(), period.end.as_nanosecond());
        let slice = i128::try_from(slice.as_nanos()).unwrap_or(i128::MAX).max(1);
        let inside = usize::try_from((end - start + slice - 1) / slice).unwrap_or(0);
        Self { start, end, slice, before: margin, inside, after: margin }
    }

    /// Number of slices in the grid, margins included.
    pub fn slices(&self) -> usize {
        self.before + self.inside + self.after
    }

    /// Indexes of the slices inside the period.
    pub fn period(&self) -> Range<usize> {
        self.before..self.before + self.inside
    }

    /// Slice length in whole seconds.
    pub fn slice_seconds(&self) -> i64 {
        i64::try_from(self.slice / 1_000_000_000).unwrap_or(i64::MAX)
    }

    /// The slice containing `at`, if it lies on the grid.
    pub fn index_of(&self, at: Timestamp) -> Option<usize> {
        let at = at.as_nanosecond();
        if at < self.start {
            let back = usize::try_from((self.start - at + self.slice - 1) / self.slice).ok()?;
            self.before.checked_sub(back)
        } else if at < self.end {
            Some(self.before + usize::try_from((at - self.start) / self.slice).ok()?)
        } else {
            let on = usize::try_from((at - self.end) / self.slice).ok()?;
            (on < self.after).then_some(self.before + self.inside + on)
        }
    }

    /// Start of slice `index`.
    pub fn slice_start(&self, index: usize) -> Timestamp {
        self.at(self.start_ns(index))
    }

    /// End of slice `index` (exclusive); the last slice of the period ends at the period end.
    pub fn slice_end(&self, index: usize) -> Timestamp {
        let next = self.start_ns(index + 1);
        let end = if self.period().contains(&index) { next.min(self.end) } else { next };
        self.at(end)
    }

    /// The first slice that ends after `at` (the number of slices when none does).
    pub fn first_ending_after(&self, at: Timestamp) -> usize {
        let (mut low, mut high) = (0, self.slices());
        while low < high {
            let middle = low + (high - low) / 2;
            if self.slice_end(middle) > at {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        low
    }

    fn start_ns(&self, index: usize) -> i128 {
        let index = index as i128;
        let (before, inside) = (self.before as i128, self.inside as i128);
        if index < before {
            self.start - (before - index) * self.slice
        } else if index < before + inside {
            self.start + (index - before) * self.slice
        } else {
            self.end + (index - before - inside) * self.slice
        }
    }

    fn at(&self, nanos: i128) -> Timestamp {
        Timestamp::from_nanosecond(nanos).unwrap_or(Timestamp::MAX)
    }
}
