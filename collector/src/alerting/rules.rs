//! The alert conditions, one function per kind, pure: slice votes, standings and registry entries in, a
//! [`Finding`] (the condition holds) or `None` out. The evaluator feeds them from the store and keeps state.
//!
//! - **down**: the contract's quorum rule (rules 3–5) holds for `down_slices` consecutive whole slices; once
//!   firing, it resolves after `up_slices` up slices in a row, not counting unknown or excluded slices (a gap in
//!   the data neither resolves it nor breaks the recovery). While firing, it describes the latest down run. Short runs are not forgiven (rule 6): an alert must decide while a run is still growing.
//! - **burn_rate**: for some window pair, the budget burns at least `burn` times the sustainable rate over both
//!   windows: `down / eligible ≥ burn × (100 − objective) / 100`, exact in decimals. Windows are written for a
//!   30-day period and scaled to the contract's (a 31-day month makes 1 h into 1 h 2 m), in whole slices.
//! - **breach_forecast**: the period ends below the objective if the rest of it goes as the last `lookback` did:
//!   `(eligible − down + remaining × (1 − r)) / (eligible + remaining) < objective`, with `r` the down fraction of
//!   the lookback's eligible slices.
//! - **silent**: an agent sent nothing for `after` (one that never did counts from when the collector started
//!   watching).
//! - **cert_expiry**: a certificate seen by the latest probes expires within `within`.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use slaprobe_proto::ResultRecord;

use crate::config::alerting::BurnWindow;
use slaprobe_sla::contract::{Contract, NoData};
use slaprobe_sla::display;
use slaprobe_sla::engine::{SliceState, SliceVote};
use slaprobe_sla::status::ContractStatus;

/// The period the burn-rate windows are written for.
const REFERENCE_PERIOD_SECONDS: u64 = 30 * 24 * 3600;

/// A condition that holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// When it started, when the rule can tell (down: the first down slice since the last up one).
    pub since: Option<Timestamp>,
    /// Regions involved.
    pub regions: Vec<String>,
    /// One line for people.
    pub summary: String,
}

/// down: `votes` are the latest settled whole slices, oldest first; `firing` says whether the alert is open.
pub fn down(votes: &[SliceVote], down_slices: u32, up_slices: u32, firing: bool) -> Option<Finding> {
    let decided: Vec<SliceState> = votes
        .iter()
        .map(|vote| vote.state)
        .filter(|state| matches!(state, SliceState::Up | SliceState::Down))
        .collect();
    let recovered = decided.len() >= up_slices as usize
        && decided[decided.len() - up_slices as usize..].iter().all(|state| *state == SliceState::Up);
    let count = down_slices as usize;
    let confirmed =
        votes.len() >= count && votes[votes.len() - count..].iter().all(|vote| vote.state == SliceState::Down);
    if firing && recovered || !firing && !confirmed {
        return None;
    }
    // The incident: the latest down slices back to the up slice before them.
    let Some(last_down) = votes.iter().rposition(|vote| vote.state == SliceState::Down) else {
        return Some(Finding { since: None, regions: Vec::new(), summary: "down; no recent slice decides".to_owned() });
    };
    let first = votes[..last_down].iter().rposition(|vote| vote.state == SliceState::Up).map_or(0, |up| up + 1);
    let run = &votes[first..=last_down];
    let regions: BTreeSet<&String> = run.iter().flat_map(|vote| &vote.down_regions).collect();
    let down = run.iter().filter(|vote| vote.state == SliceState::Down).count();
    let since = run.iter().find(|vote| vote.state == SliceState::Down).map(|vote| vote.start);
    let names: Vec<&str> = regions.iter().map(|region| region.as_str()).collect();
    let seconds: i64 = run
        .iter()
        .filter(|vote| vote.state == SliceState::Down)
        .map(|vote| vote.end.as_second() - vote.start.as_second())
        .sum();
    let summary = match since {
        Some(start) => format!(
            "down in {} for {} ({down} slice(s)) since {}",
            names.join(", "),
            display::duration(seconds as f64),
            start.strftime("%Y-%m-%d %H:%M:%S UTC")
        ),
        None => "down".to_owned(),
    };
    Some(Finding { since, regions: regions.into_iter().cloned().collect(), summary })
}

