//! Group commit: one thread owns every write to the store.
//!
//! Callers send requests over a bounded channel (a slow disk fills it and so slows them: that
//! is the backpressure). The thread takes the first request, drains whatever else is already
//! waiting up to `max_batch` operations (a batch of deferrable writes only, which nobody waits
//! on, waits up to [`DEFER_LIMIT`] for an urgent one to share the commit), and then:
//!
//! 1. plans every request against the database plus the earlier requests of the batch; a request
//!    that fails (unknown id, final state, refused update) fails alone, with none of its writes;
//! 2. has the engine append the batch to the journal as one entry (a few for a large batch), so
//!    a crash leaves either the whole batch or none of it, and apply it to the in-memory layer
//!    that reads see ([`Writer::journal`], [`Writer::apply`]); the trees get the writes later,
//!    merged, from the engine's checkpoint thread, which this thread hands a layer every few
//!    seconds ([`Writer::maybe_checkpoint`]);
//! 3. makes it durable per [`Durability`] ([`JournalSync`]): `Durable` = `fdatasync` of the
//!    journal segment; `Flush` and `Relaxed` = nothing more (the `write` reached the OS in step 2);
//! 4. only then answers every request of the batch.
//!
//! This file owns what the gateway's writes mean (planning, batching, answering); the engine
//! (`engine/writer.rs`) owns how a batch reaches the disk. The threads stay here because each
//! loop interleaves the two: the commit thread plans, then journals and applies, then remembers
//! the records for readers; the sync thread syncs, then adjusts depths, wakes outboxes and
//! answers.
//!
//! Steps 1-2 and steps 3-4 run on two threads, as a pipeline: while the sync thread fsyncs
//! batch N, the commit thread already applies batch N+1. A sync covers every batch applied
//! before it started, so the sync thread takes all batches waiting for it and answers them after
//! one sync. This keeps the disk busy and nearly doubles durable throughput when applying a batch
//! costs about as much as syncing it.
//!
//! Requests run in arrival order, so a caller's second write sees its first. A failure in steps
//! 2-3 is fatal: after a failed fsync the page cache may have dropped dirty pages (the "fsyncgate"
//! lesson), so nothing written since can be promised; and sled 0.34 itself (written by the
//! engine's checkpoint) keeps the first error of its log writer (ENOSPC on a full disk, say) and
//! fails every later write and flush with it until the database is reopened. The thread answers
//! the batch with the error, refuses everything after it with [`Error::Closed`], stops, and says
//! so through `Store::failed`: the gateway exits (74) to be restarted, and recovery reads what
//! really is on the disk, the journal included. The free-space guard (`space.rs`) keeps a full
//! disk from getting this far.
//!
//! A clean close (`Store::close`) commits and syncs what came before it, then hands the active
//! layer to the checkpoint thread and waits for it: the journal is empty when the thread ends,
//! and the next open replays nothing.

pub(super) mod expiry;
mod taps;

use super::client_refs;
use super::engine::{
    self, JournalSync, Segment, Tree, Wal, Write, Writer, CONSENT_LOG, SUPPRESSIONS,
};
use super::lanes::{self, LaneChange};
use super::layout::{self, Record};
use super::recent::CarrierKey;
use super::stats::{self, Tally};
use super::tap::Endpoint;
use super::{Error, Shared};
use crate::config::Durability;
use crate::consent::{Choice, ConsentEvent};
use crate::hook_event::DeadHook;
use crate::message::{Event, Message, MessageId, OutboxItem, UpdateRefused};
use std::collections::{HashMap, HashSet};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// A store update applied on the commit thread; see `Store::update`.
pub(super) type UpdateFn = Box<dyn FnOnce(&mut Message) -> Result<(), UpdateRefused> + Send>;

/// What an update adds to its message's client outbox, given the message as updated; see
/// `Store::update_and_push_outbox`.
pub(super) type PushFn = Box<dyn FnOnce(&Message) -> Option<OutboxItem> + Send>;

