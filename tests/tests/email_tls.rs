//! Email channels over TLS against SMTP servers on loopback that demand AUTH, through the real collector's test
//! endpoint. The servers' certificate comes from a throwaway CA the collector trusts through `SSL_CERT_FILE`
//! (read by the system-roots loader, as an operator with a private CA would set it):
//!
//! - `smtp://user:password@host:port` upgrades with STARTTLS, then authenticates: delivered over TLS;
//! - `smtps://` speaks TLS from the first byte, then authenticates: delivered;
//! - a server that offers no STARTTLS gets nothing: the collector refuses to go on in the clear, and the
//!   password is never sent;
//! - a wrong password is refused by the server and reported, and nothing is delivered.

use serde_json::Value;
use slaprobe_tests::certs::CaFile;
use slaprobe_tests::collector::start_collector_with_env;
use slaprobe_tests::http_client::send;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::smtp_receiver::{Security, SmtpReceiver};

#[tokio::test(flavor = "multi_thread")]
async fn email_goes_over_starttls_or_smtps_with_auth_and_never_in_the_clear() {
    let CaFile { ca, path: ca_file, dir } = CaFile::new();
    let tls = ca.server_cert(-1, 30).server_config(&[]);
    let credentials = Some(("slaprobe", "m4il-p4ss"));
    let starttls = SmtpReceiver::start_with(Security::StartTls(tls.clone()), credentials);
    let implicit = SmtpReceiver::start_with(Security::Implicit(tls), credentials);
    let plain = SmtpReceiver::start_with(Security::Plain, credentials);
    let (grpc, http) = (free_addr(), free_addr());
    let channel = |id: &str, url: String| {
        format!(
            "    - {{ id: {id}, email: {{ smtp: \"{url}\", from: \"slaprobe@example.com\", to: [\"ops@example.com\"] }} }}\n"
        )
    };
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\nnotify:\n  channels:\n{}{}{}{}",
            channel("starttls", format!("smtp://slaprobe:m4il-p4ss@127.0.0.1:{}", starttls.addr.port())),
            channel("smtps", format!("smtps://slaprobe:m4il-p4ss@127.0.0.1:{}", implicit.addr.port())),
            channel("cleartext", format!("smtp://slaprobe:m4il-p4ss@127.0.0.1:{}", plain.addr.port())),
            channel("wrong", format!("smtp://slaprobe:guess@127.0.0.1:{}", starttls.addr.port())),
        ),
    )
    .unwrap();
    let ca_file = ca_file.to_str().unwrap();
    let (_collector, log) =
        tokio::task::block_in_place(|| start_collector_with_env(&config, &[("SSL_CERT_FILE", ca_file)]));
    let test = async |channel: &str| {
        let response = send(http, "POST", &format!("/api/v1/channels/{channel}/test"), &[], "").await;
        let body: Value =
            serde_json::from_str(&response.body).unwrap_or_else(|error| panic!("{error}: {}", response.body));
        (response.status, body)
    };

    for (channel, server) in [("starttls", &starttls), ("smtps", &implicit)] {
        let (status, delivery) = test(channel).await;
        assert_eq!(status, 200, "{channel}: {delivery}");
        assert_eq!(delivery["attempts"][0]["status"], 250, "{channel}: {delivery}");
        let mails = server.mails();
        assert_eq!(mails.len(), 1, "{channel}");
        assert_eq!((mails[0].tls, mails[0].user.as_deref()), (true, Some("slaprobe")), "{channel}");
        assert!(mails[0].data.contains("Subject: [TEST] test:"), "{}", mails[0].data);
    }
    assert_eq!(starttls.auth_attempts(), [("slaprobe".to_owned(), true)], "AUTH only once under TLS");

    let (status, delivery) = test("cleartext").await;
    assert_eq!(status, 502, "{delivery}");
    let attempts = delivery["attempts"].as_array().unwrap();
    assert!(!attempts.is_empty() && attempts.iter().all(|attempt| attempt["error"].is_string()), "{delivery}");
    assert!(plain.mails().is_empty() && plain.auth_attempts().is_empty(), "nothing, not even AUTH, in the clear");

    let (status, delivery) = test("wrong").await;
    assert_eq!(status, 502, "{delivery}");
    assert_eq!(delivery["attempts"][0]["status"], 535, "{delivery}");
    assert_eq!(starttls.mails().len(), 1, "nothing more delivered");

    let text = serde_json::to_string(&test("wrong").await.1).unwrap() + &log.lock().unwrap().join("\n");
    for secret in ["m4il-p4ss", "guess"] {
        assert!(!text.contains(secret), "{secret} shown in an answer or the log");
    }
}
