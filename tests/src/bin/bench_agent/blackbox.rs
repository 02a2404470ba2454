//! The baseline: Debian's `prometheus-blackbox-exporter` probing the same target, its `/probe` endpoint driven
//! at a paced rate, as Prometheus scrapes it (one `/probe` request per target per interval), over 16 keep-alive
//! connections. CPU comes from `/proc` of the exporter process; it includes serving `/probe`, which is how
//! blackbox_exporter is used.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use slaprobe_tests::ports::free_addr;
use slaprobe_tests::process_stats::cpu_seconds;

use crate::process::stop;

const BINARY: &str = "/usr/bin/prometheus-blackbox-exporter";
const CONNECTIONS: usize = 16;

/// What the exporter did in the measured window.
pub struct Baseline {
    pub probes: usize,
    pub probes_per_second: f64,
    pub cpu_ms_per_probe: f64,
}

/// Runs the exporter with an `http_2xx` module (`ca_file` trusted for HTTPS) and drives `rate` probes a second of
/// `target` for `seconds` after a warm-up; `None` when the exporter is not installed.
pub async fn measure(dir: &Path, target: &str, ca_file: Option<&Path>, rate: usize, seconds: u64) -> Option<Baseline> {
    let tls =
        ca_file.map(|ca| format!("      tls_config:\n        ca_file: \"{}\"\n", ca.display())).unwrap_or_default();
    let module = format!("prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n{tls}");
    measure_module(dir, &module, target, rate, seconds).await
}

/// Runs the exporter with `module` (the YAML under the module's name, indented for it) and drives `rate` probes a
/// second of `target` for `seconds` after a warm-up; `None` when the exporter is not installed.
pub async fn measure_module(dir: &Path, module: &str, target: &str, rate: usize, seconds: u64) -> Option<Baseline> {
    if !Path::new(BINARY).exists() {
        eprintln!("prometheus-blackbox-exporter is not installed: apt-get install prometheus-blackbox-exporter");
        return None;
    }
    let config = dir.join("blackbox.yml");
    std::fs::write(&config, format!("modules:\n  bench:\n    {module}")).unwrap();
    let port = free_addr().port();
    let mut exporter = Command::new(BINARY)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start blackbox_exporter");
    let address = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if TcpStream::connect(&address).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let path = format!("/probe?module=bench&target={target}");
    paced(&address, &path, rate, 2).await;
    let pid = exporter.id();
    let (cpu_start, wall_start) = (cpu_seconds(pid), Instant::now());
    let (sent, succeeded) = paced(&address, &path, rate, seconds).await;
    let (cpu_end, elapsed) = (cpu_seconds(pid), wall_start.elapsed().as_secs_f64());
    stop(&mut exporter);
    assert_eq!(succeeded, sent, "every blackbox probe must succeed");
    Some(Baseline {
        probes: sent,
        probes_per_second: sent as f64 / elapsed,
        cpu_ms_per_probe: (cpu_end - cpu_start) * 1000.0 / sent.max(1) as f64,
    })
}

/// Sends `rate` GETs a second for `path` for `seconds`, spread evenly over the connections and the second; a
/// connection that falls behind sends its next request at once. Returns (sent, reporting `probe_success 1`).
async fn paced(address: &str, path: &str, rate: usize, seconds: u64) -> (usize, usize) {
    let per_connection = rate / CONNECTIONS;
    let spacing = Duration::from_secs(1) / u32::try_from(per_connection.max(1)).unwrap_or(u32::MAX);
    let mut tasks = Vec::new();
    for connection in 0..CONNECTIONS {
        let (address, path) = (address.to_owned(), path.to_owned());
        let first = spacing / CONNECTIONS as u32 * connection as u32;
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(&address).await.expect("connect to exporter");
            let (mut sender, driver) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(driver);
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + first, spacing);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let (mut sent, mut ok) = (0, 0);
            for _ in 0..per_connection * seconds as usize {
                ticks.tick().await;
                let request = http::Request::get(&path).header("host", &address).body(Empty::<Bytes>::new()).unwrap();
                let response = sender.send_request(request).await.expect("probe request");
                let body = response.into_body().collect().await.expect("probe body").to_bytes();
                sent += 1;
                ok += usize::from(body.windows(15).any(|window| window == b"probe_success 1"));
            }
            (sent, ok)
        }));
    }
    let mut totals = (0, 0);
    for task in tasks {
        let (sent, ok) = task.await.unwrap();
        totals = (totals.0 + sent, totals.1 + ok);
    }
    totals
}
