//! The other probe kinds, each next to blackbox_exporter's matching module in the same run: TLS handshakes
//! (`kind: tls` against its `tcp` prober with `tls: true`), gRPC health calls (`kind: grpc` against its `grpc`
//! prober) and ICMP echoes (`kind: icmp` with `count: 1` against its `icmp` prober), N checks of each at 1 s
//! against loopback targets: a TLS server and a gRPC health server in this process, and 127.0.0.1.

use std::path::Path;

use slaprobe_tests::certs::CaFile;
use slaprobe_tests::grpc_health_server::GrpcHealthServer;
use slaprobe_tests::tcp_server::TcpServer;
use tonic_health::ServingStatus;

use crate::agent_runs::{Figures, measure_standalone};
use crate::blackbox::measure_module;

/// One kind's checks and the blackbox module probing the same target.
struct Kind {
    name: &'static str,
    check: String,
    module: String,
    target: String,
}

/// Measures each kind with `checks` checks at 1 s for `seconds`, then blackbox_exporter at the agent's rate.
pub async fn compare(dir: &Path, checks: usize, seconds: u64) {
    let ca = CaFile::new();
    let tls_server = TcpServer::tls_banner("", ca.ca.server_cert(-1, 90).server_config(&[])).await;
    let grpc_server = GrpcHealthServer::start_open().await;
    grpc_server.set("", ServingStatus::Serving).await;
    let ca_file = ca.path.display();
    let kinds = [
        Kind {
            name: "TLS handshake",
            check: format!("kind: tls, target: \"{}\", tls: {{ ca_file: \"{ca_file}\" }}", tls_server.addr),
            module: format!(
                "prober: tcp\n    timeout: 5s\n    tcp:\n      preferred_ip_protocol: ip4\n      tls: true\n      \
                 tls_config:\n        ca_file: \"{ca_file}\"\n"
            ),
            target: tls_server.addr.to_string(),
        },
        Kind {
            name: "gRPC health",
            check: format!("kind: grpc, target: \"{}\"", grpc_server.addr),
            module: "prober: grpc\n    timeout: 5s\n    grpc:\n      preferred_ip_protocol: ip4\n      tls: false\n"
                .to_owned(),
            target: grpc_server.addr.to_string(),
        },
        Kind {
            name: "ICMP echo",
            check: "kind: icmp, target: \"127.0.0.1\", icmp: { count: 1 }".to_owned(),
            module: "prober: icmp\n    timeout: 5s\n    icmp:\n      preferred_ip_protocol: ip4\n".to_owned(),
            target: "127.0.0.1".to_owned(),
        },
    ];
    for kind in kinds {
        let list: String = (0..checks)
            .map(|index| format!("  - {{ id: probe-{index}, interval: 1s, timeout: 800ms, {} }}\n", kind.check))
            .collect();
        let yaml = format!("agent_id: bench\nregion: bench\nchecks:\n{list}");
        let name = kind.name.to_lowercase().replace(' ', "-");
        let agent: Figures = measure_standalone(dir, &name, &yaml, seconds).await;
        agent.print_against(
            &format!("slaprobe-agent, {}: {checks} checks at 1s, measured for {seconds} s", kind.name),
            "",
        );
        let rate = agent.probes_per_second.round() as usize;
        match measure_module(dir, &kind.module, &kind.target, rate, seconds).await {
            Some(baseline) => println!(
                "  {}: slaprobe-agent {:.4} ms vs blackbox_exporter {:.4} ms per probe ({} probes at {rate}/s): \
                 {:.1}x less CPU",
                kind.name,
                agent.cpu_ms_per_probe,
                baseline.cpu_ms_per_probe,
                baseline.probes,
                baseline.cpu_ms_per_probe / agent.cpu_ms_per_probe
            ),
            None => println!("  {}: blackbox_exporter not measured (not installed)", kind.name),
        }
    }
}
