//! Each kind of write as one PostgreSQL transaction, with the same effects as the SQLite engine's.

use slaprobe_proto::ResultRecord;
use slaprobe_proto::evidence::Chain;
use tokio_postgres::Transaction;

use super::PostgresStore;
use crate::store::alerts::{AlertAction, AlertChange, AlertRecord, LeaseClaim};
use crate::store::cluster::{self, ClusterWrite};
use crate::store::columns::{nanos, seq_column, stored_record};
use crate::store::enrolments::{self, EnrolmentWrite};
use crate::store::faults::{self, FaultRows};
use crate::store::records::{
    AgentStatus, ClockReading, DeliveryRecord, GapReport, IngestBatch, MINUTE_NANOS, PRUNE_BATCH, ResultFlags,
    RollupWindow, Write,
};
use crate::store::{StoreError, WriteOutcome};

impl PostgresStore {
    /// Performs `write` in one transaction, returning once it is committed.
    pub(crate) async fn write(&self, write: Write) -> Result<WriteOutcome, StoreError> {
        let results: Vec<i64> = match &write {
            Write::Results(results) => results.iter().map(|(result, _)| nanos(result.started_at)).collect(),
            Write::Ingested(batch) => batch.results.iter().map(|(result, _)| nanos(result.started_at)).collect(),
            _ => Vec::new(),
        };
        self.ensure_partitions(results.into_iter()).await?;
        let mut client = self.connection().await?;
        let transaction = client.transaction().await?;
        let outcome = match &write {
            Write::Results(results) => insert_results(&transaction, results, &[], None).await,
            Write::Ingested(batch) => ingest(&transaction, batch).await,
            Write::Agent(status) => upsert_agent(&transaction, status).await,
            Write::Clock(agent_id, reading) => update_clock(&transaction, agent_id, reading).await,
            Write::Gap(gap) => upsert_gap(&transaction, gap).await,
            Write::AgentKey(agent_id, key, pinned) => {
                super::evidence::record_key(&transaction, agent_id, key, *pinned).await.map(changed)
            }
            Write::Delivery(delivery) => insert_delivery(&transaction, delivery).await,
            Write::Alert(alert) => upsert_alert(&transaction, alert).await,
            Write::AlertChange(change) => change_alert(&transaction, change).await,
            Write::Rearm(id) => transaction
                .execute("UPDATE alerts SET rearmed = TRUE WHERE id = $1 AND state = 'resolved'", &[id])
                .await
                .map(changed),
            Write::Lease(claim) => claim_lease(&transaction, claim).await,
            Write::ReleaseLease(name, holder) => transaction
                .execute("DELETE FROM leases WHERE name = $1 AND holder = $2", &[name, holder])
                .await
                .map(changed),
            Write::Rollup(window) => rollup(&transaction, window).await,
            Write::PruneRollups(cutoff) => transaction
                .execute("DELETE FROM result_rollups WHERE minute_ns < $1", &[&nanos(*cutoff)])
                .await
                .map(changed),
            Write::Prune(cutoff) => {
                // The agents' history of themselves goes with the results it speaks for.
                transaction.execute("DELETE FROM agent_health WHERE at_ns < $1", &[&nanos(*cutoff)]).await?;
                transaction.execute(faults::PRUNE, &[&nanos(*cutoff)]).await?;
                transaction
                    .execute(
                        "DELETE FROM results WHERE (agent_id, seq, started_at_ns) IN
                             (SELECT agent_id, seq, started_at_ns FROM results WHERE started_at_ns < $1 LIMIT $2)",
                        &[&nanos(*cutoff), &i64::try_from(PRUNE_BATCH).unwrap_or(i64::MAX)],
                    )
                    .await
                    .map(changed)
            }
            Write::Ledger(step) => super::ledger::write(&transaction, step).await.map(changed),
            Write::ClearMarks(ids) => {
                transaction.execute("DELETE FROM ledger_marks WHERE id = ANY($1)", &[ids]).await.map(changed)
            }
            Write::PruneLedger(cutoff) => transaction
                .execute("DELETE FROM ledger_slices WHERE end_ns < $1", &[&nanos(*cutoff)])
                .await
                .map(changed),
            Write::Revision(row) => super::periods::insert_revision(&transaction, row).await.map(changed),
            Write::Claim(row) => super::periods::write_claim(&transaction, row).await.map(changed),
            Write::ReportDelivery(step) => super::periods::delivery_step(&transaction, step).await.map(changed),
            Write::StatusPage(row) => transaction
                .execute(
                    "INSERT INTO status_pages (url, record) VALUES ($1, $2)
                     ON CONFLICT (url) DO UPDATE SET record = excluded.record",
                    &[&row.url, &row.record],
                )
                .await
                .map(changed),
            Write::Health(row) => transaction
                .execute(
                    "INSERT INTO agent_health (agent_id, at_ns, record) VALUES ($1, $2, $3)
                     ON CONFLICT (agent_id, at_ns) DO UPDATE SET record = excluded.record",
                    &[&row.agent_id, &row.at_ns, &row.record],
                )
                .await
                .map(changed),
            Write::Faults(judged) => write_faults(&transaction, judged).await,
            Write::Cluster(step) => cluster(&transaction, step).await,
            Write::Enrolment(step) => enrolment(&transaction, step).await,
        }?;
        transaction.commit().await?;
        Ok(outcome)
    }
}