/// One write, as callers hand it to the commit thread.
pub(super) enum Op {
    /// New messages, each with its queue entry if its state is queued, and the `idempotency`
    /// entry (key, value) of the HTTP answer that announces them, if any.
    Accept(Vec<Message>, Option<(Vec<u8>, Vec<u8>)>),
    /// Read-modify-write of one message; the store keeps queue and carrier ids in step.
    Update {
        /// The message.
        id: MessageId,
        /// The change.
        f: UpdateFn,
    },
    /// An update and, in the same commit, the outbox entry it calls for (a receipt): one
    /// request, one share of a transaction, and no crash window between the two.
    UpdateAndPush {
        /// The message.
        id: MessageId,
        /// The change.
        f: UpdateFn,
        /// The entry for `message.client`, if any, from the updated message.
        push: PushFn,
    },
    /// An update and, in the same commit, an index entry written only with it: a carrier's
    /// acceptance of a marketing message from a shared short code, and the code's
    /// `last_marketing` entry for the number (no request, no commit of its own).
    UpdateAndMark {
        /// The message.
        id: MessageId,
        /// The change.
        f: UpdateFn,
        /// The `last_marketing` key and value.
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// A new outbox entry; the reply carries its seq.
    PushOutbox {
        /// Receiving client.
        client: String,
        /// The entry.
        item: OutboxItem,
        /// False for a client that cannot bind to receive: the entry is shown to the tap (its
        /// webhooks) and not kept; the seq is 0.
        kept: bool,
    },
    /// Removes finished messages whose last change is before `before` (unix ms), with their
    /// carrier id mappings; a message not final or changed since is kept. Replies the count.
    Purge {
        /// Candidates.
        ids: Vec<MessageId>,
        /// Retention cutoff.
        before: i64,
    },
    /// Removes messages still queued, with their queue entries, telling nobody: cluster mode's
    /// working copies of messages the engine holds (and may give another node). A message
    /// that has left its queue is kept. Replies the count.
    Forget {
        /// Candidates.
        ids: Vec<MessageId>,
    },
    /// Removes `idempotency` entries whose answer was given before `before` (unix ms); one
    /// written again since it was read is kept (`idempotency.rs`). Replies the count.
    ExpireIdempotency {
        /// The entries' keys.
        keys: Vec<Vec<u8>>,
        /// The window's start.
        before: i64,
    },
    /// Consent changes: each number's suppression entry and a consent log entry, and the
    /// outbox entry of the MO that asked for them, if any. Replies the events with the choices
    /// they replaced, and the outbox entry's seq.
    Consent(Box<ConsentWrite>),
    /// Webhook queue changes (`hooks.rs`).
    Hooks(HookWrite),
    /// Removes outbox entries (idempotent): every entry a delivery round got answered.
    AckOutbox {
        /// Receiving client.
        client: String,
        /// Their seqs.
        seqs: Vec<u64>,
    },
}

/// What the webhook delivery and the operator change in the webhook queues.
pub(super) enum HookWrite {
    /// Removes entries their endpoint took (idempotent).
    Ack { endpoint: Endpoint, seqs: Vec<u64> },
    /// Moves entries to the dead letters; replies how many were still queued.
    Bury {
        endpoint: Endpoint,
        dead: Vec<(u64, DeadHook)>,
    },
    /// Moves dead letters back to the end of the queue; replies how many were dead.
    Replay { endpoint: Endpoint, seqs: Vec<u64> },
}

/// The parts of [`Op::Consent`] (boxed: every request is as large as the largest op).
pub(super) struct ConsentWrite {
    /// The changes, one per list (a reply to a shared short code may change several), each
    /// list once.
    pub(super) events: Vec<ConsentEvent>,
    /// The receiving client of the MO that asked for them, the MO's entry, and whether it is
    /// kept (see [`Op::PushOutbox`]).
    pub(super) push: Option<(String, OutboxItem, bool)>,
    /// The message confirming an opt-out to the number, if one is due.
    pub(super) confirmation: Option<Confirmation>,
    /// A change another node of a cluster made and told already (its webhooks sent there):
    /// written here without telling the tap.
    pub(super) replicated: bool,
}

/// A confirmation of an opt-out, sent unless the number got one in the last `interval` ms.
pub struct Confirmation {
    /// The message, queued on its route, with its id.
    pub message: Message,
    /// At most one per this many milliseconds, per number and scope.
    pub interval: i64,
}

impl Op {
    /// Weight against `max_batch`: messages for an accept, one for the rest.
    fn weight(&self) -> usize {
        match self {
            Self::Accept(messages, _) => messages.len().max(1),
            Self::AckOutbox { seqs, .. } => seqs.len().max(1),
            Self::Hooks(HookWrite::Ack { seqs, .. } | HookWrite::Replay { seqs, .. }) => {
                seqs.len().max(1)
            }
            Self::Hooks(HookWrite::Bury { dead, .. }) => dead.len().max(1),
            Self::Purge { ids, .. } | Self::Forget { ids } => ids.len().max(1),
            Self::ExpireIdempotency { keys, .. } => keys.len().max(1),
            Self::UpdateAndPush { .. } | Self::UpdateAndMark { .. } => 2,
            Self::Consent(write) => (write.events.len() + usize::from(write.push.is_some())).max(1),
            _ => 1,
        }
    }
}

/// What a successful write answers.
#[derive(Debug)]
pub(super) enum Reply {
    /// Done, nothing to return.
    Done,
    /// The record as written (shared with the recent-records cache: whoever wants the message
    /// copies it, off this thread).
    Message(Arc<Record>),
    /// The sequence number given to a new outbox entry.
    Seq(u64),
    /// How many entries the write removed.
    Count(usize),
    /// The record as written, and the seq of the outbox entry pushed with it, if any.
    Pushed(Arc<Record>, Option<u64>),
    /// The consent changes as written, the seq of the outbox entry pushed with them, and the
    /// id of the confirmation accepted with them.
    Consent(Vec<ConsentEvent>, Option<u64>, Option<MessageId>),
}

/// How callers reach the commit thread.
pub(super) enum Request {
    /// A write and where its result goes.
    Write {
        /// The write.
        op: Op,
        /// Answered after the batch is durable.
        reply: oneshot::Sender<Result<Reply, Error>>,
        /// Whether it must be committed at once or may wait to share a commit.
        urgency: Urgency,
    },
    /// Commit what came before, sync, stop; answered once synced.
    Close {
        /// Answered once the last batch is durable.
        reply: oneshot::Sender<()>,
        /// Then move the journal into the trees before the thread ends (a clean stop); false
        /// leaves it to the next open's replay, as a crash would.
        checkpoint: bool,
    },
}

/// How soon a write must be committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Urgency {
    /// Somebody waits on it to answer a peer (a submit_sm_resp, a deliver_sm_resp): committed
    /// with whatever is already waiting.
    Now,
    /// Nobody outside waits on it, and a crash before it commits costs a duplicate, not a
    /// loss (a carrier's acceptance: the message is sent again; a client's deliver_sm_resp:
    /// the item is delivered again). It waits up to [`DEFER_LIMIT`] for an urgent write to
    /// share its commit and fsync with.
    Deferrable,
}

/// How long a deferrable write waits for an urgent one before it is committed on its own.
/// Under load urgent writes come far more often, and the deferrable ones ride along: a carrier
/// link with a small window answered its submits a few at a time, and each handful cost a
/// commit and an fsync of its own (e2e bench, 1 session x window 10: half the commits and a
/// third of the fsyncs gone; BENCHMARKS.md).
pub(super) const DEFER_LIMIT: Duration = Duration::from_millis(2);

/// Requests taken off the channel and not committed yet.
#[derive(Default)]
struct Batch {
    writes: Vec<(Op, oneshot::Sender<Result<Reply, Error>>)>,
    weight: usize,
    /// Whether a write in it must go now.
    urgent: bool,
    /// When its oldest write was taken: deferrable ones wait from then.
    since: Option<Instant>,
}

