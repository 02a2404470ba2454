//! The PostgreSQL queries, returning what the SQLite engine's return. A stored value that cannot be decoded
//! fails the read with the column named; it never yields a made-up record.

use jiff::Timestamp;
use prost::Message;
use slaprobe_proto::{ResultRecord, v1};
use tokio_postgres::Row;

use super::PostgresStore;
use crate::store::StoreError;
use crate::store::alerts::{AlertRecord, AlertState};
use crate::store::columns::nanos;
use crate::store::records::{
    AgentRecord, ClockReading, DeliveryRecord, GapReport, RefusedResult, ResultFlags, ResultPosition, ResultQuery,
    Rollup, StoredResult,
};

pub(super) fn undecodable(column: &str, problem: impl std::fmt::Display) -> StoreError {
    StoreError::Undecodable { column: column.to_owned(), problem: problem.to_string() }
}

pub(super) fn timestamp(row: &Row, column: &str) -> Result<Timestamp, StoreError> {
    let nanos: i64 = row.try_get(column)?;
    Timestamp::from_nanosecond(i128::from(nanos)).map_err(|error| undecodable(column, error))
}

pub(super) fn optional_timestamp(row: &Row, column: &str) -> Result<Option<Timestamp>, StoreError> {
    let nanos: Option<i64> = row.try_get(column)?;
    nanos
        .map(|nanos| Timestamp::from_nanosecond(i128::from(nanos)).map_err(|error| undecodable(column, error)))
        .transpose()
}

fn unsigned(row: &Row, column: &str) -> Result<u64, StoreError> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|error| undecodable(column, error))
}

fn record(row: &Row) -> Result<ResultRecord, StoreError> {
    let bytes: &[u8] = row.try_get("record")?;
    let decoded = v1::Result::decode(bytes).map_err(|error| undecodable("record", error))?;
    ResultRecord::try_from(decoded).map_err(|error| undecodable("record", error))
}

fn flags(row: &Row) -> Result<ResultFlags, StoreError> {
    let bits: i32 = row.try_get("flags")?;
    Ok(ResultFlags::from_bits(u32::try_from(bits).map_err(|error| undecodable("flags", error))?))
}

impl PostgresStore {
    pub(super) async fn rows(
        &self,
        query: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.connection().await?;
        let statement = client.prepare_cached(query).await?;
        Ok(client.query(&statement, params).await?)
    }

    /// See [`crate::store::Store::first_result_at`].
    pub async fn first_result_at(&self, checks: &[String]) -> Result<Option<Timestamp>, StoreError> {
        let mut first: Option<Timestamp> = None;
        for check in checks {
            let rows =
                self.rows("SELECT MIN(started_at_ns) AS first FROM results WHERE check_id = $1", &[check]).await?;
            if let Some(row) = rows.first()
                && let Some(at) = optional_timestamp(row, "first")?
            {
                first = Some(first.map_or(at, |earlier| earlier.min(at)));
            }
        }
        Ok(first)
    }

    /// See [`crate::store::Store::results_between`].
    pub async fn results_between(
        &self,
        checks: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        Ok(self.flagged_results_between(checks, from, to).await?.into_iter().map(|(record, _)| record).collect())
    }

