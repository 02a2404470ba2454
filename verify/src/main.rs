//! `slaprobe-verify BUNDLE`: checks an evidence bundle (a directory, or a `.tar`) and prints a one-screen
//! summary. Exit 0 when everything verifies; 1 naming every problem with its file and line; 2 when the bundle
//! cannot be read at all.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use slaprobe_sla::contract::Contract;
use slaprobe_sla::display;
use slaprobe_verify::files::BundleFiles;
use slaprobe_verify::verify;

/// Problems printed, at most (the count says how many more).
const SHOWN: usize = 50;

/// Checks a slaprobe evidence bundle offline: its manifest, every chain link, every signature and every gap.
#[derive(Debug, Parser)]
#[command(name = "slaprobe-verify", version)]
struct Args {
    /// The bundle: the directory or `.tar` that `slaprobe-collector evidence` wrote.
    bundle: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bundle = match BundleFiles::read(&args.bundle) {
        Ok(bundle) => bundle,
        Err(error) => {
            eprintln!("slaprobe-verify: cannot read the bundle: {error}");
            return ExitCode::from(2);
        }
    };
    let verdict = verify(&bundle);
    let subject = verdict.subject.as_ref().map_or_else(
        || "an unknown contract".to_owned(),
        |(contract, period)| format!("contract {contract}, period {period}"),
    );
    println!("{}: {subject}", args.bundle.display());
    println!(
        "  {} results from {} agents ({} of the contract's checks shown in full), {} signed checkpoints",
        grouped(verdict.results),
        verdict.agents,
        grouped(verdict.full_results),
        grouped(verdict.checkpoints)
    );
    for (agent, first, last, reason) in &verdict.signed_gaps {
        println!("  gap signed by {agent}: results {first}..={last} dropped ({reason})");
    }
    if let Some(reproduced) = &verdict.reproduced {
        let report = &reproduced.report;
        println!(
            "  report reproduced from these results: uptime {}, credit {} (report.json and report.html match)",
            display::percent(report.uptime_percent, 3),
            display::money(report.credit_amount, &report.currency)
        );
        println!("  terms applied (compare them with the signed contract): {}", terms(&reproduced.contract));
    }
    if verdict.problems.is_empty() {
        println!(
            "verified: every chain link, signature and gap checks out and the report follows from the results; \
             compare the keys in keys/ with the agents' pinned keys"
        );
        return ExitCode::SUCCESS;
    }
    println!("NOT VERIFIED: {} problem(s)", verdict.problems.len());
    for problem in verdict.problems.iter().take(SHOWN) {
        println!("  {problem}");
    }
    if verdict.problems.len() > SHOWN {
        println!("  … and {} more", verdict.problems.len() - SHOWN);
    }
    ExitCode::from(1)
}

/// The terms that decide the credit, in one line.
fn terms(contract: &Contract) -> String {
    let terms = &contract.terms;
    let credits = &terms.credits;
    let tiers: Vec<String> =
        credits.tiers.iter().map(|tier| format!("below {} % → {} %", tier.below, tier.credit)).collect();
    format!(
        "objective {} %, fee {}, {}, cap {} %",
        terms.objective,
        display::money(credits.fee, &credits.currency),
        tiers.join(", "),
        credits.cap
    )
}

/// `1339200` as `1,339,200`.
fn grouped(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