impl Batch {
    fn push(&mut self, op: Op, reply: oneshot::Sender<Result<Reply, Error>>, urgency: Urgency) {
        self.weight += op.weight();
        self.urgent |= urgency == Urgency::Now;
        self.since.get_or_insert_with(Instant::now);
        self.writes.push((op, reply));
    }

    /// When it must be committed, urgent or not.
    fn due(&self) -> Option<Instant> {
        self.since.map(|since| since + DEFER_LIMIT)
    }

    /// Refuses every write in it: the thread has stopped.
    fn refuse(self) {
        for (_, reply) in self.writes {
            let _ = reply.send(Err(Error::Closed));
        }
    }
}

/// What the commit thread waits for next.
enum Next {
    Request(Request),
    /// The deferrable writes held have waited long enough.
    Due,
    /// Every Store handle is gone.
    Closed,
}

/// The commit thread's state. Runs until the channel closes or a close request arrives.
pub(super) struct Committer {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Request>,
    max_batch: usize,
    /// Next queue/outbox seq to hand out; only this thread allocates them.
    next_seq: u64,
    /// `meta/next_id` and `meta/next_seq` as last committed: written again only when exceeded.
    stored_next_id: u64,
    stored_next_seq: u64,
    /// No record has an id at or above this: a new message's id is checked against the disk
    /// only below it.
    unused_from: u64,
    /// Applied batches go here to be synced and answered.
    to_sync: std_mpsc::SyncSender<ToSync>,
    sync_thread: Option<JoinHandle<()>>,
    /// Set by the sync or checkpoint thread when a sync failed: nothing more may be applied.
    failed: Arc<AtomicBool>,
    /// The engine's write path: the journal, the active layer, the checkpoint thread.
    writer: Writer,
    /// Times the wait for more requests while deferrable writes are held.
    timer: tokio::runtime::Runtime,
}

/// Where a request's result goes, and the result it will get once its batch is synced.
type Answer = (oneshot::Sender<Result<Reply, Error>>, Result<Reply, Error>);

/// An applied batch, waiting for its sync.
struct Applied {
    answers: Vec<Answer>,
    /// The journal segment the batch went to, if it wrote anything: synced before answering.
    segment: Option<Segment>,
    queue_delta: HashMap<String, LaneChange>,
    outbox_delta: HashMap<String, i64>,
    hook_delta: HashMap<Endpoint, i64>,
    requests: usize,
    ops: u64,
    started: Instant,
}

enum ToSync {
    Batch(Applied),
    /// Sync for real whatever the mode, then answer and stop.
    Close(Option<oneshot::Sender<()>>),
}

impl Committer {
    /// Takes over the freshly opened store and makes everything in it durable before the first
    /// request (the store directory may have just been created).
    pub(super) fn new(
        shared: Arc<Shared>,
        rx: mpsc::Receiver<Request>,
        durability: Durability,
        max_batch: usize,
        next_seq: u64,
        stored: (u64, u64),
        journal: Wal,
    ) -> Result<Self, Error> {
        let failed = Arc::new(AtomicBool::new(false));
        // Durable first (the store may have just been created), then the checkpoint thread.
        let watched = Arc::clone(&shared);
        let on_failure = move |e: &engine::Error| watched.fail("checkpoint failed", e);
        let writer =
            (shared.engine).start_writer(journal, durability, failed.clone(), on_failure)?;
        // Two applied batches may wait: enough to overlap, few enough to bound memory.
        let (to_sync, from_commit) = std_mpsc::sync_channel(2);
        let syncer = Syncer {
            shared: shared.clone(),
            durability,
            journal: JournalSync::default(),
            failed: failed.clone(),
        };
        let sync_thread = std::thread::Builder::new()
            .name("smppd-store-sync".to_owned())
            .spawn(move || syncer.run(&from_commit))
            .map_err(Error::Io)?;
        let timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(Error::Io)?;
        // Nothing is allocated yet: the counter is one past the highest id on disk.
        let unused_from = shared.next_id.load(Ordering::Relaxed);
        Ok(Self {
            shared,
            rx,
            max_batch,
            next_seq,
            unused_from,
            stored_next_id: stored.0,
            stored_next_seq: stored.1,
            to_sync,
            sync_thread: Some(sync_thread),
            failed,
            writer,
            timer,
        })
    }

    /// The thread's body.
    pub(super) fn run(mut self) {
        let mut closing = None;
        // Also when every Store handle is gone: nothing writes any more.
        let mut checkpoint = true;
        let mut batch = Batch::default();
        while closing.is_none() {
            let due = (!batch.urgent).then(|| batch.due()).flatten();
            let (first, waited) = match self.next(due) {
                Next::Request(request) => (Some(request), false),
                Next::Due => (None, true),
                Next::Closed => break,
            };
            if self.failed.load(Ordering::Acquire) {
                drop(first);
                batch.refuse();
                self.refuse_rest();
                self.stop();
                return;
            }
            let mut next = first;
            while let Some(request) = next.take() {
                match request {
                    Request::Write { op, reply, urgency } => batch.push(op, reply, urgency),
                    Request::Close {
                        reply,
                        checkpoint: then,
                    } => {
                        closing = Some(reply);
                        checkpoint = then;
                        break;
                    }
                }
                if batch.weight < self.max_batch {
                    next = self.rx.try_recv().ok();
                }
            }
            let go = batch.urgent
                || waited
                || batch.weight >= self.max_batch
                || closing.is_some()
                || batch.due().is_some_and(|due| due <= Instant::now());
            if !go || batch.writes.is_empty() {
                continue; // Deferrable writes wait for company.
            }
            if !self.commit(std::mem::take(&mut batch).writes) {
                self.refuse_rest();
                self.stop();
                return;
            }
        }
        if !batch.writes.is_empty() && !self.commit(std::mem::take(&mut batch).writes) {
            self.refuse_rest();
            self.stop();
            return;
        }
        // The sync thread makes the last batches durable, syncs once more for real whatever
        // the mode (a clean stop loses nothing even in Relaxed mode), then answers the closer.
        self.refuse_rest();
        self.stop_syncer(closing);
        // A clean stop leaves nothing to replay: the next open is quick, and a replay then
        // means that the process did not stop cleanly. `Store::close` waits for this thread.
        if checkpoint {
            self.writer.checkpoint_rest();
        }
        self.writer.stop_checkpointer();
        let clean =
            checkpoint && !self.failed.load(Ordering::Acquire) && self.writer.nothing_to_replay();
        if clean {
            tracing::info!("store: closed with everything in the trees; nothing to replay");
        }
    }

