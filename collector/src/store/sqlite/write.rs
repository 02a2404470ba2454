//! One transaction of the writer: every waiting write, applied in order, committed once.

use rusqlite::{Connection, Transaction, params};
use slaprobe_proto::ResultRecord;
use slaprobe_proto::evidence::Chain;

use super::{alerts, evidence, ledger, periods};
use crate::store::WriteOutcome;
use crate::store::cluster::{self, ClusterWrite};
use crate::store::columns::{nanos, seq_column, stored_record};
use crate::store::enrolments::{self, EnrolmentWrite};
use crate::store::faults::{self, FaultRows};
use crate::store::records::{
    AgentStatus, ClockReading, DeliveryRecord, GapReport, IngestBatch, MINUTE_NANOS, PRUNE_BATCH, ResultFlags,
    RollupWindow, Write,
};

/// Applies `writes` in one transaction; one outcome per write, in order.
pub fn commit<'a>(
    connection: &mut Connection,
    writes: impl Iterator<Item = &'a Write>,
) -> rusqlite::Result<Vec<WriteOutcome>> {
    let transaction = connection.transaction()?;
    let mut outcomes = Vec::new();
    for write in writes {
        outcomes.push(match write {
            Write::Results(results) => insert_results(&transaction, results, &[], None)?,
            Write::Ingested(batch) => ingest(&transaction, batch)?,
            Write::Agent(status) => upsert_agent(&transaction, status).map(|()| WriteOutcome::default())?,
            Write::Clock(agent_id, reading) => {
                update_clock(&transaction, agent_id, reading).map(|()| WriteOutcome::default())?
            }
            Write::Gap(gap) => upsert_gap(&transaction, gap).map(|()| WriteOutcome::default())?,
            Write::AgentKey(agent_id, key, pinned) => {
                changed(evidence::record_key(&transaction, agent_id, key, *pinned)?)
            }
            Write::Delivery(delivery) => insert_delivery(&transaction, delivery).map(|()| WriteOutcome::default())?,
            Write::Alert(alert) => changed(alerts::upsert(&transaction, alert)?),
            Write::AlertChange(change) => changed(alerts::change(&transaction, change)?),
            Write::Rearm(id) => changed(alerts::rearm(&transaction, id)?),
            Write::Lease(claim) => changed(alerts::claim_lease(&transaction, claim)?),
            Write::ReleaseLease(name, holder) => changed(
                transaction
                    .prepare_cached("DELETE FROM leases WHERE name = ?1 AND holder = ?2")?
                    .execute(params![name, holder])? as u64,
            ),
            Write::Prune(cutoff) => changed(prune(&transaction, *cutoff)?),
            Write::Rollup(window) => changed(rollup(&transaction, window)?),
            Write::PruneRollups(cutoff) => changed(
                transaction
                    .prepare_cached("DELETE FROM result_rollups WHERE minute_ns < ?1")?
                    .execute(params![nanos(*cutoff)])? as u64,
            ),
            Write::Ledger(step) => changed(ledger::write(&transaction, step)?),
            Write::ClearMarks(ids) => changed(ledger::clear_marks(&transaction, ids)?),
            Write::PruneLedger(cutoff) => changed(
                transaction
                    .prepare_cached("DELETE FROM ledger_slices WHERE end_ns < ?1")?
                    .execute(params![nanos(*cutoff)])? as u64,
            ),
            Write::Revision(row) => changed(periods::insert_revision(&transaction, row)?),
            Write::Claim(row) => changed(periods::write_claim(&transaction, row)?),
            Write::ReportDelivery(step) => changed(periods::delivery_step(&transaction, step)?),
            Write::Cluster(step) => changed(cluster(&transaction, step)?),
            Write::Enrolment(step) => changed(enrolment(&transaction, step)?),
            Write::StatusPage(row) => changed(
                transaction
                    .prepare_cached(
                        "INSERT INTO status_pages (url, record) VALUES (?1, ?2)
                         ON CONFLICT (url) DO UPDATE SET record = excluded.record",
                    )?
                    .execute(params![row.url, row.record])? as u64,
            ),
            Write::Health(row) => changed(
                transaction
                    .prepare_cached(
                        "INSERT INTO agent_health (agent_id, at_ns, record) VALUES (?1, ?2, ?3)
                         ON CONFLICT (agent_id, at_ns) DO UPDATE SET record = excluded.record",
                    )?
                    .execute(params![row.agent_id, row.at_ns, row.record])? as u64,
            ),
            Write::Faults(judged) => changed(write_faults(&transaction, judged)?),
        });
    }
    transaction.commit()?;
    Ok(outcomes)
}

fn changed(rows: u64) -> WriteOutcome {
    WriteOutcome { changed: rows, ..WriteOutcome::default() }
}

