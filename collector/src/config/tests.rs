//! `collector.yaml` loading.

use std::fs;

use super::{Storage, load_collector_config};

#[test]
fn design_example_loads_with_files_resolved_next_to_it() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("checks.yaml"),
        "checks:\n  - { id: acme-api, kind: http, target: \"https://api.acme.example/health\", interval: 30s }\n  \
         - { id: acme-dns, kind: dns, target: api.acme.example, interval: 30s }\n",
    )
    .unwrap();
    fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/contracts.yaml"), dir.path().join("contracts.yaml"))
        .unwrap();
    let hash = "a".repeat(64);
    fs::write(
        dir.path().join("collector.yaml"),
        format!(
            "listen: {{ grpc: 127.0.0.1:7070, http: 127.0.0.1:8080 }}\nstorage: {{ sqlite: ./data/slaprobe.db }}\n\
             agents:\n  - {{ id: agent-eu-1, region: eu-west, token_sha256: \"{hash}\" }}\n\
             checks_file: checks.yaml\ncontracts_file: contracts.yaml\n\
             notify: {{ channels: [] }}\nalerts: []\n"
        ),
    )
    .unwrap();
    let config = load_collector_config(&dir.path().join("collector.yaml")).unwrap();
    assert_eq!(config.storage, Storage::Sqlite(dir.path().join("./data/slaprobe.db")));
    assert_eq!((config.agents.len(), config.checks.len(), config.contracts.len()), (1, 2, 1));
    assert!(config.notify.channels.is_empty() && config.alerts.is_empty());
}

#[test]
fn every_problem_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("collector.yaml"),
        "listen: { grpc: 127.0.0.1:7070, tls: { cert_file: none.pem, key_file: none.key } }\n\
         storage: { postgres: \"postgres://x:port/db\" }\n\
         agents:\n  - { id: a, region: r, token_sha256: nothex }\n  - { id: a, region: r, token_sha256: nothex }\n\
         checks: [ { id: c, kind: tcp, target: nope, interval: 5s } ]\ncontracts_file: missing.yaml\n",
    )
    .unwrap();
    let error = load_collector_config(&dir.path().join("collector.yaml")).unwrap_err();
    let text = error.to_string();
    for part in [
        "checks[0].target: \"nope\" is not host:port",
        "contracts_file: ",
        "missing.yaml: cannot read",
        "agents[0].token_sha256: not a hex SHA-256",
        "agents[1].id: duplicate id \"a\"",
        "storage.postgres: not a PostgreSQL URL like postgres://user@host/db: ",
        "listen.tls.cert_file: ",
        "none.pem is not a readable file",
        "listen.tls.key_file: ",
    ] {
        assert!(text.contains(part), "missing {part:?} in {text}");
    }
}

#[test]
fn a_postgres_url_with_an_unknown_sslmode_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.yaml");
    let write = |url: &str| {
        fs::write(&config, format!("listen: {{ grpc: 127.0.0.1:7070 }}\nstorage: {{ postgres: \"{url}\" }}\n")).unwrap()
    };
    write("postgres://u@127.0.0.1/db?sslmode=verify");
    let text = load_collector_config(&config).unwrap_err().to_string();
    assert!(text.contains("storage.postgres: sslmode \"verify\" is not one of disable, prefer"), "{text}");
    write("postgres://u@127.0.0.1/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
    let text = load_collector_config(&config).unwrap_err().to_string();
    assert!(text.contains("storage.postgres: sslrootcert: /nonexistent/ca.pem: cannot read"), "{text}");
    write("postgres://u@127.0.0.1/db?sslmode=verify-full");
    assert!(load_collector_config(&config).is_ok(), "verify-full, which tokio-postgres alone would refuse");
}

