//! smppd: the gateway daemon.
//!
//! Exit status: 0 on success; 64 when the config is invalid or unreadable (`check`, and `serve`
//! before it starts anything), each problem printed to stderr on its own line as
//! `FILE: KEY: REASON`; 2 for a command-line usage error (clap); 74 when the store failed a
//! write for good while serving (a full disk, an I/O error): the supervisor restarts smppd,
//! and opening the store replays every acknowledged write. `smppd cluster check` exits 1 when
//! the cluster's servers cannot be reached or refuse what the config asks.

use clap::{Parser, Subcommand};
use smppd::app::App;
use smppd::config::{Config, ConfigErrors, LogConfig, LogFormat};
use smppd::simulator::{IdFormat, ReceiptForm, ReceiptIdFormat, Simulator, SimulatorConfig};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

// glibc's allocator spent a fifth of the commit thread's time on sled's and the codec's many
// small allocations (measured with perf in the e2e bench); mimalloc's per-thread pages do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Prints a line on stdout without panicking when stdout is gone (a supervisor or a test that
/// stopped reading must not crash the gateway).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*).and_then(|()| out.flush());
    }};
}

/// The config is invalid or unreadable (EX_USAGE in sysexits.h: the invocation was wrong).
const EXIT_CONFIG: u8 = 64;
/// The store failed a write while serving (EX_IOERR in sysexits.h).
const EXIT_STORE: u8 = 74;

#[derive(Parser)]
#[command(
    name = "smppd",
    version,
    about = "Self-hosted SMPP 3.4 gateway",
    after_help = "Exit status: 0 ok; 64 invalid or unreadable config (every problem printed to \
                  stderr as FILE: KEY: REASON, one per line); 2 command-line usage error; 74 the \
                  store failed a write while serving (restart it: nothing acknowledged is lost); \
                  1 `cluster check` found the cluster unreachable or unfit."
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
    /// Run the carrier SMSC simulator (a test peer for carrier links and benchmarks).
    Simulate(Box<SimulateArgs>),
    /// Cluster mode on NATS JetStream (docs/cluster.md).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Connect to the [cluster] servers, check their durability, create or check every stream
    /// and bucket, and print what was found: 0 if all is well, 1 if not, 64 on a bad config.
    Check {
        /// Config file (TOML) with a [cluster] section.
        #[arg(long)]
        config: PathBuf,
    },
}

/// `smppd simulate` flags; each mirrors a `SimulatorConfig` field and its default.
#[derive(clap::Args)]
struct SimulateArgs {
    /// Address to listen on; port 0 picks a free one (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:2776")]
    listen: SocketAddr,
    /// Accept binds with this system_id only (default: any).
    #[arg(long)]
    system_id: Option<String>,
    /// Accept binds with this password only (default: any).
    #[arg(long)]
    password: Option<String>,
    /// Requests processed at once per session (and receipts in flight per session).
    #[arg(long, default_value_t = 10)]
    window: usize,
    /// Message id in submit_sm_resp: hex or decimal.
    #[arg(long, default_value = "hex")]
    id_format: IdFormat,
    /// Message id in receipts: same, hex, decimal or decimal-padded (10 digits).
    #[arg(long, default_value = "same")]
    receipt_id_format: ReceiptIdFormat,
    /// First message id (decimal, or hex with 0x).
    #[arg(long, default_value = "0x10000000", value_parser = parse_id)]
    id_start: u64,
    /// Time from a submit to its receipt.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    receipt_delay: Duration,
    /// Up to this much extra receipt delay per message.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    receipt_jitter: Duration,
    /// What a receipt carries: both (text and TLVs), text or tlv.
    #[arg(long, default_value = "both")]
    receipt_form: ReceiptForm,
    /// Percentage of messages delivered (DELIVRD); the rest UNDELIV err 001.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    delivered_percent: u8,
    /// Send each receipt before the submit_sm_resp (a carrier quirk).
    #[arg(long)]
    receipt_before_response: bool,
    /// Submits per second per bind; beyond, ESME_RTHROTTLED (default: no limit).
    #[arg(long)]
    throttle: Option<NonZeroU32>,
    /// Percentage of submits answered ESME_RSUBMITFAIL.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    reject_percent: u8,
    /// Percentage of submits never answered nor receipted (the peer's response timeout must
    /// deal with them), evenly spread.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    withhold_percent: u8,
    /// Close a session abruptly (no unbind) at every N-th submit it receives, that submit and
    /// those after it unanswered (default: never).
    #[arg(long, value_name = "N")]
    drop_every: Option<NonZeroU64>,
    /// Answer every N-th submit_sm (over all sessions) with garbage instead of its response,
    /// in turn: an unknown command_id, a submit_sm_resp with a wrong sequence number, one with
    /// an undecodable body, a command_length below 16, random bytes (default: never).
    #[arg(long, value_name = "N")]
    garbage_every: Option<NonZeroU64>,
    /// Sessions one system_id may have bound at once; a bind beyond gets ESME_RALYBND and is
    /// closed (default: no limit).
    #[arg(long, value_name = "N")]
    max_binds: Option<NonZeroUsize>,
    /// Append each submit received to FILE: `UNIX_MS SESSION OUTCOME PDU_HEX` per line; binds,
    /// refused binds and their ends as `UNIX_MS SESSION bound=KIND|bind-refused=STATUS|closed
    /// key=value…`.
    #[arg(long, value_name = "FILE")]
    log_submits: Option<PathBuf>,
    /// Delay before each submit response.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    response_delay: Duration,
    /// Send an MO "ping N" to every receiver bind this often (default: never).
    #[arg(long, value_parser = humantime::parse_duration)]
    mo_every: Option<Duration>,
    /// Source address of the periodic MO.
    #[arg(long, default_value = "15550000001")]
    mo_from: String,
    /// Destination address of the periodic MO.
    #[arg(long, default_value = "12345")]
    mo_to: String,
    /// Receipts kept waiting at most; beyond, the oldest are dropped (and counted).
    #[arg(long, default_value_t = 1_000_000)]
    max_pending_receipts: usize,
    /// Print the stats line (as at exit) this often too, for a benchmark that follows the
    /// carrier's side while it runs (default: at exit only).
    #[arg(long, value_parser = humantime::parse_duration)]
    stats_every: Option<Duration>,
}

