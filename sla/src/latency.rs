//! Latency sketches: a mergeable histogram of probe latencies whose percentiles are within 1 % of a latency that
//! was measured. A latency goes into the bucket `⌈log_γ(ms)⌉` with `γ = 1.01 / 0.99`, and a bucket stands for
//! `2γᵏ / (γ + 1)` ms, which differs from every latency in it by at most 1 % (the mapping of DDSketch, Masson et
//! al., VLDB 2019). Merging adds counts bucket by bucket, so a month's sketch merged from per-slice sketches is
//! the very sketch of the month's latencies, in whatever order and grouping they were added.
//!
//! A sketch is kept per slice and region in the slice ledger ([`SketchBins`], a protobuf message of a few bytes
//! per bucket), which is why this is not a library's sketch: those serialise whole dense stores, tens to
//! hundreds of bytes per sketch, and the ledger holds one per region for each slice of every month.

use prost::Message;

use super::breakdown::Percentiles;

/// The relative accuracy: a percentile differs from a measured latency by at most this fraction of it.
const RELATIVE_ACCURACY: f64 = 0.01;
/// Latencies at or below this many milliseconds (one microsecond) share one bucket, reported as 0 ms.
const ZERO_BELOW_MS: f64 = 0.001;
/// The key of that bucket.
const ZERO_KEY: i32 = i32::MIN;

/// `γ`, the ratio of one bucket's upper bound to the one below.
fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

/// A sketch's buckets as stored: keys in ascending order, with the count of each.
#[derive(Clone, PartialEq, Message)]
pub struct SketchBins {
    /// Bucket keys, ascending.
    #[prost(sint32, repeated, tag = "1")]
    pub keys: Vec<i32>,
    /// The number of latencies in each.
    #[prost(uint64, repeated, tag = "2")]
    pub counts: Vec<u64>,
}

/// A mergeable latency histogram; see the module documentation. Its buckets are a list sorted by key: a slice's
/// sketch has one or two, a month's a few hundred, and a list costs one allocation where a map costs one per
/// handful of buckets (the ledger folds one sketch per region for every slice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencySketch {
    buckets: Vec<(i32, u64)>,
}

impl LatencySketch {
    /// Adds one latency, in milliseconds; one that is not a number is left out.
    pub fn add(&mut self, ms: f64) {
        if ms.is_nan() {
            return;
        }
        self.add_to(key_of(ms), 1);
    }

    /// Adds `count` latencies to the bucket `key`.
    fn add_to(&mut self, key: i32, count: u64) {
        match self.buckets.binary_search_by_key(&key, |(bucket, _)| *bucket) {
            Ok(at) => self.buckets[at].1 += count,
            Err(at) => self.buckets.insert(at, (key, count)),
        }
    }

    /// Adds every latency of `other`.
    pub fn merge(&mut self, other: &Self) {
        for (key, count) in &other.buckets {
            self.add_to(*key, *count);
        }
    }

    /// Adds the latencies of stored `bins` (a pair of unequal length counts the pairs it has).
    pub fn merge_bins(&mut self, bins: &SketchBins) {
        for (key, count) in bins.keys.iter().zip(&bins.counts) {
            self.add_to(*key, *count);
        }
    }

    /// The latencies added.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|(_, count)| count).sum()
    }

    /// The sketch as stored.
    pub fn bins(&self) -> SketchBins {
        SketchBins {
            keys: self.buckets.iter().map(|(key, _)| *key).collect(),
            counts: self.buckets.iter().map(|(_, count)| *count).collect(),
        }
    }

    /// Nearest-rank percentiles (the smallest bucket with at least p % of the latencies at or below it), each
    /// within 1 % of a measured latency; `None` when the sketch is empty.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = |percent: u64| {
            let wanted = (percent * total).div_ceil(100).max(1);
            let mut seen = 0;
            for (key, count) in &self.buckets {
                seen += count;
                if seen >= wanted {
                    return value_of(*key);
                }
            }
            self.buckets.last().map_or(0.0, |(key, _)| value_of(*key))
        };
        Some(Percentiles { p50_ms: rank(50), p95_ms: rank(95), p99_ms: rank(99) })
    }
}

/// The bucket of a latency of `ms` milliseconds.
fn key_of(ms: f64) -> i32 {
    if ms <= ZERO_BELOW_MS {
        return ZERO_KEY;
    }
    // Finite latencies give keys within ±40,000 (f64's range); the cast saturates for infinity.
    (ms.ln() / gamma().ln()).ceil() as i32
}

/// The latency a bucket stands for, milliseconds, to the microsecond.
fn value_of(key: i32) -> f64 {
    if key == ZERO_KEY {
        return 0.0;
    }
    let gamma = gamma();
    let value = 2.0 * gamma.powi(key) / (gamma + 1.0);
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{LatencySketch, RELATIVE_ACCURACY};
    use crate::breakdown::Percentiles;

    /// The exact nearest-rank percentiles of `values`, the reference the sketch is held to.
    fn percentiles(values: &mut [f64]) -> Option<Percentiles> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let rank = |percent: usize| values[(percent * values.len()).div_ceil(100).max(1) - 1];
        Some(Percentiles { p50_ms: rank(50), p95_ms: rank(95), p99_ms: rank(99) })
    }

    fn sketch_of(values: &[f64]) -> LatencySketch {
        let mut sketch = LatencySketch::default();
        values.iter().for_each(|value| sketch.add(*value));
        sketch
    }

    #[test]
    fn an_empty_sketch_has_no_percentiles() {
        assert_eq!(LatencySketch::default().percentiles(), None);
        assert_eq!(sketch_of(&[f64::NAN]).count(), 0, "not a number is left out");
    }

    #[test]
    fn zero_and_sub_microsecond_latencies_read_as_zero() {
        let percentiles = sketch_of(&[0.0, 0.0005, 0.0]).percentiles().unwrap();
        assert_eq!((percentiles.p50_ms, percentiles.p99_ms), (0.0, 0.0));
    }

    proptest! {
        /// Every percentile is within 1 % of the exact nearest-rank percentile of the same latencies.
        #[test]
        fn percentiles_are_within_one_percent_of_the_exact_ones(
            values in proptest::collection::vec(0.01f64..60_000.0, 1..400),
        ) {
            let sketched = sketch_of(&values).percentiles().unwrap();
            let exact = percentiles(&mut values.clone()).unwrap();
            for (sketched, exact) in
                [(sketched.p50_ms, exact.p50_ms), (sketched.p95_ms, exact.p95_ms), (sketched.p99_ms, exact.p99_ms)]
            {
                // The bucket's value is rounded to the microsecond, hence the extra thousandth.
                prop_assert!((sketched - exact).abs() <= exact * RELATIVE_ACCURACY + 0.001, "{sketched} vs {exact}");
            }
        }

        /// Merged sketches, stored and read back, are the sketch of all their latencies.
        #[test]
        fn merging_stored_parts_equals_sketching_the_whole(
            parts in proptest::collection::vec(proptest::collection::vec(0.0f64..10_000.0, 0..50), 0..6),
        ) {
            let mut merged = LatencySketch::default();
            for part in &parts {
                merged.merge_bins(&sketch_of(part).bins());
            }
            let whole: Vec<f64> = parts.concat();
            prop_assert_eq!(merged, sketch_of(&whole));
        }
    }
}
