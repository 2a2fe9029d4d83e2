//! Dispatch: drains one route's queue into the carrier links that serve it, at the rate the
//! route and the link allow. At-least-once: a message leaves its queue only when a carrier
//! accepted it (submit_sm_resp OK) or it ended; a crash in between sends it again.

use crate::backoff::Backoff;
use crate::carrier::lanes;
use crate::carrier::link::SubmitTicket;
use crate::carrier::{Carriers, Link, RouteControl};
use crate::consent;
use crate::live::Snapshot;
use crate::message::{now_ms, Class, Event, Message, MessageId, State};
use crate::route::Route;
use crate::sending_hours;
use crate::sync::lock;
use crate::telemetry;
use smpp_proto::pdu::{Address, ShortMessage, SubmitSm};
use smpp_proto::{Body, CommandStatus, Tag, Tlv, Tlvs};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Messages looked at per pass over the queue.
const PASS: usize = 1024;
/// Longest a dispatcher sleeps without being woken (schedules and retries come due).
const IDLE: Duration = Duration::from_millis(250);
/// Longest the passes go without starting from the head of the queue (see [`Cursor`]).
const REWIND: Duration = Duration::from_secs(1);

/// Where the next pass over a route's queue starts. A pass that reaches the end of the queue
/// goes back to the head only when a message it left behind may be ready: a submit that ended
/// with its message still queued (not written, timed out, throttled, a retry scheduled), a
/// schedule come due, or `REWIND` passed (whatever else). Otherwise only new entries, all
/// further back, are left to read. Reading from the head on every pass walked over the
/// entries dispatched since the last checkpoint, whose removal the trees get only with the
/// next one: a hundred dead entries a pass, thousands of passes a second.
struct Cursor {
    /// The queue position the next pass starts at.
    at: u64,
    /// Set when a message was left in the queue behind `at`.
    left_behind: LeftBehind,
    /// The earliest `schedule_at` (unix ms) among the messages passes left for later.
    next_due: Option<i64>,
    /// When a pass last started from the head.
    rewound: Instant,
}

impl Cursor {
    fn new() -> Self {
        Self {
            at: 0,
            left_behind: LeftBehind::default(),
            next_due: None,
            rewound: Instant::now(),
        }
    }

    /// A scheduled message was left for later.
    fn due_at(&mut self, at: i64) {
        self.next_due = Some(self.next_due.map_or(at, |due| due.min(at)));
    }

    /// After a pass that reached the end of the queue.
    fn reached_end(&mut self, now: i64) {
        let due = self.next_due.is_some_and(|at| at <= now);
        if self.left_behind.take() || due || self.rewound.elapsed() >= REWIND {
            self.at = 0;
            self.next_due = None;
            self.rewound = Instant::now();
        }
    }
}

/// Whether a message was left in its queue behind the cursor since the last look: by the pass
/// itself or by a submit task that ended with its message still queued.
#[derive(Clone, Default)]
struct LeftBehind(Arc<AtomicBool>);

