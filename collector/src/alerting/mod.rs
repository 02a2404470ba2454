//! Alerts (`docs/configuration.md`): the rules of `alerts:` evaluated against the stored results, escalated along
//! their policy's levels, and sent through [`crate::notify`]. State lives in the store, so it survives restarts,
//! and one collector at a time evaluates (a lease in the store), so replicas never send twice.
//!
//! Layout:
//! - [`rules`]: the conditions, one pure function per kind.
//! - [`escalation`]: which levels are due, pure.
//! - [`evaluator`]: the loop: lease, evaluate, fire, escalate, repeat, resolve, in maintenance stay quiet.
//! - [`live_faults`]: rule 11 judged at once for `down` rules, each span once.
//! - [`send`]: one notification to a set of channels, each delivery logged; [`send_for_policy`] also tells the
//!   policy's other channels when one of them could not be reached.

pub mod escalation;
pub mod evaluator;
pub mod live_faults;
pub mod rules;

use crate::config::alerting::{Channel, Policy};
use crate::notify::{Delivery, Notification, Notifier};
use crate::store::{DeliveryRecord, Store};
use escalation::channels_of;

/// The kind of the notification that tells a policy's other channels that one of its channels failed.
pub const CHANNEL_FAILED: &str = "channel_failed";

/// Sends `notification` to each of `channels` at once, logs each delivery in the store as soon as it is over, and
/// returns them in the order of `channels`.
pub async fn send(
    store: &Store,
    notifier: &Notifier,
    channels: &[Channel],
    notification: &Notification,
) -> Vec<Delivery> {
    let mut sending = tokio::task::JoinSet::new();
    for (index, channel) in channels.iter().enumerate() {
        let (store, notifier, channel, notification) =
            (store.clone(), notifier.clone(), channel.clone(), notification.clone());
        sending.spawn(async move {
            let sent_at = jiff::Timestamp::now();
            let delivery = notifier.deliver(&channel, &notification).await;
            log(&store, sent_at, &notification, &delivery).await;
            (index, delivery)
        });
    }
    let mut deliveries: Vec<(usize, Delivery)> = sending.join_all().await;
    deliveries.sort_by_key(|(index, _)| *index);
    deliveries.into_iter().map(|(_, delivery)| delivery).collect()
}

/// Sends an alert's `notification` to `channels` of `policy` as [`send`] does (`configured`: every channel of
/// `notify.channels`). Each channel that could not be reached after every attempt raises its own notification
/// (kind [`CHANNEL_FAILED`], firing) to the policy's other channels, those of every level whether told yet or
/// not, so that a dead hook does not leave the alert unheard; that notification raises none in turn.
pub async fn send_for_policy(
    store: &Store,
    notifier: &Notifier,
    configured: &[Channel],
    policy: &Policy,
    channels: &[Channel],
    notification: &Notification,
) {
    let deliveries = send(store, notifier, channels, notification).await;
    let failed: Vec<&Delivery> = deliveries.iter().filter(|delivery| !delivery.delivered).collect();
    if failed.is_empty() || notification.kind == CHANNEL_FAILED {
        return;
    }
    let others: Vec<Channel> = channels_of(policy, 0..policy.levels.len())
        .iter()
        .filter(|id| !failed.iter().any(|delivery| &&delivery.channel == id))
        .filter_map(|id| configured.iter().find(|channel| &channel.id == id).cloned())
        .collect();
    for delivery in failed {
        if others.is_empty() {
            tracing::warn!(channel = %delivery.channel, policy = %policy.id, "No other channel of the policy to tell.");
            continue;
        }
        let told = channel_failed(notification, delivery);
        send(store, notifier, &others, &told).await;
    }
}

/// What the other channels hear when `delivery` of `notification` failed.
fn channel_failed(notification: &Notification, delivery: &Delivery) -> Notification {
    let error = delivery.attempts.last().and_then(|attempt| attempt.error.clone()).unwrap_or_default();
    let alert = notification.alert_id.as_deref().unwrap_or("(none)");
    Notification {
        state: "firing".to_owned(),
        kind: CHANNEL_FAILED.to_owned(),
        started_at: jiff::Timestamp::now(),
        summary: format!(
            "channel {} could not deliver the {} notification of alert {alert} after {} attempt(s): {error}",
            delivery.channel,
            notification.state,
            delivery.attempts.len()
        ),
        alert_id: Some(format!("{alert}.{CHANNEL_FAILED}.{}", delivery.channel)),
        level: None,
        ..notification.clone()
    }
}

async fn log(store: &Store, sent_at: jiff::Timestamp, notification: &Notification, delivery: &Delivery) {
    let record = DeliveryRecord {
        sent_at,
        channel: delivery.channel.clone(),
        state: notification.state.clone(),
        kind: notification.kind.clone(),
        contract: notification.contract.clone(),
        delivered: delivery.delivered,
        attempts: delivery.attempts.clone(),
        alert_id: notification.alert_id.clone(),
    };
    if let Err(error) = store.record_delivery(record).await {
        tracing::warn!(%error, channel = %delivery.channel, "The delivery was not logged.");
    }
    if !delivery.delivered {
        tracing::warn!(channel = %delivery.channel, state = %notification.state, "A notification was not delivered.");
    }
}
