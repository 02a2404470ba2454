//! A real Prometheus server (Debian's package `prometheus`) on a loopback port, scraping the targets a test
//! names every second with rule files loaded, evaluated every second; its alerts read from its HTTP API. Killed
//! when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::ports::free_addr;

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    /// Where its web UI and API listen.
    pub address: SocketAddr,
    client: reqwest::Client,
}

impl Prometheus {
    /// Starts Prometheus in `dir` (its configuration and data go there), scraping `targets` as job `job`, with
    /// the rule files `rules` loaded; waits until it is ready.
    pub async fn start(dir: &Path, job: &str, targets: &[SocketAddr], rules: &[&Path]) -> Self {
        let address = free_addr();
        let targets: Vec<String> = targets.iter().map(|target| format!("\"{target}\"")).collect();
        let rules: Vec<String> = rules.iter().map(|rule| format!("\"{}\"", rule.display())).collect();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\nrule_files: [{}]\n\
                 scrape_configs:\n  - {{ job_name: {job}, static_configs: [ {{ targets: [{}] }} ] }}\n",
                rules.join(", "),
                targets.join(", ")
            ),
        )
        .expect("write prometheus.yml");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={address}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("a log file"))
            .spawn()
            .expect("prometheus (Debian package prometheus) starts");
        let prometheus = Self { child, address, client: reqwest::Client::new() };
        crate::wait::until(Duration::from_secs(30), "Prometheus to be ready", async || {
            let ready = prometheus.client.get(format!("http://{address}/-/ready")).send().await;
            ready.is_ok_and(|response| response.status().is_success())
        })
        .await;
        prometheus
    }

    /// The alerts now, as `(alertname, state, instance label)`; `state` is `pending` or `firing`.
    pub async fn alerts(&self) -> Vec<(String, String, String)> {
        let url = format!("http://{}/api/v1/alerts", self.address);
        let Ok(response) = self.client.get(url).send().await else { return Vec::new() };
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let label = |alert: &serde_json::Value, name: &str| alert["labels"][name].as_str().unwrap_or("").to_owned();
        body["data"]["alerts"]
            .as_array()
            .map(|alerts| {
                let of = |alert: &serde_json::Value| {
                    (
                        label(alert, "alertname"),
                        alert["state"].as_str().unwrap_or("").to_owned(),
                        label(alert, "instance"),
                    )
                };
                alerts.iter().map(of).collect()
            })
            .unwrap_or_default()
    }

    /// The value of the instant query `query` for each series, by its `label`.
    pub async fn query(&self, query: &str, label: &str) -> Vec<(String, f64)> {
        let url = format!("http://{}/api/v1/query", self.address);
        let Ok(response) = self.client.get(url).query(&[("query", query)]).send().await else { return Vec::new() };
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let series = body["data"]["result"].as_array().cloned().unwrap_or_default();
        series
            .iter()
            .map(|series| {
                let value = series["value"][1].as_str().and_then(|value| value.parse().ok()).unwrap_or(f64::NAN);
                (series["metric"][label].as_str().unwrap_or("").to_owned(), value)
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
