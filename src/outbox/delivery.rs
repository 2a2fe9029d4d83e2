//! Delivery of each client's outbox (receipts and MO) to its receiver and transceiver binds:
//! in order, spread over the binds, windowed, retried until deliver_sm_resp, and kept in the
//! store while the client is offline.

use super::{ClientOutbox, Outboxes};
use crate::backoff::Backoff;
use crate::message::OutboxItem;
use crate::session::SessionHandle;
use crate::store::Store;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use smpp_proto::pdu::{Address, ShortMessage, SubmitSm};
use smpp_proto::{Body, Tag, Tlv, Tlvs};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Longest pause between delivery attempts after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Ack commits of one client's delivery in flight at once.
const MAX_ACKS_IN_FLIGHT: usize = 4;

impl Outboxes {
    /// One client's delivery loop; ends when the client has no receiving bind left.
    ///
    /// Pipelined per bind: each bind has up to its window of deliver_sm in flight, and a slot
    /// is refilled as soon as its answer comes, so a slow or silent bind holds back only the
    /// items sent to it, not the client's other binds. Items are read in outbox order; one
    /// that fails is sent again (to whichever bind has room) after its bind's backoff.
    pub(super) async fn deliver(self: Arc<Self>, system_id: String, outbox: Arc<ClientOutbox>) {
        let mut binds: Vec<Bind> = Vec::new();
        // The last outbox seq read: items become visible in seq order (one commit thread
        // writes them), so everything up to it has been read, and is in flight, waiting in
        // `unsent`, or answered. Reading on from it keeps a delivery O(1) however full the
        // windows are.
        let mut cursor: Option<u64> = None;
        // Read and not in flight: failed ones to send again, new ones waiting for room.
        let mut unsent: VecDeque<(u64, OutboxItem)> = VecDeque::new();
        let mut sending = FuturesUnordered::new();
        // Acks on their way to the store: delivery goes on meanwhile, as a commit under load
        // takes longer than a client's answer.
        let mut acking = FuturesUnordered::new();
        // Where the round robin goes on: items that trickle in one by one are spread too.
        let mut next_bind = 0usize;
        loop {
            sync_binds(&outbox, &mut binds);
            if binds.is_empty() {
                // Answers that came in just before the binds went still count: settle them
                // (the rest fail at once with their sessions) before the loop may end.
                let mut answered = Vec::new();
                while let Some(done) = sending.next().await {
                    settle(&system_id, &mut binds, &mut unsent, &mut answered, done);
                }
                acking.push(ack(self.store.clone(), system_id.clone(), answered));
                while acking.next().await.is_some() {}
                let mut running = outbox.running();
                // Checked under the lock `bind` takes: a bind arriving now restarts us.
                if outbox.binds().is_empty() {
                    // Unanswered items stay in the store for the next bind.
                    *running = false;
                    return;
                }
                continue;
            }
            let notified = outbox.notify.notified();
            let now = Instant::now();
            let room: usize = binds.iter().map(|b| b.room(now)).sum();
            // Items to send again first, then new ones from past the cursor.
            let mut fresh = Vec::new();
            let wanted = room.saturating_sub(unsent.len());
            if wanted > 0 {
                match self.store.outbox(&system_id, cursor, wanted) {
                    Ok(items) => fresh = items,
                    Err(e) => {
                        tracing::error!(client = %system_id, error = %e, "cannot read the outbox");
                    }
                }
            }
            if let Some(&(last, _)) = fresh.last() {
                cursor = Some(last);
            }
            unsent.extend(fresh);
            while !unsent.is_empty() {
                let Some(i) = pick(&binds, &mut next_bind, now) else {
                    break;
                };
                let Some((seq, item)) = unsent.pop_front() else {
                    break;
                };
                binds[i].in_flight += 1;
                let (session, handle) = (binds[i].session, binds[i].handle.clone());
                sending.push(async move {
                    let answer = handle.request(Body::DeliverSm(deliver_sm(&item))).await;
                    Outcome {
                        seq,
                        session,
                        item,
                        answer,
                    }
                });
            }
            // A bind in backoff with items waiting: wake when it may take them again.
            let resume = binds
                .iter()
                .filter_map(|b| b.paused_until)
                .filter(|&until| until > now)
                .min();
            tokio::select! {
                Some(first) = sending.next(), if !sending.is_empty() => {
                    let mut answered = Vec::new();
                    let mut done = Some(first);
                    // Every answer already in: one commit share for all of them.
                    while let Some(one) = done {
                        settle(&system_id, &mut binds, &mut unsent, &mut answered, one);
                        done = sending.next().now_or_never().flatten();
                    }
                    // An item leaves the outbox only after its deliver_sm_resp; a crash before
                    // this commit delivers it again (at least once).
                    acking.push(ack(self.store.clone(), system_id.clone(), answered));
                    // A few commits in flight at most: a slow disk slows delivery down.
                    while acking.len() > MAX_ACKS_IN_FLIGHT {
                        acking.next().await;
                    }
                }
                Some(()) = acking.next(), if !acking.is_empty() => {}
                () = notified => {}
                () = sleep_until_some(resume) => {}
                () = self.shutdown.cancelled() => return,
            }
        }
    }
}

