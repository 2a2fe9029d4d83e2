//! Receipts: building them (text and/or TLVs, ids in the configured base), scheduling them by
//! due time, parking them per system_id while no receiver is bound, and delivering them with
//! retries. The submit path in `service` creates them; [`Simulator::start`] runs the
//! dispatcher; a receiver's bind unparks its receipts.

use super::service::Submitted;
use super::stats::Counters;
use super::{BindEntry, ReceiptForm, Simulator};
use crate::session::SessionInfo;
use smpp_proto::pdu::{esm_class, Address, DeliverSm, ShortMessage};
use smpp_proto::receipt::Receipt;
use smpp_proto::{Body, MessageState, Tlv, Tlvs};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::time::Instant;

/// Receipts in flight (sent, deliver_sm_resp not yet back) across all binds, at most: the
/// rest wait in the bounded queue instead of as tasks.
pub(super) const MAX_RECEIPTS_IN_FLIGHT: usize = 10_000;

/// A receipt the peer refused (or that got no answer) is tried again after this long…
const RECEIPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// … at most this many times, then dropped and counted.
const RECEIPT_MAX_ATTEMPTS: u32 = 10;

/// What receipt deliveries running on their own tasks update.
pub(super) struct Shared {
    pub(super) counters: Counters,
    pub(super) queue: Mutex<ReceiptQueue>,
    /// Wakes the dispatcher: a receipt was queued or a receiver bound.
    pub(super) wake: Notify,
    pub(super) in_flight: Arc<Semaphore>,
    pub(super) max_pending: usize,
}

/// A receipt waiting for its time or for a receiver bind.
struct PendingReceipt {
    due: Instant,
    /// Creation order: ties on `due` keep it, and "oldest" means smallest.
    order: u64,
    system_id: String,
    deliver_sm: DeliverSm,
    attempts: u32,
}

impl PartialEq for PendingReceipt {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}
impl Eq for PendingReceipt {}
impl PartialOrd for PendingReceipt {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PendingReceipt {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.order).cmp(&(other.due, other.order))
    }
}

/// Pending receipts: scheduled by due time, or parked per system_id until a receiver binds.
/// Both together hold at most `max_pending_receipts`.
#[derive(Default)]
pub(super) struct ReceiptQueue {
    scheduled: BinaryHeap<Reverse<PendingReceipt>>,
    parked: HashMap<String, VecDeque<PendingReceipt>>,
    parked_len: usize,
    next_order: u64,
}

impl ReceiptQueue {
    pub(super) fn len(&self) -> usize {
        self.scheduled.len() + self.parked_len
    }

    /// Drops the oldest receipt: a parked one (it was due first), else the next scheduled.
    fn drop_oldest(&mut self) -> bool {
        let oldest_parked = self
            .parked
            .iter()
            .filter_map(|(system_id, queue)| Some((queue.front()?.order, system_id.clone())))
            .min();
        if let Some((_, system_id)) = oldest_parked {
            if let Some(queue) = self.parked.get_mut(&system_id) {
                queue.pop_front();
                self.parked_len -= 1;
                if queue.is_empty() {
                    self.parked.remove(&system_id);
                }
                return true;
            }
        }
        self.scheduled.pop().is_some()
    }

    fn park(&mut self, receipt: PendingReceipt) {
        self.parked
            .entry(receipt.system_id.clone())
            .or_default()
            .push_back(receipt);
        self.parked_len += 1;
    }

    /// Moves the receipts parked for `system_id` back to the schedule, due now.
    pub(super) fn unpark(&mut self, system_id: &str, now: Instant) {
        if let Some(queue) = self.parked.remove(system_id) {
            self.parked_len -= queue.len();
            for mut receipt in queue {
                receipt.due = now;
                self.scheduled.push(Reverse(receipt));
            }
        }
    }
}

impl Shared {
    pub(super) fn queue(&self) -> MutexGuard<'_, ReceiptQueue> {
        // Every update of the queue is complete before anything in it can panic.
        crate::sync::lock(&self.queue)
    }

    /// Queues a receipt, dropping the oldest beyond the bound.
    pub(super) fn schedule(
        &self,
        system_id: &str,
        deliver_sm: DeliverSm,
        due: Instant,
        attempts: u32,
    ) {
        let mut queue = self.queue();
        let mut dropped = 0;
        while queue.len() >= self.max_pending && queue.drop_oldest() {
            dropped += 1;
        }
        let order = queue.next_order;
        queue.next_order += 1;
        queue.scheduled.push(Reverse(PendingReceipt {
            due,
            order,
            system_id: system_id.to_owned(),
            deliver_sm,
            attempts,
        }));
        drop(queue);
        if dropped > 0 {
            self.count_dropped(dropped, "pending receipts full");
        }
        self.wake.notify_one();
    }

    fn count_dropped(&self, n: u64, why: &str) {
        let before = self
            .counters
            .receipts_dropped
            .fetch_add(n, Ordering::Relaxed);
        // The first drop and then one in 10,000: a full queue drops on every submit.
        if before == 0 || (before + n) / 10_000 > before / 10_000 {
            tracing::warn!(dropped_total = before + n, why, "receipts dropped");
        }
    }
}

