//! What each vendor status page has declared, as last read, with how reading it went: one row per page address,
//! its record a JSON document the same on both engines. Only the collector holding the `status_pages` lease
//! writes them; reports read them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use slaprobe_sla::vendor::{StatusPageRead, VendorNotice};

use super::periods::{decoded, document};
use super::records::Write;
use super::{Store, StoreError};

/// One status page as last read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusPageRecord {
    /// The page's address, as the contracts name it.
    pub url: String,
    /// The last successful read.
    pub checked_at: Option<Timestamp>,
    /// The last attempt, successful or not.
    pub attempted_at: Timestamp,
    /// Why the last attempt failed; `None` when it worked.
    pub problem: Option<String>,
    /// Attempts failed in a row (the next waits longer for each).
    pub failures: u32,
    /// Everything the page has declared since it was first read, by the vendor's id: entries it no longer
    /// lists (it shows the latest 50) are kept.
    pub notices: Vec<VendorNotice>,
}

/// A page's record as the engines write it: the address and the JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusPageRow {
    pub url: String,
    pub record: String,
}

impl Store {
    /// Stores `record` in place of the page's last one.
    pub async fn put_status_page(&self, record: &StatusPageRecord) -> Result<(), StoreError> {
        let row = StatusPageRow { url: record.url.clone(), record: document(record)? };
        self.write(Write::StatusPage(Box::new(row))).await.map(drop)
    }

    /// The record of the page at `url`, if it was ever read.
    pub async fn status_page(&self, url: &str) -> Result<Option<StatusPageRecord>, StoreError> {
        let url = url.to_owned();
        let stored = match self {
            Self::Sqlite(store) => {
                store
                    .read(move |connection| {
                        use rusqlite::OptionalExtension as _;
                        connection
                            .prepare_cached("SELECT record FROM status_pages WHERE url = ?1")?
                            .query_row([url], |row| row.get::<_, String>(0))
                            .optional()
                    })
                    .await?
            }
            Self::Postgres(store) => store
                .connection()
                .await?
                .query_opt("SELECT record FROM status_pages WHERE url = $1", &[&url])
                .await?
                .map(|row| row.get::<_, String>(0)),
        };
        stored.map(|text| decoded("status_pages.record", &text)).transpose()
    }

    /// What reports are to hold against our incidents for the page at `url`: its record, or, before the page
    /// was first read, that it has not been.
    pub async fn status_page_read(&self, url: &str) -> Result<StatusPageRead, StoreError> {
        Ok(match self.status_page(url).await? {
            Some(record) => StatusPageRead {
                url: record.url,
                checked_at: record.checked_at,
                problem: record.problem,
                notices: record.notices,
            },
            None => StatusPageRead {
                url: url.to_owned(),
                checked_at: None,
                problem: Some("not read yet: a serving collector reads it within a minute of starting".to_owned()),
                notices: Vec::new(),
            },
        })
    }
}
