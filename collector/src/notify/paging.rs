//! The paging channels, which open an incident on firing and close it on resolved, deduplicated by the alert's
//! id (a test notification gets an id of its own, `slaprobe-test-<ms>`):
//!
//! - **pagerduty**: an Events API v2 event (`trigger` or `resolve`, severity `critical`; `info` for a test);
//! - **opsgenie**: the Alert API: `POST /v2/alerts` (priority as configured, default `P3`; `P5` for a test) and
//!   `POST /v2/alerts/{alias}/close?identifierType=alias` on resolved, with `Authorization: GenieKey <key>`,
//!   at `api.opsgenie.com` or, for `region: eu`, `api.eu.opsgenie.com`. Fields are cut to the API's limits
//!   (message 130 characters, alias 512, description 15,000).

use std::collections::BTreeMap;

use serde_json::json;

use super::chat::cut;
use super::{Notification, Outgoing};
use crate::config::alerting::{Opsgenie, OpsgenieRegion, PagerDuty};

/// PagerDuty's Events API v2 endpoint, unless the channel names another.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Opsgenie's API for accounts in its US instance.
pub const OPSGENIE_US_URL: &str = "https://api.opsgenie.com";
/// Opsgenie's API for accounts in its EU instance.
pub const OPSGENIE_EU_URL: &str = "https://api.eu.opsgenie.com";

/// The id that deduplicates `notification`'s incident: the alert's, or one per test.
fn dedup_key(notification: &Notification) -> String {
    notification
        .alert_id
        .clone()
        .unwrap_or_else(|| format!("slaprobe-test-{}", notification.started_at.as_millisecond()))
}

/// The Events API v2 event for `notification`.
pub fn pagerduty(pagerduty: &PagerDuty, notification: &Notification) -> Result<Outgoing, String> {
    let action = if notification.state == "resolved" { "resolve" } else { "trigger" };
    let links: Vec<serde_json::Value> =
        notification.url.iter().map(|url| json!({ "href": url, "text": "The contract in slaprobe" })).collect();
    let body = json!({
        "routing_key": pagerduty.routing_key,
        "links": links,
        "event_action": action,
        "dedup_key": dedup_key(notification),
        "payload": {
            "summary": notification.headline(),
            "source": "slaprobe",
            "severity": if notification.state == "test" { "info" } else { "critical" },
            "timestamp": notification.started_at,
            "component": notification.contract,
            "group": notification.kind,
            "custom_details": notification,
        },
    });
    let url = pagerduty.events_url.clone().unwrap_or_else(|| PAGERDUTY_EVENTS_URL.to_owned());
    Ok(Outgoing { url, body: serde_json::to_vec(&body).map_err(|error| error.to_string())?, headers: Vec::new() })
}

/// The Alert API request for `notification`: create, or close by alias when resolved.
pub fn opsgenie(opsgenie: &Opsgenie, notification: &Notification) -> Result<Outgoing, String> {
    let base = opsgenie.api_url.as_deref().unwrap_or(match opsgenie.region {
        OpsgenieRegion::Us => OPSGENIE_US_URL,
        OpsgenieRegion::Eu => OPSGENIE_EU_URL,
    });
    let mut url = reqwest::Url::parse(base).map_err(|error| format!("opsgenie.api_url: {error}"))?;
    let alias = cut(&dedup_key(notification), 512);
    let body = if notification.state == "resolved" {
        let mut segments = url.path_segments_mut().map_err(|()| "opsgenie.api_url: cannot take a path".to_owned())?;
        segments.pop_if_empty().extend(["v2", "alerts", alias.as_str(), "close"]);
        drop(segments);
        url.set_query(Some("identifierType=alias"));
        json!({ "source": "slaprobe", "note": cut(&notification.summary, 25_000) })
    } else {
        let mut segments = url.path_segments_mut().map_err(|()| "opsgenie.api_url: cannot take a path".to_owned())?;
        segments.pop_if_empty().extend(["v2", "alerts"]);
        drop(segments);
        let test = notification.state == "test";
        let priority = if test { "P5" } else { opsgenie.priority.as_deref().unwrap_or("P3") };
        let mut alert = json!({
            "message": cut(&notification.headline(), 130),
            "alias": alias,
            "description": cut(&notification.summary, 15_000),
            "source": "slaprobe",
            "priority": priority,
            "tags": ["slaprobe", notification.kind],
            "details": details(notification),
        });
        if !notification.contract.is_empty() {
            alert["entity"] = json!(notification.contract);
        }
        alert
    };
    Ok(Outgoing {
        url: url.to_string(),
        body: serde_json::to_vec(&body).map_err(|error| error.to_string())?,
        headers: vec![("Authorization".to_owned(), format!("GenieKey {}", opsgenie.api_key))],
    })
}