impl LeftBehind {
    fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether it was marked since the last call.
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// Runs the dispatcher of one route until shutdown.
pub(crate) async fn run_route(carriers: Arc<Carriers>, route: String, shutdown: CancellationToken) {
    let in_flight: Arc<Mutex<HashSet<MessageId>>> = Arc::default();
    let mut lanes = Lanes::new();
    loop {
        if carriers.snapshot().routes.named(&route).is_none() {
            tracing::info!(%route, "route gone after a reload; its dispatcher stops");
            return;
        }
        let woken = carriers.queued.notified();
        let sent = pass(&carriers, &route, &in_flight, &mut lanes, &shutdown).await;
        if shutdown.is_cancelled() {
            return;
        }
        if sent == 0 {
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(IDLE) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }
}

/// A route dispatcher's place in each lane of its queue (`store/lanes.rs`), and how the lanes
/// share the sends (`lanes.rs`).
struct Lanes {
    transactional: Cursor,
    marketing: Cursor,
    share: lanes::Share,
    marketing_cap: lanes::MarketingCap,
}

impl Lanes {
    fn new() -> Self {
        Self {
            transactional: Cursor::new(),
            marketing: Cursor::new(),
            share: lanes::Share::new(),
            marketing_cap: lanes::MarketingCap::new(),
        }
    }
}

/// Entries of one lane read for a pass.
#[derive(Default)]
struct Batch {
    entries: VecDeque<(u64, MessageId)>,
    /// The read reached the lane's end.
    complete: bool,
    /// The lane's tail just before the read: entries queued since are further back.
    tail: u64,
}

impl Batch {
    fn read(carriers: &Carriers, route: &str, lane: Class, from: u64) -> Self {
        let tail = carriers.store.lane_tail(route, lane);
        match carriers.store.queued_from(route, lane, from, PASS) {
            Ok(entries) => Self {
                complete: entries.len() < PASS,
                entries: entries.into(),
                tail,
            },
            Err(e) => {
                tracing::error!(%route, %lane, error = %e, "cannot read the route queue");
                Self {
                    tail,
                    ..Self::default()
                }
            }
        }
    }

    /// Whether entries were queued in `lane` since this batch was read.
    fn outdated(&self, carriers: &Carriers, route: &str, lane: Class) -> bool {
        carriers.store.lane_tail(route, lane) > self.tail
    }
}

/// What became of one queue entry in a pass.
enum Step {
    /// Handed to a carrier session.
    Sent,
    /// Not sent now: in flight already, ended, held for later, or left for the next pass.
    Passed,
    /// A marketing message over the route's marketing cap, for this long: the lane waits.
    RouteCapped(Duration),
    /// A marketing message over its campaign's cap, for this long: others may go.
    CampaignCapped(Duration),
    /// The pass ends: no carrier up, or shutting down.
    Stop,
}

/// Marketing entries in a row whose campaigns were capped before the lane waits for the first
/// of those caps: a large capped campaign is not read through again and again.
const CAPPED_IN_A_ROW: usize = 256;

/// One pass over the route's queue: the transactional lane from its cursor, and the marketing
/// lane from its cursor in between as its share and caps allow; returns how many messages were
/// sent. Transactional messages queued while the pass goes are read before any more
/// marketing. The cursors move past what the pass looked at, so a long queue is read once per
/// round rather than from its head on every pass.
async fn pass(
    carriers: &Arc<Carriers>,
    route: &str,
    in_flight: &Arc<Mutex<HashSet<MessageId>>>,
    lanes: &mut Lanes,
    shutdown: &CancellationToken,
) -> usize {
    let live = carriers.snapshot();
    let (Some(route_config), Some(control)) =
        (live.routes.named(route), carriers.route_control(route))
    else {
        return 0;
    };
    if control.is_paused() {
        return 0;
    }
    lanes.marketing_cap.set(route_config.marketing_throughput());
    let share = route_config.marketing_min_share();
    let mut transactional = Batch::read(
        carriers,
        route,
        Class::Transactional,
        lanes.transactional.at,
    );
    let mut marketing = Batch::read(carriers, route, Class::Marketing, lanes.marketing.at);
    // Until when the marketing lane waits for its caps.
    let mut marketing_waits: Option<Instant> = None;
    let mut capped_in_a_row = 0;
    let mut capped_wait = Duration::MAX;
    let mut sent = 0;
    let mut stopped = false;
    let mut newer_transactional = false;
    loop {
        // An operator's pause also stops a pass under way.
        if shutdown.is_cancelled() || control.is_paused() {
            stopped = true;
            break;
        }
        // A pass ends now and then, to take a reloaded config; the next one goes on from the
        // cursors.
        if sent >= PASS {
            stopped = true;
            break;
        }
        let woken = carriers.queued.notified();
        // Transactional messages queued while marketing goes: the pass ends so that the next
        // one reads them first (and the transactional lane keeps the plain pass of one read).
        if transactional.entries.is_empty()
            && !marketing.entries.is_empty()
            && transactional.outdated(carriers, route, Class::Transactional)
        {
            newer_transactional = true;
            break;
        }
        let marketing_open = marketing_waits.is_none_or(|until| Instant::now() >= until);
        let ready = (
            !transactional.entries.is_empty(),
            !marketing.entries.is_empty() && marketing_open,
        );
        let Some(lane) = lanes.share.pick(share, ready.0, ready.1) else {
            match marketing_waits.filter(|_| !marketing.entries.is_empty()) {
                // Marketing waits for a cap; a transactional message may come meanwhile.
                Some(until) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        () = woken => {}
                        () = shutdown.cancelled() => {
                            stopped = true;
                            break;
                        }
                    }
                    continue;
                }
                None => break,
            }
        };
        let batch = match lane {
            Class::Transactional => &mut transactional,
            Class::Marketing => &mut marketing,
        };
        let Some((seq, id)) = batch.entries.pop_front() else {
            break;
        };
        let cursor = match lane {
            Class::Transactional => &mut lanes.transactional,
            Class::Marketing => &mut lanes.marketing,
        };
        cursor.at = seq;
        let this = One {
            carriers,
            live: &live,
            route_config,
            control: &control,
            in_flight,
            marketing_cap: &lanes.marketing_cap,
            shutdown,
        };
        let step = one(&this, cursor, lane, id).await;
        match step {
            Step::Sent => {
                sent += 1;
                lanes.share.sent(share, lane, ready.0 && ready.1);
                capped_in_a_row = 0;
            }
            Step::Passed => {}
            Step::RouteCapped(wait) => {
                marketing.entries.push_front((seq, id));
                marketing_waits = Some(Instant::now() + wait);
            }
            Step::CampaignCapped(wait) => {
                capped_in_a_row += 1;
                capped_wait = capped_wait.min(wait);
                if capped_in_a_row >= CAPPED_IN_A_ROW {
                    marketing_waits = Some(Instant::now() + capped_wait);
                    (capped_in_a_row, capped_wait) = (0, Duration::MAX);
                }
            }
            Step::Stop => {
                stopped = true;
                break;
            }
        }
    }
    if !stopped {
        let now = now_ms();
        // Cut short for newer transactional messages, the marketing lane did not reach its end.
        let lanes_done = [
            (&transactional, &mut lanes.transactional, true),
            (&marketing, &mut lanes.marketing, !newer_transactional),
        ];
        for (batch, cursor, done) in lanes_done {
            if done && batch.complete && batch.entries.is_empty() {
                cursor.reached_end(now);
            }
        }
    }
    // Never zero when newer transactional messages wait: the next pass starts at once.
    sent.max(usize::from(newer_transactional))
}

