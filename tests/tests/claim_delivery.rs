//! Closed periods delivered to the channels of `reports:` with the real binary on a PostgreSQL store shared by
//! two collectors: a month with an outage is closed by two `close` runs at once (two replicas), and a loopback
//! SMTP server gets one message (the HTML claim report as the body, its JSON and CSV attached) and a webhook
//! receiver one signed JSON notice carrying the report, never two. Later runs send nothing again; once the claim
//! deadline is within `remind_before`, one reminder goes to each channel, once.

use std::process::{Command, Stdio};

use jiff::{Timestamp, ToSpan};
use serde_json::Value;
use slaprobe_collector::notify::signature;
use slaprobe_tests::agent::collector_binary;
use slaprobe_tests::collector::run_collector;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::postgres::TestSchema;
use slaprobe_tests::smtp_receiver::SmtpReceiver;
use slaprobe_tests::webhook_receiver::WebhookReceiver;

const SECRET: &str = "hook-secret-5e1f";

fn config(dir: &std::path::Path, store: &str, smtp: &str, hook: &str, remind_before: &str) -> std::path::PathBuf {
    let path = dir.join("collector.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: {{ grpc: \"{}\" }}\nstorage: {{ postgres: \"{store}\" }}\n\
             retention: {{ results: 36500d, rollups: 36500d }}\npublic_url: https://slaprobe.example\n\
             notify:\n  channels:\n\
             \x20   - {{ id: finance-mail, email: {{ smtp: \"{smtp}\", from: slaprobe@example.com, \
             to: [ap@example.com] }} }}\n\
             \x20   - {{ id: finance-hook, webhook: {{ url: \"{hook}\", secret: \"{SECRET}\" }} }}\n\
             reports: {{ channels: [finance-mail, finance-hook], remind_before: {remind_before} }}\n\
             contracts:\n  - {{ id: web, vendor: Loopback Inc., service: Web, checks: [web], objective: 99.9, \
             claim_window: 45d, credits: {{ fee: 500, currency: USD, tiers: [ {{ below: 99.9, credit: 10 }} ] }} }}\n",
            free_addr()
        ),
    )
    .unwrap();
    path
}

/// Two `close` runs at once, as two replicas would run them; both must succeed.
fn close_twice_at_once(config: &str) {
    let start = || {
        Command::new(collector_binary())
            .args(["close", "--config", config])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run close")
    };
    let (first, second) = (start(), start());
    for run in [first, second] {
        let output = run.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_periods_and_reminders_reach_each_channel_once() {
    let Some(schema) = TestSchema::create().await else { return };
    let (smtp, hook) = (SmtpReceiver::start(), WebhookReceiver::start(&[]).await);
    let dir = tempfile::tempdir().unwrap();
    let today = jiff::tz::TimeZone::UTC.to_datetime(Timestamp::now()).date();
    let measured = today.first_of_month() - 1.month();
    let period = measured.strftime("%Y-%m").to_string();
    let config = config(dir.path(), &schema.url, &smtp.url(), &hook.url("/claims"), "1d");
    let config = config.to_str().unwrap();

    // A day of results with a 100-minute outage: 100 of 1,440 monitored minutes down, 10 % of 500 USD.
    let start = measured.to_zoned_datetime(jiff::tz::TimeZone::UTC).unwrap().timestamp();
    let lines: String = (0..1440)
        .map(|minute: i64| {
            let ok = !(600..700).contains(&minute);
            let started = start + jiff::SignedDuration::from_secs(minute * 60 + 5);
            serde_json::json!({ "check_id": "web", "region": "eu-west", "agent_id": "agent-eu-1", "seq": minute + 1,
                "started_at": started.to_string(), "ok": ok, "error": (!ok).then_some("connection refused") })
            .to_string()
                + "\n"
        })
        .collect();
    let results = dir.path().join("results.jsonl");
    std::fs::write(&results, lines).unwrap();
    run_collector(&["import", "--config", config, "--results", results.to_str().unwrap()]);

    tokio::task::block_in_place(|| close_twice_at_once(config));
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "one message, whichever collector sent it: {mails:#?}");
    let mail = &mails[0].data;
    assert!(
        mail.contains(&format!("Subject: [CLAIM] Loopback Inc. owes 50.00 USD for {period} (web); claim by")),
        "{mail}"
    );
    assert!(mail.contains("Content-Type: text/html"), "the report is the message: {mail}");
    for attachment in [format!("web-{period}-r1-report.json"), format!("web-{period}-r1-report.csv")] {
        assert!(mail.contains(&attachment), "{attachment} attached: {mail}");
    }
    assert!(mail.contains(&format!("https://slaprobe.example/claims/web/{period}")), "{mail}");
    let received = hook.received();
    assert_eq!(received.len(), 1, "one webhook call");
    let expected = format!("sha256={}", signature(SECRET, &received[0].body));
    assert_eq!(received[0].header("x-slaprobe-signature"), Some(expected.as_str()));
    let notice: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!((notice["kind"].as_str(), notice["credit_amount"].as_str()), (Some("period_closed"), Some("50.00")));
    assert_eq!((notice["report"]["down_slices"].as_u64(), notice["claim_state"].as_str()), (Some(100), Some("owed")));
    run_collector(&["close", "--config", config]);
    assert_eq!((smtp.mails().len(), hook.received().len()), (1, 1), "a later run sends nothing again");

    // The deadline is 45 days after the period's end; a reminder window longer than what is left sends one.
    let config = self::config(dir.path(), &schema.url, &smtp.url(), &hook.url("/claims"), "60d");
    let config = config.to_str().unwrap();
    tokio::task::block_in_place(|| close_twice_at_once(config));
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2, "one reminder: {mails:#?}");
    assert!(mails[1].data.contains("Subject: [REMINDER] Loopback Inc. owes 50.00 USD"), "{}", mails[1].data);
    let received = hook.received();
    assert_eq!(received.len(), 2);
    let reminder: Value = serde_json::from_slice(&received[1].body).unwrap();
    assert_eq!((reminder["state"].as_str(), reminder["kind"].as_str()), (Some("reminder"), Some("claim_reminder")));
    run_collector(&["close", "--config", config]);
    assert_eq!((smtp.mails().len(), hook.received().len()), (2, 2), "each reminder once");
}
