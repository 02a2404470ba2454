//! Spool tests on real files: replay after reopening, crash recovery, the size cap and acknowledgements.

use std::fs;
use std::io::Write;

use slaprobe_proto::ResultRecord;
use slaprobe_proto::evidence::{Chain, GENESIS, canonical, carried_chain, link};

use super::{Gap, GapCause, Spool, segment::segment_path};

fn record(index: u64) -> ResultRecord {
    serde_json::from_value(serde_json::json!({
        "check_id": "acme-api",
        "region": "eu-west",
        "agent_id": "agent-eu-1",
        "started_at": format!("2026-02-01T00:{:02}:{:02}Z", index / 60 % 60, index % 60),
        "ok": !index.is_multiple_of(7),
        "error": if index.is_multiple_of(7) { Some("connect: connection refused") } else { None },
        "duration_ms": 12.5,
    }))
    .unwrap()
}

fn fill(spool: &mut Spool, count: u64) -> Vec<ResultRecord> {
    (0..count)
        .map(|index| {
            let mut record = record(index);
            spool.append(&mut record).unwrap();
            record
        })
        .collect()
}

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "log"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn records_survive_reopening_with_gap_free_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
    let written = fill(&mut spool, 10);
    assert!(spool.read_after(0, 100, usize::MAX).unwrap().is_empty(), "nothing is handed out before it is durable");
    spool.sync().unwrap();
    drop(spool);

    let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!((spool.next_seq(), spool.backlog()), (11, 10));
    let replayed: Vec<ResultRecord> =
        spool.read_after(0, 100, usize::MAX).unwrap().into_iter().map(|result| result.try_into().unwrap()).collect();
    assert_eq!(replayed, written);
    assert_eq!(replayed.iter().map(|record| record.seq.unwrap()).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
    let more = fill(&mut spool, 1);
    assert_eq!(more[0].seq, Some(11));
    assert_eq!(
        spool.read_after(4, 3, usize::MAX).unwrap().iter().map(|result| result.seq).collect::<Vec<_>>(),
        [5, 6, 7]
    );
}

#[test]
fn acknowledged_segments_are_deleted_and_seqs_continue_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 64 * 1024).unwrap();
    fill(&mut spool, 300);
    spool.sync().unwrap();
    let before = segments(dir.path()).len();
    assert!(before > 2, "small caps make small segments: {before}");
    spool.ack(300).unwrap();
    assert_eq!((segments(dir.path()).len(), spool.backlog()), (1, 0), "only the segment being written remains");
    assert!(spool.read_after(0, 10, usize::MAX).unwrap().is_empty());
    drop(spool);
    let mut spool = Spool::open(dir.path(), 64 * 1024).unwrap();
    assert_eq!((spool.acked(), spool.next_seq()), (300, 301));
    assert!(spool.read_after(0, 10, usize::MAX).unwrap().is_empty(), "acknowledged results are not sent again");
    fill(&mut spool, 1);
    spool.sync().unwrap();
    assert_eq!(spool.read_after(0, 10, usize::MAX).unwrap()[0].seq, 301);
}

#[test]
fn a_torn_tail_is_cut_at_the_last_intact_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
    fill(&mut spool, 5);
    spool.sync().unwrap();
    drop(spool);
    let path = segment_path(dir.path(), 1);
    let length = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(length - 3).unwrap();
    fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"\x05\x00").unwrap();

    let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(spool.next_seq(), 5, "record 5 was torn");
    assert_eq!(spool.read_after(0, 100, usize::MAX).unwrap().len(), 4);
    fill(&mut spool, 1);
    spool.sync().unwrap();
    let seqs: Vec<u64> = spool.read_after(0, 100, usize::MAX).unwrap().iter().map(|result| result.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}

#[test]
fn corruption_inside_an_older_segment_becomes_a_reported_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 64 * 1024).unwrap();
    fill(&mut spool, 300);
    spool.sync().unwrap();
    drop(spool);
    let first = &segments(dir.path())[0];
    let mut bytes = fs::read(first).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(first, bytes).unwrap();

    let mut spool = Spool::open(dir.path(), 64 * 1024).unwrap();
    let gap = spool.gaps()[0];
    assert!(gap.first > 1 && gap.first <= gap.last, "{gap:?}");
    assert_eq!((gap.cause, gap.chain_after), (GapCause::SpoolCorrupt, None), "the lost records' chain is lost too");
    let seqs: Vec<u64> = spool.read_after(0, 1000, usize::MAX).unwrap().iter().map(|result| result.seq).collect();
    assert_eq!(seqs.len() as u64 + (gap.last - gap.first + 1), 300, "every seq is either readable or in the gap");
    assert!(seqs.iter().all(|seq| *seq < gap.first || *seq > gap.last));
}

#[test]
fn over_the_cap_the_oldest_are_dropped_counted_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cap = 64 * 1024;
    let mut spool = Spool::open(dir.path(), cap).unwrap();
    fill(&mut spool, 3000);
    spool.sync().unwrap();
    assert!(spool.bytes() <= cap + cap / 8, "{} bytes on disk for a {cap}-byte cap", spool.bytes());
    let dropped: u64 = spool.gaps().iter().map(|gap| gap.last - gap.first + 1).sum();
    assert_eq!(dropped, spool.dropped_total());
    assert_eq!(spool.gaps()[0].first, 1, "the oldest go first");
    assert_eq!(spool.gaps().len(), 1, "consecutive drops make one gap: {:?}", spool.gaps());
    let kept = spool.read_after(0, 10_000, usize::MAX).unwrap();
    assert_eq!(kept.len() as u64 + dropped, 3000);
    assert_eq!(spool.backlog(), kept.len() as u64);
    let gaps = spool.gaps().to_vec();
    drop(spool);
    let spool = Spool::open(dir.path(), cap).unwrap();
    assert_eq!(spool.gaps(), gaps.as_slice(), "unreported gaps survive a restart");
    let mut spool = spool;
    spool.ack(gaps.last().unwrap().last).unwrap();
    assert!(spool.gaps().is_empty(), "acknowledged past the gaps: reported");
}