    /// The next request, waiting at most until `due` when that is set.
    fn next(&mut self, due: Option<Instant>) -> Next {
        let Some(due) = due else {
            return self.rx.blocking_recv().map_or(Next::Closed, Next::Request);
        };
        let rx = &mut self.rx;
        // The timer is made inside: it needs the runtime's context.
        let wait = async { tokio::time::timeout_at(due.into(), rx.recv()).await };
        match self.timer.block_on(wait) {
            Ok(Some(request)) => Next::Request(request),
            Ok(None) => Next::Closed,
            Err(_) => Next::Due,
        }
    }

    /// After a failure, when nothing more may be written: stops the sync thread once it has
    /// synced what it can, then the checkpoint thread once it has written the layer it has, if
    /// any (the active layer stays in the journal for the next open).
    fn stop(&mut self) {
        self.stop_syncer(None);
        self.writer.stop_checkpointer();
    }

    /// Stops the sync thread after its last sync; it answers `closer` then.
    fn stop_syncer(&mut self, closer: Option<oneshot::Sender<()>>) {
        if let Err(std_mpsc::SendError(ToSync::Close(Some(reply)))) =
            self.to_sync.send(ToSync::Close(closer))
        {
            // The sync thread is gone already; the closer waits for nothing more.
            let _ = reply.send(());
        }
        if let Some(thread) = self.sync_thread.take() {
            if thread.join().is_err() {
                tracing::error!("store: the sync thread panicked");
            }
        }
    }

    /// Plans, applies, syncs and answers one batch. False after a fatal failure.
    fn commit(&mut self, batch: Vec<(Op, oneshot::Sender<Result<Reply, Error>>)>) -> bool {
        let started = Instant::now();
        let requests = batch.len();
        let mut plan = Plan::default();
        let mut answers = Vec::with_capacity(requests);
        let mut ops = 0u64;
        for (op, reply) in batch {
            ops += op.weight() as u64;
            let result = self.plan(&plan, op).map(|(changes, answer)| {
                plan.effects.absorb(changes);
                answer
            });
            answers.push((reply, result));
        }
        self.plan_stats(&mut plan);
        self.plan_meta(&mut plan);

        let applied = self.apply(&mut plan);
        let segment = match applied {
            Ok(segment) => segment,
            Err(e) => {
                self.shared.recent().clear();
                for (reply, result) in answers {
                    // Requests that failed on their own keep their own error.
                    let _ = reply.send(result.and(Err(e.replicate())));
                }
                // After the answers: the gateway stops on it, and its clients should have them.
                self.shared.fail("commit failed", &e);
                return false;
            }
        };
        self.remember(&mut plan);
        if !self.writer.maybe_checkpoint() {
            for (reply, _) in answers {
                let _ = reply.send(Err(Error::Closed));
            }
            return false;
        }
        let applied = Applied {
            answers,
            segment,
            queue_delta: plan.effects.queue_delta,
            outbox_delta: plan.effects.outbox_delta,
            hook_delta: plan.effects.hook_delta,
            requests,
            ops,
            started,
        };
        if let Err(std_mpsc::SendError(ToSync::Batch(applied))) =
            self.to_sync.send(ToSync::Batch(applied))
        {
            for (reply, _) in applied.answers {
                let _ = reply.send(Err(Error::Closed));
            }
            return false;
        }
        true
    }

