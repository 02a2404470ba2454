//! SQLite store tests on real database files.

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;

use crate::store::{Store, StoreError, WriteOutcome};

fn result(agent: &str, seq: u64, check: &str, minute: i64) -> ResultRecord {
    let started_at: Timestamp =
        "2026-02-01T00:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minute);
    serde_json::from_value(serde_json::json!({
        "check_id": check, "region": "eu-west", "agent_id": agent, "seq": seq,
        "started_at": started_at.to_string(), "ok": !seq.is_multiple_of(5), "duration_ms": 9.75,
        "http": { "status": 200, "final_url": "https://api.acme.example/" },
    }))
    .unwrap()
}

#[tokio::test]
async fn writes_are_idempotent_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/slaprobe.db");
    let store = Store::open_sqlite(&path).unwrap();
    let batch: Vec<ResultRecord> = (1..=100).map(|seq| result("agent-1", seq, "acme-api", seq as i64)).collect();
    assert_eq!(
        store.write_results(batch.clone()).await.unwrap(),
        WriteOutcome { inserted: 100, ..WriteOutcome::default() }
    );
    assert_eq!(
        store.write_results(batch[50..].to_vec()).await.unwrap(),
        WriteOutcome { duplicates: 50, ..WriteOutcome::default() }
    );
    drop(store);

    let store = Store::open_sqlite(&path).unwrap();
    let from: Timestamp = "2026-02-01T00:10:00Z".parse().unwrap();
    let to: Timestamp = "2026-02-01T00:20:00Z".parse().unwrap();
    let read = store.results_between(&["acme-api".to_owned()], from, to).await.unwrap();
    assert_eq!(read, batch[9..19].to_vec(), "exact records back, in time order, [from, to)");
    assert!(store.results_between(&["other".to_owned()], from, to).await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_writers_are_grouped_and_all_answered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let mut tasks = Vec::new();
    for agent in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut inserted = 0;
            for chunk in 0..10u64 {
                let batch = (0..50)
                    .map(|n| result(&format!("agent-{agent}"), chunk * 50 + n + 1, "acme-api", n as i64))
                    .collect();
                inserted += store.write_results(batch).await.unwrap().inserted;
            }
            inserted
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, 8 * 500);
    let all = store
        .results_between(&["acme-api".to_owned()], Timestamp::UNIX_EPOCH, "2030-01-01T00:00:00Z".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(all.len(), 4000);
}

#[tokio::test]
async fn results_without_identity_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let mut anonymous = result("agent-1", 2, "acme-api", 1);
    anonymous.seq = None;
    let error = store.write_results(vec![result("agent-1", 1, "acme-api", 0), anonymous]).await.unwrap_err();
    assert!(matches!(error, StoreError::BadResult { index: 1, .. }), "{error}");
    let stored = store
        .results_between(&["acme-api".to_owned()], Timestamp::UNIX_EPOCH, "2030-01-01T00:00:00Z".parse().unwrap())
        .await
        .unwrap();
    assert!(stored.is_empty(), "nothing of a refused batch is stored");
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slaprobe.db");
    std::fs::write(&path, "this is not SQLite").unwrap();
    let error = Store::open_sqlite(&path).err().expect("refused");
    assert!(error.to_string().contains("slaprobe.db") && error.to_string().contains("not a database"), "{error}");
}

#[test]
fn a_newer_schema_is_refused_rather_than_touched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slaprobe.db");
    drop(Store::open_sqlite(&path).unwrap());
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let error = Store::open_sqlite(&path).err().expect("refused");
    assert!(error.to_string().contains("schema version 99 is newer"), "{error}");
}

#[tokio::test]
async fn a_version_1_database_is_migrated_with_its_results_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let record = result("agent-1", 1, "acme-api", 3);
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.execute_batch(super::MIGRATIONS[0]).unwrap();
        connection.pragma_update(None, "user_version", 1).unwrap();
        let encoded = prost::Message::encode_to_vec(&slaprobe_proto::v1::Result::from(&record));
        connection
            .execute(
                "INSERT INTO results VALUES ('agent-1', 1, 'acme-api', 'eu-west', ?1, 1, ?2)",
                rusqlite::params![i64::try_from(record.started_at.as_nanosecond()).unwrap(), encoded],
            )
            .unwrap();
    }
    let store = Store::open_sqlite(&path).unwrap();
    let far: Timestamp = "2100-01-01T00:00:00Z".parse().unwrap();
    let read = store.results_between(&["acme-api".to_owned()], Timestamp::UNIX_EPOCH, far).await.unwrap();
    assert_eq!(read, [record]);
    assert!(store.flagged_results("agent-1").await.unwrap().is_empty(), "old results carry no flags");
    assert!(store.agents().await.unwrap().is_empty() && store.gaps().await.unwrap().is_empty());
}

#[tokio::test]
async fn pages_follow_time_then_agent_then_seq_without_gaps_or_repeats() {
    use crate::store::{ResultPosition, ResultQuery};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    // Two agents probing at the same minutes, plus another check that must not show up.
    let mut batch: Vec<ResultRecord> = Vec::new();
    for minute in 0..25 {
        batch.push(result("agent-a.1", minute as u64 + 1, "acme-api", minute));
        batch.push(result("agent-b", minute as u64 + 1, "acme-api", minute));
        batch.push(result("agent-b", minute as u64 + 1001, "other", minute));
    }
    store.write_results(batch.clone()).await.unwrap();
    let mut query = ResultQuery {
        check_id: "acme-api".to_owned(),
        region: None,
        from: "2026-02-01T00:00:00Z".parse().unwrap(),
        to: "2026-02-01T00:20:00Z".parse().unwrap(),
        after: None,
        limit: 7,
    };
    let mut seen = Vec::new();
    loop {
        let page = store.results_page(query.clone()).await.unwrap();
        assert!(page.len() <= 7);
        let Some(last) = page.last() else { break };
        query.after = Some(last.position.to_string().parse().unwrap());
        seen.extend(page.into_iter().map(|stored| stored.record));
    }
    let expected: Vec<ResultRecord> =
        batch.iter().filter(|record| record.check_id == "acme-api" && record.seq.unwrap() <= 20).cloned().collect();
    assert_eq!(seen, expected, "40 results, a-then-b within each minute, each once");

    query.region = Some("us-east".to_owned());
    query.after = None;
    assert!(store.results_page(query).await.unwrap().is_empty(), "region filter");
    assert!("12.x.agent".parse::<ResultPosition>().is_err());
    assert!("nonsense".parse::<ResultPosition>().is_err());
}
