//! The action side of the admin API: pause and resume links and routes, change their caps,
//! retry and cancel messages, purge queues, disconnect binds. Each action is logged, and
//! answers with the thing as it now is.

use crate::admin::api::{
    Confirm, Disconnect, DisconnectHow, Disconnected, LinkView, MessageView, Purged, RouteView,
};
use crate::admin::error::{ApiError, ApiResult};
use crate::admin::views::{self, message_view, parse_id};
use crate::admin::Admin;
use crate::message::{now_ms, Event, Message, MessageId, State};
use crate::store::Error as StoreError;
use axum::body::Bytes;
use axum::extract::{Path, State as Shared};
use axum::Json;
use futures_util::stream::{self, StreamExt};
use serde::de::DeserializeOwned;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Messages ended at once while purging: each waits for its commit, many share one.
const PURGE_CONCURRENCY: usize = 256;
/// Queue entries read per round of a purge.
const PURGE_PAGE: usize = 1024;
/// How long a graceful disconnect may wait to hand the unbind to a busy session.
const UNBIND_HANDOFF: Duration = Duration::from_secs(1);

pub(crate) async fn pause_link(
    Shared(admin): Shared<Arc<Admin>>,
    Path(name): Path<String>,
) -> ApiResult<LinkView> {
    let link = admin.find_link(&name)?;
    if link.set_paused(true) {
        tracing::info!(carrier = %name, "link paused by an operator");
    }
    Ok(Json(admin.link_view(&link)))
}

pub(crate) async fn resume_link(
    Shared(admin): Shared<Arc<Admin>>,
    Path(name): Path<String>,
) -> ApiResult<LinkView> {
    let link = admin.find_link(&name)?;
    if link.set_paused(false) {
        tracing::info!(carrier = %name, "link resumed by an operator");
        admin.carriers.notify_queued();
    }
    Ok(Json(admin.link_view(&link)))
}

