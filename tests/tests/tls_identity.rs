//! The real collector's gRPC TLS as an operator runs it: a replaced certificate is served after SIGHUP (and
//! counted, with its expiry, in `/metrics`); an agent bound to its client certificate (`agents[].client_cert`)
//! is refused when it presents another agent's certificate, while the other agent with its own goes on; failed
//! handshakes are counted by reason.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::Store;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::certs::TestCa;
use slaprobe_tests::collector::start_collector_logged;
use slaprobe_tests::http_client::get;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::wait;

/// The leaf certificate the collector at `address` serves, seen by a client presenting `identity` (or none).
async fn served_leaf(address: std::net::SocketAddr, ca: &Path, identity: Option<(&Path, &Path)>) -> Option<Vec<u8>> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(cert).unwrap().map(Result::unwrap).collect();
            builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap()).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(address).await.ok()?;
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .ok()?;
    // The server checks the client certificate after its own flight: read until it answers or closes.
    let mut byte = [0u8; 1];
    let _ =
        tokio::time::timeout(Duration::from_millis(500), tokio::io::AsyncReadExt::read(&mut stream, &mut byte)).await;
    let (_, connection) = stream.get_ref();
    connection.peer_certificates().and_then(|chain| chain.first()).map(|leaf| leaf.to_vec())
}

fn first_certificate(path: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(path).unwrap().next().unwrap().unwrap().to_vec()
}