    /// See [`crate::store::Store::flagged_results_between`].
    pub async fn flagged_results_between(
        &self,
        checks: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(ResultRecord, ResultFlags)>, StoreError> {
        let rows = self
            .rows(
                "SELECT started_at_ns, agent_id, seq, record, flags FROM results
                 WHERE check_id = ANY($1) AND started_at_ns >= $2 AND started_at_ns < $3",
                &[&checks, &nanos(from), &nanos(to)],
            )
            .await?;
        // Put in order here rather than by the server, which sorted the rows of several checks on disk: by start,
        // then by the result's key (the same order however the server happened to return them), and decoded in
        // that order.
        let mut order = rows
            .iter()
            .enumerate()
            .map(|(place, row)| {
                let key: (i64, &str, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                Ok((key, place))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        order.sort_unstable();
        let mut records = Vec::with_capacity(order.len());
        for (_, place) in order {
            records.push((record(&rows[place])?, flags(&rows[place])?));
        }
        Ok(records)
    }

    /// See [`crate::store::Store::control_results_between`].
    pub async fn control_results_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        let rows = self
            .rows(
                "SELECT record FROM results WHERE flags & 16 <> 0 AND started_at_ns >= $1 AND started_at_ns < $2
                 ORDER BY started_at_ns, agent_id, seq",
                &[&nanos(from), &nanos(to)],
            )
            .await?;
        rows.iter().map(record).collect()
    }

    /// See [`crate::store::Store::agents`].
    pub async fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let rows = self
            .rows(
                "SELECT agent_id, region, version, connected_at_ns, last_seen_ns, spool_backlog,
                        clock_offset_ns, clock_round_trip_ns, clock_measured_at_ns, session_collector
                 FROM agents ORDER BY agent_id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let offset: Option<i64> = row.try_get("clock_offset_ns")?;
                let clock = match offset {
                    Some(offset_nanos) => Some(ClockReading {
                        offset_nanos,
                        round_trip_nanos: row.try_get("clock_round_trip_ns")?,
                        measured_at: timestamp(row, "clock_measured_at_ns")?,
                    }),
                    None => None,
                };
                Ok(AgentRecord {
                    agent_id: row.try_get("agent_id")?,
                    region: row.try_get("region")?,
                    version: row.try_get("version")?,
                    connected_at: timestamp(row, "connected_at_ns")?,
                    last_seen: timestamp(row, "last_seen_ns")?,
                    spool_backlog: unsigned(row, "spool_backlog")?,
                    clock,
                    session_collector: row.try_get("session_collector")?,
                })
            })
            .collect()
    }

    /// See [`crate::store::Store::gaps`].
    pub async fn gaps(&self) -> Result<Vec<GapReport>, StoreError> {
        let rows = self
            .rows(
                "SELECT agent_id, first_seq, last_seq, reason, reported_at_ns FROM spool_gaps ORDER BY agent_id, first_seq",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(GapReport {
                    agent_id: row.try_get("agent_id")?,
                    first_seq: unsigned(row, "first_seq")?,
                    last_seq: unsigned(row, "last_seq")?,
                    reason: row.try_get("reason")?,
                    reported_at: timestamp(row, "reported_at_ns")?,
                    statement: None,
                })
            })
            .collect()
    }

    /// See [`crate::store::Store::refused`].
    pub async fn refused(&self) -> Result<Vec<RefusedResult>, StoreError> {
        let rows = self
            .rows("SELECT agent_id, seq, reason, received_at_ns FROM refused_results ORDER BY agent_id, seq", &[])
            .await?;
        rows.iter()
            .map(|row| {
                Ok(RefusedResult {
                    agent_id: row.try_get("agent_id")?,
                    seq: unsigned(row, "seq")?,
                    reason: row.try_get("reason")?,
                    received_at: timestamp(row, "received_at_ns")?,
                })
            })
            .collect()
    }

    /// See [`crate::store::Store::flagged_results`].
    pub async fn flagged(&self, agent_id: &str) -> Result<Vec<(u64, ResultFlags)>, StoreError> {
        let rows = self
            .rows("SELECT seq, flags FROM results WHERE agent_id = $1 AND flags != 0 ORDER BY seq", &[&agent_id])
            .await?;
        rows.iter().map(|row| Ok((unsigned(row, "seq")?, flags(row)?))).collect()
    }

    /// See [`crate::store::Store::latest_per_region`].
    pub async fn latest_per_region(&self, check: &str, since: Timestamp) -> Result<Vec<ResultRecord>, StoreError> {
        let rows = self
            .rows(
                "SELECT DISTINCT ON (region) region, record FROM results
                 WHERE check_id = $1 AND started_at_ns >= $2 ORDER BY region, started_at_ns DESC",
                &[&check, &nanos(since)],
            )
            .await?;
        rows.iter().map(record).collect()
    }

