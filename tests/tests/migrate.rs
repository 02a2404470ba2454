//! `slaprobe-collector migrate` from a SQLite store holding a little of everything (two months of results, one
//! flagged, their rollups, the registry with a clock reading, a spool gap, a refused result, a delivery, an
//! acknowledged alert, an agent key, a checkpoint and a gap statement) into an empty PostgreSQL schema: the command reports equal row counts, the alert arrives
//! field for field, the same report comes out of either store, and a second run into the now non-empty database
//! is refused.

use jiff::{SignedDuration, Timestamp};
use slaprobe_collector::store::{
    AgentStatus, AlertRecord, AlertState, ClockReading, DeliveryRecord, GapReport, IngestBatch, Refusal, ResultFlags,
    SignedCheckpoint, SignedGap, Store,
};
use slaprobe_proto::ResultRecord;
use slaprobe_proto::evidence::PublicKey;
use slaprobe_tests::agent::collector_binary;
use slaprobe_tests::collector::run_collector;
use slaprobe_tests::postgres::TestSchema;

fn result(seq: u64, started_at: Timestamp, ok: bool) -> ResultRecord {
    serde_json::from_value(serde_json::json!({
        "check_id": "api", "region": "eu", "agent_id": "agent-eu", "seq": seq,
        "started_at": started_at.to_string(), "ok": ok, "duration_ms": 12.5,
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_store_moves_into_postgres_whole() {
    let Some(schema) = TestSchema::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("slaprobe.db");
    let store = Store::open_sqlite(&database).unwrap();
    let start: Timestamp = "2026-03-31T22:00:00Z".parse().unwrap();
    store
        .record_agent(AgentStatus {
            agent_id: "agent-eu".to_owned(),
            region: "eu".to_owned(),
            version: "0.1.0".to_owned(),
            connected_at: start,
            spool_backlog: 3,
            collector: "collector-a:1".to_owned(),
        })
        .await
        .unwrap();
    store
        .record_clock("agent-eu", ClockReading { offset_nanos: 1_500, round_trip_nanos: 90_000, measured_at: start })
        .await
        .unwrap();
    // Four hours across the month boundary, every minute; down for 20 minutes on April 1.
    let results: Vec<(ResultRecord, ResultFlags)> = (0..240u64)
        .map(|minute| {
            let at = start + SignedDuration::from_mins(minute as i64);
            let flags = if minute == 5 { ResultFlags::CLOCK_SUSPECT } else { ResultFlags::NONE };
            (result(minute + 1, at, !(150..170).contains(&minute)), flags)
        })
        .collect();
    let refused = vec![Refusal { seq: 500, reason: "started in the future".to_owned(), record: vec![1, 2, 3] }];
    let key = PublicKey::from_bytes(&[7; 32]).unwrap();
    store.settle_agent_key("agent-eu", key, false).await.unwrap();
    let checkpoint = SignedCheckpoint { seq: 240, chain: [9; 32], signature: vec![5; 64], public_key: key };
    let batch = IngestBatch {
        agent_id: "agent-eu".to_owned(),
        received_at: start,
        results,
        chains: vec![Some([3; 32])],
        refused,
        checkpoint: Some(checkpoint),
        spool_backlog: Some(0),
    };
    store.write_ingested(batch).await.unwrap();
    store
        .record_gap(GapReport {
            agent_id: "agent-eu".to_owned(),
            first_seq: 600,
            last_seq: 610,
            reason: "spool_full".to_owned(),
            reported_at: start,
            statement: Some(SignedGap {
                chain_before: Some([1; 32]),
                chain_after: None,
                signature: vec![6; 64],
                public_key: key,
            }),
        })
        .await
        .unwrap();
    store
        .record_delivery(DeliveryRecord {
            sent_at: start,
            channel: "hook".to_owned(),
            state: "test".to_owned(),
            kind: "test".to_owned(),
            contract: String::new(),
            delivered: true,
            attempts: Vec::new(),
            alert_id: None,
        })
        .await
        .unwrap();
    let alert = AlertRecord {
        id: "acme.down.1775000000000".to_owned(),
        contract: "acme".to_owned(),
        kind: "down".to_owned(),
        policy: "default".to_owned(),
        state: AlertState::Firing,
        started_at: start + SignedDuration::from_mins(150),
        fired_at: start + SignedDuration::from_mins(152),
        resolved_at: None,
        resolved_by: None,
        acknowledged_at: Some(start + SignedDuration::from_mins(155)),
        acknowledged_by: Some("alice".to_owned()),
        levels_notified: 2,
        last_notified_at: Some(start + SignedDuration::from_mins(162)),
        regions: vec!["eu".to_owned()],
        summary: "down in eu".to_owned(),
        rearmed: false,
    };
    store.record_alert(alert.clone()).await.unwrap();
    let end = start + SignedDuration::from_hours(4);
    assert_eq!(store.roll_up(vec!["api".to_owned()], start, end).await.unwrap(), 240);
    let evidence = (
        store.agent_keys().await.unwrap(),
        store.checkpoints("agent-eu", (0, i64::MAX as u64)).await.unwrap(),
        store.gap_statements("agent-eu").await.unwrap(),
    );
    assert_eq!((evidence.0.len(), evidence.1.len(), evidence.2.len()), (1, 1, 1));
    let page = slaprobe_collector::store::status_pages::StatusPageRecord {
        url: "https://status.acme.example".to_owned(),
        checked_at: Some(start),
        attempted_at: start,
        problem: None,
        failures: 0,
        notices: Vec::new(),
    };
    store.put_status_page(&page).await.unwrap();
    let enrolled = slaprobe_collector::store::enrolments::EnrolledAgent {
        agent_id: "node-7".to_owned(),
        enrolment: "fleet-eu".to_owned(),
        region: "eu".to_owned(),
        state: slaprobe_collector::store::enrolments::EnrolmentState::Approved,
        public_key: evidence.0[0].public_key,
        first_seen_at: start,
        last_seen_at: start,
        remote: None,
        version: "0.1.0".to_owned(),
        decided_at: Some(start),
        decided_by: Some("alice".to_owned()),
    };
    store.enrol(&enrolled).await.unwrap();
    drop(store);

    let binary = collector_binary();
    let migrate = |to: &str| {
        std::process::Command::new(&binary)
            .args(["migrate", "--from", &format!("sqlite:{}", database.display()), "--to", &format!("postgres:{to}")])
            .output()
            .unwrap()
    };
    let output = tokio::task::block_in_place(|| migrate(&schema.url));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap();
    for line in [
        "results: 240 rows, the same in both",
        "result_rollups: 240 rows",
        "agents: 1 rows",
        "spool_gaps: 1 rows",
        "refused_results: 1 rows",
        "deliveries: 1 rows",
        "alerts: 1 rows",
        "agent_keys: 1 rows",
        "checkpoints: 1 rows",
        "gap_statements: 1 rows",
        "status_pages: 1 rows",
        "enrolled_agents: 1 rows",
    ] {
        assert!(printed.contains(line), "no {line:?} in\n{printed}");
    }

    // The same claim report from either store.
    let config = |storage: &str, name: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "listen: {{ grpc: \"127.0.0.1:1\" }}\nstorage: {storage}\n\
                 contracts:\n  - {{ id: acme, vendor: Acme, service: API, checks: [api], objective: 99.9, \
                 credits: {{ fee: 100, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n"
            ),
        )
        .unwrap();
        path
    };
    let sqlite = config(&format!("{{ sqlite: \"{}\" }}", database.display()), "sqlite.yaml");
    let postgres = config(&format!("{{ postgres: \"{}\" }}", schema.url), "postgres.yaml");
    let report = |path: &std::path::Path| {
        let (config, as_of) = (path.to_str().unwrap(), "2026-05-02T00:00:00Z");
        run_collector(&["report", "--config", config, "--period", "2026-04", "--as-of", as_of])
    };
    let (from_sqlite, from_postgres) = tokio::task::block_in_place(|| (report(&sqlite), report(&postgres)));
    assert_eq!(from_sqlite, from_postgres);
    assert!(from_sqlite.contains("\"down_slices\":20"), "{from_sqlite}");
    let flagged: i64 =
        schema.client.query_one("SELECT count(*) FROM results WHERE flags != 0", &[]).await.unwrap().get(0);
    assert_eq!(flagged, 1, "flags travel with the results");

    let moved = Store::open_postgres(&schema.url).await.unwrap();
    assert_eq!(moved.alert(&alert.id).await.unwrap(), Some(alert), "the alert arrives field for field");
    let moved_evidence = (
        moved.agent_keys().await.unwrap(),
        moved.checkpoints("agent-eu", (0, i64::MAX as u64)).await.unwrap(),
        moved.gap_statements("agent-eu").await.unwrap(),
    );
    assert_eq!(moved_evidence, evidence, "keys, checkpoints and gap statements arrive byte for byte");
    assert_eq!(moved.enrolled_agents().await.unwrap(), [enrolled], "enrolled agents keep their state and key");
    let chain: Vec<u8> =
        schema.client.query_one("SELECT record FROM results WHERE seq = 1", &[]).await.unwrap().get::<_, Vec<u8>>(0);
    let decoded = <slaprobe_proto::v1::Result as prost::Message>::decode(chain.as_slice()).unwrap();
    assert_eq!(decoded.chain, vec![3; 32], "a result's chain value travels inside its record");

    let again = tokio::task::block_in_place(|| migrate(&schema.url));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds 240 results"), "{again:?}");
}
