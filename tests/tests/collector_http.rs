//! The collector's HTTP listener against a real collector fed by a real agent: health, readiness, the agents
//! API (equal to the store's registry), the contracts API and claim reports, and `/metrics` of collector and
//! agent (parsed with a Prometheus text-format parser; the collector's counters equal what the store holds).

use std::time::Duration;

use jiff::Timestamp;
use nix::sys::signal::Signal;
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::Store;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::collector::{run_collector, start_collector};
use slaprobe_tests::http_client::get;
use slaprobe_tests::http_server::HttpServer;
use slaprobe_tests::openapi::{response_validator, violations};
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::wait;

/// Asserts that `GET path` answers `status` with a body `template`'s documented schema accepts.
async fn conforms(http: std::net::SocketAddr, doc: &serde_json::Value, template: &str, path: &str, status: u16) {
    let (got, body) = get(http, path).await;
    assert_eq!(got, status, "{path}: {body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|error| panic!("{path}: {error}"));
    let errors = violations(doc, template, "get", status, &value);
    assert!(errors.is_empty(), "{path} does not match the OpenAPI document:\n{}", errors.join("\n"));
}

fn number(value: &prometheus_parse::Value) -> f64 {
    match value {
        prometheus_parse::Value::Counter(value)
        | prometheus_parse::Value::Gauge(value)
        | prometheus_parse::Value::Untyped(value) => *value,
        other => panic!("not a single number: {other:?}"),
    }
}

fn sample(scrape: &prometheus_parse::Scrape, name: &str) -> f64 {
    number(&scrape.samples.iter().find(|sample| sample.metric == name).unwrap_or_else(|| panic!("no {name}")).value)
}

#[tokio::test(flavor = "multi_thread")]
async fn health_agents_api_and_metrics_agree_with_the_store() {
    let server = HttpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http, agent_metrics) = (free_addr(), free_addr(), free_addr());
    let collector_config = dir.path().join("collector.yaml");
    std::fs::write(
        &collector_config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: data/slaprobe.db }}\n\
             agents:\n  - {{ id: edge-1, region: local, token_sha256: \"{}\" }}\n\
             checks:\n  - {{ id: web, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n\
             contracts:\n  - {{ id: web, vendor: Loopback, service: Web, checks: [web], objective: 99.9, slice: 2s, \
             credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n",
            token_hash("s3cret"),
            server.url("/")
        ),
    )
    .unwrap();
    let collector = tokio::task::block_in_place(|| start_collector(&collector_config));
    assert_eq!(get(http, "/healthz").await, (200, "ok\n".to_owned()));
    let (status, ready) = get(http, "/readyz").await;
    assert!(status == 200 && ready.starts_with("ready\nconfig: loaded "), "{status} {ready}");
    let (status, body) = get(http, "/api/v1/nothing").await;
    assert_eq!(status, 404);
    assert!(body.contains("\"error\""), "{body}");

    let agent_config = format!(
        "agent_id: edge-1\nregion: local\ncollector: \"http://{grpc}\"\ntoken: s3cret\nspool_dir: \"{}\"\n\
         metrics_listen: \"{agent_metrics}\"\n",
        dir.path().join("spool").display()
    );
    let agent = AgentProcess::start_for_collector(tempfile::tempdir().unwrap(), &agent_config);
    let store = Store::open_sqlite(&dir.path().join("data/slaprobe.db")).unwrap();
    let stored = async || {
        let far = "2100-01-01T00:00:00Z".parse().unwrap();
        store.results_between(&["web".to_owned()], Timestamp::UNIX_EPOCH, far).await.unwrap().len()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stored().await < 3 || store.agents().await.unwrap().first().is_none_or(|agent| agent.clock.is_none()) {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for results and a clock estimate");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (status, body) = get(http, "/api/v1/agents").await;
    assert_eq!(status, 200, "{body}");
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    let agents = api["agents"].as_array().expect("an agents list");
    assert_eq!(agents.len(), 1, "{body}");
    let registry = &store.agents().await.unwrap()[0];
    assert_eq!(agents[0]["agent_id"], "edge-1");
    assert_eq!(agents[0]["region"], "local");
    assert_eq!(agents[0]["version"], registry.version.as_str());
    assert_eq!(agents[0]["connected"], true);
    let holder = agents[0]["collector"].as_str().unwrap_or_default();
    assert!(holder.ends_with(&format!(":{}", collector.id())), "the session is this collector's: {body}");
    assert_eq!(agents[0]["connected_at"], registry.connected_at.to_string());
    assert_eq!(agents[0]["clock_within_bound"], true);
    assert_eq!(agents[0]["key"], "unpinned", "the first key the agent presented is on record: {body}");
    assert!(agents[0]["public_key"].as_str().is_some_and(|key| key.starts_with("ed25519:")), "{body}");
    let offset_ms = agents[0]["clock_offset_ms"].as_f64().expect("a clock offset");
    assert!((offset_ms - registry.clock.unwrap().offset_nanos as f64 / 1e6).abs() < 1e-6, "{body}");

    let (status, body) = get(http, "/api/v1/checks").await;
    assert_eq!(status, 200, "{body}");
    let checks: serde_json::Value = serde_json::from_str(&body).unwrap();
    let web = &checks["checks"][0];
    assert_eq!(
        (web["id"].as_str(), web["kind"].as_str(), web["state"].as_str()),
        (Some("web"), Some("http"), Some("up"))
    );
    assert_eq!(web["latest"][0]["region"], "local", "{body}");
    assert_eq!(web["latest"][0]["ok"], true, "{body}");

    let (status, text) = get(agent_metrics, "/metrics").await;
    assert_eq!(status, 200);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("parses");
    let ok_probes = scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == "slaprobe_agent_probes_total"
                && sample.labels.get("kind") == Some("http")
                && sample.labels.get("outcome") == Some("ok")
        })
        .unwrap_or_else(|| panic!("no ok http probes in\n{text}"));
    assert!(number(&ok_probes.value) >= 3.0, "{text}");
    assert_eq!(sample(&scrape, "slaprobe_agent_checks"), 1.0, "the pushed check");
    assert_eq!(sample(&scrape, "slaprobe_agent_uplink_connected"), 1.0);
    assert_eq!(sample(&scrape, "slaprobe_agent_spool_dropped_results"), 0.0);
    assert!(scrape.samples.iter().any(|sample| sample.metric == "slaprobe_agent_probe_duration_seconds_count"));

    agent.signal(Signal::SIGTERM);
    let (status, log, _) = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(15)));
    assert!(status.success(), "{log}");
    // Once the collector has closed the agent's session, every batch of it has been handled.
    let scrape_collector = async || {
        let (status, text) = get(http, "/metrics").await;
        assert_eq!(status, 200);
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("parses");
        (scrape, text)
    };
    wait::until(Duration::from_secs(10), "the agent's session to close", async || {
        let (scrape, _) = scrape_collector().await;
        scrape
            .samples
            .iter()
            .filter(|sample| sample.metric == "slaprobe_collector_agent_sessions")
            .all(|sample| number(&sample.value) == 0.0)
    })
    .await;
    let (scrape, text) = scrape_collector().await;
    assert_eq!(
        sample(&scrape, "slaprobe_collector_results_stored_total") as usize,
        stored().await,
        "the counter equals the stored results once the agent is gone:\n{text}"
    );
    assert_eq!(sample(&scrape, "slaprobe_collector_results_refused_total"), 0.0);
    assert!(sample(&scrape, "slaprobe_collector_batches_total") >= 1.0);
    assert_eq!(sample(&scrape, "slaprobe_collector_agent_sessions"), 0.0, "the agent's session has ended");
    assert!(scrape.samples.iter().any(|sample| sample.metric == "slaprobe_collector_store_commit_seconds_count"));
    // The operator's signals: the build, the process, the store, the HTTP requests themselves.
    let labelled = |name: &str, label: (&str, &str)| {
        let found =
            scrape.samples.iter().find(|sample| sample.metric == name && sample.labels.get(label.0) == Some(label.1));
        number(&found.unwrap_or_else(|| panic!("no {name}{{{}=\"{}\"}} in\n{text}", label.0, label.1)).value)
    };
    assert_eq!(labelled("slaprobe_collector_build_info", ("version", env!("CARGO_PKG_VERSION"))), 1.0);
    assert!(sample(&scrape, "process_resident_memory_bytes") > 1e6, "{text}");
    assert!(sample(&scrape, "process_open_fds") > 0.0 && sample(&scrape, "process_start_time_seconds") > 1.7e9);
    assert_eq!(labelled("slaprobe_collector_store_errors_total", ("operation", "write")), 0.0);
    assert!(labelled("slaprobe_collector_http_requests_total", ("route", "/api/v1/agents")) >= 1.0, "{text}");
    assert!(labelled("slaprobe_collector_http_requests_total", ("route", "unmatched")) >= 1.0, "the 404 above: {text}");
    assert_eq!(labelled("slaprobe_collector_lease_held", ("lease", "ledger")), 1.0, "{text}");
    assert_eq!(sample(&scrape, "slaprobe_collector_replicas_alive"), 1.0);
    let contract = |name: &str| {
        let found =
            scrape.samples.iter().find(|sample| sample.metric == name && sample.labels.get("contract") == Some("web"));
        number(&found.unwrap_or_else(|| panic!("no {name}{{contract=\"web\"}} in\n{text}")).value)
    };
    assert_eq!(contract("slaprobe_collector_contract_standing"), 0.0);
    assert!(contract("slaprobe_collector_contract_budget_left_seconds") > 0.0);
    assert_eq!(contract("slaprobe_collector_contract_credit_certain"), 0.0);
    let (_, body) = get(http, "/api/v1/agents").await;
    assert!(body.contains("\"connected\":false"), "{body}");

    let (status, body) = get(http, "/api/v1/contracts").await;
    assert_eq!(status, 200, "{body}");
    let contracts: serde_json::Value = serde_json::from_str(&body).unwrap();
    let web = &contracts["contracts"][0];
    assert_eq!(web["so_far"]["contract"], "web");
    assert_eq!(web["standing"], "ok", "{body}");
    assert_eq!(web["credit_certain_amount"], 0.0);
    assert_eq!(web["so_far"]["silent_agents"], serde_json::json!([]), "edge-1 reported this period");
    assert!(web["budget_left_seconds"].as_f64().unwrap() > 0.0, "{body}");

    let period = Timestamp::now().strftime("%Y-%m").to_string();
    let (status, body) = get(http, &format!("/api/v1/contracts/web/report?period={period}")).await;
    assert_eq!(status, 200, "{body}");
    let config = collector_config.to_str().unwrap();
    let api_report: serde_json::Value = serde_json::from_str(&body).unwrap();
    let as_of = api_report["generated_at"].as_str().unwrap().to_owned();
    let args = ["report", "--config", config, "--period", &period, "--as-of", &as_of];
    let command = tokio::task::block_in_place(|| run_collector(&args));
    assert_eq!(body, command, "the API's claim report is the report command's made at the same instant");
    let (status, html) = get(http, &format!("/api/v1/contracts/web/report?period={period}&format=html")).await;
    assert!(status == 200 && html.contains("<html"), "{status}");
    assert_eq!(get(http, "/api/v1/contracts/nope/report?period=2026-01").await.0, 404);
    let (status, body) = get(http, "/api/v1/contracts/web/report?period=2026-13").await;
    assert!(status == 400 && body.contains("01 to 12"), "{status} {body}");

    let (status, body) = get(http, "/api/v1/contracts/web").await;
    assert_eq!(status, 200, "{body}");
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((detail["current"].as_bool(), detail["contract"]["currency"].as_str()), (Some(true), Some("USD")));
    assert_eq!(detail["report"], detail["status"]["so_far"], "the report so far is the standing's");
    assert_eq!(detail["regions"][0]["region"], "local", "{body}");
    assert_eq!(detail["regions"][0]["failed"], 0, "{body}");
    let counted = detail["regions"][0]["results"].as_u64().unwrap() as usize;
    assert!(counted >= 1 && counted <= stored().await, "results up to the last whole 2 s slice: {counted}");
    assert!(detail["latency"][0]["latency"]["p99_ms"].as_f64().unwrap() > 0.0, "{body}");
    let (status, body) = get(http, "/api/v1/contracts/web/incidents").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, format!("{{\"contract\":\"web\",\"period\":\"{period}\",\"incidents\":[]}}"));
    assert_eq!(get(http, "/api/v1/contracts/nope").await.0, 404);
    assert_eq!(get(http, "/api/v1/contracts/web?period=2026-00").await.0, 400);

    // Every stored result, two at a time, each once, in order.
    let mut paged = Vec::new();
    let mut path = "/api/v1/results?check=web&from=2000-01-01T00:00:00Z&limit=2".to_owned();
    loop {
        let (status, body) = get(http, &path).await;
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        paged.extend(page["results"].as_array().unwrap().iter().map(|result| result["seq"].as_u64().unwrap()));
        match page["next"].as_str() {
            Some(cursor) => {
                path = format!("/api/v1/results?check=web&from=2000-01-01T00:00:00Z&limit=2&after={cursor}")
            }
            None => break,
        }
    }
    let far = "2100-01-01T00:00:00Z".parse().unwrap();
    let all = store.results_between(&["web".to_owned()], Timestamp::UNIX_EPOCH, far).await.unwrap();
    assert_eq!(paged, all.iter().map(|result| result.seq.unwrap()).collect::<Vec<_>>());
    for (bad, says) in [
        ("/api/v1/results", "check=ID"),
        ("/api/v1/results?check=web&limit=0", "limit"),
        ("/api/v1/results?check=web&from=yesterday", "from"),
        ("/api/v1/results?check=web&after=garbage", "after"),
    ] {
        let (status, body) = get(http, bad).await;
        assert!(status == 400 && body.contains(says), "{bad}: {status} {body}");
    }

    // Every documented JSON GET answers as documented; the schemas forbid undocumented fields.
    let (status, body) = get(http, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let past = (Timestamp::now() - jiff::SignedDuration::from_hours(24 * 40)).strftime("%Y-%m").to_string();
    let checked = [
        ("/api/v1/agents", "/api/v1/agents".to_owned(), 200),
        ("/api/v1/checks", "/api/v1/checks".to_owned(), 200),
        ("/api/v1/cluster", "/api/v1/cluster".to_owned(), 200),
        ("/api/v1/contracts", "/api/v1/contracts".to_owned(), 200),
        ("/api/v1/contracts/{id}", "/api/v1/contracts/web".to_owned(), 200),
        ("/api/v1/contracts/{id}", format!("/api/v1/contracts/web?period={past}"), 200),
        ("/api/v1/contracts/{id}", "/api/v1/contracts/web?period=2026-00".to_owned(), 400),
        ("/api/v1/contracts/{id}", "/api/v1/contracts/nope".to_owned(), 404),
        ("/api/v1/contracts/{id}/incidents", "/api/v1/contracts/web/incidents".to_owned(), 200),
        ("/api/v1/contracts/{id}/report", format!("/api/v1/contracts/web/report?period={period}"), 200),
        ("/api/v1/contracts/{id}/report", "/api/v1/contracts/web/report".to_owned(), 400),
        ("/api/v1/results", "/api/v1/results?check=web&from=2000-01-01T00:00:00Z&limit=3".to_owned(), 200),
        ("/api/v1/results", "/api/v1/results?check=web&limit=5000".to_owned(), 400),
        ("/api/v1/openapi.json", "/api/v1/openapi.json".to_owned(), 200),
        ("/api/v1/deliveries", "/api/v1/deliveries".to_owned(), 200),
        ("/api/v1/deliveries", "/api/v1/deliveries?limit=0".to_owned(), 400),
        ("/api/v1/rollups", "/api/v1/rollups?check=web".to_owned(), 200),
        (
            "/api/v1/rollups",
            "/api/v1/rollups?check=web&from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z".to_owned(),
            200,
        ),
        ("/api/v1/rollups", "/api/v1/rollups?check=Not%20an%20id".to_owned(), 400),
        ("/api/v1/alerts", "/api/v1/alerts?state=firing".to_owned(), 200),
        ("/api/v1/alerts", "/api/v1/alerts?state=open".to_owned(), 400),
        ("/api/v1/alerts/{id}", "/api/v1/alerts/web.down.1".to_owned(), 404),
        ("/api/v1/periods", "/api/v1/periods".to_owned(), 200),
        ("/api/v1/periods", "/api/v1/periods?contract=Not%20an%20id".to_owned(), 400),
        ("/api/v1/periods/{contract}/{period}", "/api/v1/periods/web/2026-00".to_owned(), 400),
        ("/api/v1/periods/{contract}/{period}", "/api/v1/periods/web/2020-01".to_owned(), 404),
        (
            "/api/v1/periods/{contract}/{period}/{revision}/{file}",
            "/api/v1/periods/web/2020-01/1/report.json".to_owned(),
            404,
        ),
        (
            "/api/v1/periods/{contract}/{period}/{revision}/{file}",
            "/api/v1/periods/web/2020-01/x/report.json".to_owned(),
            400,
        ),
        ("/api/v1/claims", "/api/v1/claims".to_owned(), 200),
        ("/api/v1/claims", "/api/v1/claims?state=open".to_owned(), 400),
        ("/api/v1/claims/{contract}/{period}", "/api/v1/claims/web/2020-01".to_owned(), 404),
        ("/api/v1/enrolments", "/api/v1/enrolments".to_owned(), 200),
        ("/api/v1/vendors", "/api/v1/vendors".to_owned(), 200),
        ("/api/v1/vendors/{slug}", "/api/v1/vendors/loopback".to_owned(), 200),
        ("/api/v1/vendors/{slug}", "/api/v1/vendors/Loop%20back".to_owned(), 400),
        ("/api/v1/vendors/{slug}", "/api/v1/vendors/nobody".to_owned(), 404),
    ];
    let (_, clamped) = get(http, "/api/v1/rollups?check=web&from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z").await;
    let clamped: serde_json::Value = serde_json::from_str(&clamped).unwrap();
    assert_eq!(clamped["from"], "2026-05-01T00:00:00Z", "a span over 31 days is answered for its last 31 days");
    for (template, path, status) in &checked {
        conforms(http, &doc, template, path, *status).await;
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        let json_get = item.pointer("/get/responses/200/content/application~1json").is_some();
        assert!(
            !json_get || checked.iter().any(|(template, _, _)| template == path),
            "{path} is documented but not checked"
        );
    }
    // One collector: it lists itself alive; the agent's session has ended, so it holds none.
    let (_, body) = get(http, "/api/v1/cluster").await;
    let cluster: serde_json::Value = serde_json::from_str(&body).unwrap();
    let replica = &cluster["replicas"][0];
    assert_eq!((replica["alive"].as_bool(), replica["this"].as_bool()), (Some(true), Some(true)), "{body}");
    assert_eq!((replica["sessions"].as_u64(), cluster["this"].as_str()), (Some(0), replica["name"].as_str()));
    let (_, body) = get(http, "/api/v1/agents").await;
    let agents: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&agents["agents"][0]["collector"], &agents["agents"][0]["connected"]),
        (&serde_json::Value::Null, &serde_json::json!(false))
    );
    // The check can fail: an undocumented field, or a missing one, is caught.
    let (_, body) = get(http, "/api/v1/agents").await;
    let mut agents: serde_json::Value = serde_json::from_str(&body).unwrap();
    let validator = response_validator(&doc, "/api/v1/agents", "get", 200);
    assert!(validator.is_valid(&agents));
    agents["agents"][0]["token"] = "leaked".into();
    assert!(!validator.is_valid(&agents), "an undocumented field passes");
    agents["agents"][0].as_object_mut().unwrap().remove("token");
    agents["agents"][0].as_object_mut().unwrap().remove("region");
    assert!(!validator.is_valid(&agents), "a missing field passes");
}
