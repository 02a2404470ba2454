//! The vendors' status pages: each page a contract names (`status_page:`) is read every `poll_every` (default
//! five minutes), by one collector of several (the `status_pages` lease), and what it declared is kept in the
//! store ([`crate::store::status_pages`]) for reports to hold against our incidents ([`slaprobe_sla::vendor`]).
//! A page that fails is tried again later and later (twice the wait after each failure, at most an hour);
//! the failure is kept with the page and shown on the contract's page and in its reports, never fatal.
//!
//! Everything a page ever declared is kept, by the vendor's id (a page lists only its latest 50), until it
//! ended [`KEEP`] ago; at most [`MAX_NOTICES`] per page.
//!
//! Layout:
//! - [`statuspage`]: reading an Atlassian Statuspage page.

pub mod statuspage;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_sla::vendor::VendorNotice;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::CollectorConfig;
use crate::store::status_pages::StatusPageRecord;
use crate::store::{LeaseClaim, Store, StoreError};

/// How often the collector looks for a page that is due.
const TICK: Duration = Duration::from_secs(10);
/// Wait after start before the first look.
const FIRST_AFTER: Duration = Duration::from_secs(2);
/// The lease outlives one page's read (two requests of at most 20 s) by far.
const LEASE: SignedDuration = SignedDuration::from_mins(2);
/// The longest wait after failures.
const MAX_BACKOFF: SignedDuration = SignedDuration::from_hours(1);
/// How long after it ended a notice is kept.
pub const KEEP: SignedDuration = SignedDuration::from_hours(400 * 24);
/// Notices kept per page at most (the latest by start).
pub const MAX_NOTICES: usize = 2_000;

/// Each page the contracts name, with the shortest `poll_every` any of them asks for.
fn pages(config: &CollectorConfig) -> BTreeMap<String, SignedDuration> {
    let mut pages = BTreeMap::new();
    for page in config.contracts.iter().filter_map(|contract| contract.terms.status_page.as_ref()) {
        let every = SignedDuration::try_from(page.poll_every).unwrap_or(SignedDuration::from_mins(5));
        pages
            .entry(page.url.clone())
            .and_modify(|shortest: &mut SignedDuration| *shortest = (*shortest).min(every))
            .or_insert(every);
    }
    pages
}

/// When a page last attempted at `record` is due again: `every`, doubled for each failure in a row.
fn due_at(record: &StatusPageRecord, every: SignedDuration) -> Timestamp {
    let mut wait = every;
    for _ in 0..record.failures.min(16) {
        wait = wait.saturating_mul(2).min(MAX_BACKOFF.max(every));
    }
    record.attempted_at.saturating_add(wait).unwrap_or(record.attempted_at)
}

/// `stored` with what the page declares now: a notice it lists replaces the stored one of the same id, those it
/// no longer lists stay; notices that ended more than [`KEEP`] before `now` go, and the oldest beyond
/// [`MAX_NOTICES`].
fn merged(stored: Vec<VendorNotice>, fresh: Vec<VendorNotice>, now: Timestamp) -> Vec<VendorNotice> {
    let mut by_id: BTreeMap<(slaprobe_sla::vendor::NoticeKind, String), VendorNotice> =
        stored.into_iter().map(|notice| ((notice.kind, notice.id.clone()), notice)).collect();
    for notice in fresh {
        by_id.insert((notice.kind, notice.id.clone()), notice);
    }
    let horizon = now.saturating_sub(KEEP).unwrap_or(now);
    let mut notices: Vec<VendorNotice> =
        by_id.into_values().filter(|notice| notice.end.unwrap_or(notice.start.max(now)) >= horizon).collect();
    notices.sort_by(|left, right| right.start.cmp(&left.start).then_with(|| left.id.cmp(&right.id)));
    notices.truncate(MAX_NOTICES);
    notices
}

/// Reads every page that is due and stores what it declared, or why it could not be read, while `holder` holds
/// the `status_pages` lease: it is taken or renewed before each page, so a run over many slow pages never
/// outlasts it, and a run stops as soon as another collector holds it.
pub async fn read_due(
    config: &CollectorConfig,
    store: &Store,
    client: &reqwest::Client,
    holder: &str,
) -> Result<(), StoreError> {
    for (url, every) in pages(config) {
        let now = Timestamp::now();
        let stored = store.status_page(&url).await?;
        if stored.as_ref().is_some_and(|record| due_at(record, every) > now) {
            continue;
        }
        let until = now.saturating_add(LEASE).unwrap_or(now);
        let claim = LeaseClaim { name: "status_pages".to_owned(), holder: holder.to_owned(), now, until };
        if !store.claim_lease(claim).await? {
            return Ok(());
        }
        let record = read_page(client, &url, stored, now).await;
        store.put_status_page(&record).await?;
    }
    Ok(())
}

/// Reads the page at `url` once: the record to store after `stored`.
async fn read_page(
    client: &reqwest::Client,
    url: &str,
    stored: Option<StatusPageRecord>,
    now: Timestamp,
) -> StatusPageRecord {
    let (checked_at, failures, notices) =
        stored.map(|record| (record.checked_at, record.failures, record.notices)).unwrap_or((None, 0, Vec::new()));
    match statuspage::read(client, url).await {
        Ok(fresh) => {
            if failures > 0 {
                tracing::info!(url, failures, "The vendor's status page can be read again.");
            }
            StatusPageRecord {
                url: url.to_owned(),
                checked_at: Some(now),
                attempted_at: now,
                problem: None,
                failures: 0,
                notices: merged(notices, fresh, now),
            }
        }
        Err(problem) => {
            if failures == 0 {
                tracing::warn!(url, %problem, "Could not read the vendor's status page; trying again later and later.");
            }
            StatusPageRecord {
                url: url.to_owned(),
                checked_at,
                attempted_at: now,
                problem: Some(problem),
                failures: failures.saturating_add(1),
                notices,
            }
        }
    }
}

/// The HTTP client pages are read with.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(statuspage::REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("slaprobe-collector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| format!("cannot set up the HTTP client for status pages: {error}"))
}

/// Reads due pages ([`read_due`]) every [`TICK`] until `stop`, then gives the lease up.
pub async fn run(
    store: Store,
    client: reqwest::Client,
    config: watch::Receiver<Arc<CollectorConfig>>,
    stop: CancellationToken,
) {
    let holder = crate::store::cluster::instance_name().to_owned();
    let mut wait = FIRST_AFTER;
    let mut outage = crate::outage::Outage::default();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        wait = TICK;
        let current = config.borrow().clone();
        match read_due(&current, &store, &client, &holder).await {
            Ok(()) => {
                if let Some(ended) = outage.worked() {
                    tracing::info!(lasted = ?ended.lasted, "Status pages are kept again.");
                }
            }
            Err(error) if outage.failed() => {
                tracing::warn!(%error, "Could not keep what status pages declared (said once until it works).");
            }
            Err(_) => {}
        }
    }
    store.release_lease("status_pages", &holder).await;
}

#[cfg(test)]
mod tests;
