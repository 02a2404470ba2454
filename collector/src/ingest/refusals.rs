//! Agent sessions the collector refused (no token, a malformed `authorization`, an unknown token, a Hello claiming
//! another agent than the token's): counted by reason in `/metrics` and logged with the remote address, at most
//! once a minute per address and reason (with how many more were refused meanwhile), so that an agent retrying
//! forever with a wrong token is visible instead of silent, and cannot flood the log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::IngestMetrics;

/// Log lines per remote address and reason, at most one per this.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Characters of a claimed agent id logged, at most (agent ids are at most 64).
const CLAIM_SHOWN: usize = 64;
/// Addresses and reasons remembered for rate limiting, at most.
const REMEMBERED: usize = 1024;

/// Why a session was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// No `authorization` metadata.
    NoToken,
    /// `authorization` is not `Bearer <token>`.
    MalformedAuthorization,
    /// No admitted agent has this token.
    UnknownToken,
    /// The Hello claims another agent or region than the token's.
    IdentityMismatch,
}

impl Refusal {
    /// The `reason` label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Self::NoToken => "no_token",
            Self::MalformedAuthorization => "malformed_authorization",
            Self::UnknownToken => "unknown_token",
            Self::IdentityMismatch => "identity_mismatch",
        }
    }
}

/// Where a refused session came from, and why it was refused.
type Source = (Option<IpAddr>, Refusal);

/// When a source was last logged, and how many refusals from it since.
type Logged = (Instant, u64);

/// Refusals logged recently, per source.
#[derive(Debug, Default)]
pub struct Refusals {
    logged: Mutex<HashMap<Source, Logged>>,
}

impl Refusals {
    /// Counts a refusal of a session from `remote` and logs it unless one like it was logged within [`LOG_EVERY`].
    /// `claimed` is the agent id the stream claimed, when it got as far as saying.
    pub fn refused(&self, metrics: &IngestMetrics, remote: Option<IpAddr>, claimed: Option<&str>, reason: Refusal) {
        metrics.count_refused_session(reason.label());
        let mut logged = self.logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if logged.len() >= REMEMBERED {
            logged.retain(|_, (at, _)| now.duration_since(*at) < LOG_EVERY);
            if logged.len() >= REMEMBERED {
                logged.clear();
            }
        }
        let entry = logged.entry((remote, reason)).or_insert((now - LOG_EVERY, 0));
        if now.duration_since(entry.0) < LOG_EVERY {
            entry.1 += 1;
            return;
        }
        let since = std::mem::take(&mut entry.1);
        entry.0 = now;
        let remote = remote.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
        // The claim comes from an unauthenticated peer: cut to a label's length and quoted, so it can neither
        // flood the log nor forge a line.
        let claimed: Option<String> = claimed.map(|id| id.chars().take(CLAIM_SHOWN).collect());
        tracing::warn!(
            %remote,
            claimed_agent = ?claimed,
            reason = reason.label(),
            refused_since_last_logged = since,
            "Refused an agent session."
        );
    }
}