#[test]
fn deploy_example_is_valid() {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/collector.yaml"));
    let config = load_collector_config(path).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((config.agents.len(), config.checks.len(), config.contracts.len()), (2, 2, 1));
    // The commented alerting example is valid once uncommented (its secrets filled in, as the environment would).
    let text = fs::read_to_string(path).unwrap();
    let (head, alerting) = text.split_once("# Alerts").unwrap();
    let uncommented: String =
        alerting.lines().skip(1).map(|line| line.strip_prefix("# ").unwrap_or(line).to_owned() + "\n").collect();
    let uncommented = ["HOOK_SECRET", "PD_KEY", "SMTP_PASSWORD"]
        .iter()
        .fold(uncommented, |text, name| text.replace(&format!("${{{name}}}"), "s3cret"));
    let dir = tempfile::tempdir().unwrap();
    fs::copy(path.with_file_name("contracts.yaml"), dir.path().join("contracts.yaml")).unwrap();
    fs::write(dir.path().join("collector.yaml"), format!("{head}{uncommented}")).unwrap();
    let config = load_collector_config(&dir.path().join("collector.yaml")).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((config.notify.channels.len(), config.notify.policies[0].levels.len(), config.alerts.len()), (3, 3, 5));
}

#[test]
fn retention_has_a_floor_and_a_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.yaml");
    fs::write(&path, "listen: { grpc: 127.0.0.1:7070 }\nstorage: { sqlite: x.db }\n").unwrap();
    let config = load_collector_config(&path).unwrap();
    assert_eq!(config.retention.results, std::time::Duration::from_secs(400 * 86_400));
    fs::write(&path, "listen: { grpc: 127.0.0.1:7070 }\nstorage: { sqlite: x.db }\nretention: { results: 30d }\n")
        .unwrap();
    let text = load_collector_config(&path).unwrap_err().to_string();
    assert!(text.contains("retention.results: 30d is shorter than the minimum of 35d"), "{text}");
    fs::write(&path, "listen: { grpc: 127.0.0.1:7070 }\nstorage: { sqlite: x.db }\nretention: { rollups: 90d }\n")
        .unwrap();
    let text = load_collector_config(&path).unwrap_err().to_string();
    let expected = "retention.rollups: 90d is shorter than retention.results (400d, the default when it is not set)";
    assert!(text.contains(expected), "{text}");
    fs::write(&path, "listen: { grpc: 127.0.0.1:7070 }\nstorage: { sqlite: x.db }\nretention: { results: 36h 30m }\n")
        .unwrap();
    let text = load_collector_config(&path).unwrap_err().to_string();
    assert!(text.contains("retention.results: 36h 30m is shorter than the minimum of 35d"), "as written: {text}");
    fs::write(&path, "listen: { grpc: 127.0.0.1:7070 }\nstorage: { sqlite: x.db }\nretention: { results: soon }\n")
        .unwrap();
    let text = load_collector_config(&path).unwrap_err().to_string();
    assert!(text.contains("retention: results: \"soon\""), "{text}");
}

#[test]
fn a_bad_clock_bound_is_named() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("collector.yaml"),
        "listen: { grpc: 127.0.0.1:7070 }\nstorage: { sqlite: x.db }\nmax_clock_offset: soon\n",
    )
    .unwrap();
    let text = load_collector_config(&dir.path().join("collector.yaml")).unwrap_err().to_string();
    assert!(text.contains("max_clock_offset: invalid value: string \"soon\", expected a duration"), "{text}");
}