/// The sum of the samples of `name` whose labels include `label`, in the scrape `text`.
fn metric(text: &str, name: &str, label: Option<(&str, &str)>) -> f64 {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("parses");
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .filter(|sample| label.is_none_or(|(key, value)| sample.labels.get(key) == Some(value)))
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(value)
            | prometheus_parse::Value::Gauge(value)
            | prometheus_parse::Value::Untyped(value) => value,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_certificate_is_served_after_sighup_and_a_bound_agent_needs_its_own_certificate() {
    let server = HttpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write_pem(dir.path());
    let (server_cert, _) = ca.write_server_identity_until(dir.path(), 30);
    let edge_2 = ca.write_named_client_identity(dir.path(), "edge-2", "edge-2");
    let (grpc, http) = (free_addr(), free_addr());
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen:\n  grpc: \"{grpc}\"\n  http: \"{http}\"\n  \
             tls: {{ cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem }}\n\
             storage: {{ sqlite: data/slaprobe.db }}\n\
             agents:\n  - {{ id: edge-1, region: local, token_sha256: \"{}\", client_cert: {{ name: edge-1 }} }}\n\
             \u{20} - {{ id: edge-2, region: local, token_sha256: \"{}\", client_cert: {{ name: edge-2 }} }}\n\
             checks:\n  - {{ id: web, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n",
            token_hash("token-1"),
            token_hash("token-2"),
            server.url("/")
        ),
    )
    .unwrap();
    let store = Store::open_sqlite(&dir.path().join("data/slaprobe.db")).unwrap();
    let (mut collector, log) = tokio::task::block_in_place(|| start_collector_logged(&config));
    wait::until(Duration::from_secs(30), "the HTTP listener", async || get(http, "/healthz").await.0 == 200).await;

    // edge-1's token with edge-2's certificate: the CA trusts it, the binding does not.
    let agent = |id: &str, token: &str, (cert, key): &(std::path::PathBuf, std::path::PathBuf)| {
        let text = format!(
            "agent_id: {id}\nregion: local\ncollector: \"https://127.0.0.1:{}\"\ntoken: {token}\n\
             spool_dir: \"{}\"\ncollector_tls: {{ ca_file: \"{}\", cert_file: \"{}\", key_file: \"{}\" }}\n",
            grpc.port(),
            dir.path().join(format!("spool-{id}")).display(),
            ca_file.display(),
            cert.display(),
            key.display()
        );
        AgentProcess::start_for_collector(tempfile::tempdir().unwrap(), &text)
    };
    let impostor = agent("edge-1", "token-1", &edge_2);
    let honest = agent("edge-2", "token-2", &edge_2);
    wait::until(Duration::from_secs(30), "edge-2's results", async || {
        let far = "2100-01-01T00:00:00Z".parse().unwrap();
        !store.results_between(&["web".to_owned()], Timestamp::UNIX_EPOCH, far).await.unwrap().is_empty()
    })
    .await;
    wait::until(Duration::from_secs(30), "the refusal counted", async || {
        let text = get(http, "/metrics").await.1;
        let reason = ("reason", "client_certificate_mismatch");
        metric(&text, "slaprobe_collector_agent_sessions_refused_total", Some(reason)) >= 1.0
    })
    .await;
    let agents: Vec<String> = store.agents().await.unwrap().into_iter().map(|agent| agent.agent_id).collect();
    assert_eq!(agents, ["edge-2"], "edge-1 never got a session with another agent's certificate");
    assert!(
        log.lock().unwrap().iter().any(|line| line.contains("Refused an agent session")
            && line.contains("client_certificate_mismatch")
            && line.contains("edge-1")),
        "the refusal is logged with the agent it claimed"
    );

    // A handshake without a client certificate fails, and is counted by its reason.
    served_leaf(grpc, &ca_file, None).await;
    wait::until(Duration::from_secs(10), "the handshake refusal counted", async || {
        let text = get(http, "/metrics").await.1;
        let reason = ("reason", "no_client_certificate");
        metric(&text, "slaprobe_collector_agent_sessions_refused_total", Some(reason)) >= 1.0
    })
    .await;

    // The certificate replaced, then SIGHUP: the new one is served to new connections.
    let identity = Some((edge_2.0.as_path(), edge_2.1.as_path()));
    assert_eq!(served_leaf(grpc, &ca_file, identity).await, Some(first_certificate(&server_cert)));
    let text = get(http, "/metrics").await.1;
    let expiry_before = metric(&text, "slaprobe_collector_tls_certificate_expiry_timestamp_seconds", None);
    assert!((expiry_before - (Timestamp::now().as_second() + 30 * 86_400) as f64).abs() < 600.0, "{text}");
    ca.write_server_identity_until(dir.path(), 90);
    kill(Pid::from_raw(i32::try_from(collector.id()).unwrap()), Signal::SIGHUP).unwrap();
    let replaced = first_certificate(&server_cert);
    wait::until(Duration::from_secs(10), "the new certificate served", async || {
        served_leaf(grpc, &ca_file, identity).await.as_ref() == Some(&replaced)
    })
    .await;
    let text = get(http, "/metrics").await.1;
    let expiry_after = metric(&text, "slaprobe_collector_tls_certificate_expiry_timestamp_seconds", None);
    assert!((expiry_after - (Timestamp::now().as_second() + 90 * 86_400) as f64).abs() < 600.0, "{text}");
    assert!(metric(&text, "slaprobe_collector_tls_reloads_total", Some(("outcome", "done"))) >= 2.0, "{text}");
    assert!(log.lock().unwrap().iter().any(|line| line.contains("Reloaded the gRPC listener's TLS certificate")));

    // A broken key is refused; the certificate in use stays.
    let failed = async || {
        let text = get(http, "/metrics").await.1;
        metric(&text, "slaprobe_collector_tls_reloads_total", Some(("outcome", "failed")))
    };
    let failed_before = failed().await;
    std::fs::write(dir.path().join("server.key"), "not a key").unwrap();
    wait::until(Duration::from_secs(10), "the failed TLS reload counted", async || failed().await > failed_before)
        .await;
    assert_eq!(served_leaf(grpc, &ca_file, identity).await, Some(replaced), "the running certificate is kept");
    assert!(log.lock().unwrap().iter().any(|line| line.contains("TLS reload failed") && line.contains("server.key")));

    for agent in [impostor, honest] {
        agent.signal(Signal::SIGTERM);
        let _ = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(15)));
    }
    collector.kill().unwrap();
    collector.wait().unwrap();
}
