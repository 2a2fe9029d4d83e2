//! smppctl: the admin CLI, a client of smppd's admin API. Offline tools (`pdu decode`,
//! `hash-password`) need no running gateway. This file parses the command line, dispatches
//! each command and turns failures into the exit status.
//!
//! Exit status: 0 ok; 1 the request failed (the gateway refused it, could not be reached, or
//! the input was wrong); 2 command-line usage error (clap).

mod actions;
mod api;
mod cli;
mod cluster;
mod hooks;
mod offline;
mod output;
mod render;
mod send;
mod stats;
mod suppress;

use api::{segment, Api};
use clap::Parser;
use cli::{Cli, Command, PduCommand};
use output::show;
use smppd::admin::api::QueuesView;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

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
        } => offline::pdu_decode(&hex),
        Command::HashPassword { api_key } => offline::hash_password(api_key),
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
            send::send(&cli.api, json, &message)
        }
        Command::Status => show(json, &api()?.get("/api/status")?, render::status),
        Command::Cluster => show(json, &api()?.get("/api/cluster")?, cluster::render),
        Command::Links => show(json, &api()?.get("/api/links")?, render::links),
        Command::Binds => show(json, &api()?.get("/api/binds")?, render::binds),
        Command::Routes => show(json, &api()?.get("/api/routes")?, render::routes),
        Command::Queues { watch: false, .. } => {
            show(json, &api()?.get("/api/queues")?, render::queues)
        }
        Command::Queues {
            watch: true,
            interval,
            count,
        } => watch_queues(&api()?, json, interval, count),
        Command::Msg { id, link: None } => show(
            json,
            &api()?.get(&format!("/api/messages/{}", segment(&id)))?,
            render::message,
        ),
        Command::Msg {
            id,
            link: Some(link),
        } => {
            let path = format!("/api/links/{}/messages/{}", segment(&link), segment(&id));
            show(json, &api()?.get(&path)?, render::message)
        }
        Command::Retry { id } => {
            let path = format!("/api/messages/{}/retry", segment(&id));
            show(json, &api()?.post(&path)?, render::message)
        }
        Command::Cancel { id } => {
            let path = format!("/api/messages/{}/cancel", segment(&id));
            show(json, &api()?.post(&path)?, render::message)
        }
        Command::Pause(target) => actions::pause(&api()?, json, &target, "pause"),
        Command::Resume(target) => actions::pause(&api()?, json, &target, "resume"),
        Command::Throttle { target, rate } => actions::throttle(&api()?, json, &target, &rate),
        Command::Purge { route, outbox, yes } => actions::purge(&api()?, json, route, outbox, yes),
        Command::Disconnect { session, force } => {
            actions::disconnect(&api()?, json, session, force)
        }
        Command::Suppress { command } => suppress::run(&api()?, json, command),
        Command::Hooks { command } => hooks::run(&api()?, json, command),
        Command::Campaign { client, id } => stats::campaign(&api()?, json, &client, &id),
        Command::Stats {
            client,
            since,
            until,
        } => stats::stats(&api()?, json, client.as_deref(), &since, until.as_deref()),
    }
}

fn broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
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
        let reply = api.get("/api/queues")?;
        let mut out = std::io::stdout().lock();
        if json {
            writeln!(out, "{}", reply.json)?;
        } else {
            let queues = render::queues(reply.view::<QueuesView>()?);
            // Cursor home, clear screen: the table is redrawn in place.
            write!(out, "\x1b[H\x1b[2J")?;
            writeln!(
                out,
                "every {}: smppctl queues    {}\n",
                humantime::format_duration(interval),
                humantime::format_rfc3339_seconds(SystemTime::now())
            )?;
            writeln!(out, "{queues}")?;
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
