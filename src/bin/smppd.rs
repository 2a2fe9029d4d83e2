//! smppd: the gateway daemon.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "smppd", version, about = "Self-hosted SMPP 3.4 gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Config file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate a config file and exit.
    Check {
        /// Config file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the carrier SMSC simulator.
    Simulate,
}

fn main() -> ExitCode {
    let what = match Cli::parse().command {
        Command::Serve { .. } => "the gateway (`serve`)",
        Command::Check { .. } => "config checking (`check`)",
        Command::Simulate => "the carrier simulator (`simulate`)",
    };
    // Honest until the gateway lands: the protocol crate exists, the daemon does not yet.
    eprintln!("smppd: {what} is not implemented yet; see README.md for what works today");
    ExitCode::from(2)
}
