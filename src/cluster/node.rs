//! A node of a cluster at work (docs/cluster.md): it hands every accepted message to its
//! dispatch group's queue in JetStream before the client hears its id, and, for each group
//! whose lease it holds, pulls that queue into its own store for the carrier side to send,
//! taking each entry out of the queue only once a carrier took the message (or it ended).
//!
//! The engine holds the truth; this node's store is the working copy of what it does now. A
//! queue entry stays in the engine, unacknowledged, while the owner works on it (progress
//! pings keep it there): if the owner dies, the entry goes to the next owner after
//! `ack_wait` and is sent again (at least once). Copies in the store of a group this node
//! does not own any more are forgotten, so that they are never sent from here.

use super::groups::{self, Group, Groups, Lane};
use super::lease::{Attempt, Candidate, Fence, Ownership};
use super::nodes::IdBlocks;
use crate::carrier::Carriers;
use crate::handoff::{BoxFuture, Handoff, HandoffError};
use crate::message::{Message, MessageId};
use crate::store::Store;
use async_nats::jetstream::consumer::pull::MessagesErrorKind;
use async_nats::jetstream::{self, consumer, kv, AckKind};
use dashmap::DashMap;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a publish may wait for the engine's acknowledgement before the submit is
/// refused (ESME_RSYSERR: no id given, the client may retry).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a node waits for another to answer a query for a message it does not hold.
const QUERY_WAIT: Duration = Duration::from_millis(500);
/// How long a starting node tries again while the servers refuse (just started, electing).
const ENGINE_READY: Duration = Duration::from_secs(30);
/// Queue entries an owner works on at once per group and lane, at most.
const MAX_ACK_PENDING: i64 = 10_000;
/// Entries taken from the pull at once, at most (several such chunks that arrive during a
/// commit share the next one).
const PULL_BATCH: usize = 256;
/// Entries each pull request asks for (the client asks again once half of them came). The
/// pull is read all along, while earlier entries are being committed to the store: the
/// queue's throughput is then about this many entries per server round trip, not per
/// round trip plus commit.
const PULL_AHEAD: usize = 1024;
/// Chunks pulled and waiting for their commit, at most (then the pull waits).
const TAKE_IN_QUEUE: usize = 16;
/// The pull's idle heartbeat: two missed, the pull starts over (a server gone quiet).
const PULL_HEARTBEAT: Duration = Duration::from_secs(5);
/// The pause before pulling again after a pull request nobody answered.
const PULL_RETRY: Duration = Duration::from_millis(200);

/// One queue entry this node works on: the engine's handle to acknowledge it.
struct Held {
    entry: jetstream::Message,
    group: String,
    /// When it was pulled or last pinged.
    pinged: Instant,
}

/// This node in the cluster: the [`Handoff`] the gateway's parts call.
pub struct Node {
    engine: super::Engine,
    groups: Groups,
    /// Each carrier link's group.
    link_group: HashMap<String, String>,
    ids: Arc<IdBlocks>,
    carrier_ids: kv::Store,
    leases: kv::Store,
    lease_ttl: Duration,
    ack_wait: Duration,
    durability: crate::config::ClusterDurability,
    /// The fences of the groups this node owns now.
    fences: DashMap<String, Fence>,
    /// Queue entries this node works on, by message.
    held: DashMap<MessageId, Held>,
    store: Store,
    /// The connection, for the overview.
    connection: super::Cluster,
    layout: super::layout::Layout,
    /// Who is in the cluster, once running.
    presence: std::sync::OnceLock<Arc<super::presence::Presence>>,
    /// The outboxes' relay, once running.
    relay: std::sync::OnceLock<Arc<super::relay::Relay>>,
    /// Consent changes to and from the other nodes.
    consent: Arc<super::consent::ConsentLog>,
}

