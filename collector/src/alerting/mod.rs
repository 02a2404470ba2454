//! Alerts (`docs/configuration.md`): the rules of `alerts:` evaluated against the stored results, escalated along
//! their policy's levels, and sent through [`crate::notify`]. State lives in the store, so it survives restarts,
//! and one collector at a time evaluates (a lease in the store), so replicas never send twice.
//!
//! Layout:
//! - [`rules`]: the conditions, one pure function per kind.
//! - [`escalation`]: which levels are due, pure.
//! - [`evaluator`]: the loop: lease, evaluate, fire, escalate, repeat, resolve, in maintenance stay quiet.
//! - [`live_faults`]: rule 11 judged at once for `down` rules, each span once.
//! - [`send`]: one notification to a set of channels, each delivery logged.

pub mod escalation;
pub mod evaluator;
pub mod live_faults;
pub mod rules;

use crate::config::alerting::Channel;
use crate::notify::{Delivery, Notification, Notifier};
use crate::store::{DeliveryRecord, Store};

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