#[test]
fn api_tokens_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let hash = "ab".repeat(32);
    fs::write(
        dir.path().join("collector.yaml"),
        format!(
            "listen: {{ grpc: 127.0.0.1:7070 }}\nstorage: {{ sqlite: x.db }}\napi_tokens:\n\
             \x20 - {{ name: finance, role: viewer, token_sha256: \"{hash}\" }}\n\
             \x20 - {{ name: ops, role: admin, token_sha256: \"{}\" }}\n\
             \x20 - {{ name: intern, role: viewer, token_sha256: short }}\n",
            hash.to_uppercase()
        ),
    )
    .unwrap();
    let text = load_collector_config(&dir.path().join("collector.yaml")).unwrap_err().to_string();
    assert!(text.contains("api_tokens[1]: the same token as an earlier entry"), "{text}");
    assert!(text.contains("api_tokens[2].token_sha256: not a hex SHA-256"), "{text}");

    fs::write(
        dir.path().join("collector.yaml"),
        "listen: { grpc: 127.0.0.1:7070 }\nstorage: { sqlite: x.db }\n\
         api_tokens: [ { name: boss, role: owner, token_sha256: x } ]\n",
    )
    .unwrap();
    let text = load_collector_config(&dir.path().join("collector.yaml")).unwrap_err().to_string();
    assert!(text.contains("api_tokens[0].role: unknown variant `owner`, expected `viewer` or `admin`"), "{text}");
}

/// Loads a collector.yaml made of a minimal head (the deploy example's contracts) and `rest`.
fn load_with_contracts(rest: &str) -> Result<super::CollectorConfig, super::ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/contracts.yaml"), dir.path().join("contracts.yaml"))
        .unwrap();
    let head = "listen: { grpc: 127.0.0.1:7070 }\nstorage: { sqlite: x.db }\ncontracts_file: contracts.yaml\n";
    fs::write(dir.path().join("collector.yaml"), format!("{head}{rest}")).unwrap();
    load_collector_config(&dir.path().join("collector.yaml"))
}