pub(crate) async fn throttle_link(
    Shared(admin): Shared<Arc<Admin>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<LinkView> {
    let link = admin.find_link(&name)?;
    let rate = rate(&body)?;
    link.throttle().set(rate);
    tracing::info!(carrier = %name, rate = ?rate.map(NonZeroU32::get), "link throughput cap changed by an operator");
    Ok(Json(admin.link_view(&link)))
}

pub(crate) async fn pause_route(
    Shared(admin): Shared<Arc<Admin>>,
    Path(name): Path<String>,
) -> ApiResult<RouteView> {
    set_route_paused(&admin, &name, true)
}

pub(crate) async fn resume_route(
    Shared(admin): Shared<Arc<Admin>>,
    Path(name): Path<String>,
) -> ApiResult<RouteView> {
    set_route_paused(&admin, &name, false)
}

fn set_route_paused(admin: &Admin, name: &str, paused: bool) -> ApiResult<RouteView> {
    let control = admin
        .carriers
        .route_control(name)
        .ok_or_else(|| views::unknown_route(name))?;
    if control.set_paused(paused) {
        let what = if paused { "paused" } else { "resumed" };
        tracing::info!(route = %name, "route {what} by an operator");
        admin.carriers.notify_queued();
    }
    admin
        .route_view(name)
        .map(Json)
        .ok_or_else(|| views::unknown_route(name))
}

pub(crate) async fn throttle_route(
    Shared(admin): Shared<Arc<Admin>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<RouteView> {
    let control = admin
        .carriers
        .route_control(&name)
        .ok_or_else(|| views::unknown_route(&name))?;
    let rate = rate(&body)?;
    control.throttle().set(rate);
    tracing::info!(route = %name, rate = ?rate.map(NonZeroU32::get), "route throughput cap changed by an operator");
    admin
        .route_view(&name)
        .map(Json)
        .ok_or_else(|| views::unknown_route(&name))
}

/// `POST /api/messages/{id}/retry`: a queued message goes now (schedule and retry backoff
/// dropped), with a fresh set of attempts; one a carrier accepted but never reported on is
/// sent again. A message that has ended stays ended.
pub(crate) async fn retry(
    Shared(admin): Shared<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<MessageView> {
    let id = parse_id(&id)?;
    let message = admin.message(id)?;
    refuse_final(&message, "retried")?;
    let updated = admin
        .store
        .update(id, |m| {
            m.attempts = 0;
            m.schedule_at = None;
            if m.state == State::Enroute {
                let detail = match &m.carrier {
                    Some(c) => format!(
                        "sent again by an operator; {} had it as {} and may deliver it twice",
                        c.link, c.carrier_id
                    ),
                    None => "sent again by an operator".to_owned(),
                };
                return m.transition(State::Queued, now_ms(), detail);
            }
            m.history.push(Event {
                at: now_ms(),
                state: m.state,
                detail: "retry now, by an operator".to_owned(),
            });
            Ok(())
        })
        .await
        .map_err(|e| update_error(id, "retried", &e))?;
    tracing::info!(%id, "message retried by an operator");
    admin.carriers.notify_queued();
    Ok(Json(message_view(&updated)))
}

/// `POST /api/messages/{id}/cancel`: the message ends DELETED and its client gets the receipt
/// it asked for. A carrier that already has it is not told (SMPP gives us no way that every
/// carrier honours).
pub(crate) async fn cancel(
    Shared(admin): Shared<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<MessageView> {
    let id = parse_id(&id)?;
    let message = admin.message(id)?;
    refuse_final(&message, "cancelled")?;
    let cancelled = end(&admin, id, "cancelled by an operator")
        .await
        .map_err(|e| update_error(id, "cancelled", &e))?;
    tracing::info!(%id, "message cancelled by an operator");
    Ok(Json(message_view(&cancelled)))
}

/// `POST /api/routes/{name}/purge` with `{"confirm": true}`: every message in the route's
/// queue ends DELETED, and each client gets the receipts it asked for.
pub(crate) async fn purge_route(
    Shared(admin): Shared<Arc<Admin>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Purged> {
    if !admin.route_names().contains(&name) {
        return Err(views::unknown_route(&name));
    }
    let Confirm { confirm } = json_body(&body, r#"{"confirm": true}"#)?;
    if !confirm {
        return Err(ApiError::bad_request(format!(
            "purging ends all {} messages queued on route {name} and tells their clients; \
             confirm with {{\"confirm\": true}} (smppctl purge {name} --yes)",
            admin.store.queue_depth(&name)
        )));
    }
    let (mut purged, mut failed) = (0, 0);
    loop {
        let ids = admin
            .store
            .queued(&name, PURGE_PAGE)
            .map_err(|e| ApiError::store("cannot read a route queue", &e))?;
        if ids.is_empty() {
            break;
        }
        let outcomes: Vec<Result<Message, StoreError>> = stream::iter(ids)
            .map(|id| end(&admin, id, "purged by an operator"))
            .buffer_unordered(PURGE_CONCURRENCY)
            .collect()
            .await;
        let mut ended = 0;
        for outcome in outcomes {
            match outcome {
                Ok(_) => ended += 1,
                // Ended on its own meanwhile (a receipt, a cancel): nothing to purge.
                Err(StoreError::Final { .. } | StoreError::NotFound(_)) => {}
                Err(e) => {
                    tracing::error!(route = %name, error = %e, "purge: cannot end a message");
                    failed += 1;
                }
            }
        }
        purged += ended;
        if ended == 0 {
            // What is left cannot be ended now; do not spin on it.
            break;
        }
    }
    tracing::info!(route = %name, purged, failed, "route queue purged by an operator");
    Ok(Json(Purged {
        queue: name,
        purged,
        failed,
    }))
}

/// `POST /api/outboxes/{client}/purge` with `{"confirm": true}`: the receipts and MO waiting
/// for a client are dropped undelivered.
pub(crate) async fn purge_outbox(
    Shared(admin): Shared<Arc<Admin>>,
    Path(client): Path<String>,
    body: Bytes,
) -> ApiResult<Purged> {
    if admin.live_config().client(&client).is_none() {
        return Err(ApiError::not_found(format!(
            "no client with system_id `{client}`; `smppctl queues` lists the outboxes"
        )));
    }
    let Confirm { confirm } = json_body(&body, r#"{"confirm": true}"#)?;
    let waiting = admin.store.outbox_len(&client);
    if !confirm {
        return Err(ApiError::bad_request(format!(
            "purging drops the {waiting} receipts and MO waiting for {client} undelivered; \
             confirm with {{\"confirm\": true}} (smppctl purge --outbox {client} --yes)"
        )));
    }
    // What waits now, and no more: entries pushed meanwhile are new traffic.
    let mut purged = 0;
    while purged < waiting {
        let page = PURGE_PAGE.min(waiting - purged);
        let items = admin
            .store
            .outbox(&client, None, page)
            .map_err(|e| ApiError::store("cannot read an outbox", &e))?;
        if items.is_empty() {
            break;
        }
        let seqs: Vec<u64> = items.iter().map(|(seq, _)| *seq).collect();
        let count = seqs.len();
        admin
            .store
            .ack_outbox_many(&client, seqs)
            .await
            .map_err(|e| ApiError::store("cannot purge an outbox", &e))?;
        purged += count;
    }
    tracing::info!(%client, purged, "outbox purged by an operator");
    Ok(Json(Purged {
        queue: client,
        purged,
        failed: 0,
    }))
}

/// `POST /api/binds/{session}/disconnect`, optionally with `{"force": true}`.
pub(crate) async fn disconnect(
    Shared(admin): Shared<Arc<Admin>>,
    Path(session): Path<String>,
    body: Bytes,
) -> ApiResult<Disconnected> {
    let session: u64 = session.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`{session}` is not a session id; `smppctl binds` lists them"
        ))
    })?;
    let Disconnect { force } = json_body(&body, r#"{"force": true}"#)?;
    let bind = admin.esme.live_bind(session).ok_or_else(|| {
        ApiError::not_found(format!(
            "no live bind on session {session}; `smppctl binds` lists them"
        ))
    })?;
    let graceful = !force
        && tokio::time::timeout(UNBIND_HANDOFF, bind.handle.unbind())
            .await
            .is_ok();
    if !graceful {
        bind.handle.close();
    }
    let how = if graceful {
        DisconnectHow::Unbind
    } else {
        DisconnectHow::Close
    };
    tracing::info!(client = %bind.system_id, peer = %bind.peer, session, how = how.name(), "bind disconnected by an operator");
    Ok(Json(Disconnected {
        session,
        system_id: bind.system_id,
        peer: bind.peer.to_string(),
        how,
    }))
}

/// Ends a message DELETED with `detail`, with the receipt its client asked for in the same
/// commit.
async fn end(admin: &Admin, id: MessageId, detail: &'static str) -> Result<Message, StoreError> {
    let detail = move |m: &Message| match (&m.carrier, m.state) {
        (Some(c), State::Enroute) => {
            format!("{detail}; {} already had it (as {})", c.link, c.carrier_id)
        }
        _ => detail.to_owned(),
    };
    admin.outboxes.end(id, State::Deleted, detail, 0).await
}

fn refuse_final(message: &Message, action: &str) -> Result<(), ApiError> {
    if message.state.is_final() {
        return Err(ApiError::conflict(format!(
            "message {} has ended ({}) and cannot be {action}: a final state never changes",
            message.id,
            message.state.name()
        )));
    }
    Ok(())
}

fn update_error(id: MessageId, action: &str, error: &StoreError) -> ApiError {
    match error {
        StoreError::Final { state, .. } => ApiError::conflict(format!(
            "message {id} ended ({}) meanwhile and cannot be {action}",
            state.name()
        )),
        StoreError::NotFound(_) => ApiError::not_found(format!("no message with id {id}")),
        other => ApiError::store(&format!("message {id} could not be {action}"), other),
    }
}

/// The body of a throughput change ([`Throughput`](crate::admin::api::Throughput)): `{"rate": N}`
/// (messages per second, at least 1) or `{"rate": null}` to lift the cap. Read by hand, not by
/// serde, so that each refusal says what was wrong.
fn rate(body: &[u8]) -> Result<Option<NonZeroU32>, ApiError> {
    let bad = |why: &str| {
        ApiError::bad_request(format!(
            "{why}; send {{\"rate\": N}} with N messages per second (at least 1), or \
             {{\"rate\": null}} to lift the cap"
        ))
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    match value.get("rate") {
        None => Err(bad("no `rate` in the body")),
        Some(serde_json::Value::Null) => Ok(None),
        Some(rate) => rate
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .and_then(NonZeroU32::new)
            .map(Some)
            .ok_or_else(|| bad(&format!("`{rate}` is not a rate"))),
    }
}

/// An optional JSON body: empty means all defaults.
fn json_body<T: DeserializeOwned + Default>(body: &[u8], example: &str) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body must be JSON like {example}: {e}")))
}