/// Deletes up to [`PRUNE_BATCH`] results that started before `cutoff`.
fn prune(transaction: &Transaction, cutoff: jiff::Timestamp) -> rusqlite::Result<u64> {
    // The agents' history of themselves goes with the results it speaks for.
    transaction.prepare_cached("DELETE FROM agent_health WHERE at_ns < ?1")?.execute(params![nanos(cutoff)])?;
    transaction.prepare_cached(&faults::PRUNE.replace('$', "?"))?.execute(params![nanos(cutoff)])?;
    let deleted = transaction
        .prepare_cached(
            "DELETE FROM results WHERE (agent_id, seq) IN
             (SELECT agent_id, seq FROM results WHERE started_at_ns < ?1 LIMIT ?2)",
        )?
        .execute(params![nanos(cutoff), i64::try_from(PRUNE_BATCH).unwrap_or(i64::MAX)])?;
    Ok(deleted as u64)
}

/// Replaces the faults of the judged spans, marks them when they changed and moves the progress.
fn write_faults(transaction: &Transaction, judged: &FaultRows) -> rusqlite::Result<u64> {
    let statement = |sql: &str| transaction.prepare_cached(&sql.replace('$', "?"));
    let mut written = statement(faults::REPLACE)?.execute(params![judged.from_ns, judged.to_ns])? as u64;
    let mut insert = statement(faults::INSERT)?;
    for (start_ns, agent_id, end_ns, record) in &judged.rows {
        written += insert.execute(params![start_ns, agent_id, end_ns, record])? as u64;
    }
    if let Some((check, from, to)) = judged.mark {
        written += statement(faults::MARK)?.execute(params![check, from, to])? as u64;
    }
    if let Some((rule, from, until)) = &judged.progress {
        written += statement(faults::PROGRESS)?.execute(params![rule, from, until])? as u64;
    }
    Ok(written)
}

/// Recomputes the rollups of the window's minutes from the results there (each check through its index).
fn rollup(transaction: &Transaction, window: &RollupWindow) -> rusqlite::Result<u64> {
    let from = nanos(window.from).div_euclid(MINUTE_NANOS) * MINUTE_NANOS;
    let mut statement = transaction.prepare_cached(
        "INSERT INTO result_rollups (check_id, region, minute_ns, total, failed)
         SELECT check_id, region, (started_at_ns / ?4) * ?4, count(*), sum(1 - ok) FROM results
         WHERE check_id = ?1 AND started_at_ns >= ?2 AND started_at_ns < ?3 GROUP BY 1, 2, 3
         ON CONFLICT (check_id, minute_ns, region) DO UPDATE SET total = excluded.total, failed = excluded.failed",
    )?;
    let mut written = 0;
    for check in &window.checks {
        written += statement.execute(params![check, from, nanos(window.to), MINUTE_NANOS])? as u64;
    }
    Ok(written)
}

