//! A PostgreSQL schema of a test's own on the server named by `SLAPROBE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped when the test ends. Without a reachable server the test
//! is skipped with a banner on stderr, unless `SLAPROBE_REQUIRE_POSTGRES` is set (as `.ci/run` does).

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::Client;

/// Where the tests connect unless told otherwise.
pub const DEFAULT_TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Schemas created by this test binary so far.
static SCHEMAS: AtomicU32 = AtomicU32::new(0);
/// Tests skipped in this test binary for want of PostgreSQL.
static SKIPPED: AtomicU32 = AtomicU32::new(0);

/// A schema that lives as long as the value.
pub struct TestSchema {
    server: String,
    name: String,
    /// A URL whose connections use the schema (for `storage: { postgres: ... }`).
    pub url: String,
    /// A connection to inspect it.
    pub client: Client,
}

impl TestSchema {
    /// Creates the schema, or says loudly why there is none, naming the test (`None`: skip the test).
    pub async fn create() -> Option<Self> {
        let server = std::env::var("SLAPROBE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES.to_owned());
        let connected = connect(&server).await;
        let client = match connected {
            Ok(client) => client,
            Err(error) if std::env::var_os("SLAPROBE_REQUIRE_POSTGRES").is_some() => {
                panic!("PostgreSQL at {server} is required (SLAPROBE_REQUIRE_POSTGRES) but: {error}")
            }
            Err(error) => {
                let skipped = SKIPPED.fetch_add(1, Ordering::SeqCst) + 1;
                // The test harness names each test's thread after the test; a benchmark runs on `main`.
                let test = match std::thread::current().name() {
                    Some(name) if name != "main" => name.to_owned(),
                    _ => std::env::args().next().unwrap_or_default(),
                };
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** SKIPPED {test} ({skipped} skipped in this binary so far): no PostgreSQL at {server}: \
                     {error}\n*** Point it at one with SLAPROBE_TEST_POSTGRES=postgres://user@host:port/db, and set \
                     SLAPROBE_REQUIRE_POSTGRES=1 to fail instead of skipping (see README, Tests).\n"
                );
                return None;
            }
        };
        // Unique across the tests of this process (which may start in the same millisecond) and across runs.
        let name = format!(
            "slaprobe_e2e_{}_{}_{}",
            std::process::id(),
            SCHEMAS.fetch_add(1, Ordering::SeqCst),
            jiff::Timestamp::now().as_millisecond()
        );
        client.batch_execute(&format!("CREATE SCHEMA {name}; SET search_path TO {name}")).await.expect("create schema");
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-csearch_path%3D{name}");
        Some(Self { server, name, url, client })
    }
}

/// A connection to `server`, with the TLS its `sslmode` asks for (made as the collector makes its own), driven
/// by a task of its own.
async fn connect(server: &str) -> Result<Client, String> {
    let options = slaprobe_collector::postgres_tls::connect_options(server)?;
    let (client, connection) = options.config.connect(options.tls).await.map_err(|error| error.to_string())?;
    tokio::spawn(connection);
    Ok(client)
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let client = connect(&server).await.ok()?;
                client.batch_execute(&format!("DROP SCHEMA {name} CASCADE")).await.ok()
            })
        });
        let _ = dropped.join();
    }
}