    /// Plans one request against the database and what the batch already holds.
    fn plan(&mut self, batch: &Plan, op: Op) -> Result<(Changes, Reply), Error> {
        let mut changes = Changes::default();
        let reply = match op {
            Op::Accept(messages, idempotency) => {
                let client_refs = client_refs::entries(&messages)?;
                for message in messages {
                    self.accept(batch, &mut changes, message)?;
                }
                for (key, value) in client_refs {
                    changes.write(Tree::ClientRefs, key, Some(value));
                }
                if let Some((key, value)) = idempotency {
                    changes.write(Tree::Idempotency, key, Some(value));
                }
                Reply::Done
            }
            Op::Update { id, f } => {
                let old = self
                    .record(batch, &changes, id, Purpose::Update)?
                    .ok_or(Error::NotFound(id))?;
                Reply::Message(self.plan_update(batch, &mut changes, old, f)?)
            }
            Op::UpdateAndPush { id, f, push } => {
                let old = self
                    .record(batch, &changes, id, Purpose::Update)?
                    .ok_or(Error::NotFound(id))?;
                let record = self.plan_update(batch, &mut changes, old, f)?;
                // Caller's code on the commit thread, like the update closure.
                let item = panic::catch_unwind(AssertUnwindSafe(|| push(&record.message)))
                    .map_err(|_| Error::UpdatePanicked(id))?;
                let client = &record.message.client;
                let seq = match item {
                    Some(item) => Some(self.push_outbox(&mut changes, client, &item)?),
                    None => None,
                };
                Reply::Pushed(record, seq)
            }
            Op::UpdateAndMark { id, f, key, value } => {
                let old = self
                    .record(batch, &changes, id, Purpose::Update)?
                    .ok_or(Error::NotFound(id))?;
                let record = self.plan_update(batch, &mut changes, old, f)?;
                changes.write(Tree::LastMarketing, key, Some(value));
                Reply::Message(record)
            }
            Op::PushOutbox { client, item, kept } => {
                Reply::Seq(self.deliver(&mut changes, &client, &item, kept)?)
            }
            Op::Purge { ids, before } => {
                let mut purged = 0;
                for id in ids {
                    let Some(record) = self.record(batch, &changes, id, Purpose::Read)? else {
                        continue;
                    };
                    let message = &record.message;
                    let last_change = message.history.last().map_or(message.received_at, |e| e.at);
                    if !message.state.is_final() || last_change >= before {
                        continue;
                    }
                    if let Some(carrier) = &message.carrier {
                        let key = layout::carrier_key(&carrier.link, &carrier.carrier_id)?;
                        changes.write(Tree::CarrierIds, key.clone(), None);
                        changes.purged_carrier_keys.push(key);
                    }
                    self.remove_message(batch, &mut changes, message)?;
                    purged += 1;
                }
                Reply::Count(purged)
            }
            Op::Forget { ids } => {
                let mut forgotten = 0;
                for id in ids {
                    let Some(record) = self.record(batch, &changes, id, Purpose::Read)? else {
                        continue;
                    };
                    let message = &record.message;
                    if !message.state.is_queued() {
                        continue;
                    }
                    if let Some(seq) = record.queue_seq {
                        let route = message.route.clone();
                        changes.write(Tree::Queue, layout::seq_key(&route, seq)?, None);
                        changes.queue_delta.entry(route).or_default().removed(seq);
                    }
                    self.remove_message(batch, &mut changes, message)?;
                    forgotten += 1;
                }
                Reply::Count(forgotten)
            }
            Op::ExpireIdempotency { keys, before } => {
                let mut removed = 0;
                for key in keys {
                    let pending = batch.effects.writes.iter().chain(&changes.writes);
                    if expiry::expired(&self.shared.engine, pending, &key, before)? {
                        changes.write(Tree::Idempotency, key, None);
                        removed += 1;
                    }
                }
                Reply::Count(removed)
            }
            Op::Consent(write) => {
                let ConsentWrite {
                    events,
                    push,
                    confirmation,
                    replicated,
                } = *write;
                let (events, confirmed) =
                    self.consent(batch, &mut changes, events, confirmation)?;
                if !replicated {
                    self.tap_consent(&mut changes, &events)?;
                }
                let seq = match push {
                    Some((client, item, kept)) => {
                        Some(self.deliver(&mut changes, &client, &item, kept)?)
                    }
                    None => None,
                };
                Reply::Consent(events, seq, confirmed)
            }
            Op::Hooks(write) => self.plan_hooks(batch, &mut changes, write)?,
            Op::AckOutbox { client, seqs } => {
                let mut removed = 0;
                for seq in seqs {
                    let key = layout::seq_key(&client, seq)?;
                    let present = match changes
                        .outbox_present
                        .get(&key)
                        .or_else(|| batch.effects.outbox_present.get(&key))
                    {
                        Some(&present) => present,
                        None => self.shared.engine.get(Tree::Outbox, &key)?.is_some(),
                    };
                    if present {
                        changes.outbox_present.insert(key.clone(), false);
                        changes.write(Tree::Outbox, key, None);
                        removed += 1;
                    }
                }
                if removed > 0 {
                    *changes.outbox_delta.entry(client).or_default() -= removed;
                }
                Reply::Done
            }
        };
        Ok((changes, reply))
    }

    /// The update rules: final states never change, the id never changes, a state change gets a
    /// history event, the queue entry follows the state and route, a new carrier id is mapped.
    fn plan_update(
        &mut self,
        batch: &Plan,
        changes: &mut Changes,
        old: Record,
        f: UpdateFn,
    ) -> Result<Arc<Record>, Error> {
        let id = old.message.id;
        let before = old.message.state;
        if before.is_final() {
            return Err(Error::Final { id, state: before });
        }
        let Record {
            queue_seq: old_queue_seq,
            mut message,
        } = old;
        let counted = stats::Before::of(&message);
        let (old_route, old_carrier, old_history_len) = (
            message.route.clone(),
            message.carrier.clone(),
            message.history.len(),
        );
        // The closure is the caller's code running on the thread every writer depends on: a panic
        // in it fails that request, not the store.
        panic::catch_unwind(AssertUnwindSafe(|| f(&mut message)))
            .map_err(|_| Error::UpdatePanicked(id))?
            .map_err(Error::Refused)?;
        message.id = id; // The key is the id; a record under a key must carry it.
        if message.state != before {
            if !before.can_become(message.state) {
                return Err(Error::Refused(UpdateRefused::Final(before)));
            }
            if message.history.len() <= old_history_len {
                message.history.push(Event {
                    at: crate::message::now_ms(),
                    state: message.state,
                    detail: String::new(),
                });
            }
        }

        let mut queue_seq = old_queue_seq;
        if let Some(seq) = old_queue_seq {
            if !message.state.is_queued() || message.route != old_route {
                changes.write(Tree::Queue, layout::seq_key(&old_route, seq)?, None);
                changes
                    .queue_delta
                    .entry(old_route)
                    .or_default()
                    .removed(seq);
                queue_seq = None;
            }
        }
        if queue_seq.is_none() && message.state.is_queued() {
            queue_seq = Some(self.enqueue(changes, &message, id)?);
        }

        if message.carrier != old_carrier {
            if let Some(carrier) = &message.carrier {
                let key = layout::carrier_key(&carrier.link, &carrier.carrier_id)?;
                changes.carrier_ids.push((CarrierKey::from_slice(&key), id));
                changes.write(Tree::CarrierIds, key, Some(layout::encode_id(id)));
            }
        }
        changes
            .stats
            .updated(&counted, &message, |m| self.cost(m))?;
        let changed = message.state != before;
        let record = changes.put_record(Record { queue_seq, message }, false)?;
        if changed {
            self.tap_message(batch, changes, Some(before), &record.message)?;
        }
        Ok(record)
    }