/// A replica's heartbeat, its leaving, or the end of a session it held.
async fn cluster(transaction: &Transaction<'_>, step: &ClusterWrite) -> Result<WriteOutcome, tokio_postgres::Error> {
    Ok(changed(match step {
        ClusterWrite::Beat(name, at, record, forget) => {
            transaction.execute(cluster::FORGET, &[forget]).await?;
            transaction.execute(cluster::BEAT, &[name, at, record]).await?
        }
        ClusterWrite::Leave(name) => {
            transaction.execute(cluster::CLEAR_SESSIONS, &[name]).await?
                + transaction.execute(cluster::LEAVE, &[name]).await?
        }
        ClusterWrite::SessionEnded(agent_id, collector, opened) => {
            transaction.execute(cluster::SESSION_ENDED, &[agent_id, collector, opened]).await?
        }
    }))
}

async fn enrolment(
    transaction: &Transaction<'_>,
    step: &EnrolmentWrite,
) -> Result<WriteOutcome, tokio_postgres::Error> {
    let (statement, [agent_id, enrolment, state, record]) = match step {
        EnrolmentWrite::Insert(values) => (enrolments::INSERT, values),
        EnrolmentWrite::Replace(values) => (enrolments::REPLACE, values),
    };
    Ok(changed(transaction.execute(statement, &[agent_id, enrolment, state, record]).await?))
}

fn changed(rows: u64) -> WriteOutcome {
    WriteOutcome { changed: rows, ..WriteOutcome::default() }
}

/// Replaces the faults of the judged spans, marks them when they changed and moves the progress.
async fn write_faults(
    transaction: &Transaction<'_>,
    judged: &FaultRows,
) -> Result<WriteOutcome, tokio_postgres::Error> {
    let mut written = transaction.execute(faults::REPLACE, &[&judged.from_ns, &judged.to_ns]).await?;
    for (start_ns, agent_id, end_ns, record) in &judged.rows {
        written += transaction.execute(faults::INSERT, &[start_ns, agent_id, end_ns, record]).await?;
    }
    if let Some((check, from, to)) = judged.mark {
        written += transaction.execute(faults::MARK, &[&check, &from, &to]).await?;
    }
    if let Some((rule, from, until)) = &judged.progress {
        written += transaction.execute(faults::PROGRESS, &[rule, from, until]).await?;
    }
    Ok(changed(written))
}

async fn rollup(transaction: &Transaction<'_>, window: &RollupWindow) -> Result<WriteOutcome, tokio_postgres::Error> {
    let from = nanos(window.from).div_euclid(MINUTE_NANOS) * MINUTE_NANOS;
    let written = transaction
        .execute(
            "INSERT INTO result_rollups (check_id, region, minute_ns, total, failed)
             SELECT check_id, region, (started_at_ns / $4) * $4, count(*), count(*) FILTER (WHERE NOT ok) FROM results
             WHERE check_id = ANY($1) AND started_at_ns >= $2 AND started_at_ns < $3 GROUP BY 1, 2, 3
             ON CONFLICT (check_id, minute_ns, region) DO UPDATE SET total = excluded.total, failed = excluded.failed",
            &[&window.checks, &from, &nanos(window.to), &MINUTE_NANOS],
        )
        .await?;
    Ok(changed(written))
}

