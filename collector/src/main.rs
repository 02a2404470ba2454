//! `slaprobe-collector`: parses arguments and runs a subcommand (`serve`, `check-config`, `report`, `export`,
//! `migrate`). Exit status 64 for unusable arguments or configuration, 65 for malformed results, 1 for other
//! failures.

use std::io::IsTerminal;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use slaprobe_collector::config::{CollectorConfig, load_collector_config};
use slaprobe_collector::migrate::migrate;
use slaprobe_collector::reload::{Reload, ReloadRequest};
use slaprobe_collector::render::{Format, render};
use slaprobe_collector::report_cmd::{ReportError, load_contracts, offline_reports};
use slaprobe_collector::serve::{open_store, serve};
use slaprobe_collector::views::{ViewError, export, store_reports};
use tokio::signal::unix::{SignalKind, signal};

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
        /// Collector configuration.
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
        /// Contract id.
        #[arg(long, value_name = "ID")]
        contract: String,
        /// Period: 2026-02 or 2026-Q1.
        #[arg(long)]
        period: String,
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

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SLAPROBE_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    match Args::parse().command {
        Command::Serve { config } => run_serve(&config),
        Command::CheckConfig { config } => match load_config(&config) {
            Ok(config) => {
                println!(
                    "OK: {} checks, {} contracts, {} agents, {} alert rules",
                    config.checks.len(),
                    config.contracts.len(),
                    config.agents.len(),
                    config.alerts.len()
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Migrate { from, to } => run_migrate(&from, &to),
        Command::Report {
            contracts: Some(contracts),
            results: Some(results),
            period,
            contract,
            format,
            skip_bad_lines,
            as_of,
            ..
        } => {
            let loaded = match load_contracts(&contracts) {
                Ok(loaded) => loaded,
                Err(error) => return fail(error),
            };
            match offline_reports(
                &loaded,
                &results,
                &period,
                contract.as_deref(),
                skip_bad_lines,
                as_of.unwrap_or_else(jiff::Timestamp::now),
            ) {
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
        Command::Report { config: Some(config), period, contract, format, as_of, .. } => {
            from_store(&config, async |config, store| {
                let as_of = as_of.unwrap_or_else(jiff::Timestamp::now);
                let reports = store_reports(&config, &store, &period, contract.as_deref(), as_of).await?;
                print!("{}", render(&reports, format));
                Ok(())
            })
        }
        Command::Report { .. } => fail(ReportError::Usage("give --config, or --contracts with --results".into())),
        Command::Export { config, contract, period } => from_store(&config, async |config, store| {
            let results = export(&config.contracts, &store, &contract, &period).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for result in results {
                let line = serde_json::to_string(&result).map_err(|error| ReportError::Io(error.to_string()))?;
                writeln!(out, "{line}").map_err(|error| ReportError::Io(format!("writing the export: {error}")))?;
            }
            out.flush().map_err(|error| ReportError::Io(format!("writing the export: {error}")))
        }),
    }
}

fn run_migrate(from: &str, to: &str) -> ExitCode {
    let (Some(from), Some(to)) = (from.strip_prefix("sqlite:"), to.strip_prefix("postgres:")) else {
        return fail(ReportError::Usage("give --from sqlite:PATH --to postgres:URL".into()));
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} results ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let outcome = runtime.block_on(migrate(Path::new(from), to, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }));
    bar.finish_and_clear();
    match outcome {
        Ok(counts) => {
            for (table, rows) in counts {
                println!("{table}: {rows} rows, the same in both");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("slaprobe-collector: {error}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: &Path) -> Result<CollectorConfig, ExitCode> {
    load_collector_config(path).map_err(|error| {
        eprint!("slaprobe-collector: invalid configuration: {error}");
        ExitCode::from(64)
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Runtime::new().map_err(|error| {
        eprintln!("slaprobe-collector: cannot start the runtime: {error}");
        ExitCode::FAILURE
    })
}

/// Loads the config, opens its store and runs `work`.
fn from_store(
    path: &Path,
    work: impl AsyncFnOnce(CollectorConfig, slaprobe_collector::store::Store) -> Result<(), ReportError>,
) -> ExitCode {
    let (config, runtime) = match (load_config(path), runtime()) {
        (Ok(config), Ok(runtime)) => (config, runtime),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let store = match runtime.block_on(open_store(&config)) {
        Ok(store) => store,
        Err(error) => return fail(ReportError::Io(format!("{error:#}"))),
    };
    match runtime.block_on(work(config, store)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(error),
    }
}

fn run_serve(path: &Path) -> ExitCode {
    let (config, runtime) = match (load_config(path), runtime()) {
        (Ok(config), Ok(runtime)) => (config, runtime),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen.grpc)
            .await
            .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", config.listen.grpc))?;
        let reload = Reload::new(path.to_owned());
        tokio::spawn(forward_reload_signals(reload.sender.clone()));
        serve(config, listener, reload, shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("slaprobe-collector: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sends a reload request on every SIGHUP.
async fn forward_reload_signals(requests: tokio::sync::mpsc::Sender<ReloadRequest>) {
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::error!("Cannot install the SIGHUP handler; configuration changes are still picked up from the files.");
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the configuration.");
        if requests.send(ReloadRequest::default()).await.is_err() {
            return;
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => tracing::error!("Cannot install signal handlers; stop with SIGKILL."),
    }
}

fn fail(error: ReportError) -> ExitCode {
    eprintln!("slaprobe-collector: {error}");
    ExitCode::from(match error {
        ReportError::Usage(_) => 64,
        ReportError::Data(_) => 65,
        ReportError::View(ViewError::Store(_)) | ReportError::Io(_) => 1,
        ReportError::View(_) => 64,
    })
}