    /// Removes `message`'s record, and its client reference if no newer message took it over
    /// (its carrier id and queue entry are the caller's).
    fn remove_message(
        &self,
        batch: &Plan,
        changes: &mut Changes,
        message: &Message,
    ) -> Result<(), Error> {
        let id = message.id;
        let pending = batch.effects.writes.iter().chain(&changes.writes);
        if let Some(key) = client_refs::purged(&self.shared.engine, pending, message)? {
            changes.write(Tree::ClientRefs, key, None);
        }
        changes.write(Tree::Messages, layout::id_key(id).to_vec(), None);
        changes.records.remove(&id);
        changes.purged.insert(id);
        Ok(())
    }

    /// An MO for `client`: kept in its outbox (its seq), or, for a client that cannot bind to
    /// receive, only shown to the tap (0).
    fn deliver(
        &mut self,
        changes: &mut Changes,
        client: &str,
        item: &OutboxItem,
        kept: bool,
    ) -> Result<u64, Error> {
        if kept {
            return self.push_outbox(changes, client, item);
        }
        self.tap_pushed(changes, client, item)?;
        Ok(0)
    }

    /// Adds an entry at the back of `client`'s outbox; returns its seq.
    fn push_outbox(
        &mut self,
        changes: &mut Changes,
        client: &str,
        item: &OutboxItem,
    ) -> Result<u64, Error> {
        let seq = self.allocate_seq();
        let key = layout::seq_key(client, seq)?;
        let value = layout::encode_outbox(&key, item)?;
        changes.outbox_present.insert(key.clone(), true);
        changes.write_new(Tree::Outbox, key, value);
        *changes.outbox_delta.entry(client.to_owned()).or_default() += 1;
        self.tap_pushed(changes, client, item)?;
        Ok(seq)
    }

    /// A new message: its record and, if queued, its queue entry.
    fn accept(
        &mut self,
        batch: &Plan,
        changes: &mut Changes,
        message: Message,
    ) -> Result<(), Error> {
        let id = message.id;
        if self.exists(batch, changes, id)? {
            return Err(Error::Duplicate(id));
        }
        let queue_seq = if message.state.is_queued() {
            Some(self.enqueue(changes, &message, id)?)
        } else {
            None
        };
        changes.max_id = changes.max_id.max(Some(id.as_u64()));
        changes.stats.accepted(&message, |m| self.cost(m))?;
        let record = changes.put_record(Record { queue_seq, message }, true)?;
        self.tap_message(batch, changes, None, &record.message)?;
        Ok(())
    }

    /// Writes each consent change over its number's entry, with the choice it replaces, and
    /// appends it to the consent log. An opt-out with a `confirmation` accepts that message
    /// too, unless the number was sent one within its interval in any of the lists changed
    /// (one confirmation at most per number and list). Returns the changes as written and the
    /// confirmation's id if it was accepted.
    fn consent(
        &mut self,
        batch: &Plan,
        changes: &mut Changes,
        mut events: Vec<ConsentEvent>,
        confirmation: Option<Confirmation>,
    ) -> Result<(Vec<ConsentEvent>, Option<MessageId>), Error> {
        let mut keys = Vec::with_capacity(events.len());
        for event in &mut events {
            let key = layout::suppression_key(&event.scope, &event.number)?;
            let in_batch = changes
                .consents
                .get(&key)
                .or_else(|| batch.effects.consents.get(&key))
                .cloned();
            let previous = match in_batch {
                Some(earlier) => Some(earlier),
                None => match self.shared.engine.get(Tree::Suppressions, &key)? {
                    Some(value) => Some(layout::decode_consent(SUPPRESSIONS, &key, &value)?),
                    None => None,
                },
            };
            event.previous = previous.as_ref().map(|p| p.choice);
            event.confirmed_at = previous.and_then(|p| p.confirmed_at);
            keys.push(key);
        }
        let mut confirmed = None;
        if let Some(Confirmation { message, interval }) = confirmation {
            let at = message.received_at;
            let due = |event: &ConsentEvent| {
                event.choice == Choice::OptedOut
                    && event
                        .confirmed_at
                        .is_none_or(|last| at.saturating_sub(last) >= interval)
            };
            if !events.is_empty() && events.iter().all(due) {
                confirmed = Some(message.id);
                self.accept(batch, changes, message)?;
                for event in &mut events {
                    event.confirmed_at = Some(at);
                }
            }
        }
        for (key, event) in keys.into_iter().zip(&events) {
            let value = layout::encode_consent(SUPPRESSIONS, &key, event)?;
            changes.write(Tree::Suppressions, key.clone(), Some(value));
            let log_key = self.allocate_seq().to_be_bytes().to_vec();
            let logged = layout::encode_consent(CONSENT_LOG, &log_key, event)?;
            changes.write_new(Tree::ConsentLog, log_key, logged);
            changes.consents.insert(key, event.clone());
        }
        Ok((events, confirmed))
    }

    /// Adds a queue entry for `id` at the back of its route's lane for its class; returns
    /// the entry's position.
    fn enqueue(
        &mut self,
        changes: &mut Changes,
        message: &Message,
        id: MessageId,
    ) -> Result<u64, Error> {
        let position = lanes::position(message.class, self.allocate_seq());
        changes.write_new(
            Tree::Queue,
            layout::seq_key(&message.route, position)?,
            layout::encode_id(id),
        );
        let route = changes
            .queue_delta
            .entry(message.route.clone())
            .or_default();
        route.added(position);
        Ok(position)
    }

    fn allocate_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Whether `id` has a record. Ids from `Store::allocate_id` are new: at or above
    /// `unused_from` only this batch can have them, and the disk is not asked.
    fn exists(&self, batch: &Plan, changes: &Changes, id: MessageId) -> Result<bool, Error> {
        if id.as_u64() >= self.unused_from {
            return Ok(changes.records.contains_key(&id) || batch.effects.records.contains_key(&id));
        }
        Ok(self.record(batch, changes, id, Purpose::Read)?.is_some())
    }

