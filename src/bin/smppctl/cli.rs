//! smppctl's command line (clap): the commands, their arguments, and where the admin API is.
//! `main.rs` parses it and dispatches each command.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "smppctl",
    version,
    about = "Inspect and steer an smppd gateway",
    after_help = "Exit status: 0 ok; 1 the request failed (refused by smppd, smppd not reachable, \
                  bad input); 2 command-line usage error."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// Print the admin API's JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the admin API is and how to prove we may use it.
#[derive(Args)]
pub(crate) struct ApiArgs {
    /// smppd's admin API.
    #[arg(
        long,
        global = true,
        env = "SMPPCTL_ADMIN",
        default_value = "http://127.0.0.1:8775"
    )]
    pub(crate) admin: String,
    /// The admin token ([admin] token in smppd's config).
    #[arg(long, global = true, env = "SMPPCTL_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// A file holding the admin token (its first line).
    #[arg(
        long,
        global = true,
        env = "SMPPCTL_TOKEN_FILE",
        conflicts_with = "token"
    )]
    pub(crate) token_file: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// The gateway as a whole: version, uptime, store, totals.
    Status,
    /// Carrier links and their sessions.
    Links,
    /// Live client binds.
    Binds,
    /// Route queues and client outboxes: depth and oldest age.
    Queues {
        /// Refresh in place until interrupted.
        #[arg(long)]
        watch: bool,
        /// Time between refreshes with --watch.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        interval: Duration,
        /// Stop after this many refreshes with --watch (default: never).
        #[arg(long, requires = "watch")]
        count: Option<u64>,
    },
    /// Routes: conditions, carriers, caps.
    Routes,
    /// One message and its history, by gateway id or by a carrier's id.
    Msg {
        /// The gateway id (as in submit_sm_resp), or with --link the carrier's id.
        id: String,
        /// Look the id up as this carrier link's message id.
        #[arg(long)]
        link: Option<String>,
    },
    /// Send a queued message now (with fresh attempts), or again one a carrier never reported
    /// on.
    Retry {
        /// Gateway message id.
        id: String,
    },
    /// Cancel a message that has not ended; its client gets a DELETED receipt if it asked.
    Cancel {
        /// Gateway message id.
        id: String,
    },
    /// Stop sending to a carrier link (routes fail over past it) or through a route.
    Pause(Target),
    /// Undo pause.
    Resume(Target),
    /// Change the messages-per-second cap of a route or a link, until smppd restarts.
    Throttle {
        #[command(flatten)]
        target: Target,
        /// Messages per second, or `none` to lift the cap.
        rate: String,
    },
    /// End every message queued on a route (receipts go to their clients), or drop a client's
    /// waiting receipts and MO with --outbox.
    Purge {
        /// The route.
        #[arg(required_unless_present = "outbox")]
        route: Option<String>,
        /// Purge this client's outbox instead.
        #[arg(long, value_name = "CLIENT", conflicts_with = "route")]
        outbox: Option<String>,
        /// Yes, purge: without it nothing happens.
        #[arg(long)]
        yes: bool,
    },
    /// Disconnect a client bind (unbind, or close at once with --force).
    Disconnect {
        /// The bind's session id (`smppctl binds`).
        session: u64,
        /// Close the connection without unbind.
        #[arg(long)]
        force: bool,
    },
    /// A client's campaign: per UTC day and class, what became of its messages (accepted,
    /// held, suppressed, sent, delivered or not), the SMS they took, the delivery rate, the cost.
    Campaign {
        /// The client's system_id.
        client: String,
        /// The campaign, as its messages were sent with.
        id: String,
    },
    /// All traffic (every campaign and none) per client, UTC day and class, with totals.
    Stats {
        /// One client only.
        #[arg(long)]
        client: Option<String>,
        /// From this date (2026-12-01) or this long ago (7d, 24h).
        #[arg(long, default_value = "7d")]
        since: String,
        /// To this date (default: today).
        #[arg(long)]
        until: Option<String>,
    },
    /// Suppression lists: who opted out of (or back into) which messages, and the consent
    /// log that proves it.
    Suppress {
        #[command(subcommand)]
        command: SuppressCommand,
    },
    /// Webhook endpoints: their state and backlog, their queues and dead letters, and the
    /// replay of dead letters.
    Hooks {
        #[command(subcommand)]
        command: Option<HooksCommand>,
    },
    /// Cluster mode: live nodes, dispatch groups and their owners, lease ages, stream depths
    /// and pending acknowledgements, as this node sees them.
    Cluster,
    /// Offline PDU tools.
    Pdu {
        #[command(subcommand)]
        command: PduCommand,
    },
    /// Print the argon2 hash of a client password for [[clients]] password, or with
    /// --api-key of an HTTP API key for [[clients]] api_keys (read from the terminal, or the
    /// first line of stdin).
    HashPassword {
        /// Hash an HTTP API key (1–255 printable ASCII characters) instead of an SMPP password
        /// (1–8).
        #[arg(long)]
        api_key: bool,
    },
    /// Bind to the gateway as a client, send one SMS (split and encoded as needed), wait for
    /// its receipts and print the gateway id, the route taken and the final state of each part.
    Send {
        /// Destination number (international, a leading + is fine).
        #[arg(long)]
        to: String,
        /// Sender: a number or a name.
        #[arg(long, default_value = "smppctl")]
        from: String,
        /// The gateway's SMPP listener.
        #[arg(long, env = "SMPPCTL_SMPP", default_value = "127.0.0.1:2775")]
        smpp: String,
        /// The client account to bind as.
        #[arg(long, env = "SMPPCTL_SYSTEM_ID", default_value = "demo")]
        system_id: String,
        /// Its password.
        #[arg(
            long,
            env = "SMPPCTL_PASSWORD",
            hide_env_values = true,
            default_value = "demopass"
        )]
        password: String,
        /// How long to wait for the receipts.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        wait: Duration,
        /// The text.
        text: String,
    },
}

