//! Period close: once a contract's period has ended and its results have settled (the period's end, the settle
//! time and a minute), the collector freezes its claim report. The report is rendered as JSON, HTML, CSV and
//! Markdown exactly as `report` prints it and stored with each file's SHA-256 as revision 1 of the closed
//! period; it is never changed. Every run looks again at the closed periods that may still be claimed (until
//! their claim deadline, or [`UNSTATED_CLAIM_WINDOW`] after their end): when results that arrived late, a
//! change of the contract's terms, or an import move any figure, a new revision is stored that lists what
//! changed and says why. Each revision with a credit owed opens or updates the period's claim
//! ([`crate::claims`]).
//!
//! A serving collector runs this every [`EVERY`] under the `close` lease, so one replica of several does it;
//! `slaprobe-collector close` runs the same steps at once. Both are safe to run together: a revision is stored
//! once whoever makes it, and a claim changes only from the version a change was made from.
//!
//! After closing, each run sends what is due to the channels of `reports:` ([`delivery`]).
//!
//! Layout:
//! - [`changes`]: what differs between two revisions' reports, line by line.
//! - [`delivery`]: closed periods and claim reminders sent to the channels of `reports:`, once each.

pub mod changes;
pub mod delivery;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::claims::{RevisedCredit, follow_revision};
use crate::config::CollectorConfig;
use crate::config::retention::UNSTATED_CLAIM_WINDOW;
use crate::digest::{hex, token_hash};
use crate::ledger::settle_horizon;
use crate::notify::Notifier;
use crate::outage::Outage;
use crate::store::periods::latest_revisions;
use crate::store::{ArtifactSummary, ClaimWrite, ClosedPeriod, LeaseClaim, PeriodRevision, Store, StoreError};
use crate::views::{ViewError, monitoring_began, select, store_reports};
use slaprobe_sla::contract::{AppliedContract, Contract};
use slaprobe_sla::period::Period;
use slaprobe_sla::render::{Format, render};
use slaprobe_sla::status::current_period;

/// Time between runs in a serving collector.
pub const EVERY: Duration = Duration::from_secs(300);
/// Wait after start before the first run (agents reconnect and replay their spools first).
const FIRST_AFTER: Duration = Duration::from_secs(30);
/// The lease outlives a run by far; a collector that dies holding it delays closes by at most this long.
const LEASE: SignedDuration = SignedDuration::from_mins(30);
/// Ended periods a run looks back over: a year of months.
const PERIODS_BACK: usize = 12;
/// How many tries a claim change gets when a person changes the claim at the same moment.
const CLAIM_TRIES: usize = 3;

/// The artifacts of a revision, in order: file name and format.
pub const ARTIFACTS: [(&str, Format); 4] = [
    ("report.json", Format::Json),
    ("report.html", Format::Html),
    ("report.csv", Format::Csv),
    ("report.md", Format::Md),
];

/// Why a close did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    /// The contract or the period (exit 64), or the store.
    #[error(transparent)]
    View(#[from] ViewError),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The period asked for has not ended and settled yet (exit 64).
    #[error(
        "contract {contract:?}: period {period} has not closed yet: it ends at {end} and its results settle \
             by {settles}"
    )]
    NotYet {
        /// The contract.
        contract: String,
        /// The period.
        period: String,
        /// When it ends.
        end: Timestamp,
        /// When it can close.
        settles: Timestamp,
    },
}

/// What one close did to one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Revision 1 was stored.
    Closed,
    /// A new revision was stored.
    Revised,
    /// The figures are as the latest revision has them.
    Unchanged,
    /// Another collector stored the same revision first.
    Raced,
}

/// One period a close looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    /// What happened.
    pub outcome: Outcome,
    /// The latest revision now.
    pub revision: ClosedPeriod,
}

impl std::fmt::Display for Closed {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let revision = &self.revision;
        let credit = format!("credit {} {}", revision.credit_amount, revision.currency);
        write!(out, "{} {}: ", revision.contract, revision.period)?;
        match self.outcome {
            Outcome::Closed => write!(out, "closed as revision 1, {credit}"),
            Outcome::Revised => {
                write!(out, "revision {}: {}; {credit}", revision.revision, revision.reason)?;
                revision.changes.iter().try_for_each(|change| write!(out, "\n  {change}"))
            }
            Outcome::Unchanged => write!(out, "unchanged since revision {}, {credit}", revision.revision),
            Outcome::Raced => write!(out, "revision {} was stored by another collector", revision.revision),
        }
    }
}

/// The hash of the terms a report is made under: everything written in the contract and where its checks are
/// placed.
pub fn terms_hash(contract: &Contract) -> String {
    token_hash(&serde_json::to_string(&AppliedContract::of(contract, None)).unwrap_or_default())
}

