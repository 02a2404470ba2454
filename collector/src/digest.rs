//! SHA-256 digests as lower-case hex, the one form the collector stores and compares them in: agent and API token
//! hashes (the tokens themselves are never kept) and the versions of pushed check lists.

use sha2::{Digest, Sha256};

/// The lower-case hex SHA-256 of `text`, as `collector.yaml` stores a token's hash.
pub fn token_hash(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// `bytes` in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
