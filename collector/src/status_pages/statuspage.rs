//! Reading an Atlassian Statuspage page: `/api/v2/incidents.json` (its latest 50 incidents) and
//! `/api/v2/scheduled-maintenances.json` (its latest scheduled maintenances), each bounded in time and size, into
//! [`VendorNotice`]s. Text from the vendor is cut to a sane length and a link is kept only when it is a plain
//! `http(s)` address.

use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;
use slaprobe_proto::error_text::error_chain;
use slaprobe_sla::vendor::{NoticeKind, VendorNotice};

/// One request's whole time.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest document read (the latest 50 incidents with their updates run to a few hundred KiB).
const BODY_LIMIT: usize = 4 << 20;
/// Characters kept of a title.
const NAME_CHARS: usize = 200;
/// Components kept per incident or maintenance.
const MAX_COMPONENTS: usize = 50;
/// Characters kept of an id, a status or an impact.
const WORD_CHARS: usize = 64;

#[derive(Deserialize)]
struct Incidents {
    incidents: Vec<Incident>,
}

#[derive(Deserialize)]
struct Incident {
    id: String,
    name: String,
    status: String,
    #[serde(default)]
    impact: Option<String>,
    created_at: Timestamp,
    #[serde(default)]
    started_at: Option<Timestamp>,
    #[serde(default)]
    resolved_at: Option<Timestamp>,
    #[serde(default)]
    shortlink: Option<String>,
    #[serde(default)]
    components: Vec<Component>,
}

/// A component an incident or maintenance names.
#[derive(Deserialize)]
struct Component {
    name: String,
}

#[derive(Deserialize)]
struct Maintenances {
    scheduled_maintenances: Vec<Maintenance>,
}

#[derive(Deserialize)]
struct Maintenance {
    id: String,
    name: String,
    status: String,
    #[serde(default)]
    impact: Option<String>,
    created_at: Timestamp,
    scheduled_for: Timestamp,
    #[serde(default)]
    scheduled_until: Option<Timestamp>,
    #[serde(default)]
    shortlink: Option<String>,
    #[serde(default)]
    components: Vec<Component>,
}

/// What the page at `url` declares now; the error names the document and what is wrong with it.
pub async fn read(client: &reqwest::Client, url: &str) -> Result<Vec<VendorNotice>, String> {
    let base = url.trim_end_matches('/');
    let incidents: Incidents = document(client, base, "/api/v2/incidents.json").await?;
    let maintenances: Maintenances = document(client, base, "/api/v2/scheduled-maintenances.json").await?;
    let mut notices: Vec<VendorNotice> = incidents
        .incidents
        .into_iter()
        .map(|incident| VendorNotice {
            id: cut(&incident.id, WORD_CHARS),
            kind: NoticeKind::Incident,
            name: cut(&incident.name, NAME_CHARS),
            status: cut(&incident.status, WORD_CHARS),
            impact: cut(incident.impact.as_deref().unwrap_or("none"), WORD_CHARS),
            start: incident.started_at.unwrap_or(incident.created_at),
            end: incident.resolved_at,
            announced_at: incident.created_at,
            link: incident.shortlink.as_deref().and_then(plain_link),
            components: names(&incident.components),
        })
        .collect();
    notices.extend(maintenances.scheduled_maintenances.into_iter().map(|maintenance| VendorNotice {
        id: cut(&maintenance.id, WORD_CHARS),
        kind: NoticeKind::Maintenance,
        name: cut(&maintenance.name, NAME_CHARS),
        status: cut(&maintenance.status, WORD_CHARS),
        impact: cut(maintenance.impact.as_deref().unwrap_or("maintenance"), WORD_CHARS),
        start: maintenance.scheduled_for,
        end: maintenance.scheduled_until,
        announced_at: maintenance.created_at,
        link: maintenance.shortlink.as_deref().and_then(plain_link),
        components: names(&maintenance.components),
    }));
    Ok(notices)
}

/// The JSON document at `base` + `path`, read up to [`BODY_LIMIT`].
async fn document<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> Result<T, String> {
    let mut response =
        client.get(format!("{base}{path}")).send().await.map_err(|error| format!("{path}: {}", error_chain(&error)))?;
    if !response.status().is_success() {
        return Err(format!("{path}: HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| format!("{path}: {}", error_chain(&error)))? {
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(format!("{path}: longer than {} MiB", BODY_LIMIT >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|error| format!("{path}: not a Statuspage document: {error}"))
}

/// The names of `components`, cut, at most [`MAX_COMPONENTS`].
fn names(components: &[Component]) -> Vec<String> {
    components.iter().take(MAX_COMPONENTS).map(|component| cut(&component.name, NAME_CHARS)).collect()
}

/// `text` cut to `chars` characters, control characters dropped.
fn cut(text: &str, chars: usize) -> String {
    text.chars().filter(|character| !character.is_control()).take(chars).collect()
}

/// A link kept only when it is a short plain `http(s)` address.
fn plain_link(link: &str) -> Option<String> {
    let plain = (link.starts_with("https://") || link.starts_with("http://"))
        && link.len() <= 200
        && link.chars().all(|character| character.is_ascii_graphic() && !matches!(character, '"' | '<' | '>'));
    plain.then(|| link.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn vendor_text_is_cut_and_odd_links_are_dropped() {
        assert_eq!(super::cut("a\u{7}b\nc", 2), "ab");
        assert_eq!(super::plain_link("https://stspg.io/abc"), Some("https://stspg.io/abc".to_owned()));
        assert_eq!(super::plain_link("javascript:alert(1)"), None);
        assert_eq!(super::plain_link("https://x/\"onmouseover"), None);
    }
}
