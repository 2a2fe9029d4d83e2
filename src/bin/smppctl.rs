//! smppctl: the admin CLI, a client of smppd's admin API. Offline tools (`pdu decode`,
//! `hash-password`) need no running gateway.
//!
//! Exit status: 0 ok; 1 the request failed (the gateway refused it, could not be reached, or
//! the input was wrong); 2 command-line usage error (clap).

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use smpp_proto::{coding, Body, Pdu};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

#[derive(Parser)]
#[command(
    name = "smppctl",
    version,
    about = "Inspect and steer an smppd gateway",
    after_help = "Exit status: 0 ok; 1 the request failed (refused by smppd, smppd not reachable, \
                  bad input); 2 command-line usage error."
)]
struct Cli {
    #[command(flatten)]
    api: ApiArgs,
    /// Print the admin API's JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Where the admin API is and how to prove we may use it.
#[derive(Args)]
struct ApiArgs {
    /// smppd's admin API.
    #[arg(
        long,
        global = true,
        env = "SMPPCTL_ADMIN",
        default_value = "http://127.0.0.1:8775"
    )]
    admin: String,
    /// The admin token ([admin] token in smppd's config).
    #[arg(long, global = true, env = "SMPPCTL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the admin token (its first line).
    #[arg(
        long,
        global = true,
        env = "SMPPCTL_TOKEN_FILE",
        conflicts_with = "token"
    )]
    token_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
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
    /// Offline PDU tools.
    Pdu {
        #[command(subcommand)]
        command: PduCommand,
    },
    /// Print the argon2 hash of a client password for [[clients]] password (read from the
    /// terminal, or the first line of stdin).
    HashPassword,
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
struct Target {
    /// A carrier link or route name.
    name: String,
    /// The name is a route's.
    #[arg(long, conflicts_with = "link")]
    route: bool,
    /// The name is a link's.
    #[arg(long)]
    link: bool,
}