impl Simulator {
    /// The deliver_sm receipt for message `id` (smpp34.md §10.1): esm_class 0x04, addresses
    /// swapped, the text and/or the TLVs.
    pub(super) fn receipt(
        &self,
        id: u64,
        delivered: bool,
        now_secs: i64,
        message: &Submitted,
    ) -> DeliverSm {
        let outcome = if delivered {
            (MessageState::DELIVERED, 0)
        } else {
            (MessageState::UNDELIVERABLE, 1)
        };
        self.report(id, outcome, now_secs, message, esm_class::DELIVERY_RECEIPT)
    }

    /// A report on message `id` in the receipt format: a receipt, or an intermediate
    /// notification, per `esm_class`.
    pub(super) fn report(
        &self,
        id: u64,
        (state, err): (MessageState, u32),
        now_secs: i64,
        message: &Submitted,
        esm_class: u8,
    ) -> DeliverSm {
        let receipt_id = self.format_receipt_id(id);
        let done_secs = now_secs + i64::try_from(self.config.receipt_delay.as_secs()).unwrap_or(0);
        let mut tlvs = Tlvs::new();
        let mut short_message = ShortMessage::default();
        if self.config.receipt_form != ReceiptForm::Tlv {
            let text = Receipt::new(&*receipt_id, state, err, now_secs, done_secs, &message.text);
            short_message = ShortMessage::new(text.format().into_bytes()).unwrap_or_default();
        }
        if self.config.receipt_form != ReceiptForm::Text {
            // Our ids are at most 20 characters: the TLV's 64 always fit.
            if let Ok(tlv) = Tlv::receipted_message_id(&receipt_id) {
                tlvs.push(tlv);
            }
            tlvs.push(Tlv::message_state(state));
        }
        let (dest_ton, dest_npi, dest) = &message.source;
        let (src_ton, src_npi, src) = &message.destination;
        DeliverSm {
            source: Address::new(
                *src_ton,
                *src_npi,
                src.as_str().try_into().unwrap_or_default(),
            ),
            destination: Address::new(
                *dest_ton,
                *dest_npi,
                dest.as_str().try_into().unwrap_or_default(),
            ),
            esm_class,
            short_message,
            tlvs,
            ..DeliverSm::default()
        }
    }

    /// `--receipt-before-response`: the receipt goes out before this submit's response — on
    /// this session if it can receive (written ahead of the response), else on another bind
    /// (answered before the response). Parked like any receipt if no receiver is bound.
    pub(super) async fn receipt_now(
        &self,
        session: &SessionInfo,
        system_id: &str,
        deliver_sm: DeliverSm,
    ) {
        let here = self
            .binds()
            .get(&session.id)
            .filter(|b| b.kind.can_receive())
            .cloned();
        let Some(target) = here.clone().or_else(|| self.receiver(system_id)) else {
            self.shared
                .schedule(system_id, deliver_sm, Instant::now(), 0);
            return;
        };
        let pending = PendingReceipt {
            due: Instant::now(),
            order: 0,
            system_id: system_id.to_owned(),
            deliver_sm,
            attempts: 0,
        };
        let (done, wait) = oneshot::channel();
        let same_session = here.is_some();
        let Ok(permit) = self.shared.in_flight.clone().try_acquire_owned() else {
            self.shared
                .schedule(system_id, pending.deliver_sm, Instant::now(), 0);
            return;
        };
        self.tasks.spawn(deliver_receipt(
            self.shared.clone(),
            target,
            pending,
            permit,
            Some((done, same_session)),
        ));
        // Bounded: with the window full of submits waiting like this one, the session stops
        // reading deliver_sm_resps; the quirk then gives way rather than stall the session.
        let _ = tokio::time::timeout(self.config.timers.response_timeout, wait).await;
    }
}

