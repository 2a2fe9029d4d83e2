//! smppd: the gateway daemon.
//!
//! Exit status: 0 on success; 64 when the config is invalid or unreadable (`check`, and `serve`
//! before it starts anything), each problem printed to stderr on its own line as
//! `FILE: KEY: REASON`; 2 for a command-line usage error (clap).

use clap::{Parser, Subcommand};
use smppd::app::App;
use smppd::config::{Config, ConfigErrors};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// The config is invalid or unreadable (EX_USAGE in sysexits.h: the invocation was wrong).
const EXIT_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    name = "smppd",
    version,
    about = "Self-hosted SMPP 3.4 gateway",
    after_help = "Exit status: 0 ok; 64 invalid or unreadable config (every problem printed to \
                  stderr as FILE: KEY: REASON, one per line); 2 command-line usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Config file (TOML); without it, the built-in config.example.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate a config file and exit: 0 if valid, 64 with every problem on stderr if not.
    Check {
        /// Config file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the carrier SMSC simulator.
    Simulate,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve { config } => {
            let loaded = match config {
                Some(path) => Config::load(&path).map_err(|e| report(&path.display(), &e)),
                None => Config::embedded_default()
                    .map_err(|e| report(&"built-in config.example.toml", &e)),
            };
            match loaded {
                Ok(config) => serve(config),
                Err(code) => code,
            }
        }
        Command::Check { config } => check(&config),
        Command::Simulate => not_implemented("the carrier simulator (`simulate`)"),
    }
}

/// `smppd serve`: starts the gateway and runs it until SIGTERM or SIGINT.
fn serve(config: Config) -> ExitCode {
    init_logs();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("smppd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let app = match App::start(config, &shutdown).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("smppd: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Scripts and tests read these lines to find the (possibly ephemeral) ports.
        for addr in &app.plain_addrs {
            println!("smppd: listening on smpp://{addr}");
        }
        for addr in &app.tls_addrs {
            println!("smppd: listening on smpps://{addr}");
        }
        println!("smppd: ready");
        tokio::spawn(stop_on_signal(shutdown.clone()));
        app.serve(shutdown).await;
        ExitCode::SUCCESS
    })
}

/// Cancels `shutdown` on SIGTERM (systemd's stop) or SIGINT (Ctrl-C).
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    shutdown.cancel();
}

/// Logs go to stderr; `RUST_LOG` filters them (default: info).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// `smppd check`: validates the file exactly as `serve` would load it.
fn check(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            println!("config OK: {}", summary(&config));
            ExitCode::SUCCESS
        }
        Err(errors) => report(&path.display(), &errors),
    }
}

/// Prints every problem, one per line, prefixed with where the config came from.
fn report(source: &dyn std::fmt::Display, errors: &ConfigErrors) -> ExitCode {
    for error in errors {
        eprintln!("{source}: {error}");
    }
    ExitCode::from(EXIT_CONFIG)
}

/// "2 clients, listeners 127.0.0.1:2775, 127.0.0.1:3775 (TLS); store smppd-data (durable)".
fn summary(config: &Config) -> String {
    let clients = match config.clients.len() {
        1 => "1 client".to_owned(),
        n => format!("{n} clients"),
    };
    let mut listeners: Vec<String> = config
        .server
        .listen
        .iter()
        .map(ToString::to_string)
        .collect();
    if let Some(tls) = &config.server.tls {
        listeners.extend(tls.listen.iter().map(|addr| format!("{addr} (TLS)")));
    }
    format!(
        "{clients}, listeners {}; store {} ({})",
        listeners.join(", "),
        config.store.path.display(),
        config.store.durability,
    )
}

fn not_implemented(what: &str) -> ExitCode {
    // Honest until the gateway lands: the protocol crate exists, the daemon does not yet.
    eprintln!("smppd: {what} is not implemented yet; see README.md for what works today");
    ExitCode::from(2)
}
