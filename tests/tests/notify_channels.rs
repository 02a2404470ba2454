//! Test notifications through a real collector to a real webhook receiver on loopback: the webhook gets the
//! JSON of `docs/configuration.md` with a valid HMAC signature and is retried after a 500; the Slack-compatible
//! channel gets `{"text": ...}`; PagerDuty gets an Events API v2 event (at a loopback `events_url`); email
//! reaches an SMTP server on loopback; an unreachable channel reports each of its three attempts; unknown
//! channels are a 404; the delivery log has every one.

use serde_json::Value;
use slaprobe_collector::notify::signature;
use slaprobe_tests::collector::start_collector;
use slaprobe_tests::http_client::send;
use slaprobe_tests::ports::{closed_port, free_addr};
use slaprobe_tests::smtp_receiver::SmtpReceiver;
use slaprobe_tests::webhook_receiver::WebhookReceiver;

#[tokio::test(flavor = "multi_thread")]
async fn test_notifications_reach_their_channels_signed_and_retried() {
    let receiver = WebhookReceiver::start(&[500]).await;
    let smtp = SmtpReceiver::start();
    let closed = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             notify:\n  channels:\n\
             \x20   - {{ id: hook, webhook: {{ url: \"{}\", secret: \"w3bh00k\" }} }}\n\
             \x20   - {{ id: chat, slack: {{ url: \"{}\" }} }}\n\
             \x20   - {{ id: dead, webhook: {{ url: \"http://{closed}/hook\" }} }}\n\
             \x20   - {{ id: pager, pagerduty: {{ routing_key: \"R0UT1NG\", events_url: \"{}\" }} }}\n\
             \x20   - {{ id: mail, email: {{ smtp: \"{}\", from: \"slaprobe@example.com\", to: [\"ops@example.com\"] }} }}\n",
            receiver.url("/hook"),
            receiver.url("/slack"),
            receiver.url("/pd"),
            smtp.url(),
        ),
    )
    .unwrap();
    let _collector = tokio::task::block_in_place(|| start_collector(&config));
    let test = async |channel: &str| {
        let response = send(http, "POST", &format!("/api/v1/channels/{channel}/test"), &[], "").await;
        let body: Value =
            serde_json::from_str(&response.body).unwrap_or_else(|error| panic!("{error}: {}", response.body));
        (response.status, body)
    };

    let (status, delivery) = test("hook").await;
    assert_eq!(status, 200, "{delivery}");
    assert_eq!(delivery["delivered"], true);
    let statuses: Vec<&Value> =
        delivery["attempts"].as_array().unwrap().iter().map(|attempt| &attempt["status"]).collect();
    assert_eq!(statuses, [500, 200], "retried after the 500");
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    let last = &received[1];
    assert_eq!(last.path, "/hook");
    assert_eq!(last.header("content-type"), Some("application/json"));
    let expected = format!("sha256={}", signature("w3bh00k", &last.body));
    assert_eq!(last.header("x-slaprobe-signature"), Some(expected.as_str()), "signed with the secret");
    let payload: Value = serde_json::from_slice(&last.body).unwrap();
    for key in ["state", "kind", "contract", "started_at", "regions", "summary"] {
        assert!(payload.get(key).is_some(), "the payload has {key}: {payload}");
    }
    assert_eq!(payload["state"], "test");

    let (status, delivery) = test("chat").await;
    assert_eq!((status, delivery["attempts"].as_array().unwrap().len()), (200, 1), "{delivery}");
    let slack = receiver.received().pop().unwrap();
    assert_eq!(slack.path, "/slack");
    assert!(slack.header("x-slaprobe-signature").is_none());
    let text: Value = serde_json::from_slice(&slack.body).unwrap();
    assert_eq!(text["text"], "[TEST] test: Test notification from slaprobe to channel chat.");

    let (status, delivery) = test("dead").await;
    assert_eq!(status, 502, "{delivery}");
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{delivery}");
    assert!(
        attempts.iter().all(|attempt| attempt["error"].as_str().is_some_and(|error| error.contains("refused"))),
        "{delivery}"
    );

    let (status, delivery) = test("pager").await;
    assert_eq!(status, 200, "{delivery}");
    let event = receiver.received().pop().unwrap();
    assert_eq!(event.path, "/pd");
    let event: Value = serde_json::from_slice(&event.body).unwrap();
    assert_eq!((&event["routing_key"], &event["event_action"]), (&Value::from("R0UT1NG"), &Value::from("trigger")));
    assert!(event["dedup_key"].as_str().is_some_and(|key| key.starts_with("slaprobe-test-")), "{event}");
    assert_eq!(
        (&event["payload"]["source"], &event["payload"]["severity"]),
        (&Value::from("slaprobe"), &Value::from("info"))
    );

    let (status, delivery) = test("mail").await;
    assert_eq!(status, 200, "{delivery}");
    assert_eq!(delivery["attempts"][0]["status"], 250, "the SMTP server accepted it: {delivery}");
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(
        (mails[0].from.as_str(), mails[0].to.as_slice()),
        ("slaprobe@example.com", &["ops@example.com".to_owned()][..])
    );
    assert!(
        mails[0].data.contains("Subject: [TEST] test: Test notification from slaprobe to channel mail."),
        "{}",
        mails[0].data
    );
    let (status, body) = test("nope").await;
    assert_eq!(status, 404, "{body}");

    // The delivery log has each attempt made, newest first.
    let log = send(http, "GET", "/api/v1/deliveries?limit=10", &[], "").await;
    assert_eq!(log.status, 200, "{}", log.body);
    let log: Value = serde_json::from_str(&log.body).unwrap();
    let entries: Vec<(&str, bool, usize)> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let attempts = entry["attempts"].as_array().map_or(0, Vec::len);
            (entry["channel"].as_str().unwrap(), entry["delivered"].as_bool().unwrap(), attempts)
        })
        .collect();
    assert_eq!(
        entries,
        [("mail", true, 1), ("pager", true, 1), ("dead", false, 3), ("chat", true, 1), ("hook", true, 2)]
    );
}
