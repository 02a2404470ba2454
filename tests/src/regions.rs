//! Several regions on one machine: one agent per region, each sending its probes from its own loopback address
//! (`source_ip`), so that a loopback target can fail from some regions and not from others
//! ([`crate::http_server::HttpServer::fail_from`]).

use std::net::{IpAddr, SocketAddr};

use slaprobe_collector::digest::token_hash;

use crate::agent::AgentProcess;

/// Regions by name, each with the loopback address its agent probes from.
pub type Regions<'a> = [(&'a str, &'a str)];

/// The address `region`'s agent probes from.
pub fn source(regions: &Regions<'_>, region: &str) -> IpAddr {
    regions.iter().find(|(name, _)| *name == region).expect("a known region").1.parse().expect("an address")
}

/// The `agents:` entries of a collector.yaml admitting `agent-<region>` of each region, its token the region's
/// name.
pub fn agents_yaml(regions: &Regions<'_>) -> String {
    (regions.iter())
        .map(|(region, _)| {
            format!("  - {{ id: agent-{region}, region: {region}, token_sha256: \"{}\" }}\n", token_hash(region))
        })
        .collect()
}

/// Starts `agent-<region>` of each region for the collector at `grpc`, each with `extra` (agent.yaml lines).
pub fn start_agents(regions: &Regions<'_>, grpc: SocketAddr, extra: &str) -> Vec<AgentProcess> {
    (regions.iter())
        .map(|(region, address)| {
            let spool = tempfile::tempdir().expect("a spool directory");
            let yaml = format!(
                "agent_id: agent-{region}\nregion: {region}\ncollector: \"http://{grpc}\"\ntoken: {region}\n\
                 spool_dir: \"{}\"\nsource_ip: {address}\n{extra}",
                spool.path().join("spool").display()
            );
            AgentProcess::start_for_collector(spool, &yaml)
        })
        .collect()
}
