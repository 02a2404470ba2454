//! Contracts to OpenSLO v1 and back, through the real binary: `openslo export` writes an `SLI`, an `SLO` and the
//! `AlertPolicy` documents OpenSLO can say for each contract, each checked against the rules of the OpenSLO v1
//! specification (names, kinds, ranges, duration shorthands, references that resolve); the `Timeslices` fields
//! carry the slice and the region quorum; `openslo import` of that file gives back contracts that load with the
//! same terms, field for field; an edited target comes back as the new objective, with a note; another tool's
//! SLO (a Prometheus indicator, occurrences, a rolling window) is imported with a note for each thing a contract
//! cannot say; a file that is not OpenSLO is refused naming the document (exit 65).
//!
//! The OpenSLO project's own validator (`oslo`, Go) and its JSON schema are not installable from the package
//! registries this project builds from, so the specification's rules are checked here ([`violations`]).

use std::path::Path;
use std::process::{Command, Stdio};

use regex::Regex;
use serde_yaml_ng::Value;
use slaprobe_collector::config::load_collector_config;
use slaprobe_tests::agent::collector_binary;

const CHECKS: &str = r#"checks:
  - { id: web, kind: tcp, target: "127.0.0.1:9", interval: 60s, regions: [eu-west, us-east, ap-south] }
  - { id: api, kind: tcp, target: "127.0.0.1:9", interval: 60s }
"#;

const CONTRACTS: &str = r#"contracts:
  - id: acme.web
    vendor: Acme Corp.
    service: Web
    checks: [web]
    objective: 99.95
    period: quarter
    timezone: Europe/Berlin
    slice: 5m
    min_regions_down: 2
    failed_ratio: 0.4
    maintenance: [ { weekly: sun, at: "02:00", duration: 1h } ]
    claim_window: 30d
    credits:
      fee: 1234.56
      currency: EUR
      tiers: [ { below: 99.95, credit: 10 }, { below: 99.0, credit: 150 } ]
      cap: 50
  - { id: beta, vendor: Beta, service: API, checks: [api], objective: 99.9,
      credits: { fee: 100, currency: USD, tiers: [ { below: 99.9, credit: 10 } ] } }
"#;

const ALERTING: &str = r#"notify:
  channels: [ { id: hook, webhook: { url: "http://127.0.0.1:9/hook" } } ]
  policies: [ { id: oncall, levels: [ { after: 0s, channels: [hook] } ] } ]
alerts:
  - { contract: acme.web, kind: down, policy: oncall, down_slices: 3 }
  - { contract: beta, kind: burn_rate, policy: oncall }
  - { contract: beta, kind: silent, policy: oncall }
"#;