#[test]
fn the_design_alerting_example_loads() {
    let config = load_with_contracts(
        "\
         notify:\n  channels:\n\
         \x20   - { id: ops-hook, webhook: { url: \"https://hooks.example/slaprobe\", secret: \"s3cret\" } }\n\
         \x20   - { id: ops-chat, slack: { url: \"https://chat.example/hook\" } }\n\
         \x20   - { id: oncall, pagerduty: { routing_key: \"R0UT1NG\" } }\n\
         \x20   - { id: managers, email: { smtp: \"smtp://mail.example:587\", from: \"slaprobe@example.com\", \
         to: [\"it@example.com\"] } }\n\
         \x20 policies:\n    - id: default\n      levels:\n\
         \x20       - { after: 0s, channels: [ops-hook, ops-chat] }\n\
         \x20       - { after: 10m, channels: [oncall] }\n\
         alerts:\n  - { contract: acme-api, kind: down, policy: default }\n",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((config.notify.channels.len(), config.notify.policies.len(), config.alerts.len()), (4, 1, 1));
    assert_eq!(config.notify.policies[0].levels[1].after, std::time::Duration::from_secs(600));
    assert_eq!(config.alerts[0].kind, super::alerting::AlertKind::Down);
}

#[test]
fn alerting_mistakes_are_named_where_they_are() {
    let text = load_with_contracts(
        "\
         notify:\n  channels:\n\
         \x20   - { id: hook, webhook: { url: \"ftp://x\" }, slack: { url: \"https://chat.example\" } }\n\
         \x20   - { id: hook, email: { smtp: \"mail.example\", from: \"nobody\", to: [] } }\n\
         \x20 policies:\n    - id: default\n      levels:\n\
         \x20       - { after: 10m, channels: [hook, pager] }\n\
         \x20       - { after: 5m, channels: [] }\n\
         alerts:\n  - { contract: nope, kind: down, policy: missing }\n",
    )
    .unwrap_err()
    .to_string();
    for part in [
        "notify.channels[0]: give exactly one of `webhook`, `slack`, `pagerduty`, `email`, `teams`, `opsgenie`, \
         `telegram`, `discord`",
        "notify.channels[0].webhook.url: scheme \"ftp\" is not http:// or https:// (the URL is not shown",
        "notify.channels[1].id: duplicate id \"hook\"",
        "notify.channels[1].email.smtp: no scheme is not smtp:// or smtps:// (the URL is not shown",
        "notify.channels[1].email.to: give at least one recipient",
        "notify.channels[1].email.from: \"nobody\" is not an email address",
        "notify.policies[0].levels[0].channels: no channel \"pager\" in notify.channels",
        "notify.policies[0].levels[1].after: shorter than the level before it",
        "notify.policies[0].levels[1].channels: name at least one channel",
        "alerts[0].contract: no contract \"nope\"",
        "alerts[0].policy: no policy \"missing\" in notify.policies",
    ] {
        assert!(text.contains(part), "missing {part:?} in {text}");
    }
    assert!(!text.contains("ftp://x") && !text.contains("mail.example\""), "channel URLs are not echoed: {text}");
    let text = load_with_contracts("alerts: [ { contract: acme-api, kind: outage, policy: default } ]\n")
        .unwrap_err()
        .to_string();
    assert!(text.contains("alerts[0].kind: unknown variant `outage`"), "{text}");
}

#[test]
fn chat_and_paging_channels_are_checked_without_echoing_secrets() {
    let good = load_with_contracts(
        "\
         notify:\n  channels:\n\
         \x20   - { id: teams, teams: { url: \"https://prod.example.logic.azure.com/workflows/1?sig=S\" } }\n\
         \x20   - { id: genie, opsgenie: { api_key: \"k3y\", region: eu, priority: P1 } }\n\
         \x20   - { id: tg, telegram: { bot_token: \"123456:AAH_x-y\", chat_id: -1001234 } }\n\
         \x20   - { id: tg-name, telegram: { bot_token: \"123456:AAH_x-y\", chat_id: \"@ops_alerts\" } }\n\
         \x20   - { id: discord, discord: { url: \"https://discord.com/api/webhooks/1/T\" } }\n",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(good.notify.channels.len(), 5);
    assert_eq!(
        good.notify.channels[1].opsgenie.as_ref().map(|genie| genie.region),
        Some(super::alerting::OpsgenieRegion::Eu)
    );
    let text = load_with_contracts(
        "\
         notify:\n  channels:\n\
         \x20   - { id: teams, teams: { url: \"teams.example/secret-path\" } }\n\
         \x20   - { id: genie, opsgenie: { api_key: \" \", region: eu } }\n\
         \x20   - { id: genie2, opsgenie: { api_key: \"k\", priority: urgent, api_url: \"ftp://g\" } }\n\
         \x20   - { id: tg, telegram: { bot_token: \"s3cret/../x\", chat_id: \"ops\" } }\n\
         \x20   - { id: discord, discord: { url: \"discord.example/T0KEN\" } }\n",
    )
    .unwrap_err()
    .to_string();
    for part in [
        "notify.channels[0].teams.url: no scheme is not http:// or https:// (the URL is not shown",
        "notify.channels[1].opsgenie.api_key: empty",
        "notify.channels[2].opsgenie.priority: \"urgent\" is not one of P1, P2, P3, P4, P5",
        "notify.channels[2].opsgenie.api_url: scheme \"ftp\" is not http:// or https://",
        "notify.channels[3].telegram.bot_token: not a bot token",
        "notify.channels[3].telegram.chat_id: \"ops\" is neither a number nor a public `@name`",
        "notify.channels[4].discord.url: no scheme is not http:// or https://",
    ] {
        assert!(text.contains(part), "missing {part:?} in {text}");
    }
    for secret in ["secret-path", "s3cret", "T0KEN"] {
        assert!(!text.contains(secret), "{secret} echoed: {text}");
    }
    let text = load_with_contracts("notify:\n  channels: [ { id: g, opsgenie: { api_key: k, region: asia } } ]\n")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("notify.channels[0].opsgenie.region: unknown variant `asia`, expected `us` or `eu`"),
        "{text}"
    );
}

#[test]
fn alert_tuning_options_belong_to_their_kind() {
    let text = load_with_contracts(
        "\
         notify:\n  channels: [ { id: hook, webhook: { url: \"http://127.0.0.1:9/\" } },\n\
         \x20   { id: pd, pagerduty: { routing_key: k, events_url: \"events.example\" } } ]\n\
         \x20 policies: [ { id: default, repeat: 10s, levels: [ { after: 0s, channels: [hook] } ] } ]\n\
         alerts:\n\
         \x20 - { contract: acme-api, kind: down, policy: default, down_slices: 0, within: 3d }\n\
         \x20 - { contract: acme-api, kind: down, policy: default }\n\
         \x20 - { contract: acme-api, kind: burn_rate, policy: default, windows: [ { long: 5m, short: 1h, burn: 0 } ] }\n\
         \x20 - { contract: acme-api, kind: silent, policy: default, after: 0s }\n",
    )
    .unwrap_err()
    .to_string();
    for part in [
        "notify.channels[1].pagerduty.events_url: no scheme is not http:// or https://",
        "notify.policies[0].repeat: at least 1m",
        "alerts[0].within: only for kind cert_expiry",
        "alerts[0].down_slices: must be at least 1",
        "alerts[1]: a second down alert for contract \"acme-api\"",
        "alerts[2].windows[0].short: must be longer than 0s and shorter than `long`",
        "alerts[2].windows[0].burn: must be above 0",
        "alerts[3].after: must be longer than 0s",
    ] {
        assert!(text.contains(part), "missing {part:?} in {text}");
    }
}

/// Writes `collector.yaml` (a central list with check `acme-api`, `contracts_file: contracts.yaml`, a down
/// alert on contract `acme`) and `contracts.yaml` with `contracts`, and loads it.
fn load_contracts_file(contracts: &str) -> Result<super::CollectorConfig, super::ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("contracts.yaml"), contracts).unwrap();
    fs::write(
        dir.path().join("collector.yaml"),
        "listen: { grpc: 127.0.0.1:7070 }\nstorage: { sqlite: ./slaprobe.db }\n\
         checks: [ { id: acme-api, kind: tcp, target: \"127.0.0.1:9\", interval: 30s } ]\n\
         contracts_file: contracts.yaml\n\
         notify: { channels: [ { id: hook, webhook: { url: \"http://127.0.0.1:9/\" } } ], \
                   policies: [ { id: default, levels: [ { after: 0s, channels: [hook] } ] } ] }\n\
         alerts: [ { contract: acme, kind: down, policy: default } ]\n",
    )
    .unwrap();
    load_collector_config(&dir.path().join("collector.yaml"))
}

