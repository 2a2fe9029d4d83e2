//! Client outboxes across nodes (docs/cluster.md): a receipt or MO is written to the outbox
//! in the store of the node that took it from the carrier (the group's owner), as on a single
//! node. From there:
//!
//! - while the client has no receiving bind on this node, the **forwarder** moves its
//!   entries to the client's outbox in JetStream (`<prefix>.out.<client>`), and removes each
//!   from the store once the engine acknowledged it;
//! - while the client has a receiving bind here, the node's own delivery sends what its
//!   store holds, and the **puller** takes entries from the client's outbox in JetStream
//!   into the store, where the same delivery sends them. Such an entry stays in JetStream,
//!   unacknowledged, until the client answered it here; if the bind goes first, it is handed
//!   back to JetStream (for a bind on another node) and dropped from the store.
//!
//! At least once: an entry a node had sent but not yet seen answered when it died is sent
//! again by another node.

use super::groups;
use crate::config::ClientConfig;
use crate::live::Live;
use crate::message::OutboxItem;
use crate::outbox::Outboxes;
use crate::store::Store;
use async_nats::jetstream::consumer::pull::MessagesErrorKind;
use async_nats::jetstream::{self, consumer, AckKind};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often an outbox is looked at for entries to forward, and for answered entries to
/// acknowledge.
const POLL: Duration = Duration::from_millis(50);
/// Entries forwarded in one go, at most.
const FORWARD_BATCH: usize = 512;
/// Entries pulled and not yet answered by the client, at most, per client and node.
const PULL_AHEAD: usize = 256;
/// The pause before pulling again after a pull request nobody answered.
const PULL_RETRY: Duration = Duration::from_millis(200);
/// How long JetStream waits for a pulled entry's acknowledgement before another node may
/// have it (progress pings extend it while the client is slow).
const ACK_WAIT: Duration = Duration::from_secs(30);

/// The relay of one node.
pub struct Relay {
    engine: super::Engine,
    store: Store,
    outboxes: Arc<Outboxes>,
}

impl Relay {
    pub(super) fn new(engine: super::Engine, store: Store, outboxes: Arc<Outboxes>) -> Arc<Self> {
        Arc::new(Self {
            engine,
            store,
            outboxes,
        })
    }

    /// Relays every configured client's outbox until `stop`. Clients a reload adds are
    /// relayed after a restart.
    pub fn run(
        self: &Arc<Self>,
        live: &Live,
        tracker: &tokio_util::task::TaskTracker,
        stop: &CancellationToken,
    ) {
        for client in live
            .config()
            .clients
            .iter()
            .filter(|c| c.takes_deliveries())
        {
            tracker.spawn(self.clone().client(client.clone(), stop.clone()));
        }
    }

