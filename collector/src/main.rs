//! `slaprobe-collector`: parses arguments and runs a subcommand. Today: `report`, offline from a results file.
//! Exit status 64 for unusable arguments or contracts, 65 for malformed results.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use slaprobe_collector::report_cmd::{Format, ReportError, load_contracts, offline_reports, render};

/// slaprobe's collector.
#[derive(Debug, Parser)]
#[command(name = "slaprobe-collector", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Uptime, incidents and credits per contract for one period, from a results file (JSON lines).
    Report {
        /// Contracts file (YAML with a `contracts:` list).
        #[arg(long, value_name = "PATH")]
        contracts: PathBuf,
        /// Results as JSON lines (agent `--output`, collector `export`).
        #[arg(long, value_name = "PATH")]
        results: PathBuf,
        /// Period: 2026-02 (monthly contracts) or 2026-Q1 (quarterly).
        #[arg(long)]
        period: String,
        /// Only this contract.
        #[arg(long, value_name = "ID")]
        contract: Option<String>,
        /// Output format: json (one object per line), csv, md, or html (printable claim document).
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Report from the valid lines when some are malformed (they are counted on standard error).
        #[arg(long)]
        skip_bad_lines: bool,
    },
}

fn main() -> ExitCode {
    let Command::Report { contracts, results, period, contract, format, skip_bad_lines } = Args::parse().command;
    let loaded = match load_contracts(&contracts) {
        Ok(loaded) => loaded,
        Err(error) => return fail(error),
    };
    match offline_reports(&loaded, &results, &period, contract.as_deref(), skip_bad_lines) {
        Ok(offline) => {
            if offline.skipped_lines > 0 {
                eprintln!(
                    "slaprobe-collector: skipped {} malformed line(s) in {}",
                    offline.skipped_lines,
                    results.display()
                );
            }
            print!("{}", render(&offline.reports, format));
            ExitCode::SUCCESS
        }
        Err(error) => fail(error),
    }
}

fn fail(error: ReportError) -> ExitCode {
    eprintln!("slaprobe-collector: {error}");
    ExitCode::from(match error {
        ReportError::Usage(_) => 64,
        ReportError::Data(_) => 65,
    })
}
