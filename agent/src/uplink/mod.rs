//! The uplink: streams the spool to the collector and deletes what it acknowledges (`docs/protocol.md`).
//!
//! One session at a time. On (re)connect the agent sends Hello, then replays every durable, unacknowledged
//! result from the spool in batches sized below the collector's limits ([`slaprobe_proto::limits`]), keeping
//! at most [`WINDOW`] results unacknowledged in flight; new results follow as the spool's writer signals them.
//! Acknowledgements (`Ack { through_seq }`) delete spool segments; one beyond what was sent ends the session
//! and deletes nothing. Gaps the spool recorded are reported at the start of each session until acknowledged past, and as they
//! appear during a session, always before any result past them (the collector records only the part of a gap
//! it holds nothing of: results in flight when their segment was dropped may still arrive). Any error ends
//! the session; the next attempt waits an exponential backoff with full jitter, from 200 ms up to 30 s, and
//! resumes from the last acknowledgement (the collector ignores results it already has). Several collector URLs
//! are tried in turn; an agent away from the first one goes back once it serves again ([`home`]). Check
//! configurations the collector pushes are handed to the agent through [`Links`].
//!
//! Each batch may carry a checkpoint the agent signs over its last result, and each gap report is signed
//! ([`crate::signing::Signer`]); Hello carries the agent's public key.
//!
//! `https://` URLs use TLS (rustls) with the system's roots plus `collector_tls.ca_file`, and present the
//! client certificate of `collector_tls` when given. Every [`CLOCK_INTERVAL`] (and at the start of a session)
//! the uplink measures its clock against the collector's, NTP-style, and reports the estimate.

pub mod home;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;
use slaprobe_proto::{limits, v1};
use tokio::sync::{Notify, mpsc};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::config::CollectorTls;
use crate::health::SelfView;
use crate::signing::{CheckpointPolicy, Signer, SigningKey};
use crate::spool::{Gap, Spool};

/// Results sent but not yet acknowledged, at most.
pub const WINDOW: u64 = 5_000;
/// How often the agent's clock is measured against the collector's.
pub const CLOCK_INTERVAL: Duration = Duration::from_secs(60);

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct UplinkSettings {
    /// Collector URLs, tried in turn.
    pub collectors: Vec<String>,
    /// The agent's token.
    pub token: String,
    /// Agent id.
    pub agent_id: String,
    /// Region label.
    pub region: String,
    /// TLS for `https://` collectors.
    pub tls: ClientTlsConfig,
    /// The key that signs checkpoints and gap reports.
    pub key: Arc<SigningKey>,
    /// How often checkpoints are signed.
    pub checkpoints: CheckpointPolicy,
    /// The nameserver the probes resolve names with (`ip:port`), or why there is none: part of the agent's
    /// view of itself sent with every batch.
    pub resolver: String,
}

/// The TLS settings for `https://` collectors: the system's roots, plus the CA and client identity of
/// `collector_tls`. Fails naming the file that cannot be read.
pub fn client_tls(settings: Option<&CollectorTls>) -> Result<ClientTlsConfig, String> {
    let mut tls = ClientTlsConfig::new().with_native_roots();
    let Some(settings) = settings else { return Ok(tls) };
    let read = |key: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|error| format!("collector_tls.{key}: cannot read {}: {error}", path.display()))
    };
    if let Some(ca) = &settings.ca_file {
        tls = tls.ca_certificate(Certificate::from_pem(read("ca_file", ca)?));
    }
    if let (Some(cert), Some(key)) = (&settings.cert_file, &settings.key_file) {
        tls = tls.identity(Identity::from_pem(read("cert_file", cert)?, read("key_file", key)?));
    }
    Ok(tls)
}

/// How the uplink talks with the rest of the agent.
#[derive(Clone)]
pub struct Links {
    /// Notified when new results are durable in the spool.
    pub appended: Arc<Notify>,
    /// Where pushed check configurations go.
    pub configs: mpsc::Sender<v1::CheckConfig>,
    /// Version of the check configuration the agent runs (reported in Hello).
    pub config_version: Arc<Mutex<String>>,
    /// Set to 1 while a session is open, 0 otherwise (the `uplink_connected` metric).
    pub connected: Gauge,
}