/// Slices counted down and eligible among `votes`, by the contract's `no_data` rule (rule 7).
fn down_and_eligible(contract: &Contract, votes: &[SliceVote]) -> (u64, u64) {
    let count = |state: SliceState| votes.iter().filter(|vote| vote.state == state).count() as u64;
    let (down, up, unknown) = (count(SliceState::Down), count(SliceState::Up), count(SliceState::Unknown));
    match contract.terms.no_data {
        NoData::Exclude => (down, down + up),
        NoData::Up => (down, down + up + unknown),
        NoData::Down => (down + unknown, down + up + unknown),
    }
}

/// `window` scaled from 30 days to a period of `period`, in whole slices (at least one).
pub fn scaled_slices(window: Duration, period: Duration, slice: Duration) -> usize {
    let scaled = window.as_secs_f64() * period.as_secs_f64() / REFERENCE_PERIOD_SECONDS as f64;
    (scaled / slice.as_secs_f64().max(1.0)).round().max(1.0) as usize
}

/// burn_rate: `votes` are the latest settled whole slices (at least the longest scaled window), oldest first.
pub fn burn_rate(
    contract: &Contract,
    windows: &[BurnWindow],
    period: Duration,
    votes: &[SliceVote],
) -> Option<Finding> {
    let budget = (Decimal::ONE_HUNDRED - contract.terms.objective) / Decimal::ONE_HUNDRED;
    let slice = contract.terms.slice;
    let rate = |down: u64, eligible: u64| {
        if eligible == 0 {
            return 0.0;
        }
        let fraction = down as f64 / eligible as f64;
        f64::try_from(budget).ok().filter(|budget| *budget > 0.0).map_or(f64::INFINITY, |budget| fraction / budget)
    };
    for window in windows {
        let tail = |duration: Duration| {
            let slices = scaled_slices(duration, period, slice).min(votes.len());
            &votes[votes.len() - slices..]
        };
        let (long, short) = (tail(window.long), tail(window.short));
        let ((long_down, long_eligible), (short_down, short_eligible)) =
            (down_and_eligible(contract, long), down_and_eligible(contract, short));
        let burning = |down: u64, eligible: u64| {
            eligible > 0 && Decimal::from(down) >= window.burn * budget * Decimal::from(eligible) && down > 0
        };
        if burning(long_down, long_eligible) && burning(short_down, short_eligible) {
            let regions: BTreeSet<&String> = short.iter().flat_map(|vote| &vote.down_regions).collect();
            let span = |votes: &[SliceVote]| display::duration((slice * votes.len() as u32).as_secs_f64());
            return Some(Finding {
                since: None,
                regions: regions.into_iter().cloned().collect(),
                summary: format!(
                    "error budget burning {:.1}x over {} and {:.1}x over {} (alert at {}x)",
                    rate(long_down, long_eligible),
                    span(long),
                    rate(short_down, short_eligible),
                    span(short),
                    window.burn.normalize()
                ),
            });
        }
    }
    None
}

/// breach_forecast: `status` is the period so far; `recent` the settled slices of the lookback, oldest first.
pub fn breach_forecast(contract: &Contract, status: &ContractStatus, recent: &[SliceVote]) -> Option<Finding> {
    let (eligible, down) =
        (status.so_far.eligible_slices, status.so_far.down_slices.min(status.so_far.eligible_slices));
    let remaining = status.remaining_slices;
    let total = eligible + remaining;
    if total == 0 {
        return None;
    }
    let (recent_down, recent_eligible) = down_and_eligible(contract, recent);
    let rate =
        if recent_eligible == 0 { Decimal::ZERO } else { Decimal::from(recent_down) / Decimal::from(recent_eligible) };
    let projected_up = Decimal::from(eligible - down) + Decimal::from(remaining) * (Decimal::ONE - rate);
    let objective = contract.terms.objective;
    if Decimal::ONE_HUNDRED * projected_up >= objective * Decimal::from(total) {
        return None;
    }
    let projected = Decimal::ONE_HUNDRED * projected_up / Decimal::from(total);
    let regions: BTreeSet<&String> = recent.iter().flat_map(|vote| &vote.down_regions).collect();
    Some(Finding {
        since: None,
        regions: regions.into_iter().cloned().collect(),
        summary: format!(
            "projected {} at the period's end (objective {} %): {down} down slice(s) so far, {} of the last {} \
             down",
            display::percent(f64::try_from(projected).ok(), 3),
            objective.normalize(),
            display::percent(f64::try_from(Decimal::ONE_HUNDRED * rate).ok(), 2),
            display::duration((contract.terms.slice * recent.len() as u32).as_secs_f64())
        ),
    })
}

