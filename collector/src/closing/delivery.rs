//! Sending closed periods to the channels of `reports:`, and reminding of claims not yet submitted.
//!
//! Each revision of a period that may still be claimed goes once to each channel: with `send: owed` (the
//! default) when it leaves a credit owed, or when an earlier revision did (so whoever was told of a credit hears
//! that it changed); with `send: all`, every revision. A claim still `owed` within `remind_before` of its
//! deadline is reminded of once per channel. Each delivery is taken in the store before it is sent, so of
//! several collectors exactly one sends it; a failed one is tried again on the next runs, an hour at most
//! ([`DELIVERY_TRIES`]), and every attempt is in the delivery log (`/api/v1/deliveries`).

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;

use super::ARTIFACTS;
use crate::claims::{Claim, ClaimState};
use crate::config::CollectorConfig;
use crate::config::reports::SendWhich;
use crate::config::retention::UNSTATED_CLAIM_WINDOW;
use crate::notify::Notifier;
use crate::notify::report::{Documents, NoticeKind, ReportNotice};
use crate::store::periods::{DELIVERY_TRIES, DeliveryKey};
use crate::store::{ClosedPeriod, DeliveryRecord, Store, StoreError};
use slaprobe_sla::contract::Contract;

/// Sends every revision and reminder due at `now` that no collector has sent yet.
pub async fn deliver_due(
    config: &CollectorConfig,
    store: &Store,
    notifier: &Notifier,
    now: Timestamp,
) -> Result<(), StoreError> {
    if config.reports.channels.is_empty() {
        return Ok(());
    }
    let revisions = store.closed_periods(None).await?;
    let claims = store.claims().await?;
    for revision in &revisions {
        let Some(contract) = contract_of(config, &revision.contract) else { continue };
        let earlier_owed = revisions.iter().any(|earlier| {
            earlier.contract == revision.contract
                && earlier.period == revision.period
                && earlier.revision < revision.revision
                && earlier.credit_amount > Decimal::ZERO
        });
        let wanted = match config.reports.send {
            SendWhich::All => true,
            SendWhich::Owed => revision.credit_amount > Decimal::ZERO || earlier_owed,
        };
        if !wanted || !claimable(revision, now) {
            continue;
        }
        let claim = claims.iter().find(|claim| claim.contract == revision.contract && claim.period == revision.period);
        let mut notice = None;
        for channel in &config.reports.channels {
            let key = DeliveryKey {
                contract: revision.contract.clone(),
                period: revision.period.clone(),
                revision: revision.revision,
                channel: channel.clone(),
                kind: "report",
            };
            if !store.take_delivery(&key, now).await? {
                continue;
            }
            if notice.is_none() {
                notice = Some(period_notice(config, store, contract, revision, claim).await?);
            }
            if let Some(notice) = &notice {
                send(config, store, notifier, &key, notice).await?;
            }
        }
    }
    remind(config, store, notifier, now).await
}

/// Reminds of each claim still owed whose deadline is within `remind_before` of `now`.
async fn remind(
    config: &CollectorConfig,
    store: &Store,
    notifier: &Notifier,
    now: Timestamp,
) -> Result<(), StoreError> {
    let ahead = SignedDuration::try_from(config.reports.remind_before).unwrap_or(SignedDuration::MAX);
    for claim in store.claims().await? {
        let Some(deadline) = claim.deadline else { continue };
        let due = deadline.saturating_sub(ahead).is_ok_and(|from| from <= now) && now < deadline;
        if claim.state != ClaimState::Owed || !due {
            continue;
        }
        let Some(contract) = contract_of(config, &claim.contract) else { continue };
        for channel in &config.reports.channels {
            let key = DeliveryKey {
                contract: claim.contract.clone(),
                period: claim.period.clone(),
                revision: 0,
                channel: channel.clone(),
                kind: "reminder",
            };
            if store.take_delivery(&key, now).await? {
                send(config, store, notifier, &key, &reminder_notice(config, contract, &claim, now)).await?;
            }
        }
    }
    Ok(())
}

fn contract_of<'a>(config: &'a CollectorConfig, id: &str) -> Option<&'a Contract> {
    config.contracts.iter().find(|contract| contract.terms.id == id)
}

/// Whether the period of `revision` may still be claimed at `now` (or, without a deadline, was closed within
/// the time its revisions are looked at again).
fn claimable(revision: &ClosedPeriod, now: Timestamp) -> bool {
    let until = revision.claim_deadline.or_else(|| revision.closed_at.saturating_add(UNSTATED_CLAIM_WINDOW).ok());
    until.is_some_and(|until| now < until)
}