/// What the handling of one entry needs of its pass.
struct One<'p> {
    carriers: &'p Arc<Carriers>,
    live: &'p Snapshot,
    route_config: &'p Route,
    control: &'p RouteControl,
    in_flight: &'p Arc<Mutex<HashSet<MessageId>>>,
    marketing_cap: &'p lanes::MarketingCap,
    shutdown: &'p CancellationToken,
}

/// Sends the message `id` from `lane` if it may go now, or says why not.
async fn one(pass: &One<'_>, cursor: &mut Cursor, lane: Class, id: MessageId) -> Step {
    let One {
        carriers,
        live,
        route_config,
        control,
        in_flight,
        shutdown,
        ..
    } = *pass;
    let now = now_ms();
    if lock(in_flight).contains(&id) {
        return Step::Passed;
    }
    let message = match carriers.store.stored(id) {
        // A message whose dispatch completed since the queue was read is no longer queued:
        // sending it again would make a duplicate.
        Ok(Some(message)) if message.state.is_queued() => message,
        Ok(_) => return Step::Passed,
        Err(e) => {
            tracing::error!(%id, error = %e, "cannot read a queued message");
            cursor.left_behind.mark();
            return Step::Passed;
        }
    };
    if message.expire_at.is_some_and(|at| at <= now) {
        end(
            carriers,
            id,
            State::Expired,
            "validity period passed before dispatch",
            0,
        )
        .await;
        return Step::Passed;
    }
    if let Some(at) = message.schedule_at.filter(|at| *at > now) {
        cursor.due_at(at);
        return Step::Passed;
    }
    // A window that closed while the message waited holds it again (never sent outside).
    if let Some(hold) = sending_hours::hold_together(&live.config, &message, now) {
        let (until, window) = (hold.until, hold.window.clone());
        let held = carriers
            .store
            .update(id, move |m| {
                m.schedule_at = Some(until);
                m.history.push(Event {
                    at: now_ms(),
                    state: m.state,
                    detail: hold.detail(),
                });
                Ok(())
            })
            .await;
        match held {
            Ok(_) => telemetry::deferred(&window),
            Err(e) => {
                tracing::warn!(%id, error = %e, "cannot hold a message for its sending window")
            }
        }
        cursor.due_at(until);
        return Step::Passed;
    }
    // Again at dispatch: an opt-out received while the message waited holds it back.
    match carriers.store.holding_back(&live.config, &message) {
        Ok(None) => {}
        Ok(Some(opt_out)) => {
            let detail = consent::refusal_detail(&message, &opt_out);
            end(
                carriers,
                id,
                State::Rejected,
                &detail,
                consent::ERR_OPTED_OUT,
            )
            .await;
            return Step::Passed;
        }
        Err(e) => {
            // Not knowing is not consent: the message waits for the next pass.
            tracing::error!(%id, error = %e, "cannot read the suppression list");
            cursor.left_behind.mark();
            return Step::Passed;
        }
    }
    if lane == Class::Marketing {
        // The route's cap holds the whole lane; a campaign's only that campaign.
        if let Err(wait) = pass.marketing_cap.take(message.segments()) {
            return Step::RouteCapped(wait);
        }
        let rate = live
            .config
            .client(&message.client)
            .and_then(|c| c.campaign_throughput);
        if let Err(wait) = carriers.campaigns.take(&message, rate) {
            cursor.left_behind.mark();
            return Step::CampaignCapped(wait);
        }
    }
    let order = route_config.carriers(|name| carriers.is_up(name), id.as_u64());
    let Some(link) = order
        .first()
        .filter(|name| carriers.is_up(name))
        .and_then(|name| carriers.link(name))
    else {
        // No carrier of this route is up: the message waits in its queue.
        return Step::Stop;
    };
    if let Some(until) = link.paused_until() {
        // The carrier asked us to slow down; everything on this route waits with it.
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            () = shutdown.cancelled() => return Step::Stop,
        }
    }
    control.throttle().until_ready().await;
    link.throttle.until_ready().await;
    // A reload may have retired the link during the waits: the message waits for the next
    // pass, which finds the links in force.
    let Some(session) = link.pick().filter(|_| !link.is_retired()) else {
        cursor.left_behind.mark();
        return Step::Passed;
    };
    // Cluster mode: only the owner of the link's group submits, and only behind its fence.
    if carriers
        .handoff()
        .is_some_and(|h| !h.may_submit(link.name()))
    {
        return Step::Stop;
    }
    let pdu = submit_sm(&message, &link);
    // The task below needs only these: the record stays the store's, to update in place.
    let attempts = message.attempts;
    let awaits_receipt = pdu.registered_delivery & 0x03 != 0;
    let marketed = consent::marketed(&live.config, &message);
    drop(message);
    // Counted before it goes out: its receipt may come before this task runs again, and
    // must then wait for the carrier id rather than be taken for unknown.
    let mut ticket = link.submit_started();
    // A working session takes a submit within a response timeout: by then its own timers
    // have freed a slot of a full window. One that does not is wedged, and would hold this
    // route's dispatch with it; closed, its link reconnects and the message goes again.
    let bound = link.config.response_timeout.saturating_mul(2);
    let queued = tokio::time::timeout(bound, session.queue_request(Body::SubmitSm(pdu)));
    let Some(queued) = taken(queued.await, id, &link, &session, bound) else {
        drop(ticket);
        cursor.left_behind.mark();
        return Step::Passed;
    };
    // While the window has room, the next message goes without waiting for this one's
    // write (the session then writes several at once); once it is full, each waits its turn
    // here, so that the throughput caps above meter what goes out, not what piles up.
    let queued = if session.has_room() {
        Submit::Queued(queued)
    } else {
        let written = tokio::time::timeout(bound, queued.written()).await;
        match taken(written, id, &link, &session, bound) {
            Some(pending) => {
                ticket.written();
                Submit::Written(pending)
            }
            None => {
                drop(ticket);
                cursor.left_behind.mark();
                return Step::Passed;
            }
        }
    };
    lock(in_flight).insert(id);
    let (carriers, in_flight) = (carriers.clone(), in_flight.clone());
    let left_behind = cursor.left_behind.clone();
    tokio::spawn(async move {
        let pending = match queued {
            Submit::Written(pending) => Some(pending),
            Submit::Queued(queued) => match tokio::time::timeout(bound, queued.written()).await {
                Ok(Ok(pending)) => {
                    ticket.written();
                    Some(pending)
                }
                // Never written: still queued, it goes again without using up an attempt.
                Ok(Err(_)) => None,
                Err(_) => {
                    wedged(&link, &session, bound);
                    None
                }
            },
        };
        let still_queued = match pending {
            Some(pending) => {
                // The session's window times the answer out; this bound only keeps a wedged
                // session from holding the message forever (it then goes again: at least
                // once).
                let answer = tokio::time::timeout(bound, pending.answer())
                    .await
                    .unwrap_or(Err(crate::session::RequestError::Timeout));
                let sent = Sent {
                    id,
                    attempts,
                    awaits_receipt,
                    marketed,
                };
                settle(&carriers, &link, &mut ticket, sent, answer).await
            }
            None => true,
        };
        // Only now: a receipt that came early waits while this is unanswered, and the
        // carrier id it needs is recorded by `settle`. Receipts that waited for this and
        // older submits look again.
        drop(ticket);
        lock(&in_flight).remove(&id);
        // After it is out of `in_flight`: the pass this calls back must not skip it.
        if still_queued {
            left_behind.mark();
        }
    });
    Step::Sent
}

