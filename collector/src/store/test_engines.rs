//! The engines the store test suite runs on: a SQLite file in a temporary directory, and a schema of its own
//! in the PostgreSQL named by `SLAPROBE_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`),
//! dropped afterwards. Without a reachable PostgreSQL the suite says so loudly and runs on SQLite alone, unless
//! `SLAPROBE_REQUIRE_POSTGRES` is set (as `.ci/run` does), when that is a failure.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

use super::Store;

/// Where the PostgreSQL tests connect.
pub const DEFAULT_TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

static SCHEMAS: AtomicU32 = AtomicU32::new(0);
/// PostgreSQL halves skipped in this test binary.
static SKIPPED: AtomicU32 = AtomicU32::new(0);

/// One engine under test.
pub struct Engine {
    /// `sqlite` or `postgres`.
    pub name: &'static str,
    /// The store.
    pub store: Store,
    place: Place,
}

enum Place {
    File(tempfile::TempDir),
    Schema { server: String, url: String, schema: String },
}

impl Engine {
    /// The same database opened anew (a restarted collector).
    pub async fn reopen(&self) -> Store {
        match &self.place {
            Place::File(dir) => Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap(),
            Place::Schema { url, .. } => Store::open_postgres(url).await.unwrap(),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Place::Schema { server, schema, .. } = &self.place {
            let (server, schema) = (server.clone(), schema.clone());
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                runtime.block_on(async {
                    let (client, connection) = tokio_postgres::connect(&server, NoTls).await.ok()?;
                    tokio::spawn(connection);
                    client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.ok()
                })
            });
            let _ = dropped.join();
        }
    }
}

/// A fresh SQLite store and, when reachable, a fresh PostgreSQL schema.
pub async fn engines() -> Vec<Engine> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open_sqlite(&dir.path().join("slaprobe.db")).unwrap();
    let mut engines = vec![Engine { name: "sqlite", store: sqlite, place: Place::File(dir) }];
    let server = std::env::var("SLAPROBE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES.to_owned());
    match postgres_schema(&server).await {
        Ok((schema, url)) => {
            let store = Store::open_postgres(&url).await.unwrap_or_else(|error| panic!("{error}"));
            engines.push(Engine { name: "postgres", store, place: Place::Schema { server, url, schema } });
        }
        Err(error) if std::env::var_os("SLAPROBE_REQUIRE_POSTGRES").is_some() => {
            panic!("PostgreSQL at {server} is required (SLAPROBE_REQUIRE_POSTGRES) but: {error}")
        }
        Err(error) => {
            // Straight to the process's stderr, past the test harness's capture: a skip must be seen. The test
            // harness names each test's thread after the test.
            let skipped = SKIPPED.fetch_add(1, Ordering::SeqCst) + 1;
            let test = std::thread::current().name().unwrap_or("a store test").to_owned();
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED the PostgreSQL half of {test} ({skipped} skipped in this binary so far): {server}: \
                 {error}\n*** Point the tests at one with SLAPROBE_TEST_POSTGRES=postgres://user@host:port/db, and \
                 set SLAPROBE_REQUIRE_POSTGRES=1 to fail instead of skipping (see README, Tests).\n"
            );
        }
    }
    engines
}

/// Creates a schema of its own on `server`; its name and a URL whose connections use it.
async fn postgres_schema(server: &str) -> Result<(String, String), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(server, NoTls).await?;
    tokio::spawn(connection);
    let schema = format!(
        "slaprobe_test_{}_{}_{}",
        std::process::id(),
        SCHEMAS.fetch_add(1, Ordering::SeqCst),
        jiff::Timestamp::now().as_millisecond()
    );
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await?;
    let separator = if server.contains('?') { '&' } else { '?' };
    Ok((schema.clone(), format!("{server}{separator}options=-csearch_path%3D{schema}")))
}
