//! Two collectors on one PostgreSQL schema, each from its own copy of one configuration, as replicas are run.
//! Each publishes the SHA-256 of its files (what `sha256sum collector.yaml` prints) in `/readyz`, `/metrics` and
//! on the agents page. One copy is edited and reloaded: the other replica warns in its log, counts the
//! differing replica in `/metrics`, names it in `/readyz` and shows a banner on every dashboard page. The edit
//! is undone and reloaded: the warning clears and the log says so.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slaprobe_tests::collector::start_collector_with_env;
use slaprobe_tests::http_client::{get, send};
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::postgres::TestSchema;
use slaprobe_tests::wait;

/// The lower-case hex SHA-256 of the file at `path`.
fn sha256_of(path: &Path) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &std::fs::read(path).unwrap()))
}

/// The value of the sample `name` in the collector's `/metrics` (without labels), if it is there.
async fn sample(http: SocketAddr, name: &str) -> Option<String> {
    let (_, body) = get(http, "/metrics").await;
    body.lines().find_map(|line| line.strip_prefix(&format!("{name} ")).map(str::to_owned))
}

fn logged(log: &Arc<Mutex<Vec<String>>>, text: &str) -> bool {
    log.lock().unwrap().iter().any(|line| line.contains(text))
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_running_other_files_are_named_everywhere_until_they_agree() {
    let Some(schema) = TestSchema::create().await else { return };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let text = format!(
        "listen: {{ grpc: \"${{GRPC_LISTEN}}\", http: \"${{HTTP_LISTEN}}\" }}\nstorage: {{ postgres: \"{}\" }}\n",
        schema.url
    );
    let (config_a, config_b) = (dir_a.path().join("collector.yaml"), dir_b.path().join("collector.yaml"));
    std::fs::write(&config_a, &text).unwrap();
    std::fs::write(&config_b, &text).unwrap();
    let (http_a, http_b) = (free_addr(), free_addr());
    let start = |config: &Path, http: SocketAddr| {
        let (grpc, http) = (free_addr().to_string(), http.to_string());
        start_collector_with_env(config, &[("GRPC_LISTEN", &grpc), ("HTTP_LISTEN", &http)])
    };
    let (collector_a, log_a) = tokio::task::block_in_place(|| start(&config_a, http_a));
    let (_collector_b, _log_b) = tokio::task::block_in_place(|| start(&config_b, http_b));
    let (_, cluster) = get(http_b, "/api/v1/cluster").await;
    let cluster: serde_json::Value = serde_json::from_str(&cluster).unwrap();
    let name_b = cluster["this"].as_str().unwrap().to_owned();

    // The same files: one hash, the file's own SHA-256, and no replica differs.
    let same = sha256_of(&config_a);
    let (status, ready) = get(http_a, "/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert!(ready.contains(&format!("\nconfig sha256: {same}\n")), "{ready}");
    let info = format!("slaprobe_collector_config_info{{sha256=\"{same}\"}}");
    assert_eq!(sample(http_a, &info).await.as_deref(), Some("1"));
    wait::until(Duration::from_secs(30), "both replicas listed with one configuration", async || {
        let (_, page) = get(http_a, "/agents").await;
        page.contains(&format!("<code>{}</code>", &same[..12])) && page.matches("same as this one").count() == 2
    })
    .await;
    assert_eq!(sample(http_a, "slaprobe_collector_replicas_config_differs").await.as_deref(), Some("0"));

    // B's copy is edited and reloaded: A names B everywhere.
    std::fs::write(&config_b, format!("{text}# edited on b only\n")).unwrap();
    let edited = sha256_of(&config_b);
    let reloaded = send(http_b, "POST", "/api/v1/reload", &[], "").await;
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    assert!(get(http_b, "/readyz").await.1.contains(&format!("config sha256: {edited}")));
    wait::until(Duration::from_secs(30), "A to warn of B's configuration", async || {
        logged(&log_a, "Replicas sharing this store run another configuration")
    })
    .await;
    let (_, ready) = get(http_a, "/readyz").await;
    assert!(
        ready.contains(&format!("config sha256: {same}; 1 live replica(s) run another (see /api/v1/cluster)\n")),
        "{ready}"
    );
    assert!(!ready.contains(&name_b), "/readyz answers without a token: no host names in it");
    assert!(logged(&log_a, &edited), "the warning names B's hash");
    assert_eq!(sample(http_a, "slaprobe_collector_replicas_config_differs").await.as_deref(), Some("1"));
    for page in ["/", "/agents", "/alerts"] {
        let (_, html) = get(http_a, page).await;
        assert!(html.contains("data-field=\"config-drift\""), "{page} shows the banner");
        assert!(html.contains(&name_b) && html.contains(&edited[..12]), "{page} names B and its hash");
    }
    let (_, agents) = get(http_a, "/agents").await;
    assert!(agents.contains("differs"), "the collectors table marks B");

    // The edit is undone: they agree again, and A says so.
    std::fs::write(&config_b, &text).unwrap();
    assert_eq!(send(http_b, "POST", "/api/v1/reload", &[], "").await.status, 200);
    wait::until(Duration::from_secs(30), "A to see the replicas agree", async || {
        logged(&log_a, "Every live replica runs this collector's configuration again.")
    })
    .await;
    assert!(!get(http_a, "/").await.1.contains("data-field=\"config-drift\""));
    assert_eq!(sample(http_a, "slaprobe_collector_replicas_config_differs").await.as_deref(), Some("0"));
    assert!(get(http_a, "/readyz").await.1.contains(&format!("config sha256: {same}\n")));
    drop(collector_a);
}