/// A submit handed to a session: written already, or still queued there.
enum Submit {
    Written(crate::session::PendingAnswer),
    Queued(crate::session::Queued),
}

/// What became of a submit handed to a session within `bound`: `None` (the message, still
/// queued, goes again) if the session ended first or took nothing for that long.
fn taken<T>(
    outcome: Result<Result<T, crate::session::RequestError>, tokio::time::error::Elapsed>,
    id: MessageId,
    link: &Link,
    session: &crate::session::SessionHandle,
    bound: Duration,
) -> Option<T> {
    let failed = match outcome {
        Ok(Ok(taken)) => return Some(taken),
        Ok(Err(e)) => e.to_string(),
        Err(_) => {
            wedged(link, session, bound);
            format!("no submit taken for {bound:?}")
        }
    };
    tracing::debug!(%id, carrier = link.name(), error = %failed, "the submit did not go out");
    None
}

/// A carrier session that took no submit for `bound`: closed, so that its link reconnects.
fn wedged(link: &Link, session: &crate::session::SessionHandle, bound: Duration) {
    tracing::warn!(
        carrier = link.name(),
        session = session.id(),
        "a carrier session took no submit for {bound:?}; closing it"
    );
    session.close();
}

/// One submit of a message, as the task that waits for its answer knows it.
struct Sent {
    id: MessageId,
    /// Attempts before this one.
    attempts: u32,
    /// Whether the carrier was asked for a receipt: if not, the message ends SENT once it is
    /// accepted.
    awaits_receipt: bool,
    /// Marketing from a shared short code: indexed with the acceptance.
    marketed: Option<consent::Marketed>,
}