/// Removes answered items from the outbox. A failure is logged: the store then stops taking
/// writes and the gateway restarts (see `Store::failed`), delivering them again.
async fn ack(store: Store, system_id: String, answered: Vec<u64>) {
    if answered.is_empty() {
        return;
    }
    if let Err(e) = store.ack_outbox_many(&system_id, answered).await {
        tracing::error!(client = %system_id, error = %e, "cannot ack outbox items");
    }
}

/// A deliver_sm's outcome, with its item, to be sent again if it failed.
struct Outcome {
    seq: u64,
    session: u64,
    item: OutboxItem,
    answer: Result<smpp_proto::Pdu, crate::session::RequestError>,
}

/// Books one outcome: an answered item joins `answered` (to be acked); a failed one goes to
/// `unsent`, to go again (its bind waits out a backoff first).
fn settle(
    system_id: &str,
    binds: &mut [Bind],
    unsent: &mut VecDeque<(u64, OutboxItem)>,
    answered: &mut Vec<u64>,
    Outcome {
        seq,
        session,
        item,
        answer,
    }: Outcome,
) {
    let bind = binds.iter_mut().find(|b| b.session == session);
    match answer {
        Ok(resp)
            if resp.command_status.is_ok()
                && resp.command_id() == smpp_proto::CommandId::DeliverSmResp =>
        {
            answered.push(seq);
            if let Some(bind) = bind {
                bind.answered();
            }
        }
        Ok(resp) => {
            tracing::debug!(client = %system_id, status = %resp.command_status, "deliver_sm refused; will unsent");
            if let Some(bind) = bind {
                bind.failed(Instant::now());
            }
            unsent.push_front((seq, item));
        }
        Err(e) => {
            tracing::debug!(client = %system_id, error = %e, "deliver_sm failed; will unsent");
            if let Some(bind) = bind {
                bind.failed(Instant::now());
            }
            unsent.push_front((seq, item));
        }
    }
}

/// One receiving bind as the delivery loop sees it.
struct Bind {
    session: u64,
    handle: SessionHandle,
    window: usize,
    in_flight: usize,
    /// After a failed delivery: no new items for it until then.
    paused_until: Option<Instant>,
    backoff: Backoff,
}

impl Bind {
    const FIRST_BACKOFF: Duration = Duration::from_millis(200);

    /// How many more items it takes now.
    fn room(&self, now: Instant) -> usize {
        match self.paused_until {
            Some(until) if until > now => 0,
            _ => self.window.saturating_sub(self.in_flight),
        }
    }

    fn answered(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.backoff.reset();
    }

    fn failed(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.paused_until = Some(now + self.backoff.failed());
    }
}

/// Brings `binds` in line with the client's receiving binds: closed ones go, new ones come
/// with an empty window; the others keep their count and backoff.
fn sync_binds(outbox: &ClientOutbox, binds: &mut Vec<Bind>) {
    let mut current = outbox.binds();
    current.retain(|(_, handle, _)| !handle.is_closed());
    binds.retain(|b| current.iter().any(|(session, _, _)| *session == b.session));
    for (session, handle, window) in current.iter() {
        if !binds.iter().any(|b| b.session == *session) {
            binds.push(Bind {
                session: *session,
                handle: handle.clone(),
                window: *window,
                in_flight: 0,
                paused_until: None,
                backoff: Backoff::new(Bind::FIRST_BACKOFF, MAX_BACKOFF),
            });
        }
    }
}

/// The next bind, round robin from `next`, with room now.
fn pick(binds: &[Bind], next: &mut usize, now: Instant) -> Option<usize> {
    let count = binds.len();
    let i = (0..count)
        .map(|k| next.wrapping_add(k) % count)
        .find(|&i| binds[i].room(now) > 0)?;
    *next = i.wrapping_add(1);
    Some(i)
}

/// Sleeps until `until`, or forever without one.
async fn sleep_until_some(until: Option<Instant>) {
    match until {
        Some(until) => tokio::time::sleep_until(until).await,
        None => std::future::pending().await,
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
        source: Address::new(
            item.source.ton,
            item.source.npi,
            item.source.addr.as_str().try_into().unwrap_or_default(),
        ),
        destination: Address::new(
            item.destination.ton,
            item.destination.npi,
            item.destination
                .addr
                .as_str()
                .try_into()
                .unwrap_or_default(),
        ),
        esm_class: item.esm_class,
        data_coding: item.data_coding,
        short_message: ShortMessage::new(item.short_message.clone()).unwrap_or_default(),
        tlvs,
        ..SubmitSm::default()
    }
}
