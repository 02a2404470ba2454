//! Agents joining with a fleet token, tried with real agent processes against a real collector: each agent is
//! the one its config names, recorded pending with the key it presents (the one `--print-public-key` prints)
//! and refused until an admin approves it; a viewer cannot approve; an approved agent's results are stored under
//! its own name; revoking one ends its session at once and refuses it from then on while its fleet-mate keeps
//! streaming; an enrolment with `auto_approve` admits at once; an approved agent that sends nothing is named
//! silent in the contract's standing until revoked. Another host taking an enrolled name (another
//! key), a stream claiming another region than the enrolment's, and an enrolling agent taking the name of a
//! configured agent are all refused with the reason. The agents page lists the enrolled agents with buttons that
//! approve (a plain form post, as a browser sends it).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use slaprobe_collector::digest::token_hash;
use slaprobe_tests::agent::{AgentProcess, run_agent};
use slaprobe_tests::collector::start_collector_logged;
use slaprobe_tests::http_client::send;
use slaprobe_tests::openapi::violations;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::tcp_server::TcpServer;
use slaprobe_tests::wait;

const ADMIN: &str = "admin-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";

/// An agent named `agent_id` in `region` with `token`, sending to `grpc`, probing nothing of its own (the
/// collector pushes its checks).
fn start_agent(agent_id: &str, region: &str, token: &str, grpc: SocketAddr) -> AgentProcess {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "agent_id: {agent_id}\nregion: {region}\ncollector: \"http://{grpc}\"\ntoken: {token}\nspool_dir: \"{}\"\n",
        dir.path().join("spool").display()
    );
    AgentProcess::start_for_collector(dir, &yaml)
}

/// The key `agent` signs with, as `--print-public-key` prints it.
fn public_key(agent: &AgentProcess) -> String {
    let (code, stdout, stderr) = run_agent(&["--config", agent.config_path().to_str().unwrap(), "--print-public-key"]);
    assert_eq!(code, Some(0), "{stderr}");
    stdout.trim().to_owned()
}

async fn api(http: SocketAddr, method: &str, path: &str, token: &str) -> (u16, Value) {
    let authorization = format!("Bearer {token}");
    let response = send(http, method, path, &[("Authorization", &authorization)], "").await;
    (response.status, serde_json::from_str(&response.body).unwrap_or(Value::Null))
}

/// The enrolled agent `agent_id` as `GET /api/v1/enrolments` lists it.
async fn enrolled(http: SocketAddr, agent_id: &str) -> Option<Value> {
    let (_, listed) = api(http, "GET", "/api/v1/enrolments", VIEWER).await;
    listed["enrolled_agents"].as_array()?.iter().find(|agent| agent["agent_id"] == agent_id).cloned()
}

