//! The signals an operator of the collector looks for, beside ingest's and the contracts' figures: which build
//! runs (the process's own CPU, memory and descriptors are [`super::process`]), the store's failures and
//! PostgreSQL pool, retention runs and what they deleted, HTTP requests by route and status with their
//! latency, HTTP credentials refused by reason, reloads of the gRPC listener's certificate with its expiry,
//! which leases this replica holds and how many replicas are alive, the SHA-256 of the configuration it runs
//! and how many live replicas run another, whether each notification channel's latest delivery failed, how
//! many enrolled agents are pending, approved and revoked, and each agent's spool backlog and each region's
//! latest results as recorded by whichever replica holds the session (read from the store when scraped, so
//! every replica shows all agents). Agent sessions and TLS
//! handshakes refused are counted with the other refusals (`agent_sessions_refused`).

use std::sync::atomic::AtomicU64;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::store::AgentRecord;
use crate::store::enrolments::{EnrolledAgent, EnrolmentState};
use crate::store::usage::{self, PoolUse};

/// Labels of one outcome (`done`, `failed`, `not_holder`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// What happened.
    pub outcome: &'static str,
}

/// Labels naming what retention deleted.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeletedLabels {
    /// `results`, `partitions`, `rollups` or `ledger_slices`.
    pub what: &'static str,
}

/// Labels of one HTTP request: the route as declared (`/api/v1/contracts/{id}`, never the path asked for, so
/// the series stay few) and the status code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The matched route, or `unmatched`.
    pub route: String,
    /// The method.
    pub method: String,
    /// The status code.
    pub status: u16,
}

/// Labels naming one lease.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaseLabels {
    /// `alerting`, `retention`, `ledger`, `close` or `status_pages`.
    pub lease: String,
}

/// Labels naming one region.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegionLabels {
    /// The region.
    pub region: String,
}

/// Labels naming the configuration a collector runs.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConfigLabels {
    /// The SHA-256 of its files (lower-case hex).
    pub sha256: String,
}

/// Labels naming a notification channel.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    /// Its id in `notify.channels`.
    pub channel: String,
}

/// Labels naming where enrolled agents stand.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnrolmentLabels {
    /// `pending`, `approved` or `revoked`.
    pub state: &'static str,
}

/// Labels of a refused HTTP credential.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    /// `no_token`, `unknown_token` or `not_admin`.
    pub reason: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The operator's metrics, registered in the collector's registry.
#[derive(Debug)]
pub struct OperationMetrics {
    retention_runs: Family<OutcomeLabels, Counter>,
    retention_deleted: Family<DeletedLabels, Counter>,
    retention_last_run: Gauge,
    http_requests: Family<RouteLabels, Counter>,
    http_seconds: Family<RouteLabels, Histogram>,
    http_auth_refused: Family<RefusedLabels, Counter>,
    tls_reloads: Family<OutcomeLabels, Counter>,
    tls_certificate_expiry: FloatGauge,
    lease_held: Family<LeaseLabels, Gauge>,
    replicas_alive: Gauge,
    config_info: Family<ConfigLabels, Gauge>,
    replicas_config_differs: Gauge,
    channel_failing: Family<ChannelLabels, Gauge>,
    enrolled_agents: Family<EnrolmentLabels, Gauge>,
    agent_backlog: Family<super::AgentLabels, Gauge>,
    region_last_result: Family<RegionLabels, Gauge>,
    pool_connections: Family<PoolLabels, Gauge>,
}

/// Labels of the PostgreSQL pool's connections by state.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// `in_use`, `idle`, `waiting` (queries waiting for one) or `max`.
    pub state: &'static str,
}