impl SimulateArgs {
    fn into_config(self: Box<Self>) -> SimulatorConfig {
        SimulatorConfig {
            listen: self.listen,
            system_id: self.system_id,
            password: self.password,
            window: self.window,
            id_format: self.id_format,
            receipt_id_format: self.receipt_id_format,
            id_start: self.id_start,
            receipt_delay: self.receipt_delay,
            receipt_jitter: self.receipt_jitter,
            receipt_form: self.receipt_form,
            delivered_percent: self.delivered_percent,
            receipt_before_response: self.receipt_before_response,
            throttle: self.throttle,
            reject_percent: self.reject_percent,
            withhold_percent: self.withhold_percent,
            drop_every: self.drop_every,
            garbage_every: self.garbage_every,
            max_binds: self.max_binds,
            log_submits: self.log_submits,
            response_delay: self.response_delay,
            mo_every: self.mo_every,
            mo_from: self.mo_from,
            mo_to: self.mo_to,
            max_pending_receipts: self.max_pending_receipts,
            ..SimulatorConfig::default()
        }
    }
}

fn parse_id(text: &str) -> Result<u64, std::num::ParseIntError> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve { config } => {
            let loaded = match &config {
                Some(path) => Config::load(path).map_err(|e| report(&path.display(), &e)),
                None => Config::embedded_default()
                    .map_err(|e| report(&"built-in config.example.toml", &e)),
            };
            match loaded {
                Ok(loaded) => serve(loaded, config),
                Err(code) => code,
            }
        }
        Command::Check { config } => check(&config),
        Command::Cluster {
            command: ClusterCommand::Check { config },
        } => cluster_check(&config),
        Command::Simulate(args) => {
            let stats_every = args.stats_every;
            simulate(args.into_config(), stats_every)
        }
    }
}

/// `smppd serve`: starts the gateway and runs it until SIGTERM or SIGINT; SIGHUP re-reads
/// `path` (the file `config` came from).
fn serve(config: Config, path: Option<PathBuf>) -> ExitCode {
    init_logs(&config.log);
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
            say!("smppd: listening on smpp://{addr}");
        }
        for addr in &app.tls_addrs {
            say!("smppd: listening on smpps://{addr}");
        }
        if let Some(addr) = app.admin_addr {
            say!("smppd: admin on http://{addr}");
        }
        for addr in &app.http_addrs {
            say!("smppd: HTTP API on http://{addr}");
        }
        for addr in &app.https_addrs {
            say!("smppd: HTTP API on https://{addr}");
        }
        if let Some(addr) = app.simulator_addr {
            say!("smppd: built-in carrier simulator on smpp://{addr}");
        }
        // SIGTERM starts a graceful stop; `shutdown` is what ends it (App::serve). Handlers
        // before readiness: a signal right after must find them.
        let stop = CancellationToken::new();
        stop_on_signal(stop.clone());
        reload_on_signal(app.reloader(path));
        say!("smppd: ready");
        notify_systemd(&[sd_notify::NotifyState::Ready]);
        match app.serve(stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("smppd: {e}");
                ExitCode::from(EXIT_STORE)
            }
        }
    })
}