/// The cluster as this node sees it: `smppctl cluster`, `/api/cluster`.
#[derive(Clone, Debug)]
pub struct Overview {
    /// This node's name.
    pub node: String,
    /// Its id slot.
    pub slot: u8,
    /// `[cluster] durability`.
    pub durability: crate::config::ClusterDurability,
    /// Live nodes, as the last presence read found them.
    pub nodes: Vec<super::presence::Alive>,
    /// Every group, its owner and how long ago its lease record was last written.
    pub groups: Vec<(Group, Option<String>, Option<Duration>)>,
    /// Queue entries this node works on now (unacknowledged in JetStream).
    pub held: usize,
    /// Streams, buckets and consumers.
    pub status: super::Status,
}

impl Node {
    /// Connects, checks durability, creates or checks the streams and buckets, and claims this
    /// node's id slot. The error says what failed, for the start-up log. Servers that have
    /// just started may refuse for a moment (no leader elected yet, "no suitable peers"):
    /// every step after the connection is tried again for [`ENGINE_READY`]; an incompatible
    /// stream is refused at once.
    pub async fn start(
        config: &crate::config::Config,
        cluster: &crate::config::ClusterConfig,
        store: Store,
    ) -> Result<Arc<Self>, String> {
        let connection = super::Cluster::connect(cluster)
            .await
            .map_err(|e| e.to_string())?;
        let layout = super::layout::Layout::new(config, cluster);
        let names = super::layout::names_prefix(cluster);
        let deadline = Instant::now() + ENGINE_READY;
        let (buckets, ids) = loop {
            match Self::prepare(&connection, &layout, &names, &cluster.node).await {
                Ok(ready) => break ready,
                Err((e, again)) if again && Instant::now() < deadline => {
                    tracing::warn!(error = %e, "cluster: the servers are not ready; trying again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err((e, _)) => return Err(e),
            }
        };
        let [carrier_ids, leases] = buckets;
        let engine = super::Engine {
            node: cluster.node.clone(),
            subjects: groups::subject_prefix(cluster),
            names,
            jetstream: connection.jetstream.clone(),
        };
        let durability = cluster.durability;
        let groups = Groups::of(config);
        let link_group = groups
            .iter()
            .flat_map(|g| g.carriers.iter().map(|c| (c.clone(), g.name.clone())))
            .collect();
        tracing::info!(
            node = %cluster.node, slot = ids.slot(), groups = groups.len(),
            "cluster: connected; streams and buckets ready"
        );
        let consent = super::consent::ConsentLog::new(engine.clone(), store.clone());
        Ok(Arc::new(Self {
            consent,
            engine,
            carrier_ids,
            leases,
            groups,
            link_group,
            ids,
            lease_ttl: cluster.lease_ttl,
            durability,
            ack_wait: cluster.lease_ttl * 3,
            fences: DashMap::new(),
            held: DashMap::new(),
            store,
            connection,
            layout,
            presence: std::sync::OnceLock::new(),
            relay: std::sync::OnceLock::new(),
        }))
    }

    /// The steps of [`Self::start`] after the connection: the buckets this node uses
    /// (carrier ids, leases) and its id blocks. The error, and whether trying
    /// again may help.
    async fn prepare(
        connection: &super::Cluster,
        layout: &super::layout::Layout,
        names: &str,
        node: &str,
    ) -> Result<([kv::Store; 2], Arc<IdBlocks>), (String, bool)> {
        let again = |e: super::Error| {
            let permanent = matches!(e, super::Error::Incompatible(_));
            (e.to_string(), !permanent)
        };
        connection.check_durability().await.map_err(again)?;
        connection.provision(layout).await.map_err(again)?;
        let bucket = |name: &str| {
            let name = format!("{names}{name}");
            async move {
                connection
                    .jetstream
                    .get_key_value(name.clone())
                    .await
                    .map_err(|e| (format!("bucket {name}: {e}"), true))
            }
        };
        let ids = IdBlocks::start(bucket("NODES").await?, node)
            .await
            .map_err(|e| (e.to_string(), true))?;
        let buckets = [bucket("CID").await?, bucket("LEASE").await?];
        Ok((buckets, ids))
    }

    /// Answers the other nodes' questions for messages this node's store holds (a query of
    /// a message sent or ended here): no answer when it holds none, so that the node that
    /// does answers first.
    async fn answer_queries(self: Arc<Self>, stop: CancellationToken) {
        let subject = format!("{}.msg.get", self.engine.subjects);
        let mut asked = match self.connection.client.subscribe(subject).await {
            Ok(asked) => asked,
            Err(e) => {
                tracing::error!(error = %e, "cluster: cannot answer other nodes' message queries");
                return;
            }
        };
        loop {
            let question = tokio::select! {
                question = asked.next() => question,
                () = stop.cancelled() => return,
            };
            let Some(question) = question else { return };
            let Some(reply) = question.reply else {
                continue;
            };
            let id = std::str::from_utf8(&question.payload)
                .ok()
                .and_then(|id| id.parse::<MessageId>().ok());
            let Some(Ok(Some(message))) = id.map(|id| self.store.message(id)) else {
                continue;
            };
            if let Ok(answer) = postcard::to_allocvec(&message) {
                let _ = self.connection.client.publish(reply, answer.into()).await;
            }
        }
    }

    /// Contends for every group's lease until `stop`, serving those it wins, and relays the
    /// clients' outboxes across nodes.
    pub fn run(
        self: &Arc<Self>,
        services: (
            Arc<Carriers>,
            Arc<crate::outbox::Outboxes>,
            Arc<crate::esme::EsmeService>,
        ),
        live: &crate::live::Live,
        tracker: &tokio_util::task::TaskTracker,
        stop: CancellationToken,
    ) {
        let (carriers, outboxes, esme) = services;
        let presence = super::presence::Presence::new(
            &self.engine.node,
            self.ids.slot(),
            self.leases.clone(),
            self.lease_ttl,
            esme,
            live.clone(),
        );
        let _ = self.presence.set(presence.clone());
        let this = self.clone();
        tracker.spawn(presence.run(move || this.owned(), stop.clone()));
        let relay = super::relay::Relay::new(self.engine.clone(), self.store.clone(), outboxes);
        tracker.spawn(self.consent.clone().follow(stop.clone()));
        tracker.spawn(self.clone().answer_queries(stop.clone()));
        relay.run(live, tracker, &stop);
        let _ = self.relay.set(relay);
        for group in self.groups.iter() {
            tracker.spawn(self.clone().contend(
                carriers.clone(),
                group.clone(),
                tracker.clone(),
                stop.clone(),
            ));
        }
        tracker.spawn(self.clone().ping(stop));
    }

    /// The cluster as this node sees it now (reads the engine).
    pub async fn overview(&self) -> Result<Overview, String> {
        let sync = super::SyncReport::default();
        let status = self
            .connection
            .status(&self.layout, &sync)
            .await
            .map_err(|e| e.to_string())?;
        let mut groups = Vec::new();
        for group in self.groups.iter() {
            let entry = self
                .leases
                .entry(format!("group.{}", group.name))
                .await
                .map_err(|e| e.to_string())?;
            let (owner, age) = match entry {
                Some(entry) if entry.operation == kv::Operation::Put => {
                    let record: Option<super::lease::Record> =
                        serde_json::from_slice(&entry.value).ok();
                    let written = std::time::SystemTime::from(entry.created);
                    let age = std::time::SystemTime::now().duration_since(written).ok();
                    (record.map(|r| r.node), age)
                }
                _ => (None, None),
            };
            groups.push((group.clone(), owner, age));
        }
        let nodes = self
            .presence
            .get()
            .map(|p| crate::sync::lock(&p.members).nodes.clone())
            .unwrap_or_default();
        Ok(Overview {
            node: self.engine.node.clone(),
            slot: self.ids.slot(),
            durability: self.durability,
            nodes,
            groups,
            held: self.held.len(),
            status,
        })
    }

    /// Every group's name.
    pub fn group_names(&self) -> Vec<String> {
        self.groups.iter().map(|g| g.name.clone()).collect()
    }

    /// Live nodes, as the last presence read found them.
    pub fn live_nodes(&self) -> usize {
        self.presence
            .get()
            .map_or(0, |p| crate::sync::lock(&p.members).nodes.len())
    }

    /// Queue entries this node works on now.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The groups this node owns now.
    pub fn owned(&self) -> Vec<String> {
        self.fences
            .iter()
            .filter(|f| f.value().is_valid())
            .map(|f| f.key().clone())
            .collect()
    }

    /// One group's lease: tried every `ttl / 5` (2 s at most); once won, the group is served
    /// until the lease is lost or the gateway stops.
    async fn contend(
        self: Arc<Self>,
        carriers: Arc<Carriers>,
        group: Group,
        tracker: tokio_util::task::TaskTracker,
        stop: CancellationToken,
    ) {
        let poll = (self.lease_ttl / 5).min(Duration::from_secs(2));
        let mut candidate = None;
        loop {
            let attempt = match candidate.as_mut() {
                Some(candidate) => Some(Candidate::try_acquire(candidate).await),
                None => {
                    match Candidate::new(
                        self.leases.clone(),
                        &group.name,
                        &self.engine.node,
                        self.lease_ttl,
                    ) {
                        Ok(c) => candidate = Some(c),
                        Err(e) => {
                            tracing::error!(group = %group.name, error = %e, "cluster: cannot contend");
                            return;
                        }
                    }
                    None
                }
            };
            match attempt {
                Some(Ok(Attempt::Acquired(lease))) => {
                    let owner = lease.keep();
                    self.serve(&carriers, &group, owner, &tracker, &stop).await;
                    // A fresh candidate: the record it saw before is its own, gone now.
                    candidate = None;
                }
                Some(Ok(Attempt::Held { .. })) | None => {}
                Some(Err(e)) => {
                    tracing::warn!(group = %group.name, error = %e, "cluster: lease attempt failed")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// Serves `group` while `owner` holds its lease: connects its links, pulls its queue;
    /// then gives it up: links drained and unbound, entries not sent handed back.
    async fn serve(
        self: &Arc<Self>,
        carriers: &Arc<Carriers>,
        group: &Group,
        owner: super::lease::Owner,
        tracker: &tokio_util::task::TaskTracker,
        stop: &CancellationToken,
    ) {
        let fence = owner.fence();
        tracing::info!(group = %group.name, node = %self.engine.node, "cluster: this node owns the group");
        // Copies from an earlier ownership may have gone to another owner since.
        self.forget_queued(group).await;
        self.fences.insert(group.name.clone(), fence.clone());
        carriers.take_up(&group.carriers);
        let pulling = stop.child_token();
        let pulls: Vec<_> = Lane::ALL
            .into_iter()
            .map(|lane| {
                tracker.spawn(self.clone().pull(
                    carriers.clone(),
                    group.clone(),
                    lane,
                    fence.clone(),
                    pulling.clone(),
                ))
            })
            .collect();
        let mut watch = owner.watch();
        let released = loop {
            tokio::select! {
                changed = watch.changed() => {
                    if changed.is_err() || *watch.borrow() == Ownership::NotOwner {
                        break false;
                    }
                }
                () = stop.cancelled() => break true,
            }
        };
        if released {
            // A clean stop: the next owner may take over at once.
            if let Err(e) = owner.release().await {
                tracing::warn!(group = %group.name, error = %e, "cluster: cannot release the lease");
            }
        } else {
            drop(owner);
            tracing::warn!(group = %group.name, node = %self.engine.node, "cluster: this node lost the group");
        }
        self.fences.remove(&group.name);
        pulling.cancel();
        // A pull taking a batch in finishes first: what it took is handed back below too.
        for pull in pulls {
            let _ = pull.await;
        }
        carriers.give_up(&group.carriers);
        // Answers due from the carrier still take their entries out of the queue meanwhile.
        let drained = Instant::now() + crate::carrier::DRAIN_CARRIERS;
        while carriers.unanswered() > 0 && Instant::now() < drained {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.hand_back(&group.name).await;
        self.forget_queued(group).await;
    }

    /// Pulls one lane of `group`'s queue into the store while `fence` holds. The pull is
    /// read all along (so that its next requests go out) and hands what comes to a task that
    /// takes it into the store, one commit at a time for everything that came meanwhile.
    async fn pull(
        self: Arc<Self>,
        carriers: Arc<Carriers>,
        group: Group,
        lane: Lane,
        fence: Fence,
        stop: CancellationToken,
    ) {
        let (chunks, mut taken) =
            tokio::sync::mpsc::channel::<Vec<jetstream::Message>>(TAKE_IN_QUEUE);
        let taker = {
            let (this, fence, group) = (self.clone(), fence.clone(), group.name.clone());
            tokio::spawn(async move {
                while let Some(mut batch) = taken.recv().await {
                    while let Ok(more) = taken.try_recv() {
                        batch.extend(more);
                    }
                    if fence.is_valid() {
                        this.take_in(&carriers, &group, batch).await;
                    } else {
                        for entry in batch {
                            let _ = entry.ack_with(AckKind::Nak(None)).await;
                        }
                    }
                }
            })
        };
        self.pull_into(&group, lane, &fence, &stop, &chunks).await;
        // What was pulled is taken in (or handed back) before this returns.
        drop(chunks);
        let _ = taker.await;
    }

    /// The pull of [`Self::pull`]: sends every chunk to `chunks` until `stop` or the fence
    /// lapses.
    async fn pull_into(
        &self,
        group: &Group,
        lane: Lane,
        fence: &Fence,
        stop: &CancellationToken,
        chunks: &tokio::sync::mpsc::Sender<Vec<jetstream::Message>>,
    ) {
        while !stop.is_cancelled() && fence.is_valid() {
            let entries = match self.consumer(&group.name, lane).await {
                Ok(consumer) => consumer
                    .stream()
                    .max_messages_per_batch(PULL_AHEAD)
                    .heartbeat(PULL_HEARTBEAT)
                    .messages()
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            let mut entries = match entries {
                Ok(entries) => entries.ready_chunks(PULL_BATCH),
                Err(e) => {
                    tracing::warn!(group = %group.name, lane = lane.token(), error = %e, "cluster: cannot pull the queue");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = stop.cancelled() => return,
                    }
                }
            };
            loop {
                let batch = tokio::select! {
                    batch = entries.next() => batch,
                    () = stop.cancelled() => return,
                };
                let Some(batch) = batch else {
                    break; // The pull ended (a server went away): pull again.
                };
                let mut unanswered = false;
                let batch: Vec<_> = batch
                    .into_iter()
                    .filter_map(|entry| match entry {
                        Ok(entry) => Some(entry),
                        Err(e) => {
                            unanswered |= matches!(
                                e.kind(),
                                MessagesErrorKind::NoResponders
                                    | MessagesErrorKind::MissingHeartbeat
                            );
                            tracing::debug!(error = %e, "cluster: pull interrupted");
                            None
                        }
                    })
                    .collect();
                if !fence.is_valid() {
                    for entry in batch {
                        let _ = entry.ack_with(AckKind::Nak(None)).await;
                    }
                    return;
                }
                if chunks.send(batch).await.is_err() {
                    return;
                }
                if unanswered {
                    // The pull request reached no consumer (one just created has no leader
                    // yet; a leader went away) or its server went quiet: the client would ask
                    // again only once the request expires (35 s), the queue idle meanwhile.
                    tracing::info!(group = %group.name, lane = lane.token(), "cluster: pull unanswered; pulling again");
                    tokio::select! {
                        () = tokio::time::sleep(PULL_RETRY) => break,
                        () = stop.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Puts pulled entries in the store's queues (one commit) and holds them.
    async fn take_in(&self, carriers: &Carriers, group: &str, entries: Vec<jetstream::Message>) {
        let mut fresh = Vec::new();
        for entry in entries {
            let message: Message = match postcard::from_bytes(&entry.payload) {
                Ok(message) => message,
                Err(e) => {
                    tracing::error!(subject = %entry.subject, error = %e, "cluster: a queue entry cannot be read; dropped");
                    let _ = entry.ack_with(AckKind::Term).await;
                    continue;
                }
            };
            let id = message.id;
            match self.store.stored(id) {
                Ok(None) => fresh.push(message),
                // Pulled again while this node works on it (a new delivery: a new handle).
                Ok(Some(local)) if local.state.is_queued() => {}
                // Sent from here already; its acknowledgement was lost.
                Ok(Some(local)) => {
                    let local = local.into_message();
                    if local.carrier.is_some() {
                        self.index(&local).await;
                    }
                    let _ = entry.double_ack().await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(%id, error = %e, "cluster: cannot read the store");
                    let _ = entry
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                        .await;
                    continue;
                }
            }
            self.held.insert(
                id,
                Held {
                    entry,
                    group: group.to_owned(),
                    pinged: Instant::now(),
                },
            );
        }
        if fresh.is_empty() {
            carriers.notify_queued();
            return;
        }
        let ids: Vec<MessageId> = fresh.iter().map(|m| m.id).collect();
        if let Err(e) = self.store.accept(fresh).await {
            tracing::error!(error = %e, "cluster: cannot take queue entries into the store");
            for id in ids {
                if let Some((_, held)) = self.held.remove(&id) {
                    let _ = held
                        .entry
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                        .await;
                }
            }
            return;
        }
        carriers.notify_queued();
    }

    /// The durable pull consumer of one lane of `group`'s queue.
    async fn consumer(
        &self,
        group: &str,
        lane: Lane,
    ) -> Result<consumer::Consumer<consumer::pull::Config>, String> {
        let stream = format!("{}Q", self.engine.names);
        let stream = self
            .engine
            .jetstream
            .get_stream(&stream)
            .await
            .map_err(|e| format!("stream {stream}: {e}"))?;
        let name = groups::dispatch_consumer(group, lane);
        stream
            .get_or_create_consumer(
                &name,
                consumer::pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: groups::queue_filter(&self.engine.subjects, group, lane),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    max_deliver: -1,
                    max_ack_pending: MAX_ACK_PENDING,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("consumer {name}: {e}"))
    }

    /// Keeps the entries this node works on in its hands: a progress ping for each one not
    /// pinged for a third of `ack_wait`.
    async fn ping(self: Arc<Self>, stop: CancellationToken) {
        let every = self.ack_wait / 3;
        loop {
            tokio::select! {
                () = tokio::time::sleep(every / 2) => {}
                () = stop.cancelled() => return,
            }
            let now = Instant::now();
            let owned = self.owned();
            // Entries of a group no longer owned are not kept: another owner may take them.
            let due: Vec<jetstream::Message> = self
                .held
                .iter_mut()
                .filter(|h| now.duration_since(h.pinged) >= every && owned.contains(&h.group))
                .map(|mut h| {
                    h.pinged = now;
                    h.entry.clone()
                })
                .collect();
            for entry in due {
                let _ = entry.ack_with(AckKind::Progress).await;
            }
        }
    }

    /// Gives the engine back the entries of `group` this node still holds: another owner
    /// takes them at once.
    async fn hand_back(&self, group: &str) {
        let ids: Vec<MessageId> = self
            .held
            .iter()
            .filter(|h| h.group == group)
            .map(|h| *h.key())
            .collect();
        for id in ids {
            if let Some((_, held)) = self.held.remove(&id) {
                let _ = held.entry.ack_with(AckKind::Nak(None)).await;
            }
        }
    }

    /// Removes from the store the copies of `group`'s queued messages.
    async fn forget_queued(&self, group: &Group) {
        for route in &group.routes {
            loop {
                let ids = match self.store.queued(route, 4096) {
                    Ok(ids) => ids,
                    Err(e) => {
                        tracing::error!(%route, error = %e, "cluster: cannot read a queue");
                        break;
                    }
                };
                let ids: Vec<MessageId> = ids
                    .into_iter()
                    .filter(|id| !self.held.contains_key(id))
                    .collect();
                if ids.is_empty() {
                    break;
                }
                match self.store.forget_queued(ids).await {
                    Ok(0) => break,
                    Ok(n) => tracing::debug!(%route, n, "cluster: forgot stale copies"),
                    Err(e) => {
                        tracing::error!(%route, error = %e, "cluster: cannot forget stale copies");
                        break;
                    }
                }
            }
        }
    }

    /// Writes `message`'s carrier id to the engine's index; false if it could not.
    async fn index(&self, message: &Message) -> bool {
        self.put_index(message.id, index_entry(message)).await
    }

    /// Writes message `id`'s carrier-id entry ([`index_entry`]), trying three times; true
    /// if it is written or there is none.
    async fn put_index(&self, id: MessageId, entry: Option<Result<IndexEntry, ()>>) -> bool {
        let (key, value) = match entry {
            Some(Ok(entry)) => entry,
            Some(Err(())) => return false,
            None => return true,
        };
        for attempt in 1..=3 {
            match self.carrier_ids.put(&key, value.clone()).await {
                Ok(_) => return true,
                Err(e) => {
                    tracing::warn!(%id, attempt, error = %e, "cluster: cannot index a carrier id");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        false
    }

    /// Takes `id`'s entry out of the queue, if this node holds it. A plain ack, not one
    /// the server confirms: nothing would be done differently on a confirmation's failure
    /// (an entry whose ack is lost is delivered again, found sent and acknowledged then),
    /// and the confirmation is one more message per message, and a wait.
    async fn done(&self, id: MessageId) {
        if let Some((_, held)) = self.held.remove(&id) {
            if let Err(e) = held.entry.ack().await {
                tracing::debug!(%id, error = %e, "cluster: acknowledgement not sent");
            }
        }
    }

    fn queue_subject(&self, message: &Message) -> String {
        let group = self
            .groups
            .of_route(&message.route)
            .map_or_else(|| format!("route-{}", message.route), |g| g.name.clone());
        groups::queue_subject(
            &self.engine.subjects,
            &group,
            Lane::of(message.class),
            &message.route,
        )
    }
}

/// A carrier-id entry of `SMPPD_CID`: its key and the message encoded.
type IndexEntry = (String, bytes::Bytes);

/// `message`'s carrier-id entry in `SMPPD_CID`: its key and the message encoded; `None` for a
/// message no carrier took, `Err` (logged) if it cannot be encoded.
fn index_entry(message: &Message) -> Option<Result<IndexEntry, ()>> {
    let carrier = message.carrier.as_ref()?;
    let key = carrier_key(&carrier.link, &carrier.carrier_id);
    Some(match postcard::to_allocvec(message) {
        Ok(value) => Ok((key, bytes::Bytes::from(value))),
        Err(e) => {
            tracing::error!(id = %message.id, error = %e, "cluster: cannot encode a message");
            Err(())
        }
    })
}

/// The index key of a carrier id: `<link>.<id>`, the id as it is when it fits a KV key, else
/// `b32-` and its base32.
fn carrier_key(link: &str, carrier_id: &str) -> String {
    let plain = !carrier_id.is_empty()
        && carrier_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=');
    if plain {
        format!("{link}.{carrier_id}")
    } else {
        format!("{link}.b32-{}", groups::subject_token(carrier_id))
    }
}

impl Handoff for Node {
    fn allocate_ids(&self, n: usize) -> Option<MessageId> {
        self.ids.allocate(n).ok()
    }

    fn accept(&self, messages: Vec<Message>) -> BoxFuture<'_, Result<(), HandoffError>> {
        Box::pin(async move {
            let started = Instant::now();
            let mut acks = Vec::with_capacity(messages.len());
            for message in &messages {
                let payload = postcard::to_allocvec(message)
                    .map_err(|e| HandoffError::Failed(e.to_string()))?;
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(
                    async_nats::header::NATS_MESSAGE_ID,
                    message.id.to_string().as_str(),
                );
                let ack = self
                    .engine
                    .jetstream
                    .publish_with_headers(self.queue_subject(message), headers, payload.into())
                    .await
                    .map_err(publish_error)?;
                acks.push(ack);
            }
            for ack in acks {
                tokio::time::timeout(PUBLISH_TIMEOUT, ack)
                    .await
                    .map_err(|_| HandoffError::Failed("no acknowledgement in time".to_owned()))?
                    .map_err(publish_error)?;
            }
            crate::telemetry::engine_published(started.elapsed());
            Ok(())
        })
    }

    fn may_submit(&self, link: &str) -> bool {
        self.link_group
            .get(link)
            .and_then(|group| self.fences.get(group))
            .is_some_and(|fence| fence.is_valid())
    }

    fn dispatched(&self, message: &Message) -> BoxFuture<'_, ()> {
        // Encoded here: the future holds the entry's bytes, not a copy of the message.
        let (id, entry) = (message.id, index_entry(message));
        Box::pin(async move {
            // Unindexed, the entry stays: delivered again, it is found sent and indexed then.
            if self.put_index(id, entry).await {
                self.done(id).await;
            }
        })
    }

    fn ended(&self, message: &Message) -> BoxFuture<'_, ()> {
        Box::pin(self.done(message.id))
    }

    fn consent_changed(&self, events: &[crate::consent::ConsentEvent]) -> BoxFuture<'_, ()> {
        let events = events.to_vec();
        Box::pin(async move { self.consent.publish(&events).await })
    }

    fn relay(&self, client: &str, seq: u64) -> BoxFuture<'_, ()> {
        let client = client.to_owned();
        Box::pin(async move {
            if let Some(relay) = self.relay.get() {
                relay.forward_one(&client, seq).await;
            }
        })
    }

    fn message(&self, id: MessageId) -> BoxFuture<'_, Result<Option<Message>, HandoffError>> {
        Box::pin(async move {
            let subject = format!("{}.msg.get", self.engine.subjects);
            let asked = self
                .connection
                .client
                .request(subject, id.to_string().into());
            match tokio::time::timeout(QUERY_WAIT, asked).await {
                // No live node holds it.
                Err(_) => Ok(None),
                Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => Ok(None),
                Ok(Err(e)) => Err(HandoffError::Failed(e.to_string())),
                Ok(Ok(reply)) => postcard::from_bytes(&reply.payload)
                    .map(Some)
                    .map_err(|e| HandoffError::Failed(format!("message {id}: {e}"))),
            }
        })
    }

    fn carrier_id(
        &self,
        link: &str,
        carrier_id: &str,
    ) -> BoxFuture<'_, Result<Option<Message>, HandoffError>> {
        let key = carrier_key(link, carrier_id);
        Box::pin(async move {
            let value = self
                .carrier_ids
                .get(&key)
                .await
                .map_err(|e| HandoffError::Failed(e.to_string()))?;
            match value {
                None => Ok(None),
                Some(value) => postcard::from_bytes(&value)
                    .map(Some)
                    .map_err(|e| HandoffError::Failed(format!("{key}: {e}"))),
            }
        })
    }
}

/// A refused publish: a full queue (the stream's limit, discard new) or a failure.
fn publish_error(e: impl std::fmt::Display) -> HandoffError {
    let text = e.to_string();
    if text.contains("maximum messages") || text.contains("maximum bytes") {
        HandoffError::Full
    } else {
        HandoffError::Failed(text)
    }
}
