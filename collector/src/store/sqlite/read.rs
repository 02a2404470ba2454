//! The store's queries, each given a read-only connection. A stored value that cannot be decoded fails the
//! read with a conversion error naming the column; it never yields a made-up record.

use jiff::Timestamp;
use prost::Message;
use rusqlite::types::Type;
use rusqlite::{Connection, Row, params};
use slaprobe_proto::{ResultRecord, v1};

use crate::store::columns::nanos;
use crate::store::records::{
    AgentRecord, ClockReading, DeliveryRecord, GapReport, RefusedResult, ResultFlags, ResultPosition, ResultQuery,
    Rollup, StoredResult,
};

pub(super) fn conversion_error(
    column: usize,
    error: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, Type::Blob, Box::new(error))
}

pub(super) fn timestamp(row: &Row, column: usize) -> rusqlite::Result<Timestamp> {
    Timestamp::from_nanosecond(i128::from(row.get::<_, i64>(column)?)).map_err(|error| conversion_error(column, error))
}

pub(super) fn optional_timestamp(row: &Row, column: usize) -> rusqlite::Result<Option<Timestamp>> {
    match row.get::<_, Option<i64>>(column)? {
        Some(_) => timestamp(row, column).map(Some),
        None => Ok(None),
    }
}

fn unsigned(row: &Row, column: usize) -> rusqlite::Result<u64> {
    u64::try_from(row.get::<_, i64>(column)?).map_err(|error| conversion_error(column, error))
}

/// The earliest `started_at` among the results of `checks`.
pub fn first_result_at(connection: &Connection, checks: &[String]) -> rusqlite::Result<Option<Timestamp>> {
    let mut query = connection.prepare_cached("SELECT MIN(started_at_ns) FROM results WHERE check_id = ?1")?;
    let mut first: Option<Timestamp> = None;
    for check in checks {
        if let Some(at) = query.query_row(params![check], |row| optional_timestamp(row, 0))? {
            first = Some(first.map_or(at, |earlier| earlier.min(at)));
        }
    }
    Ok(first)
}

/// Results of `checks` whose `started_at` lies in `[from, to)`, ordered by `started_at`.
pub fn results_between(
    connection: &Connection,
    checks: &[String],
    from: Timestamp,
    to: Timestamp,
) -> rusqlite::Result<Vec<ResultRecord>> {
    Ok(flagged_results_between(connection, checks, from, to)?.into_iter().map(|(record, _)| record).collect())
}

/// Results of `checks` whose `started_at` lies in `[from, to)` with their flags, ordered by `started_at`.
pub fn flagged_results_between(
    connection: &Connection,
    checks: &[String],
    from: Timestamp,
    to: Timestamp,
) -> rusqlite::Result<Vec<(ResultRecord, ResultFlags)>> {
    let mut query = connection.prepare_cached(
        "SELECT record, flags FROM results WHERE check_id = ?1 AND started_at_ns >= ?2 AND started_at_ns < ?3
         ORDER BY started_at_ns",
    )?;
    let mut records = Vec::new();
    for check in checks {
        let rows = query.query_map(params![check, nanos(from), nanos(to)], |row| {
            let bytes = row.get_ref(0)?.as_blob()?;
            let decoded = v1::Result::decode(bytes).map_err(|error| conversion_error(0, error))?;
            let record = ResultRecord::try_from(decoded).map_err(|error| conversion_error(0, error))?;
            Ok((record, ResultFlags::from_bits(u32::try_from(unsigned(row, 1)?).unwrap_or(u32::MAX))))
        })?;
        for record in rows {
            records.push(record?);
        }
    }
    records.sort_by_key(|(record, _)| record.started_at);
    Ok(records)
}

