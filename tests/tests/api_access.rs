//! API tokens on a real collector: without a token nothing but health answers; a viewer reads the API, the
//! dashboard and `/metrics` but may not act; an admin may reload; the dashboard's login form sets a session
//! cookie (cleared by signing out); neither tokens nor their hashes ever appear in a response.

use slaprobe_collector::digest::token_hash;
use slaprobe_tests::collector::start_collector;
use slaprobe_tests::http_client::{get, send};
use slaprobe_tests::ports::free_addr;

const VIEWER: &str = "viewer-token-5f1c";
const ADMIN: &str = "admin-token-9a2e";

#[tokio::test(flavor = "multi_thread")]
async fn tokens_guard_the_api_dashboard_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let config = dir.path().join("collector.yaml");
    let yaml = format!(
        "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
         agents:\n  - {{ id: edge-1, region: local, token_sha256: \"{}\" }}\n\
         api_tokens:\n  - {{ name: finance, role: viewer, token_sha256: \"{}\" }}\n\
         \x20 - {{ name: ops, role: admin, token_sha256: \"{}\" }}\n\
         contracts:\n  - {{ id: web, vendor: Loopback, service: Web, checks: [web], objective: 99.9, \
         credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n",
        token_hash("agent-secret"),
        token_hash(VIEWER),
        token_hash(ADMIN)
    );
    std::fs::write(&config, &yaml).unwrap();
    let _collector = tokio::task::block_in_place(|| start_collector(&config));
    let bearer = |token: &str| format!("Bearer {token}");

    assert_eq!(get(http, "/healthz").await.0, 200, "health stays open for load balancers");
    assert_eq!(get(http, "/readyz").await.0, 200);
    for path in ["/api/v1/contracts", "/api/v1/agents", "/metrics", "/api/v1/nothing"] {
        let response = send(http, "GET", path, &[], "").await;
        assert_eq!(response.status, 401, "{path}: {}", response.body);
        assert_eq!(response.header("www-authenticate"), Some("Bearer realm=\"slaprobe\""), "{path}");
        let wrong = send(http, "GET", path, &[("Authorization", "Bearer guess")], "").await;
        assert_eq!(wrong.status, 401, "{path}");
    }
    let page = send(http, "GET", "/contracts/web?period=2026-02", &[], "").await;
    assert_eq!(page.status, 303, "pages send strangers to the login form");
    assert_eq!(page.header("location"), Some("/login?next=%2Fcontracts%2Fweb%3Fperiod%3D2026-02"));
    assert_eq!(get(http, "/static/dashboard.css").await.0, 200, "the login page needs its stylesheet");

    let viewer = bearer(VIEWER);
    let read = send(http, "GET", "/api/v1/contracts", &[("Authorization", &viewer)], "").await;
    assert_eq!(read.status, 200, "{}", read.body);
    let metrics = send(http, "GET", "/metrics", &[("Authorization", &viewer)], "").await;
    assert_eq!(metrics.status, 200);
    let refused = send(http, "POST", "/api/v1/reload", &[("Authorization", &viewer)], "").await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    // An admin reloads: a broken file is refused with the problem, the running config kept; a fixed one loads.
    let admin = bearer(ADMIN);
    std::fs::write(&config, yaml.replace("objective: 99.9", "objective: 120")).unwrap();
    let broken = send(http, "POST", "/api/v1/reload", &[("Authorization", &admin)], "").await;
    assert_eq!(broken.status, 422, "{}", broken.body);
    assert!(broken.body.contains("objective"), "{}", broken.body);
    let renamed = yaml.replace("service: Web,", "service: Web Reloaded,");
    std::fs::write(&config, &renamed).unwrap();
    let reloaded = send(http, "POST", "/api/v1/reload", &[("Authorization", &admin)], "").await;
    assert_eq!((reloaded.status, reloaded.body.as_str()), (200, "{\"reloaded\":true}"));
    let contracts = send(http, "GET", "/api/v1/contracts", &[("Authorization", &admin)], "").await;
    assert!(contracts.body.contains("Web Reloaded"), "{}", contracts.body);

    // The login form: a wrong token shows the form again; the right one sets the cookie and returns to `next`.
    let form = "token=wrong&next=%2Fagents";
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let failed = send(http, "POST", "/login", &[form_type], form).await;
    assert_eq!(failed.status, 401);
    assert!(failed.body.contains("not valid") && failed.header("set-cookie").is_none());
    let form = format!("token={VIEWER}&next=%2Fagents");
    let signed_in = send(http, "POST", "/login", &[form_type], &form).await;
    assert_eq!((signed_in.status, signed_in.header("location")), (303, Some("/agents")));
    let cookie = signed_in.header("set-cookie").expect("a session cookie").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let outside = send(http, "POST", "/login", &[form_type], "token=admin-token-9a2e&next=https://evil.example/").await;
    assert_eq!(outside.header("location"), Some("/"), "never redirected off the site");

    let mut pages = Vec::new();
    for path in ["/", "/contracts/web", "/checks", "/agents"] {
        let page = send(http, "GET", path, &[("Cookie", &session)], "").await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.body.contains("finance (viewer)"), "{path} names who is signed in");
        pages.push(page.body);
    }
    let api_by_cookie = send(http, "GET", "/api/v1/checks", &[("Cookie", &session)], "").await;
    assert_eq!(api_by_cookie.status, 200, "the dashboard's session also reads the API (report links)");

    // No response shows a token or a token's hash.
    for body in pages.iter().chain([&read.body, &metrics.body, &contracts.body]) {
        for secret in
            [VIEWER.to_owned(), ADMIN.to_owned(), token_hash(VIEWER), token_hash(ADMIN), token_hash("agent-secret")]
        {
            assert!(!body.contains(&secret), "a response shows {secret}");
        }
    }

    let signed_out = send(http, "POST", "/logout", &[("Cookie", &session)], "").await;
    assert_eq!(signed_out.status, 303);
    assert!(signed_out.header("set-cookie").is_some_and(|cookie| cookie.contains("Max-Age=0")));
}
