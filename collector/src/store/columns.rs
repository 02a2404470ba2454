//! How values are kept in database columns, the same in every engine: instants as nanoseconds since the Unix
//! epoch, sequence numbers as signed 64-bit integers, a result as its protobuf encoding with the chain value it
//! arrived with.

use jiff::Timestamp;
use prost::Message;
use slaprobe_proto::evidence::Chain;
use slaprobe_proto::{ResultRecord, v1};

/// Nanoseconds since the epoch, saturated to the column's range.
pub fn nanos(at: Timestamp) -> i64 {
    i64::try_from(at.as_nanosecond()).unwrap_or(if at.as_nanosecond() < 0 { i64::MIN } else { i64::MAX })
}

/// A sequence number in a 64-bit column (sequence numbers beyond `i64::MAX` do not occur; they saturate).
pub fn seq_column(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A result's `record` column: its protobuf encoding, carrying `chain` when it arrived with one.
pub fn stored_record(result: &ResultRecord, chain: Option<Chain>) -> Vec<u8> {
    let mut encoded = v1::Result::from(result);
    encoded.chain = chain.map(Vec::from).unwrap_or_default();
    encoded.encode_to_vec()
}