/// Sends due receipts to a receiver bind of their system_id, parks those with none.
pub(super) async fn dispatch_receipts(simulator: Arc<Simulator>) {
    /// Receipts taken per pass, so a burst does not hold the queue's lock for long.
    const BATCH: usize = 1024;
    let shared = simulator.shared.clone();
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        let next = {
            let mut queue = shared.queue();
            while due.len() < BATCH && queue.scheduled.peek().is_some_and(|r| r.0.due <= now) {
                if let Some(Reverse(receipt)) = queue.scheduled.pop() {
                    due.push(receipt);
                }
            }
            queue.scheduled.peek().map(|r| r.0.due)
        };
        let full_batch = due.len() == BATCH;
        for receipt in due {
            let target = {
                // Checked under the queue's lock: a receiver binding meanwhile unparks after
                // this park (bind() registers before it unparks), so nothing stays parked.
                let mut queue = shared.queue();
                let target = simulator.receiver(&receipt.system_id);
                if target.is_none() {
                    queue.park(receipt);
                    continue;
                }
                drop(queue);
                target
            };
            let Some(target) = target else { continue };
            let permit = tokio::select! {
                () = simulator.shutdown.cancelled() => return,
                permit = shared.in_flight.clone().acquire_owned() => permit,
            };
            let Ok(permit) = permit else { return };
            simulator.tasks.spawn(deliver_receipt(
                shared.clone(),
                target,
                receipt,
                permit,
                None,
            ));
        }
        if full_batch {
            continue;
        }
        let wake_at = next.unwrap_or_else(|| now + Duration::from_secs(3600));
        tokio::select! {
            () = simulator.shutdown.cancelled() => return,
            () = shared.wake.notified() => {}
            () = tokio::time::sleep_until(wake_at) => {}
        }
    }
}

/// Sends one receipt and waits for its deliver_sm_resp; retries it later on failure. With
/// `notify`, tells the submit waiting for it: once written (`true`) or once answered.
async fn deliver_receipt(
    shared: Arc<Shared>,
    target: Arc<BindEntry>,
    receipt: PendingReceipt,
    _permit: tokio::sync::OwnedSemaphorePermit,
    notify: Option<(oneshot::Sender<()>, bool)>,
) {
    let (mut on_write, on_answer) = match notify {
        Some((done, true)) => (Some(done), None),
        Some((done, false)) => (None, Some(done)),
        None => (None, None),
    };
    let body = Body::DeliverSm(receipt.deliver_sm.clone());
    let answer = match target.handle.start_request(body).await {
        Ok(pending) => {
            drop(on_write.take());
            pending.answer().await
        }
        Err(e) => Err(e),
    };
    drop(on_answer);
    match answer {
        Ok(response) if response.command_status.is_ok() => {
            shared
                .counters
                .receipts_sent
                .fetch_add(1, Ordering::Relaxed);
        }
        outcome => {
            let attempts = receipt.attempts + 1;
            tracing::debug!(
                session = target.session,
                attempts,
                ?outcome,
                "receipt not accepted"
            );
            if attempts >= RECEIPT_MAX_ATTEMPTS {
                shared.count_dropped(1, "refused too often");
            } else {
                let due = Instant::now() + RECEIPT_RETRY_DELAY;
                shared.schedule(&receipt.system_id, receipt.deliver_sm, due, attempts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_receipts_are_bounded_dropping_the_oldest() {
        let shared = Shared {
            counters: Counters::default(),
            queue: Mutex::new(ReceiptQueue::default()),
            wake: Notify::new(),
            in_flight: Arc::new(Semaphore::new(1)),
            max_pending: 3,
        };
        let now = Instant::now();
        for i in 0..5u8 {
            let sm = DeliverSm {
                esm_class: i,
                ..DeliverSm::default()
            };
            shared.schedule("a", sm, now, 0);
        }
        let mut queue = shared.queue();
        assert_eq!(queue.len(), 3);
        assert_eq!(shared.counters.receipts_dropped.load(Ordering::Relaxed), 2);
        let kept: Vec<u8> = std::iter::from_fn(|| queue.scheduled.pop())
            .map(|r| r.0.deliver_sm.esm_class)
            .collect();
        assert_eq!(kept, [2, 3, 4]);
    }

    #[test]
    fn parked_receipts_count_and_come_back() {
        let mut queue = ReceiptQueue::default();
        let now = Instant::now();
        for order in 0..2 {
            queue.park(PendingReceipt {
                due: now,
                order,
                system_id: "a".into(),
                deliver_sm: DeliverSm::default(),
                attempts: 0,
            });
        }
        assert_eq!(queue.len(), 2);
        assert!(queue.drop_oldest());
        assert_eq!(queue.len(), 1);
        queue.unpark("a", now);
        assert_eq!((queue.scheduled.len(), queue.parked_len), (1, 0));
    }
}
