//! How each region was measuring during each incident of a report, from the agents' own history of themselves
//! ([`crate::store::agent_health`]): `normal` when every record of its agents from [`BEFORE`] before the
//! incident to its end says so (most of its controls passing, its clock within `max_clock_offset`, no result
//! dropped meanwhile), `abnormal` with what was not, `unknown` when its agents said nothing of themselves then
//! (agents older than this). When no agent said anything then, the incident's measurement stays empty, as in a
//! report made from a results file. It answers "that was your network" with the record.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use slaprobe_sla::observations::most_failing;
use slaprobe_sla::{MeasurementState, RegionMeasurement, Report};

use crate::store::agent_health::HealthRecord;
use crate::store::{Store, StoreError};

/// How long before an incident the agents' records count: a record comes at least once a minute while results
/// flow, so a short incident still has one from just before it.
pub const BEFORE: SignedDuration = SignedDuration::from_mins(2);

/// `report` with each incident's measurement, judged with the clock bound `bound`.
pub async fn with_measurement(store: &Store, bound: Duration, mut report: Report) -> Result<Report, StoreError> {
    let regions: Vec<String> = report.coverage.regions.iter().map(|region| region.region.clone()).collect();
    for incident in &mut report.incidents {
        let from = incident.start.saturating_sub(BEFORE).unwrap_or(incident.start);
        let records = store.health_between(from, incident.end).await?;
        // Nothing from any region says no more than a report made from a results file: left empty, so that a
        // report of imported or exported results is the same from the store and from the file.
        if !records.is_empty() {
            incident.measurement = judge(&regions, &records, bound);
        }
    }
    Ok(report)
}

/// Each of `regions` judged from `records` (any agents', in time order); see the module documentation.
pub fn judge(regions: &[String], records: &[HealthRecord], bound: Duration) -> Vec<RegionMeasurement> {
    regions
        .iter()
        .map(|region| {
            let own: Vec<&HealthRecord> = records.iter().filter(|record| record.region == *region).collect();
            let notes = notes(&own, bound);
            let state = match (own.is_empty(), notes.is_empty()) {
                (true, _) => MeasurementState::Unknown,
                (false, true) => MeasurementState::Normal,
                (false, false) => MeasurementState::Abnormal,
            };
            RegionMeasurement { region: region.clone(), state, notes }
        })
        .collect()
}

/// What was not normal in `records` (one region's, in time order): per agent, the first moment of each kind.
fn notes(records: &[&HealthRecord], bound: Duration) -> Vec<String> {
    let mut first: BTreeMap<(&str, u8), String> = BTreeMap::new();
    let mut dropped: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for record in records {
        let agent = record.agent_id.as_str();
        let at = moment(record.at);
        if most_failing(record.controls_failing, record.controls_probed) {
            let note = format!(
                "{agent}: controls failing ({} of {}) at {at}",
                record.controls_failing, record.controls_probed
            );
            first.entry((agent, 0)).or_insert(note);
        }
        if let Some(offset) = record.clock_offset_ms.filter(|offset| offset.abs() > bound.as_secs_f64() * 1000.0) {
            first.entry((agent, 1)).or_insert(format!("{agent}: clock off by {offset:.0} ms at {at}"));
        }
        let span = dropped.entry(agent).or_insert((record.dropped_results, record.dropped_results));
        span.1 = record.dropped_results;
    }
    for (agent, (before, after)) in dropped {
        if after > before {
            first.insert((agent, 2), format!("{agent}: {} results dropped by its spool", after - before));
        }
    }
    first.into_values().collect()
}

fn moment(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::judge;
    use crate::store::agent_health::HealthRecord;
    use slaprobe_sla::MeasurementState;

    fn record(agent: &str, region: &str, at: &str) -> HealthRecord {
        HealthRecord {
            agent_id: agent.to_owned(),
            region: region.to_owned(),
            at: at.parse().unwrap(),
            clock_offset_ms: Some(3.0),
            resolver: "127.0.0.53:53".to_owned(),
            spool_backlog: 0,
            dropped_results: 4,
            controls_probed: 3,
            controls_failing: 0,
        }
    }

    #[test]
    fn a_region_is_normal_only_when_every_record_of_its_agents_is() {
        let regions = ["eu".to_owned(), "us".to_owned(), "ap".to_owned()];
        let mut records = vec![
            record("agent-eu", "eu", "2026-12-01T12:00:00Z"),
            record("agent-eu", "eu", "2026-12-01T12:01:00Z"),
            record("agent-us", "us", "2026-12-01T12:00:00Z"),
            HealthRecord { controls_failing: 2, ..record("agent-us", "us", "2026-12-01T12:01:00Z") },
            HealthRecord { controls_failing: 3, ..record("agent-us", "us", "2026-12-01T12:02:00Z") },
            HealthRecord { clock_offset_ms: Some(-2500.0), ..record("agent-us", "us", "2026-12-01T12:02:00Z") },
            HealthRecord { dropped_results: 10, ..record("agent-us", "us", "2026-12-01T12:03:00Z") },
        ];
        records.sort_by_key(|record| record.at);
        let judged = judge(&regions, &records, Duration::from_secs(1));
        let states: Vec<MeasurementState> = judged.iter().map(|region| region.state).collect();
        assert_eq!(states, [MeasurementState::Normal, MeasurementState::Abnormal, MeasurementState::Unknown]);
        assert_eq!(
            judged[1].notes,
            [
                "agent-us: controls failing (2 of 3) at 2026-12-01T12:01:00Z",
                "agent-us: clock off by -2500 ms at 2026-12-01T12:02:00Z",
                "agent-us: 6 results dropped by its spool",
            ]
        );
    }
}
