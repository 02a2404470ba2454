//! Query strings of the API's GET endpoints as any text, through the real router in-process (tokens, guards,
//! handlers, a SQLite store): every answer is a documented status, never a panic or a 500.
#![no_main]

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use slaprobe_collector::http::{HttpState, router};
use slaprobe_collector::metrics::CollectorMetrics;
use slaprobe_collector::notify::Notifier;
use slaprobe_collector::reload::ReloadStatus;
use slaprobe_collector::store::Store;
use tower::ServiceExt;

const PATHS: [&str; 8] = [
    "/api/v1/results",
    "/api/v1/rollups",
    "/api/v1/contracts/web",
    "/api/v1/contracts/web/incidents",
    "/api/v1/contracts/web/report",
    "/api/v1/alerts",
    "/api/v1/deliveries",
    "/api/v1/checks",
];

struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    _dir: tempfile::TempDir,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("collector.yaml");
    std::fs::write(
        &path,
        "listen: { grpc: \"127.0.0.1:1\", http: \"127.0.0.1:2\" }\nstorage: { sqlite: slaprobe.db }\n\
         checks:\n  - { id: web, kind: tcp, target: \"127.0.0.1:9\", interval: 60s }\n\
         contracts:\n  - { id: web, vendor: V, service: S, checks: [web], objective: 99.9, \
         credits: { fee: 100, currency: USD, tiers: [ { below: 99.9, credit: 10 } ] } }\n",
    )
    .expect("write the configuration");
    let config = slaprobe_collector::config::load_collector_config(&path).expect("a valid configuration");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let app = runtime.block_on(async {
        let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).expect("the store");
        let (_, config) = tokio::sync::watch::channel(Arc::new(config));
        let (reload, _) = tokio::sync::mpsc::channel(1);
        let notifier = Notifier::new().expect("the notifier");
        let (_, reload_status) = tokio::sync::watch::channel(ReloadStatus::loaded_now());
        router(HttpState {
            store,
            metrics: Arc::new(CollectorMetrics::default()),
            config,
            reload,
            notifier,
            reload_status,
            refusals: Arc::default(),
        })
    });
    Fixture { runtime, app, _dir: dir }
});

libfuzzer_sys::fuzz_target!(|input: (u8, &str)| {
    let (which, query) = input;
    let path = PATHS[usize::from(which) % PATHS.len()];
    let Ok(request) = Request::get(format!("{path}?{query}")).header("host", "127.0.0.1").body(Body::empty()) else {
        return;
    };
    let fixture = &*FIXTURE;
    let response = fixture.runtime.block_on(fixture.app.clone().oneshot(request)).expect("the router answers");
    assert!(
        [StatusCode::OK, StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND].contains(&response.status()),
        "{path}?{query}: {}",
        response.status()
    );
});