/// A link or a route, by name.
#[derive(Args)]
pub(crate) struct Target {
    /// A carrier link or route name.
    pub(crate) name: String,
    /// The name is a route's.
    #[arg(long, conflicts_with = "link")]
    pub(crate) route: bool,
    /// The name is a link's.
    #[arg(long)]
    pub(crate) link: bool,
}

#[derive(Subcommand)]
pub(crate) enum PduCommand {
    /// Decode one PDU given as hex (spaces, colons and a 0x prefix are ignored) and print it as
    /// JSON with the spec's field names.
    Decode {
        /// The whole PDU, header included, in hex.
        hex: Vec<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum HooksCommand {
    /// Every endpoint: state (up, down, gone, unconfigured), events waiting, dead letters.
    List,
    /// The events waiting for an endpoint, oldest first.
    Pending(HookEndpointArgs),
    /// The events an endpoint never took before give_up_after.
    Dead(HookEndpointArgs),
    /// Send dead letters again (at the end of the queue, with their event ids).
    Replay {
        #[command(flatten)]
        endpoint: HookEndpointArgs,
        /// The letters to replay, by seq (`smppctl hooks dead`).
        #[arg(long = "seq", conflicts_with = "all")]
        seqs: Vec<u64>,
        /// Replay every dead letter of the endpoint.
        #[arg(long)]
        all: bool,
    },
}

/// One webhook endpoint.
#[derive(Args)]
pub(crate) struct HookEndpointArgs {
    /// The client's system_id.
    pub(crate) client: String,
    /// The endpoint's name (`[[clients.webhooks]] name`, "default" if none).
    #[arg(default_value = "default")]
    pub(crate) endpoint: String,
}

#[derive(Subcommand)]
pub(crate) enum SuppressCommand {
    /// Opt a number out: its messages of the classes [consent] applies_to are held back.
    Add(ConsentArgs),
    /// Opt a number back in (the opt-out stays in the consent log).
    Remove(ConsentArgs),
    /// A number's latest choice in a scope.
    Show {
        /// The number: E.164 (+33612345678), or national with [numbering] default_country.
        number: String,
        #[command(flatten)]
        scope: ScopeArg,
    },
    /// Every number of a scope's list, opted out or back in.
    Export {
        #[command(flatten)]
        scope: ScopeArg,
    },
    /// The consent log: every change, oldest first.
    Log,
    /// Import choices from a file (or - for stdin) of JSON lines: {"number", "scope",
    /// "choice": "opted_out"|"opted_in", "evidence"}. Each part is checked whole before any
    /// of it is written.
    Import {
        /// The file.
        file: PathBuf,
    },
}

/// A number, its scope and the proof of the choice.
#[derive(Args)]
pub(crate) struct ConsentArgs {
    /// The number: E.164 (+33612345678), or national with [numbering] default_country.
    pub(crate) number: String,
    #[command(flatten)]
    pub(crate) scope: ScopeArg,
    /// What shows the person chose this: a form, a letter, a call. Kept in the consent log.
    #[arg(long)]
    pub(crate) evidence: String,
}

/// Whose list.
#[derive(Args)]
pub(crate) struct ScopeArg {
    /// `client:SYSTEM_ID`, `sender:ADDRESS` or `gateway` (the default only when [consent]
    /// scope is "gateway").
    #[arg(long)]
    pub(crate) scope: Option<String>,
}