/// `smppd simulate`: runs the carrier simulator until SIGTERM or SIGINT, printing its stats
/// line every `stats_every` if given, and at exit.
fn simulate(config: SimulatorConfig, stats_every: Option<Duration>) -> ExitCode {
    init_logs(&LogConfig::default());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("smppd-simulate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let simulator = match Simulator::start(config).await {
            Ok(simulator) => simulator,
            Err(e) => {
                eprintln!("smppd-simulate: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Scripts and tests read these lines to find the (possibly ephemeral) port.
        let stop = CancellationToken::new();
        stop_on_signal(stop.clone());
        say!("smppd-simulate: listening on smpp://{}", simulator.addr());
        say!("smppd-simulate: ready");
        match stats_every.filter(|every| !every.is_zero()) {
            Some(every) => {
                let mut ticks = tokio::time::interval(every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = ticks.tick() => say!("smppd-simulate: stats {}", simulator.stats()),
                    }
                }
            }
            None => stop.cancelled().await,
        }
        // Read by tests: what the simulator saw, in one line.
        say!("smppd-simulate: stats {}", simulator.stats());
        simulator.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Cancels `shutdown` on SIGTERM (systemd's stop) or SIGINT (Ctrl-C).
/// Installs the handlers at once (call it before announcing readiness: a SIGTERM that comes
/// right after must not find the default action, which kills the process), then waits for one
/// on a task of its own.
fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        notify_systemd(&[sd_notify::NotifyState::Stopping]);
        shutdown.cancel();
    });
}

/// Re-reads the config on each SIGHUP (`systemctl reload`); a bad file changes nothing.
/// Installs the handler at once, like [`stop_on_signal`], then serves reloads on a task.
fn reload_on_signal(reloader: smppd::reload::Reloader) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler; reload needs a restart");
        return;
    };
    tokio::spawn(reload_loop(hup, reloader));
}

async fn reload_loop(mut hup: tokio::signal::unix::Signal, reloader: smppd::reload::Reloader) {
    while hup.recv().await.is_some() {
        notify_systemd(&[sd_notify::NotifyState::Reloading]);
        match reloader.reload() {
            Ok(changes) => {
                for key in &changes.needs_restart {
                    tracing::warn!(
                        key,
                        "changed in the config file; takes effect at the next restart"
                    );
                }
                tracing::info!(?changes, "SIGHUP: config reloaded");
                say!("smppd: reloaded");
            }
            Err(e) => {
                tracing::error!("SIGHUP: reload refused: {e}");
                say!("smppd: reload refused");
            }
        }
        notify_systemd(&[sd_notify::NotifyState::Ready]);
    }
}

/// Tells systemd (`Type=notify`) how the service is doing; nothing when not run by systemd
/// (no `NOTIFY_SOCKET`).
fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Logs go to stderr as `[log]` says; `RUST_LOG`, when set, filters them instead of
/// `[log] level`.
fn init_logs(log: &LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log.format {
        LogFormat::Human => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // One object per line, the event's fields at the top level next to its message.
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

/// `smppd check`: validates the file exactly as `serve` would load it.
fn check(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            say!("config OK: {}", summary(&config));
            ExitCode::SUCCESS
        }
        Err(errors) => report(&path.display(), &errors),
    }
}

/// `smppd cluster check`: connects, checks durability, provisions, and prints the report.
fn cluster_check(path: &Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(errors) => return report(&path.display(), &errors),
    };
    let Some(cluster) = config.cluster.clone() else {
        eprintln!(
            "{}: no [cluster] section: this config runs a single node",
            path.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    init_logs(&LogConfig {
        level: "warn".to_owned(),
        ..config.log.clone()
    });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("smppd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(smppd::cluster::Cluster::check(&config, &cluster)) {
        Ok(found) => {
            say!("{}", found.to_string().trim_end());
            say!("cluster check OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("smppd: cluster check failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints every problem, one per line, prefixed with where the config came from.
fn report(source: &dyn std::fmt::Display, errors: &ConfigErrors) -> ExitCode {
    for error in errors {
        eprintln!("{source}: {error}");
    }
    ExitCode::from(EXIT_CONFIG)
}

/// "2 clients, listeners 127.0.0.1:2775, 127.0.0.1:3775 (TLS); store smppd-data (durable)",
/// then "; cluster node a (quorum)" with a `[cluster]` section.
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
    let cluster = config
        .cluster
        .as_ref()
        .map(|c| format!("; cluster node {} ({})", c.node, c.durability))
        .unwrap_or_default();
    format!(
        "{clients}, listeners {}; store {} ({}){cluster}",
        listeners.join(", "),
        config.store.path.display(),
        config.store.durability,
    )
}
