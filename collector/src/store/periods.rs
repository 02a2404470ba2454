//! Closed periods and the claims they open. When a contract's period has ended and settled, its claim report is
//! frozen: each revision of the period is kept with its artifacts (the report as JSON, HTML, CSV and Markdown,
//! with their SHA-256) and never changed; a later change of the figures is a new revision saying what changed
//! and why. Each claim is kept with every change made to it ([`crate::claims`]).
//!
//! Rows hold their details as JSON documents beside the columns they are looked up by, the same on both engines.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::columns::nanos;
use super::records::Write;
use super::{Store, StoreError, sqlite};
use crate::claims::{Claim, ClaimEvent};

/// One revision of a closed period, without its artifacts' contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedPeriod {
    /// The contract.
    pub contract: String,
    /// The period (`2026-02`).
    pub period: String,
    /// 1 for the period's close, then one more for each change of its figures.
    pub revision: u32,
    /// When this revision was made.
    pub closed_at: Timestamp,
    /// Why it was made: the close, or what moved the figures (late results, changed terms).
    pub reason: String,
    /// The figures that differ from the revision before, `field: before → after` (empty for revision 1).
    pub changes: Vec<String>,
    /// The hash of the contract's terms the report was made under.
    pub terms_hash: String,
    /// The uptime the report gives, percent; `null` when nothing was eligible.
    pub uptime_percent: Option<f64>,
    /// The credit owed.
    #[serde(with = "rust_decimal::serde::str")]
    pub credit_amount: Decimal,
    /// Its currency.
    pub currency: String,
    /// The claim deadline.
    pub claim_deadline: Option<Timestamp>,
    /// The artifacts, by name.
    pub artifacts: Vec<ArtifactSummary>,
}

/// What a stored artifact is, without its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactSummary {
    /// File name (`report.json`, `report.html`, `report.csv`, `report.md`).
    pub name: String,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Size of the content.
    pub bytes: u64,
}

/// The last revision of each period in `revisions` (as [`Store::closed_periods`] orders them: by contract,
/// period, revision), in the same order.
pub fn latest_revisions(revisions: Vec<ClosedPeriod>) -> Vec<ClosedPeriod> {
    let mut latest: Vec<ClosedPeriod> = Vec::new();
    for revision in revisions {
        match latest.last_mut() {
            Some(last) if last.contract == revision.contract && last.period == revision.period => *last = revision,
            _ => latest.push(revision),
        }
    }
    latest
}

/// One revision to store: its record and its artifacts' contents, in the order of `period.artifacts`.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodRevision {
    /// The revision.
    pub period: ClosedPeriod,
    /// The contents.
    pub contents: Vec<Vec<u8>>,
}

/// A claim as changed, with the event that records the change.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimWrite {
    /// The claim after the change.
    pub claim: Claim,
    /// The change.
    pub event: ClaimEvent,
}

impl ClaimWrite {
    /// The version the change was made from (0: the claim is new).
    pub fn from_version(&self) -> u32 {
        self.claim.version.saturating_sub(1)
    }
}

/// One report delivery to one channel: a revision of a closed period (`kind` `report`), or the reminder of its
/// claim (`kind` `reminder`, revision 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryKey {
    /// The contract.
    pub contract: String,
    /// The period.
    pub period: String,
    /// The revision (0 for a reminder).
    pub revision: u32,
    /// The channel.
    pub channel: String,
    /// `report` or `reminder`.
    pub kind: &'static str,
}

/// Tries a delivery gets at most (one per close run, five minutes apart: an hour).
pub const DELIVERY_TRIES: i64 = 12;
/// A delivery taken and not finished for this long is taken to have died with its collector and may be retried.
pub const DELIVERY_STALE: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// A delivery's outcome as the engines write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliveryStep {
    pub key: DeliveryKey,
    pub revision: i64,
    pub at_ns: i64,
    /// `None`: take it (new, failed with tries left, or stale); `Some(sent)`: record how it went.
    pub finished: Option<bool>,
}

/// A revision as the engines write it: its key, its record as JSON, and its artifacts by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RevisionRow {
    pub contract: String,
    pub period: String,
    pub revision: i64,
    pub record: String,
    pub artifacts: Vec<(String, Vec<u8>)>,
}

/// A claim change as the engines write it: the key, the version it was made from and the one it makes, and the
/// claim and the event as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimRow {
    pub contract: String,
    pub period: String,
    pub from_version: i64,
    pub version: i64,
    pub record: String,
    pub event: String,
}

/// A record as its JSON column.
pub(super) fn document(record: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(record)
        .map_err(|error| StoreError::Undecodable { column: "record".to_owned(), problem: error.to_string() })
}

/// A JSON column read back.
pub(super) fn decoded<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|error| StoreError::Undecodable { column: column.to_owned(), problem: error.to_string() })
}

