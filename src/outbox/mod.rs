//! Client outboxes: what the gateway has to tell each client (receipts, intermediate
//! notifications, MO), from the moment it is written to the store to the client's
//! deliver_sm_resp. The one owner of pushes, of the full check, of the wake-ups of each
//! client's delivery and of its receiving binds; the client side (`esme`) and the carrier side
//! (`carrier`) both go through it, never through each other.
//!
//! Every way a message ends inside the gateway (rejected, undeliverable, expired, cancelled,
//! purged) goes through [`Outboxes::end`] (a client's cancel of a queued message through
//! [`Outboxes::cancel`]): its final state and the receipt its client asked for are one store
//! request, one commit, so a crash keeps both or neither. Carrier receipts
//! do the same through [`Store::update_and_push_outbox`] with an item from [`report`].
//!
//! Items stay in the store until their deliver_sm_resp (at least once): a crash before the
//! ack delivers them again.

mod delivery;
pub(crate) mod report;

use crate::config::ClientConfig;
use crate::consent::ConsentEvent;
use crate::message::{now_ms, Message, MessageId, OutboxItem, State, UpdateRefused};
use crate::session::SessionHandle;
use crate::store::{Confirmation, Error, Store};
use crate::telemetry;
use dashmap::DashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The outboxes of all clients.
pub struct Outboxes {
    store: Store,
    clients: DashMap<String, Arc<ClientOutbox>>,
    shutdown: CancellationToken,
    /// Cluster mode: told when a message ends here, to take it out of the engine's queue.
    handoff: std::sync::OnceLock<Arc<dyn crate::handoff::Handoff>>,
}

struct ClientOutbox {
    /// The store's signal for this client: woken by every durable push, whoever wrote it
    /// (receipts come in with their message's update, not through [`Outboxes::push`]), and by
    /// bind changes here.
    notify: Arc<Notify>,
    /// Receiver and transceiver binds: (session id, handle, window).
    binds: Mutex<Vec<(u64, SessionHandle, usize)>>,
    /// Whether a delivery task runs for this client.
    running: Mutex<bool>,
}

impl ClientOutbox {
    // Every change under these locks is one push, retain or assignment: what they guard stays
    // consistent under a panic elsewhere, so a poisoned lock is taken as it is.
    fn binds(&self) -> MutexGuard<'_, Vec<(u64, SessionHandle, usize)>> {
        crate::sync::lock(&self.binds)
    }

    fn running(&self) -> MutexGuard<'_, bool> {
        crate::sync::lock(&self.running)
    }
}

