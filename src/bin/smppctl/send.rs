//! `smppctl send`: binds as a client through `smppd::esme_client`, sends one SMS, waits for its
//! receipts, and asks the admin API which route each part took (when it answers: a client need
//! not have admin access). `main.rs` dispatches to it.

use crate::api::{segment, Api};
use crate::cli::ApiArgs;
use anyhow::Context;
use serde::Serialize;
use smppd::admin::api::MessageView;
use smppd::esme_client::{self, Message};

/// What `send` found out, as `--json` prints it.
#[derive(Serialize)]
struct Outcome {
    encoding: &'static str,
    parts: Vec<PartOutcome>,
    /// Every part has its receipt.
    receipted: bool,
}

/// One part of the message.
#[derive(Serialize)]
struct PartOutcome {
    id: String,
    /// `None`: the admin API did not say.
    route: Option<String>,
    state: String,
    stat: String,
    err: String,
}

pub(crate) fn send(api: &ApiArgs, json: bool, message: &Message) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let sent = runtime.block_on(esme_client::send(message))?;
    let api = Api::new(api).ok();
    let parts: Vec<PartOutcome> = sent
        .parts
        .iter()
        .map(|part| {
            let route = api
                .as_ref()
                .and_then(|api| {
                    api.get(&format!("/api/messages/{}", segment(&part.id)))
                        .ok()
                })
                .and_then(|reply| reply.view::<MessageView>().ok())
                .map(|m| m.route);
            let (state, stat, err) = match &part.receipt {
                Some(r) => (
                    smpp_proto::receipt::state_to_stat(r.state).to_owned(),
                    r.stat.clone(),
                    r.err.clone(),
                ),
                None => ("no receipt yet".to_owned(), String::new(), String::new()),
            };
            PartOutcome {
                id: part.id.clone(),
                route,
                state,
                stat,
                err,
            }
        })
        .collect();
    let outcome = Outcome {
        encoding: sent.encoding.name(),
        parts,
        receipted: sent.parts.iter().all(|p| p.receipt.is_some()),
    };
    if json {
        // Through a JSON value, whose keys are sorted, as this output has always been.
        println!("{:#}", serde_json::to_value(&outcome)?);
    } else {
        println!(
            "sent in {} part(s), {}",
            outcome.parts.len(),
            outcome.encoding
        );
        for (n, part) in outcome.parts.iter().enumerate() {
            println!(
                "part {}: id {}  route {}  state {}{}",
                n + 1,
                part.id,
                part.route.as_deref().unwrap_or("(admin API not reachable)"),
                part.state,
                if part.err.is_empty() {
                    String::new()
                } else {
                    format!("  err {}", part.err)
                }
            );
        }
    }
    if !outcome.receipted {
        anyhow::bail!("not every part got its receipt within {:?}", message.wait);
    }
    Ok(())
}