impl Store {
    /// The JSON records `query` selects (one text column, `$n` parameters bound to `params` in order), each
    /// decoded as `T`; a record that does not decode is an error naming `column`.
    pub(super) async fn json_records<T: serde::de::DeserializeOwned>(
        &self,
        query: &'static str,
        params: Vec<i64>,
        column: &str,
    ) -> Result<Vec<T>, StoreError> {
        let texts: Vec<String> = match self {
            Self::Sqlite(store) => {
                store
                    .read(move |connection| {
                        let mut statement = connection.prepare_cached(&query.replace('$', "?"))?;
                        let rows =
                            statement.query_map(rusqlite::params_from_iter(params), |row| row.get::<_, String>(0))?;
                        rows.collect::<rusqlite::Result<Vec<String>>>()
                    })
                    .await?
            }
            Self::Postgres(store) => {
                let bound: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    params.iter().map(|param| param as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
                let rows = store.connection().await?.query(query, &bound).await?;
                rows.iter().map(|row| row.get::<_, String>(0)).collect()
            }
        };
        texts.iter().map(|text| decoded(column, text)).collect()
    }

    /// Stores a revision of a closed period with its artifacts; `false` when that revision was already stored
    /// (another collector made it first), which leaves the stored one as it was.
    pub async fn record_revision(&self, revision: PeriodRevision) -> Result<bool, StoreError> {
        let PeriodRevision { period, contents } = revision;
        let artifacts = period.artifacts.iter().map(|artifact| artifact.name.clone()).zip(contents).collect();
        let row = RevisionRow {
            contract: period.contract.clone(),
            period: period.period.clone(),
            revision: i64::from(period.revision),
            record: document(&period)?,
            artifacts,
        };
        let stored = self.write(Write::Revision(Box::new(row))).await?;
        Ok(stored.changed > 0)
    }

    /// Applies a claim change made from the version before it; `false` when the claim has changed since (or,
    /// for a new claim, exists already), so the change must be made again from what is stored now.
    pub async fn write_claim(&self, change: ClaimWrite) -> Result<bool, StoreError> {
        let row = ClaimRow {
            contract: change.claim.contract.clone(),
            period: change.claim.period.clone(),
            from_version: i64::from(change.from_version()),
            version: i64::from(change.claim.version),
            record: document(&change.claim)?,
            event: document(&change.event)?,
        };
        let applied = self.write(Write::Claim(Box::new(row))).await?;
        Ok(applied.changed > 0)
    }

    /// Takes `key` for sending at `now`: `true` when this collector is to send it (never taken, failed with tries
    /// left, or taken by a collector that stopped); `false` when it went, is going, or has failed for good.
    pub async fn take_delivery(&self, key: &DeliveryKey, now: Timestamp) -> Result<bool, StoreError> {
        let step =
            DeliveryStep { key: key.clone(), revision: i64::from(key.revision), at_ns: nanos(now), finished: None };
        Ok(self.write(Write::ReportDelivery(Box::new(step))).await?.changed > 0)
    }

    /// Records how the delivery of `key` went.
    pub async fn finish_delivery(&self, key: &DeliveryKey, sent: bool, now: Timestamp) -> Result<(), StoreError> {
        let step = DeliveryStep {
            key: key.clone(),
            revision: i64::from(key.revision),
            at_ns: nanos(now),
            finished: Some(sent),
        };
        self.write(Write::ReportDelivery(Box::new(step))).await.map(drop)
    }

    /// Every revision of every closed period (of `contract` only, when given), by contract, period, revision.
    pub async fn closed_periods(&self, contract: Option<&str>) -> Result<Vec<ClosedPeriod>, StoreError> {
        let contract = contract.map(str::to_owned);
        let records = match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::periods::closed_periods(connection, contract.as_deref())).await?
            }
            Self::Postgres(store) => store.closed_periods(contract.as_deref()).await?,
        };
        records.iter().map(|record| decoded("closed_periods.record", record)).collect()
    }

    /// The content of artifact `name` of `contract`'s `period` at `revision`, if stored.
    pub async fn artifact(
        &self,
        contract: &str,
        period: &str,
        revision: u32,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = [contract.to_owned(), period.to_owned(), name.to_owned()];
        match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::periods::artifact(connection, &key, revision)).await
            }
            Self::Postgres(store) => store.artifact(&key, revision).await,
        }
    }

    /// Every claim, by contract and period.
    pub async fn claims(&self) -> Result<Vec<Claim>, StoreError> {
        let records = match self {
            Self::Sqlite(store) => store.read(sqlite::periods::claims).await?,
            Self::Postgres(store) => store.claims().await?,
        };
        records.iter().map(|record| decoded("claims.record", record)).collect()
    }

    /// The changes made to the claim of `contract`'s `period`, oldest first.
    pub async fn claim_events(&self, contract: &str, period: &str) -> Result<Vec<ClaimEvent>, StoreError> {
        let key = [contract.to_owned(), period.to_owned()];
        let records = match self {
            Self::Sqlite(store) => {
                store.read(move |connection| sqlite::periods::claim_events(connection, &key)).await?
            }
            Self::Postgres(store) => store.claim_events(&key).await?,
        };
        records.iter().map(|record| decoded("claim_events.record", record)).collect()
    }
}
