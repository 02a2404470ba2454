//! Closed periods, their artifacts and claims in PostgreSQL, written and read: the same effects as the SQLite
//! engine's.

use tokio_postgres::Transaction;

use super::PostgresStore;
use crate::store::StoreError;
use crate::store::periods::{ClaimRow, DELIVERY_STALE, DELIVERY_TRIES, DeliveryStep, RevisionRow};

/// Inserts a revision and its artifacts; 0 when that revision is stored already (it stays as it was).
pub(crate) async fn insert_revision(
    transaction: &Transaction<'_>,
    row: &RevisionRow,
) -> Result<u64, tokio_postgres::Error> {
    let inserted = transaction
        .execute(
            "INSERT INTO closed_periods (contract, period, revision, record) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&row.contract, &row.period, &row.revision, &row.record],
        )
        .await?;
    if inserted == 0 {
        return Ok(0);
    }
    let artifact = transaction
        .prepare("INSERT INTO period_artifacts (contract, period, revision, name, content) VALUES ($1, $2, $3, $4, $5)")
        .await?;
    for (name, content) in &row.artifacts {
        transaction.execute(&artifact, &[&row.contract, &row.period, &row.revision, name, content]).await?;
    }
    Ok(1)
}

/// Applies a claim change if the claim is still at the version it was made from; 1 when applied.
pub(crate) async fn write_claim(transaction: &Transaction<'_>, row: &ClaimRow) -> Result<u64, tokio_postgres::Error> {
    let applied = if row.from_version == 0 {
        transaction
            .execute(
                "INSERT INTO claims (contract, period, version, record) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&row.contract, &row.period, &row.version, &row.record],
            )
            .await?
    } else {
        transaction
            .execute(
                "UPDATE claims SET version = $3, record = $4 WHERE contract = $1 AND period = $2 AND version = $5",
                &[&row.contract, &row.period, &row.version, &row.record, &row.from_version],
            )
            .await?
    };
    if applied == 0 {
        return Ok(0);
    }
    transaction
        .execute(
            "INSERT INTO claim_events (contract, period, version, record) VALUES ($1, $2, $3, $4)",
            &[&row.contract, &row.period, &row.version, &row.event],
        )
        .await?;
    Ok(1)
}

/// Takes a report delivery (1 when this collector is to send it) or records how it went.
pub(crate) async fn delivery_step(
    transaction: &Transaction<'_>,
    step: &DeliveryStep,
) -> Result<u64, tokio_postgres::Error> {
    let key = &step.key;
    match step.finished {
        None => {
            let stale = step.at_ns.saturating_sub(DELIVERY_STALE.as_nanos() as i64);
            transaction
                .execute(
                    "INSERT INTO report_deliveries AS delivery
                         (contract, period, revision, channel, kind, state, tries, updated_at_ns)
                     VALUES ($1, $2, $3, $4, $5, 'sending', 1, $6)
                     ON CONFLICT (contract, period, revision, channel, kind) DO UPDATE
                     SET state = 'sending', tries = delivery.tries + 1, updated_at_ns = excluded.updated_at_ns
                     WHERE (delivery.state = 'failed' AND delivery.tries < $7)
                        OR (delivery.state = 'sending' AND delivery.updated_at_ns < $8)",
                    &[
                        &key.contract,
                        &key.period,
                        &step.revision,
                        &key.channel,
                        &key.kind,
                        &step.at_ns,
                        &DELIVERY_TRIES,
                        &stale,
                    ],
                )
                .await
        }
        Some(sent) => {
            let state = if sent { "sent" } else { "failed" };
            transaction
                .execute(
                    "UPDATE report_deliveries SET state = $6, updated_at_ns = $7
                     WHERE contract = $1 AND period = $2 AND revision = $3 AND channel = $4 AND kind = $5",
                    &[&key.contract, &key.period, &step.revision, &key.channel, &key.kind, &state, &step.at_ns],
                )
                .await
        }
    }
}

impl PostgresStore {
    /// See [`crate::store::Store::closed_periods`].
    pub async fn closed_periods(&self, contract: Option<&str>) -> Result<Vec<String>, StoreError> {
        let rows = self
            .connection()
            .await?
            .query(
                "SELECT record FROM closed_periods WHERE $1::TEXT IS NULL OR contract = $1
                 ORDER BY contract, period, revision",
                &[&contract],
            )
            .await?;
        rows.iter().map(|row| row.try_get(0).map_err(StoreError::from)).collect()
    }

    /// See [`crate::store::Store::artifact`]; `key` is contract, period and name.
    pub async fn artifact(&self, key: &[String; 3], revision: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .connection()
            .await?
            .query_opt(
                "SELECT content FROM period_artifacts
                 WHERE contract = $1 AND period = $2 AND revision = $3 AND name = $4",
                &[&key[0], &key[1], &i64::from(revision), &key[2]],
            )
            .await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    /// See [`crate::store::Store::claims`].
    pub async fn claims(&self) -> Result<Vec<String>, StoreError> {
        let rows = self.connection().await?.query("SELECT record FROM claims ORDER BY contract, period", &[]).await?;
        rows.iter().map(|row| row.try_get(0).map_err(StoreError::from)).collect()
    }

    /// See [`crate::store::Store::claim_events`]; `key` is contract and period.
    pub async fn claim_events(&self, key: &[String; 2]) -> Result<Vec<String>, StoreError> {
        let rows = self
            .connection()
            .await?
            .query(
                "SELECT record FROM claim_events WHERE contract = $1 AND period = $2 ORDER BY version",
                &[&key[0], &key[1]],
            )
            .await?;
        rows.iter().map(|row| row.try_get(0).map_err(StoreError::from)).collect()
    }
}