const ACME: &str = "contracts:\n  - id: acme\n    vendor: Acme\n    service: API\n    objective: 99.9\n    \
                    credits: { fee: 100, currency: USD, tiers: [] }\n    checks: ";

#[test]
fn a_contract_naming_an_unknown_check_is_an_error_of_the_contracts_file() {
    let error = load_contracts_file(&format!("{ACME}[acme-api, acme-helth]\n")).unwrap_err().to_string();
    assert!(
        error.contains("contracts.yaml (contracts_file): contracts[0].checks[1]: no check \"acme-helth\" in the collector's check list"),
        "{error}"
    );
    assert_eq!(error.matches("\n  - ").count(), 1, "one problem, no follow-on: {error}");
}

#[test]
fn a_check_declared_local_needs_no_central_entry() {
    let config = load_contracts_file(&format!("{ACME}[acme-api, {{ id: acme-internal, local: true }}]\n")).unwrap();
    let contract = &config.contracts[0];
    assert_eq!(contract.terms.checks, ["acme-api", "acme-internal"]);
    assert!(contract.local_checks.contains("acme-internal") && !contract.local_checks.contains("acme-api"));
    let error = load_contracts_file(&format!("{ACME}[{{ id: acme-api, locale: true }}]\n")).unwrap_err().to_string();
    assert!(error.contains("contracts[0].checks[0].locale: unknown field `locale`"), "{error}");
}

