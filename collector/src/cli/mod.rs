//! The collector's one-shot commands, `check-config`, `report`, `export`, `evidence`, `close`, `import`,
//! `migrate` and `openslo` ([`openslo`]), and the exit status each failure maps to: 64 for unusable arguments or
//! configuration, 65 for malformed results or documents, 1 for anything else.
//! `serve` is not one of them: the binary runs it ([`crate::serve`]) with its signals.
//!
//! Each command prints its output on standard output; a failure is returned as a [`CliError`] for the binary to
//! print and exit with.

pub mod import;
pub mod openslo;
pub mod report;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use jiff::Timestamp;

use crate::bundle::{BundleError, BundleSummary, write_bundle};
use crate::closing::delivery::deliver_due;
use crate::closing::{CloseError, Closed, close_due, close_period};
use crate::config::{CollectorConfig, ConfigError, Purpose, load_collector_config, load_collector_config_for};
use crate::migrate::{MigrateError, migrate};
use crate::notify::Notifier;
use crate::store::{Store, StoreError};
use crate::views::{ViewError, export, store_reports};
use slaprobe_sla::render::{Format, render};

/// Why a command failed; [`CliError::exit_code`] is the status the binary exits with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments or a file they name are unusable (exit 64).
    #[error("{0}")]
    Usage(String),
    /// The configuration does not load (exit 64).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The results file has malformed lines (exit 65).
    #[error("{0}")]
    Data(String),
    /// The output could not be written (exit 1).
    #[error("{0}")]
    Io(String),
    /// The store could not be opened or read (exit 1).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The contract or the period (exit 64), or the store (exit 1).
    #[error(transparent)]
    View(#[from] ViewError),
    /// The migration stopped (exit 1).
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// No evidence bundle was written (exit 64 for the contract, the period or an output that exists).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// No period was closed (exit 64 for the contract or a period that has not settled).
    #[error(transparent)]
    Close(#[from] CloseError),
}

impl CliError {
    /// The process exit status for this failure.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Data(_) => 65,
            Self::Io(_)
            | Self::Store(_)
            | Self::View(ViewError::Store(_))
            | Self::Migrate(_)
            | Self::Bundle(BundleError::Store(_) | BundleError::View(ViewError::Store(_)))
            | Self::Close(CloseError::Store(_) | CloseError::View(ViewError::Store(_))) => 1,
            Self::Usage(_) | Self::Config(_) | Self::View(_) | Self::Bundle(_) | Self::Close(_) => 64,
        })
    }
}

/// `check-config`: loads the configuration as `serve` would and summarises it.
pub fn check_config(path: &Path) -> Result<String, CliError> {
    let config = load_collector_config(path)?;
    Ok(format!(
        "OK: {} checks, {} contracts, {} agents, {} alert rules",
        config.checks.len(),
        config.contracts.len(),
        config.agents.len(),
        config.alerts.len()
    ))
}

/// What `report` is asked for.
#[derive(Debug)]
pub struct ReportRequest {
    /// The period, `2026-02` or `2026-Q1`.
    pub period: String,
    /// Only this contract.
    pub contract: Option<String>,
    /// The output format.
    pub format: Format,
    /// The moment the report is made as of.
    pub as_of: Timestamp,
}

/// `report --contracts FILE --results FILE`: reports from a results file; returns the malformed lines skipped
/// (with `skip_bad_lines`; an error otherwise).
pub fn report_offline(
    contracts: &Path,
    results: &Path,
    request: &ReportRequest,
    skip_bad_lines: bool,
) -> Result<usize, CliError> {
    let loaded = report::load_contracts(contracts)?;
    let offline = report::offline_reports(
        &loaded,
        results,
        &request.period,
        request.contract.as_deref(),
        skip_bad_lines,
        request.as_of,
    )?;
    print!("{}", render(&offline.reports, request.format));
    Ok(offline.skipped_lines)
}

/// `report --config FILE`: reports from the configured store.
pub fn report_from_store(config: &Path, request: &ReportRequest) -> Result<(), CliError> {
    with_store(config, async |config, store| {
        let reports =
            store_reports(&config, &store, &request.period, request.contract.as_deref(), request.as_of).await?;
        print!("{}", render(&reports, request.format));
        Ok(())
    })
}

/// `export`: the results one contract's report for `period` is computed from, as JSON lines, written as they are
/// read (six hours of results at a time).
pub fn export_results(config: &Path, contract: &str, period: &str) -> Result<(), CliError> {
    with_store(config, async |config, store| {
        let mut export = export(&config.contracts, &store, contract, period).await?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let failed = |error: std::io::Error| CliError::Io(format!("writing the export: {error}"));
        while let Some(batch) = export.next_batch().await? {
            for result in &batch {
                serde_json::to_writer(&mut out, result).map_err(|error| failed(error.into()))?;
                out.write_all(b"\n").map_err(failed)?;
            }
        }
        out.flush().map_err(failed)
    })
}

/// `evidence`: writes the evidence bundle of `contract`'s `period` to `out`, its report as of `as_of`.
pub fn write_evidence(
    config: &Path,
    contract: &str,
    period: &str,
    out: &Path,
    as_of: Timestamp,
) -> Result<BundleSummary, CliError> {
    let mut summary = None;
    with_store(config, async |config, store| {
        summary = Some(write_bundle(&config, &store, contract, period, out, as_of).await?);
        Ok(())
    })?;
    summary.ok_or_else(|| CliError::Io("the bundle was not written".to_owned()))
}

/// `close`: closes the settled periods (only `period`, and of `contract`, when given) as of now, then sends what
/// is due to the channels of `reports:`.
pub fn close_periods(config: &Path, period: Option<&str>, contract: Option<&str>) -> Result<Vec<Closed>, CliError> {
    let mut closed = Vec::new();
    with_store(config, async |config, store| {
        let now = Timestamp::now();
        closed = match period {
            Some(period) => close_period(&config, &store, period, contract, now).await?,
            None => close_due(&config, &store, contract, now).await?,
        };
        let notifier = Notifier::new().map_err(CliError::Io)?;
        deliver_due(&config, &store, &notifier, now).await?;
        Ok(())
    })?;
    Ok(closed)
}

/// `migrate --from sqlite:PATH --to postgres:URL`, with a progress bar on standard error; prints the rows of
/// each table, equal on both sides.
pub fn migrate_store(from: &str, to: &str) -> Result<(), CliError> {
    let (Some(from), Some(to)) = (from.strip_prefix("sqlite:"), to.strip_prefix("postgres:")) else {
        return Err(CliError::Usage("give --from sqlite:PATH --to postgres:URL".into()));
    };
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} results ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let outcome = runtime()?.block_on(migrate(Path::new(from), to, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }));
    bar.finish_and_clear();
    for (table, rows) in outcome? {
        println!("{table}: {rows} rows, the same in both");
    }
    Ok(())
}

/// A runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Runtime::new().map_err(|error| CliError::Io(format!("cannot start the runtime: {error}")))
}

/// Loads the configuration at `path` for a command on the store (its `listen` is not read), opens the store and
/// runs `work`.
fn with_store(
    path: &Path,
    work: impl AsyncFnOnce(CollectorConfig, Store) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let config = load_collector_config_for(path, Purpose::StoreOnly)?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let store = Store::open(&config.storage).await?;
        work(config, store).await
    })
}
