//! `slaprobe-collector`: parses arguments and runs a subcommand: `serve` here, with its signals, the one-shot
//! commands (`check-config`, `report`, `export`, `evidence`, `close`, `import`, `migrate`, `openslo`) through
//! `slaprobe_collector::cli`. Exit status 64 for unusable arguments or configuration, 65 for malformed results or
//! documents, 1 for other failures.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use slaprobe_collector::cli::{self, CliError, ReportRequest};
use slaprobe_collector::config::load_collector_config;
use slaprobe_collector::reload::{Reload, ReloadRequest};
use slaprobe_collector::serve::serve;
use slaprobe_proto::error_text::error_chain;
use slaprobe_proto::logging::{self, LogFormat};
use slaprobe_sla::render::Format;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// slaprobe's collector.
#[derive(Debug, Parser)]
#[command(name = "slaprobe-collector", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve gRPC ingest from agents into the store.
    Serve {
        /// Collector configuration (YAML).
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
    },
    /// Validate a collector configuration as `serve` would (its contracts and checks files, the files it names)
    /// without starting anything; exit status 64 listing every problem.
    CheckConfig {
        /// Collector configuration (YAML).
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
    },
    /// Uptime, incidents and credits per contract for one period: from a results file, or from the store.
    Report {
        /// Contracts file (YAML with a `contracts:` list); with --results.
        #[arg(long, value_name = "PATH", requires = "results", conflicts_with = "config")]
        contracts: Option<PathBuf>,
        /// Results as JSON lines (agent `--output`, collector `export`); with --contracts.
        #[arg(long, value_name = "PATH", requires = "contracts")]
        results: Option<PathBuf>,
        /// Collector configuration: report from its store and contracts.
        #[arg(long, value_name = "PATH", required_unless_present = "contracts")]
        config: Option<PathBuf>,
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
        /// Make the report as known at this instant (RFC 3339, like a report's `generated_at`): slices ending
        /// after it are still to come. Default: now. Reproduces an earlier report exactly.
        #[arg(long, value_name = "TIMESTAMP")]
        as_of: Option<jiff::Timestamp>,
    },
    /// The results one contract's report is computed from, as JSON lines on standard output.
    Export {
        #[command(flatten)]
        of: ContractPeriod,
    },
    /// Write the evidence bundle of one contract's period (docs/evidence.md): every result of the agents involved
    /// with its chain value, their signed checkpoints, gaps and keys, the terms, the report, and a manifest;
    /// check it with `slaprobe-verify BUNDLE`.
    Evidence {
        #[command(flatten)]
        of: ContractPeriod,
        /// Where to write it: a new (or empty) directory, or a file ending in `.tar`.
        #[arg(long, value_name = "BUNDLE")]
        out: PathBuf,
        /// Make the report as known at this instant (RFC 3339). Default: now.
        #[arg(long, value_name = "TIMESTAMP")]
        as_of: Option<jiff::Timestamp>,
    },
    /// Load result lines (a standalone agent's `--output jsonl:` file, or another system's) into the store:
    /// idempotent on (agent_id, seq), flagged `imported`; malformed lines are reported with their number and
    /// skipped (exit 65 once the rest is imported).
    Import {
        /// Collector configuration.
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
        /// Results file (JSON lines).
        #[arg(long, value_name = "PATH")]
        results: PathBuf,
    },
    /// Close the periods that have ended and settled, as a serving collector does every five minutes: each one's
    /// claim report is frozen in the store (revision 1), a new revision is stored when its figures moved since,
    /// and a period with credit owed opens or updates its claim. One line per period looked at.
    Close {
        /// Collector configuration.
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
        /// Only this period (2026-02 or 2026-Q1), which must have settled; default: every settled period that
        /// may still be claimed, the last twelve at most.
        #[arg(long)]
        period: Option<String>,
        /// Only this contract.
        #[arg(long, value_name = "ID")]
        contract: Option<String>,
    },
    /// Contracts as OpenSLO v1 documents, and OpenSLO documents as contracts (docs/openslo.md).
    Openslo {
        #[command(subcommand)]
        action: OpensloAction,
    },
    /// Move a SQLite store into an empty PostgreSQL database, then check every table's row count.
    Migrate {
        /// `sqlite:PATH` of the store to move.
        #[arg(long, value_name = "sqlite:PATH")]
        from: String,
        /// `postgres:URL` of the database to move it into.
        #[arg(long, value_name = "postgres:URL")]
        to: String,
    },
}

