//! The alert loop. Every [`TICK`] the collector holding the `alerting` lease in the store evaluates each rule of
//! `alerts:` and acts on the rule's latest alert:
//!
//! - no open alert and the condition holds: the alert fires (stored first, then told), unless the contract is in
//!   a maintenance window, or a person resolved the previous alert and its condition has not cleared since;
//! - an open alert whose condition holds: levels whose delay has passed are told, then repeats are sent, both
//!   only while unacknowledged and outside maintenance; the summary follows the latest evaluation;
//! - an open alert whose condition cleared: resolved, and every level told so far hears it.
//!
//! Slices are judged once settled: the longest probe timeout of the contract's checks plus a margin
//! after they end, so that a slow failing probe is not missed. Rules over slices are evaluated once per newly
//! settled slice (and when the alert opens or closes); `silent` on every tick. Notifications are sent in the
//! background after the alert's state is stored, so a dead channel delays no other rule; every delivery is
//! logged with its attempts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::escalation::{channels_of, due_levels, repeat_due};
use super::live_faults::LiveFaults;
use super::rules::{self, Finding, Watched};
use crate::config::CollectorConfig;
use crate::config::alerting::{AlertKind, AlertRule, Channel, Policy};
use crate::notify::{Notification, Notifier};
use crate::outage::Outage;
use crate::store::alerts::RESOLVED_BY_CONDITION;
use crate::store::enrolments::EnrolmentState;
use crate::store::{AlertRecord, AlertState, LeaseClaim, Store, StoreError};
use crate::views::{CurrentRead, Standings};
use slaprobe_sla::Period;
use slaprobe_sla::contract::Contract;
use slaprobe_sla::engine::{in_maintenance, slice_boundary, slice_votes};
use slaprobe_sla::status::current_period;

/// How often rules are evaluated.
pub const TICK: Duration = Duration::from_secs(1);
/// How long the lease lasts; it is renewed when half is left, and another collector takes over once it lapses.
pub const LEASE: SignedDuration = SignedDuration::from_secs(10);
/// The lease's name in the store.
const LEASE_NAME: &str = "alerting";
/// Slices looked at beyond `down_slices`/`up_slices`, to tell where a down run began.
const DOWN_CONTEXT_SLICES: usize = 60;
/// How old a result may be to speak for a certificate.
const CERT_EVIDENCE: SignedDuration = SignedDuration::from_hours(48);
/// `resolved_by` of an alert whose rule was removed from the configuration.
const RULE_REMOVED: &str = "rule removed from the configuration";

/// What a rule last found, and for which settled slice.
struct Memo {
    through: Timestamp,
    firing: bool,
    finding: Option<Finding>,
}

/// Evaluates the rules; see the module notes.
pub struct Evaluator {
    store: Store,
    notifier: Notifier,
    config: watch::Receiver<Arc<CollectorConfig>>,
    holder: String,
    held_until: Option<Timestamp>,
    watching_since: Timestamp,
    memo: HashMap<String, Memo>,
    standings: Standings,
    /// Each contract's current period as read in this tick, shared by its rules.
    reads: HashMap<String, CurrentRead>,
    /// Rule 11's spans judged at once, shared by every rule.
    live_faults: LiveFaults,
}

impl Evaluator {
    /// An evaluator for the configuration `config` publishes (reloads included).
    pub fn new(store: Store, notifier: Notifier, config: watch::Receiver<Arc<CollectorConfig>>) -> Self {
        let watching_since = Timestamp::now();
        Self {
            store,
            notifier,
            config,
            holder: format!("collector-{}-{}", std::process::id(), watching_since.as_nanosecond()),
            held_until: None,
            watching_since,
            memo: HashMap::new(),
            standings: Standings::new(),
            reads: HashMap::new(),
            live_faults: LiveFaults::default(),
        }
    }

    /// This evaluator, holding the alerting lease as `holder` (a serving collector's [instance
    /// name](crate::store::cluster::instance_name); without it each evaluator is a holder of its own).
    pub fn holding_as(self, holder: &str) -> Self {
        Self { holder: holder.to_owned(), ..self }
    }

