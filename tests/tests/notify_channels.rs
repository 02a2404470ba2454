//! Test notifications through a real collector to a real webhook receiver on loopback: the webhook gets the
//! JSON of `docs/configuration.md` with a valid HMAC signature and is retried after a 500; the Slack-compatible
//! channel gets `{"text": ...}`; PagerDuty gets an Events API v2 event (at a loopback `events_url`); email
//! reaches an SMTP server on loopback; an unreachable channel reports each of its three attempts; unknown
//! channels are a 404; the delivery log has every one, and `/metrics` marks the channel whose latest delivery
//! failed. Teams (an Adaptive Card), Opsgenie (Alert API), Telegram
//! (Bot API) and Discord get their services' exact requests at loopback endpoints, and a refusal's answer is
//! kept in the attempt without the channel's secrets.

use std::net::SocketAddr;

use serde_json::Value;
use slaprobe_collector::notify::signature;
use slaprobe_tests::collector::{CollectorProcess, start_collector};
use slaprobe_tests::http_client::send;
use slaprobe_tests::ports::{closed_port, free_addr};
use slaprobe_tests::smtp_receiver::SmtpReceiver;
use slaprobe_tests::webhook_receiver::WebhookReceiver;

/// A collector on loopback whose `notify.channels` are the YAML lines `channels`, with its directory and its
/// HTTP address.
fn collector_with_channels(channels: &str) -> (CollectorProcess, tempfile::TempDir, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_addr(), free_addr());
    let config = dir.path().join("collector.yaml");
    let head = format!("listen: {{ grpc: \"{grpc}\", http: \"{http}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n");
    std::fs::write(&config, format!("{head}notify:\n  channels:\n{channels}")).unwrap();
    (start_collector(&config), dir, http)
}

