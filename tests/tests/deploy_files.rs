//! The configurations inside `deploy/compose/` and `deploy/kubernetes/` load with the real configuration code
//! (their `${VAR}`s filled in as the environment would), the manifests are the YAML they claim to be, and the
//! monitoring examples in `deploy/monitoring/` query only metrics that the agent and the collector expose.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use slaprobe_agent::config::load_agent_config;
use slaprobe_agent::metrics::AgentMetrics;
use slaprobe_collector::config::{Storage, load_collector_config};
use slaprobe_collector::metrics::{AgentLabels, CollectorMetrics};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(path)
}

/// `text` with each `${NAME}` of `values` filled in, written to `dir/name`.
fn filled(dir: &Path, name: &str, text: &str, values: &[(&str, &str)]) -> PathBuf {
    let text = values.iter().fold(text.to_owned(), |text, (key, value)| text.replace(&format!("${{{key}}}"), value));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The documents of a multi-document YAML file.
fn documents(path: &Path) -> Vec<serde_yaml_ng::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split("\n---\n")
        .map(|document| serde_yaml_ng::from_str(document).unwrap_or_else(|error| panic!("{path:?}: {error}")))
        .collect()
}

fn config_map<'a>(documents: &'a [serde_yaml_ng::Value], key: &str) -> &'a str {
    documents
        .iter()
        .filter(|document| document["kind"] == "ConfigMap")
        .find_map(|document| document["data"][key].as_str())
        .unwrap_or_else(|| panic!("no ConfigMap with {key}"))
}

#[test]
fn compose_configurations_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(deploy("contracts.yaml"), dir.path().join("contracts.yaml")).unwrap();
    let text = std::fs::read_to_string(deploy("compose/collector.yaml")).unwrap();
    let collector = filled(dir.path(), "collector.yaml", &text, &[("SLAPROBE_PG_PASSWORD", "s3cret")]);
    let config = load_collector_config(&collector).unwrap_or_else(|error| panic!("{error}"));
    assert!(matches!(config.storage, Storage::Postgres(_)));
    assert_eq!((config.agents.len(), config.checks.len(), config.contracts.len()), (3, 2, 1));
    for (file, first) in [("agent-a-first.yaml", "collector-a"), ("agent-b-first.yaml", "collector-b")] {
        let text = std::fs::read_to_string(deploy(&format!("compose/{file}"))).unwrap();
        let values = [("AGENT_ID", "agent-eu-1"), ("REGION", "eu-west"), ("SLAPROBE_TOKEN", "t0ken")];
        let agent =
            load_agent_config(&filled(dir.path(), file, &text, &values)).unwrap_or_else(|error| panic!("{error}"));
        let collectors = agent.collectors();
        assert_eq!(collectors.len(), 2, "{file}: fails over between both");
        assert!(collectors[0].contains(first), "{file}: {collectors:?}");
    }
    let compose = documents(&deploy("compose/compose.yaml"));
    let services = compose[0]["services"].as_mapping().unwrap();
    for service in ["postgres", "collector-a", "collector-b", "agent-eu", "agent-us", "agent-ap"] {
        assert!(services.contains_key(service), "compose.yaml has no {service}");
    }
}

