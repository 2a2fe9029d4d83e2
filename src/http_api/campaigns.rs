//! `POST /api/v1/campaigns/{id}/cancel`: cancels every message of the client's campaign that
//! still waits in its route queue (queued, scheduled or held for a sending window, not yet
//! handed to a carrier), each as `DELETE /api/v1/messages/{id}` cancels it: every part ends
//! DELETED with the receipt its client asked for. A message a part of which has left is left
//! alone, as DELETE answers it 409.
//!
//! The messages are found by a scan of the route queues (`Store::queued_where`), off the async
//! workers; one the client sends while the scan runs may be missed, and a second cancel finds
//! it. With an `Idempotency-Key` the answer is kept, after the cancels, and replayed to a
//! retry; a crash between the two leaves a retry to cancel again, which finds nothing more.

use super::error::ApiError;
use super::messages;
use super::HttpApi;
use crate::message::State;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as Shared};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;

/// The answer.
#[derive(Debug, Serialize)]
struct Cancelled {
    campaign: String,
    /// Messages cancelled (a long message counts once).
    cancelled: usize,
}

pub(super) async fn cancel(
    Shared(api): Shared<Arc<HttpApi>>,
    campaign: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let system_id = api.authenticate(&headers).await?;
    // A name that does not even decode (not UTF-8) names no campaign.
    let Path(campaign) = campaign.map_err(|_| ApiError::not_found())?;
    let path = format!("/api/v1/campaigns/{campaign}/cancel");
    let cancel = async {
        let cancelled = api.cancel_campaign(&system_id, &campaign).await?;
        tracing::info!(client = %system_id, %campaign, cancelled, "campaign cancelled over HTTP");
        messages::to_json(&Cancelled {
            campaign: campaign.clone(),
            cancelled,
        })
    };
    api.idempotent_change(&headers, &system_id, "POST", &path, cancel)
        .await
}

impl HttpApi {
    /// Cancels `client`'s messages of `campaign` that wait in their queues; how many.
    async fn cancel_campaign(&self, client: &str, campaign: &str) -> Result<usize, ApiError> {
        let store = self.store.clone();
        let (owner, wanted) = (client.to_owned(), campaign.to_owned());
        let scan = tokio::task::spawn_blocking(move || {
            store.queued_where(|m| {
                m.client == owner
                    && m.state == State::Queued
                    && m.labels.campaign.as_deref() == Some(wanted.as_str())
            })
        });
        let queued = scan
            .await
            .map_err(|e| ApiError::internal(format!("the queue scan failed: {e}")))?
            .map_err(|e| ApiError::internal(format!("cannot read the queues: {e}")))?;
        let detail = format!("cancelled by its client with its campaign {campaign} (HTTP API)");
        let mut messages = HashSet::new();
        let mut cancelled = 0;
        for id in queued {
            let parts = match self.message_parts(client, id) {
                Ok(parts) => parts,
                // Purged meanwhile: nothing to cancel.
                Err(e) if e.status() == StatusCode::NOT_FOUND => continue,
                Err(e) => return Err(e),
            };
            // The parts of a long message are in the queue each: the message is cancelled once.
            let Some(first) = parts.first() else {
                continue;
            };
            if !messages.insert(first.id) || parts.iter().any(|p| p.state != State::Queued) {
                continue;
            }
            match self.cancel_parts(parts, &detail).await {
                Ok(_) => cancelled += 1,
                // A part left meanwhile.
                Err(e) if e.status() == StatusCode::CONFLICT => {}
                Err(e) => return Err(e),
            }
        }
        Ok(cancelled)
    }
}