/// Control probes' results (flagged `control`, of any check) whose `started_at` lies in `[from, to)`, ordered by
/// `started_at`.
pub fn control_results_between(
    connection: &Connection,
    from: Timestamp,
    to: Timestamp,
) -> rusqlite::Result<Vec<ResultRecord>> {
    let mut query = connection.prepare_cached(
        "SELECT record FROM results WHERE flags & 16 <> 0 AND started_at_ns >= ?1 AND started_at_ns < ?2
         ORDER BY started_at_ns, agent_id, seq",
    )?;
    let rows = query.query_map(params![nanos(from), nanos(to)], |row| {
        let bytes = row.get_ref(0)?.as_blob()?;
        let decoded = v1::Result::decode(bytes).map_err(|error| conversion_error(0, error))?;
        ResultRecord::try_from(decoded).map_err(|error| conversion_error(0, error))
    })?;
    rows.collect()
}

/// Every agent's registry entry, by id.
pub fn agents(connection: &Connection) -> rusqlite::Result<Vec<AgentRecord>> {
    let mut query = connection.prepare_cached(
        "SELECT agent_id, region, version, connected_at_ns, last_seen_ns, spool_backlog,
                clock_offset_ns, clock_round_trip_ns, clock_measured_at_ns, session_collector
         FROM agents ORDER BY agent_id",
    )?;
    query
        .query_map([], |row| {
            let clock = match row.get::<_, Option<i64>>(6)? {
                Some(offset_nanos) => {
                    Some(ClockReading { offset_nanos, round_trip_nanos: row.get(7)?, measured_at: timestamp(row, 8)? })
                }
                None => None,
            };
            Ok(AgentRecord {
                agent_id: row.get(0)?,
                region: row.get(1)?,
                version: row.get(2)?,
                connected_at: timestamp(row, 3)?,
                last_seen: timestamp(row, 4)?,
                spool_backlog: unsigned(row, 5)?,
                clock,
                session_collector: row.get(9)?,
            })
        })?
        .collect()
}

/// Every reported spool gap, by agent and first sequence number.
pub fn gaps(connection: &Connection) -> rusqlite::Result<Vec<GapReport>> {
    let mut query = connection.prepare_cached(
        "SELECT agent_id, first_seq, last_seq, reason, reported_at_ns FROM spool_gaps ORDER BY agent_id, first_seq",
    )?;
    query
        .query_map([], |row| {
            Ok(GapReport {
                agent_id: row.get(0)?,
                first_seq: unsigned(row, 1)?,
                last_seq: unsigned(row, 2)?,
                reason: row.get(3)?,
                reported_at: timestamp(row, 4)?,
                statement: None,
            })
        })?
        .collect()
}

/// Every refused result, by agent and sequence number.
pub fn refused(connection: &Connection) -> rusqlite::Result<Vec<RefusedResult>> {
    let mut query = connection
        .prepare_cached("SELECT agent_id, seq, reason, received_at_ns FROM refused_results ORDER BY agent_id, seq")?;
    query
        .query_map([], |row| {
            Ok(RefusedResult {
                agent_id: row.get(0)?,
                seq: unsigned(row, 1)?,
                reason: row.get(2)?,
                received_at: timestamp(row, 3)?,
            })
        })?
        .collect()
}

/// Sequence numbers and flags of `agent_id`'s flagged results, in `seq` order.
pub fn flagged(connection: &Connection, agent_id: &str) -> rusqlite::Result<Vec<(u64, ResultFlags)>> {
    let mut query =
        connection.prepare_cached("SELECT seq, flags FROM results WHERE agent_id = ?1 AND flags != 0 ORDER BY seq")?;
    query.query_map(params![agent_id], |row| Ok((unsigned(row, 0)?, ResultFlags::from_bits(row.get(1)?))))?.collect()
}

/// The latest result of `check` per region among those started at or after `since`, by region.
pub fn latest_per_region(
    connection: &Connection,
    check: &str,
    since: Timestamp,
) -> rusqlite::Result<Vec<ResultRecord>> {
    let mut query = connection.prepare_cached(
        "SELECT region, record FROM results WHERE check_id = ?1 AND started_at_ns >= ?2 ORDER BY started_at_ns DESC",
    )?;
    let mut latest: std::collections::BTreeMap<String, ResultRecord> = std::collections::BTreeMap::new();
    let rows = query.query_map(params![check, nanos(since)], |row| {
        let region: String = row.get(0)?;
        let bytes = row.get_ref(1)?.as_blob()?;
        let decoded = v1::Result::decode(bytes).map_err(|error| conversion_error(1, error))?;
        Ok((region, decoded))
    })?;
    for row in rows {
        let (region, decoded) = row?;
        if let std::collections::btree_map::Entry::Vacant(entry) = latest.entry(region) {
            entry.insert(ResultRecord::try_from(decoded).map_err(|error| conversion_error(1, error))?);
        }
    }
    Ok(latest.into_values().collect())
}

