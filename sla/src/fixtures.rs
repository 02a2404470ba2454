//! Fixtures for tests of the engine and of what is built on it (the collector's alert rules): a contract from the
//! worked examples of `docs/sla.md` with fields overridden, timestamps, and results at a steady pace. Compiled for
//! this crate's tests and, through the `fixtures` feature, for other crates' tests; never into a binary.

use jiff::{SignedDuration, Timestamp};
use slaprobe_proto::ResultRecord;

use crate::contract::{Contract, parse_contracts};
use crate::{Horizon, evaluate};

const BASE: &str = "
id: acme-api
vendor: Acme Cloud
service: Public API
checks: [acme-api]
objective: 99.9
period: month
timezone: UTC
slice: 1m
credits:
  fee: 2000
  currency: USD
  tiers: [ { below: 99.9, credit: 10 }, { below: 99.0, credit: 25 }, { below: 95.0, credit: 100 } ]
claim_window: 60d
";

/// The base contract with the fields in `overrides` (YAML) replaced or added.
pub fn contract(overrides: &str) -> Contract {
    let mut value: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(BASE).unwrap();
    if !overrides.trim().is_empty() {
        let overrides: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(overrides).unwrap();
        value.extend(overrides);
    }
    let list = serde_yaml_ng::Value::Sequence(vec![serde_yaml_ng::Value::Mapping(value)]);
    parse_contracts(list, "contracts").unwrap_or_else(|problems| panic!("{problems:?}")).remove(0)
}

/// The horizon of a report made at `now` from `results` that hold the contract's whole history: monitoring began
/// with the earliest of them for the contract's checks, as an offline report finds.
pub fn horizon_from(contract: &Contract, results: &[ResultRecord], now: Timestamp) -> Horizon {
    let monitored_from = results
        .iter()
        .filter(|result| contract.terms.checks.contains(&result.check_id))
        .map(|result| result.started_at)
        .min();
    Horizon { monitored_from, now }
}

/// The standing of `contract` in `period` as known at `horizon`, from `results` (the collector reads standings
/// through `views`; the engine's tests make them from results directly).
pub fn status(
    contract: &Contract,
    period: &crate::Period,
    horizon: &Horizon,
    results: &[ResultRecord],
) -> crate::status::ContractStatus {
    crate::status::standing_of(contract, period, horizon.now, evaluate(contract, period, results, horizon))
}

/// `text` (RFC 3339) as a timestamp.
pub fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// One result per minute per region from `from` to `to`, 5 s into the minute; failed where `down(region, t)`.
pub fn minutely(
    check: &str,
    regions: &[&str],
    from: &str,
    to: &str,
    down: impl Fn(&str, Timestamp) -> bool,
) -> Vec<ResultRecord> {
    every(SignedDuration::from_mins(1), check, regions, from, to, down)
}

/// One result per `step` per region from `from` to `to`, 5 s into the step; failed where `down(region, t)`.
pub fn every(
    step: SignedDuration,
    check: &str,
    regions: &[&str],
    from: &str,
    to: &str,
    down: impl Fn(&str, Timestamp) -> bool,
) -> Vec<ResultRecord> {
    let (mut minute, end) = (at(from), at(to));
    let mut results = Vec::new();
    while minute < end {
        let started_at = minute + SignedDuration::from_secs(5);
        for region in regions {
            let failed = down(region, minute);
            results.push(ResultRecord {
                check_id: check.to_owned(),
                region: (*region).to_owned(),
                agent_id: None,
                seq: None,
                scheduled_at: None,
                started_at,
                duration_ms: Some(20.0),
                ok: !failed,
                error_kind: failed.then(|| "connect".to_owned()),
                error: failed.then(|| "connect: connection refused".to_owned()),
                phases_ms: Default::default(),
                http: None,
                dns: None,
                tcp: None,
                tls: None,
                grpc: None,
                icmp: None,
                confirmation: false,
                control: false,
            });
        }
        minute += step;
    }
    results
}
