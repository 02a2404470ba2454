//! The agents page (`/agents`): which regions report, each agent's signing key (pinned, unpinned or unsigned) and
//! control probes (passing, or failing so that its results are inconclusive), and which agents have gone silent
//! (nothing for [`SILENT_AFTER`](crate::http::api::agents::SILENT_AFTER)) or never connected; silent ones stand out.
//! Each agent's session names the replica holding it. Below, the agents enrolled with a fleet token (pending,
//! approved or revoked; [`enrolments`]), the collectors serving the store (alive or gone,
//! same configuration or not, the sessions and leases each holds), and the sessions this collector refused since
//! it started: an agent with a wrong token shows here, not only in the log.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use jiff::Timestamp;
use maud::{Markup, html};

use super::{Nav, PageError, ago, as_of_note, banners, enrolments, layout, short_hash};
use crate::config::Role;
use crate::http::HttpState;
use crate::http::api::ApiError;
use crate::http::api::agents::agent_views;
use crate::http::api::cluster::{ClusterView, cluster_view};
use crate::http::auth::Caller;
use crate::ingest::refusals::RefusedSource;

/// `GET /agents`.
pub async fn page(State(state): State<HttpState>, caller: Option<Extension<Caller>>) -> Result<Response, PageError> {
    let now = Timestamp::now();
    let may_act = caller.as_ref().is_none_or(|caller| caller.role == Role::Admin);
    let views = agent_views(&state, now).await?;
    let configured = state.config.borrow().agents.clone();
    let never: Vec<_> =
        configured.iter().filter(|agent| !views.iter().any(|view| view.agent_id == agent.agent_id)).collect();
    let mut regions: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for view in &views {
        let entry = regions.entry(view.region.as_str()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(!view.silent);
    }
    for agent in &never {
        regions.entry(agent.region.as_str()).or_default().0 += 1;
    }
    let silent = views.iter().filter(|view| view.silent).count() + never.len();
    let body = html! {
        h1 { "Agents" }
        div.summary {
            span data-field="silent" { (silent) " silent or never connected" }
            @for (region, (all, reporting)) in &regions {
                span data-region=(region) {
                    span.badge.(if *reporting == 0 { "silent" } else if reporting < all { "partial" } else { "up" }) {
                        (region)
                    }
                    " " (reporting) "/" (all) " reporting"
                }
            }
        }
        @if views.is_empty() && never.is_empty() {
            p { "No agent is configured or has connected yet." }
        } @else {
            div.scroll { table {
                thead { tr {
                    th { "Agent" } th { "Region" } th { "Version" } th { "Session" } th { "Last results" }
                    th.num { "Backlog" } th.num { "Clock offset" } th { "Key" } th { "Controls (5 min)" }
                    th { "Failing alone (24 h)" }
                } }
                tbody {
                    @for view in &views {
                        tr.silent[view.silent] data-agent=(view.agent_id) {
                            td { strong { (view.agent_id) } @if view.silent { " " span.badge.silent { "silent" } } }
                            td { (view.region) }
                            td { (view.version) }
                            td data-field="connected" {
                                @match &view.collector {
                                    Some(collector) => {
                                        "connected to " code data-field="collector" { (collector) }
                                        span.muted { " since " (view.connected_at.strftime("%Y-%m-%d %H:%M:%S UTC")) }
                                    }
                                    None => "not connected",
                                }
                            }
                            td { (ago(now, view.last_seen)) }
                            td.num data-field="backlog" { (view.spool_backlog) }
                            td.num {
                                @if let Some(offset) = view.clock_offset_ms {
                                    (format!("{offset:.1}")) " ms"
                                    @if view.clock_within_bound == Some(false) {
                                        " " span.badge.down { "beyond bound" }
                                    }
                                } @else { "–" }
                            }
                            td data-field="key" title=[view.public_key.map(|key| key.to_string())] {
                                @match view.key {
                                    "pinned" => span.badge.up { "pinned" },
                                    "enrolled" => span.badge.up { "enrolled" },
                                    "unpinned" => span.badge.partial { "unpinned" },
                                    _ => span.badge.silent { "unsigned" },
                                }
                            }
                            td data-field="controls" {
                                @match view.controls {
                                    None => span.muted { "none" },
                                    Some(controls) if controls.inconclusive => {
                                        span.badge.down { "inconclusive" }
                                        " " (controls.failing) " of " (controls.probed) " failing"
                                    }
                                    Some(controls) => {
                                        span.badge.up { "passing" }
                                        " " (controls.probed - controls.failing) " of " (controls.probed)
                                    }
                                }
                            }
                            td data-field="own-faults" {
                                @match &view.own_faults {
                                    None => span.muted { "never" },
                                    Some(faults) => {
                                        span.badge.partial { (faults.spans) " span" @if faults.spans > 1 { "s" } }
                                        " latest " (faults.latest.start.strftime("%H:%M:%S")) "–"
                                        (faults.latest.end.strftime("%H:%M:%S UTC")) ": "
                                        (faults.latest.vendors.join(", ")) " failed from it alone"
                                    }
                                }
                            }
                        }
                    }
                    @for agent in &never {
                        tr.silent data-agent=(agent.agent_id) {
                            td { strong { (agent.agent_id) } " " span.badge.silent { "never connected" } }
                            td { (agent.region) }
                            td colspan="8" { span.muted { "Configured in collector.yaml; no session yet." } }
                        }
                    }
                }
            } }
        }
        (enrolments::section(state.store.enrolled_agents().await.map_err(ApiError::from)?, now, may_act))
        (collectors(&cluster_view(&state, now).await?, now))
        (refused_sessions(&state.refusals.sources(), now))
        (as_of_note(now, true))
    };
    Ok(layout("Agents", Nav::Agents, caller.as_ref().map(|caller| &caller.0), banners(&state), true, body))
}

/// The replicas serving the store, with the leases each holds.
fn collectors(cluster: &ClusterView, now: Timestamp) -> Markup {
    html! {
        h2 { "Collectors" }
        @if cluster.replicas.is_empty() {
            p.muted { "No collector has recorded a heartbeat yet (each does within 10 s of starting)." }
        } @else {
            div.scroll { table {
                thead { tr {
                    th { "Collector" } th { "Version" } th { "Started" } th { "Heartbeat" } th.num { "Sessions" }
                    th { "Configuration" } th { "Leases" }
                } }
                tbody {
                    @for view in &cluster.replicas {
                        tr.silent[!view.alive] data-replica=(view.replica.name) {
                            td {
                                strong { (view.replica.name) }
                                @if view.this { " " span.muted { "(this one)" } }
                                @if !view.alive { " " span.badge.silent { "gone" } }
                            }
                            td { (view.replica.version) }
                            td { (view.replica.started_at.strftime("%Y-%m-%d %H:%M:%S UTC")) }
                            td data-field="heartbeat" { (ago(now, view.replica.heartbeat_at)) }
                            td.num data-field="sessions" { (view.sessions) }
                            td title=(view.replica.config_sha256) data-field="config" {
                                code { (short_hash(&view.replica.config_sha256)) } " "
                                @if view.same_config { span.muted { "same as this one" } }
                                @else { span.badge.partial { "differs" } }
                            }
                            td data-field="leases" { (held_by(cluster, &view.replica.name)) }
                        }
                    }
                }
            } }
        }
    }
}

/// The leases `replica` holds now, by name, comma-separated.
fn held_by(cluster: &ClusterView, replica: &str) -> String {
    let held = cluster.leases.iter().filter(|lease| lease.held && lease.lease.holder == replica);
    held.map(|lease| lease.lease.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// The addresses whose agent sessions were refused, with how often and the id they claimed.
fn refused_sessions(sources: &[RefusedSource], now: Timestamp) -> Markup {
    html! {
        h2 { "Refused connections" }
        @if sources.is_empty() {
            p.muted { "No agent session has been refused since this collector started." }
        } @else {
            p.warning data-field="refused" {
                (sources.iter().map(|source| source.attempts).sum::<u64>())
                " agent session(s) refused since this collector started: a token or identity that collector.yaml \
                 does not admit. Fix the agent's token, or add it under agents:."
            }
            div.scroll { table {
                thead { tr {
                    th { "From" } th { "Claimed agent" } th { "Why" } th.num { "Attempts" } th { "First" } th { "Latest" }
                } }
                tbody {
                    @for source in sources {
                        tr data-refused=(source.remote.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())) {
                            td { (source.remote.map_or_else(|| "unknown address".to_owned(), |ip| ip.to_string())) }
                            td { @if let Some(claimed) = &source.claimed_agent { code { (claimed) } } @else { "–" } }
                            td { (source.why) }
                            td.num data-field="attempts" { (source.attempts) }
                            td { (ago(now, source.first_at)) }
                            td { (ago(now, source.last_at)) }
                        }
                    }
                }
            } }
        }
    }
}
