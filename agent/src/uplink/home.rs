//! Going back to the first collector listed. An agent that failed over to another collector checks the first
//! (its home) every [`CHECK_EVERY`], with a fifth of jitter either way, with `grpc.health.v1.Health/Check`. Once
//! home has answered SERVING [`STABLE_CHECKS`] times in a row, and the agent has been away at least [`MIN_AWAY`]
//! (waited out if need be), the session ends cleanly and the next opens at home: agents spread back across their
//! collectors after one returns, within [`RETURN_BOUND`] of it serving again (and not before [`MIN_AWAY`] after
//! failing over), without moving for a collector that only blinks.

use std::time::{Duration, Instant};

use slaprobe_proto::v1;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::UplinkSettings;

/// Time between checks of home, before jitter.
pub const CHECK_EVERY: Duration = Duration::from_secs(30);
/// Checks in a row home must pass.
pub const STABLE_CHECKS: u32 = 2;
/// The shortest stay away from home: a session just failed over is not ended again at once.
pub const MIN_AWAY: Duration = Duration::from_secs(60);
/// How long after home serves again the agent is back at the latest: up to one check interval (with jitter)
/// until the first check that sees it, one more for the second, and the time to move.
pub const RETURN_BOUND: Duration = Duration::from_secs(80);
/// How long one check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Completes when it is time to go back to `home`: it has served [`STABLE_CHECKS`] checks in a row, and
/// [`MIN_AWAY`] has passed since this started.
pub async fn time_to_go_home(settings: &UplinkSettings, home: &str) {
    let away_since = Instant::now();
    let mut serving: u32 = 0;
    while serving < STABLE_CHECKS {
        tokio::time::sleep(CHECK_EVERY.mul_f64(0.8 + 0.4 * rand::random::<f64>())).await;
        serving = if is_serving(settings, home).await { serving + 1 } else { 0 };
    }
    tokio::time::sleep(MIN_AWAY.saturating_sub(away_since.elapsed())).await;
}

/// Whether the collector at `url` answers that its ingest service is serving.
async fn is_serving(settings: &UplinkSettings, url: &str) -> bool {
    let check = async {
        let mut endpoint = Endpoint::from_shared(url.to_owned()).ok()?.connect_timeout(CHECK_TIMEOUT);
        if url.starts_with("https://") {
            endpoint = endpoint.tls_config(settings.tls.clone()).ok()?;
        }
        let channel = endpoint.connect().await.ok()?;
        let request = HealthCheckRequest { service: v1::collector_server::SERVICE_NAME.to_owned() };
        let response = HealthClient::new(channel).check(request).await.ok()?;
        Some(response.into_inner().status == ServingStatus::Serving as i32)
    };
    tokio::time::timeout(CHECK_TIMEOUT, check).await.ok().flatten().unwrap_or(false)
}
