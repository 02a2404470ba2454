//! Vendor scorecards: a vendor's last twelve closed periods per contract side by side (uptime against the
//! objective, down time, incidents, credit owed and recovered), its worst incidents, and the regions that saw
//! most of the down time. Everything comes from the frozen claim reports of closed periods (their latest
//! revisions, `report.json`) and the claims, so a scorecard shows what was claimed, not a figure made again.
//!
//! A vendor is named in URLs by its slug: the contract's `vendor` in lower case, every run of other characters
//! than ASCII letters and digits made one `-` (`Acme Cloud, Inc.` → `acme-cloud-inc`); contracts whose vendors
//! have the same slug share a scorecard.

use std::collections::BTreeMap;

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use crate::claims::{Claim, ClaimState};
use crate::config::CollectorConfig;
use crate::store::periods::latest_revisions;
use crate::store::{ClosedPeriod, Store, StoreError};

/// Closed periods shown per contract.
pub const PERIODS_SHOWN: usize = 12;
/// Worst incidents listed.
const WORST_SHOWN: usize = 5;

/// `vendor` as it appears in URLs: ASCII letters and digits in lower case, every run of anything else one `-`;
/// a name without any ASCII letter or digit is `vendor-` and the start of its SHA-256.
pub fn slug(vendor: &str) -> String {
    let mut slug = String::new();
    for character in vendor.chars() {
        if character.is_ascii_alphanumeric() {
            slug.push(character.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { format!("vendor-{}", &crate::digest::token_hash(vendor)[..8]) } else { slug.to_owned() }
}

/// One vendor of the configured contracts, with its contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VendorEntry {
    /// As the contracts name it.
    pub vendor: String,
    /// As URLs name it.
    pub slug: String,
    /// Its contracts' ids.
    pub contracts: Vec<String>,
}

/// The vendors of the configured contracts, by slug.
pub fn vendors(config: &CollectorConfig) -> Vec<VendorEntry> {
    let mut vendors: BTreeMap<String, VendorEntry> = BTreeMap::new();
    for contract in &config.contracts {
        let key = slug(&contract.terms.vendor);
        let entry = vendors.entry(key.clone()).or_insert_with(|| VendorEntry {
            vendor: contract.terms.vendor.clone(),
            slug: key,
            contracts: Vec::new(),
        });
        entry.contracts.push(contract.terms.id.clone());
    }
    vendors.into_values().collect()
}

/// A vendor's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scorecard {
    /// The vendor.
    pub vendor: String,
    /// Its slug.
    pub slug: String,
    /// Each contract's closed periods.
    pub contracts: Vec<ContractCard>,
    /// The longest incidents of those periods, longest first.
    pub worst_incidents: Vec<WorstIncident>,
    /// Regions by the incident time they voted down in, most first.
    pub regions: Vec<RegionDowntime>,
    /// Per currency, over those periods.
    pub totals: Vec<CreditTotals>,
    /// When the scorecard was made.
    pub generated_at: Timestamp,
}

/// One contract's closed periods.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContractCard {
    /// The contract.
    pub contract: String,
    /// Its service.
    pub service: String,
    /// Objective, percent.
    #[serde(with = "rust_decimal::serde::float")]
    pub objective: Decimal,
    /// The last closed periods, oldest first.
    pub periods: Vec<PeriodCard>,
}

/// One closed period as its latest revision has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodCard {
    /// The period.
    pub period: String,
    /// The revision shown.
    pub revision: u32,
    /// Uptime, percent; `null` when nothing was eligible.
    pub uptime_percent: Option<f64>,
    /// Whether the objective was met; `null` when nothing was eligible.
    pub met: Option<bool>,
    /// Down time that counted, seconds.
    pub down_seconds: f64,
    /// Incidents.
    pub incidents: u64,
    /// Credit owed by the report.
    #[serde(with = "rust_decimal::serde::str")]
    pub credit_owed: Decimal,
    /// Credit received, once paid.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub credit_recovered: Option<Decimal>,
    /// Where the claim stands; `null` without one.
    pub claim_state: Option<ClaimState>,
    /// The currency.
    pub currency: String,
}

/// One of the longest incidents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorstIncident {
    /// The contract.
    pub contract: String,
    /// The period.
    pub period: String,
    /// Start.
    pub start: String,
    /// End.
    pub end: String,
    /// Length, seconds.
    pub duration_seconds: i64,
    /// Regions that voted down.
    pub regions: Vec<String>,
    /// Checks that were down.
    pub checks: Vec<String>,
}

/// A region's share of the down time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionDowntime {
    /// The region.
    pub region: String,
    /// Incident time during which it voted down, seconds.
    pub down_seconds: i64,
    /// Incidents it voted down in.
    pub incidents: u64,
}

/// Credit in one currency over the periods shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditTotals {
    /// The currency.
    pub currency: String,
    /// Owed by the reports.
    #[serde(with = "rust_decimal::serde::str")]
    pub owed: Decimal,
    /// Received.
    #[serde(with = "rust_decimal::serde::str")]
    pub recovered: Decimal,
}