impl Links {
    /// Links for an agent that does not take pushed checks (tests): configurations are dropped.
    pub fn detached() -> Self {
        let (configs, _) = mpsc::channel(1);
        Self {
            appended: Arc::new(Notify::new()),
            configs,
            config_version: Arc::new(Mutex::new(String::new())),
            connected: Gauge::default(),
        }
    }
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("cannot connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("collector refused or ended the session: {0}")]
    Status(#[from] tonic::Status),
    #[error("spool: {0}")]
    Spool(String),
    #[error("the collector closed the session")]
    Closed,
    #[error("the collector broke the protocol: {0}")]
    Protocol(String),
}

/// Streams `spool` to the collector until `shutdown`.
pub async fn run(settings: UplinkSettings, spool: Arc<Mutex<Spool>>, links: Links, shutdown: CancellationToken) {
    let mut view = SelfView::new(settings.resolver.clone());
    let mut failures: u32 = 0;
    let mut index: usize = 0;
    while !shutdown.is_cancelled() {
        index %= settings.collectors.len().max(1);
        let url = &settings.collectors[index];
        let home = (index != 0).then(|| settings.collectors[0].as_str());
        let outcome = tokio::select! {
            outcome = session(&settings, (url, home), &spool, &links, (&mut failures, &mut view)) => outcome,
            () = shutdown.cancelled() => return,
        };
        links.connected.set(0);
        match outcome {
            Ok(()) => {
                let home = &settings.collectors[0];
                tracing::info!(from = %url, to = %home, "The first collector listed serves again; going back to it.");
                index = 0;
            }
            Err(error) => {
                index += 1;
                let delay = backoff(failures);
                failures = failures.saturating_add(1);
                let retry_in_ms = delay.as_millis() as u64;
                tracing::warn!(collector = %url, %error, retry_in_ms, "Collector session ended.");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// Full-jitter exponential backoff: a random delay up to `min(30 s, 200 ms × 2^failures)`.
pub fn backoff(failures: u32) -> Duration {
    let ceiling = Duration::from_millis(200).saturating_mul(1u32 << failures.min(8)).min(Duration::from_secs(30));
    ceiling.mul_f64(rand::random::<f64>()).max(Duration::from_millis(50))
}

/// One session with the collector at `url` until an error ends it, or (`Ok`) until `home`, the first collector
/// listed when `url` is another, has served again long enough to go back to it.
async fn session(
    settings: &UplinkSettings,
    (url, home): (&str, Option<&str>),
    spool: &Arc<Mutex<Spool>>,
    links: &Links,
    (failures, view): (&mut u32, &mut SelfView),
) -> Result<(), SessionError> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|error| SessionError::Spool(format!("collector URL {url:?}: {error}")))?;
    if url.starts_with("https://") {
        endpoint = endpoint.tls_config(settings.tls.clone())?;
    }
    let channel = endpoint
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true)
        .connect()
        .await?;
    let mut client = v1::collector_client::CollectorClient::new(channel)
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limits::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(limits::MAX_MESSAGE_BYTES);
    let (to_collector, outbound) = mpsc::channel::<v1::AgentMessage>(8);
    let (acked, backlog, gaps) =
        with_spool(spool, |spool| Ok((spool.acked(), spool.backlog(), spool.gaps().to_vec())))?;
    let hello = v1::Hello {
        agent_id: settings.agent_id.clone(),
        region: settings.region.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        spool_backlog: backlog,
        config_version: links.config_version.lock().map(|version| version.clone()).unwrap_or_default(),
        public_key: settings.key.public_key().as_bytes().to_vec(),
    };
    let send = |body| v1::AgentMessage { body: Some(body) };
    let mut signer = Signer::new(settings.key.clone(), settings.agent_id.clone(), settings.checkpoints);
    let gap_message = |signer: &Signer, gap: &Gap| send(v1::agent_message::Body::Gap(signer.gap(gap)));
    // Hello and the gaps open the stream whatever their number; the channel carries what follows.
    let opening = std::iter::once(send(v1::agent_message::Body::Hello(hello)))
        .chain(gaps.iter().map(|gap| gap_message(&signer, gap)));
    let messages = tokio_stream::iter(opening.collect::<Vec<_>>()).chain(ReceiverStream::new(outbound));
    let mut request = tonic::Request::new(messages);
    let token = format!("Bearer {}", settings.token)
        .parse()
        .map_err(|_| SessionError::Spool("the token has characters not allowed in metadata".to_owned()))?;
    request.metadata_mut().insert("authorization", token);
    let mut inbound = client.session(request).await?.into_inner();
    tracing::info!(collector = %url, backlog, "Connected to the collector.");
    links.connected.set(1);

    let mut sent_through = acked;
    let mut acked_through = acked;
    let mut clock = tokio::time::interval(CLOCK_INTERVAL);
    let mut clock_probe: Option<(i64, Instant)> = None;
    let mut reported = gaps;
    let going_home = async {
        match home {
            Some(home) => home::time_to_go_home(settings, home).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(going_home);
    loop {
        if sent_through.saturating_sub(acked_through) < WINDOW {
            // The batch and the gaps come from one look at the spool, so a gap the batch skips over is known.
            let (batch, gaps, (backlog, dropped)) = with_spool(spool, |spool| {
                let batch = spool
                    .read_after(sent_through, limits::BATCH_RESULTS, limits::BATCH_TARGET_BYTES)
                    .map_err(|error| error.to_string())?;
                Ok((batch, spool.gaps().to_vec(), (spool.backlog(), spool.dropped_total())))
            })?;
            // Gaps that appeared during the session are reported before any result past them.
            for gap in gaps {
                if !reported.contains(&gap) {
                    to_collector.send(gap_message(&signer, &gap)).await.map_err(|_| SessionError::Closed)?;
                    reported.push(gap);
                }
            }
            if let Some(last) = batch.last().map(|result| result.seq) {
                let checkpoint = signer.checkpoint(&batch);
                view.saw(&batch);
                let health = Some(view.health(wall_clock_nanos(), backlog, dropped));
                let body = v1::agent_message::Body::Batch(v1::ResultBatch { results: batch, checkpoint, health });
                to_collector.send(send(body)).await.map_err(|_| SessionError::Closed)?;
                sent_through = last;
                continue;
            }
        }
        tokio::select! {
            message = inbound.message() => match message? {
                Some(v1::CollectorMessage { body: Some(v1::collector_message::Body::Ack(ack)) }) => {
                    // An acknowledgement of results never sent would delete them unsent: end the session instead.
                    if ack.through_seq > sent_through {
                        return Err(SessionError::Protocol(format!(
                            "it acknowledged seq {} but only {sent_through} were sent; nothing deleted",
                            ack.through_seq
                        )));
                    }
                    acked_through = acked_through.max(ack.through_seq);
                    with_spool(spool, |spool| spool.ack(ack.through_seq).map_err(|error| error.to_string()))?;
                    *failures = 0;
                }
                Some(v1::CollectorMessage { body: Some(v1::collector_message::Body::Config(config)) }) => {
                    // A detached agent has nobody listening; that is fine.
                    let _ = links.configs.send(config).await;
                }
                Some(v1::CollectorMessage { body: Some(v1::collector_message::Body::Clock(echo)) }) => {
                    if let Some(estimate) = clock_probe.take().and_then(|probe| clock_estimate(probe, &echo)) {
                        view.clock(estimate.offset_nanos);
                        let body = v1::agent_message::Body::ClockEstimate(estimate);
                        to_collector.send(send(body)).await.map_err(|_| SessionError::Closed)?;
                    }
                }
                Some(other) => tracing::debug!(?other, "Collector message not handled by this build."),
                None => return Err(SessionError::Closed),
            },
            _ = clock.tick() => {
                let sent_at = wall_clock_nanos();
                clock_probe = Some((sent_at, Instant::now()));
                let probe = v1::agent_message::Body::Clock(v1::ClockProbe { agent_unix_nanos: sent_at });
                to_collector.send(send(probe)).await.map_err(|_| SessionError::Closed)?;
            }
            () = &mut going_home => return Ok(()),
            () = links.appended.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

fn wall_clock_nanos() -> i64 {
    i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX)
}

/// The clock estimate from the probe sent at `(agent time, instant)` and its echo; `None` for an echo of
/// another probe. The round trip comes from the monotonic clock, so a wall-clock step mid-probe cannot skew it.
fn clock_estimate((sent_at, sent): (i64, Instant), echo: &v1::ClockEcho) -> Option<v1::ClockEstimate> {
    if echo.agent_unix_nanos != sent_at {
        return None;
    }
    let round_trip_nanos = i64::try_from(sent.elapsed().as_nanos()).unwrap_or(i64::MAX);
    let offset_nanos = echo.collector_unix_nanos.saturating_sub(sent_at.saturating_add(round_trip_nanos / 2));
    Some(v1::ClockEstimate { offset_nanos, round_trip_nanos })
}

fn with_spool<T>(spool: &Mutex<Spool>, work: impl FnOnce(&mut Spool) -> Result<T, String>) -> Result<T, SessionError> {
    let mut spool = spool.lock().map_err(|_| SessionError::Spool("the spool lock is poisoned".to_owned()))?;
    work(&mut spool).map_err(SessionError::Spool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_failures_and_stays_bounded() {
        for failures in 0..40 {
            let delay = backoff(failures);
            assert!(delay >= Duration::from_millis(50) && delay <= Duration::from_secs(30), "{failures}: {delay:?}");
        }
        let early: Duration = (0..200).map(|_| backoff(0)).max().unwrap();
        assert!(early <= Duration::from_millis(200), "the first retry comes within 200 ms: {early:?}");
        let late: Duration = (0..200).map(|_| backoff(10)).max().unwrap();
        assert!(late > Duration::from_secs(10), "jitter spreads late retries up to the 30 s ceiling: {late:?}");
    }

    #[test]
    fn clock_estimate_takes_the_midpoint_of_the_round_trip() {
        let sent = Instant::now() - Duration::from_millis(40);
        let sent_at = 1_000_000_000_000;
        // The collector's clock is 5 s ahead and read the probe 20 ms after it left.
        let echo = v1::ClockEcho { agent_unix_nanos: sent_at, collector_unix_nanos: sent_at + 5_020_000_000 };
        let estimate = clock_estimate((sent_at, sent), &echo).unwrap();
        assert!((40_000_000..60_000_000).contains(&estimate.round_trip_nanos), "{estimate:?}");
        let error = (estimate.offset_nanos - 5_000_000_000).abs();
        assert!(error <= estimate.round_trip_nanos / 2, "offset within half the round trip: {estimate:?}");
        let other = v1::ClockEcho { agent_unix_nanos: sent_at + 1, ..echo };
        assert_eq!(clock_estimate((sent_at, sent), &other), None, "an echo of another probe is ignored");
    }
}
