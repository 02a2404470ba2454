//! The collector's Prometheus metrics (`/metrics`, OpenMetrics text): what ingest stored, refused and skipped
//! as duplicates, how long store commits take, which agents hold a session, each agent's clock offset, each
//! contract's standing in its current period, each alert rule's state and the credit claims per state and
//! currency (computed when scraped), and whether the latest configuration reload failed; beside them the
//! operator's signals ([`operations`]) and the process's own ([`process`]). Ingest counts into it; the HTTP
//! listener serves it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

pub mod operations;
mod process;

use operations::OperationMetrics;

use crate::claims::{Claim, ClaimState, totals};
use crate::config::alerting::AlertRule;
use crate::store::AlertRecord;
use crate::store::status_pages::StatusPageRecord;
use slaprobe_sla::contract::Contract;
use slaprobe_sla::status::{ContractStatus, Standing};

/// Labels naming one agent.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentLabels {
    /// Agent id.
    pub agent_id: String,
}

/// Labels naming why an agent session was refused.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// `no_token`, `malformed_authorization`, `unknown_token`, `identity_mismatch`, `key_missing`,
    /// `key_mismatch`, `tls_handshake`, `no_client_certificate`, `untrusted_client_certificate`,
    /// `client_certificate_mismatch`, `enrolment_pending`, `enrolment_revoked` or `enrolment_full`.
    pub reason: &'static str,
}

/// Labels naming which evidence did not verify.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EvidenceLabels {
    /// `chain_link`, `checkpoint` or `gap_statement`.
    pub kind: &'static str,
}

/// Labels naming one contract.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ContractLabels {
    /// Contract id.
    pub contract: String,
}

type ContractGauge = Family<ContractLabels, Gauge<f64, AtomicU64>>;

/// Labels naming one alert rule.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    /// Contract id.
    pub contract: String,
    /// Alert kind.
    pub kind: String,
}

/// Labels naming a state of claims in one currency.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClaimLabels {
    /// `owed`, `submitted`, `accepted`, `rejected`, `paid` or `void`.
    pub state: &'static str,
    /// The currency.
    pub currency: String,
}

/// Labels naming one currency.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CurrencyLabels {
    /// The currency.
    pub currency: String,
}

/// Ingest's metrics and each contract's standing; shared by every session and the HTTP listener.
#[derive(Debug)]
pub struct CollectorMetrics {
    registry: Registry,
    /// Results newly stored.
    pub results_stored: Counter,
    /// Results received again and left as they were (replays).
    pub results_duplicate: Counter,
    /// Results refused (kept in `refused_results` with the reason).
    pub results_refused: Counter,
    /// Batches committed.
    pub batches: Counter,
    /// Seconds from handing a batch to the store to its durable commit.
    pub commit_seconds: Histogram,
    /// Agent sessions open.
    pub sessions: Family<AgentLabels, Gauge>,
    /// Agent sessions refused, by reason.
    sessions_refused: Family<RefusalLabels, Counter>,
    /// Evidence that did not verify at ingest, by what: a result's chain link, a checkpoint, a gap statement.
    evidence_rejected: Family<EvidenceLabels, Counter>,
    /// Each agent's last clock estimate, collector minus agent, seconds.
    pub clock_offset_seconds: Family<AgentLabels, Gauge<f64, AtomicU64>>,
    /// Check lists not pushed because they did not fit one message.
    pub config_pushes_refused: Counter,
    /// HTTP connections closed at once because the listener was at its connection cap.
    pub http_connections_refused: Counter,
    /// HTTP requests answered 503 because they took longer than `listen.http_request_timeout`.
    pub http_requests_timed_out: Counter,
    /// The operator's signals: build, process, retention, HTTP requests, refused credentials and handshakes.
    pub operations: OperationMetrics,
    contract_uptime: ContractGauge,
    contract_budget: ContractGauge,
    contract_budget_left: ContractGauge,
    contract_standing: ContractGauge,
    contract_credit_certain: ContractGauge,
    alerts_firing: Family<AlertLabels, Gauge>,
    alerts_unacknowledged: Family<AlertLabels, Gauge>,
    config_reload_failed: Gauge,
    config_loaded_at: Gauge,
    config_reload_failed_at: Gauge,
    claims: Family<ClaimLabels, Gauge>,
    claims_amount: Family<ClaimLabels, Gauge<f64, AtomicU64>>,
    claims_overdue: Family<CurrencyLabels, Gauge>,
    claims_recovered: Family<CurrencyLabels, Gauge<f64, AtomicU64>>,
    status_page_failing: Family<ContractLabels, Gauge>,
    status_page_checked_at: Family<ContractLabels, Gauge>,
}

