//! Consent across nodes (docs/cluster.md): every consent change a node records (an opt-out by
//! reply, an operator's change or import) is appended to the `SMPPD_CONSENT` stream
//! (`<prefix>.consent.<node>`, kept), and every node records the changes of the others in its
//! own store as they come, in stream order, so that whichever node owns a group holds the same
//! numbers back, at accept and at dispatch. A node that starts reads the whole stream first
//! (its durable consumer remembers where it was): a new node gets every list.
//!
//! A change is written on the other nodes without telling their webhooks (the node that
//! recorded it told its own). At least once: a change applied twice leaves the same choice
//! and one more line in that node's consent log.

use crate::consent::ConsentEvent;
use crate::store::Store;
use async_nats::jetstream::consumer;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The header naming the node that recorded a change.
const NODE_HEADER: &str = "Smppd-Node";

/// One node's side of the consent stream.
pub(super) struct ConsentLog {
    engine: super::Engine,
    store: Store,
}

impl ConsentLog {
    pub(super) fn new(engine: super::Engine, store: Store) -> Arc<Self> {
        Arc::new(Self { engine, store })
    }

    /// Appends this node's changes to the stream; a failure is logged (the change holds here).
    pub(super) async fn publish(&self, events: &[ConsentEvent]) {
        for event in events {
            if let Err(e) = self.append(event).await {
                tracing::error!(
                    number = %event.number, scope = %event.scope, error = %e,
                    "cluster: a consent change could not be told to the other nodes; it holds \
                     on this node only"
                );
            }
        }
    }

    async fn append(&self, event: &ConsentEvent) -> Result<(), String> {
        let payload = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(NODE_HEADER, self.engine.node.as_str());
        // The same change told twice (a retry) is kept once.
        let id = format!(
            "{}.{}.{}.{}.{}",
            self.engine.node,
            event.at,
            event.scope,
            event.number,
            event.choice.name()
        );
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        let subject = format!("{}.consent.{}", self.engine.subjects, self.engine.node);
        let ack = self
            .engine
            .jetstream
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(Duration::from_secs(10), ack)
            .await
            .map_err(|_| "no acknowledgement in time".to_owned())?
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Records the other nodes' changes in this node's store until `stop`.
    pub(super) async fn follow(self: Arc<Self>, stop: CancellationToken) {
        while !stop.is_cancelled() {
            if let Err(e) = self.follow_once(&stop).await {
                tracing::warn!(error = %e, "cluster: cannot read the consent stream");
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    async fn follow_once(&self, stop: &CancellationToken) -> Result<(), String> {
        let name = format!("{}CONSENT", self.engine.names);
        let stream = self
            .engine
            .jetstream
            .get_stream(&name)
            .await
            .map_err(|e| format!("stream {name}: {e}"))?;
        let durable = format!("consent_{}", self.engine.node);
        let consumer: consumer::Consumer<consumer::pull::Config> = stream
            .get_or_create_consumer(
                &durable,
                consumer::pull::Config {
                    durable_name: Some(durable.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("consumer {durable}: {e}"))?;
        let mut entries = consumer
            .stream()
            .heartbeat(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let entry = tokio::select! {
                entry = entries.next() => entry,
                () = stop.cancelled() => return Ok(()),
            };
            let Some(entry) = entry else {
                return Ok(());
            };
            let entry = entry.map_err(|e| e.to_string())?;
            let from = entry
                .headers
                .as_ref()
                .and_then(|h| h.get(NODE_HEADER))
                .map(|v| v.as_str().to_owned());
            if from.as_deref() != Some(self.engine.node.as_str()) {
                match serde_json::from_slice::<ConsentEvent>(&entry.payload) {
                    Ok(event) => {
                        if let Err(e) = self.store.replicate_consent(event).await {
                            // Not acknowledged: it comes again.
                            tracing::warn!(error = %e, "cluster: cannot record another node's consent change");
                            continue;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cluster: a consent change cannot be read; skipped")
                    }
                }
            }
            if let Err(e) = entry.ack().await {
                tracing::debug!(error = %e, "cluster: consent acknowledgement not sent");
            }
        }
    }
}