/// `POST /api/v1/channels/{channel}/test` at `http`: the status and the delivery it reports.
async fn test_notification(http: SocketAddr, channel: &str) -> (u16, Value) {
    let response = send(http, "POST", &format!("/api/v1/channels/{channel}/test"), &[], "").await;
    let body: Value = serde_json::from_str(&response.body).unwrap_or_else(|error| panic!("{error}: {}", response.body));
    (response.status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn test_notifications_reach_their_channels_signed_and_retried() {
    let receiver = WebhookReceiver::start(&[500]).await;
    let smtp = SmtpReceiver::start();
    let closed = closed_port();
    let channels = format!(
        "\x20   - {{ id: hook, webhook: {{ url: \"{}\", secret: \"w3bh00k\" }} }}\n\
         \x20   - {{ id: chat, slack: {{ url: \"{}\" }} }}\n\
         \x20   - {{ id: dead, webhook: {{ url: \"http://{closed}/hook\" }} }}\n\
         \x20   - {{ id: pager, pagerduty: {{ routing_key: \"R0UT1NG\", events_url: \"{}\" }} }}\n\
         \x20   - {{ id: mail, email: {{ smtp: \"{}\", from: \"slaprobe@example.com\",\n\
         \x20       to: [\"ops@example.com\"] }} }}\n",
        receiver.url("/hook"),
        receiver.url("/slack"),
        receiver.url("/pd"),
        smtp.url(),
    );
    let (_collector, _dir, http) = tokio::task::block_in_place(|| collector_with_channels(&channels));
    let test = async |channel: &str| test_notification(http, channel).await;

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
    // Prometheus sees which channel is broken.
    let (_, metrics) = slaprobe_tests::http_client::get(http, "/metrics").await;
    for (channel, failing) in [("dead", 1), ("hook", 0), ("mail", 0)] {
        let sample = format!("slaprobe_collector_notify_channel_failing{{channel=\"{channel}\"}} {failing}\n");
        assert!(metrics.contains(&sample), "{sample} in {metrics}");
    }
}

/// Teams, Opsgenie, Telegram and Discord get their services' exact requests; a Telegram answer saying why it
/// refused is kept (cut short) in the attempt, with the bot token nowhere in it.
#[tokio::test(flavor = "multi_thread")]
async fn chat_and_paging_services_get_their_own_requests() {
    let receiver = WebhookReceiver::start(&[]).await;
    let refusal = r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#;
    let refusing = WebhookReceiver::answering(&[(400, refusal), (400, refusal), (400, refusal)]).await;
    let channels = format!(
        "\x20   - {{ id: teams, teams: {{ url: \"{}\" }} }}\n\
         \x20   - {{ id: genie, opsgenie: {{ api_key: \"0ps-g3n1e-k3y\", api_url: \"{}\", priority: P2 }} }}\n\
         \x20   - {{ id: tg, telegram: {{ bot_token: \"123456:AAH-s3cr3t_t0ken\", chat_id: -1001234,\n\
         \x20       api_url: \"{}\" }} }}\n\
         \x20   - {{ id: tg-bad, telegram: {{ bot_token: \"654321:AAH-0ther_t0ken\", chat_id: \"@nochat\",\n\
         \x20       api_url: \"{}\" }} }}\n\
         \x20   - {{ id: discord, discord: {{ url: \"{}\" }} }}\n",
        receiver.url("/workflows/7/triggers/manual/paths/invoke?api-version=1&sig=S1GNATURE"),
        receiver.url("/og/"),
        receiver.url("/tg"),
        refusing.url(""),
        receiver.url("/api/webhooks/42/D1SC0RD"),
    );
    let (_collector, _dir, http) = tokio::task::block_in_place(|| collector_with_channels(&channels));
    let test = async |channel: &str| {
        let (status, body) = test_notification(http, channel).await;
        assert_eq!(status, 200, "{body}");
        receiver.received().pop().unwrap()
    };
    let headline = |channel: &str| format!("[TEST] test: Test notification from slaprobe to channel {channel}.");

    let teams = test("teams").await;
    assert_eq!(teams.path, "/workflows/7/triggers/manual/paths/invoke");
    assert_eq!(teams.query, "api-version=1&sig=S1GNATURE");
    assert_eq!(teams.header("content-type"), Some("application/json"));
    let card: Value = serde_json::from_slice(&teams.body).unwrap();
    let started = card["attachments"][0]["content"]["body"][1]["facts"][1]["value"].clone();
    assert!(started.as_str().is_some_and(|started| started.parse::<jiff::Timestamp>().is_ok()), "{card}");
    assert_eq!(
        card,
        serde_json::json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        { "type": "TextBlock", "text": headline("teams"), "weight": "Bolder", "color": "Default",
                          "wrap": true },
                        { "type": "FactSet", "facts": [
                            { "title": "Kind", "value": "test" },
                            { "title": "Started", "value": started },
                        ] },
                    ],
                    "actions": [],
                },
            }],
        })
    );

    let genie = test("genie").await;
    assert_eq!((genie.path.as_str(), genie.query.as_str()), ("/og/v2/alerts", ""));
    assert_eq!(genie.header("authorization"), Some("GenieKey 0ps-g3n1e-k3y"));
    let alert: Value = serde_json::from_slice(&genie.body).unwrap();
    let alias = alert["alias"].as_str().unwrap_or_default().to_owned();
    assert!(alias.starts_with("slaprobe-test-"), "{alert}");
    assert_eq!(
        alert,
        serde_json::json!({
            "message": headline("genie"),
            "alias": alias,
            "description": "Test notification from slaprobe to channel genie.",
            "source": "slaprobe",
            "priority": "P5",
            "tags": ["slaprobe", "test"],
            "details": { "kind": "test", "state": "test", "started_at": alert["details"]["started_at"] },
        })
    );

    let telegram = test("tg").await;
    assert_eq!(telegram.path, "/tg/bot123456:AAH-s3cr3t_t0ken/sendMessage");
    let message: Value = serde_json::from_slice(&telegram.body).unwrap();
    assert_eq!(
        message,
        serde_json::json!({
            "chat_id": -1001234,
            "text": headline("tg"),
            "link_preview_options": { "is_disabled": true },
        })
    );

    let discord = test("discord").await;
    assert_eq!(discord.path, "/api/webhooks/42/D1SC0RD");
    let message: Value = serde_json::from_slice(&discord.body).unwrap();
    assert_eq!(
        message,
        serde_json::json!({
            "username": "slaprobe",
            "content": headline("discord"),
            "allowed_mentions": { "parse": [] },
        })
    );

    // A refusal: each attempt says what the service answered; the token appears nowhere.
    let response = send(http, "POST", "/api/v1/channels/tg-bad/test", &[], "").await;
    assert_eq!(response.status, 502, "{}", response.body);
    let delivery: Value = serde_json::from_str(&response.body).unwrap();
    let errors: Vec<&str> =
        delivery["attempts"].as_array().unwrap().iter().filter_map(|attempt| attempt["error"].as_str()).collect();
    assert_eq!(errors, vec![format!("answered 400 Bad Request: {refusal}"); 3]);
    assert_eq!(refusing.received()[0].path, "/bot654321:AAH-0ther_t0ken/sendMessage");
    let message: Value = serde_json::from_slice(&refusing.received()[0].body).unwrap();
    assert_eq!(message["chat_id"], "@nochat");
    let log = send(http, "GET", "/api/v1/deliveries?limit=10", &[], "").await;
    assert!(log.body.contains("chat not found"), "{}", log.body);
    for secret in ["AAH-0ther_t0ken", "AAH-s3cr3t_t0ken", "0ps-g3n1e-k3y", "S1GNATURE", "D1SC0RD"] {
        assert!(!log.body.contains(secret), "{secret} in the delivery log: {}", log.body);
    }
}
