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
    incidents: Vec<Posted>,
}

#[derive(Deserialize)]
struct Maintenances {
    scheduled_maintenances: Vec<Posted>,
}

/// An incident or a scheduled maintenance as the page lists it (the fields of both that are used).
#[derive(Deserialize)]
struct Posted {
    id: String,
    name: String,
    status: String,
    #[serde(default)]
    impact: Option<String>,
    created_at: Timestamp,
    /// Incidents: when it began, if not when it was posted.
    #[serde(default)]
    started_at: Option<Timestamp>,
    /// Incidents: when it was resolved.
    #[serde(default)]
    resolved_at: Option<Timestamp>,
    /// Maintenances: the window.
    #[serde(default)]
    scheduled_for: Option<Timestamp>,
    #[serde(default)]
    scheduled_until: Option<Timestamp>,
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

/// What the page at `url` declares now; the error names the document and what is wrong with it.
pub async fn read(client: &reqwest::Client, url: &str) -> Result<Vec<VendorNotice>, String> {
    let base = url.trim_end_matches('/');
    let incidents: Incidents = document(client, base, "/api/v2/incidents.json").await?;
    let maintenances: Maintenances = document(client, base, "/api/v2/scheduled-maintenances.json").await?;
    let incidents = incidents.incidents.into_iter().map(|posted| notice(posted, NoticeKind::Incident));
    let maintenances =
        maintenances.scheduled_maintenances.into_iter().map(|posted| notice(posted, NoticeKind::Maintenance));
    Ok(incidents.chain(maintenances).collect())
}

/// What `posted` declares, as a notice of `kind`: an incident from its start (or its posting) to its resolution,
/// a maintenance over its scheduled window.
fn notice(posted: Posted, kind: NoticeKind) -> VendorNotice {
    let (start, end, impact) = match kind {
        NoticeKind::Incident => (posted.started_at.unwrap_or(posted.created_at), posted.resolved_at, "none"),
        NoticeKind::Maintenance => {
            (posted.scheduled_for.unwrap_or(posted.created_at), posted.scheduled_until, "maintenance")
        }
    };
    VendorNotice {
        id: cut(&posted.id, WORD_CHARS),
        kind,
        name: cut(&posted.name, NAME_CHARS),
        status: cut(&posted.status, WORD_CHARS),
        impact: cut(posted.impact.as_deref().unwrap_or(impact), WORD_CHARS),
        start,
        end,
        announced_at: posted.created_at,
        link: posted.shortlink.as_deref().and_then(plain_link),
        components: names(&posted.components),
    }
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
    use slaprobe_sla::vendor::NoticeKind;

    #[test]
    fn an_incident_runs_from_its_start_and_a_maintenance_over_its_window() {
        let incidents: super::Incidents = serde_json::from_str(
            r#"{"incidents": [{"id": "i1", "name": "Errors", "status": "resolved", "impact": "major",
                "created_at": "2026-02-10T10:05:00.000-08:00", "started_at": "2026-02-10T10:00:00Z",
                "resolved_at": "2026-02-10T11:00:00Z", "shortlink": "https://stspg.io/i1",
                "components": [{"id": "c", "name": "API"}], "incident_updates": []}]}"#,
        )
        .unwrap();
        let incident = super::notice(incidents.incidents.into_iter().next().unwrap(), NoticeKind::Incident);
        assert_eq!(
            (incident.start.to_string(), incident.end.map(|end| end.to_string()), incident.announced_at.to_string()),
            (
                "2026-02-10T10:00:00Z".to_owned(),
                Some("2026-02-10T11:00:00Z".to_owned()),
                "2026-02-10T18:05:00Z".to_owned()
            )
        );
        assert_eq!(
            (incident.components, incident.link.as_deref()),
            (vec!["API".to_owned()], Some("https://stspg.io/i1"))
        );
        let maintenances: super::Maintenances = serde_json::from_str(
            r#"{"scheduled_maintenances": [{"id": "m1", "name": "Upgrade", "status": "scheduled",
                "created_at": "2026-02-01T00:00:00Z", "scheduled_for": "2026-02-05T03:00:00Z",
                "scheduled_until": "2026-02-05T04:00:00Z"}]}"#,
        )
        .unwrap();
        let maintenance =
            super::notice(maintenances.scheduled_maintenances.into_iter().next().unwrap(), NoticeKind::Maintenance);
        assert_eq!(
            (maintenance.start.to_string(), maintenance.impact.as_str()),
            ("2026-02-05T03:00:00Z".to_owned(), "maintenance")
        );
    }

    #[test]
    fn vendor_text_is_cut_and_odd_links_are_dropped() {
        assert_eq!(super::cut("a\u{7}b\nc", 2), "ab");
        assert_eq!(super::plain_link("https://stspg.io/abc"), Some("https://stspg.io/abc".to_owned()));
        assert_eq!(super::plain_link("javascript:alert(1)"), None);
        assert_eq!(super::plain_link("https://x/\"onmouseover"), None);
    }
}