/// The notification's fields as Opsgenie's string-to-string `details`, empty ones left out.
fn details(notification: &Notification) -> BTreeMap<&'static str, String> {
    let fields = [
        ("state", notification.state.clone()),
        ("kind", notification.kind.clone()),
        ("contract", notification.contract.clone()),
        ("vendor", notification.vendor.clone()),
        ("service", notification.service.clone()),
        ("started_at", notification.started_at.to_string()),
        ("regions", notification.regions.join(", ")),
        ("level", notification.level.map(|level| level.to_string()).unwrap_or_default()),
        ("url", notification.url.clone().unwrap_or_default()),
    ];
    fields.into_iter().filter(|(_, value)| !value.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;

    fn resolved() -> Notification {
        Notification {
            state: "resolved".to_owned(),
            kind: "down".to_owned(),
            contract: "acme".to_owned(),
            vendor: "Acme".to_owned(),
            service: "API".to_owned(),
            url: None,
            started_at: Timestamp::UNIX_EPOCH,
            regions: vec!["eu".to_owned()],
            summary: "resolved after 5m: 2 of 3 regions down".to_owned(),
            alert_id: Some("acme.down 1/2".to_owned()),
            level: None,
        }
    }

    #[test]
    fn opsgenie_closes_resolved_alerts_by_alias_in_the_accounts_region() {
        let channel = Opsgenie { api_key: "k3y".to_owned(), region: OpsgenieRegion::Eu, api_url: None, priority: None };
        let outgoing = opsgenie(&channel, &resolved()).unwrap();
        assert_eq!(outgoing.url, "https://api.eu.opsgenie.com/v2/alerts/acme.down%201%2F2/close?identifierType=alias");
        assert_eq!(outgoing.headers, [("Authorization".to_owned(), "GenieKey k3y".to_owned())]);
        let body: serde_json::Value = serde_json::from_slice(&outgoing.body).unwrap();
        assert_eq!(body, json!({ "source": "slaprobe", "note": "resolved after 5m: 2 of 3 regions down" }));
        let us = Opsgenie { region: OpsgenieRegion::Us, ..channel };
        let firing = Notification { state: "firing".to_owned(), ..resolved() };
        let outgoing = opsgenie(&us, &firing).unwrap();
        assert_eq!(outgoing.url, "https://api.opsgenie.com/v2/alerts");
        let body: serde_json::Value = serde_json::from_slice(&outgoing.body).unwrap();
        assert_eq!(
            (&body["priority"], &body["entity"], &body["alias"]),
            (&json!("P3"), &json!("acme"), &json!("acme.down 1/2"))
        );
    }

    #[test]
    fn opsgenie_fields_are_cut_to_the_apis_limits() {
        let channel = Opsgenie { api_key: "k".to_owned(), region: OpsgenieRegion::Us, api_url: None, priority: None };
        let long = Notification { state: "firing".to_owned(), summary: "x".repeat(20_000), ..resolved() };
        let body: serde_json::Value = serde_json::from_slice(&opsgenie(&channel, &long).unwrap().body).unwrap();
        assert_eq!(body["message"].as_str().unwrap().chars().count(), 130);
        assert_eq!(body["description"].as_str().unwrap().chars().count(), 15_000);
    }
}
