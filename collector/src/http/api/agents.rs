//! `GET /api/v1/agents`: the agent registry, with whether each agent holds a session now, with which replica
//! (a session recorded for a replica that stopped beating is taken as gone), and whether its clock
//! is within `max_clock_offset`, its signing key (pinned, on record (unpinned), or none), how its control
//! probes stand, and the spans of the last day in which rule 11 found it failing on its own. An agent that has
//! not sent results for [`SILENT_AFTER`] is marked silent.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use slaprobe_proto::ResultRecord;
use slaprobe_proto::evidence::PublicKey;
use slaprobe_sla::faults::AgentFault;

use super::ApiError;
use crate::cluster::is_alive;
use crate::http::HttpState;
use crate::store::cluster::instance_name;

/// An agent with no results for this long is silent.
pub const SILENT_AFTER: SignedDuration = SignedDuration::from_mins(5);

/// An agent as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
    /// Agent id.
    pub agent_id: String,
    /// Region label.
    pub region: String,
    /// Agent software version at its last session.
    pub version: String,
    /// Whether it holds a session now, with this collector or another replica serving the store.
    pub connected: bool,
    /// The replica holding its session (`null` while it has none).
    pub collector: Option<String>,
    /// Whether it sent nothing for [`SILENT_AFTER`].
    pub silent: bool,
    /// When its last session opened.
    pub connected_at: Timestamp,
    /// When it last sent results.
    pub last_seen: Timestamp,
    /// Results waiting in its spool, as its latest batch said (or its latest Hello, before any batch).
    pub spool_backlog: u64,
    /// Collector clock minus agent clock, milliseconds (`null` before the first estimate).
    pub clock_offset_ms: Option<f64>,
    /// Round trip of that estimate, milliseconds.
    pub clock_round_trip_ms: Option<f64>,
    /// Whether the offset is within `max_clock_offset` (results beyond it are flagged `clock_suspect`).
    pub clock_within_bound: Option<bool>,
    /// `pinned` (collector.yaml pins its key), `enrolled` (it joined with a fleet token under the key it presented
    /// then), `unpinned` (the first key it presented is on record) or `unsigned` (it presented none).
    pub key: &'static str,
    /// Its public key, pinned or on record.
    pub public_key: Option<PublicKey>,
    /// Its control probes of the last [`CONTROLS_WINDOW`]; `None` without any.
    pub controls: Option<ControlsView>,
    /// The spans of the last [`FAULTS_WINDOW`] in which rule 11 found it failing on its own; `None` without any.
    pub own_faults: Option<FaultsView>,
}

/// How far back an agent's own faults (rule 11) are read for [`FaultsView`].
pub const FAULTS_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// An agent's own faults of the last [`FAULTS_WINDOW`] (rule 11).
#[derive(Debug, Clone, Serialize)]
pub struct FaultsView {
    /// How many spans.
    pub spans: u32,
    /// The latest of them.
    pub latest: AgentFault,
}

/// Per agent, its faults among `faults` (in time order).
fn faults_of(faults: Vec<AgentFault>) -> HashMap<String, FaultsView> {
    let mut views: HashMap<String, FaultsView> = HashMap::new();
    for fault in faults {
        match views.get_mut(&fault.agent_id) {
            Some(view) => {
                view.spans += 1;
                view.latest = fault;
            }
            None => {
                views.insert(fault.agent_id.clone(), FaultsView { spans: 1, latest: fault });
            }
        }
    }
    views
}

/// How far back the agents' control probes are read for [`ControlsView`].
pub const CONTROLS_WINDOW: SignedDuration = SignedDuration::from_mins(5);

/// An agent's control probes as of now: per control check, its latest result in [`CONTROLS_WINDOW`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ControlsView {
    /// Control checks with a result in the window.
    pub probed: u32,
    /// Of those, the ones whose latest result failed.
    pub failing: u32,
    /// Most of them are failing: the agent's results are inconclusive now (rule 10).
    pub inconclusive: bool,
}

