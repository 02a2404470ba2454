//! How values are kept in database columns, the same in every engine: instants as nanoseconds since the Unix
//! epoch, sequence numbers as signed 64-bit integers.

use jiff::Timestamp;

/// Nanoseconds since the epoch, saturated to the column's range.
pub fn nanos(at: Timestamp) -> i64 {
    i64::try_from(at.as_nanosecond()).unwrap_or(if at.as_nanosecond() < 0 { i64::MIN } else { i64::MAX })
}

/// A sequence number in a 64-bit column (sequence numbers beyond `i64::MAX` do not occur; they saturate).
pub fn seq_column(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}