    /// This evaluator, sharing `standings` (what the HTTP views keep of each contract's standing).
    pub fn with_standings(self, standings: Standings) -> Self {
        Self { standings, ..self }
    }

    /// Evaluates every [`TICK`] until `stop`.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut outage = Outage::default();
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            match self.tick(Timestamp::now()).await {
                Ok(()) => {
                    if let Some(ended) = outage.worked() {
                        tracing::info!(lasted = ?ended.lasted, failed_ticks = ended.failures, "Alert evaluation works again.");
                    }
                }
                Err(error) if outage.failed() => {
                    tracing::warn!(%error, "Alert evaluation failed; trying again each tick (said once until it works).");
                }
                Err(_) => {}
            }
        }
        self.store.release_lease(LEASE_NAME, &self.holder).await;
    }

    /// One evaluation of every rule at `now`, if this collector holds the lease.
    pub async fn tick(&mut self, now: Timestamp) -> Result<(), StoreError> {
        let config = self.config.borrow().clone();
        // With no rules there is nothing to do but close what removed rules left open.
        if config.alerts.is_empty() && self.store.alerts(Some(AlertState::Firing), 1).await?.is_empty() {
            return Ok(());
        }
        if !self.hold_lease(now).await? {
            return Ok(());
        }
        let mut latest: HashMap<(String, String), AlertRecord> = self
            .store
            .latest_alerts()
            .await?
            .into_iter()
            .map(|alert| ((alert.contract.clone(), alert.kind.clone()), alert))
            .collect();
        let applied = self.apply_rules(&config, &mut latest, now).await;
        // What was read for this tick is not kept until the next (a contract's month summary each), whether the
        // rules were all applied or one failed.
        self.reads.clear();
        applied?;
        for mut alert in latest.into_values().filter(|alert| alert.state == AlertState::Firing) {
            alert.state = AlertState::Resolved;
            alert.resolved_at = Some(now);
            alert.resolved_by = Some(RULE_REMOVED.to_owned());
            self.store.record_alert(alert).await?;
        }
        Ok(())
    }

    /// Applies every rule of `config` at `now`, taking each rule's latest alert out of `latest`.
    async fn apply_rules(
        &mut self,
        config: &CollectorConfig,
        latest: &mut HashMap<(String, String), AlertRecord>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        for rule in &config.alerts {
            let contract = config.contracts.iter().find(|contract| contract.terms.id == rule.contract);
            let policy = config.notify.policies.iter().find(|policy| policy.id == rule.policy);
            let (Some(contract), Some(policy)) = (contract, policy) else { continue };
            let last = latest.remove(&(rule.contract.clone(), rule.kind.as_str().to_owned()));
            self.apply(config, rule, contract, policy, last, now).await?;
        }
        Ok(())
    }

    /// Claims or renews the lease when less than half of it is left; whether this collector holds it.
    async fn hold_lease(&mut self, now: Timestamp) -> Result<bool, StoreError> {
        let half = LEASE / 2;
        if self.held_until.is_some_and(|until| until.duration_since(now) > half) {
            return Ok(true);
        }
        let until = now.saturating_add(LEASE).unwrap_or(now);
        let claim = LeaseClaim { name: LEASE_NAME.to_owned(), holder: self.holder.clone(), now, until };
        let held = self.store.claim_lease(claim).await?;
        if held != self.held_until.is_some() {
            tracing::info!(holder = %self.holder, held, "Alert evaluation lease changed hands.");
        }
        self.held_until = held.then_some(until);
        if !held {
            self.memo.clear();
        }
        Ok(held)
    }

    async fn apply(
        &mut self,
        config: &CollectorConfig,
        rule: &AlertRule,
        contract: &Contract,
        policy: &Policy,
        last: Option<AlertRecord>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let firing = last.as_ref().is_some_and(|alert| alert.state == AlertState::Firing);
        let finding = self.condition(config, rule, contract, firing, now).await?;
        let quiet = in_maintenance(contract, now);
        match (last, finding) {
            (Some(alert), None) if firing => self.resolve(config, policy, alert, now).await,
            (Some(mut alert), Some(finding)) if firing => {
                let changed = alert.summary != finding.summary || alert.regions != finding.regions;
                alert.summary = finding.summary;
                alert.regions = finding.regions;
                self.escalate(config, policy, alert, changed, quiet, now).await
            }
            (last, Some(finding)) => {
                let held_back = last.as_ref().is_some_and(|alert| !alert.rearmed && !resolved_by_condition(alert));
                if quiet || held_back {
                    return Ok(());
                }
                let alert = AlertRecord {
                    id: format!("{}.{}", rule.key(), now.as_millisecond()),
                    contract: rule.contract.clone(),
                    kind: rule.kind.as_str().to_owned(),
                    policy: policy.id.clone(),
                    state: AlertState::Firing,
                    started_at: finding.since.unwrap_or(now),
                    fired_at: now,
                    resolved_at: None,
                    resolved_by: None,
                    acknowledged_at: None,
                    acknowledged_by: None,
                    levels_notified: 0,
                    last_notified_at: None,
                    regions: finding.regions,
                    summary: finding.summary,
                    rearmed: false,
                };
                tracing::info!(alert = %alert.id, summary = %alert.summary, "Alert firing.");
                self.store.record_alert(alert.clone()).await?;
                self.escalate(config, policy, alert, false, false, now).await
            }
            (Some(alert), None) if !alert.rearmed && !resolved_by_condition(&alert) => {
                self.store.rearm_alert(&alert.id).await
            }
            (_, None) => Ok(()),
        }
    }

    /// Tells the levels now due (or repeats to those told), storing the alert first.
    async fn escalate(
        &self,
        config: &CollectorConfig,
        policy: &Policy,
        mut alert: AlertRecord,
        changed: bool,
        quiet: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let due = if quiet { 0..0 } else { due_levels(policy, &alert, now) };
        let told = alert.levels_notified as usize;
        let channels = if !due.is_empty() {
            channels_of(policy, due.clone())
        } else if !quiet && repeat_due(policy, &alert, now) {
            channels_of(policy, 0..told)
        } else {
            Vec::new()
        };
        if channels.is_empty() && !changed {
            return Ok(());
        }
        if !channels.is_empty() {
            alert.levels_notified = due.end.max(told) as u32;
            alert.last_notified_at = Some(now);
        }
        if !self.store.record_alert(alert.clone()).await? || channels.is_empty() {
            return Ok(());
        }
        let notification = notification(config, &alert, "firing", Some(alert.levels_notified), alert.summary.clone());
        self.dispatch(config, policy, &channels, notification);
        Ok(())
    }

    async fn resolve(
        &self,
        config: &CollectorConfig,
        policy: &Policy,
        mut alert: AlertRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        alert.state = AlertState::Resolved;
        alert.resolved_at = Some(now);
        alert.resolved_by = Some(RESOLVED_BY_CONDITION.to_owned());
        tracing::info!(alert = %alert.id, "Alert resolved.");
        if self.store.record_alert(alert.clone()).await? {
            let channels = channels_of(policy, 0..alert.levels_notified as usize);
            self.dispatch(config, policy, &channels, resolved_notification(config, &alert, now));
        }
        Ok(())
    }

    /// Sends `notification` to `channels` of `policy` in the background ([`super::send_for_policy`]).
    fn dispatch(&self, config: &CollectorConfig, policy: &Policy, channels: &[String], notification: Notification) {
        let channels = resolve_channels(config, channels);
        let (store, notifier) = (self.store.clone(), self.notifier.clone());
        let (configured, policy) = (config.notify.channels.clone(), policy.clone());
        tokio::spawn(async move {
            super::send_for_policy(&store, &notifier, &configured, &policy, &channels, &notification).await;
        });
    }

    /// Whether the rule's condition holds at `now` (memoised per settled slice for the slice-based kinds).
    async fn condition(
        &mut self,
        config: &CollectorConfig,
        rule: &AlertRule,
        contract: &Contract,
        firing: bool,
        now: Timestamp,
    ) -> Result<Option<Finding>, StoreError> {
        if rule.kind == AlertKind::Silent {
            return self.silent(config, rule, contract, now).await;
        }
        let period = match current_period(contract, now) {
            Ok(period) => period,
            Err(problem) => {
                tracing::warn!(contract = %contract.terms.id, %problem, "No current period; the rule is skipped.");
                return Ok(None);
            }
        };
        let settled = now.saturating_sub(config.settle_time(contract)).unwrap_or(now);
        let through = slice_boundary(contract, period.start, settled);
        if let Some(memo) = self.memo.get(&rule.key())
            && memo.through == through
            && memo.firing == firing
        {
            return Ok(memo.finding.clone());
        }
        let slice = SignedDuration::try_from(contract.terms.slice).unwrap_or(SignedDuration::from_secs(60));
        let back = |slices: usize| {
            through.saturating_sub(slice * i32::try_from(slices).unwrap_or(i32::MAX)).unwrap_or(through)
        };
        let checks = &contract.terms.checks;
        let finding = match rule.kind {
            AlertKind::Down => {
                let from = back(rule.down_slices().max(rule.up_slices()) as usize + DOWN_CONTEXT_SLICES);
                let mut results = self.store.results_between(checks, from, through).await?;
                results.retain(|result| !result.control);
                let measured = results.len();
                // The agents' controls, so a region whose own network failed does not count (rule 10).
                results.extend(self.store.control_results_between(from, through).await?);
                // And the spans in which rule 11 found an agent failing on its own: those judged for good, and
                // those that ended since, judged now.
                let mut faults = self.store.agent_faults_between(from, through).await?;
                faults.extend(self.live_faults.between(&self.store, config, (from, through)).await?);
                let monitored_from = self.store.first_result_at(checks).await?;
                let votes = slice_votes(contract, period.start, (from, through), monitored_from, &results, &faults);
                rules::down(&votes, rule.down_slices(), rule.up_slices(), firing).map(|mut finding| {
                    if let Some(error) = latest_error(&results[..measured], &finding.regions) {
                        finding.summary.push_str(&format!("; latest error: {error}"));
                    }
                    finding
                })
            }
            AlertKind::BurnRate => {
                let length = Duration::from_secs(period.end.duration_since(period.start).as_secs().unsigned_abs());
                let windows = rule.windows();
                let longest = windows
                    .iter()
                    .map(|window| rules::scaled_slices(window.long, length, contract.terms.slice))
                    .max()
                    .unwrap_or(1);
                let store = self.store.clone();
                let votes = self.current(contract, &period).await?.votes(&store, (back(longest), through)).await?;
                rules::burn_rate(contract, &windows, length, &votes)
            }
            AlertKind::BreachForecast => {
                let lookback = SignedDuration::try_from(rule.lookback()).unwrap_or(SignedDuration::from_hours(24));
                let recent_from = through.saturating_sub(lookback).unwrap_or(through);
                let store = self.store.clone();
                let current = self.current(contract, &period).await?;
                let standing = current.standing(config, &store, through).await?;
                let recent = current.votes(&store, (recent_from, through)).await?;
                rules::breach_forecast(contract, &standing, &recent)
            }
            AlertKind::CertExpiry => {
                let since = now.saturating_sub(CERT_EVIDENCE).unwrap_or(now);
                let mut latest = Vec::new();
                for check in checks {
                    latest.extend(self.store.latest_per_region(check, since).await?);
                }
                rules::cert_expiry(&latest, now, rule.within())
            }
            AlertKind::Silent => None,
        };
        self.memo.insert(rule.key(), Memo { through, firing, finding: finding.clone() });
        Ok(finding)
    }

    /// `contract`'s current `period` as read in this tick (read now if no rule of it has been evaluated yet).
    async fn current(&mut self, contract: &Contract, period: &Period) -> Result<&CurrentRead, StoreError> {
        let id = &contract.terms.id;
        if !self.reads.contains_key(id) {
            let read = CurrentRead::new(&self.store, &self.standings, contract, period).await?;
            self.reads.insert(id.clone(), read);
        }
        Ok(&self.reads[id])
    }

    async fn silent(
        &self,
        config: &CollectorConfig,
        rule: &AlertRule,
        contract: &Contract,
        now: Timestamp,
    ) -> Result<Option<Finding>, StoreError> {
        let registry = self.store.agents().await?;
        let mut watched: Vec<Watched> = config
            .agents
            .iter()
            .map(|agent| Watched {
                agent_id: agent.agent_id.clone(),
                region: agent.region.clone(),
                last_seen: registry.iter().find(|entry| entry.agent_id == agent.agent_id).map(|entry| entry.last_seen),
            })
            .collect();
        for entry in &registry {
            if !watched.iter().any(|agent| agent.agent_id == entry.agent_id) {
                watched.push(Watched {
                    agent_id: entry.agent_id.clone(),
                    region: entry.region.clone(),
                    last_seen: Some(entry.last_seen),
                });
            }
        }
        // A revoked agent is silent on purpose.
        let revoked: Vec<String> = (self.store.enrolled_agents().await?.into_iter())
            .filter(|enrolled| enrolled.state == EnrolmentState::Revoked)
            .map(|enrolled| enrolled.agent_id)
            .collect();
        watched.retain(|agent| config.serves_region(contract, &agent.region) && !revoked.contains(&agent.agent_id));
        Ok(rules::silent(&watched, self.watching_since, now, rule.after()))
    }
}