/// Records what the carrier said about one submit (`ticket` moves to recording while the
/// carrier id is stored). True if the message is still in its queue (to go again), false if it
/// left it (accepted or ended).
async fn settle(
    carriers: &Carriers,
    link: &Link,
    ticket: &mut SubmitTicket,
    sent: Sent,
    answer: crate::session::Answer,
) -> bool {
    let Sent {
        id,
        attempts,
        awaits_receipt,
        marketed,
    } = sent;
    let status = match &answer {
        Ok(resp) => resp.command_status,
        Err(_) => CommandStatus::ESME_RSYSERR,
    };
    if let Ok(resp) = &answer {
        if let (true, Body::SubmitSmResp(r)) = (status.is_ok(), &resp.body) {
            link.recovered();
            let carrier_id = r.message_id.to_string_lossy();
            tracing::debug!(%id, carrier = link.name(), %carrier_id, "accepted by the carrier");
            ticket.recording();
            return match carriers
                .store
                .record_dispatch(id, link.name(), &carrier_id, awaits_receipt, marketed)
                .await
            {
                Ok(message) => {
                    link.early.recorded(&carrier_id);
                    if let Some(handoff) = carriers.handoff() {
                        // Out of the engine's queue only once a carrier took it.
                        handoff.dispatched(&message).await;
                    }
                    telemetry::sent(&message);
                    // Ended SENT: nothing more comes of it.
                    telemetry::ended(&message);
                    false
                }
                // Ended meanwhile (cancelled, say): out of the queue all the same.
                Err(crate::store::Error::Final { .. }) => false,
                Err(e) => {
                    tracing::warn!(%id, error = %e, "cannot record a dispatch");
                    true
                }
            };
        }
    }
    if answer.is_err() && link.is_retired() {
        // A reload removed or replaced the link before the carrier answered: not the message's
        // fault. Still queued, it goes again on its route's carriers without using up an
        // attempt, as after a restart.
        tracing::debug!(%id, carrier = link.name(), "link retired before its answer; sent again");
        return true;
    }
    if matches!(
        status,
        CommandStatus::ESME_RTHROTTLED | CommandStatus::ESME_RMSGQFUL
    ) && answer.is_ok()
    {
        // Not the message's fault: the link pauses (the dispatcher waits for it) and the message,
        // still queued, goes again after the pause without using up an attempt.
        link.slow_down();
        return true;
    }
    let attempts = attempts + 1;
    if link.config.is_transient(status) || answer.is_err() {
        if attempts >= link.config.max_attempts.get() {
            let detail = format!("{} after {attempts} attempts", status);
            end(carriers, id, State::Undeliverable, &detail, status.0).await;
            return false;
        }
        let backoff = retry_delay(&link.config, attempts);
        let detail = match &answer {
            Ok(_) => format!("{} from {}; retry in {backoff:?}", status, link.name()),
            Err(e) => format!("{e} on {}; retry in {backoff:?}", link.name()),
        };
        let due = now_ms() + i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX);
        let retried = carriers
            .store
            .update(id, move |m| {
                m.attempts = attempts;
                m.schedule_at = Some(due);
                m.history.push(Event {
                    at: now_ms(),
                    state: m.state,
                    detail,
                });
                Ok(())
            })
            .await;
        if let Err(e) = retried {
            tracing::warn!(%id, error = %e, "cannot schedule a retry");
        }
        return true;
    }
    let detail = format!("{} from {}", status, link.name());
    end(carriers, id, State::Rejected, &detail, status.0).await;
    false
}

