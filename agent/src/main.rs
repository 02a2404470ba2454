//! `slaprobe-agent --config agent.yaml [--output jsonl:PATH]`: parses arguments, loads the config (exit status
//! 64 on any problem), prints the public key with `--print-public-key`, wires signals and calls
//! [`slaprobe_agent::run::run`]. With `collector` in the config, results go through the spool to the collector;
//! without, to `--output`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use slaprobe_agent::config::load_agent_config;
use slaprobe_agent::output::OutputTarget;
use slaprobe_agent::run::Delivery;
use slaprobe_agent::signing::SigningKey;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Exit status for unusable configuration or arguments (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

/// Probes HTTP(S), DNS, TCP, TLS, gRPC health and ICMP endpoints on schedule and records every attempt.
#[derive(Debug, Parser)]
#[command(name = "slaprobe-agent", version)]
struct Args {
    /// Agent configuration file (YAML).
    #[arg(long, value_name = "PATH")]
    config: PathBuf,
    /// Write results as JSON lines: jsonl:PATH, or jsonl:- for standard output.
    #[arg(long, value_name = "jsonl:PATH")]
    output: Option<OutputTarget>,
    /// Validate the configuration and exit.
    #[arg(long)]
    check_config: bool,
    /// Print the agent's public key (made now if the agent has none yet), to pin in the collector's
    /// `agents[].public_key`, and exit. Run it as the user the agent runs as: the key file belongs to it.
    #[arg(long)]
    print_public_key: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match load_agent_config(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprint!("slaprobe-agent: invalid configuration: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    slaprobe_proto::logging::init(config.settings.log_format);
    if args.print_public_key {
        return match SigningKey::load_or_create(&config.settings.spool_dir) {
            Ok(key) => {
                println!("{}", key.public_key());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("slaprobe-agent: signing key: {error}");
                ExitCode::FAILURE
            }
        };
    }
    if args.check_config {
        println!(
            "{}: OK, {} checks ({} for region {}), agent {}",
            args.config.display(),
            config.checks.len(),
            config.checks_for_region().count(),
            config.settings.region,
            config.agent_id()
        );
        return ExitCode::SUCCESS;
    }
    let delivery = match (args.output, config.settings.collector.is_some()) {
        (Some(_), true) => {
            eprintln!("slaprobe-agent: choose one: --output (standalone) or `collector` in the config");
            return ExitCode::from(EXIT_CONFIG);
        }
        (None, true) => Delivery::Collector,
        (Some(output), false) => match output.open() {
            Ok(sink) => Delivery::Jsonl(sink),
            Err(error) => {
                eprintln!("slaprobe-agent: cannot open the output: {error}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        (None, false) => {
            eprintln!(
                "slaprobe-agent: nothing to send results to: set `collector` in the config, or pass --output \
                 jsonl:PATH (jsonl:- for standard output)"
            );
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(config.settings.worker_threads).enable_all().build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("slaprobe-agent: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let (reload_tx, reloads) = mpsc::channel(1);
        tokio::spawn(watch_signals(shutdown.clone(), reload_tx));
        slaprobe_agent::run::run(config, args.config, delivery, reloads, shutdown).await
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("slaprobe-agent: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM and SIGINT request shutdown; SIGHUP requests a reload.
async fn watch_signals(shutdown: CancellationToken, reloads: mpsc::Sender<()>) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        tracing::error!("Cannot install signal handlers; stopping.");
        shutdown.cancel();
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                // A reload already pending covers this one too.
                let _ = reloads.try_send(());
            }
        }
    }
    shutdown.cancel();
}