/// Closes or looks again at every period of every contract (of `only`, when given) that has settled at `now`
/// and may still be claimed, then brings each claim up to its period's latest revision.
pub async fn close_due(
    config: &CollectorConfig,
    store: &Store,
    only: Option<&str>,
    now: Timestamp,
) -> Result<Vec<Closed>, CloseError> {
    let mut latest = latest_by_period(store).await?;
    let mut done = Vec::new();
    for contract in config.contracts.iter().filter(|contract| only.is_none_or(|id| contract.terms.id == id)) {
        let Some(began) = monitoring_began(store, contract).await? else { continue };
        for period in settled_periods(config, contract, began, now) {
            let key = (contract.terms.id.clone(), period.label.clone());
            let before = latest.get(&key);
            if before.is_some_and(|revision| !still_claimable(revision, &period, now)) {
                continue;
            }
            let closed = settle(config, store, contract, &period, before, now).await?;
            latest.insert(key, closed.revision.clone());
            done.push(closed);
        }
    }
    follow_claims(config, store, latest.values(), now).await?;
    Ok(done)
}

/// Closes or looks again at `period` of each contract (of `only`, when given), refusing one that has not
/// settled at `now`.
pub async fn close_period(
    config: &CollectorConfig,
    store: &Store,
    period: &str,
    only: Option<&str>,
    now: Timestamp,
) -> Result<Vec<Closed>, CloseError> {
    let selected = select(&config.contracts, period, only)?;
    for (contract, period) in &selected {
        let horizon = settle_horizon(config, contract, now);
        if period.end > horizon {
            let settles = period.end.saturating_add(now.duration_since(horizon)).unwrap_or(period.end);
            return Err(CloseError::NotYet {
                contract: contract.terms.id.clone(),
                period: period.label.clone(),
                end: period.end,
                settles,
            });
        }
    }
    let latest = latest_by_period(store).await?;
    let mut done = Vec::new();
    for (contract, period) in selected {
        let before = latest.get(&(contract.terms.id.clone(), period.label.clone()));
        done.push(settle(config, store, contract, &period, before, now).await?);
    }
    let revisions: Vec<ClosedPeriod> = done.iter().map(|closed| closed.revision.clone()).collect();
    follow_claims(config, store, revisions.iter(), now).await?;
    Ok(done)
}

/// Each closed period's latest revision, by contract and period.
async fn latest_by_period(store: &Store) -> Result<BTreeMap<(String, String), ClosedPeriod>, StoreError> {
    let latest = latest_revisions(store.closed_periods(None).await?);
    Ok(latest.into_iter().map(|revision| ((revision.contract.clone(), revision.period.clone()), revision)).collect())
}

/// The periods of `contract` that have settled at `now` and were monitored (ended after `began`), newest
/// first, at most [`PERIODS_BACK`].
fn settled_periods(config: &CollectorConfig, contract: &Contract, began: Timestamp, now: Timestamp) -> Vec<Period> {
    let mut periods = Vec::new();
    let Ok(mut period) = current_period(contract, settle_horizon(config, contract, now)) else { return periods };
    while periods.len() < PERIODS_BACK {
        let Ok(previous) =
            period.start.saturating_sub(SignedDuration::from_nanos(1)).map(|at| current_period(contract, at))
        else {
            break;
        };
        let Ok(previous) = previous else { break };
        if previous.end <= began {
            break;
        }
        periods.push(previous.clone());
        period = previous;
    }
    periods
}

/// Whether a closed period may still be claimed at `now`, so late changes to it still matter.
fn still_claimable(revision: &ClosedPeriod, period: &Period, now: Timestamp) -> bool {
    let until = revision.claim_deadline.or_else(|| period.end.saturating_add(UNSTATED_CLAIM_WINDOW).ok());
    until.is_some_and(|until| now < until)
}