/// One page of results in `(started_at, agent_id, seq)` order.
pub fn results_page(connection: &Connection, query: &ResultQuery) -> rusqlite::Result<Vec<StoredResult>> {
    let mut statement = connection.prepare_cached(
        "SELECT agent_id, seq, started_at_ns, flags, record, received_at_ns FROM results
         WHERE check_id = ?1 AND started_at_ns >= ?2 AND started_at_ns < ?3 AND (?4 IS NULL OR region = ?4)
           AND (?5 IS NULL OR (started_at_ns, agent_id, seq) > (?5, ?6, ?7))
         ORDER BY started_at_ns, agent_id, seq LIMIT ?8",
    )?;
    let after = query.after.as_ref();
    let rows = statement.query_map(
        params![
            query.check_id,
            nanos(query.from),
            nanos(query.to),
            query.region,
            after.map(|position| position.started_at_ns),
            after.map(|position| position.agent_id.as_str()),
            after.map(|position| i64::try_from(position.seq).unwrap_or(i64::MAX)),
            query.limit,
        ],
        |row| {
            let bytes = row.get_ref(4)?.as_blob()?;
            let decoded = v1::Result::decode(bytes).map_err(|error| conversion_error(4, error))?;
            Ok(StoredResult {
                record: ResultRecord::try_from(decoded).map_err(|error| conversion_error(4, error))?,
                flags: ResultFlags::from_bits(u32::try_from(unsigned(row, 3)?).unwrap_or(u32::MAX)),
                received_at: optional_timestamp(row, 5)?,
                position: ResultPosition { agent_id: row.get(0)?, seq: unsigned(row, 1)?, started_at_ns: row.get(2)? },
            })
        },
    )?;
    rows.collect()
}

/// The latest `limit` deliveries (of `alert_id` only, when given), newest first.
pub fn deliveries(
    connection: &Connection,
    alert_id: Option<&str>,
    limit: u32,
) -> rusqlite::Result<Vec<DeliveryRecord>> {
    let mut query = connection.prepare_cached(
        "SELECT sent_at_ns, channel, state, kind, contract, delivered, attempts, alert_id FROM deliveries
         WHERE ?2 IS NULL OR alert_id = ?2 ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = query.query_map(params![limit, alert_id], |row| {
        let attempts: String = row.get(6)?;
        Ok(DeliveryRecord {
            sent_at: timestamp(row, 0)?,
            channel: row.get(1)?,
            state: row.get(2)?,
            kind: row.get(3)?,
            contract: row.get(4)?,
            delivered: row.get(5)?,
            attempts: serde_json::from_str(&attempts).map_err(|error| conversion_error(6, error))?,
            alert_id: row.get(7)?,
        })
    })?;
    rows.collect()
}

/// The rollups of `check` for minutes in `[from, to)` (of `region` only, when given), by minute then region.
pub fn rollups(
    connection: &Connection,
    check: &str,
    region: Option<&str>,
    from: Timestamp,
    to: Timestamp,
) -> rusqlite::Result<Vec<Rollup>> {
    let mut query = connection.prepare_cached(
        "SELECT region, minute_ns, total, failed FROM result_rollups
         WHERE check_id = ?1 AND minute_ns >= ?2 AND minute_ns < ?3 AND (?4 IS NULL OR region = ?4)
         ORDER BY minute_ns, region",
    )?;
    let rows = query.query_map(params![check, nanos(from), nanos(to), region], |row| {
        Ok(Rollup {
            region: row.get(0)?,
            minute: timestamp(row, 1)?,
            total: unsigned(row, 2)?,
            failed: unsigned(row, 3)?,
        })
    })?;
    rows.collect()
}