#[derive(Subcommand)]
enum PduCommand {
    /// Decode one PDU given as hex (spaces, colons and a 0x prefix are ignored) and print it as
    /// JSON with the spec's field names.
    Decode {
        /// The whole PDU, header included, in hex.
        hex: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `smppctl … | head`: the reader had enough.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smppctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    let api = || Api::new(&cli.api);
    match cli.command {
        Command::Pdu {
            command: PduCommand::Decode { hex },
        } => pdu_decode(&hex),
        Command::HashPassword => hash_password(),
        Command::Send {
            to,
            from,
            smpp,
            system_id,
            password,
            wait,
            text,
        } => {
            let message = smppd::esme_client::Message {
                server: smpp,
                system_id,
                password,
                from,
                to,
                text,
                wait,
            };
            send(&cli.api, json, &message)
        }
        Command::Status => show(json, &api()?.get("/api/status")?, status),
        Command::Links => show(json, &api()?.get("/api/links")?, links),
        Command::Binds => show(json, &api()?.get("/api/binds")?, binds),
        Command::Routes => show(json, &api()?.get("/api/routes")?, routes),
        Command::Queues { watch: false, .. } => show(json, &api()?.get("/api/queues")?, queues),
        Command::Queues {
            watch: true,
            interval,
            count,
        } => watch_queues(&api()?, json, interval, count),
        Command::Msg { id, link: None } => show(
            json,
            &api()?.get(&format!("/api/messages/{}", segment(&id)))?,
            message,
        ),
        Command::Msg {
            id,
            link: Some(link),
        } => {
            let path = format!("/api/links/{}/messages/{}", segment(&link), segment(&id));
            show(json, &api()?.get(&path)?, message)
        }
        Command::Retry { id } => {
            let path = format!("/api/messages/{}/retry", segment(&id));
            show(json, &api()?.post(&path, None)?, message)
        }
        Command::Cancel { id } => {
            let path = format!("/api/messages/{}/cancel", segment(&id));
            show(json, &api()?.post(&path, None)?, message)
        }
        Command::Pause(target) => pause(&api()?, json, &target, "pause"),
        Command::Resume(target) => pause(&api()?, json, &target, "resume"),
        Command::Throttle { target, rate } => throttle(&api()?, json, &target, &rate),
        Command::Purge { route, outbox, yes } => purge(&api()?, json, route, outbox, yes),
        Command::Disconnect { session, force } => {
            let path = format!("/api/binds/{session}/disconnect");
            let body = json!({ "force": force });
            show(json, &api()?.post(&path, Some(body))?, disconnected)
        }
    }
}

fn broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The admin API over HTTP.
struct Api {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Api {
    fn new(args: &ApiArgs) -> anyhow::Result<Self> {
        let token = match (&args.token, &args.token_file) {
            (Some(token), _) => Some(token.trim().to_owned()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the token file {}", path.display()))?;
                Some(text.lines().next().unwrap_or("").trim().to_owned())
            }
            (None, None) => None,
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Ok(Self {
            base: args.admin.trim_end_matches('/').to_owned(),
            token,
            agent,
        })
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        self.answer(request.call())
    }

    fn post(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.agent.post(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let sent = match body {
            Some(body) => request.send_json(body),
            None => request.send_empty(),
        };
        self.answer(sent)
    }

    /// The JSON of a 2xx answer; otherwise the API's own error message.
    fn answer(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Value> {
        let mut response = sent.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer of {}", self.base))?;
        let value: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return value.ok_or_else(|| anyhow!("{} answered with something not JSON", self.base));
        }
        let message = value
            .as_ref()
            .and_then(|v| v["error"].as_str())
            .map_or_else(|| text.trim().to_owned(), str::to_owned);
        bail!("{message} (HTTP {})", status.as_u16())
    }

    fn unreachable(&self, error: &ureq::Error) -> anyhow::Error {
        let refused = match error {
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
            ureq::Error::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ),
            _ => false,
        };
        if refused {
            anyhow!(
                "cannot reach smppd's admin API at {}: {error}. Is smppd running, with [admin] \
                 enabled? (--admin URL or SMPPCTL_ADMIN point elsewhere)",
                self.base
            )
        } else {
            anyhow!("admin API at {}: {error}", self.base)
        }
    }
}

/// Prints `value` as JSON, or as `human` renders it.
fn show(json: bool, value: &Value, human: impl Fn(&Value) -> String) -> anyhow::Result<()> {
    let text = if json {
        serde_json::to_string_pretty(value)?
    } else {
        human(value)
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", text.trim_end())?;
    out.flush()?;
    Ok(())
}

fn status(v: &Value) -> String {
    let store = &v["store"];
    let totals = &v["totals"];
    let mut lines = vec![format!(
        "smppd {} (system_id {}), up {} since {}",
        text(&v["version"]),
        text(&v["system_id"]),
        seconds(v["uptime_seconds"].as_f64()),
        text(&v["started_at"]),
    )];
    lines.push(format!(
        "store     {}: {}, {}, {} commits (mean flush {} ms)",
        text(&store["path"]),
        bytes(store["size_bytes"].as_u64().unwrap_or(0)),
        text(&store["durability"]),
        number(&store["commits"]),
        number(&store["mean_flush_ms"]),
    ));
    if let Some(free) = store["free_bytes"].as_u64() {
        let min = store["min_free_bytes"].as_u64().unwrap_or(0);
        let guard = if store["space_low"].as_bool() == Some(true) {
            format!(
                "; BELOW min_free_space {}: new messages refused",
                bytes(min)
            )
        } else if min > 0 {
            format!(" (min_free_space {})", bytes(min))
        } else {
            String::new()
        };
        lines.push(format!("disk      {} free{guard}", bytes(free)));
    }
    lines.push(format!(
        "messages  {} accepted, {} refused, {} receipts, {} ended since start",
        number(&totals["submits_accepted"]),
        number(&totals["submits_refused"]),
        number(&totals["receipts"]),
        number(&totals["messages_ended"]),
    ));
    lines.push(format!(
        "waiting   {} in route queues, {} in client outboxes",
        number(&v["queued"]),
        number(&v["outbox"]),
    ));
    lines.push(format!(
        "links     {} of {} up; {} client binds",
        number(&v["links_up"]),
        number(&v["links"]),
        number(&v["binds"]),
    ));
    lines.join("\n")
}

/// A link's window: in use over room, and what is outside it (handed to a session and not
/// written, or accepted and being recorded) when there is any.
fn window(link: &Value) -> String {
    let used = format!(
        "{}/{}",
        number(&link["window_used"]),
        number(&link["window"])
    );
    let outside = [
        ("sending", &link["sending"]),
        ("recording", &link["recording"]),
    ]
    .into_iter()
    .filter(|(_, n)| n.as_u64().is_some_and(|n| n > 0))
    .map(|(what, n)| format!("{} {what}", number(n)))
    .collect::<Vec<_>>();
    if outside.is_empty() {
        used
    } else {
        format!("{used} (+{})", outside.join(", +"))
    }
}

fn links(v: &Value) -> String {
    let rows = items(v).map(|link| {
        vec![
            text(&link["name"]),
            text(&link["state"]),
            format!(
                "{}/{}",
                number(&link["sessions_up"]),
                number(&link["sessions"])
            ),
            window(link),
            rate(&link["rate"]["out"]),
            rate(&link["rate"]["in"]),
            cap(&link["throughput"], &link["configured_throughput"]),
            number(&link["reconnects"]),
            last_error(&link["last_error"]),
        ]
    });
    table(
        &[
            "LINK",
            "STATE",
            "SESSIONS",
            "WINDOW",
            "OUT/S",
            "IN/S",
            "CAP/S",
            "RECONNECTS",
            "LAST ERROR",
        ],
        rows,
    )
}

fn binds(v: &Value) -> String {
    let rows = items(v).map(|bind| {
        vec![
            number(&bind["session"]),
            text(&bind["system_id"]),
            text(&bind["peer"]),
            text(&bind["bind"]),
            ago(&bind["since"]),
            rate(&bind["rate"]["in"]),
            rate(&bind["rate"]["out"]),
            format!(
                "{}/{}",
                number(&bind["window_used"]),
                number(&bind["window"])
            ),
        ]
    });
    table(
        &[
            "SESSION",
            "CLIENT",
            "PEER",
            "BIND",
            "BOUND FOR",
            "IN/S",
            "OUT/S",
            "WINDOW",
        ],
        rows,
    )
}

fn queues(v: &Value) -> String {
    let routes = items(&v["routes"]).map(|q| {
        let route = if q["routed"] == false {
            format!("{} (no route)", text(&q["route"]))
        } else {
            text(&q["route"])
        };
        vec![
            route,
            number(&q["depth"]),
            seconds(q["oldest_age_seconds"].as_f64()),
            yes_no(&q["paused"]),
        ]
    });
    let outboxes = items(&v["outboxes"]).map(|q| {
        vec![
            text(&q["client"]),
            number(&q["depth"]),
            seconds(q["oldest_age_seconds"].as_f64()),
            number(&q["binds"]),
        ]
    });
    format!(
        "{}\n\n{}",
        table(&["ROUTE", "QUEUED", "OLDEST", "PAUSED"], routes),
        table(&["CLIENT", "OUTBOX", "OLDEST", "BINDS"], outboxes)
    )
}

fn routes(v: &Value) -> String {
    let rows = items(v).map(|r| {
        let mut matches = Vec::new();
        for (key, what) in [
            ("destination_prefixes", "to"),
            ("clients", "from client"),
            ("source_addresses", "from"),
        ] {
            let list = strings(&r[key]);
            if !list.is_empty() {
                matches.push(format!("{what} {}", list.join("|")));
            }
        }
        let carriers = strings(&r["carriers"]);
        let carriers = match r["weights"].as_array() {
            Some(weights) => carriers
                .iter()
                .zip(weights)
                .map(|(c, w)| format!("{c}×{w}"))
                .collect::<Vec<_>>()
                .join(" "),
            None => carriers.join(" > "),
        };
        vec![
            text(&r["name"]),
            if matches.is_empty() {
                "everything".to_owned()
            } else {
                matches.join(", ")
            },
            carriers,
            cap(&r["throughput"], &r["configured_throughput"]),
            yes_no(&r["paused"]),
            number(&r["depth"]),
        ]
    });
    table(
        &["ROUTE", "MATCHES", "CARRIERS", "CAP/S", "PAUSED", "QUEUED"],
        rows,
    )
}

fn message(v: &Value) -> String {
    let address = |a: &Value| {
        format!(
            "{} (ton {}, npi {})",
            text(&a["addr"]),
            number(&a["ton"]),
            number(&a["npi"])
        )
    };
    let mut lines = vec![
        format!(
            "message {}: {}{}",
            text(&v["id"]),
            text(&v["state"]),
            if v["final"].as_bool() == Some(true) {
                " (final)"
            } else {
                ""
            }
        ),
        format!(
            "client    {} on route {}",
            text(&v["client"]),
            text(&v["route"])
        ),
        format!("from      {}", address(&v["source"])),
        format!("to        {}", address(&v["destination"])),
        format!("received  {}", text(&v["received_at"])),
    ];
    if let Some(at) = v["schedule_at"].as_str() {
        lines.push(format!("scheduled {at}"));
    }
    if let Some(at) = v["expire_at"].as_str() {
        lines.push(format!("expires   {at}"));
    }
    let carrier = match v["carrier"].is_object() {
        true => format!(
            "{} as {}",
            text(&v["carrier"]["link"]),
            text(&v["carrier"]["carrier_id"])
        ),
        false => "-".to_owned(),
    };
    lines.push(format!(
        "carrier   {carrier}; {} attempts",
        number(&v["attempts"])
    ));
    lines.push(format!("text      {:?}", text(&v["text"])));
    let history =
        items(&v["history"]).map(|e| vec![text(&e["at"]), text(&e["state"]), text(&e["detail"])]);
    format!(
        "{}\n\n{}",
        lines.join("\n"),
        table(&["AT", "STATE", "DETAIL"], history)
    )
}

fn disconnected(v: &Value) -> String {
    let how = match v["how"].as_str() {
        Some("unbind") => "unbound",
        _ => "closed",
    };
    format!(
        "session {} of {} from {}: {how}",
        number(&v["session"]),
        text(&v["system_id"]),
        text(&v["peer"])
    )
}

/// Whether `target` is a link (`true`) or a route, asking the gateway when the name alone does
/// not say.
fn is_link(api: &Api, target: &Target) -> anyhow::Result<bool> {
    if target.link || target.route {
        return Ok(target.link);
    }
    let named = |list: &Value| items(list).any(|x| x["name"].as_str() == Some(&target.name));
    let (link, route) = (
        named(&api.get("/api/links")?),
        named(&api.get("/api/routes")?),
    );
    match (link, route) {
        (true, false) => Ok(true),
        (false, true) => Ok(false),
        (true, true) => bail!(
            "both a link and a route are named `{}`; say --link or --route",
            target.name
        ),
        (false, false) => bail!(
            "no link or route is named `{}`; `smppctl links` and `smppctl routes` list them",
            target.name
        ),
    }
}

fn pause(api: &Api, json: bool, target: &Target, action: &str) -> anyhow::Result<()> {
    let name = segment(&target.name);
    if is_link(api, target)? {
        let link = api.post(&format!("/api/links/{name}/{action}"), None)?;
        show(json, &link, |l| {
            format!("link {}: {}", text(&l["name"]), text(&l["state"]))
        })
    } else {
        let route = api.post(&format!("/api/routes/{name}/{action}"), None)?;
        show(json, &route, |r| {
            let state = if r["paused"].as_bool() == Some(true) {
                "paused"
            } else {
                "running"
            };
            format!("route {}: {state}", text(&r["name"]))
        })
    }
}

fn throttle(api: &Api, json: bool, target: &Target, rate: &str) -> anyhow::Result<()> {
    let rate = match rate {
        "none" | "off" | "unlimited" => Value::Null,
        n => match n.parse::<u32>() {
            Ok(n) if n > 0 => json!(n),
            _ => bail!("`{n}` is not a rate: give messages per second (at least 1), or `none`"),
        },
    };
    let name = segment(&target.name);
    let kind = if is_link(api, target)? {
        "links"
    } else {
        "routes"
    };
    let answer = api.post(
        &format!("/api/{kind}/{name}/throughput"),
        Some(json!({ "rate": rate })),
    )?;
    show(json, &answer, |x| {
        let per_second = |v: &Value| match v.as_u64() {
            Some(n) => format!("{n}/s"),
            None => "none".to_owned(),
        };
        format!(
            "{}: cap {} (configured: {})",
            text(&x["name"]),
            per_second(&x["throughput"]),
            per_second(&x["configured_throughput"])
        )
    })
}

fn purge(
    api: &Api,
    json: bool,
    route: Option<String>,
    outbox: Option<String>,
    yes: bool,
) -> anyhow::Result<()> {
    let path = match (&route, &outbox) {
        (Some(route), _) => format!("/api/routes/{}/purge", segment(route)),
        (None, Some(client)) => format!("/api/outboxes/{}/purge", segment(client)),
        (None, None) => bail!("name a route, or a client with --outbox"),
    };
    if !yes {
        // The gateway says what would go; nothing is purged without --yes.
        api.post(&path, Some(json!({ "confirm": false })))?;
        bail!("nothing purged: add --yes");
    }
    let answer = api.post(&path, Some(json!({ "confirm": true })))?;
    show(json, &answer, |p| {
        let what = if outbox.is_some() {
            "receipts and MO from the outbox of"
        } else {
            "messages from route"
        };
        let mut line = format!(
            "purged {} {what} {}",
            number(&p["purged"]),
            text(&p["queue"])
        );
        if p["failed"].as_u64().unwrap_or(0) > 0 {
            line.push_str(&format!(
                "; {} could not be purged (see smppd's log)",
                number(&p["failed"])
            ));
        }
        line
    })
}

/// `queues --watch`: clears the screen and redraws, every `interval`.
fn watch_queues(
    api: &Api,
    json: bool,
    interval: Duration,
    count: Option<u64>,
) -> anyhow::Result<()> {
    let mut shown = 0u64;
    loop {
        let value = api.get("/api/queues")?;
        let mut out = std::io::stdout().lock();
        if json {
            writeln!(out, "{value}")?;
        } else {
            // Cursor home, clear screen: the table is redrawn in place.
            write!(out, "\x1b[H\x1b[2J")?;
            writeln!(
                out,
                "every {}: smppctl queues    {}\n",
                humantime::format_duration(interval),
                humantime::format_rfc3339_seconds(SystemTime::now())
            )?;
            writeln!(out, "{}", queues(&value))?;
        }
        out.flush()?;
        drop(out);
        shown += 1;
        if count.is_some_and(|count| shown >= count) {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

fn pdu_decode(hex: &[String]) -> anyhow::Result<()> {
    let bytes = parse_hex(&hex.concat())?;
    let pdu = Pdu::decode(&Bytes::from(bytes)).context("malformed PDU")?;
    let mut json = serde_json::to_value(&pdu)?;
    if let (Some(text), Some(object)) = (readable_text(&pdu), json.as_object_mut()) {
        object.insert("text".to_owned(), text.into());
    }
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

/// Longest plain password SMPP 3.4 carries in a bind (a C-Octet String of 9).
const PASSWORD_MAX: usize = 8;

fn hash_password() -> anyhow::Result<()> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ")?;
        let again = rpassword::prompt_password("again: ")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() || password.len() > PASSWORD_MAX {
        bail!(
            "a client password is 1–{PASSWORD_MAX} characters: SMPP 3.4 binds carry at most \
             {PASSWORD_MAX}, so a longer one could never match"
        );
    }
    if !password.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        bail!("a client password is printable ASCII (it travels as such in the bind)");
    }
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow!("argon2: {e}"))?;
    println!("{hash}");
    Ok(())
}

/// The message text of a submit_sm / deliver_sm / data_sm, decoded by its data_coding (UDH
/// removed), for people reading the dump.
fn readable_text(pdu: &Pdu) -> Option<String> {
    let (data_coding, data) = match &pdu.body {
        Body::SubmitSm(sm) | Body::DeliverSm(sm) => {
            let data = match sm.part() {
                Ok(Some((_, payload))) => payload,
                _ => sm.user_data(),
            };
            (sm.data_coding, data)
        }
        Body::DataSm(sm) => (sm.data_coding, sm.tlvs.message_payload()?.clone()),
        _ => return None,
    };
    Some(coding::decode_text(data_coding, &data))
}

fn parse_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let digits: Vec<u8> = text
        .trim()
        .trim_start_matches("0x")
        .bytes()
        .filter(|b| !matches!(b, b' ' | b':' | b'\n' | b'\t'))
        .collect();
    if !digits.len().is_multiple_of(2) {
        bail!("hex has an odd number of digits ({})", digits.len());
    }
    digits
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .with_context(|| format!("not a hex digit pair at octet {i}"))
        })
        .collect()
}

/// A name or id as one URL path segment.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A borderless table with a header row, columns aligned.
fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    table
        .to_string()
        .lines()
        .map(|line| line.trim_end().strip_prefix(' ').unwrap_or(line.trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn strings(v: &Value) -> Vec<String> {
    items(v).map(text).collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn number(v: &Value) -> String {
    text(v)
}

fn rate(v: &Value) -> String {
    format!("{:.1}", v.as_f64().unwrap_or(0.0))
}

fn or_none(v: &Value) -> String {
    if v.is_null() {
        "none".to_owned()
    } else {
        text(v)
    }
}

/// "50", or "50 (config 100)" when an operator changed it.
fn cap(now: &Value, configured: &Value) -> String {
    if now == configured {
        text(now)
    } else {
        format!("{} (config {})", text(now), or_none(configured))
    }
}

fn yes_no(v: &Value) -> String {
    if v.as_bool() == Some(true) {
        "yes".to_owned()
    } else {
        "no".to_owned()
    }
}

/// "-" or "2m 5s".
fn seconds(v: Option<f64>) -> String {
    match v {
        Some(s) if s.is_finite() && s >= 0.0 => {
            humantime::format_duration(Duration::from_secs_f64(s.round())).to_string()
        }
        _ => "-".to_owned(),
    }
}

/// How long ago an RFC 3339 time was: "2m 5s".
fn ago(v: &Value) -> String {
    let age = v
        .as_str()
        .and_then(|t| humantime::parse_rfc3339(t).ok())
        .and_then(|at| SystemTime::now().duration_since(at).ok());
    seconds(age.map(|a| a.as_secs_f64()))
}

fn last_error(v: &Value) -> String {
    if v.is_null() {
        return "-".to_owned();
    }
    format!("{} ({} ago)", text(&v["message"]), ago(&v["at"]))
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `smppctl send`: the SMPP part through `smppd::client`, the route from the admin API (when
/// it answers: a client need not have admin access).
fn send(api: &ApiArgs, json: bool, message: &smppd::esme_client::Message) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let sent = runtime.block_on(smppd::esme_client::send(message))?;
    let api = Api::new(api).ok();
    let parts: Vec<Value> = sent
        .parts
        .iter()
        .map(|part| {
            let route = api
                .as_ref()
                .and_then(|api| {
                    api.get(&format!("/api/messages/{}", segment(&part.id)))
                        .ok()
                })
                .and_then(|m| m["route"].as_str().map(str::to_owned));
            let (state, stat, err) = match &part.receipt {
                Some(r) => (
                    smpp_proto::receipt::state_to_stat(r.state).to_owned(),
                    r.stat.clone(),
                    r.err.clone(),
                ),
                None => ("no receipt yet".to_owned(), String::new(), String::new()),
            };
            json!({ "id": part.id, "route": route, "state": state, "stat": stat, "err": err })
        })
        .collect();
    let all_final = sent.parts.iter().all(|p| p.receipt.is_some());
    let value = json!({
        "encoding": sent.encoding.name(),
        "parts": parts,
        "receipted": all_final,
    });
    if json {
        println!("{value:#}");
    } else {
        println!(
            "sent in {} part(s), {}",
            sent.parts.len(),
            sent.encoding.name()
        );
        for (n, part) in parts.iter().enumerate() {
            println!(
                "part {}: id {}  route {}  state {}{}",
                n + 1,
                part["id"].as_str().unwrap_or_default(),
                part["route"]
                    .as_str()
                    .unwrap_or("(admin API not reachable)"),
                part["state"].as_str().unwrap_or_default(),
                match part["err"].as_str() {
                    Some(err) if !err.is_empty() => format!("  err {err}"),
                    _ => String::new(),
                }
            );
        }
    }
    if !all_final {
        anyhow::bail!("not every part got its receipt within {:?}", message.wait);
    }
    Ok(())
}