impl Outboxes {
    /// The outboxes in `store`; deliveries stop at `shutdown`.
    pub fn new(store: Store, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            store,
            clients: DashMap::new(),
            shutdown,
            handoff: std::sync::OnceLock::new(),
        })
    }

    /// Cluster mode: messages that end here are taken out of `handoff`'s queue.
    pub fn set_handoff(&self, handoff: Arc<dyn crate::handoff::Handoff>) {
        let _ = self.handoff.set(handoff);
    }

    /// Whether `system_id` has a receiver or transceiver bind on this node.
    pub fn has_binds(&self, system_id: &str) -> bool {
        self.clients
            .get(system_id)
            .is_some_and(|outbox| !outbox.binds().is_empty())
    }

    fn client(&self, system_id: &str) -> Arc<ClientOutbox> {
        // Clone the Arc out so no map guard is held past this call.
        self.clients
            .entry(system_id.to_owned())
            .or_insert_with(|| {
                Arc::new(ClientOutbox {
                    notify: self.store.outbox_signal(system_id),
                    binds: Mutex::default(),
                    running: Mutex::default(),
                })
            })
            .value()
            .clone()
    }

    /// Stores an item (an MO) for `client` and wakes its delivery; for a client that cannot
    /// bind to receive, shows it to its webhooks only ([`ClientConfig::takes_deliveries`]).
    pub async fn push(&self, client: &ClientConfig, item: OutboxItem) -> Result<u64, Error> {
        let system_id = &client.system_id;
        let kept = client.takes_deliveries();
        let seq = self.store.deliver_mo(system_id, item, kept).await?;
        if kept {
            self.client(system_id).notify.notify_one();
            if let Some(handoff) = self.handoff.get() {
                handoff.relay(system_id, seq).await;
            }
        }
        Ok(seq)
    }

    /// Adds an MO that changed consent to `system_id`'s outbox, with the changes (one per list)
    /// and the confirmation due, in one commit (`Store::record_consent_with_mo`). Returns the
    /// changes and the confirmation's id if it was queued.
    pub async fn push_with_consent(
        &self,
        client: &ClientConfig,
        item: OutboxItem,
        events: Vec<ConsentEvent>,
        confirmation: Option<Confirmation>,
    ) -> Result<(Vec<ConsentEvent>, Option<MessageId>), Error> {
        let system_id = &client.system_id;
        let kept = client.takes_deliveries();
        let recorded = self
            .store
            .record_consent_with_mo(events, system_id, item, kept, confirmation)
            .await?;
        self.client(system_id).notify.notify_one();
        if let Some(handoff) = self.handoff.get() {
            handoff.consent_changed(&recorded.0).await;
        }
        Ok(recorded)
    }

    /// Whether `client`'s outbox holds its `max_outbox` items or more: it then takes no new
    /// submits or MO until its binds read some.
    pub fn is_full(&self, client: &ClientConfig) -> bool {
        self.store.outbox_len(&client.system_id) >= client.max_outbox.get()
    }

    /// Ends message `id` inside the gateway in `state` (final) with `detail` for its history,
    /// and queues the receipt its client asked for (`registered_delivery`), with `err` as the
    /// receipt's error code: one commit for both. `detail` is made from the message as it is
    /// then. Returns the message as written; [`Error::Final`] if it had ended already.
    pub async fn end(
        &self,
        id: MessageId,
        state: State,
        detail: impl FnOnce(&Message) -> String + Send + 'static,
        err: u32,
    ) -> Result<Message, Error> {
        debug_assert!(state.is_final(), "{state:?} does not end a message");
        let at = now_ms();
        let end = move |m: &mut Message| {
            let detail = detail(m);
            m.transition(state, at, detail)
        };
        self.end_with(id, end, err).await
    }

    /// [`Outboxes::end`] in DELETED (receipt `err` 0) of a message that still waits in its
    /// route queue (Queued: scheduled, deferred or not yet handed to a carrier): a cancel by
    /// its client. One that has left meanwhile is refused ([`Error::Refused`]), checked in
    /// the commit itself: a check before it would leave dispatch a moment.
    pub async fn cancel(&self, id: MessageId, detail: String) -> Result<Message, Error> {
        let at = now_ms();
        let cancel = move |m: &mut Message| {
            if m.state != State::Queued {
                return Err(UpdateRefused::new("it has left its queue"));
            }
            m.transition(State::Deleted, at, detail)
        };
        self.end_with(id, cancel, 0).await
    }

    /// Applies `end` (a final state) and pushes the receipt the message asked for, in one
    /// commit.
    async fn end_with(
        &self,
        id: MessageId,
        end: impl FnOnce(&mut Message) -> Result<(), UpdateRefused> + Send + 'static,
        err: u32,
    ) -> Result<Message, Error> {
        // The store wakes the client's delivery once the commit is durable.
        let (message, seq) = self
            .store
            .update_and_push_outbox(id, end, move |m| report::receipt_item(m, err))
            .await?;
        let message = message.into_message();
        telemetry::ended(&message);
        if let Some(handoff) = self.handoff.get() {
            handoff.ended(&message).await;
            if let Some(seq) = seq {
                handoff.relay(&message.client, seq).await;
            }
        }
        Ok(message)
    }

    /// A receiver or transceiver bind of `system_id` is up: deliver to it.
    pub(crate) fn bind(
        self: &Arc<Self>,
        system_id: &str,
        session: u64,
        handle: SessionHandle,
        window: usize,
    ) {
        let outbox = self.client(system_id);
        outbox.binds().push((session, handle, window.max(1)));
        outbox.notify.notify_one();
        let start = !std::mem::replace(&mut *outbox.running(), true);
        if start {
            let this = self.clone();
            let system_id = system_id.to_owned();
            tokio::spawn(async move { this.deliver(system_id, outbox).await });
        }
    }

    /// A session ended: stop delivering to it, whichever client it belonged to.
    pub(crate) fn forget(&self, session: u64) {
        for outbox in self.clients.iter() {
            outbox.binds().retain(|(id, _, _)| *id != session);
            outbox.notify.notify_one();
        }
    }
}
