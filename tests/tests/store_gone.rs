//! The store going away under a running collector, with a real agent sending to it: the SQLite file moved
//! away, or PostgreSQL cut off behind a relay. Meanwhile `/readyz` and the API answer 503, the agent keeps its
//! results in its spool (the collector refuses to acknowledge what it cannot store); once the store is back the
//! collector is ready again and every probe the agent made is stored, with no sequence number missing. The
//! background tasks that failed meanwhile said so once each, not every second, and say when they work again.

use std::time::Duration;

use slaprobe_collector::digest::token_hash;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::collector::start_collector_logged;
use slaprobe_tests::http_client::get;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::postgres::TestSchema;
use slaprobe_tests::tcp_relay::TcpRelay;
use slaprobe_tests::wait;

/// Runs a collector on `storage` with one agent probing `target` every second, takes the store away, brings it
/// back, and checks what the module notes promise. `stored_seqs` reads the agent's stored sequence numbers
/// straight from the database, in order.
async fn the_store_goes_away_and_comes_back(
    storage: &str,
    take_away: impl FnOnce(),
    bring_back: impl FnOnce(),
    stored_seqs: impl AsyncFn() -> Vec<i64>,
) {
    let target = HttpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {storage}\n\
             agents:\n  - {{ id: edge-1, region: local, token_sha256: \"{}\" }}\n\
             checks:\n  - {{ id: web, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n",
            token_hash("s3cret"),
            target.url("/")
        ),
    )
    .unwrap();
    let (_collector, log) = tokio::task::block_in_place(|| start_collector_logged(&config));
    let agent_config = format!(
        "agent_id: edge-1\nregion: local\ncollector: \"http://{grpc}\"\ntoken: s3cret\nspool_dir: \"{}\"\n",
        dir.path().join("spool").display()
    );
    let _agent = AgentProcess::start_for_collector(tempfile::tempdir().unwrap(), &agent_config);
    wait::until(Duration::from_secs(30), "the first results", async || stored_seqs().await.len() >= 2).await;
    let (status, ready) = get(http, "/readyz").await;
    assert!(status == 200 && ready.starts_with("ready\nconfig: loaded "), "{status} {ready}");

    take_away();
    wait::until(Duration::from_secs(30), "/readyz to say 503", async || get(http, "/readyz").await.0 == 503).await;
    let (status, body) = get(http, "/api/v1/checks").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("the store did not answer"), "{body}");
    let probed = target.requests();
    wait::until(Duration::from_secs(30), "probes while the store is away", async || target.requests() >= probed + 3)
        .await;

    bring_back();
    wait::until(Duration::from_secs(60), "/readyz to say 200", async || get(http, "/readyz").await.0 == 200).await;
    let probed = target.requests();
    wait::until(Duration::from_secs(60), "every probe made so far to be stored", async || {
        stored_seqs().await.len() as u64 >= probed
    })
    .await;
    let seqs = stored_seqs().await;
    let highest = *seqs.last().unwrap();
    assert_eq!(seqs, (1..=highest).collect::<Vec<i64>>(), "each result once, none missing");
    assert_eq!(get(http, "/api/v1/checks").await.0, 200);
    let said = |text: &str| log.lock().unwrap().iter().filter(|line| line.contains(text)).count();
    wait::until(Duration::from_secs(30), "alert evaluation to say it works again", async || {
        said("Alert evaluation works again.") == 1
    })
    .await;
    assert_eq!(said("Alert evaluation failed"), 1, "one warning for the outage:\n{}", log.lock().unwrap().join("\n"));
    assert!(said("The slice ledger was not kept up") <= 1, "{}", log.lock().unwrap().join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sqlite_file_moved_away_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slaprobe.db");
    let away = dir.path().join("elsewhere.db");
    let seqs = async || -> Vec<i64> {
        let Ok(connection) = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        else {
            return Vec::new();
        };
        let Ok(mut query) = connection.prepare("SELECT seq FROM results WHERE agent_id = 'edge-1' ORDER BY seq") else {
            return Vec::new();
        };
        query.query_map([], |row| row.get(0)).map(|rows| rows.flatten().collect()).unwrap_or_default()
    };
    the_store_goes_away_and_comes_back(
        &format!("{{ sqlite: \"{}\" }}", path.display()),
        || std::fs::rename(&path, &away).unwrap(),
        || std::fs::rename(&away, &path).unwrap(),
        seqs,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_cut_off_and_back() {
    let Some(schema) = TestSchema::create().await else { return };
    let (relay, url) = relay_to(&schema).await;
    let seqs = async || -> Vec<i64> {
        let query = "SELECT seq FROM results WHERE agent_id = 'edge-1' ORDER BY seq";
        let rows = schema.client.query(query, &[]).await.unwrap_or_default();
        rows.iter().map(|row| row.get(0)).collect()
    };
    the_store_goes_away_and_comes_back(&format!("{{ postgres: \"{url}\" }}"), || relay.cut(), || relay.restore(), seqs)
        .await;
}

/// A relay in front of `schema`'s PostgreSQL, and the schema's URL through it.
async fn relay_to(schema: &TestSchema) -> (TcpRelay, String) {
    let (authority, relayed_url) = relayed(&schema.url);
    let server = tokio::net::lookup_host(&authority).await.unwrap().next().expect("the PostgreSQL address");
    let relay = TcpRelay::start(server).await;
    let url = relayed_url.replace("RELAY", &relay.addr.to_string());
    (relay, url)
}

/// The `host:port` of a `postgres://` URL, and the URL with it replaced by `RELAY`.
fn relayed(url: &str) -> (String, String) {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    let start = url[after_scheme..].find('@').map_or(after_scheme, |at| after_scheme + at + 1);
    let end = url[start..].find(['/', '?']).map_or(url.len(), |at| start + at);
    let authority = url[start..end].to_owned();
    let authority = if authority.contains(':') { authority } else { format!("{authority}:5432") };
    (authority, format!("{}RELAY{}", &url[..start], &url[end..]))
}

/// Kills the collector when the test ends, passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collector_started_before_postgresql_answers_waits_for_it() {
    use std::io::BufRead;
    use std::sync::{Arc, Mutex};

    let Some(schema) = TestSchema::create().await else { return };
    let (relay, url) = relay_to(&schema).await;
    relay.cut();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.yaml");
    std::fs::write(&config, format!("listen: {{ grpc: \"{}\" }}\nstorage: {{ postgres: \"{url}\" }}\n", free_addr()))
        .unwrap();
    let mut child = std::process::Command::new(slaprobe_tests::agent::collector_binary())
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _collector = Killed(child);
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    let said = |text: &str| log.lock().unwrap().iter().filter(|line| line.contains(text)).count();
    wait::until(Duration::from_secs(30), "the collector to say it waits", async || {
        said("The database does not answer") == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(said("The database does not answer"), 1, "said once, however many tries");
    assert_eq!(said("Serving gRPC ingest."), 0);
    relay.restore();
    wait::until(Duration::from_secs(30), "the collector to start once PostgreSQL answers", async || {
        said("Serving gRPC ingest.") == 1
    })
    .await;
    assert_eq!(said("The database answers; starting."), 1, "{}", log.lock().unwrap().join("\n"));
}