/// The scorecard of the vendor whose slug is `wanted`, as of `now`; `None` when no contract has that vendor.
pub async fn scorecard(
    config: &CollectorConfig,
    store: &Store,
    wanted: &str,
    now: Timestamp,
) -> Result<Option<Scorecard>, StoreError> {
    let Some(vendor) = vendors(config).into_iter().find(|vendor| vendor.slug == wanted) else { return Ok(None) };
    let claims = store.claims().await?;
    let mut card = Scorecard {
        vendor: vendor.vendor.clone(),
        slug: vendor.slug.clone(),
        contracts: Vec::new(),
        worst_incidents: Vec::new(),
        regions: Vec::new(),
        totals: Vec::new(),
        generated_at: now,
    };
    let mut regions: BTreeMap<String, RegionDowntime> = BTreeMap::new();
    let mut totals: BTreeMap<String, CreditTotals> = BTreeMap::new();
    for contract in config.contracts.iter().filter(|contract| vendor.contracts.contains(&contract.terms.id)) {
        let id = contract.terms.id.as_str();
        let mut contract_card = ContractCard {
            contract: id.to_owned(),
            service: contract.terms.service.clone(),
            objective: contract.terms.objective,
            periods: Vec::new(),
        };
        let closed = latest_revisions(store.closed_periods(Some(id)).await?);
        for revision in closed.into_iter().rev().take(PERIODS_SHOWN).rev() {
            let json = store.artifact(id, &revision.period, revision.revision, "report.json").await?;
            let report: Value = json.and_then(|json| serde_json::from_slice(&json).ok()).unwrap_or(Value::Null);
            let claim = claims.iter().find(|claim| claim.contract == id && claim.period == revision.period);
            let period = period_card(&revision, &report, claim);
            let sums = totals.entry(period.currency.clone()).or_insert_with(|| CreditTotals {
                currency: period.currency.clone(),
                owed: Decimal::ZERO,
                recovered: Decimal::ZERO,
            });
            sums.owed += period.credit_owed;
            sums.recovered += period.credit_recovered.unwrap_or_default();
            for incident in report["incidents"].as_array().into_iter().flatten() {
                let worst = incident_of(id, &revision.period, incident);
                for region in &worst.regions {
                    let share = regions.entry(region.clone()).or_insert_with(|| RegionDowntime {
                        region: region.clone(),
                        down_seconds: 0,
                        incidents: 0,
                    });
                    share.down_seconds += worst.duration_seconds;
                    share.incidents += 1;
                }
                card.worst_incidents.push(worst);
            }
            contract_card.periods.push(period);
        }
        card.contracts.push(contract_card);
    }
    card.worst_incidents.sort_by(|a, b| b.duration_seconds.cmp(&a.duration_seconds).then(a.start.cmp(&b.start)));
    card.worst_incidents.truncate(WORST_SHOWN);
    card.regions = regions.into_values().collect();
    card.regions.sort_by(|a, b| b.down_seconds.cmp(&a.down_seconds).then(a.region.cmp(&b.region)));
    card.totals = totals.into_values().collect();
    Ok(Some(card))
}

fn period_card(revision: &ClosedPeriod, report: &Value, claim: Option<&Claim>) -> PeriodCard {
    PeriodCard {
        period: revision.period.clone(),
        revision: revision.revision,
        uptime_percent: revision.uptime_percent,
        met: report["met"].as_bool(),
        down_seconds: report["budget_used_seconds"].as_f64().unwrap_or(0.0),
        incidents: report["incidents"].as_array().map_or(0, |incidents| incidents.len() as u64),
        credit_owed: revision.credit_amount,
        credit_recovered: claim.filter(|claim| claim.state == ClaimState::Paid).and_then(|claim| claim.paid_amount),
        claim_state: claim.map(|claim| claim.state),
        currency: revision.currency.clone(),
    }
}

fn incident_of(contract: &str, period: &str, incident: &Value) -> WorstIncident {
    let strings = |field: &str| -> Vec<String> {
        incident[field].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
    };
    WorstIncident {
        contract: contract.to_owned(),
        period: period.to_owned(),
        start: incident["start"].as_str().unwrap_or_default().to_owned(),
        end: incident["end"].as_str().unwrap_or_default().to_owned(),
        duration_seconds: incident["duration_seconds"].as_i64().unwrap_or(0),
        regions: strings("regions"),
        checks: strings("checks"),
    }
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn vendors_are_named_by_slugs() {
        assert_eq!(slug("Acme Cloud, Inc."), "acme-cloud-inc");
        assert_eq!(slug("  Übersee  GmbH "), "bersee-gmbh");
        assert!(slug("日本").starts_with("vendor-") && slug("日本").len() == 15);
        assert_eq!(slug("loopback"), "loopback");
    }
}
