//! Sharing prepared `http:` sections: equal sections share one copy, and a section with a problem is reported
//! for every check that writes it.

use std::sync::Arc;

use crate::parse_checks;
use crate::spec::{HttpSpec, ProbeSpec};

fn http_specs(yaml: &str) -> Result<Vec<Arc<HttpSpec>>, Vec<String>> {
    let checks = parse_checks(serde_yaml_ng::from_str(yaml).unwrap(), "checks")?;
    Ok(checks
        .into_iter()
        .map(|check| match check.spec {
            ProbeSpec::Http(spec) => spec,
            other => panic!("not an HTTP check: {other:?}"),
        })
        .collect())
}

#[test]
fn checks_with_equal_http_sections_share_one_prepared_copy() {
    let specs = http_specs(
        r#"
- { id: a, kind: http, target: "https://a.example/", interval: 1m }
- { id: b, kind: http, target: "https://b.example/", interval: 1m }
- { id: c, kind: http, target: "https://c.example/", interval: 1m, http: { headers: { X-Key: one } } }
- { id: d, kind: http, target: "https://d.example/", interval: 1m, http: { headers: { X-Key: one } } }
- { id: e, kind: http, target: "https://e.example/", interval: 1m, http: { headers: { X-Key: two } } }
"#,
    )
    .unwrap();
    let targets: Vec<&str> = specs.iter().map(|spec| spec.url.host_str().unwrap()).collect();
    assert_eq!(targets, ["a.example", "b.example", "c.example", "d.example", "e.example"]);
    assert!(Arc::ptr_eq(&specs[0].settings, &specs[1].settings), "no section: shared");
    assert!(Arc::ptr_eq(&specs[2].settings, &specs[3].settings), "equal sections: shared");
    assert!(!Arc::ptr_eq(&specs[0].settings, &specs[2].settings));
    assert!(!Arc::ptr_eq(&specs[3].settings, &specs[4].settings), "different headers: not shared");
    assert_eq!(specs[4].settings.headers()["x-key"], "two");
}

#[test]
fn a_section_with_a_problem_is_reported_for_every_check_that_writes_it() {
    let problems = http_specs(
        r#"
- { id: a, kind: http, target: "https://a.example/", interval: 1m, http: { sensitive_headers: ["bad name"] } }
- { id: b, kind: http, target: "https://b.example/", interval: 1m, http: { sensitive_headers: ["bad name"] } }
"#,
    )
    .unwrap_err();
    assert_eq!(
        problems,
        [
            "checks[0].http.sensitive_headers[0]: \"bad name\" is not a header name",
            "checks[1].http.sensitive_headers[0]: \"bad name\" is not a header name",
        ]
    );
}
