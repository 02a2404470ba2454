//! What we observed: for each incident, one failed result from each region that voted down in it (the earliest by
//! `started_at`, then agent and seq), with its failure captures (status line, headers, body, certificates; DNS
//! authority; TCP banner or connect error), so that the claim report and the dashboard show what the vendor's
//! service answered. Results are offered one at a time in any order; the same rule picks the samples from the
//! store and, in `slaprobe-verify`, from an evidence bundle.

use std::collections::BTreeMap;

use jiff::Timestamp;
use slaprobe_proto::ResultRecord;

use crate::contract::Contract;
use crate::observations::failure;
use crate::report::Incident;

/// Picks the samples of a report's incidents.
pub struct Sampler<'a> {
    contract: &'a Contract,
    /// Each incident's span and the regions that voted down in it.
    incidents: Vec<(Timestamp, Timestamp, Vec<String>)>,
    /// Per incident, the sample chosen so far per region.
    chosen: Vec<BTreeMap<String, ResultRecord>>,
}

impl<'a> Sampler<'a> {
    /// Nothing offered yet for `incidents` (in time order, as a report lists them).
    pub fn new(contract: &'a Contract, incidents: &[Incident]) -> Self {
        Self {
            contract,
            incidents: incidents
                .iter()
                .map(|incident| (incident.start, incident.end, incident.regions.clone()))
                .collect(),
            chosen: vec![BTreeMap::new(); incidents.len()],
        }
    }

    /// Each incident's span, to read the results of.
    pub fn spans(&self) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
        self.incidents.iter().map(|(start, end, _)| (*start, *end))
    }

    /// Whether incident `index` has a sample from every region that voted down in it.
    pub fn is_complete(&self, index: usize) -> bool {
        self.incidents.get(index).is_none_or(|(_, _, regions)| regions.len() <= self.chosen[index].len())
    }

    /// The incident `record` could be a sample of: a failed result of the contract, from a region its check is
    /// placed in that voted down in that incident.
    pub fn incident_of(&self, record: &ResultRecord) -> Option<usize> {
        if !self.contract.terms.checks.contains(&record.check_id)
            || !self.contract.admits(&record.check_id, &record.region)
        {
            return None;
        }
        let index = self.incidents.partition_point(|(_, end, _)| *end <= record.started_at);
        let (start, _, regions) = self.incidents.get(index)?;
        let inside = *start <= record.started_at && regions.contains(&record.region);
        (inside && failure(self.contract, record).is_some()).then_some(index)
    }

    /// Takes `record` as its incident's sample from its region if it is one and comes first.
    pub fn offer(&mut self, record: &ResultRecord) {
        let Some(index) = self.incident_of(record) else { return };
        let order = |record: &ResultRecord| (record.started_at, record.agent_id.clone(), record.seq);
        let chosen = &mut self.chosen[index];
        if chosen.get(&record.region).is_none_or(|current| order(record) < order(current)) {
            chosen.insert(record.region.clone(), record.clone());
        }
    }

    /// Puts the samples into `incidents` (the same ones, in the same order), region by region.
    pub fn finish(self, incidents: &mut [Incident]) {
        for (incident, chosen) in incidents.iter_mut().zip(self.chosen) {
            incident.observed = chosen.into_values().collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::Sampler;
    use crate::evaluate;
    use crate::fixtures::{at, contract, horizon_from, minutely};

    #[test]
    fn each_incident_gets_the_earliest_failure_of_each_region_that_voted_down() {
        let contract = contract("min_regions_down: 1");
        let outage = |region: &str, t: jiff::Timestamp| {
            (region == "eu" && at("2026-04-10T10:00:00Z") <= t && t < at("2026-04-10T10:05:00Z"))
                || (region == "us" && at("2026-04-10T10:02:00Z") <= t && t < at("2026-04-10T10:04:00Z"))
        };
        let mut results =
            minutely("acme-api", &["eu", "us"], "2026-04-10T09:00:00Z", "2026-04-10T11:00:00Z", |region, t| {
                outage(region, t)
            });
        for (index, result) in results.iter_mut().enumerate() {
            result.agent_id = Some(format!("agent-{}", result.region));
            result.seq = Some(index as u64);
        }
        let period = crate::parse_period("2026-04", contract.terms.period, &contract.tz).unwrap();
        let horizon = horizon_from(&contract, &results, at("2026-05-02T00:00:00Z"));
        let mut report = evaluate(&contract, &period, &results, &horizon);
        assert_eq!(report.incidents.len(), 1);
        let mut sampler = Sampler::new(&contract, &report.incidents);
        for result in results.iter().rev() {
            sampler.offer(result);
        }
        assert!(sampler.is_complete(0));
        sampler.finish(&mut report.incidents);
        let observed: Vec<(&str, jiff::Timestamp)> =
            report.incidents[0].observed.iter().map(|result| (result.region.as_str(), result.started_at)).collect();
        let five = SignedDuration::from_secs(5);
        assert_eq!(observed, [("eu", at("2026-04-10T10:00:00Z") + five), ("us", at("2026-04-10T10:02:00Z") + five)]);
    }
}
