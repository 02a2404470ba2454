//! How the store is doing, for `/metrics`: writes, reads and PostgreSQL connections that failed (counted for the
//! whole process, whose stores all serve one collector), and the PostgreSQL pool's connections in use.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Store;

static FAILED_WRITES: AtomicU64 = AtomicU64::new(0);
static FAILED_READS: AtomicU64 = AtomicU64::new(0);
static FAILED_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// What failed since the process started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreFailures {
    /// Writes (a transaction not committed).
    pub writes: u64,
    /// SQLite reads.
    pub reads: u64,
    /// PostgreSQL connections not had from the pool (the database away or refusing).
    pub connections: u64,
}

/// The failures counted so far.
pub fn failures() -> StoreFailures {
    StoreFailures {
        writes: FAILED_WRITES.load(Ordering::Relaxed),
        reads: FAILED_READS.load(Ordering::Relaxed),
        connections: FAILED_CONNECTIONS.load(Ordering::Relaxed),
    }
}

pub(crate) fn count_failed_write() {
    FAILED_WRITES.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn count_failed_read() {
    FAILED_READS.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn count_failed_connection() {
    FAILED_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
}

/// The PostgreSQL pool's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections lent out now.
    pub in_use: usize,
    /// Connections open and idle.
    pub idle: usize,
    /// Queries waiting for a connection.
    pub waiting: usize,
    /// The most the pool opens.
    pub max: usize,
}

impl Store {
    /// The pool's connections, on PostgreSQL (SQLite has one writer and keeps up to 8 idle readers).
    pub fn pool_use(&self) -> Option<PoolUse> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(store) => Some(store.pool_use()),
        }
    }
}