impl Default for CollectorMetrics {
    fn default() -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(process::ProcessCollector));
        let registry = root.sub_registry_with_prefix("slaprobe_collector");
        let operations = OperationMetrics::registered(registry);
        let results_stored = Counter::default();
        registry.register("results_stored", "Results newly stored", results_stored.clone());
        let results_duplicate = Counter::default();
        registry.register(
            "results_duplicate",
            "Results received again and left as they were",
            results_duplicate.clone(),
        );
        let results_refused = Counter::default();
        registry.register("results_refused", "Results refused, kept with the reason", results_refused.clone());
        let batches = Counter::default();
        registry.register("batches", "Result batches committed", batches.clone());
        let commit_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "store_commit_seconds",
            "Time from handing a batch to the store to its commit",
            commit_seconds.clone(),
        );
        let sessions = Family::default();
        registry.register("agent_sessions", "Agent sessions open", sessions.clone());
        let sessions_refused = Family::default();
        registry.register(
            "agent_sessions_refused",
            "Agent sessions refused: a failed TLS handshake (no, untrusted or another client certificate), no or malformed token, unknown token, a Hello claiming another agent, or an agent key missing or not the one pinned or on record",
            sessions_refused.clone(),
        );
        let evidence_rejected = Family::default();
        registry.register(
            "evidence_rejected",
            "Evidence that did not verify at ingest: a result whose chain value does not link (refused), a checkpoint whose signature or chain value is wrong (its batch refused), a gap statement whose signature is wrong (the gap kept as unsigned)",
            evidence_rejected.clone(),
        );
        let clock_offset_seconds = Family::default();
        registry.register(
            "agent_clock_offset_seconds",
            "Each agent's last clock estimate, collector minus agent",
            clock_offset_seconds.clone(),
        );
        let config_pushes_refused = Counter::default();
        registry.register(
            "config_pushes_refused",
            "Check lists not pushed to an agent because they did not fit one message",
            config_pushes_refused.clone(),
        );
        let http_connections_refused = Counter::default();
        registry.register(
            "http_connections_refused",
            "HTTP connections closed at once because the listener was at its connection cap",
            http_connections_refused.clone(),
        );
        let http_requests_timed_out = Counter::default();
        registry.register(
            "http_requests_timed_out",
            "HTTP requests answered 503 because they took longer than the request time limit",
            http_requests_timed_out.clone(),
        );
        let contract_uptime = ContractGauge::default();
        registry.register(
            "contract_uptime_percent",
            "Uptime so far in the contract's current period (absent while nothing is eligible)",
            contract_uptime.clone(),
        );
        let contract_budget = ContractGauge::default();
        registry.register("contract_budget_seconds", "Error budget of the current period", contract_budget.clone());
        let contract_budget_left = ContractGauge::default();
        registry.register(
            "contract_budget_left_seconds",
            "Error budget left in the current period (negative once overspent)",
            contract_budget_left.clone(),
        );
        let contract_standing = ContractGauge::default();
        registry.register(
            "contract_standing",
            "0: meets the objective so far, 1: below it so far, 2: below it whatever follows",
            contract_standing.clone(),
        );
        let contract_credit_certain = ContractGauge::default();
        registry.register(
            "contract_credit_certain",
            "Credit already certain this period, in the contract's currency",
            contract_credit_certain.clone(),
        );
        let alerts_firing = Family::<AlertLabels, Gauge>::default();
        registry.register("alerts_firing", "1 while the rule's alert fires", alerts_firing.clone());
        let alerts_unacknowledged = Family::<AlertLabels, Gauge>::default();
        registry.register(
            "alerts_unacknowledged",
            "1 while the rule's alert fires and nobody has acknowledged it",
            alerts_unacknowledged.clone(),
        );
        let config_reload_failed = Gauge::default();
        registry.register(
            "config_reload_failed",
            "1 while the latest configuration reload failed (the running configuration is the last good one)",
            config_reload_failed.clone(),
        );
        let config_loaded_at = Gauge::default();
        registry.register(
            "config_loaded_timestamp_seconds",
            "When the running configuration was loaded, Unix seconds",
            config_loaded_at.clone(),
        );
        let config_reload_failed_at = Gauge::default();
        registry.register(
            "config_reload_failed_timestamp_seconds",
            "When the latest failed reload happened, Unix seconds (0 while the latest reload succeeded)",
            config_reload_failed_at.clone(),
        );
        let claims = Family::default();
        registry.register("claims", "Credit claims in each state, per currency", claims.clone());
        let claims_amount = Family::default();
        registry.register(
            "claims_amount",
            "Credit of the claims in each state, per currency: owed by the latest report, or paid once paid",
            claims_amount.clone(),
        );
        let claims_overdue = Family::default();
        registry.register(
            "claims_overdue",
            "Claims owed and not submitted past their claim deadline, per currency",
            claims_overdue.clone(),
        );
        let claims_recovered = Family::default();
        registry.register(
            "claims_recovered_this_year",
            "Credit paid this calendar year (UTC), per currency",
            claims_recovered.clone(),
        );
        let status_page_failing = Family::default();
        registry.register(
            "status_page_failing",
            "1 while the last read of the contract's vendor status page failed (or it was never read), else 0",
            status_page_failing.clone(),
        );
        let status_page_checked_at = Family::default();
        registry.register(
            "status_page_checked_at_seconds",
            "When the contract's vendor status page was last read successfully, Unix seconds (0: never)",
            status_page_checked_at.clone(),
        );
        Self {
            registry: root,
            operations,
            status_page_failing,
            status_page_checked_at,
            claims,
            claims_amount,
            claims_overdue,
            claims_recovered,
            config_reload_failed,
            config_loaded_at,
            config_reload_failed_at,
            alerts_firing,
            alerts_unacknowledged,
            contract_uptime,
            contract_budget,
            contract_budget_left,
            contract_standing,
            contract_credit_certain,
            results_stored,
            results_duplicate,
            results_refused,
            batches,
            commit_seconds,
            sessions,
            sessions_refused,
            evidence_rejected,
            clock_offset_seconds,
            config_pushes_refused,
            http_connections_refused,
            http_requests_timed_out,
        }
    }
}