/// Makes `period`'s report as of `now` and stores it as the next revision when it differs from `before`.
async fn settle(
    config: &CollectorConfig,
    store: &Store,
    contract: &Contract,
    period: &Period,
    before: Option<&ClosedPeriod>,
    now: Timestamp,
) -> Result<Closed, CloseError> {
    let id = contract.terms.id.as_str();
    let reports = store_reports(config, store, &period.label, Some(id), now).await?;
    let contents: Vec<Vec<u8>> = ARTIFACTS.iter().map(|(_, format)| render(&reports, *format).into_bytes()).collect();
    let report = &reports[0].1;
    let figures: Value = serde_json::to_value(report).unwrap_or(Value::Null);
    let terms = terms_hash(contract);
    let (revision, reason, changes) = match before {
        None => (1, format!("the period ended at {} and its results settled", period.end), Vec::new()),
        Some(before) => {
            let stored = store.artifact(id, &period.label, before.revision, ARTIFACTS[0].0).await?.unwrap_or_default();
            let stored: Value = serde_json::from_slice(&stored).unwrap_or(Value::Null);
            let changes = changes::between(&stored, &figures);
            if changes.is_empty() {
                return Ok(Closed { outcome: Outcome::Unchanged, revision: before.clone() });
            }
            (before.revision + 1, changes::reason(&stored, &figures, before.terms_hash != terms), changes)
        }
    };
    let artifacts = ARTIFACTS
        .iter()
        .zip(&contents)
        .map(|((name, _), content)| ArtifactSummary {
            name: (*name).to_owned(),
            sha256: hex(&Sha256::digest(content)),
            bytes: content.len() as u64,
        })
        .collect();
    let closed = ClosedPeriod {
        contract: id.to_owned(),
        period: period.label.clone(),
        revision,
        closed_at: now,
        reason,
        changes,
        terms_hash: terms,
        uptime_percent: report.uptime_percent,
        credit_amount: report.credit_amount,
        currency: report.currency.clone(),
        claim_deadline: report.claim_deadline,
        artifacts,
    };
    let stored = store.record_revision(PeriodRevision { period: closed.clone(), contents }).await?;
    let outcome = match (stored, revision) {
        (false, _) => Outcome::Raced,
        (true, 1) => Outcome::Closed,
        (true, _) => Outcome::Revised,
    };
    if stored {
        tracing::info!(contract = id, period = %period.label, revision, credit = %closed.credit_amount,
            currency = %closed.currency, "Closed period stored.");
    }
    Ok(Closed { outcome, revision: closed })
}

/// Brings the claim of each of `revisions` (the latest of their periods) up to it: opened when it leaves a
/// credit owed, its amount changed when a later revision changes it.
async fn follow_claims(
    config: &CollectorConfig,
    store: &Store,
    revisions: impl Iterator<Item = &ClosedPeriod>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let revisions: Vec<&ClosedPeriod> = revisions.collect();
    let mut claims: BTreeMap<(String, String), crate::claims::Claim> = BTreeMap::new();
    for claim in store.claims().await? {
        claims.insert((claim.contract.clone(), claim.period.clone()), claim);
    }
    for revision in revisions {
        let vendor = config
            .contracts
            .iter()
            .find(|contract| contract.terms.id == revision.contract)
            .map_or("", |contract| contract.terms.vendor.as_str());
        let credit = RevisedCredit {
            contract: &revision.contract,
            vendor,
            period: &revision.period,
            revision: revision.revision,
            amount: revision.credit_amount.max(Decimal::ZERO),
            currency: &revision.currency,
            deadline: revision.claim_deadline,
        };
        let mut current = claims.get(&(revision.contract.clone(), revision.period.clone())).cloned();
        for _ in 0..CLAIM_TRIES {
            let Some((claim, event)) = follow_revision(current.as_ref(), &credit, now) else { break };
            if store.write_claim(ClaimWrite { claim, event }).await? {
                break;
            }
            current = store
                .claims()
                .await?
                .into_iter()
                .find(|claim| claim.contract == revision.contract && claim.period == revision.period);
        }
    }
    Ok(())
}

/// Runs [`close_under_lease`] every [`EVERY`] until `stop`, then gives the lease up.
pub async fn run(
    store: Store,
    notifier: Notifier,
    config: watch::Receiver<Arc<CollectorConfig>>,
    stop: CancellationToken,
) {
    let holder = crate::store::cluster::instance_name().to_owned();
    let mut wait = FIRST_AFTER;
    let mut outage = Outage::default();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        wait = EVERY;
        let current = config.borrow().clone();
        match close_under_lease(&store, &notifier, &current, &holder, Timestamp::now()).await {
            Ok(_) => {
                if let Some(ended) = outage.worked() {
                    tracing::info!(lasted = ?ended.lasted, failed_runs = ended.failures, "Periods close again.");
                }
            }
            Err(error) if outage.failed() => {
                let said = "Could not close periods; trying again every five minutes (said once until it works).";
                tracing::warn!(%error, "{said}");
            }
            Err(_) => {}
        }
    }
    store.release_lease("close", &holder).await;
}

/// [`close_due`], then [`delivery::deliver_due`], if `holder` gets the `close` lease; `None` when another
/// collector holds it.
pub async fn close_under_lease(
    store: &Store,
    notifier: &Notifier,
    config: &CollectorConfig,
    holder: &str,
    now: Timestamp,
) -> Result<Option<Vec<Closed>>, CloseError> {
    let until = now.saturating_add(LEASE).unwrap_or(now);
    let claim = LeaseClaim { name: "close".to_owned(), holder: holder.to_owned(), now, until };
    if !store.claim_lease(claim).await? {
        return Ok(None);
    }
    let closed = close_due(config, store, None, now).await?;
    delivery::deliver_due(config, store, notifier, now).await?;
    Ok(Some(closed))
}

#[cfg(test)]
mod tests;