#[test]
fn a_broken_contracts_file_is_named_with_its_line_and_causes_no_follow_on_errors() {
    let error = load_contracts_file(&format!("{ACME}[acme-api\n  - id: [\n")).unwrap_err().to_string();
    assert!(error.contains("contracts_file: ") && error.contains("contracts.yaml: "), "{error}");
    assert!(error.contains("line "), "the parser's line and column: {error}");
    assert!(!error.contains("alerts[0]"), "the alert on the unreadable contract is not a second problem: {error}");
    let error = load_contracts_file(&format!("{ACME}[acme-api]\n    objective: 200\n")).unwrap_err().to_string();
    assert!(!error.contains("alerts[0]"), "{error}");
}

#[test]
fn an_unset_variable_is_one_problem_not_two() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.yaml");
    fs::write(&path, "listen: { grpc: \"${SLAPROBE_TEST_UNSET_GRPC}\" }\nstorage: { sqlite: x.db }\n").unwrap();
    let error = load_collector_config(&path).unwrap_err();
    assert_eq!(error.problems, ["listen.grpc: environment variable SLAPROBE_TEST_UNSET_GRPC is not set"]);
}

#[test]
fn reports_name_channels_that_carry_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let write = |reports: &str| {
        fs::write(
            dir.path().join("collector.yaml"),
            format!(
                "listen: {{ grpc: 127.0.0.1:7070 }}\nstorage: {{ sqlite: x.db }}\nnotify:\n  channels:\n\
                 \x20   - {{ id: mail, email: {{ smtp: \"smtp://127.0.0.1:25?tls=none\", from: a@example.com, \
                 to: [b@example.com] }} }}\n\
                 \x20   - {{ id: pager, pagerduty: {{ routing_key: abcdefgh }} }}\n{reports}"
            ),
        )
        .unwrap();
        load_collector_config(&dir.path().join("collector.yaml"))
    };
    let loaded = write("reports: { channels: [mail], send: all }\n").unwrap();
    assert_eq!((loaded.reports.channels.len(), loaded.reports.remind_before.as_secs()), (1, 5 * 24 * 3600));
    let error = write("reports: { channels: [mail, mail, pager, chat], remind_before: 0s }\n").unwrap_err().to_string();
    for problem in [
        "reports.channels[1]: \"mail\" is named twice",
        "reports.channels[2]: \"pager\" is a PagerDuty channel",
        "reports.channels[3]: no channel \"chat\" in notify.channels",
        "reports.remind_before: give a duration",
    ] {
        assert!(error.contains(problem), "{problem}: {error}");
    }
    let error = write("reports: { channels: [mail], send: sometimes }\n").unwrap_err().to_string();
    assert!(error.contains("reports.send") || error.contains("reports: send"), "{error}");
}

#[test]
fn control_checks_are_checks_marked_control_that_no_contract_may_count() {
    let checks = "checks:\n  - { id: acme-api, kind: tcp, target: \"127.0.0.1:1\", interval: 30s }\n  \
                  - { id: acme-dns, kind: dns, target: example.test, interval: 30s }\n";
    let controls = "control_checks:\n  - { id: ctl-gateway, kind: tcp, target: \"127.0.0.1:2\", interval: 30s }\n";
    let config = load_with_contracts(&format!("{checks}{controls}")).unwrap();
    let ids: Vec<(&str, bool)> =
        config.control_checks.iter().map(|control| (control.check.id.as_str(), control.check.control)).collect();
    assert_eq!(ids, [("ctl-gateway", true)]);
    assert!(config.checks.iter().all(|check| !check.check.control));

    let clash = "control_checks:\n  - { id: acme-api, kind: tcp, target: \"127.0.0.1:2\", interval: 30s }\n";
    let text = load_with_contracts(&format!("{checks}{clash}")).unwrap_err().to_string();
    assert!(text.contains("control_checks[0].id: \"acme-api\" is also a check's id"), "{text}");
    let expected = "contracts[0].checks[0]: \"acme-api\" is a control check (it tells our own faults from the \
                    vendor's and never counts for a contract); list it under `checks:` to measure it";
    assert!(text.contains(expected), "{text}");
    let bad = "control_checks:\n  - { id: ctl, kind: tcp, target: \"127.0.0.1:2\", interval: 0s }\n";
    let text = load_with_contracts(&format!("{checks}{bad}")).unwrap_err().to_string();
    assert!(text.contains("control_checks[0].interval: 0s is below the minimum of 1s"), "{text}");
}