fn resolved_by_condition(alert: &AlertRecord) -> bool {
    alert.resolved_by.as_deref() == Some(RESOLVED_BY_CONDITION)
}

/// The error of the latest failed result from one of `regions`, for a down alert's summary.
fn latest_error<'a>(results: &'a [slaprobe_proto::ResultRecord], regions: &[String]) -> Option<&'a str> {
    results
        .iter()
        .rev()
        .filter(|result| !result.ok && regions.contains(&result.region))
        .find_map(|result| result.error.as_deref().or(result.error_kind.as_deref()))
}

/// The channels named `ids`, as configured now.
fn resolve_channels(config: &CollectorConfig, ids: &[String]) -> Vec<Channel> {
    ids.iter().filter_map(|id| config.notify.channels.iter().find(|channel| &channel.id == id).cloned()).collect()
}

/// The notification of `alert`, naming the contract's vendor and service and linking its page when the
/// collector has a `public_url`.
fn notification(
    config: &CollectorConfig,
    alert: &AlertRecord,
    state: &str,
    level: Option<u32>,
    summary: String,
) -> Notification {
    let terms = config.contracts.iter().find(|contract| contract.terms.id == alert.contract).map(|c| &c.terms);
    Notification {
        state: state.to_owned(),
        kind: alert.kind.clone(),
        contract: alert.contract.clone(),
        vendor: terms.map(|terms| terms.vendor.clone()).unwrap_or_default(),
        service: terms.map(|terms| terms.service.clone()).unwrap_or_default(),
        url: config.contract_url(&alert.contract),
        started_at: alert.started_at,
        regions: alert.regions.clone(),
        summary,
        alert_id: Some(alert.id.clone()),
        level,
    }
}

fn resolved_notification(config: &CollectorConfig, alert: &AlertRecord, now: Timestamp) -> Notification {
    let lasted = now.duration_since(alert.started_at).as_secs_f64();
    let by = match alert.resolved_by.as_deref() {
        Some(RESOLVED_BY_CONDITION) | None => String::new(),
        Some(person) => format!(" by {person}"),
    };
    let summary = format!("resolved{by} after {}: {}", slaprobe_sla::display::duration(lasted), alert.summary);
    notification(config, alert, "resolved", None, summary)
}

/// Tells the levels of `alert` told so far that a person resolved it (the API's resolve).
pub async fn announce_resolved(store: &Store, notifier: &Notifier, config: &CollectorConfig, alert: &AlertRecord) {
    let Some(policy) = config.notify.policies.iter().find(|policy| policy.id == alert.policy) else { return };
    let channels = resolve_channels(config, &channels_of(policy, 0..alert.levels_notified as usize));
    let now = alert.resolved_at.unwrap_or_else(Timestamp::now);
    let notification = resolved_notification(config, alert, now);
    super::send_for_policy(store, notifier, &config.notify.channels, policy, &channels, &notification).await;
}
