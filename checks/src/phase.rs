//! Where in its interval a check's slots fall. Slots are `k × interval + offset` since the Unix epoch: the offset
//! is the check's `phase` when set, else derived from a hash of its id, so slots are predictable, stable across
//! restarts, and spread across the interval (10,000 checks at 60 s start about 170 per second). The collector
//! staggers the agents that probe one check ([`staggered`]): with `n` of them, one starts every `interval / n`,
//! so an outage's start is seen within `interval / n` by one region or another, not only at the shared slot.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::check::Check;

/// The offset of a check's slots within its interval, from a SHA-256 of its id (millisecond resolution).
pub fn slot_offset(check_id: &str, interval: Duration) -> Duration {
    let digest = Sha256::digest(check_id.as_bytes());
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&digest[..8]);
    let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(u64::from_be_bytes(prefix) % interval_ms)
}

/// The phase of the agent at `position` (from 0) of the `of` agents probing `check`: the check's own offset
/// moved on by `position / of` of the interval (millisecond resolution).
pub fn staggered(check: &Check, position: usize, of: usize) -> Duration {
    let interval_ms = u64::try_from(check.interval.as_millis()).unwrap_or(u64::MAX).max(1);
    let base = u64::try_from(offset_of(check).as_millis()).unwrap_or(0);
    let share = u128::from(interval_ms) * position as u128 / of.max(1) as u128;
    Duration::from_millis((u128::from(base) + share).rem_euclid(u128::from(interval_ms)) as u64)
}

/// Where `check`'s slots fall within its interval: its `phase`, or the offset from its id.
pub fn offset_of(check: &Check) -> Duration {
    check.phase.unwrap_or_else(|| slot_offset(&check.id, check.interval))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{offset_of, slot_offset, staggered};
    use crate::check::Check;

    #[test]
    fn three_agents_take_turns_a_third_of_the_interval_apart() {
        let check: Check =
            serde_yaml_ng::from_str("{ id: api, kind: http, target: \"http://x/\", interval: 60s }").unwrap();
        let base = slot_offset("api", Duration::from_secs(60));
        assert_eq!(offset_of(&check), base);
        let phases: Vec<u64> = (0..3).map(|position| staggered(&check, position, 3).as_millis() as u64).collect();
        let base = base.as_millis() as u64;
        assert_eq!(phases, [base, (base + 20_000) % 60_000, (base + 40_000) % 60_000]);
        assert_eq!(staggered(&check, 0, 1), Duration::from_millis(base), "one agent keeps the check's own offset");
    }
}
