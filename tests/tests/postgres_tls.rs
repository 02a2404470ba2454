//! PostgreSQL over TLS as `sslmode` says: `require` against the machine's PostgreSQL (which serves TLS with a
//! self-signed certificate), `verify-full` and `verify-ca` against a certificate made in the test (a TLS front
//! relaying to the same server), and the store, `migrate` and the configuration check taking those URLs.

use std::net::SocketAddr;

use slaprobe_collector::postgres_tls::connect_options;
use slaprobe_collector::store::postgres::PostgresStore;
use slaprobe_tests::certs::CaFile;
use slaprobe_tests::postgres::TestSchema;
use slaprobe_tests::postgres_tls_front::PostgresTlsFront;

/// Whether a connection made from `url` is encrypted, as the server sees it; or why none could be made.
async fn encrypted(url: &str) -> Result<bool, String> {
    let options = connect_options(url)?;
    let (client, connection) = options.config.connect(options.tls).await.map_err(|error| format!("{error:?}"))?;
    tokio::spawn(connection);
    let row = client
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .map_err(|error| error.to_string())?;
    Ok(row.get(0))
}

/// `url` with `host:port` replaced by `authority`.
fn through(url: &str, authority: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (user, rest) = rest.split_once('@').expect("a user");
    let path = &rest[rest.find('/').expect("a database")..];
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    format!("{scheme}://{user}@{authority}{path}")
}

fn upstream(url: &str) -> SocketAddr {
    let options = connect_options(url).expect("the test server's URL");
    let host = match &options.config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("a TCP host, not {other:?}"),
    };
    let port = options.config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}").parse().expect("an IP address in SLAPROBE_TEST_POSTGRES")
}

#[tokio::test]
async fn require_encrypts_and_disable_does_not() {
    let Some(schema) = TestSchema::create().await else { return };
    assert_eq!(encrypted(&format!("{}&sslmode=require", schema.url)).await, Ok(true));
    assert_eq!(encrypted(&format!("{}&sslmode=disable", schema.url)).await, Ok(false));
    assert_eq!(encrypted(&schema.url).await, Ok(true), "prefer (the default) encrypts when the server offers it");
    PostgresStore::open(&format!("{}&sslmode=require", schema.url)).await.expect("the store over TLS");
    let tables = schema
        .client
        .query_one("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()", &[])
        .await
        .unwrap();
    assert!(tables.get::<_, i64>(0) > 5, "migrated over TLS");
    // The machine's certificate is Debian's self-signed snakeoil for its host name (which Debian also puts in the
    // system's trust store): verify-full refuses it for 127.0.0.1, one way or the other.
    let refused = encrypted(&format!("{}&sslmode=verify-full", schema.url)).await.unwrap_err();
    assert!(refused.contains("InvalidCertificate"), "{refused}");
}

#[tokio::test]
async fn verify_full_checks_the_chain_and_the_name_verify_ca_only_the_chain() {
    let Some(schema) = TestSchema::create().await else { return };
    let ca = CaFile::new();
    let upstream = upstream(&schema.url);
    let query = |url: &str| url.split_once('?').map(|(_, query)| query.to_owned()).unwrap_or_default();
    let named = PostgresTlsFront::start(ca.ca.server_cert(-1, 30).server_config(&[]), upstream).await;
    let root = format!("sslrootcert={}", ca.path.display());
    let url = |front: &PostgresTlsFront, host: &str, mode: &str| {
        format!(
            "{}?{}&sslmode={mode}&{root}",
            through(&schema.url, &format!("{host}:{}", front.addr.port())),
            query(&schema.url)
        )
    };
    assert_eq!(
        encrypted(&url(&named, "localhost", "verify-full")).await,
        Ok(false),
        "the front is TLS, PostgreSQL behind it plain"
    );
    PostgresStore::open(&url(&named, "localhost", "verify-full")).await.expect("the store through verify-full");

    let elsewhere = PostgresTlsFront::start(
        ca.ca.server_cert_naming(vec!["db.example".into()], -1, 30).server_config(&[]),
        upstream,
    )
    .await;
    let wrong_name = encrypted(&url(&elsewhere, "localhost", "verify-full")).await.unwrap_err();
    assert!(wrong_name.contains("NotValidForName"), "{wrong_name}");
    assert_eq!(encrypted(&url(&elsewhere, "localhost", "verify-ca")).await, Ok(false), "verify-ca ignores the name");

    let other_ca = CaFile::new();
    let stranger = PostgresTlsFront::start(other_ca.ca.server_cert(-1, 30).server_config(&[]), upstream).await;
    let unknown = encrypted(&url(&stranger, "localhost", "verify-ca")).await.unwrap_err();
    assert!(unknown.contains("InvalidCertificate"), "{unknown}");
    let require_with_root = encrypted(&url(&stranger, "localhost", "require")).await.unwrap_err();
    assert!(
        require_with_root.contains("InvalidCertificate"),
        "require with sslrootcert checks the chain, as libpq: {require_with_root}"
    );
}