    /// See [`crate::store::Store::results_page`].
    pub async fn results_page(&self, query: &ResultQuery) -> Result<Vec<StoredResult>, StoreError> {
        let after = query.after.as_ref();
        let limit = i64::from(query.limit);
        let rows = self
            .rows(
                "SELECT agent_id, seq, started_at_ns, flags, record, received_at_ns FROM results
                 WHERE check_id = $1 AND started_at_ns >= $2 AND started_at_ns < $3
                   AND ($4::text IS NULL OR region = $4)
                   AND ($5::bigint IS NULL OR (started_at_ns, agent_id, seq) > ($5, $6, $7))
                 ORDER BY started_at_ns, agent_id, seq LIMIT $8",
                &[
                    &query.check_id,
                    &nanos(query.from),
                    &nanos(query.to),
                    &query.region,
                    &after.map(|position| position.started_at_ns),
                    &after.map(|position| position.agent_id.as_str()).unwrap_or_default(),
                    &after.map(|position| i64::try_from(position.seq).unwrap_or(i64::MAX)).unwrap_or_default(),
                    &limit,
                ],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredResult {
                    record: record(row)?,
                    flags: flags(row)?,
                    received_at: optional_timestamp(row, "received_at_ns")?,
                    position: ResultPosition {
                        agent_id: row.try_get("agent_id")?,
                        seq: unsigned(row, "seq")?,
                        started_at_ns: row.try_get("started_at_ns")?,
                    },
                })
            })
            .collect()
    }

    /// See [`crate::store::Store::deliveries`].
    pub async fn deliveries(&self, alert_id: Option<&str>, limit: u32) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = self
            .rows(
                "SELECT sent_at_ns, channel, state, kind, contract, delivered, attempts, alert_id FROM deliveries
                 WHERE $2::text IS NULL OR alert_id = $2 ORDER BY id DESC LIMIT $1",
                &[&i64::from(limit), &alert_id],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let attempts: &str = row.try_get("attempts")?;
                Ok(DeliveryRecord {
                    sent_at: timestamp(row, "sent_at_ns")?,
                    channel: row.try_get("channel")?,
                    state: row.try_get("state")?,
                    kind: row.try_get("kind")?,
                    contract: row.try_get("contract")?,
                    delivered: row.try_get("delivered")?,
                    attempts: serde_json::from_str(attempts).map_err(|error| undecodable("attempts", error))?,
                    alert_id: row.try_get("alert_id")?,
                })
            })
            .collect()
    }

    /// See [`crate::store::Store::rollups`].
    pub async fn rollups(
        &self,
        check: &str,
        region: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Rollup>, StoreError> {
        let rows = self
            .rows(
                "SELECT region, minute_ns, total, failed FROM result_rollups
                 WHERE check_id = $1 AND minute_ns >= $2 AND minute_ns < $3 AND ($4::text IS NULL OR region = $4)
                 ORDER BY minute_ns, region",
                &[&check, &nanos(from), &nanos(to), &region],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Rollup {
                    region: row.try_get("region")?,
                    minute: timestamp(row, "minute_ns")?,
                    total: unsigned(row, "total")?,
                    failed: unsigned(row, "failed")?,
                })
            })
            .collect()
    }

    /// See [`crate::store::Store::alerts`].
    pub async fn alerts(&self, state: Option<AlertState>, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = self
            .rows(
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE $1::text IS NULL OR state = $1 ORDER BY fired_at_ns DESC, id LIMIT $2"),
                &[&state.map(AlertState::as_str), &i64::from(limit)],
            )
            .await?;
        rows.iter().map(alert_from).collect()
    }

    /// See [`crate::store::Store::alert`].
    pub async fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        let rows = self.rows(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"), &[&id]).await?;
        rows.first().map(alert_from).transpose()
    }

    /// See [`crate::store::Store::latest_alerts`].
    pub async fn latest_alerts(&self) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT DISTINCT ON (contract, kind) {ALERT_COLUMNS} FROM alerts
                     ORDER BY contract, kind, fired_at_ns DESC"
                ),
                &[],
            )
            .await?;
        rows.iter().map(alert_from).collect()
    }
}

const ALERT_COLUMNS: &str =
    "id, contract, kind, policy, state, started_at_ns, fired_at_ns, resolved_at_ns, resolved_by,
    acknowledged_at_ns, acknowledged_by, levels_notified, last_notified_at_ns, regions, summary, rearmed";

fn alert_from(row: &Row) -> Result<AlertRecord, StoreError> {
    let state: &str = row.try_get("state")?;
    let regions: &str = row.try_get("regions")?;
    let levels: i32 = row.try_get("levels_notified")?;
    Ok(AlertRecord {
        id: row.try_get("id")?,
        contract: row.try_get("contract")?,
        kind: row.try_get("kind")?,
        policy: row.try_get("policy")?,
        state: AlertState::parse(state)
            .ok_or_else(|| undecodable("state", format!("unknown alert state {state:?}")))?,
        started_at: timestamp(row, "started_at_ns")?,
        fired_at: timestamp(row, "fired_at_ns")?,
        resolved_at: optional_timestamp(row, "resolved_at_ns")?,
        resolved_by: row.try_get("resolved_by")?,
        acknowledged_at: optional_timestamp(row, "acknowledged_at_ns")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        levels_notified: u32::try_from(levels).map_err(|error| undecodable("levels_notified", error))?,
        last_notified_at: optional_timestamp(row, "last_notified_at_ns")?,
        regions: serde_json::from_str(regions).map_err(|error| undecodable("regions", error))?,
        summary: row.try_get("summary")?,
        rearmed: row.try_get("rearmed")?,
    })
}