impl OperationMetrics {
    /// The metrics, registered in `registry` (prefixed `slaprobe_collector_`), with the build's version.
    pub fn registered(registry: &mut Registry) -> Self {
        let build = Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]);
        registry.register("build", "The collector's build", build);
        let metrics = Self {
            retention_runs: Family::default(),
            retention_deleted: Family::default(),
            retention_last_run: Gauge::default(),
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16))),
            http_auth_refused: Family::default(),
            tls_reloads: Family::default(),
            tls_certificate_expiry: FloatGauge::default(),
            lease_held: Family::default(),
            replicas_alive: Gauge::default(),
            config_info: Family::default(),
            replicas_config_differs: Gauge::default(),
            channel_failing: Family::default(),
            enrolled_agents: Family::default(),
            agent_backlog: Family::default(),
            region_last_result: Family::default(),
            pool_connections: Family::default(),
        };
        registry.register_collector(Box::new(StoreFailuresCollector));
        registry.register(
            "retention_runs",
            "Retention runs: done, failed, or not_holder (another collector holds the lease)",
            metrics.retention_runs.clone(),
        );
        registry.register(
            "retention_deleted",
            "What retention deleted: results, partitions (PostgreSQL), rollups, ledger_slices",
            metrics.retention_deleted.clone(),
        );
        registry.register(
            "retention_last_run_timestamp_seconds",
            "When this collector last finished a retention run, Unix seconds (0: never)",
            metrics.retention_last_run.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route, method and status",
            metrics.http_seconds.clone(),
        );
        registry.register(
            "http_auth_refused",
            "HTTP requests and logins refused for their token: no_token (an API or metrics call without one), unknown_token, not_admin (a change asked with a viewer token)",
            metrics.http_auth_refused.clone(),
        );
        registry.register(
            "tls_reloads",
            "Reloads of the listener's TLS certificate, key and client CA: done or failed",
            metrics.tls_reloads.clone(),
        );
        registry.register(
            "tls_certificate_expiry_timestamp_seconds",
            "When the certificate the gRPC listener serves expires, Unix seconds",
            metrics.tls_certificate_expiry.clone(),
        );
        registry.register(
            "lease_held",
            "1 for each lease this collector holds now (the work it does for all replicas), 0 for the others on record",
            metrics.lease_held.clone(),
        );
        registry.register(
            "replicas_alive",
            "Collectors serving this store that beat within the last 30 s, this one included",
            metrics.replicas_alive.clone(),
        );
        registry.register(
            "config_info",
            "1, labelled with the SHA-256 of the configuration files this collector runs",
            metrics.config_info.clone(),
        );
        registry.register(
            "replicas_config_differs",
            "Live replicas sharing this store whose configuration's SHA-256 differs from this collector's",
            metrics.replicas_config_differs.clone(),
        );
        registry.register(
            "notify_channel_failing",
            "1 for each channel of notify.channels whose latest delivery failed every attempt, 0 for the others",
            metrics.channel_failing.clone(),
        );
        registry.register(
            "enrolled_agents",
            "Agents enrolled with a fleet token (enrolments:), by state: pending ones wait for an admin's approval",
            metrics.enrolled_agents.clone(),
        );
        registry.register(
            "agent_spool_backlog",
            "Results waiting in each agent's spool, as its latest batch said (whichever collector it sends to)",
            metrics.agent_backlog.clone(),
        );
        registry.register(
            "region_last_result_timestamp_seconds",
            "When results last arrived from any agent of the region, Unix seconds",
            metrics.region_last_result.clone(),
        );
        registry.register(
            "store_pool_connections",
            "The PostgreSQL pool: connections in_use and idle, queries waiting for one, and the max it opens",
            metrics.pool_connections.clone(),
        );
        metrics
    }

    /// Sets the pool gauges from `pool` (none on SQLite).
    pub fn set_pool(&self, pool: Option<PoolUse>) {
        self.pool_connections.clear();
        if let Some(pool) = pool {
            for (state, count) in
                [("in_use", pool.in_use), ("idle", pool.idle), ("waiting", pool.waiting), ("max", pool.max)]
            {
                self.pool_connections
                    .get_or_create(&PoolLabels { state })
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
    }

    /// Sets each agent's backlog and each region's latest results from the registry `agents`.
    pub fn set_agents(&self, agents: &[AgentRecord]) {
        self.agent_backlog.clear();
        self.region_last_result.clear();
        for agent in agents {
            let backlog = i64::try_from(agent.spool_backlog).unwrap_or(i64::MAX);
            self.agent_backlog.get_or_create(&super::AgentLabels { agent_id: agent.agent_id.clone() }).set(backlog);
            let latest = self.region_last_result.get_or_create(&RegionLabels { region: agent.region.clone() });
            latest.set(latest.get().max(agent.last_seen.as_second()));
        }
    }

    /// Sets the cluster gauges: each lease on record with whether this collector holds it, and the replicas alive.
    pub fn set_cluster(&self, leases: &[(String, bool)], alive: usize) {
        self.lease_held.clear();
        for (lease, held) in leases {
            self.lease_held.get_or_create(&LeaseLabels { lease: lease.clone() }).set(i64::from(*held));
        }
        self.replicas_alive.set(i64::try_from(alive).unwrap_or(i64::MAX));
    }

    /// Sets the configuration's hash and how many live replicas run another.
    pub fn set_config(&self, sha256: &str, differing: usize) {
        self.config_info.clear();
        self.config_info.get_or_create(&ConfigLabels { sha256: sha256.to_owned() }).set(1);
        self.replicas_config_differs.set(i64::try_from(differing).unwrap_or(i64::MAX));
    }

    /// Sets, for each configured channel, whether its latest delivery failed.
    pub fn set_channels(&self, channels: &[(String, bool)]) {
        self.channel_failing.clear();
        for (channel, failing) in channels {
            self.channel_failing.get_or_create(&ChannelLabels { channel: channel.clone() }).set(i64::from(*failing));
        }
    }

    /// Sets how many enrolled agents stand in each state (every state shown, 0 included).
    pub fn set_enrolled(&self, agents: &[EnrolledAgent]) {
        for state in [EnrolmentState::Pending, EnrolmentState::Approved, EnrolmentState::Revoked] {
            let count = agents.iter().filter(|agent| agent.state == state).count();
            self.enrolled_agents
                .get_or_create(&EnrolmentLabels { state: state.label() })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// Counts a retention run that ended with `outcome`.
    pub fn count_retention_run(&self, outcome: &'static str) {
        self.retention_runs.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts what one retention run deleted, at `finished` (Unix seconds).
    pub fn count_retention_deleted(&self, deleted: [(&'static str, u64); 4], finished: i64) {
        for (what, count) in deleted {
            self.retention_deleted.get_or_create(&DeletedLabels { what }).inc_by(count);
        }
        self.retention_last_run.set(finished);
    }

    /// Counts an HTTP request to `route` answered with `status` after `seconds`.
    pub fn count_http_request(&self, labels: RouteLabels, seconds: f64) {
        self.http_seconds.get_or_create(&labels).observe(seconds);
        self.http_requests.get_or_create(&labels).inc();
    }

    /// Counts an HTTP credential refused for `reason`.
    pub fn count_http_auth_refused(&self, reason: &'static str) {
        self.http_auth_refused.get_or_create(&RefusedLabels { reason }).inc();
    }

    /// Counts a TLS reload that ended with `outcome`; `expires` is when the certificate now served expires.
    pub fn count_tls_reload(&self, outcome: &'static str, expires: Option<i64>) {
        self.tls_reloads.get_or_create(&OutcomeLabels { outcome }).inc();
        if let Some(expires) = expires {
            self.tls_certificate_expiry.set(expires as f64);
        }
    }
}

/// `store_errors_total{operation}`: the store's failed writes, reads and connections, read at each scrape.
#[derive(Debug)]
struct StoreFailuresCollector;

impl Collector for StoreFailuresCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let failures = usage::failures();
        let mut family = encoder.encode_descriptor(
            "store_errors",
            "Store operations that failed: write (a transaction not committed), read (SQLite), connect (PostgreSQL)",
            None,
            MetricType::Counter,
        )?;
        for (operation, count) in
            [("write", failures.writes), ("read", failures.reads), ("connect", failures.connections)]
        {
            let labels = [("operation", operation)];
            ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
