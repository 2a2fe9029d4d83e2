//! `smppctl hooks`: webhook endpoints, their queues and dead letters, through the admin API.

use crate::api::{segment, Api};
use crate::cli::{HookEndpointArgs, HooksCommand};
use crate::output::{ago, or_dash, show, table};
use smppd::admin::api::{HookEndpointView, HookEventView, HookReplay, HookReplayed};

pub(crate) fn run(api: &Api, json: bool, command: Option<HooksCommand>) -> anyhow::Result<()> {
    match command.unwrap_or(HooksCommand::List) {
        HooksCommand::List => show(json, &api.get("/api/hooks")?, |v: Vec<HookEndpointView>| {
            endpoints(&v)
        }),
        HooksCommand::Pending(endpoint) => show(
            json,
            &api.get(&format!("{}/pending", path(&endpoint)))?,
            |v: Vec<HookEventView>| events(&v, false),
        ),
        HooksCommand::Dead(endpoint) => show(
            json,
            &api.get(&format!("{}/dead", path(&endpoint)))?,
            |v: Vec<HookEventView>| events(&v, true),
        ),
        HooksCommand::Replay {
            endpoint,
            seqs,
            all,
        } => {
            if seqs.is_empty() && !all {
                anyhow::bail!(
                    "name the dead letters to replay with --seq N (repeatable), or --all"
                );
            }
            let body = HookReplay {
                seqs: (!all).then_some(seqs),
            };
            let reply = api.post_json(&format!("{}/replay", path(&endpoint)), &body)?;
            show(json, &reply, |v: HookReplayed| {
                format!("replayed {} events\n", v.replayed)
            })
        }
    }
}

fn path(endpoint: &HookEndpointArgs) -> String {
    format!(
        "/api/hooks/{}/{}",
        segment(&endpoint.client),
        segment(&endpoint.endpoint)
    )
}

fn endpoints(views: &[HookEndpointView]) -> String {
    table(
        &[
            "CLIENT",
            "ENDPOINT",
            "STATE",
            "PENDING",
            "DEAD",
            "DELIVERED",
            "FAILED",
            "LAST OK",
            "LAST ERROR",
        ],
        views.iter().map(|v| {
            vec![
                v.client.clone(),
                v.endpoint.clone(),
                v.state.clone(),
                v.pending.to_string(),
                v.dead.to_string(),
                v.delivered.to_string(),
                v.failed_attempts.to_string(),
                v.last_success_at
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), ago),
                or_dash(v.last_error.as_deref()),
            ]
        }),
    )
}

fn events(views: &[HookEventView], dead: bool) -> String {
    let mut header = vec!["SEQ", "EVENT", "TYPE", "MESSAGE", "QUEUED"];
    if dead {
        header.extend(["GIVEN UP", "ATTEMPTS", "LAST ERROR"]);
    }
    table(
        &header,
        views.iter().map(|v| {
            let mut row = vec![
                v.seq.to_string(),
                v.event_id.clone(),
                v.kind.clone(),
                or_dash(v.message_id.as_deref()),
                ago(&v.created_at),
            ];
            if dead {
                row.push(v.died_at.as_deref().map_or_else(|| "-".to_owned(), ago));
                row.push(or_dash(v.attempts));
                row.push(or_dash(v.last_error.as_deref()));
            }
            row
        }),
    )
}
