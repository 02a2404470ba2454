//! slaprobe-sla: contracts, the SLA engine and the claim reports, everything that decides money. Results +
//! contract + period in, report out; no clock, no I/O, no database. It implements rules 1–11 of `docs/sla.md` to
//! the letter. The collector computes its reports with it, and `slaprobe-verify` recomputes a bundle's report with
//! the same code, so the two cannot disagree by construction.
//!
//! Layout:
//! - [`contract`]: contracts as written in YAML, validated into what the engine needs.
//! - [`period`]: rule 1, calendar months and quarters in a time zone.
//! - [`grid`]: rules 1–2, slices and the assignment of results to them.
//! - [`horizon`]: rule 7's edges, when monitoring began and when the report is made.
//! - [`observations`]: rules 2–4, 10 and 11, results laid out per region, check and slice, one at a time.
//! - [`faults`]: rule 11, an agent that saw several vendors fail at once while other regions saw them up.
//! - [`summary`]: what rules 2–4 make of them slice by slice, which a report is made from.
//! - [`engine`]: rules 5–7 and 9, from region votes to slice states, runs, uptime and incidents.
//! - [`credit`]: rule 8, exact tier comparison and rounding.
//! - [`report`]: the report's fields.
//! - [`breakdown`]: per-region uptime and daily latency percentiles, to explain a report.
//! - [`latency`]: mergeable latency sketches those percentiles are read from.
//! - [`observed`]: what we observed in each incident, one failed result per region, for the claim report.
//! - [`status`]: a contract's standing part way through its period (budget left, best case, certain credit).
//! - [`vendor`]: the vendor's status page against our incidents (declared, undeclared, short-notice
//!   maintenance).
//! - [`display`]: how figures read for people (percent cut, not rounded; durations; money).
//! - [`render`]: reports as JSON, CSV, Markdown and the printable HTML claim document.
#![forbid(unsafe_code)]

pub mod breakdown;
pub mod contract;
pub mod credit;
pub mod display;
pub mod engine;
pub mod faults;
pub mod grid;
pub mod horizon;
pub mod latency;
pub mod observations;
pub mod observed;
pub mod period;
pub mod render;
pub mod report;
pub mod status;
pub mod summary;
pub mod vendor;

pub use engine::{Evaluation, evaluate, evaluation_window};
pub use horizon::Horizon;
pub use period::{Period, parse_period};
pub use report::{Coverage, Day, Incident, LateResults, MeasurementState, PeriodStatus, RegionMeasurement, Report};

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
#[cfg(test)]
mod tests;