    /// One client: forwards while it has no bind here, pulls while it has one.
    async fn client(self: Arc<Self>, client: ClientConfig, stop: CancellationToken) {
        let system_id = client.system_id.clone();
        while !stop.is_cancelled() {
            if self.outboxes.has_binds(&system_id) {
                self.pull(&client, &stop).await;
            } else {
                if let Err(e) = self.forward(&system_id).await {
                    tracing::warn!(client = %system_id, error = %e, "cluster: cannot forward an outbox");
                }
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }

    /// Moves the store's outbox entries of `client` to JetStream.
    async fn forward(&self, client: &str) -> Result<(), String> {
        if self.store.outbox_len(client) == 0 {
            return Ok(());
        }
        let entries = self
            .store
            .outbox(client, None, FORWARD_BATCH)
            .map_err(|e| e.to_string())?;
        self.send(client, entries).await
    }

    /// Moves entry `seq` of `client`'s outbox to JetStream now, unless the client has a
    /// receiving bind here (then this node delivers it). A failure leaves it to the next pass.
    pub(super) async fn forward_one(&self, client: &str, seq: u64) {
        if self.outboxes.has_binds(client) {
            return;
        }
        let entry = match self.store.outbox(client, seq.checked_sub(1), 1) {
            Ok(entries) => entries.into_iter().find(|(s, _)| *s == seq),
            Err(e) => {
                tracing::warn!(%client, error = %e, "cluster: cannot read an outbox");
                return;
            }
        };
        if let Some(entry) = entry {
            if let Err(e) = self.send(client, vec![entry]).await {
                tracing::warn!(%client, error = %e, "cluster: cannot forward an outbox entry");
            }
        }
    }

    /// Publishes `entries` to `client`'s outbox in JetStream, and removes from the store those
    /// JetStream acknowledged.
    async fn send(&self, client: &str, entries: Vec<(u64, OutboxItem)>) -> Result<(), String> {
        let subject = groups::outbox_subject(&self.engine.subjects, client);
        let mut acks = Vec::with_capacity(entries.len());
        for (seq, item) in &entries {
            let payload = postcard::to_allocvec(item).map_err(|e| e.to_string())?;
            let mut headers = async_nats::HeaderMap::new();
            // Forwarded twice (a crash before the store forgot it): kept once.
            headers.insert(
                async_nats::header::NATS_MESSAGE_ID,
                format!("{}.{seq}", self.engine.node).as_str(),
            );
            let ack = self
                .engine
                .jetstream
                .publish_with_headers(subject.clone(), headers, payload.into())
                .await
                .map_err(|e| e.to_string())?;
            acks.push((*seq, ack));
        }
        let mut done = Vec::with_capacity(acks.len());
        for (seq, ack) in acks {
            match tokio::time::timeout(Duration::from_secs(10), ack).await {
                Ok(Ok(_)) => done.push(seq),
                Ok(Err(e)) => {
                    tracing::warn!(%client, error = %e, "cluster: outbox entry not taken")
                }
                Err(_) => tracing::warn!(%client, "cluster: outbox entry not acknowledged in time"),
            }
        }
        self.store
            .ack_outbox_many(client, done)
            .await
            .map_err(|e| e.to_string())
    }

    /// Pulls `client`'s JetStream outbox into the store while it has a bind here.
    async fn pull(&self, client: &ClientConfig, stop: &CancellationToken) {
        let system_id = &client.system_id;
        let consumer = match self.consumer(client).await {
            Ok(consumer) => consumer,
            Err(e) => {
                tracing::warn!(client = %system_id, error = %e, "cluster: cannot pull an outbox");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return;
            }
        };
        // Pulled entries not answered yet: the store's seq → JetStream's handle.
        let mut borrowed: HashMap<u64, jetstream::Message> = HashMap::new();
        let mut entries = match consumer.messages().await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(client = %system_id, error = %e, "cluster: cannot pull an outbox");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return;
            }
        };
        let mut tick = tokio::time::interval(POLL);
        let mut pinged = tokio::time::Instant::now();
        loop {
            tokio::select! {
                entry = entries.next(), if borrowed.len() < PULL_AHEAD => {
                    let Some(entry) = entry else { break };
                    let entry = match entry {
                        Ok(entry) => entry,
                        // A pull request that reached no consumer (one just created has no
                        // leader yet) or went quiet: asked again now, not once it expires.
                        Err(e) if matches!(
                            e.kind(),
                            MessagesErrorKind::NoResponders | MessagesErrorKind::MissingHeartbeat
                        ) => {
                            tracing::info!(client = %system_id, error = %e, "cluster: outbox pull unanswered; pulling again");
                            tokio::time::sleep(PULL_RETRY).await;
                            match consumer.messages().await {
                                Ok(fresh) => entries = fresh,
                                Err(_) => break,
                            }
                            continue;
                        }
                        Err(_) => continue,
                    };
                    self.take(system_id, entry, &mut borrowed).await;
                }
                _ = tick.tick() => {
                    self.settle(system_id, &mut borrowed).await;
                    if pinged.elapsed() >= ACK_WAIT / 3 {
                        pinged = tokio::time::Instant::now();
                        for entry in borrowed.values() {
                            let _ = entry.ack_with(AckKind::Progress).await;
                        }
                    }
                    if !self.outboxes.has_binds(system_id) {
                        break;
                    }
                }
                () = stop.cancelled() => break,
            }
        }
        // No bind here any more (or stopping): what is still borrowed goes back to JetStream.
        self.settle(system_id, &mut borrowed).await;
        let seqs: Vec<u64> = borrowed.keys().copied().collect();
        if let Err(e) = self.store.ack_outbox_many(system_id, seqs).await {
            tracing::warn!(client = %system_id, error = %e, "cluster: cannot drop borrowed entries");
        }
        for (_, entry) in borrowed {
            let _ = entry.ack_with(AckKind::Nak(None)).await;
        }
    }

    /// Stores one pulled entry for this node's delivery.
    async fn take(
        &self,
        client: &str,
        entry: jetstream::Message,
        borrowed: &mut HashMap<u64, jetstream::Message>,
    ) {
        let item: OutboxItem = match postcard::from_bytes(&entry.payload) {
            Ok(item) => item,
            Err(e) => {
                tracing::error!(%client, error = %e, "cluster: an outbox entry cannot be read; dropped");
                let _ = entry.ack_with(AckKind::Term).await;
                return;
            }
        };
        match self.store.push_outbox(client, item).await {
            Ok(seq) => {
                borrowed.insert(seq, entry);
            }
            Err(e) => {
                tracing::warn!(%client, error = %e, "cluster: cannot store a pulled outbox entry");
                let _ = entry
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                    .await;
            }
        }
    }

    /// Acknowledges in JetStream the borrowed entries the client answered (gone from the
    /// store's outbox). One point read each: the outbox may hold many more of this node's own.
    async fn settle(&self, client: &str, borrowed: &mut HashMap<u64, jetstream::Message>) {
        let mut answered = Vec::new();
        for seq in borrowed.keys() {
            match self.store.outbox(client, seq.checked_sub(1), 1) {
                Ok(next) if next.first().is_some_and(|(s, _)| s == seq) => {}
                Ok(_) => answered.push(*seq),
                Err(e) => {
                    tracing::warn!(%client, error = %e, "cluster: cannot read an outbox");
                    return;
                }
            }
        }
        let entries: Vec<_> = answered
            .into_iter()
            .filter_map(|seq| borrowed.remove(&seq))
            .collect();
        // Confirmed acknowledgements, all at once: one round trip for the lot.
        futures_util::future::join_all(entries.iter().map(|entry| entry.double_ack())).await;
    }

    /// The durable pull consumer of `client`'s JetStream outbox.
    async fn consumer(
        &self,
        client: &ClientConfig,
    ) -> Result<consumer::Consumer<consumer::pull::Config>, String> {
        let stream = format!("{}OUT", self.engine.names);
        let stream = self
            .engine
            .jetstream
            .get_stream(&stream)
            .await
            .map_err(|e| format!("stream {stream}: {e}"))?;
        let name = groups::outbox_consumer(&client.system_id);
        stream
            .get_or_create_consumer(
                &name,
                consumer::pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: groups::outbox_subject(
                        &self.engine.subjects,
                        &client.system_id,
                    ),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    max_deliver: -1,
                    max_ack_pending: i64::try_from(PULL_AHEAD).unwrap_or(256),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("consumer {name}: {e}"))
    }
}