    /// The current record of `id`: this request's changes, then the batch's, then the disk.
    fn record(
        &self,
        batch: &Plan,
        changes: &Changes,
        id: MessageId,
        purpose: Purpose,
    ) -> Result<Option<Record>, Error> {
        if changes.purged.contains(&id) || batch.effects.purged.contains(&id) {
            return Ok(None);
        }
        if let Some(record) = changes
            .records
            .get(&id)
            .or_else(|| batch.effects.records.get(&id))
        {
            return Ok(Some(Record::clone(record)));
        }
        let recent = match purpose {
            Purpose::Read => self.shared.recent().record(id),
            Purpose::Update => self.shared.recent().take(id),
        };
        if let Some(record) = recent {
            return Ok(Some(
                Arc::try_unwrap(record).unwrap_or_else(|r| Record::clone(&r)),
            ));
        }
        let key = layout::id_key(id);
        match self.shared.engine.get(Tree::Messages, &key)? {
            Some(value) => layout::decode_record(&key, &value).map(Some),
            None => Ok(None),
        }
    }

    /// What `message` costs at the prices in force (micro-units), for the campaign counters.
    fn cost(&self, message: &Message) -> u64 {
        self.shared
            .prices
            .as_ref()
            .map_or(0, |prices| stats::cost_micro(&prices(), message))
    }

    /// Writes each campaign stats row the batch counted in, read-modify-write: one read and
    /// one write per row touched, whatever the number of requests that counted in it.
    fn plan_stats(&self, plan: &mut Plan) {
        for (key, delta) in std::mem::take(&mut plan.effects.stats).into_rows() {
            let row = delta.applied_to(stats::row_for_update(&self.shared.engine, &key));
            let value = layout::encode_stats(&row);
            plan.effects.write(Tree::CampaignStats, key, Some(value));
        }
    }

    /// Writes the id and seq high-water marks in the same transaction as the records using
    /// them, so an acknowledged id or seq is never handed out again after a crash.
    fn plan_meta(&mut self, plan: &mut Plan) {
        if let Some(max_id) = plan.effects.max_id {
            let next_id = max_id.saturating_add(1);
            self.unused_from = self.unused_from.max(next_id);
            // Ids given by allocate_id are below the counter already; this keeps it above ids a
            // caller made up, too.
            self.shared.next_id.fetch_max(next_id, Ordering::Relaxed);
            if next_id > self.stored_next_id {
                plan.effects.write(
                    Tree::Meta,
                    layout::META_NEXT_ID.to_vec(),
                    Some(layout::encode_u64(next_id)),
                );
                plan.next_id = Some(next_id);
            }
        }
        if self.next_seq > self.stored_next_seq {
            plan.effects.write(
                Tree::Meta,
                layout::META_NEXT_SEQ.to_vec(),
                Some(layout::encode_u64(self.next_seq)),
            );
            plan.next_seq = Some(self.next_seq);
        }
    }

    /// Writes the batch to the journal and into the active layer; returns the journal segment
    /// to sync, if anything was written.
    fn apply(&mut self, plan: &mut Plan) -> Result<Option<Segment>, Error> {
        if plan.effects.writes.is_empty() {
            return Ok(None);
        }
        let journaled = self.writer.journal(&plan.effects.writes)?;
        // Twice: the journal now, the trees at the checkpoint.
        let bytes = journaled.bytes().saturating_mul(2);
        self.shared
            .space
            .wrote(u64::try_from(bytes).unwrap_or(u64::MAX));
        let writes = std::mem::take(&mut plan.effects.writes);
        let segment = self.writer.apply(writes, journaled);
        if let Some(next_id) = plan.next_id {
            self.stored_next_id = next_id;
        }
        if let Some(next_seq) = plan.next_seq {
            self.stored_next_seq = next_seq;
        }
        Ok(Some(segment))
    }

    /// Remembers a committed batch's records and carrier ids for the reads that follow.
    fn remember(&self, plan: &mut Plan) {
        let effects = &mut plan.effects;
        let records = std::mem::take(&mut effects.records);
        let carrier_ids = std::mem::take(&mut effects.carrier_ids);
        let mut recent = self.shared.recent();
        recent.forget(&effects.purged, &effects.purged_carrier_keys);
        recent.extend(records, carrier_ids);
    }

    /// After a fatal failure or a close: nobody may wait forever on a request this thread will
    /// never commit.
    fn refuse_rest(&mut self) {
        self.rx.close();
        while let Ok(request) = self.rx.try_recv() {
            match request {
                // The caller may be gone already; then nobody waits for the refusal.
                Request::Write { reply, .. } => drop(reply.send(Err(Error::Closed))),
                Request::Close { reply, .. } => drop(reply.send(())),
            }
        }
    }
}

/// The second stage: syncs applied batches per [`Durability`] and answers them.
struct Syncer {
    shared: Arc<Shared>,
    durability: Durability,
    /// The engine's side of the sync: the segments to sync, and the newest one for the final
    /// sync at a close.
    journal: JournalSync,
    failed: Arc<AtomicBool>,
}