impl CollectorMetrics {
    /// Counts an agent session refused for `reason` (a [`crate::ingest::refusals::Refusal`] label).
    pub fn count_refused_session(&self, reason: &'static str) {
        self.sessions_refused.get_or_create(&RefusalLabels { reason }).inc();
    }

    /// Counts evidence of `kind` (`chain_link`, `checkpoint`, `gap_statement`) that did not verify.
    pub fn count_rejected_evidence(&self, kind: &'static str) {
        self.evidence_rejected.get_or_create(&EvidenceLabels { kind }).inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// Sets the contract gauges to `statuses` (contracts no longer configured disappear).
    pub fn set_contracts(&self, statuses: &[(&Contract, ContractStatus)]) {
        let families = [
            &self.contract_uptime,
            &self.contract_budget,
            &self.contract_budget_left,
            &self.contract_standing,
            &self.contract_credit_certain,
        ];
        for family in families {
            family.clear();
        }
        for (contract, status) in statuses {
            let labels = ContractLabels { contract: contract.terms.id.clone() };
            if let Some(uptime) = status.so_far.uptime_percent {
                self.contract_uptime.get_or_create(&labels).set(uptime);
            }
            self.contract_budget.get_or_create(&labels).set(status.budget_seconds);
            self.contract_budget_left.get_or_create(&labels).set(status.budget_left_seconds);
            let standing = match status.standing {
                Standing::Ok => 0.0,
                Standing::AtRisk => 1.0,
                Standing::Breached => 2.0,
            };
            self.contract_standing.get_or_create(&labels).set(standing);
            let credit = f64::try_from(status.credit_certain_amount).unwrap_or(f64::NAN);
            self.contract_credit_certain.get_or_create(&labels).set(credit);
        }
    }

    /// Sets the alert gauges: every configured rule at 0 or 1.
    pub fn set_alerts(&self, rules: &[AlertRule], firing: &[AlertRecord]) {
        self.alerts_firing.clear();
        self.alerts_unacknowledged.clear();
        for rule in rules {
            let labels = AlertLabels { contract: rule.contract.clone(), kind: rule.kind.as_str().to_owned() };
            let open = firing.iter().find(|alert| alert.contract == labels.contract && alert.kind == labels.kind);
            self.alerts_firing.get_or_create(&labels).set(i64::from(open.is_some()));
            let waiting = open.is_some_and(|alert| alert.acknowledged_at.is_none());
            self.alerts_unacknowledged.get_or_create(&labels).set(i64::from(waiting));
        }
    }

    /// Sets the claim gauges from `claims` at `now`.
    pub fn set_claims(&self, claims: &[Claim], now: jiff::Timestamp) {
        self.claims.clear();
        self.claims_amount.clear();
        self.claims_overdue.clear();
        self.claims_recovered.clear();
        for claim in claims {
            let labels = ClaimLabels { state: claim.state.as_str(), currency: claim.currency.clone() };
            self.claims.get_or_create(&labels).inc();
            let amount =
                if claim.state == ClaimState::Paid { claim.paid_amount.unwrap_or_default() } else { claim.owed };
            self.claims_amount.get_or_create(&labels).inc_by(f64::try_from(amount).unwrap_or(f64::NAN));
        }
        for sums in totals(claims, now) {
            let labels = CurrencyLabels { currency: sums.currency };
            self.claims_overdue.get_or_create(&labels).set(i64::try_from(sums.overdue_claims).unwrap_or(i64::MAX));
            let recovered = f64::try_from(sums.recovered_this_year).unwrap_or(f64::NAN);
            self.claims_recovered.get_or_create(&labels).set(recovered);
        }
    }

    /// Sets the status page gauges from each contract that names a page and that page's record (`None`: never
    /// read).
    pub fn set_status_pages(&self, pages: &[(String, Option<StatusPageRecord>)]) {
        self.status_page_failing.clear();
        self.status_page_checked_at.clear();
        for (contract, record) in pages {
            let labels = ContractLabels { contract: contract.clone() };
            let checked_at = record.as_ref().and_then(|record| record.checked_at);
            let failing = record.as_ref().is_none_or(|record| record.problem.is_some());
            self.status_page_failing.get_or_create(&labels).set(i64::from(failing));
            self.status_page_checked_at.get_or_create(&labels).set(checked_at.map_or(0, |at| at.as_second()));
        }
    }

    /// Sets the configuration gauges: when the running configuration was loaded, and when the latest reload
    /// failed (`None` while it succeeded).
    pub fn set_reload(&self, loaded_at: jiff::Timestamp, failed_at: Option<jiff::Timestamp>) {
        self.config_reload_failed.set(i64::from(failed_at.is_some()));
        self.config_loaded_at.set(loaded_at.as_second());
        self.config_reload_failed_at.set(failed_at.map_or(0, |at| at.as_second()));
    }

    /// Whether `agent_id` holds a session now.
    pub fn is_connected(&self, agent_id: &str) -> bool {
        self.sessions.get_or_create(&AgentLabels { agent_id: agent_id.to_owned() }).get() > 0
    }

    /// Counts one agent's session open until the returned guard is dropped.
    pub fn session_opened(&self, agent_id: &str) -> SessionGuard<'_> {
        let labels = AgentLabels { agent_id: agent_id.to_owned() };
        self.sessions.get_or_create(&labels).inc();
        SessionGuard { metrics: self, labels }
    }
}

/// Counts a session as open while it lives.
pub struct SessionGuard<'a> {
    metrics: &'a CollectorMetrics,
    labels: AgentLabels,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.metrics.sessions.get_or_create(&self.labels).dec();
    }
}