/// The link to the claim (or the contract, when nothing is owed), when `public_url` is set.
fn link(config: &CollectorConfig, contract: &str, period: &str, claimed: bool) -> Option<String> {
    let base = config.public_url.as_deref()?;
    Some(if claimed {
        format!("{base}/claims/{contract}/{period}")
    } else {
        format!("{base}/contracts/{contract}?period={period}")
    })
}

/// The notice of `revision`, with its stored files.
async fn period_notice(
    config: &CollectorConfig,
    store: &Store,
    contract: &Contract,
    revision: &ClosedPeriod,
    claim: Option<&Claim>,
) -> Result<ReportNotice, StoreError> {
    let mut files = Vec::new();
    for (name, _) in ARTIFACTS {
        let content = store.artifact(&revision.contract, &revision.period, revision.revision, name).await?;
        files.push(String::from_utf8_lossy(&content.unwrap_or_default()).into_owned());
    }
    let report: Option<serde_json::Value> = serde_json::from_str(&files[0]).ok();
    let uptime =
        revision.uptime_percent.map_or_else(|| "no eligible time".to_owned(), |uptime| format!("uptime {uptime:.3} %"));
    let mut summary = format!(
        "{} {} ({}): {uptime} against {} %; credit {} {}.",
        contract.terms.vendor,
        contract.terms.service,
        revision.period,
        contract.terms.objective,
        revision.credit_amount,
        revision.currency
    );
    if revision.revision > 1 {
        summary.push_str(&format!(" Revision {}: {}.", revision.revision, revision.reason));
    }
    Ok(ReportNotice {
        state: "closed",
        kind: NoticeKind::PeriodClosed,
        contract: revision.contract.clone(),
        vendor: contract.terms.vendor.clone(),
        service: contract.terms.service.clone(),
        period: revision.period.clone(),
        revision: revision.revision,
        credit_amount: revision.credit_amount,
        currency: revision.currency.clone(),
        claim_deadline: revision.claim_deadline,
        claim_state: claim.map(|claim| claim.state),
        summary,
        url: link(config, &revision.contract, &revision.period, claim.is_some()),
        artifacts: revision.artifacts.clone(),
        report,
        documents: Some(Documents { json: files[0].clone(), html: files[1].clone(), csv: files[2].clone() }),
    })
}

/// The reminder of `claim` at `now`.
fn reminder_notice(config: &CollectorConfig, contract: &Contract, claim: &Claim, now: Timestamp) -> ReportNotice {
    let left = claim
        .deadline
        .map(|deadline| slaprobe_sla::display::duration(deadline.duration_since(now).as_secs_f64().max(0.0)))
        .unwrap_or_default();
    ReportNotice {
        state: "reminder",
        kind: NoticeKind::ClaimReminder,
        contract: claim.contract.clone(),
        vendor: contract.terms.vendor.clone(),
        service: contract.terms.service.clone(),
        period: claim.period.clone(),
        revision: claim.revision,
        credit_amount: claim.owed,
        currency: claim.currency.clone(),
        claim_deadline: claim.deadline,
        claim_state: Some(claim.state),
        summary: format!(
            "The credit of {} {} that {} owes for {} has not been claimed; {left} are left to claim it.",
            claim.owed, claim.currency, contract.terms.vendor, claim.period
        ),
        url: link(config, &claim.contract, &claim.period, true),
        artifacts: Vec::new(),
        report: None,
        documents: None,
    }
}

/// Sends `notice` to the channel of `key`, logs the delivery and records how it went.
async fn send(
    config: &CollectorConfig,
    store: &Store,
    notifier: &Notifier,
    key: &DeliveryKey,
    notice: &ReportNotice,
) -> Result<(), StoreError> {
    let Some(channel) = config.notify.channels.iter().find(|channel| channel.id == key.channel) else {
        return store.finish_delivery(key, false, Timestamp::now()).await;
    };
    let sent_at = Timestamp::now();
    let delivery = notifier.deliver_report(channel, notice).await;
    let record = DeliveryRecord {
        sent_at,
        channel: delivery.channel.clone(),
        state: notice.state.to_owned(),
        kind: match notice.kind {
            NoticeKind::PeriodClosed => "period_closed".to_owned(),
            NoticeKind::ClaimReminder => "claim_reminder".to_owned(),
        },
        contract: notice.contract.clone(),
        delivered: delivery.delivered,
        attempts: delivery.attempts.clone(),
        alert_id: None,
    };
    store.record_delivery(record).await?;
    if delivery.delivered {
        tracing::info!(contract = %key.contract, period = %key.period, channel = %key.channel, kind = key.kind,
            "Claim report sent.");
    } else {
        tracing::warn!(contract = %key.contract, period = %key.period, channel = %key.channel, kind = key.kind,
            tries_at_most = DELIVERY_TRIES, "Claim report not delivered; trying again on the next run.");
    }
    store.finish_delivery(key, delivery.delivered, Timestamp::now()).await
}