/// Runs the collector with `args`: exit code, standard output and standard error.
fn collector(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(collector_binary()).args(args).stdin(Stdio::null()).output().unwrap();
    (output.status.code(), String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
}

/// The documents of a multi-document YAML text.
fn documents(text: &str) -> Vec<Value> {
    let documents = text.split("\n---\n").map(|document| document.strip_prefix("---\n").unwrap_or(document));
    documents
        .filter(|document| !document.trim().is_empty())
        .map(|document| serde_yaml_ng::from_str(document).unwrap())
        .collect()
}

/// What the OpenSLO v1 specification's rules say is wrong with `documents`, one line each.
fn violations(documents: &[Value]) -> Vec<String> {
    let name = Regex::new(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$").unwrap();
    let shorthand = Regex::new(r"^[1-9][0-9]*[mhdwMQY]$").unwrap();
    let start_time = Regex::new(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$").unwrap();
    let named = |kind: &str| -> Vec<&str> {
        documents
            .iter()
            .filter(|document| document["kind"] == kind)
            .filter_map(|d| d["metadata"]["name"].as_str())
            .collect()
    };
    let mut problems = Vec::new();
    for (index, document) in documents.iter().enumerate() {
        let mut fail = |problem: String| problems.push(format!("document {}: {problem}", index + 1));
        if document["apiVersion"] != "openslo/v1" {
            fail("apiVersion is not openslo/v1".into());
        }
        let kind = document["kind"].as_str().unwrap_or_default();
        if !["SLO", "SLI", "AlertPolicy", "AlertCondition", "AlertNotificationTarget", "DataSource", "Service"]
            .contains(&kind)
        {
            fail(format!("kind {kind:?}"));
        }
        if !document["metadata"]["name"].as_str().is_some_and(|text| name.is_match(text)) {
            fail(format!("metadata.name {:?} is not an RFC 1123 label", document["metadata"]["name"]));
        }
        let spec = &document["spec"];
        if spec["description"].as_str().is_some_and(|text| text.chars().count() > 1050) {
            fail("description over 1050 characters".into());
        }
        match kind {
            "SLI" => {
                let ratio = &spec["ratioMetric"];
                if !(ratio["good"]["metricSource"]["spec"].is_mapping()
                    && ratio["total"]["metricSource"]["spec"].is_mapping())
                {
                    fail("ratioMetric needs good and total metric sources with a spec".into());
                }
            }
            "SLO" => {
                if !spec["indicatorRef"].as_str().is_some_and(|reference| named("SLI").contains(&reference)) {
                    fail(format!("indicatorRef {:?} names no SLI", spec["indicatorRef"]));
                }
                let windows = spec["timeWindow"].as_sequence().map_or(0, Vec::len);
                let window = &spec["timeWindow"][0];
                if windows != 1 || !window["duration"].as_str().is_some_and(|text| shorthand.is_match(text)) {
                    fail("timeWindow needs exactly one item with a duration shorthand".into());
                }
                if window["isRolling"] == false
                    && !(window["calendar"]["startTime"].as_str().is_some_and(|text| start_time.is_match(text))
                        && window["calendar"]["timeZone"].is_string())
                {
                    fail("a calendar window needs startTime (YYYY-MM-DD HH:MM:SS) and timeZone".into());
                }
                if !["Occurrences", "Timeslices", "RatioTimeslices"]
                    .contains(&spec["budgetingMethod"].as_str().unwrap_or(""))
                {
                    fail("budgetingMethod".into());
                }
                for objective in spec["objectives"].as_sequence().into_iter().flatten() {
                    if !objective["target"].as_f64().is_some_and(|target| (0.0..1.0).contains(&target)) {
                        fail(format!("target {:?} not in [0, 1)", objective["target"]));
                    }
                    let slice_target = objective["timeSliceTarget"].as_f64();
                    if !slice_target.is_some_and(|target| target > 0.0 && target <= 1.0) {
                        fail(format!("timeSliceTarget {slice_target:?} not in (0, 1]"));
                    }
                    let window = &objective["timeSliceWindow"];
                    if !(window.as_str().is_some_and(|text| shorthand.is_match(text)) || window.as_f64().is_some()) {
                        fail(format!("timeSliceWindow {window:?}"));
                    }
                }
                for policy in spec["alertPolicies"].as_sequence().into_iter().flatten() {
                    if !policy["alertPolicyRef"]
                        .as_str()
                        .is_some_and(|reference| named("AlertPolicy").contains(&reference))
                    {
                        fail(format!("alertPolicyRef {:?} names no AlertPolicy", policy["alertPolicyRef"]));
                    }
                }
            }
            "AlertPolicy" => {
                let conditions = spec["conditions"].as_sequence().map_or(0, Vec::len);
                let condition = &spec["conditions"][0]["spec"]["condition"];
                if conditions != 1 || spec["conditions"][0]["spec"]["severity"].as_str().is_none() {
                    fail("an AlertPolicy takes exactly one condition, with a severity".into());
                }
                if condition["kind"] != "burnrate"
                    || condition["threshold"].as_f64().is_none()
                    || !condition["lookbackWindow"].as_str().is_some_and(|text| shorthand.is_match(text))
                    || !condition["alertAfter"].as_str().is_some_and(|text| text == "0m" || shorthand.is_match(text))
                {
                    fail(format!("condition {condition:?}"));
                }
                if spec["notificationTargets"].as_sequence().is_none_or(Vec::is_empty) {
                    fail("notificationTargets is required".into());
                }
                for flag in ["alertWhenNoData", "alertWhenResolved", "alertWhenBreaching"] {
                    if !spec[flag].is_bool() {
                        fail(format!("{flag} is not a boolean"));
                    }
                }
            }
            _ => {}
        }
    }
    problems
}

/// The terms of each contract the configuration at `path` loads, as JSON.
fn terms(path: &Path) -> Vec<serde_json::Value> {
    let config = load_collector_config(path).unwrap_or_else(|error| panic!("{error}"));
    config.contracts.iter().map(|contract| serde_json::to_value(&contract.terms).unwrap()).collect()
}

#[test]
fn contracts_go_to_openslo_and_back_and_foreign_slos_say_what_they_lack() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.yaml");
    let header = "listen: { grpc: \"127.0.0.1:1\" }\nstorage: { sqlite: slaprobe.db }\n";
    std::fs::write(&config, format!("{header}{CHECKS}{CONTRACTS}{ALERTING}")).unwrap();
    let (code, exported, notes) = collector(&["openslo", "export", "--config", config.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{notes}");
    let docs = documents(&exported);
    assert_eq!(violations(&docs), Vec::<String>::new(), "{exported}");
    let mut broken = docs.clone();
    broken[1]["metadata"]["name"] = Value::from("Acme_Web");
    broken[1]["spec"]["objectives"][0]["target"] = Value::from(1.5);
    broken[2]["spec"]["conditions"][0]["spec"]["condition"]["lookbackWindow"] = Value::from("15 minutes");
    assert_eq!(violations(&broken).len(), 3, "the checks catch what the specification forbids");
    let kinds: Vec<(&str, &str)> =
        docs.iter().map(|d| (d["kind"].as_str().unwrap(), d["metadata"]["name"].as_str().unwrap())).collect();
    assert_eq!(
        kinds,
        [
            ("SLI", "acme-web-regions"),
            ("SLO", "acme-web"),
            ("AlertPolicy", "acme-web-down"),
            ("SLI", "beta-regions"),
            ("SLO", "beta"),
            ("AlertPolicy", "beta-burn-rate-1"),
            ("AlertPolicy", "beta-burn-rate-2"),
            ("AlertPolicy", "beta-burn-rate-3"),
        ]
    );
    let source = &docs[0]["spec"]["ratioMetric"]["good"]["metricSource"]["spec"];
    assert_eq!(
        (&source["contract"], &source["combine"], &source["failed_ratio"]),
        (&"acme.web".into(), &"any".into(), &0.4.into())
    );
    let acme = &docs[1]["spec"];
    assert_eq!(acme["budgetingMethod"], "Timeslices");
    let objective = &acme["objectives"][0];
    assert_eq!((objective["target"].as_f64(), objective["timeSliceWindow"].as_str()), (Some(0.9995), Some("5m")));
    assert_eq!(objective["timeSliceTarget"].as_f64(), Some(0.666667), "2 of 3 regions down make a slice down");
    assert_eq!(docs[4]["spec"]["objectives"][0]["timeSliceTarget"].as_f64(), Some(1.0), "one region down is enough");
    let window = &acme["timeWindow"][0];
    assert_eq!(
        (window["duration"].as_str(), window["calendar"]["timeZone"].as_str()),
        (Some("1Q"), Some("Europe/Berlin"))
    );
    let down = &docs[2]["spec"]["conditions"][0]["spec"]["condition"];
    assert_eq!((down["threshold"].as_u64(), down["lookbackWindow"].as_str()), (Some(2000), Some("15m")), "{down:?}");
    assert_eq!(docs[2]["spec"]["notificationTargets"][0]["targetRef"], "oncall");
    assert!(notes.contains("contract beta: alert silent left out"), "{notes}");

    // Back: the same terms, field for field.
    let exported_file = dir.path().join("slos.yaml");
    std::fs::write(&exported_file, &exported).unwrap();
    let (code, imported, notes) = collector(&["openslo", "import", exported_file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{notes}");
    assert!(!notes.contains("to write before use"), "{notes}");
    let round_trip = dir.path().join("round-trip.yaml");
    std::fs::write(&round_trip, format!("{header}{CHECKS}{imported}")).unwrap();
    assert_eq!(terms(&round_trip), terms(&config), "{imported}");
    assert!(
        imported.contains("objective: 99.95") && imported.contains("fee: 1234.56"),
        "numbers as numbers: {imported}"
    );

    // An edited target is the new objective.
    std::fs::write(&exported_file, exported.replacen("target: 0.9995", "target: 0.999", 1)).unwrap();
    let (code, imported, notes) = collector(&["openslo", "import", exported_file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{notes}");
    assert!(notes.contains("objective 99.9 % from the SLO's target (its terms said 99.95)"), "{notes}");
    std::fs::write(&round_trip, format!("{header}{CHECKS}{imported}")).unwrap();
    assert_eq!(terms(&round_trip)[0]["objective"], "99.9");

    // Another tool's SLO: imported with what it says, and a note for each thing a contract cannot take from it.
    let foreign = dir.path().join("foreign.yaml");
    std::fs::write(
        &foreign,
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: { name: checkout, displayName: Checkout }\n\
         spec:\n  service: shop\n  indicator:\n    metadata: { name: checkout-errors }\n    spec:\n      ratioMetric:\n\
         \x20       counter: true\n        good: { metricSource: { type: Prometheus, spec: { query: 'sum(ok)' } } }\n\
         \x20       total: { metricSource: { type: Prometheus, spec: { query: 'sum(all)' } } }\n\
         \x20 timeWindow: [ { duration: 28d, isRolling: true } ]\n  budgetingMethod: Occurrences\n\
         \x20 objectives: [ { target: 0.99 }, { targetPercent: 99.9 } ]\n\
         ---\napiVersion: openslo/v1\nkind: AlertPolicy\nmetadata: { name: page }\nspec: {}\n",
    )
    .unwrap();
    let (code, imported, notes) = collector(&["openslo", "import", foreign.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{notes}");
    for said in [
        "document 1 (SLO checkout): its indicator reads a Prometheus source, a query slaprobe cannot run",
        "document 1 (SLO checkout): OpenSLO has no credit terms",
        "document 1 (SLO checkout): only the first of 2 objectives",
        "document 1 (SLO checkout): budgeting method Occurrences",
        "document 1 (SLO checkout): a rolling 28d window",
        "document 1 (SLO checkout): to write before use:",
        "document 2 (AlertPolicy page): not imported",
    ] {
        assert!(notes.contains(said), "no {said:?} in\n{notes}");
    }
    assert!(imported.contains("id: checkout") && imported.contains("objective: 99"), "{imported}");

    // Not OpenSLO: refused, naming the document.
    std::fs::write(&foreign, "apiVersion: openslo/v1\nkind: SLO\n---\napiVersion: v1\nkind: ConfigMap\n").unwrap();
    let (code, _, said) = collector(&["openslo", "import", foreign.to_str().unwrap()]);
    assert_eq!(code, Some(65), "{said}");
    assert!(said.contains("document 2: not an OpenSLO v1 document (apiVersion \"v1\", kind \"ConfigMap\")"), "{said}");
}
