//! How much the probe's `ttfb` adds to the time the server really held the request: sequential HTTP probes, in
//! this process, of a server on its own thread that answers after 20 ms and reports how long it really held
//! each request (`x-processing-us`).

use slaprobe_tests::agent::probe;
use slaprobe_tests::http_server::HttpServer;

use crate::process::percentile;

/// (p50, p99, max) of `ttfb − held` in ms over `count` probes.
pub async fn overhead(count: usize) -> (f64, f64, f64) {
    let server = HttpServer::start_on_own_thread();
    let check =
        format!("{{ id: ttfb, kind: http, target: \"{}\", interval: 2s, timeout: 1s }}", server.url("/delay/20"));
    let mut overheads = Vec::with_capacity(count);
    for _ in 0..count {
        let result = probe(&check).await;
        assert!(result.ok, "{result:?}");
        let held_ms = server.last_delay_us() as f64 / 1000.0;
        overheads.push(result.phases_ms.ttfb.expect("ttfb") - held_ms);
    }
    overheads.sort_by(f64::total_cmp);
    (percentile(&overheads, 0.5), percentile(&overheads, 0.99), *overheads.last().unwrap_or(&0.0))
}