/// An agent the contract depends on: its id, region, and when it last sent results (`None`: never).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// Agent id.
    pub agent_id: String,
    /// Its region.
    pub region: String,
    /// When it last sent results.
    pub last_seen: Option<Timestamp>,
}

/// silent: the agents that sent nothing for `after` before `now`; `watching_since` stands in for agents never seen.
pub fn silent(agents: &[Watched], watching_since: Timestamp, now: Timestamp, after: Duration) -> Option<Finding> {
    let after = SignedDuration::try_from(after).unwrap_or(SignedDuration::MAX);
    let quiet: Vec<&Watched> =
        agents.iter().filter(|agent| now.duration_since(agent.last_seen.unwrap_or(watching_since)) >= after).collect();
    if quiet.is_empty() {
        return None;
    }
    let silent_regions: BTreeSet<&String> = quiet
        .iter()
        .map(|agent| &agent.region)
        .filter(|region| agents.iter().filter(|agent| &agent.region == *region).all(|agent| quiet.contains(&agent)))
        .collect();
    let names: Vec<String> = quiet
        .iter()
        .map(|agent| match agent.last_seen {
            Some(seen) => format!("{} ({}, last seen {seen})", agent.agent_id, agent.region),
            None => format!("{} ({}, never connected)", agent.agent_id, agent.region),
        })
        .collect();
    let mut summary = format!("no results from {}", names.join(", "));
    if !silent_regions.is_empty() {
        let regions: Vec<&str> = silent_regions.iter().map(|region| region.as_str()).collect();
        summary.push_str(&format!("; nothing at all from {}", regions.join(", ")));
    }
    let regions: BTreeSet<String> = quiet.iter().map(|agent| agent.region.clone()).collect();
    Some(Finding { since: None, regions: regions.into_iter().collect(), summary })
}

/// cert_expiry: `latest` are the latest results of the contract's checks per region.
pub fn cert_expiry(latest: &[ResultRecord], now: Timestamp, within: Duration) -> Option<Finding> {
    let within = SignedDuration::try_from(within).unwrap_or(SignedDuration::MAX);
    let expiring: Vec<(&ResultRecord, Timestamp)> = latest
        .iter()
        .filter_map(|result| {
            let expires = result
                .http
                .as_ref()
                .and_then(|http| http.cert_expires_at)
                .or(result.tcp.as_ref().and_then(|tcp| tcp.cert_expires_at))
                .or(result.tls.as_ref().and_then(|tls| tls.cert_expires_at))
                .or(result.grpc.as_ref().and_then(|grpc| grpc.cert_expires_at))?;
            (expires.duration_since(now) < within).then_some((result, expires))
        })
        .collect();
    let (soonest, expires) = expiring.iter().min_by_key(|(_, expires)| *expires)?;
    let regions: BTreeSet<String> = expiring.iter().map(|(result, _)| result.region.clone()).collect();
    let left = expires.duration_since(now);
    let when = if left.is_negative() {
        "expired".to_owned()
    } else {
        format!("expires in {}", display::duration(left.as_secs_f64().abs()))
    };
    Some(Finding {
        since: None,
        regions: regions.into_iter().collect(),
        summary: format!("the certificate of {} {when} ({expires}, seen from {})", soonest.check_id, soonest.region),
    })
}

#[cfg(test)]
mod tests;