#[test]
fn kubernetes_configurations_load() {
    let dir = tempfile::tempdir().unwrap();
    let collector = documents(&deploy("kubernetes/collector.yaml"));
    let kinds: Vec<&str> = collector.iter().filter_map(|document| document["kind"].as_str()).collect();
    assert_eq!(kinds, ["Namespace", "Secret", "ConfigMap", "Deployment", "Service"]);
    let url = "postgres://slaprobe:pw@postgres.example.internal:5432/slaprobe";
    let path = filled(
        dir.path(),
        "collector.yaml",
        config_map(&collector, "collector.yaml"),
        &[("SLAPROBE_DATABASE_URL", url)],
    );
    let config = load_collector_config(&path).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(config.storage, Storage::Postgres(url.to_owned()));
    assert_eq!(config.contracts[0].terms.min_regions_down, 2);

    let agent = documents(&deploy("kubernetes/agent.yaml"));
    let kinds: Vec<&str> = agent.iter().filter_map(|document| document["kind"].as_str()).collect();
    assert_eq!(kinds, ["Secret", "ConfigMap", "DaemonSet"]);
    let values = [("SLAPROBE_REGION", "eu-west"), ("SLAPROBE_TOKEN", "t0ken"), ("NODE_NAME", "node-7.eu")];
    let path = filled(dir.path(), "agent.yaml", config_map(&agent, "agent.yaml"), &values);
    let loaded = load_agent_config(&path).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((loaded.agent_id(), loaded.settings.region.as_str()), ("node-7.eu", "eu-west"));
    let regions: Vec<&str> = config.enrolments.iter().map(|enrolment| enrolment.region.as_str()).collect();
    assert!(regions.contains(&"eu-west"), "the collector has an enrolment for the agent's region");
    let daemon_set = &agent[2]["spec"]["template"]["spec"]["containers"][0]["env"];
    let node_name = daemon_set.as_sequence().unwrap().iter().find(|variable| variable["name"] == "NODE_NAME");
    assert_eq!(node_name.unwrap()["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");
}

/// Every sample name the collector and the agent expose once each labelled family has a series, from their
/// `# TYPE` lines.
fn exposed_names() -> BTreeSet<String> {
    let collector = CollectorMetrics::default();
    let _session = collector.session_opened("edge-1");
    collector.clock_offset_seconds.get_or_create(&AgentLabels { agent_id: "edge-1".into() }).set(0.1);
    let contract_yaml = "- { id: web, vendor: V, service: S, checks: [web], objective: 99.9, \
                         no_data: down, credits: { fee: 1, currency: USD, tiers: [] } }";
    let contracts =
        slaprobe_sla::contract::parse_contracts(serde_yaml_ng::from_str(contract_yaml).unwrap(), "contracts").unwrap();
    let now: jiff::Timestamp = "2026-04-11T00:00:00Z".parse().unwrap();
    let period = slaprobe_sla::status::current_period(&contracts[0], now).unwrap();
    let horizon = slaprobe_sla::Horizon { monitored_from: Some(period.start), now };
    let report = slaprobe_sla::evaluate(&contracts[0], &period, &[], &horizon);
    let status = slaprobe_sla::status::standing_of(&contracts[0], &period, now, report);
    collector.set_contracts(&[(&contracts[0], status)]);
    collector.operations.set_cluster(&[("alerting".to_owned(), true)], 1);
    let registry = slaprobe_collector::store::AgentRecord {
        agent_id: "edge-1".into(),
        region: "r".into(),
        version: "1".into(),
        connected_at: now,
        last_seen: now,
        spool_backlog: 0,
        clock: None,
        session_collector: None,
    };
    collector.operations.set_agents(&[registry]);
    collector.operations.count_tls_reload("done", Some(now.as_second()));
    collector.operations.set_channels(&[("ops-chat".to_owned(), true)]);
    collector.operations.set_enrolled(&[]);
    let agent = AgentMetrics::default();
    let checks = slaprobe_checks::parse_checks_document(
        "checks: [ { id: web, kind: tcp, target: \"127.0.0.1:1\", interval: 60s } ]",
    )
    .unwrap();
    let result = serde_json::from_value(serde_json::json!({
        "check_id": "web", "region": "r", "started_at": now.to_string(), "ok": true, "duration_ms": 1.0,
    }))
    .unwrap();
    agent.observe(&checks[0], &result);
    let text = collector.encode().unwrap() + &agent.encode(None).unwrap();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(declaration) = line.strip_prefix("# TYPE ") else { continue };
        let (name, kind) = declaration.split_once(' ').unwrap();
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|suffix| format!("{name}{suffix}")));
    }
    names
}

fn referenced_names(text: &str) -> BTreeSet<String> {
    text.match_indices("slaprobe_")
        .filter(|(at, _)| !text[..*at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .map(|(at, _)| text[at..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect())
        .collect()
}

#[test]
fn the_monitoring_examples_name_only_metrics_that_exist() {
    let exposed = exposed_names();
    let dir = deploy("monitoring");
    let dashboard = std::fs::read_to_string(dir.join("grafana-dashboard.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|panels| panels.len() >= 8));
    let used = referenced_names(&dashboard);
    assert!(used.len() >= 12, "{used:?}");
    let unknown: Vec<&String> = used.difference(&exposed).collect();
    assert!(unknown.is_empty(), "the dashboard queries metrics nobody exposes: {unknown:?}\nexposed: {exposed:?}");
    let scrape: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("prometheus.yml")).unwrap()).unwrap();
    assert_eq!(scrape["scrape_configs"].as_sequence().map(Vec::len), Some(2));
    let rules = std::fs::read_to_string(dir.join("slaprobe-rules.yml")).unwrap();
    let unknown: Vec<String> = referenced_names(&rules).difference(&exposed).cloned().collect();
    assert!(unknown.is_empty(), "the alert rules query metrics nobody exposes: {unknown:?}");
}

#[test]
fn the_alert_rules_and_scrape_example_pass_promtool() {
    let dir = deploy("monitoring");
    let output = std::process::Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(dir.join("slaprobe-rules.yml"))
        .output()
        .expect("promtool (Debian package prometheus) runs");
    let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "promtool check rules: {said}");
    assert!(said.contains("SUCCESS: 9 rules found"), "{said}");
    let output =
        std::process::Command::new("promtool").arg("check").arg("config").arg(dir.join("prometheus.yml")).output();
    let output = output.expect("promtool runs");
    let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "promtool check config (with the rules it names): {said}");
}

#[test]
fn the_systemd_units_verify_and_reload_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    for (unit, installed, built) in [
        ("slaprobe-collector.service", "/usr/bin/slaprobe-collector", slaprobe_tests::agent::collector_binary()),
        ("slaprobe-agent.service", "/usr/bin/slaprobe-agent", slaprobe_tests::agent::agent_binary()),
    ] {
        let text = std::fs::read_to_string(format!("{}/../deploy/{unit}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(text.contains("ExecReload=/bin/kill -HUP $MAINPID"), "{unit}: `systemctl reload` sends SIGHUP");
        // Verified with the binary where the build put it (systemd checks that ExecStart's program exists).
        let path = dir.path().join(unit);
        std::fs::write(&path, text.replace(installed, built.to_str().unwrap())).unwrap();
        let output = std::process::Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
        let said = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success() && said.trim().is_empty(), "{unit}: systemd-analyze verify: {said}");
    }
}
