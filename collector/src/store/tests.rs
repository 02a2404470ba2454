//! The store suite: every test runs on SQLite and on PostgreSQL (see [`super::test_engines`]), so both engines
//! keep the same promises: idempotent writes, reads in order, refusals whole, gaps recorded for what is missing
//! only, alerts updated only while firing, leases held by one holder at a time, agent keys kept until pinned.

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;

use super::sqlite::tests::result;
use super::test_engines::engines;
use super::{
    AgentStatus, AlertAction, AlertChange, AlertRecord, AlertState, GapReport, LeaseClaim, ResultPosition, ResultQuery,
    StoreError, WriteOutcome,
};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn everything() -> (Timestamp, Timestamp) {
    (Timestamp::UNIX_EPOCH, at("2100-01-01T00:00:00Z"))
}

#[tokio::test]
async fn writes_are_idempotent_and_survive_reopening() {
    for engine in engines().await {
        let batch: Vec<ResultRecord> = (1..=100).map(|seq| result("agent-1", seq, "acme-api", seq as i64)).collect();
        let store = &engine.store;
        let outcome = store.write_results(batch.clone()).await.unwrap();
        assert_eq!(outcome, WriteOutcome { inserted: 100, ..WriteOutcome::default() }, "{}", engine.name);
        let again = store.write_results(batch[50..].to_vec()).await.unwrap();
        assert_eq!(again, WriteOutcome { duplicates: 50, ..WriteOutcome::default() }, "{}", engine.name);
        let reopened = engine.reopen().await;
        let (from, to) = (at("2026-02-01T00:10:00Z"), at("2026-02-01T00:20:00Z"));
        let read = reopened.results_between(&["acme-api".to_owned()], from, to).await.unwrap();
        assert_eq!(read, batch[9..19].to_vec(), "{}: exact records back, in time order, [from, to)", engine.name);
        assert!(reopened.results_between(&["other".to_owned()], from, to).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn results_in_several_months_land_and_read_back() {
    for engine in engines().await {
        let mut batch = Vec::new();
        for (index, month) in
            ["2025-12-31T23:59:59Z", "2026-01-01T00:00:00Z", "2026-03-15T12:00:00Z"].iter().enumerate()
        {
            let mut record = result("agent-1", index as u64 + 1, "acme-api", 0);
            record.started_at = at(month);
            batch.push(record);
        }
        engine.store.write_results(batch.clone()).await.unwrap();
        let (from, to) = everything();
        let read = engine.store.results_between(&["acme-api".to_owned()], from, to).await.unwrap();
        assert_eq!(read, batch, "{}", engine.name);
    }
}

#[tokio::test]
async fn concurrent_writers_are_all_answered() {
    for engine in engines().await {
        let mut tasks = Vec::new();
        for agent in 0..8 {
            let store = engine.store.clone();
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
        assert_eq!(total, 8 * 500, "{}", engine.name);
        let (from, to) = everything();
        assert_eq!(engine.store.results_between(&["acme-api".to_owned()], from, to).await.unwrap().len(), 4000);
    }
}

#[tokio::test]
async fn results_without_identity_are_refused_whole() {
    for engine in engines().await {
        let mut anonymous = result("agent-1", 2, "acme-api", 1);
        anonymous.seq = None;
        let error = engine.store.write_results(vec![result("agent-1", 1, "acme-api", 0), anonymous]).await.unwrap_err();
        assert!(matches!(error, StoreError::BadResult { index: 1, .. }), "{}: {error}", engine.name);
        let (from, to) = everything();
        let stored = engine.store.results_between(&["acme-api".to_owned()], from, to).await.unwrap();
        assert!(stored.is_empty(), "{}: nothing of a refused batch is stored", engine.name);
    }
}

#[tokio::test]
async fn pages_follow_time_then_agent_then_seq_without_gaps_or_repeats() {
    for engine in engines().await {
        let mut batch: Vec<ResultRecord> = Vec::new();
        for minute in 0..25 {
            batch.push(result("agent-a.1", minute as u64 + 1, "acme-api", minute));
            batch.push(result("agent-b", minute as u64 + 1, "acme-api", minute));
            batch.push(result("agent-b", minute as u64 + 1001, "other", minute));
        }
        engine.store.write_results(batch.clone()).await.unwrap();
        let mut query = ResultQuery {
            check_id: "acme-api".to_owned(),
            region: None,
            from: at("2026-02-01T00:00:00Z"),
            to: at("2026-02-01T00:20:00Z"),
            after: None,
            limit: 7,
        };
        let mut seen = Vec::new();
        loop {
            let page = engine.store.results_page(query.clone()).await.unwrap();
            assert!(page.len() <= 7);
            let Some(last) = page.last() else { break };
            query.after = Some(last.position.to_string().parse::<ResultPosition>().unwrap());
            seen.extend(page.into_iter().map(|stored| stored.record));
        }
        let expected: Vec<ResultRecord> =
            batch.iter().filter(|record| record.check_id == "acme-api" && record.seq.unwrap() <= 20).cloned().collect();
        assert_eq!(seen, expected, "{}: 40 results, a-then-b within each minute, each once", engine.name);
        query.after = None;
        query.region = Some("nowhere".to_owned());
        assert!(engine.store.results_page(query).await.unwrap().is_empty());
        let latest = engine.store.latest_per_region("acme-api", at("2026-02-01T00:00:00Z")).await.unwrap();
        assert_eq!(latest.iter().map(|record| record.started_at).collect::<Vec<_>>(), [at("2026-02-01T00:24:00Z")]);
    }
}

#[tokio::test]
async fn registry_and_gaps_keep_only_what_is_missing() {
    for engine in engines().await {
        let store = &engine.store;
        let connected_at = at("2026-02-01T00:00:00Z");
        let status = AgentStatus {
            agent_id: "agent-1".to_owned(),
            region: "eu-west".to_owned(),
            version: "1.2.3".to_owned(),
            connected_at,
            spool_backlog: 7,
            collector: "collector-a:1".to_owned(),
        };
        store.record_agent(status).await.unwrap();
        store
            .write_results((1..=3).chain(8..=9).map(|seq| result("agent-1", seq, "acme-api", seq as i64)).collect())
            .await
            .unwrap();
        let gap = |first, last| GapReport {
            agent_id: "agent-1".to_owned(),
            first_seq: first,
            last_seq: last,
            reason: "spool full".to_owned(),
            statement: None,
            reported_at: connected_at,
        };
        store.record_gap(gap(2, 10)).await.unwrap();
        store.record_gap(gap(2, 10)).await.unwrap();
        let gaps: Vec<(u64, u64)> =
            store.gaps().await.unwrap().iter().map(|gap| (gap.first_seq, gap.last_seq)).collect();
        assert_eq!(gaps, [(4, 7), (10, 10)], "{}: only what the store does not hold, once", engine.name);
        let agents = store.agents().await.unwrap();
        assert_eq!((agents[0].version.as_str(), agents[0].spool_backlog), ("1.2.3", 7), "{}", engine.name);
    }
}

fn alert(id: &str, fired: &str) -> AlertRecord {
    AlertRecord {
        id: id.to_owned(),
        contract: "acme".to_owned(),
        kind: "down".to_owned(),
        policy: "default".to_owned(),
        state: AlertState::Firing,
        started_at: at(fired),
        fired_at: at(fired),
        resolved_at: None,
        resolved_by: None,
        acknowledged_at: None,
        acknowledged_by: None,
        levels_notified: 0,
        last_notified_at: None,
        regions: vec!["eu".to_owned()],
        summary: "down in eu".to_owned(),
        rearmed: false,
    }
}

#[tokio::test]
async fn alerts_change_only_while_firing_and_leases_have_one_holder() {
    for engine in engines().await {
        let store = &engine.store;
        let first = alert("acme.down.1", "2026-02-01T00:00:00Z");
        assert!(store.record_alert(first.clone()).await.unwrap());
        let acknowledge = AlertChange {
            id: first.id.clone(),
            action: AlertAction::Acknowledge,
            by: "alice".to_owned(),
            at: at("2026-02-01T00:01:00Z"),
        };
        assert!(store.change_alert(acknowledge.clone()).await.unwrap());
        assert!(!store.change_alert(acknowledge).await.unwrap(), "{}: acknowledged once", engine.name);
        let resolve = AlertChange {
            id: first.id.clone(),
            action: AlertAction::Resolve,
            by: "bob".to_owned(),
            at: at("2026-02-01T00:02:00Z"),
        };
        assert!(store.change_alert(resolve).await.unwrap());
        let mut stale = first.clone();
        stale.levels_notified = 2;
        assert!(!store.record_alert(stale).await.unwrap(), "{}: a resolved alert is not reopened", engine.name);
        store.rearm_alert(&first.id).await.unwrap();
        let stored = store.alert(&first.id).await.unwrap().unwrap();
        assert_eq!(
            (
                stored.state,
                stored.resolved_by.as_deref(),
                stored.acknowledged_by.as_deref(),
                stored.levels_notified,
                stored.rearmed
            ),
            (AlertState::Resolved, Some("bob"), Some("alice"), 0, true),
            "{}",
            engine.name
        );
        let second = alert("acme.down.2", "2026-02-01T01:00:00Z");
        store.record_alert(second.clone()).await.unwrap();
        let latest = store.latest_alerts().await.unwrap();
        assert_eq!(
            latest.iter().map(|alert| alert.id.as_str()).collect::<Vec<_>>(),
            ["acme.down.2"],
            "{}",
            engine.name
        );
        let firing = store.alerts(Some(AlertState::Firing), 10).await.unwrap();
        assert_eq!(firing, [second], "{}", engine.name);
        assert_eq!(store.alerts(None, 10).await.unwrap().len(), 2);

        let claim = |holder: &str, now: &str| LeaseClaim {
            name: "alerting".to_owned(),
            holder: holder.to_owned(),
            now: at(now),
            until: at(now) + SignedDuration::from_secs(10),
        };
        assert!(store.claim_lease(claim("a", "2026-02-01T00:00:00Z")).await.unwrap());
        assert!(!store.claim_lease(claim("b", "2026-02-01T00:00:05Z")).await.unwrap(), "{}: held by a", engine.name);
        assert!(store.claim_lease(claim("a", "2026-02-01T00:00:06Z")).await.unwrap(), "{}: renewed", engine.name);
        assert!(!store.claim_lease(claim("b", "2026-02-01T00:00:15Z")).await.unwrap());
        assert!(store.claim_lease(claim("b", "2026-02-01T00:00:16Z")).await.unwrap(), "{}: lapsed", engine.name);
    }
}

#[tokio::test]
async fn results_past_retention_go_and_the_rest_stay() {
    for engine in engines().await {
        let starts = ["2025-01-10T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-20T00:00:00Z", "2026-03-01T00:00:00Z"];
        let batch: Vec<ResultRecord> = starts
            .iter()
            .enumerate()
            .map(|(index, start)| {
                let mut record = result("agent-1", index as u64 + 1, "acme-api", 0);
                record.started_at = at(start);
                record
            })
            .collect();
        engine.store.write_results(batch.clone()).await.unwrap();
        let deleted = engine.store.prune_results(at("2026-02-15T00:00:00Z")).await.unwrap();
        assert_eq!(deleted.results, 2, "{}: January 2025 whole, and the first half of February", engine.name);
        let partitions = u64::from(engine.name == "postgres");
        assert_eq!(deleted.partitions, partitions, "{}: January 2025 is a partition of its own", engine.name);
        let (from, to) = everything();
        let kept = engine.store.results_between(&["acme-api".to_owned()], from, to).await.unwrap();
        assert_eq!(kept, batch[2..].to_vec(), "{}", engine.name);
        assert_eq!(engine.store.prune_results(at("2026-02-15T00:00:00Z")).await.unwrap().results, 0);
        engine.store.write_results(batch[..1].to_vec()).await.unwrap();
        let back = engine.store.results_between(&["acme-api".to_owned()], from, to).await.unwrap();
        assert_eq!(back.len(), 3, "{}: a dropped month takes results again", engine.name);
    }
}

#[tokio::test]
async fn rollups_count_per_minute_take_late_results_and_outlive_the_results() {
    for engine in engines().await {
        let store = &engine.store;
        // Minutes 0-2, two regions; every fifth sequence number fails (the fixture's rule).
        let mut batch = Vec::new();
        for (seq, (minute, region)) in [(0, "eu"), (0, "us"), (1, "eu"), (1, "eu"), (2, "us")].iter().enumerate() {
            let mut record = result("agent-1", seq as u64 + 1, "acme-api", *minute);
            record.region = (*region).to_owned();
            record.ok = seq != 2;
            batch.push(record);
        }
        store.write_results(batch).await.unwrap();
        let (from, to) = (at("2026-02-01T00:00:30Z"), at("2026-02-01T01:00:00Z"));
        store.roll_up(vec!["acme-api".to_owned(), "other".to_owned()], from, to).await.unwrap();
        let counts = |rollups: Vec<super::Rollup>| -> Vec<(String, String, u64, u64)> {
            rollups
                .into_iter()
                .map(|rollup| (rollup.minute.to_string(), rollup.region, rollup.total, rollup.failed))
                .collect()
        };
        let read = |region: Option<&'static str>| store.rollups("acme-api", region, at("2026-02-01T00:00:00Z"), to);
        let expected = |late: u64| {
            vec![
                ("2026-02-01T00:00:00Z".to_owned(), "eu".to_owned(), 1, 0),
                ("2026-02-01T00:00:00Z".to_owned(), "us".to_owned(), 1, 0),
                ("2026-02-01T00:01:00Z".to_owned(), "eu".to_owned(), 2 + late, 1 + late),
                ("2026-02-01T00:02:00Z".to_owned(), "us".to_owned(), 1, 0),
            ]
        };
        assert_eq!(counts(read(None).await.unwrap()), expected(0), "{}: from rounds down to its minute", engine.name);
        // A late result (a spool that was away) is counted when the window is rolled up again.
        let mut late = result("agent-2", 1, "acme-api", 1);
        late.region = "eu".to_owned();
        late.ok = false;
        store.write_results(vec![late]).await.unwrap();
        store.roll_up(vec!["acme-api".to_owned()], from, to).await.unwrap();
        assert_eq!(counts(read(None).await.unwrap()), expected(1), "{}", engine.name);
        assert_eq!(read(Some("us")).await.unwrap().len(), 2);
        // The results go; the rollups stay until their own cutoff.
        store.prune_results(at("2026-03-01T00:00:00Z")).await.unwrap();
        assert_eq!(counts(read(None).await.unwrap()), expected(1), "{}: rollups outlive results", engine.name);
        assert_eq!(store.prune_rollups(at("2026-02-01T00:01:00Z")).await.unwrap(), 2);
        assert_eq!(read(None).await.unwrap().len(), 2, "{}", engine.name);
    }
}

#[tokio::test]
async fn ingested_results_keep_their_arrival_and_late_ones_are_found() {
    for engine in engines().await {
        let received_at = at("2026-03-02T08:00:00Z");
        let on_time = result("agent-1", 1, "acme-api", 0);
        let late = result("agent-1", 2, "acme-api", 1);
        let results = vec![(on_time, super::ResultFlags::NONE), (late, super::ResultFlags::LATE)];
        let batch = super::IngestBatch::of_results("agent-1", received_at, results);
        engine.store.write_ingested(batch).await.unwrap();
        engine.store.write_results(vec![result("agent-1", 3, "acme-api", 2)]).await.unwrap();
        let (from, to) = everything();
        let flagged = engine.store.flagged_results_between(&["acme-api".to_owned()], from, to).await.unwrap();
        let flags: Vec<(Option<u64>, super::ResultFlags)> =
            flagged.into_iter().map(|(result, flags)| (result.seq, flags)).collect();
        let expected = [
            (Some(1), super::ResultFlags::NONE),
            (Some(2), super::ResultFlags::LATE),
            (Some(3), super::ResultFlags::NONE),
        ];
        assert_eq!(flags, expected, "{}", engine.name);
        let query = ResultQuery { check_id: "acme-api".to_owned(), region: None, from, to, after: None, limit: 10 };
        let page = engine.store.results_page(query).await.unwrap();
        let arrivals: Vec<Option<Timestamp>> = page.iter().map(|stored| stored.received_at).collect();
        assert_eq!(
            arrivals,
            [Some(received_at), Some(received_at), None],
            "{}: imported results have none",
            engine.name
        );
        assert_eq!(page[1].flags.names(), ["late"], "{}", engine.name);
    }
}

#[tokio::test]
async fn ledger_steps_replace_their_slices_marks_clear_and_old_rows_go() {
    for engine in engines().await {
        let store = &engine.store;
        let minute = |index: i64| at("2026-02-01T00:00:00Z") + SignedDuration::from_mins(index);
        let row = |index: i64, cells: &[u8]| super::LedgerSlice {
            start: minute(index),
            end: minute(index + 1),
            cells: cells.to_vec(),
            latency: [cells, b"-latency"].concat(),
        };
        let counts_only = |row: super::LedgerSlice| super::LedgerSlice { latency: Vec::new(), ..row };
        let parts = super::SliceParts::CountsAndLatency;
        let state = |until: i64| super::LedgerState {
            contract: "acme".to_owned(),
            terms_hash: "h".to_owned(),
            rebuilt_from: minute(0),
            settled_until: minute(until),
            monitored_from: Some(minute(0)),
            refolds: 0,
        };
        let step = |after: i64, until: i64, slices: Vec<super::LedgerSlice>| super::LedgerWrite {
            state: state(until),
            reset: false,
            after: minute(after),
            until: minute(until),
            slice: SignedDuration::from_mins(1),
            slices,
        };
        store.write_ledger(step(0, 3, vec![row(0, b"a"), row(1, b"b"), row(2, b"c")])).await.unwrap();
        // Folding minutes 1-2 again: minute 2 had no results any more, minute 1 changed.
        let mut refold = step(1, 3, vec![row(1, b"B")]);
        refold.state.refolds = 1;
        store.write_ledger(refold.clone()).await.unwrap();
        let (from, to) = everything();
        let rows = store.ledger_slices("acme", (from, to), parts).await.unwrap();
        assert_eq!(rows, vec![row(0, b"a"), row(1, b"B")], "{}", engine.name);
        let counts = store.ledger_slices("acme", (from, to), super::SliceParts::Counts).await.unwrap();
        assert_eq!(counts, vec![counts_only(row(0, b"a")), counts_only(row(1, b"B"))], "{}", engine.name);
        assert!(store.ledger_slices("other", (from, to), parts).await.unwrap().is_empty());
        assert_eq!(store.ledger_states().await.unwrap(), vec![refold.state], "{}", engine.name);

        // A result written without an arrival time leaves a mark; clearing it leaves none.
        store.write_results(vec![result("agent-1", 1, "acme-api", 5)]).await.unwrap();
        let marks = store.ledger_marks(10).await.unwrap();
        assert_eq!(marks.len(), 1, "{}", engine.name);
        assert_eq!((marks[0].check_id.as_str(), marks[0].from), ("acme-api", marks[0].to));
        store.clear_ledger_marks(marks.iter().map(|mark| mark.id).collect()).await.unwrap();
        assert!(store.ledger_marks(10).await.unwrap().is_empty(), "{}", engine.name);

        assert_eq!(store.prune_ledger(minute(2)).await.unwrap(), 1, "{}", engine.name);
        assert_eq!(
            store.ledger_slices("acme", (from, to), parts).await.unwrap(),
            vec![row(1, b"B")],
            "{}",
            engine.name
        );
        let mut reset = step(0, 0, Vec::new());
        reset.reset = true;
        store.write_ledger(reset).await.unwrap();
        assert!(
            store.ledger_slices("acme", (from, to), parts).await.unwrap().is_empty(),
            "{}: reset empties",
            engine.name
        );
    }
}

#[tokio::test]
async fn the_first_key_an_agent_presents_stays_until_a_pinned_one_replaces_it() {
    use slaprobe_proto::evidence::PublicKey;
    for engine in engines().await {
        let store = &engine.store;
        let (first, second) = (PublicKey::from_bytes(&[1; 32]).unwrap(), PublicKey::from_bytes(&[2; 32]).unwrap());
        assert_eq!(store.settle_agent_key("agent-1", first, false).await.unwrap(), Some(first), "{}", engine.name);
        assert_eq!(store.settle_agent_key("agent-1", second, false).await.unwrap(), Some(first), "{}", engine.name);
        assert_eq!(store.settle_agent_key("agent-1", second, true).await.unwrap(), Some(second), "{}", engine.name);
        assert_eq!(store.settle_agent_key("agent-2", first, false).await.unwrap(), Some(first), "{}", engine.name);
        let keys = engine.reopen().await.agent_keys().await.unwrap();
        let keys: Vec<_> = keys.into_iter().map(|key| (key.agent_id, key.public_key)).collect();
        assert_eq!(keys, [("agent-1".to_owned(), second), ("agent-2".to_owned(), first)], "{}", engine.name);
    }
}

#[tokio::test]
async fn a_status_page_record_replaces_the_last_and_survives_reopening() {
    use super::status_pages::StatusPageRecord;
    for engine in engines().await {
        let store = &engine.store;
        let url = "https://status.acme.example";
        let unread = store.status_page_read(url).await.unwrap();
        assert!(
            unread.checked_at.is_none()
                && unread.problem.as_deref().is_some_and(|problem| problem.starts_with("not read yet"))
        );
        let notice = slaprobe_sla::vendor::VendorNotice {
            id: "inc-1".to_owned(),
            kind: slaprobe_sla::vendor::NoticeKind::Incident,
            name: "Elevated errors".to_owned(),
            status: "resolved".to_owned(),
            impact: "major".to_owned(),
            start: at("2026-02-10T10:00:00Z"),
            end: None,
            announced_at: at("2026-02-10T10:05:00Z"),
            link: None,
            components: Vec::new(),
        };
        let mut record = StatusPageRecord {
            url: url.to_owned(),
            checked_at: Some(at("2026-02-10T11:00:00Z")),
            attempted_at: at("2026-02-10T11:00:00Z"),
            problem: None,
            failures: 0,
            notices: vec![notice],
        };
        store.put_status_page(&record).await.unwrap();
        (record.problem, record.failures) =
            (Some("/api/v2/incidents.json: HTTP 503 Service Unavailable".to_owned()), 1);
        store.put_status_page(&record).await.unwrap();
        let reopened = engine.reopen().await;
        assert_eq!(reopened.status_page(url).await.unwrap(), Some(record.clone()), "{}", engine.name);
        let read = reopened.status_page_read(url).await.unwrap();
        assert_eq!((read.checked_at, read.problem, read.notices), (record.checked_at, record.problem, record.notices));
    }
}

#[tokio::test]
async fn replicas_beat_hold_sessions_and_leave() {
    use super::IngestBatch;
    use super::cluster::ReplicaRecord;
    for engine in engines().await {
        let store = &engine.store;
        let replica = |name: &str, heartbeat: &str| ReplicaRecord {
            name: name.to_owned(),
            version: "1.0.0".to_owned(),
            started_at: at("2026-02-01T00:00:00Z"),
            heartbeat_at: at(heartbeat),
            config_sha256: "a".repeat(64),
            grpc: "127.0.0.1:7070".to_owned(),
            http: None,
        };
        store.beat(&replica("collector-a:1", "2026-02-01T00:00:10Z")).await.unwrap();
        store.beat(&replica("collector-b:1", "2026-02-01T00:00:10Z")).await.unwrap();
        store.beat(&replica("collector-a:1", "2026-02-02T00:00:20Z")).await.unwrap();
        let names: Vec<String> = store.replicas().await.unwrap().into_iter().map(|replica| replica.name).collect();
        assert_eq!(names, ["collector-a:1"], "{}: b, silent for a day, is forgotten", engine.name);

        let opened = at("2026-02-02T00:00:00Z");
        let session = |collector: &str, connected_at| AgentStatus {
            agent_id: "agent-1".to_owned(),
            region: "eu".to_owned(),
            version: "1.0.0".to_owned(),
            connected_at,
            spool_backlog: 40,
            collector: collector.to_owned(),
        };
        store.record_agent(session("collector-a:1", opened)).await.unwrap();
        let mut batch = IngestBatch::of_results("agent-1", opened, vec![]);
        batch.spool_backlog = Some(7);
        store.write_ingested(batch).await.unwrap();
        let agent = store.agents().await.unwrap().remove(0);
        assert_eq!((agent.session_collector.as_deref(), agent.spool_backlog), (Some("collector-a:1"), 7));
        // The agent moved to b; a's old session ending afterwards leaves b's in place.
        let moved = at("2026-02-02T00:01:00Z");
        store.record_agent(session("collector-b:1", moved)).await.unwrap();
        store.session_ended("agent-1", "collector-a:1", opened).await.unwrap();
        assert_eq!(store.agents().await.unwrap()[0].session_collector.as_deref(), Some("collector-b:1"));
        store.session_ended("agent-1", "collector-b:1", moved).await.unwrap();
        assert_eq!(store.agents().await.unwrap()[0].session_collector, None, "{}", engine.name);
        // A replica leaving ends the sessions it held and takes its row with it.
        store.record_agent(session("collector-a:1", at("2026-02-02T00:02:00Z"))).await.unwrap();
        store.leave_cluster("collector-a:1").await.unwrap();
        assert_eq!(store.agents().await.unwrap()[0].session_collector, None, "{}", engine.name);
        assert!(store.replicas().await.unwrap().is_empty(), "{}", engine.name);
        let claim = LeaseClaim { name: "retention".into(), holder: "collector-b:1".into(), now: opened, until: moved };
        assert!(store.claim_lease(claim).await.unwrap());
        let leases = store.leases().await.unwrap();
        assert_eq!(
            (leases[0].name.as_str(), leases[0].holder.as_str(), leases[0].expires_at),
            ("retention", "collector-b:1", moved)
        );
    }
}

#[tokio::test]
async fn an_enrolled_agent_is_recorded_once_and_decided_on_in_place() {
    use super::enrolments::{EnrolledAgent, EnrolmentState};
    use slaprobe_proto::evidence::PublicKey;
    for engine in engines().await {
        let (store, name) = (&engine.store, engine.name);
        let at = jiff::Timestamp::from_second(1_780_000_000).unwrap();
        let agent = |id: &str, key: u8| EnrolledAgent {
            agent_id: id.to_owned(),
            enrolment: "fleet-eu".to_owned(),
            region: "eu-west".to_owned(),
            state: EnrolmentState::Pending,
            public_key: PublicKey::from_bytes(&[key; 32]).unwrap(),
            first_seen_at: at,
            last_seen_at: at,
            remote: Some("127.0.0.9".parse().unwrap()),
            version: "0.1.0".to_owned(),
            decided_at: None,
            decided_by: None,
        };
        assert_eq!(store.enrol(&agent("node-a", 1)).await.unwrap(), agent("node-a", 1), "{name}");
        assert_eq!(store.enrol(&agent("node-a", 2)).await.unwrap(), agent("node-a", 1), "{name}: the first one stays");
        store.enrol(&agent("node-b", 3)).await.unwrap();
        assert_eq!(store.enrolment_counts("fleet-eu").await.unwrap(), (2, 2), "{name}");
        let mut approved = agent("node-a", 1);
        approved.state = EnrolmentState::Approved;
        approved.decided_by = Some("alice".to_owned());
        assert!(store.put_enrolled_agent(&approved).await.unwrap(), "{name}");
        assert!(!store.put_enrolled_agent(&agent("node-z", 4)).await.unwrap(), "{name}: only agents on record");
        assert_eq!(store.enrolment_counts("fleet-eu").await.unwrap(), (2, 1), "{name}");
        assert_eq!(store.enrolment_counts("fleet-us").await.unwrap(), (0, 0), "{name}");
        let mut revoked = agent("node-b", 3);
        revoked.state = EnrolmentState::Revoked;
        assert!(store.put_enrolled_agent(&revoked).await.unwrap(), "{name}");
        let listed = engine.reopen().await.enrolled_agents().await.unwrap();
        assert_eq!(listed, [approved, revoked.clone()], "{name}");
        assert_eq!(store.revoked_agents().await.unwrap(), [revoked], "{name}");
    }
}