#[test]
fn results_retention_must_outlive_every_contracts_claim() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("contracts.yaml"),
        "contracts:\n  - { id: monthly, vendor: Acme, service: API, objective: 99.9, checks: [api], \
         credits: { fee: 100, currency: USD, tiers: [] } }\n  \
         - { id: quarterly, vendor: Acme, service: CDN, objective: 99.9, checks: [api], period: quarter, \
         claim_window: 90d, credits: { fee: 100, currency: USD, tiers: [] } }\n",
    )
    .unwrap();
    let path = dir.path().join("collector.yaml");
    let config = |retention: &str| {
        format!(
            "listen: {{ grpc: 127.0.0.1:7070 }}\nstorage: {{ sqlite: x.db }}\ncontracts_file: contracts.yaml\n\
             checks: [ {{ id: api, kind: tcp, target: \"127.0.0.1:9\", interval: 30s }} ]\n{retention}"
        )
    };
    fs::write(&path, config("retention: { results: 100d }\n")).unwrap();
    let text = load_collector_config(&path).unwrap_err().to_string();
    let expected = "retention.results: 100d would delete results contract \"quarterly\" may still claim with: it needs \
                    at least 189d (a quarter of up to 92d, its claim_window of 90d, and a margin of 7d)";
    assert!(text.contains(expected), "{text}");
    fs::write(&path, config("retention: { results: 189d }\n")).unwrap();
    assert!(load_collector_config(&path).is_ok(), "the period, the window and the margin are enough");
    fs::write(
        dir.path().join("contracts.yaml"),
        "contracts:\n  - { id: monthly, vendor: Acme, service: API, \
         objective: 99.9, checks: [api], credits: { fee: 100, currency: USD, tiers: [] } }\n",
    )
    .unwrap();
    fs::write(&path, config("retention: { results: 60d }\n")).unwrap();
    let text = load_collector_config(&path).unwrap_err().to_string();
    let expected = "contract \"monthly\" may still claim with: it needs at least 128d (a month of up to 31d, 90d \
                    to claim, as it states no claim_window, and a margin of 7d)";
    assert!(text.contains(expected), "{text}");
    fs::write(&path, config("")).unwrap();
    assert!(load_collector_config(&path).is_ok(), "the default of 400d outlives every claim");
}

#[test]
fn a_client_certificate_binding_needs_a_client_ca_and_a_name_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.yaml");
    let hash = "a".repeat(64);
    fs::write(
        &path,
        format!(
            "listen: {{ grpc: 127.0.0.1:7070 }}\nstorage: {{ sqlite: x.db }}\nagents:\n  \
             - {{ id: a, region: eu, token_sha256: \"{hash}\", client_cert: {{ name: a }} }}\n  \
             - {{ id: b, region: eu, token_sha256: \"{}\", client_cert: {{ spki_sha256: xyz }} }}\n  \
             - {{ id: c, region: eu, token_sha256: \"{}\", client_cert: {{}} }}\n",
            "b".repeat(64),
            "c".repeat(64)
        ),
    )
    .unwrap();
    let text = load_collector_config(&path).unwrap_err().to_string();
    for expected in [
        "agents[0].client_cert: needs listen.tls.client_ca_file",
        "agents[1].client_cert.spki_sha256: not a hex SHA-256",
        "agents[2].client_cert: give `name`, `spki_sha256` or both",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    let report = super::load_collector_config_for(&path, super::Purpose::StoreOnly).unwrap_err().to_string();
    assert!(!report.contains("client_ca_file"), "store-only commands do not read listen: {report}");
}
