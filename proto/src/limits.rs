//! Size limits both ends of the `slaprobe.v1` stream keep, so that whatever one side sends the other accepts.
//!
//! The collector refuses a message over [`MAX_MESSAGE_BYTES`] or a batch of more than [`MAX_BATCH_RESULTS`]
//! results by ending the session. The agent therefore fills a batch up to [`BATCH_TARGET_BYTES`] (a quarter of
//! the message limit) and [`BATCH_RESULTS`] results: a single result is far smaller (its largest parts, DNS
//! answers and error messages, are bounded by the probes), so no batch the agent builds can be refused forever.

/// Largest gRPC message either side decodes, in bytes (after decompression).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Most results one `ResultBatch` may carry.
pub const MAX_BATCH_RESULTS: usize = 1_000;

/// Results the agent puts in one batch at most.
pub const BATCH_RESULTS: usize = 500;

/// Encoded bytes the agent puts in one batch at most (a single larger result still travels alone).
pub const BATCH_TARGET_BYTES: usize = MAX_MESSAGE_BYTES / 4;