/// Ends a message inside the gateway, with the receipt its client asked for in the same commit.
async fn end(carriers: &Carriers, id: MessageId, state: State, detail: &str, err: u32) {
    let detail = detail.to_owned();
    let ended = carriers.outboxes.end(id, state, |_| detail, err).await;
    if let Err(e) = ended {
        tracing::warn!(%id, error = %e, "cannot end a message");
    }
}

/// `retry_min` doubled per attempt, at most `retry_max`.
fn retry_delay(config: &crate::config::CarrierConfig, attempts: u32) -> Duration {
    Backoff::nth(config.retry_min, config.retry_max, attempts)
}

/// The submit_sm that carries `message` to `link`.
fn submit_sm(message: &Message, link: &Link) -> SubmitSm {
    let config = &link.config;
    let mut tlvs = Tlvs::new();
    for (tag, value) in &message.tlvs {
        if let Ok(tlv) = Tlv::from_raw(Tag(*tag), bytes::Bytes::copy_from_slice(value)) {
            tlvs.push(tlv);
        }
    }
    let source_ton = config.default_source_ton.unwrap_or(message.source.ton);
    let source_npi = config.default_source_npi.unwrap_or(message.source.npi);
    let dest_ton = config.default_dest_ton.unwrap_or(message.destination.ton);
    let dest_npi = config.default_dest_npi.unwrap_or(message.destination.npi);
    SubmitSm {
        service_type: message.service_type.as_str().try_into().unwrap_or_default(),
        source: Address::new(
            source_ton,
            source_npi,
            message.source.addr.as_str().try_into().unwrap_or_default(),
        ),
        destination: Address::new(
            dest_ton,
            dest_npi,
            message
                .destination
                .addr
                .as_str()
                .try_into()
                .unwrap_or_default(),
        ),
        esm_class: message.esm_class,
        protocol_id: message.protocol_id,
        priority_flag: message.priority_flag,
        // Schedules are kept by the gateway; validity travels as an absolute UTC time.
        schedule_delivery_time: smpp_proto::COctetString::empty(),
        validity_period: message
            .expire_at
            .and_then(|at| smpp_proto::time::SmppTime::from_utc_epoch(at.div_euclid(1000)))
            .and_then(|t| smpp_proto::COctetString::new(t.to_bytes().to_vec()).ok())
            .unwrap_or_default(),
        // A final receipt for the final state, unless the link asks only for those its clients
        // asked for; intermediate notifications if the client asked and the link passes them.
        registered_delivery: config.registered_delivery_for(message.registered_delivery),
        replace_if_present_flag: message.replace_if_present_flag,
        data_coding: message.data_coding,
        sm_default_msg_id: 0,
        short_message: ShortMessage::new(message.short_message.clone()).unwrap_or_default(),
        tlvs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_at_the_end_goes_back_to_the_head_only_for_a_message_left_behind() {
        let mut cursor = Cursor::new();
        cursor.at = 40;
        // Nothing left behind: only new entries, from where the pass stopped.
        cursor.reached_end(1_000);
        assert_eq!(cursor.at, 40);

        // A submit ended with its message still queued.
        cursor.left_behind.mark();
        cursor.reached_end(1_000);
        assert_eq!(cursor.at, 0);
        cursor.at = 50;
        cursor.reached_end(1_000);
        assert_eq!(cursor.at, 50, "the flag is taken once");

        // A scheduled message, at its time and not before.
        cursor.due_at(5_000);
        cursor.due_at(3_000);
        cursor.reached_end(2_999);
        assert_eq!(cursor.at, 50);
        cursor.reached_end(3_000);
        assert_eq!(cursor.at, 0);
        cursor.at = 60;
        cursor.reached_end(4_000);
        assert_eq!(
            cursor.at, 60,
            "the pass from the head notes the later one again"
        );

        // Whatever else: at least once every REWIND.
        cursor.rewound = Instant::now().checked_sub(REWIND).unwrap();
        cursor.reached_end(4_000);
        assert_eq!(cursor.at, 0);
    }
}