/// What `openslo` does.
#[derive(Debug, Subcommand)]
enum OpensloAction {
    /// Write the configuration's contracts as OpenSLO v1 documents (SLI, SLO, AlertPolicy) on standard output;
    /// what OpenSLO cannot say is noted on standard error.
    Export {
        /// Collector configuration (only its contracts, checks and alerts are read).
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
        /// Only this contract.
        #[arg(long, value_name = "ID")]
        contract: Option<String>,
    },
    /// Read OpenSLO v1 documents into a `contracts:` list on standard output, to merge into contracts.yaml;
    /// what a contract cannot take from them, or still needs, is noted on standard error.
    Import {
        /// OpenSLO documents (YAML, several separated by `---`).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// One contract's period in the store: what `export` and `evidence` are about.
#[derive(Debug, clap::Args)]
struct ContractPeriod {
    /// Collector configuration.
    #[arg(long, value_name = "PATH")]
    config: PathBuf,
    /// Contract id.
    #[arg(long, value_name = "ID")]
    contract: String,
    /// Period: 2026-02 or 2026-Q1.
    #[arg(long)]
    period: String,
}

fn main() -> ExitCode {
    let command = Args::parse().command;
    // `serve` logs as its configuration says, once it has read it; the one-shot commands log text.
    if !matches!(command, Command::Serve { .. }) {
        logging::init(LogFormat::Text);
    }
    let outcome = match command {
        Command::Serve { config } => return run_serve(&config),
        Command::CheckConfig { config } => cli::check_config(&config).map(|summary| println!("{summary}")),
        Command::Migrate { from, to } => cli::migrate_store(&from, &to),
        Command::Openslo { action } => {
            let notes = match action {
                OpensloAction::Export { config, contract } => {
                    cli::openslo::export_openslo(&config, contract.as_deref())
                }
                OpensloAction::Import { file } => cli::openslo::import_openslo(&file),
            };
            notes.map(|notes| notes.iter().for_each(|note| eprintln!("slaprobe-collector: note: {note}")))
        }
        Command::Report { contracts, results, config, period, contract, format, skip_bad_lines, as_of } => {
            let request = ReportRequest { period, contract, format, as_of: as_of.unwrap_or_else(jiff::Timestamp::now) };
            match (contracts, results, config) {
                (Some(contracts), Some(results), _) => {
                    cli::report_offline(&contracts, &results, &request, skip_bad_lines).map(|skipped| {
                        if skipped > 0 {
                            eprintln!(
                                "slaprobe-collector: skipped {skipped} malformed line(s) in {}",
                                results.display()
                            );
                        }
                    })
                }
                (_, _, Some(config)) => cli::report_from_store(&config, &request),
                _ => Err(CliError::Usage("give --config, or --contracts with --results".into())),
            }
        }
        Command::Export { of } => cli::export_results(&of.config, &of.contract, &of.period),
        Command::Evidence { of, out, as_of } => {
            let as_of = as_of.unwrap_or_else(jiff::Timestamp::now);
            cli::write_evidence(&of.config, &of.contract, &of.period, &out, as_of).map(|summary| {
                println!(
                    "{}: {} results from {} agents ({} of the contract's checks in full), {} checkpoints, {} gaps",
                    out.display(),
                    summary.results,
                    summary.agents,
                    summary.full,
                    summary.checkpoints,
                    summary.gaps
                );
                for (agent, cut, last) in &summary.left_out {
                    eprintln!(
                        "slaprobe-collector: {agent} has not signed a checkpoint past seq {cut} yet: its results \
                         {}..={last} are left out (not yet evidence); write the bundle again after its next \
                         checkpoint (at least every checkpoint_every, 60 s by default) to include them; until \
                         then the report counts results the bundle does not hold, and slaprobe-verify says so",
                        cut + 1
                    );
                }
            })
        }
        Command::Close { config, period, contract } => {
            cli::close_periods(&config, period.as_deref(), contract.as_deref()).map(|closed| {
                if closed.is_empty() {
                    println!("no period has settled since monitoring began");
                }
                for period in closed {
                    println!("{period}");
                }
            })
        }
        Command::Import { config, results } => cli::import::import_results(&config, &results).and_then(|summary| {
            println!(
                "imported {} results; {} were already stored; {} malformed lines skipped",
                summary.imported, summary.already_stored, summary.bad_lines
            );
            match summary.bad_lines {
                0 => Ok(()),
                skipped => Err(CliError::Data(format!("{skipped} malformed lines were skipped (listed above)"))),
            }
        }),
    };
    outcome.map_or_else(fail, |()| ExitCode::SUCCESS)
}

/// Prints `error` on standard error and returns its exit status.
fn fail(error: CliError) -> ExitCode {
    let text = error.to_string();
    eprintln!("slaprobe-collector: {}", text.trim_end());
    error.exit_code()
}

/// `serve`: runs until SIGTERM or SIGINT; SIGHUP reloads the configuration.
fn run_serve(path: &Path) -> ExitCode {
    let config = match load_collector_config(path) {
        Ok(config) => config,
        Err(error) => return fail(error.into()),
    };
    logging::init(config.log_format);
    let result = cli::runtime().map_err(anyhow::Error::from).and_then(|runtime| {
        runtime.block_on(async {
            let signals = Signals::install()?;
            let listener = tokio::net::TcpListener::bind(config.listen.grpc)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen.grpc))?;
            let reload = Reload::new(path.to_owned());
            tokio::spawn(forward_hangups(signals.hangup, reload.sender.clone()));
            Ok(serve(config, listener, reload, shutdown_requested(signals.terminate, signals.interrupt)).await?)
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("slaprobe-collector: {}", error_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// The signals `serve` answers, installed before it starts: a collector that could not be stopped cleanly or
/// told to reload does not start.
struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        let install =
            |kind: SignalKind, name: &str| signal(kind).with_context(|| format!("cannot install the {name} handler"));
        Ok(Self {
            hangup: install(SignalKind::hangup(), "SIGHUP")?,
            terminate: install(SignalKind::terminate(), "SIGTERM")?,
            interrupt: install(SignalKind::interrupt(), "SIGINT")?,
        })
    }
}

/// Sends a reload request on every SIGHUP.
async fn forward_hangups(mut hangups: Signal, requests: tokio::sync::mpsc::Sender<ReloadRequest>) {
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the configuration.");
        if requests.send(ReloadRequest::default()).await.is_err() {
            return;
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_requested(mut terminate: Signal, mut interrupt: Signal) {
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down."),
        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down."),
    }
}
