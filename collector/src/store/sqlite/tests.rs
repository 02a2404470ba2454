//! SQLite-only store tests on real database files (the suite both engines pass is `store::tests`).

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;

use crate::store::Store;

pub(crate) fn result(agent: &str, seq: u64, check: &str, minute: i64) -> ResultRecord {
    let started_at: Timestamp =
        "2026-02-01T00:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minute);
    serde_json::from_value(serde_json::json!({
        "check_id": check, "region": "eu-west", "agent_id": agent, "seq": seq,
        "started_at": started_at.to_string(), "ok": !seq.is_multiple_of(5), "duration_ms": 9.75,
        "http": { "status": 200, "final_url": "https://api.acme.example/" },
    }))
    .unwrap()
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
async fn writes_are_refused_while_the_database_file_is_gone_and_resume_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slaprobe.db");
    let store = Store::open_sqlite(&path).unwrap();
    store.write_results(vec![result("a", 1, "api", 0)]).await.unwrap();

    // Removed (here: moved away): the open handle would still take writes, into a file nobody will read again.
    let away = dir.path().join("moved.db");
    std::fs::rename(&path, &away).unwrap();
    let error = store.write_results(vec![result("a", 2, "api", 1)]).await.expect_err("refused");
    assert!(error.to_string().contains("removed or replaced; nothing was written"), "{error}");
    assert!(store.agents().await.is_err(), "reads fail too: there is no database at the path");

    // Replaced by another file: refused as well.
    std::fs::write(&path, b"").unwrap();
    assert!(store.write_results(vec![result("a", 2, "api", 1)]).await.is_err());
    std::fs::remove_file(&path).unwrap();

    // Back in place: writes resume, and nothing refused was written.
    std::fs::rename(&away, &path).unwrap();
    store.write_results(vec![result("a", 3, "api", 2)]).await.unwrap();
    let far = "2100-01-01T00:00:00Z".parse().unwrap();
    let stored = store.results_between(&["api".to_owned()], Timestamp::UNIX_EPOCH, far).await.unwrap();
    assert_eq!(stored.iter().map(|record| record.seq.unwrap()).collect::<Vec<_>>(), [1, 3]);
}