#[test]
fn batched_reads_resume_where_they_stopped_across_segments_appends_and_rewinds() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 512 * 1024).unwrap();
    let mut sent_through = 0;
    let mut seen = Vec::new();
    for round in 0..20u64 {
        fill(&mut spool, 97);
        if round % 3 != 0 {
            spool.sync().unwrap();
        }
        if round == 12 {
            // A reconnect: the uplink starts over from the acknowledgement.
            spool.ack(1000).unwrap();
            sent_through = 1000;
            seen.retain(|seq| *seq <= 1000);
        }
        loop {
            let batch = spool.read_after(sent_through, 50, usize::MAX).unwrap();
            let Some(last) = batch.last() else { break };
            sent_through = last.seq;
            seen.extend(batch.iter().map(|result| result.seq));
        }
    }
    assert!(segments(dir.path()).len() >= 2, "the reads crossed segment boundaries");
    spool.sync().unwrap();
    seen.extend(spool.read_after(sent_through, 10_000, usize::MAX).unwrap().iter().map(|result| result.seq));
    assert_eq!(seen, (1..=20 * 97).collect::<Vec<u64>>(), "every record once, in order");
}

#[test]
fn batches_stop_at_their_byte_budget_but_always_carry_one_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
    for index in 0..10 {
        let mut large = record(index);
        large.error = Some("x".repeat(1_000));
        spool.append(&mut large).unwrap();
    }
    spool.sync().unwrap();
    let seqs = |batch: Vec<slaprobe_proto::v1::Result>| batch.iter().map(|result| result.seq).collect::<Vec<_>>();
    assert_eq!(seqs(spool.read_after(0, 100, 2_500).unwrap()), [1, 2, 3], "3 × ~1 KB reach 2,500 bytes");
    assert_eq!(seqs(spool.read_after(3, 100, 10).unwrap()), [4], "one result even when it alone is larger");
    assert_eq!(seqs(spool.read_after(4, 2, usize::MAX).unwrap()), [5, 6], "the count limit still holds");
}

/// Follows the chain over `results` from `previous`, as the collector and a verifier do.
fn follow_chain(mut previous: Chain, results: &[slaprobe_proto::v1::Result]) -> Chain {
    for result in results {
        let record = ResultRecord::try_from(result.clone()).unwrap();
        let expected = link(&previous, &canonical(&record).unwrap());
        assert_eq!(result.chain, expected.to_vec(), "result {} links to the one before", result.seq);
        previous = expected;
    }
    previous
}

#[test]
fn every_result_is_chained_to_the_one_before_across_restarts_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 64 * 1024).unwrap();
    fill(&mut spool, 200);
    spool.sync().unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), 64 * 1024).unwrap();
    fill(&mut spool, 200);
    spool.sync().unwrap();
    assert!(segments(dir.path()).len() > 2, "the chain crossed segments");
    let results = spool.read_after(0, 1000, usize::MAX).unwrap();
    assert_eq!(results.len(), 400);
    follow_chain(GENESIS, &results);

    // Everything acknowledged: the chain still continues from the last result after a restart.
    spool.ack(400).unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), 64 * 1024).unwrap();
    fill(&mut spool, 1);
    spool.sync().unwrap();
    let next = spool.read_after(400, 10, usize::MAX).unwrap();
    follow_chain(carried_chain(&results[399]).unwrap().unwrap(), &next);
}

#[test]
fn a_dropped_range_carries_the_chain_values_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let cap = 64 * 1024;
    let mut spool = Spool::open(dir.path(), cap).unwrap();
    fill(&mut spool, 3000);
    spool.sync().unwrap();
    let gap = spool.gaps()[0];
    assert_eq!((gap.first, gap.cause, gap.chain_before), (1, GapCause::SpoolFull, Some(GENESIS)));
    let kept = spool.read_after(0, 10_000, usize::MAX).unwrap();
    assert_eq!(kept[0].seq, gap.last + 1);
    let after = gap.chain_after.expect("the last dropped result's chain value is known");
    follow_chain(after, &kept);
    drop(spool);
    let spool = Spool::open(dir.path(), cap).unwrap();
    assert_eq!(spool.gaps()[0], gap, "the chain values survive a restart");
}

#[test]
fn a_gaps_file_of_an_agent_older_than_chaining_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("gaps"), "5 9\n").unwrap();
    let spool = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(
        spool.gaps(),
        [Gap { first: 5, last: 9, cause: GapCause::SpoolFull, chain_before: None, chain_after: None }]
    );
    fs::write(dir.path().join("gaps"), "5 9 spool_lost\n").unwrap();
    let error = Spool::open(dir.path(), 1 << 20).unwrap_err().to_string();
    assert!(error.contains("bad line \"5 9 spool_lost\""), "{error}");
}