/// How many results of `agent_id` the store holds.
fn stored_results(database: &Path, agent_id: &str) -> i64 {
    let connection = rusqlite::Connection::open(database).unwrap();
    connection.query_row("SELECT count(*) FROM results WHERE agent_id = ?1", [agent_id], |row| row.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_agents_enrol_under_their_own_names_and_are_approved_and_revoked_one_by_one() {
    let target = TcpServer::banner("hello\n").await;
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             api_tokens:\n  - {{ name: alice, role: admin, token_sha256: \"{}\" }}\n\
             \x20 - {{ name: grafana, role: viewer, token_sha256: \"{}\" }}\n\
             agents:\n  - {{ id: edge-fixed, region: eu-west, token_sha256: \"{}\" }}\n\
             enrolments:\n  - {{ name: fleet-eu, region: eu-west, token_sha256: \"{}\" }}\n\
             \x20 - {{ name: fleet-us, region: us-east, token_sha256: \"{}\", auto_approve: true }}\n\
             checks:\n  - {{ id: web, kind: tcp, target: \"{}\", interval: 1s, timeout: 500ms }}\n\
             contracts:\n  - {{ id: web, vendor: V, service: S, checks: [web], objective: 99.9, \
             credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n",
            token_hash(ADMIN),
            token_hash(VIEWER),
            token_hash("fixed-token"),
            token_hash("fleet-eu-token"),
            token_hash("fleet-us-token"),
            target.addr,
        ),
    )
    .unwrap();
    let database = dir.path().join("slaprobe.db");
    let (_collector, log) = tokio::task::block_in_place(|| start_collector_logged(&config));
    let doc: Value = serde_json::from_str(include_str!("../../collector/src/http/openapi.json")).unwrap();

    // Two hosts of one fleet token: each recorded under its own name with its own key, and refused while pending.
    let (node_a, _node_b) = (
        start_agent("node-a", "eu-west", "fleet-eu-token", grpc),
        start_agent("node-b", "eu-west", "fleet-eu-token", grpc),
    );
    wait::until(Duration::from_secs(20), "node-a and node-b recorded pending", async || {
        enrolled(http, "node-a").await.is_some() && enrolled(http, "node-b").await.is_some()
    })
    .await;
    let (_, listed) = api(http, "GET", "/api/v1/enrolments", VIEWER).await;
    assert_eq!(violations(&doc, "/api/v1/enrolments", "get", 200, &listed), Vec::<String>::new());
    let record_a = enrolled(http, "node-a").await.unwrap();
    assert_eq!(
        (record_a["state"].as_str(), record_a["enrolment"].as_str(), record_a["region"].as_str()),
        (Some("pending"), Some("fleet-eu"), Some("eu-west")),
        "{record_a}"
    );
    let key_a = tokio::task::block_in_place(|| public_key(&node_a));
    assert_eq!(record_a["public_key"].as_str(), Some(key_a.as_str()), "the key the host prints: {record_a}");
    assert_eq!(record_a["remote"].as_str(), Some("127.0.0.1"), "{record_a}");
    assert_ne!(enrolled(http, "node-b").await.unwrap()["public_key"], record_a["public_key"]);
    wait::until(Duration::from_secs(10), "node-a told it waits for approval", async || {
        node_a.log().contains("waits for approval in enrolment")
    })
    .await;
    assert_eq!(stored_results(&database, "node-a"), 0, "nothing is taken from a pending agent");
    let agents_page = send(http, "GET", "/agents", &[("Authorization", &format!("Bearer {ADMIN}"))], "").await;
    assert!(
        agents_page.body.contains("Enrolled agents")
            && agents_page.body.contains("2 agent(s) wait for approval")
            && agents_page.body.contains(r#"action="/agents/node-a/approve""#),
        "{}",
        agents_page.body
    );
    let viewer_page = send(http, "GET", "/agents", &[("Authorization", &format!("Bearer {VIEWER}"))], "").await;
    assert!(viewer_page.body.contains("node-a") && !viewer_page.body.contains("/approve"), "viewers see no buttons");

    // A viewer may not approve; an admin may, through the API or the page's button.
    let (status, _) = api(http, "POST", "/api/v1/enrolments/node-a/approve", VIEWER).await;
    assert_eq!(status, 403);
    let (status, approved) = api(http, "POST", "/api/v1/enrolments/node-a/approve", ADMIN).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(violations(&doc, "/api/v1/enrolments/{agent_id}/approve", "post", 200, &approved), Vec::<String>::new());
    assert_eq!(
        (approved["enrolled_agent"]["state"].as_str(), approved["enrolled_agent"]["decided_by"].as_str()),
        (Some("approved"), Some("alice"))
    );
    let (status, again) = api(http, "POST", "/api/v1/enrolments/node-a/approve", ADMIN).await;
    assert_eq!(status, 409, "{again}");
    let (status, _) = api(http, "POST", "/api/v1/enrolments/nobody/approve", ADMIN).await;
    assert_eq!(status, 404);
    let form = [("Authorization", format!("Bearer {ADMIN}")), ("Origin", format!("http://{http}"))];
    let form: Vec<(&str, &str)> = form.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let clicked = send(http, "POST", "/agents/node-b/approve", &form, "").await;
    assert_eq!((clicked.status, clicked.header("location")), (303, Some("/agents")), "{}", clicked.body);
    tokio::task::block_in_place(|| {
        wait::blocking(Duration::from_secs(40), "node-a's and node-b's results stored", || {
            stored_results(&database, "node-a") >= 2 && stored_results(&database, "node-b") >= 2
        });
    });

    // Revoking node-a ends its session at once and refuses it from then on; node-b streams on.
    let (status, revoked) = api(http, "POST", "/api/v1/enrolments/node-a/revoke", ADMIN).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(violations(&doc, "/api/v1/enrolments/{agent_id}/revoke", "post", 200, &revoked), Vec::<String>::new());
    wait::until(Duration::from_secs(10), "node-a told it was revoked", async || {
        node_a.log().contains("enrolment was revoked")
    })
    .await;
    let (a_after, b_after) = (stored_results(&database, "node-a"), stored_results(&database, "node-b"));
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(stored_results(&database, "node-a"), a_after, "nothing more from the revoked agent");
    assert!(stored_results(&database, "node-b") > b_after, "its fleet-mate keeps streaming");
    let (_, agents) = api(http, "GET", "/api/v1/agents", VIEWER).await;
    let field = |id: &str, name: &str| {
        agents["agents"].as_array().unwrap().iter().find(|agent| agent["agent_id"] == id).unwrap()[name].clone()
    };
    let connected = |id: &str| field(id, "connected");
    assert_eq!((connected("node-a"), connected("node-b")), (Value::Bool(false), Value::Bool(true)), "{agents}");
    assert_eq!(field("node-b", "key"), "enrolled", "{agents}");

    // auto_approve admits at once, in the enrolment's region.
    let _node_c = start_agent("node-c", "us-east", "fleet-us-token", grpc);
    tokio::task::block_in_place(|| {
        wait::blocking(Duration::from_secs(20), "node-c's results stored", || stored_results(&database, "node-c") >= 1);
    });
    let record_c = enrolled(http, "node-c").await.unwrap();
    assert_eq!((record_c["state"].as_str(), record_c["decided_by"].as_str()), (Some("approved"), Some("auto_approve")));

    // An approved agent that sends nothing is named silent in the contract's standing, like a configured one;
    // revoked, it is not expected any more.
    let node_d = start_agent("node-d", "eu-west", "fleet-eu-token", grpc);
    wait::until(Duration::from_secs(20), "node-d recorded", async || enrolled(http, "node-d").await.is_some()).await;
    drop(node_d);
    assert_eq!(api(http, "POST", "/api/v1/enrolments/node-d/approve", ADMIN).await.0, 200);
    let silent = async || {
        let (_, contracts) = api(http, "GET", "/api/v1/contracts/web", VIEWER).await;
        contracts["status"]["so_far"]["silent_agents"].clone()
    };
    assert_eq!(silent().await, serde_json::json!(["edge-fixed", "node-d"]), "node-a, node-b and node-c reported");
    assert_eq!(api(http, "POST", "/api/v1/enrolments/node-d/revoke", ADMIN).await.0, 200);
    assert_eq!(silent().await, serde_json::json!(["edge-fixed"]));

    // Refused with the reason: another host under node-b's name, another region, a configured agent's name.
    let impostor = start_agent("node-b", "eu-west", "fleet-eu-token", grpc);
    let elsewhere = start_agent("node-x", "us-east", "fleet-eu-token", grpc);
    let squatter = start_agent("edge-fixed", "eu-west", "fleet-eu-token", grpc);
    wait::until(Duration::from_secs(20), "the three refused with their reasons", async || {
        impostor.log().contains("Another host with the same name?")
            && elsewhere.log().contains("is for region")
            && squatter.log().contains("an enrolling agent needs another name")
    })
    .await;
    assert!(enrolled(http, "node-x").await.is_none(), "a refused claim is not recorded");
    assert_eq!(enrolled(http, "node-b").await.unwrap()["state"], "approved", "the impostor changed nothing");
    let (_, metrics) = {
        let response = send(http, "GET", "/metrics", &[("Authorization", &format!("Bearer {VIEWER}"))], "").await;
        (response.status, response.body)
    };
    for (state, count) in [("pending", 0), ("approved", 2), ("revoked", 2)] {
        let sample = format!("slaprobe_collector_enrolled_agents{{state=\"{state}\"}} {count}\n");
        assert!(metrics.contains(&sample), "no {sample} in\n{metrics}");
    }
    for reason in ["enrolment_pending", "enrolment_revoked", "key_mismatch", "identity_mismatch"] {
        let sample = format!("slaprobe_collector_agent_sessions_refused_total{{reason=\"{reason}\"}}");
        assert!(metrics.contains(&sample), "no {sample} in\n{metrics}");
    }
    let logged = log.lock().unwrap().join("\n");
    assert!(logged.contains("An agent enrolled.") && logged.contains("fleet-eu"), "{logged}");
    for secret in ["fleet-eu-token", "fleet-us-token", ADMIN] {
        assert!(!logged.contains(secret), "the log shows a token");
    }
}