impl Syncer {
    fn run(mut self, from_commit: &std_mpsc::Receiver<ToSync>) {
        let mut closer = None;
        let mut closing = false;
        while !closing {
            let Ok(first) = from_commit.recv() else {
                break; // The commit thread is gone.
            };
            // Every batch already applied is covered by one sync.
            let mut batches = Vec::new();
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    ToSync::Batch(applied) => batches.push(applied),
                    ToSync::Close(reply) => {
                        closer = reply;
                        closing = true;
                        break;
                    }
                }
                next = from_commit.try_recv().ok();
            }
            if batches.is_empty() {
                continue;
            }
            let sync_started = Instant::now();
            match self.sync(&batches, self.durability) {
                Ok(()) => {
                    let took = sync_started.elapsed();
                    crate::telemetry::store_flushed(took);
                    self.answer(batches, took);
                }
                Err(e) => {
                    self.failed.store(true, Ordering::Release);
                    for applied in batches {
                        for (reply, result) in applied.answers {
                            let _ = reply.send(result.and(Err(e.replicate())));
                        }
                    }
                    self.shared.fail("sync failed", &e);
                    // Whatever else arrives was applied after an unsynced failure: refuse it.
                    while let Ok(message) = from_commit.recv() {
                        match message {
                            ToSync::Batch(applied) => {
                                for (reply, _) in applied.answers {
                                    let _ = reply.send(Err(Error::Closed));
                                }
                            }
                            ToSync::Close(reply) => {
                                if let Some(reply) = reply {
                                    let _ = reply.send(());
                                }
                                return;
                            }
                        }
                    }
                    return;
                }
            }
        }
        if !self.failed.load(Ordering::Acquire) {
            if let Err(e) = self.sync(&[], Durability::Durable) {
                tracing::error!(error = %e, "store: final sync at shutdown failed");
            }
        }
        if let Some(reply) = closer {
            // The closer may have given up waiting; nothing is lost if so.
            let _ = reply.send(());
        }
    }

    fn answer(&self, batches: Vec<Applied>, sync_time: Duration) {
        let stats = &self.shared.stats;
        let sync_micros = micros(sync_time);
        stats.sync_micros.fetch_add(sync_micros, Ordering::Relaxed);
        for applied in batches {
            self.shared
                .adjust_depths(&applied.queue_delta, &applied.outbox_delta);
            self.shared.signal_outboxes(&applied.outbox_delta);
            self.shared.hooks.committed(&applied.hook_delta);
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.operations.fetch_add(applied.ops, Ordering::Relaxed);
            tracing::debug!(
                requests = applied.requests,
                ops = applied.ops,
                sync_us = sync_micros,
                total_us = micros(applied.started.elapsed()),
                "store: group commit"
            );
            for (reply, result) in applied.answers {
                // A caller that stopped waiting (cancelled task) still got its write; dropping
                // the answer is all that is left to do.
                let _ = reply.send(result);
            }
        }
    }

    /// Syncs the journal segments `batches` went to (the newest one when there are none).
    fn sync(&mut self, batches: &[Applied], durability: Durability) -> Result<(), Error> {
        let segments = batches.iter().filter_map(|b| b.segment.as_ref());
        Ok(self.journal.sync(segments, durability)?)
    }
}

/// What a caller of [`Committer::record`] does with the record.
#[derive(Clone, Copy)]
enum Purpose {
    /// Reads it: the recent records keep theirs, and the caller gets a copy.
    Read,
    /// Commits a new version of it: the recent records hand theirs over rather than a copy
    /// (moved out, unless a reader holds it too).
    Update,
}

/// One request's effects, kept apart until it has planned without error.
#[derive(Default)]
struct Changes {
    /// Shared with the recent-records cache once committed: moved around as pointers, not
    /// as the few hundred bytes a record is.
    records: HashMap<MessageId, Arc<Record>>,
    /// Messages removed, and their carrier id keys: later requests must not find them.
    purged: HashSet<MessageId>,
    purged_carrier_keys: Vec<Vec<u8>>,
    carrier_ids: Vec<(CarrierKey, MessageId)>,
    outbox_present: HashMap<Vec<u8>, bool>,
    /// Consent changes by suppression key, for later requests of the batch.
    consents: HashMap<Vec<u8>, ConsentEvent>,
    /// What the campaign counters gain; written once per batch (`plan_stats`).
    stats: Tally,
    writes: Vec<Write>,
    queue_delta: HashMap<String, LaneChange>,
    outbox_delta: HashMap<String, i64>,
    /// Webhook queue entries added or removed in the batch, by key; dead letters replayed.
    hook_present: HashMap<Vec<u8>, bool>,
    dead_taken: HashSet<Vec<u8>>,
    hook_delta: HashMap<Endpoint, i64>,
    max_id: Option<u64>,
}

impl Changes {
    /// A put or (`None`) removal of a key that may exist.
    fn write(&mut self, tree: Tree, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.writes.push(Write {
            tree,
            key,
            value,
            fresh: false,
        });
    }

    /// A put of a key that never existed (a new message, queue or outbox entry).
    fn write_new(&mut self, tree: Tree, key: Vec<u8>, value: Vec<u8>) {
        self.writes.push(Write {
            tree,
            key,
            value: Some(value),
            fresh: true,
        });
    }

    fn put_record(&mut self, record: Record, new: bool) -> Result<Arc<Record>, Error> {
        let key = layout::id_key(record.message.id).to_vec();
        let value = layout::encode_record(&record)?;
        if new {
            self.write_new(Tree::Messages, key, value);
        } else {
            self.write(Tree::Messages, key, Some(value));
        }
        let record = Arc::new(record);
        self.records.insert(record.message.id, Arc::clone(&record));
        Ok(record)
    }
}

/// A batch: its requests' effects merged (what later requests of the batch read, and what the
/// journal gets), and the meta values it writes, remembered once it commits.
#[derive(Default)]
struct Plan {
    effects: Changes,
    next_id: Option<u64>,
    next_seq: Option<u64>,
}

impl Changes {
    /// Takes a later request's effects on top of these.
    fn absorb(&mut self, later: Self) {
        for id in &later.purged {
            self.records.remove(id);
        }
        self.purged.extend(later.purged);
        self.purged_carrier_keys.extend(later.purged_carrier_keys);
        self.records.extend(later.records);
        self.carrier_ids.extend(later.carrier_ids);
        self.outbox_present.extend(later.outbox_present);
        self.consents.extend(later.consents);
        self.stats.absorb(later.stats);
        self.writes.extend(later.writes);
        for (route, change) in later.queue_delta {
            self.queue_delta.entry(route).or_default().absorb(&change);
        }
        for (client, delta) in later.outbox_delta {
            *self.outbox_delta.entry(client).or_default() += delta;
        }
        self.hook_present.extend(later.hook_present);
        self.dead_taken.extend(later.dead_taken);
        for (endpoint, delta) in later.hook_delta {
            *self.hook_delta.entry(endpoint).or_default() += delta;
        }
        self.max_id = self.max_id.max(later.max_id);
    }
}

/// Durations for `tracing` fields.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
