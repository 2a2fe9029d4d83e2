//! The admin API of webhooks: each endpoint's state and backlog, its queue and dead letters,
//! and the replay of dead letters (`smppctl hooks`).

use crate::admin::api::{HookEndpointView, HookEventView, HookReplay, HookReplayed};
use crate::admin::error::{ApiError, ApiResult};
use crate::admin::Admin;
use crate::hook_event::{HookEntry, HookEvent};
use crate::message::rfc3339;
use axum::extract::{Path, Query, State as Shared};
use axum::Json;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most events one page returns.
const PAGE_MAX: usize = 1000;
/// Dead letters counted per endpoint in the list, at most (a count above says "at least").
const DEAD_COUNTED: usize = 100_000;
/// Dead letters replayed per store request.
const REPLAY_BATCH: usize = 1000;

/// `?after=&limit=`.
#[derive(Deserialize)]
pub(crate) struct Paging {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/hooks`: every endpoint configured or with events waiting.
pub(crate) async fn list(Shared(admin): Shared<Arc<Admin>>) -> ApiResult<Vec<HookEndpointView>> {
    let config = admin.live_config();
    let statuses = admin.webhooks.statuses();
    let mut endpoints: BTreeMap<(String, String), (String, usize)> = BTreeMap::new();
    for client in &config.clients {
        for hook in &client.webhooks {
            let key = (client.system_id.clone(), hook.name.clone());
            endpoints.insert(key, (hook.url.clone(), 0));
        }
    }
    for (endpoint, depth) in admin.store.hook_depths() {
        endpoints.entry(endpoint).or_default().1 = depth;
    }
    let mut views = Vec::with_capacity(endpoints.len());
    for ((client, endpoint), (url, pending)) in endpoints {
        let dead = admin
            .store
            .dead_hooks(&client, &endpoint, None, DEAD_COUNTED)
            .map_err(|e| ApiError::store("cannot read the dead letters", &e))?
            .len();
        let status = statuses.get(&(client.clone(), endpoint.clone()));
        let state = match status {
            None => "unconfigured",
            Some(s) if s.disabled => "gone",
            Some(s) if s.down => "down",
            Some(_) => "up",
        };
        let status = status.cloned().unwrap_or_default();
        views.push(HookEndpointView {
            client,
            endpoint,
            url,
            state: state.to_owned(),
            pending,
            dead,
            delivered: status.delivered,
            failed_attempts: status.failed_attempts,
            last_error: status.last_error,
            last_success_at: status.last_success_at.map(rfc3339),
        });
    }
    Ok(Json(views))
}

/// `GET /api/hooks/{client}/{endpoint}/pending?after=&limit=`: the queue, oldest first.
pub(crate) async fn pending(
    Shared(admin): Shared<Arc<Admin>>,
    Path((client, endpoint)): Path<(String, String)>,
    Query(paging): Query<Paging>,
) -> ApiResult<Vec<HookEventView>> {
    let limit = paging.limit.unwrap_or(PAGE_MAX).clamp(1, PAGE_MAX);
    let events = admin
        .store
        .hooks(&client, &endpoint, paging.after, limit)
        .map_err(|e| ApiError::store("cannot read the webhook queue", &e))?;
    Ok(Json(
        events
            .iter()
            .map(|(seq, entry)| view(*seq, entry))
            .collect(),
    ))
}

/// `GET /api/hooks/{client}/{endpoint}/dead?after=&limit=`: the dead letters, oldest first.
pub(crate) async fn dead(
    Shared(admin): Shared<Arc<Admin>>,
    Path((client, endpoint)): Path<(String, String)>,
    Query(paging): Query<Paging>,
) -> ApiResult<Vec<HookEventView>> {
    let limit = paging.limit.unwrap_or(PAGE_MAX).clamp(1, PAGE_MAX);
    let letters = admin
        .store
        .dead_hooks(&client, &endpoint, paging.after, limit)
        .map_err(|e| ApiError::store("cannot read the dead letters", &e))?;
    Ok(Json(
        letters
            .iter()
            .map(|(seq, letter)| HookEventView {
                died_at: Some(rfc3339(letter.died_at)),
                attempts: Some(letter.attempts),
                last_error: Some(letter.last_error.clone()),
                ..view(*seq, &letter.entry)
            })
            .collect(),
    ))
}

/// `POST /api/hooks/{client}/{endpoint}/replay`: dead letters back at the end of the queue,
/// with their event ids (receivers that saw one already can tell).
pub(crate) async fn replay(
    Shared(admin): Shared<Arc<Admin>>,
    Path((client, endpoint)): Path<(String, String)>,
    Json(replay): Json<HookReplay>,
) -> ApiResult<HookReplayed> {
    let store = &admin.store;
    let failed = |e: crate::store::Error| ApiError::store("cannot replay the dead letters", &e);
    let mut replayed = 0;
    match replay.seqs {
        Some(seqs) => {
            for chunk in seqs.chunks(REPLAY_BATCH) {
                replayed += store
                    .replay_hooks(&client, &endpoint, chunk.to_vec())
                    .await
                    .map_err(failed)?;
            }
        }
        None => {
            // Page by seq: letters replayed leave the dead tree, and new ones may come.
            let mut after = None;
            loop {
                let page = store
                    .dead_hooks(&client, &endpoint, after, REPLAY_BATCH)
                    .map_err(failed)?;
                let Some(&(last, _)) = page.last() else { break };
                after = Some(last);
                let seqs = page.into_iter().map(|(seq, _)| seq).collect();
                replayed += store
                    .replay_hooks(&client, &endpoint, seqs)
                    .await
                    .map_err(failed)?;
            }
        }
    }
    if replayed == 0
        && !admin
            .live_config()
            .client(&client)
            .is_some_and(|c| c.webhooks.iter().any(|hook| hook.name == endpoint))
    {
        return Err(ApiError::not_found(format!(
            "no webhook endpoint `{endpoint}` of client `{client}`, and no dead letters there"
        )));
    }
    Ok(Json(HookReplayed { replayed }))
}

fn view(seq: u64, entry: &HookEntry) -> HookEventView {
    let message_id = match &entry.event {
        HookEvent::Message(outcome) => Some(outcome.id.to_string()),
        HookEvent::Mo(_) | HookEvent::Consent(_) => None,
    };
    HookEventView {
        seq,
        event_id: crate::webhooks::payload::event_id(entry),
        kind: entry.event.kind().name().to_owned(),
        message_id,
        created_at: rfc3339(entry.created_at),
        died_at: None,
        attempts: None,
        last_error: None,
    }
}