/// Inserts `results` with the chain values they arrived with (`chains`, in the same order; missing ones are none)
/// and received at `received_at` (when they came from an agent), ignoring those already stored.
fn insert_results(
    transaction: &Transaction,
    results: &[(ResultRecord, ResultFlags)],
    chains: &[Option<Chain>],
    received_at: Option<jiff::Timestamp>,
) -> rusqlite::Result<WriteOutcome> {
    let mut insert = transaction.prepare_cached(
        "INSERT OR IGNORE INTO results (agent_id, seq, check_id, region, started_at_ns, ok, record, flags,
                                        received_at_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut outcome = WriteOutcome::default();
    for (index, (result, flags)) in results.iter().enumerate() {
        let changed = insert.execute(params![
            result.agent_id.as_deref().unwrap_or_default(),
            seq_column(result.seq.unwrap_or_default()),
            result.check_id,
            result.region,
            nanos(result.started_at),
            result.ok,
            stored_record(result, chains.get(index).copied().flatten()),
            flags.bits(),
            received_at.map(nanos)
        ])?;
        if changed == 1 {
            outcome.inserted += 1;
        } else {
            outcome.duplicates += 1;
        }
    }
    ledger::mark(transaction, results, received_at)?;
    Ok(outcome)
}

fn ingest(transaction: &Transaction, batch: &IngestBatch) -> rusqlite::Result<WriteOutcome> {
    let outcome = insert_results(transaction, &batch.results, &batch.chains, Some(batch.received_at))?;
    evidence::insert_checkpoint(transaction, batch)?;
    let mut refuse = transaction.prepare_cached(
        "INSERT OR IGNORE INTO refused_results (agent_id, seq, reason, received_at_ns, record)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for refusal in &batch.refused {
        refuse.execute(params![
            batch.agent_id,
            seq_column(refusal.seq),
            refusal.reason,
            nanos(batch.received_at),
            refusal.record
        ])?;
    }
    transaction
        .prepare_cached(
            "UPDATE agents SET last_seen_ns = max(last_seen_ns, ?2), spool_backlog = coalesce(?3, spool_backlog)
             WHERE agent_id = ?1",
        )?
        .execute(params![batch.agent_id, nanos(batch.received_at), batch.spool_backlog.map(seq_column)])?;
    Ok(outcome)
}

/// A replica's heartbeat, its leaving, or the end of a session it held; the rows changed.
fn cluster(transaction: &Transaction, step: &ClusterWrite) -> rusqlite::Result<u64> {
    let run = |statement: &str, values: &[&dyn rusqlite::ToSql]| {
        transaction.prepare_cached(&statement.replace('$', "?"))?.execute(values).map(|rows| rows as u64)
    };
    Ok(match step {
        ClusterWrite::Beat(name, at, record, forget) => {
            run(cluster::FORGET, &[forget])?;
            run(cluster::BEAT, &[name, at, record])?
        }
        ClusterWrite::Leave(name) => run(cluster::CLEAR_SESSIONS, &[name])? + run(cluster::LEAVE, &[name])?,
        ClusterWrite::SessionEnded(agent_id, collector, opened) => {
            run(cluster::SESSION_ENDED, &[agent_id, collector, opened])?
        }
    })
}

fn enrolment(transaction: &Transaction, step: &EnrolmentWrite) -> rusqlite::Result<u64> {
    let (statement, values) = match step {
        EnrolmentWrite::Insert(values) => (enrolments::INSERT, values),
        EnrolmentWrite::Replace(values) => (enrolments::REPLACE, values),
    };
    let rows = transaction.prepare_cached(&statement.replace('$', "?"))?.execute(rusqlite::params_from_iter(values))?;
    Ok(rows as u64)
}

fn upsert_agent(transaction: &Transaction, status: &AgentStatus) -> rusqlite::Result<()> {
    transaction
        .prepare_cached(
            "INSERT INTO agents (agent_id, region, version, connected_at_ns, last_seen_ns, spool_backlog,
                 session_collector)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)
             ON CONFLICT (agent_id) DO UPDATE SET region = excluded.region, version = excluded.version,
                 connected_at_ns = excluded.connected_at_ns, last_seen_ns = max(last_seen_ns, excluded.last_seen_ns),
                 spool_backlog = excluded.spool_backlog, session_collector = excluded.session_collector",
        )?
        .execute(params![
            status.agent_id,
            status.region,
            status.version,
            nanos(status.connected_at),
            seq_column(status.spool_backlog),
            status.collector
        ])?;
    Ok(())
}

fn update_clock(transaction: &Transaction, agent_id: &str, reading: &ClockReading) -> rusqlite::Result<()> {
    transaction
        .prepare_cached(
            "UPDATE agents SET clock_offset_ns = ?2, clock_round_trip_ns = ?3, clock_measured_at_ns = ?4
             WHERE agent_id = ?1",
        )?
        .execute(params![agent_id, reading.offset_nanos, reading.round_trip_nanos, nanos(reading.measured_at)])?;
    Ok(())
}

/// Records the parts of `gap` the store holds nothing of: results the agent sent before its spool dropped them
/// (stored, or refused with a reason) were delivered, not lost. A re-reported gap merges with its earlier record.
fn upsert_gap(transaction: &Transaction, gap: &GapReport) -> rusqlite::Result<()> {
    let (first, last) = (seq_column(gap.first_seq), seq_column(gap.last_seq));
    let mut received = transaction.prepare_cached(
        "SELECT seq FROM results WHERE agent_id = ?1 AND seq BETWEEN ?2 AND ?3
         UNION SELECT seq FROM refused_results WHERE agent_id = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq",
    )?;
    let delivered = received.query_map(params![gap.agent_id, first, last], |row| row.get::<_, i64>(0))?;
    let mut missing = Vec::new();
    let mut next = first;
    for seq in delivered {
        let seq = seq?;
        if seq > next {
            missing.push((next, seq - 1));
        }
        next = seq.saturating_add(1);
    }
    if next <= last {
        missing.push((next, last));
    }
    let mut insert = transaction.prepare_cached(
        "INSERT INTO spool_gaps (agent_id, first_seq, last_seq, reason, reported_at_ns) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (agent_id, first_seq) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
    )?;
    for (from, to) in missing {
        insert.execute(params![gap.agent_id, from, to, gap.reason, nanos(gap.reported_at)])?;
    }
    evidence::insert_gap_statement(transaction, gap)
}

fn insert_delivery(transaction: &Transaction, delivery: &DeliveryRecord) -> rusqlite::Result<()> {
    let attempts = serde_json::to_string(&delivery.attempts)
        .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
    transaction
        .prepare_cached(
            "INSERT INTO deliveries (sent_at_ns, channel, state, kind, contract, delivered, attempts, alert_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            nanos(delivery.sent_at),
            delivery.channel,
            delivery.state,
            delivery.kind,
            delivery.contract,
            delivery.delivered,
            attempts,
            delivery.alert_id
        ])?;
    Ok(())
}
