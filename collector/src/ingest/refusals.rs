//! Agent sessions the collector refused (a TLS handshake that failed, no token, a malformed `authorization`, an
//! unknown token, a client certificate not the one the agent is bound to, a Hello claiming another agent than the
//! token's, an agent key missing or not the one pinned or on record, an enrolled agent pending or revoked):
//! counted by reason in `/metrics` and logged with the remote address, at most once a minute per address and
//! reason (with how many more were refused meanwhile), so that an agent retrying
//! forever with a wrong token is visible instead of silent, and cannot flood the log. The agents page lists each
//! address and reason refused since this collector started ([`Refusals::sources`]): how often, when first and
//! last, and the agent id it claimed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::CollectorMetrics;

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
    /// The Hello presents no key, or an unreadable one, though the agent has a key pinned or on record.
    KeyMissing,
    /// The Hello presents another key than the one pinned or on record.
    KeyMismatch,
    /// The TLS handshake failed: not TLS, no protocol or cipher in common, or too slow.
    TlsHandshake,
    /// The TLS handshake failed because the peer presented no client certificate (one is required).
    NoClientCertificate,
    /// The TLS handshake failed on the client certificate: not signed by the client CA, expired, or unusable.
    UntrustedClientCertificate,
    /// The agent is bound to a client certificate (`agents[].client_cert`) and presented another one.
    CertificateMismatch,
    /// The agent enrolled with a fleet token and waits for an admin's approval.
    EnrolmentPending,
    /// The agent enrolled with a fleet token and was revoked.
    EnrolmentRevoked,
    /// A new agent tried to enrol while its enrolment already has as many agents pending as it may.
    EnrolmentFull,
}

impl Refusal {
    /// The `reason` label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Self::NoToken => "no_token",
            Self::MalformedAuthorization => "malformed_authorization",
            Self::UnknownToken => "unknown_token",
            Self::IdentityMismatch => "identity_mismatch",
            Self::KeyMissing => "key_missing",
            Self::KeyMismatch => "key_mismatch",
            Self::TlsHandshake => "tls_handshake",
            Self::NoClientCertificate => "no_client_certificate",
            Self::UntrustedClientCertificate => "untrusted_client_certificate",
            Self::CertificateMismatch => "client_certificate_mismatch",
            Self::EnrolmentPending => "enrolment_pending",
            Self::EnrolmentRevoked => "enrolment_revoked",
            Self::EnrolmentFull => "enrolment_full",
        }
    }

    /// The reason in words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NoToken => "no token",
            Self::MalformedAuthorization => "malformed authorization header",
            Self::UnknownToken => "unknown agent token",
            Self::IdentityMismatch => "claimed another agent or region than its token's",
            Self::KeyMissing => "presented no agent key, though one is pinned or on record",
            Self::KeyMismatch => "presented another agent key than the one pinned or on record",
            Self::TlsHandshake => "TLS handshake failed (not TLS, nothing in common, or too slow)",
            Self::NoClientCertificate => "presented no client certificate",
            Self::UntrustedClientCertificate => "client certificate not signed by the client CA, or expired",
            Self::CertificateMismatch => "presented another client certificate than the one the agent is bound to",
            Self::EnrolmentPending => "enrolled, waiting for an admin's approval",
            Self::EnrolmentRevoked => "enrolment revoked",
            Self::EnrolmentFull => "enrolment has too many agents pending",
        }
    }
}

/// Where a refused session came from, and why it was refused.
type Source = (Option<IpAddr>, Refusal);

/// When a source was last logged, and how many refusals from it since.
type Logged = (Instant, u64);

/// One address and reason refused, as the agents page and `/api/v1/agents` list it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefusedSource {
    /// The remote address, when known.
    pub remote: Option<IpAddr>,
    /// Why (the `reason` label of `/metrics`).
    pub reason: &'static str,
    /// Why, in words.
    pub why: &'static str,
    /// The agent id the last refused stream claimed, cut to 64 characters, when it got as far as saying.
    pub claimed_agent: Option<String>,
    /// Sessions refused.
    pub attempts: u64,
    /// The first refusal.
    pub first_at: jiff::Timestamp,
    /// The latest refusal.
    pub last_at: jiff::Timestamp,
}

/// Refused sessions: the log's rate limit per source, and what the agents page lists.
#[derive(Debug, Default)]
pub struct Refusals {
    logged: Mutex<HashMap<Source, Logged>>,
    seen: Mutex<HashMap<Source, RefusedSource>>,
}

impl Refusals {
    /// Counts a refusal of a session from `remote` and logs it unless one like it was logged within [`LOG_EVERY`].
    /// `claimed` is the agent id the stream claimed, when it got as far as saying.
    pub fn refused(&self, metrics: &CollectorMetrics, remote: Option<IpAddr>, claimed: Option<&str>, reason: Refusal) {
        metrics.count_refused_session(reason.label());
        // The claim comes from an unauthenticated peer: cut to a label's length, so it can flood nothing.
        let claimed: Option<String> = claimed.map(|id| id.chars().take(CLAIM_SHOWN).collect());
        self.remember(remote, claimed.clone(), reason);
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
        // Logged quoted (`?`), so a claimed id cannot forge a line.
        tracing::warn!(
            %remote,
            claimed_agent = ?claimed,
            reason = reason.label(),
            refused_since_last_logged = since,
            "Refused an agent session."
        );
    }

    /// Every address and reason refused since the collector started (at most [`REMEMBERED`], the latest kept),
    /// most recent first.
    pub fn sources(&self) -> Vec<RefusedSource> {
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut sources: Vec<RefusedSource> = seen.values().cloned().collect();
        sources.sort_by_key(|source| std::cmp::Reverse(source.last_at));
        sources
    }

    fn remember(&self, remote: Option<IpAddr>, claimed: Option<String>, reason: Refusal) {
        let now = jiff::Timestamp::now();
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= REMEMBERED && !seen.contains_key(&(remote, reason)) {
            let oldest = seen.iter().min_by_key(|(_, source)| source.last_at).map(|(key, _)| *key);
            if let Some(oldest) = oldest {
                seen.remove(&oldest);
            }
        }
        let entry = seen.entry((remote, reason)).or_insert_with(|| RefusedSource {
            remote,
            reason: reason.label(),
            why: reason.describe(),
            claimed_agent: None,
            attempts: 0,
            first_at: now,
            last_at: now,
        });
        entry.attempts += 1;
        entry.last_at = now;
        if claimed.is_some() {
            entry.claimed_agent = claimed;
        }
    }
}