/// Per agent, its controls as of `now`, from the latest result of each of its control checks.
fn controls_of(results: &[ResultRecord]) -> HashMap<String, ControlsView> {
    let mut latest: HashMap<(&str, &str), &ResultRecord> = HashMap::new();
    for result in results {
        let key = (result.agent_id.as_deref().unwrap_or_default(), result.check_id.as_str());
        let newer = latest.get(&key).is_none_or(|kept| kept.started_at <= result.started_at);
        if newer {
            latest.insert(key, result);
        }
    }
    let mut views: HashMap<String, ControlsView> = HashMap::new();
    for ((agent, _), result) in latest {
        let view = views.entry(agent.to_owned()).or_insert(ControlsView { probed: 0, failing: 0, inconclusive: false });
        view.probed += 1;
        view.failing += u32::from(!result.ok);
        view.inconclusive = slaprobe_sla::observations::most_failing(view.failing, view.probed);
    }
    views
}

/// Every agent that ever opened a session, by id, as of `now`.
pub async fn agent_views(state: &HttpState, now: Timestamp) -> Result<Vec<AgentView>, ApiError> {
    let (bound, pinned): (_, HashMap<String, PublicKey>) = {
        let config = state.config.borrow();
        let pinned =
            config.agents.iter().filter_map(|agent| Some((agent.agent_id.clone(), agent.public_key?))).collect();
        (config.max_clock_offset, pinned)
    };
    let records = state.store.agents().await?;
    let alive: HashSet<String> = (state.store.replicas().await?.into_iter())
        .filter(|replica| is_alive(replica, now))
        .map(|replica| replica.name)
        .collect();
    // This collector's own sessions are known first hand; another replica's, while it keeps beating.
    let holding = |agent_id: &str, collector: &String| {
        if collector == instance_name() { state.metrics.is_connected(agent_id) } else { alive.contains(collector) }
    };
    let since = now.saturating_sub(CONTROLS_WINDOW).unwrap_or(now);
    let controls = controls_of(&state.store.control_results_between(since, now).await?);
    let day_ago = now.saturating_sub(FAULTS_WINDOW).unwrap_or(now);
    let mut own_faults = faults_of(state.store.agent_faults_between(day_ago, now).await?);
    let recorded: HashMap<String, PublicKey> =
        state.store.agent_keys().await?.into_iter().map(|key| (key.agent_id, key.public_key)).collect();
    let enrolled: HashMap<String, PublicKey> =
        state.store.enrolled_agents().await?.into_iter().map(|agent| (agent.agent_id, agent.public_key)).collect();
    Ok(records
        .into_iter()
        .map(|record| {
            let clock = record.clock;
            let id = &record.agent_id;
            let (key, public_key) = match (pinned.get(id), enrolled.get(id), recorded.get(id)) {
                (Some(key), _, _) => ("pinned", Some(*key)),
                (None, Some(key), _) => ("enrolled", Some(*key)),
                (None, None, Some(key)) => ("unpinned", Some(*key)),
                (None, None, None) => ("unsigned", None),
            };
            let collector = record.session_collector.clone().filter(|collector| holding(&record.agent_id, collector));
            AgentView {
                connected: collector.is_some(),
                collector,
                key,
                public_key,
                controls: controls.get(&record.agent_id).copied(),
                own_faults: own_faults.remove(&record.agent_id),
                silent: now.duration_since(record.last_seen) > SILENT_AFTER,
                clock_offset_ms: clock.map(|clock| clock.offset_nanos as f64 / 1e6),
                clock_round_trip_ms: clock.map(|clock| clock.round_trip_nanos as f64 / 1e6),
                clock_within_bound: clock.map(|clock| clock.offset_nanos.unsigned_abs() <= bound.as_nanos() as u64),
                agent_id: record.agent_id,
                region: record.region,
                version: record.version,
                connected_at: record.connected_at,
                last_seen: record.last_seen,
                spool_backlog: record.spool_backlog,
            }
        })
        .collect())
}

/// `GET /api/v1/agents`.
pub async fn agents(State(state): State<HttpState>) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Timestamp::now();
    let views = agent_views(&state, now).await?;
    let refused = state.refusals.sources();
    Ok(Json(serde_json::json!({ "as_of": now, "agents": views, "refused_sessions": refused })))
}
