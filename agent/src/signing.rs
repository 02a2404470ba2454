//! The agent's signing key and what it signs (`docs/evidence.md`).
//!
//! The key is an Ed25519 key pair made at first start and kept in `spool_dir/signing.key` (PKCS#8 DER, 0600), so
//! the agent keeps its identity across restarts and upgrades; the collector pins or records the public key, which
//! `slaprobe-agent --print-public-key` prints. [`Signer`] signs, for one uplink session, a checkpoint over a
//! batch's last result every `checkpoint_results` results or `checkpoint_every` (defaults [`CHECKPOINT_RESULTS`],
//! [`CHECKPOINT_INTERVAL`]; and on the session's first batch), and every gap report.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use slaprobe_proto::evidence::{Chain, PublicKey, Statement, carried_chain};
use slaprobe_proto::v1;

use crate::private_files::{create_private_dir, write_private_atomically};
use crate::spool::Gap;

/// By default, a checkpoint is signed once this many results have been sent since the last one…
pub const CHECKPOINT_RESULTS: u64 = 1_000;
/// …or once this long has passed since it.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// How often checkpoints are signed: after this many results or this long, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Results since the last checkpoint.
    pub results: u64,
    /// Time since the last checkpoint.
    pub every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self { results: CHECKPOINT_RESULTS, every: CHECKPOINT_INTERVAL }
    }
}

/// The key file's name in `spool_dir`.
pub const KEY_FILE: &str = "signing.key";

/// The agent's key pair.
#[derive(Debug)]
pub struct SigningKey {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

/// Why the key cannot be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The file holds no Ed25519 key.
    #[error("{}: not an Ed25519 PKCS#8 key ({reason}); move it away to make a new key (the collector then refuses the agent until the new key is pinned)", path.display())]
    Unreadable {
        /// The key file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

impl SigningKey {
    /// The key in `spool_dir`, made (and saved) when there is none yet.
    pub fn load_or_create(spool_dir: &Path) -> Result<Self, KeyFileError> {
        let path = spool_dir.join(KEY_FILE);
        let io_error = |source| KeyFileError::Io { path: path.clone(), source };
        let document = match fs::read(&path) {
            Ok(document) => document,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                create_private_dir(spool_dir).map_err(io_error)?;
                let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(|_| io_error(io::Error::other("the system's random number generator failed")))?;
                write_private_atomically(&path, document.as_ref()).map_err(io_error)?;
                tracing::info!(path = %path.display(), "Made the agent's signing key.");
                document.as_ref().to_vec()
            }
            Err(error) => return Err(io_error(error)),
        };
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&document)
            .map_err(|error| KeyFileError::Unreadable { path: path.clone(), reason: error.to_string() })?;
        let public = PublicKey::from_bytes(pair.public_key().as_ref())
            .map_err(|error| KeyFileError::Unreadable { path, reason: error.to_string() })?;
        Ok(Self { pair, public })
    }

    /// The public key, as the collector pins it.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The signature of `statement` (64 bytes).
    pub fn sign(&self, statement: &Statement) -> Vec<u8> {
        self.pair.sign(&statement.signed_bytes()).as_ref().to_vec()
    }
}

/// Signs one uplink session's checkpoints and gap reports.
#[derive(Debug)]
pub struct Signer {
    key: Arc<SigningKey>,
    agent_id: String,
    policy: CheckpointPolicy,
    last_checkpoint: Option<(u64, Instant)>,
}

impl Signer {
    /// A signer for `agent_id` with no checkpoint sent yet.
    pub fn new(key: Arc<SigningKey>, agent_id: String, policy: CheckpointPolicy) -> Self {
        Self { key, agent_id, policy, last_checkpoint: None }
    }

    /// The checkpoint to send with `batch`, when one is due: over its last result, if that carries a chain value.
    pub fn checkpoint(&mut self, batch: &[v1::Result]) -> Option<v1::Checkpoint> {
        let last = batch.last()?;
        let chain = carried_chain(last).ok().flatten()?;
        let due = self.last_checkpoint.is_none_or(|(seq, at)| {
            last.seq >= seq.saturating_add(self.policy.results) || at.elapsed() >= self.policy.every
        });
        if !due {
            return None;
        }
        self.last_checkpoint = Some((last.seq, Instant::now()));
        let statement = Statement::Checkpoint { agent_id: self.agent_id.clone(), seq: last.seq, chain };
        Some(v1::Checkpoint { seq: last.seq, chain: chain.to_vec(), signature: self.key.sign(&statement) })
    }

    /// `gap` as the signed report the collector records.
    pub fn gap(&self, gap: &Gap) -> v1::SpoolGap {
        let reason = gap.cause.reason().to_owned();
        let statement = Statement::Gap {
            agent_id: self.agent_id.clone(),
            first_seq: gap.first,
            last_seq: gap.last,
            reason: reason.clone(),
            chain_before: gap.chain_before,
            chain_after: gap.chain_after,
        };
        let bytes = |chain: Option<Chain>| chain.map(Vec::from).unwrap_or_default();
        v1::SpoolGap {
            first_seq: gap.first,
            last_seq: gap.last,
            reason,
            chain_before: bytes(gap.chain_before),
            chain_after: bytes(gap.chain_after),
            signature: self.key.sign(&statement),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_key_is_made_once_kept_private_and_signs_what_its_public_key_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let spool_dir = dir.path().join("spool");
        let key = SigningKey::load_or_create(&spool_dir).unwrap();
        let mode = fs::metadata(spool_dir.join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(SigningKey::load_or_create(&spool_dir).unwrap().public_key(), key.public_key(), "kept");

        let statement = Statement::Checkpoint { agent_id: "a".to_owned(), seq: 1, chain: [1; 32] };
        assert!(key.public_key().verifies(&statement, &key.sign(&statement)));
    }

    #[test]
    fn checkpoints_come_with_the_first_batch_then_every_thousand_results() {
        let dir = tempfile::tempdir().unwrap();
        let key = Arc::new(SigningKey::load_or_create(dir.path()).unwrap());
        let public = key.public_key();
        let mut signer = Signer::new(key, "agent-1".to_owned(), CheckpointPolicy::default());
        let batch = |seq: u64| vec![v1::Result { seq, chain: vec![seq as u8; 32], ..Default::default() }];
        let first = signer.checkpoint(&batch(5)).expect("the session's first batch");
        let statement = Statement::Checkpoint { agent_id: "agent-1".to_owned(), seq: 5, chain: [5; 32] };
        assert!(public.verifies(&statement, &first.signature));
        assert_eq!(signer.checkpoint(&batch(1004)), None, "999 results later: not yet");
        assert_eq!(signer.checkpoint(&batch(1005)).map(|checkpoint| checkpoint.seq), Some(1005));
        let unchained = vec![v1::Result { seq: 9000, ..Default::default() }];
        assert_eq!(signer.checkpoint(&unchained), None, "nothing to sign without a chain value");
    }

    #[test]
    fn a_damaged_key_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(KEY_FILE), b"not a key").unwrap();
        let error = SigningKey::load_or_create(dir.path()).unwrap_err().to_string();
        assert!(error.contains("signing.key: not an Ed25519 PKCS#8 key"), "{error}");
    }
}