/// Inserts `results` with the chain values they arrived with (`chains`, in the same order; missing ones are none)
/// and received at `received_at` (when they came from an agent), ignoring those already stored.
async fn insert_results(
    transaction: &Transaction<'_>,
    results: &[(ResultRecord, ResultFlags)],
    chains: &[Option<Chain>],
    received_at: Option<jiff::Timestamp>,
) -> Result<WriteOutcome, tokio_postgres::Error> {
    if results.is_empty() {
        return Ok(WriteOutcome::default());
    }
    let mut agents = Vec::with_capacity(results.len());
    let mut seqs = Vec::with_capacity(results.len());
    let mut checks = Vec::with_capacity(results.len());
    let mut regions = Vec::with_capacity(results.len());
    let mut started = Vec::with_capacity(results.len());
    let mut oks = Vec::with_capacity(results.len());
    let mut records = Vec::with_capacity(results.len());
    let mut flags = Vec::with_capacity(results.len());
    for (index, (result, flag)) in results.iter().enumerate() {
        agents.push(result.agent_id.clone().unwrap_or_default());
        seqs.push(seq_column(result.seq.unwrap_or_default()));
        checks.push(result.check_id.clone());
        regions.push(result.region.clone());
        started.push(nanos(result.started_at));
        oks.push(result.ok);
        records.push(stored_record(result, chains.get(index).copied().flatten()));
        flags.push(i32::try_from(flag.bits()).unwrap_or(i32::MAX));
    }
    let inserted = transaction
        .execute(
            "INSERT INTO results (agent_id, seq, check_id, region, started_at_ns, ok, record, flags, received_at_ns)
             SELECT *, $9::bigint FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[],
                                  $6::boolean[], $7::bytea[], $8::integer[])
             ON CONFLICT DO NOTHING",
            &[&agents, &seqs, &checks, &regions, &started, &oks, &records, &flags, &received_at.map(nanos)],
        )
        .await?;
    super::ledger::mark(transaction, results, received_at).await?;
    Ok(WriteOutcome { inserted, duplicates: results.len() as u64 - inserted, changed: 0 })
}

async fn ingest(transaction: &Transaction<'_>, batch: &IngestBatch) -> Result<WriteOutcome, tokio_postgres::Error> {
    let outcome = insert_results(transaction, &batch.results, &batch.chains, Some(batch.received_at)).await?;
    super::evidence::insert_checkpoint(transaction, batch).await?;
    let refuse = transaction
        .prepare(
            "INSERT INTO refused_results (agent_id, seq, reason, received_at_ns, record) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
        )
        .await?;
    for refusal in &batch.refused {
        transaction
            .execute(
                &refuse,
                &[
                    &batch.agent_id,
                    &seq_column(refusal.seq),
                    &refusal.reason,
                    &nanos(batch.received_at),
                    &refusal.record,
                ],
            )
            .await?;
    }
    transaction
        .execute(
            "UPDATE agents SET last_seen_ns = GREATEST(last_seen_ns, $2),
                 spool_backlog = COALESCE($3, spool_backlog) WHERE agent_id = $1",
            &[&batch.agent_id, &nanos(batch.received_at), &batch.spool_backlog.map(seq_column)],
        )
        .await?;
    Ok(outcome)
}

async fn upsert_agent(
    transaction: &Transaction<'_>,
    status: &AgentStatus,
) -> Result<WriteOutcome, tokio_postgres::Error> {
    transaction
        .execute(
            "INSERT INTO agents (agent_id, region, version, connected_at_ns, last_seen_ns, spool_backlog,
                 session_collector)
             VALUES ($1, $2, $3, $4, $4, $5, $6)
             ON CONFLICT (agent_id) DO UPDATE SET region = excluded.region, version = excluded.version,
                 connected_at_ns = excluded.connected_at_ns,
                 last_seen_ns = GREATEST(agents.last_seen_ns, excluded.last_seen_ns),
                 spool_backlog = excluded.spool_backlog, session_collector = excluded.session_collector",
            &[
                &status.agent_id,
                &status.region,
                &status.version,
                &nanos(status.connected_at),
                &seq_column(status.spool_backlog),
                &status.collector,
            ],
        )
        .await?;
    Ok(WriteOutcome::default())
}

async fn update_clock(
    transaction: &Transaction<'_>,
    agent_id: &str,
    reading: &ClockReading,
) -> Result<WriteOutcome, tokio_postgres::Error> {
    transaction
        .execute(
            "UPDATE agents SET clock_offset_ns = $2, clock_round_trip_ns = $3, clock_measured_at_ns = $4
             WHERE agent_id = $1",
            &[&agent_id, &reading.offset_nanos, &reading.round_trip_nanos, &nanos(reading.measured_at)],
        )
        .await?;
    Ok(WriteOutcome::default())
}

