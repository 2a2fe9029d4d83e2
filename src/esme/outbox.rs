//! Delivery of each client's outbox (receipts and MO) to its receiver and transceiver binds:
//! in order, spread over the binds, windowed, retried until deliver_sm_resp, and kept in the
//! store while the client is offline.

use crate::message::OutboxItem;
use crate::session::SessionHandle;
use crate::store::Store;
use dashmap::DashMap;
use futures_util::stream::{FuturesUnordered, StreamExt};
use smpp_proto::pdu::{ShortMessage, SubmitSm};
use smpp_proto::{Body, Tag, Tlv, Tlvs};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Longest pause between delivery attempts after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The outboxes of all clients.
pub(crate) struct Outboxes {
    store: Store,
    clients: DashMap<String, Arc<ClientOutbox>>,
    shutdown: CancellationToken,
}

struct ClientOutbox {
    /// The store's signal for this client: woken by every durable push, whoever wrote it
    /// (receipts from carrier intake come in with their message's update, not through
    /// [`Outboxes::push`]), and by bind changes here.
    notify: Arc<Notify>,
    /// Receiver and transceiver binds: (session id, handle, window).
    binds: Mutex<Vec<(u64, SessionHandle, usize)>>,
    /// Whether a delivery task runs for this client.
    running: Mutex<bool>,
}

impl Outboxes {
    pub(crate) fn new(store: Store, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            store,
            clients: DashMap::new(),
            shutdown,
        })
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

    /// Stores an item for `system_id` and wakes its delivery.
    pub(crate) async fn push(
        &self,
        system_id: &str,
        item: OutboxItem,
    ) -> Result<u64, crate::store::Error> {
        let seq = self.store.push_outbox(system_id, item).await?;
        self.client(system_id).notify.notify_one();
        Ok(seq)
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
        if let Ok(mut binds) = outbox.binds.lock() {
            binds.push((session, handle, window.max(1)));
        }
        outbox.notify.notify_one();
        let start = outbox
            .running
            .lock()
            .map(|mut running| !std::mem::replace(&mut *running, true))
            .unwrap_or(false);
        if start {
            let this = self.clone();
            let system_id = system_id.to_owned();
            tokio::spawn(async move { this.deliver(system_id, outbox).await });
        }
    }

    /// A session ended: stop delivering to it, whichever client it belonged to.
    pub(crate) fn forget(&self, session: u64) {
        for outbox in self.clients.iter() {
            if let Ok(mut binds) = outbox.binds.lock() {
                binds.retain(|(id, _, _)| *id != session);
            }
            outbox.notify.notify_one();
        }
    }

    /// One client's delivery loop; ends when the client has no receiving bind left.
    async fn deliver(self: Arc<Self>, system_id: String, outbox: Arc<ClientOutbox>) {
        let mut backoff = Duration::from_millis(200);
        // The bind the next round starts at. Rounds often carry a single item (items that
        // trickle in wake the loop one by one); starting every round at the first bind would
        // send all of those to it and none to the others.
        let mut next_bind = 0usize;
        loop {
            let binds: Vec<(u64, SessionHandle, usize)> = match outbox.binds.lock() {
                Ok(mut binds) => {
                    binds.retain(|(_, handle, _)| !handle.is_closed());
                    binds.clone()
                }
                Err(_) => Vec::new(),
            };
            if binds.is_empty() {
                if let Ok(mut running) = outbox.running.lock() {
                    // Checked under the lock `bind` takes: a bind arriving now restarts us.
                    let still_empty = outbox.binds.lock().map(|b| b.is_empty()).unwrap_or(true);
                    if still_empty {
                        *running = false;
                        return;
                    }
                }
                continue;
            }
            let capacity: usize = binds.iter().map(|(_, _, window)| window).sum();
            let notified = outbox.notify.notified();
            let items = match self.store.outbox(&system_id, None, capacity) {
                Ok(items) => items,
                Err(e) => {
                    tracing::error!(client = %system_id, error = %e, "cannot read the outbox");
                    Vec::new()
                }
            };
            if items.is_empty() {
                tokio::select! {
                    () = notified => continue,
                    () = self.shutdown.cancelled() => return,
                }
            }
            let mut sending = FuturesUnordered::new();
            let first_bind = next_bind;
            next_bind = next_bind.wrapping_add(items.len());
            for (i, (seq, item)) in items.into_iter().enumerate() {
                // Round robin over the binds, in outbox order, carried on across rounds.
                let handle = binds[first_bind.wrapping_add(i) % binds.len()].1.clone();
                sending.push(async move {
                    (
                        seq,
                        handle.request(Body::DeliverSm(deliver_sm(&item))).await,
                    )
                });
            }
            let mut failed = false;
            let mut answered = Vec::with_capacity(sending.len());
            while let Some((seq, answer)) = sending.next().await {
                match answer {
                    Ok(resp)
                        if resp.command_status.is_ok()
                            && resp.command_id() == smpp_proto::CommandId::DeliverSmResp =>
                    {
                        answered.push(seq);
                    }
                    Ok(resp) => {
                        tracing::debug!(client = %system_id, status = %resp.command_status, "deliver_sm refused; will retry");
                        failed = true;
                    }
                    Err(e) => {
                        tracing::debug!(client = %system_id, error = %e, "deliver_sm failed; will retry");
                        failed = true;
                    }
                }
            }
            // Everything the client answered in this round leaves the outbox in one request:
            // one commit share per round instead of one durable commit per item, waited for in
            // turn. An item is removed only after its deliver_sm_resp; a crash before this
            // commit delivers the round again (at least once).
            if let Err(e) = self.store.ack_outbox_many(&system_id, answered).await {
                tracing::error!(client = %system_id, error = %e, "cannot ack outbox items");
                failed = true;
            }
            if failed {
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = self.shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            } else {
                backoff = Duration::from_millis(200);
            }
        }
    }
}

/// The deliver_sm that carries an outbox item.
fn deliver_sm(item: &OutboxItem) -> SubmitSm {
    let mut tlvs = Tlvs::new();
    for (tag, value) in &item.tlvs {
        match Tlv::from_raw(Tag(*tag), bytes::Bytes::copy_from_slice(value)) {
            Ok(tlv) => tlvs.push(tlv),
            Err(e) => {
                tracing::warn!(tag, error = %e, "dropping a stored TLV that no longer decodes")
            }
        }
    }
    SubmitSm {
        source_addr_ton: item.source.ton,
        source_addr_npi: item.source.npi,
        source_addr: item.source.addr.as_str().try_into().unwrap_or_default(),
        dest_addr_ton: item.destination.ton,
        dest_addr_npi: item.destination.npi,
        destination_addr: item
            .destination
            .addr
            .as_str()
            .try_into()
            .unwrap_or_default(),
        esm_class: item.esm_class,
        data_coding: item.data_coding,
        short_message: ShortMessage::new(item.short_message.clone()).unwrap_or_default(),
        tlvs,
        ..SubmitSm::default()
    }
}