/// Records the parts of `gap` the store holds nothing of, as the SQLite engine does.
async fn upsert_gap(transaction: &Transaction<'_>, gap: &GapReport) -> Result<WriteOutcome, tokio_postgres::Error> {
    let (first, last) = (seq_column(gap.first_seq), seq_column(gap.last_seq));
    let delivered = transaction
        .query(
            "SELECT seq FROM results WHERE agent_id = $1 AND seq BETWEEN $2 AND $3
             UNION SELECT seq FROM refused_results WHERE agent_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
            &[&gap.agent_id, &first, &last],
        )
        .await?;
    let mut missing = Vec::new();
    let mut next = first;
    for row in delivered {
        let seq: i64 = row.get(0);
        if seq > next {
            missing.push((next, seq - 1));
        }
        next = seq.saturating_add(1);
    }
    if next <= last {
        missing.push((next, last));
    }
    for (from, to) in missing {
        transaction
            .execute(
                "INSERT INTO spool_gaps (agent_id, first_seq, last_seq, reason, reported_at_ns) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (agent_id, first_seq) DO UPDATE SET last_seq = GREATEST(spool_gaps.last_seq, excluded.last_seq)",
                &[&gap.agent_id, &from, &to, &gap.reason, &nanos(gap.reported_at)],
            )
            .await?;
    }
    Ok(WriteOutcome::default())
}

async fn insert_delivery(
    transaction: &Transaction<'_>,
    delivery: &DeliveryRecord,
) -> Result<WriteOutcome, tokio_postgres::Error> {
    let attempts = serde_json::to_string(&delivery.attempts).unwrap_or_else(|_| "[]".to_owned());
    transaction
        .execute(
            "INSERT INTO deliveries (sent_at_ns, channel, state, kind, contract, delivered, attempts, alert_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &nanos(delivery.sent_at),
                &delivery.channel,
                &delivery.state,
                &delivery.kind,
                &delivery.contract,
                &delivery.delivered,
                &attempts,
                &delivery.alert_id,
            ],
        )
        .await?;
    Ok(WriteOutcome::default())
}

async fn upsert_alert(
    transaction: &Transaction<'_>,
    alert: &AlertRecord,
) -> Result<WriteOutcome, tokio_postgres::Error> {
    let regions = serde_json::to_string(&alert.regions).unwrap_or_else(|_| "[]".to_owned());
    let levels = i32::try_from(alert.levels_notified).unwrap_or(i32::MAX);
    transaction
        .execute(
            "INSERT INTO alerts (id, contract, kind, policy, state, started_at_ns, fired_at_ns, resolved_at_ns,
                 resolved_by, acknowledged_at_ns, acknowledged_by, levels_notified, last_notified_at_ns, regions,
                 summary, rearmed)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, resolved_at_ns = excluded.resolved_at_ns,
                 resolved_by = excluded.resolved_by, levels_notified = excluded.levels_notified,
                 last_notified_at_ns = excluded.last_notified_at_ns, regions = excluded.regions,
                 summary = excluded.summary
             WHERE alerts.state = 'firing'",
            &[
                &alert.id,
                &alert.contract,
                &alert.kind,
                &alert.policy,
                &alert.state.as_str(),
                &nanos(alert.started_at),
                &nanos(alert.fired_at),
                &alert.resolved_at.map(nanos),
                &alert.resolved_by,
                &alert.acknowledged_at.map(nanos),
                &alert.acknowledged_by,
                &levels,
                &alert.last_notified_at.map(nanos),
                &regions,
                &alert.summary,
                &alert.rearmed,
            ],
        )
        .await
        .map(changed)
}

async fn change_alert(
    transaction: &Transaction<'_>,
    change: &AlertChange,
) -> Result<WriteOutcome, tokio_postgres::Error> {
    let statement = match change.action {
        AlertAction::Acknowledge => {
            "UPDATE alerts SET acknowledged_at_ns = $2, acknowledged_by = $3
             WHERE id = $1 AND state = 'firing' AND acknowledged_at_ns IS NULL"
        }
        AlertAction::Resolve => {
            "UPDATE alerts SET state = 'resolved', resolved_at_ns = $2, resolved_by = $3, rearmed = FALSE
             WHERE id = $1 AND state = 'firing'"
        }
    };
    transaction.execute(statement, &[&change.id, &nanos(change.at), &change.by]).await.map(changed)
}

async fn claim_lease(transaction: &Transaction<'_>, claim: &LeaseClaim) -> Result<WriteOutcome, tokio_postgres::Error> {
    transaction
        .execute(
            "INSERT INTO leases (name, holder, expires_at_ns) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at_ns = excluded.expires_at_ns
             WHERE leases.holder = excluded.holder OR leases.expires_at_ns <= $4",
            &[&claim.name, &claim.holder, &nanos(claim.until), &nanos(claim.now)],
        )
        .await
        .map(changed)
}
