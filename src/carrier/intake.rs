//! What carriers send us: delivery receipts, matched to the gateway message whatever the
//! carrier did to the id (hex vs decimal, zero padding, case), and MO, handed to `mo.rs`. The
//! carrier gets deliver_sm_resp only once the store has what it said.

use crate::carrier::{Carriers, Link};
use crate::message::{now_ms, MessageId, State};
use crate::outbox::report;
use crate::session::{Reply, Service, SessionInfo};
use crate::telemetry;
use smpp_proto::pdu::{esm_class, DataSm, MessageIdResp, SubmitSm};
use smpp_proto::{receipt, Body, CommandStatus, MessageState, Pdu};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a receipt whose id is unknown waits for the submit_sm_resp that will make it known
/// (carriers may send the receipt first).
const EARLY_RECEIPT_WAIT: Duration = Duration::from_secs(10);

/// The service of a carrier session: receipts and MO in.
pub(crate) struct Intake {
    pub(super) carriers: Arc<Carriers>,
    pub(super) link: Arc<Link>,
    /// Carrier ids of receipts that matched none of the link's dispatches ([`Match::Unknown`])
    /// the first time they came: refused once, answered OK the next ([`Intake::unknown`]).
    /// Bounded; cleared when full.
    unknown: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Receipts waiting in [`Intake::find`] now.
    waiting: AtomicUsize,
}

/// What a receipt's carrier id led to ([`Intake::find`]).
enum Match {
    /// The message it is about.
    Found(MessageId),
    /// None of the link's dispatches: every submit written before the receipt came is
    /// settled, and none of them recorded the id.
    Unknown,
    /// Not recorded, while a submit written before the receipt came is still unanswered: the
    /// receipt could not wait for it (no room left, or not that long). Its id may still be
    /// recorded, so this says nothing about whether it is known.
    NotYet,
}

/// A receipt counted in [`Intake::waiting`] while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    /// Counts one more waiting receipt, unless `max` are waiting already.
    fn enter(count: &'a AtomicUsize, max: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Unknown receipt ids remembered at most; beyond, the set starts over.
const UNKNOWN_IDS: usize = 10_000;

impl Intake {
    pub(crate) fn new(carriers: Arc<Carriers>, link: Arc<Link>) -> Self {
        Self {
            carriers,
            link,
            unknown: std::sync::Mutex::default(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// A deliver_sm, or a data_sm seen as one: a receipt (final or intermediate) or an MO. The
    /// status answers it.
    async fn deliver(&self, sm: &SubmitSm) -> CommandStatus {
        if esm_class::is_receipt(sm.esm_class)
            || esm_class::is_intermediate_notification(sm.esm_class)
        {
            self.receipt(sm).await
        } else {
            self.mo(sm).await
        }
    }

    /// Matches and records a receipt; the status answers the carrier.
    async fn receipt(&self, sm: &SubmitSm) -> CommandStatus {
        // Some carriers put the receipt text in message_payload.
        let text = receipt::parse_bytes(&sm.user_data()).ok();
        let carrier_id = sm
            .tlvs
            .receipted_message_id()
            .map(str::to_owned)
            .or_else(|| text.as_ref().map(|r| r.id.clone()));
        let Some(carrier_id) = carrier_id else {
            tracing::warn!(carrier = %self.link.name(), "receipt without a message id");
            return CommandStatus::ESME_ROK;
        };
        let state = sm
            .tlvs
            .message_state()
            .or_else(|| text.as_ref().and_then(receipt::Receipt::state))
            .unwrap_or(MessageState::UNKNOWN);
        let err = text
            .as_ref()
            .and_then(receipt::Receipt::err_code)
            .unwrap_or(0);
        let id = match self.find(&carrier_id).await {
            Match::Found(id) => id,
            // Its dispatch may still be recorded: refused as often as it comes until then, it
            // is never taken for unknown.
            Match::NotYet => {
                tracing::debug!(carrier = %self.link.name(), %carrier_id, "receipt for an id not recorded yet; the carrier is asked to resend it");
                return CommandStatus::ESME_RX_T_APPN;
            }
            Match::Unknown => match self.in_engine(&carrier_id).await {
                Match::Found(id) => id,
                Match::NotYet => return CommandStatus::ESME_RX_T_APPN,
                Match::Unknown => return self.unknown(&carrier_id),
            },
        };
        // An intermediate notification, or a receipt whose state is not final (ENROUTE), tells
        // how the message fares without ending it.
        let intermediate =
            esm_class::is_intermediate_notification(sm.esm_class) || !state_of(state).is_final();
        let (next, kind) = if intermediate {
            (State::Enroute, "intermediate notification")
        } else {
            (state_of(state), "receipt")
        };
        let detail = format!("{kind} from {}: {} err:{err}", self.link.name(), state);
        // The client's receipt is made here, from the message as it is and the state it is about
        // to get, rather than in the push closure: that runs on the commit thread, which every
        // writer waits for, and formatting a receipt was a tenth of its work.
        let at = now_ms();
        let relay = self.link.config.intermediate_notifications;
        let item = match self.carriers.store.stored(id) {
            Ok(Some(now)) if now.state.can_become(next) => {
                if intermediate {
                    report::intermediate_item(&now, state, at, err, relay)
                } else {
                    report::ended_receipt_item(&now, next, at, err)
                }
            }
            _ => None,
        };
        // The new state and the client's receipt in one commit: the carrier's deliver_sm_resp
        // waits for both, and a crash keeps both or neither.
        let updated = self
            .carriers
            .store
            .update_and_push_outbox(
                id,
                move |m| m.transition(next, at, detail),
                move |m| {
                    if intermediate {
                        // Made from fields that never change, and `state` and `at`.
                        item.or_else(|| report::intermediate_item(m, state, at, err, relay))
                    } else if m.state == next && next.is_final() {
                        // What `receipt_item(m, err)` would make: it reads only fields that never
                        // change, and the state and its time, the same `next` and `at` here.
                        item.or_else(|| report::receipt_item(m, err))
                    } else {
                        None
                    }
                },
            )
            .await;
        match updated {
            Ok((message, _)) => {
                tracing::debug!(%id, carrier = %self.link.name(), %state, "receipt recorded");
                if let Some(handoff) = self.carriers.handoff().filter(|_| message.state.is_final())
                {
                    handoff.ended(&message).await;
                }
                telemetry::receipt(self.link.name(), state, &message);
                CommandStatus::ESME_ROK
            }
            // A late or repeated receipt for a message that has ended changes nothing.
            Err(crate::store::Error::Final { .. }) => CommandStatus::ESME_ROK,
            Err(e) => {
                tracing::error!(error = %e, %id, "cannot record a receipt");
                // Temporary failure: the carrier keeps the receipt and retries.
                CommandStatus::ESME_RX_T_APPN
            }
        }
    }

    /// Cluster mode: the message an earlier owner of the link's group sent as `carrier_id`,
    /// taken into this node's store. `NotYet` when the engine cannot be read now (the carrier
    /// is asked to send the receipt again), `Unknown` on a single node or when the engine
    /// does not know it either.
    async fn in_engine(&self, carrier_id: &str) -> Match {
        let Some(handoff) = self.carriers.handoff() else {
            return Match::Unknown;
        };
        let exact = carrier_id.trim();
        let mut forms = vec![exact.to_owned()];
        forms.extend(id_forms(exact, self.link.config.receipt_id_format));
        forms.dedup();
        for form in &forms {
            match handoff.carrier_id(self.link.name(), form).await {
                Ok(Some(message)) => {
                    return match self.carriers.store.adopt(message).await {
                        Ok(id) => Match::Found(id),
                        Err(crate::store::Error::Final { id, .. }) => Match::Found(id),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot take in a message sent by another node");
                            Match::NotYet
                        }
                    };
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, carrier = %self.link.name(), "cannot read the engine's carrier ids");
                    return Match::NotYet;
                }
            }
        }
        Match::Unknown
    }

    /// A receipt for an id none of this link's dispatches recorded: refused the first time
    /// (carriers send a refused receipt again later), answered OK the second, since refusing
    /// again would make the carrier resend it forever.
    fn unknown(&self, carrier_id: &str) -> CommandStatus {
        let first_time = {
            let mut unknown = crate::sync::lock(&self.unknown);
            if unknown.len() >= UNKNOWN_IDS {
                unknown.clear();
            }
            let first_time = unknown.insert(carrier_id.to_owned());
            if !first_time {
                unknown.remove(carrier_id);
            }
            first_time
        };
        if first_time {
            tracing::debug!(carrier = %self.link.name(), %carrier_id, "receipt for an unknown id; the carrier is asked to resend it once");
            return CommandStatus::ESME_RX_T_APPN;
        }
        tracing::warn!(
            carrier = %self.link.name(), carrier_id = %carrier_id,
            "receipt for an unknown message id"
        );
        CommandStatus::ESME_ROK
    }

    /// The gateway id for a carrier id, trying the forms carriers turn ids into; waits a while
    /// for a submit_sm_resp still on its way.
    async fn find(&self, carrier_id: &str) -> Match {
        // Only a submit written before this receipt came can be the one it belongs to: once
        // all of those are settled, an id still unknown stays so (its submit_sm_resp was lost
        // with a connection, or came after our timeout). Waiting for newer submits too, as
        // there always are under load, held each such receipt the whole EARLY_RECEIPT_WAIT.
        let horizon = self.link.ticket_horizon();
        // The exact form first: what nearly every receipt carries.
        let exact = carrier_id.trim();
        if let Some(id) = self.lookup([exact]) {
            return Match::Found(id);
        }
        let forms = id_forms(exact, self.link.config.receipt_id_format);
        if let Some(found) = self.look(&forms, horizon) {
            return found;
        }
        // A waiting receipt holds a slot of the session's window, and a session whose window
        // is full stops reading, submit_sm_resps included: the very answers the receipts may
        // wait for. One slot is always left to requests that do not wait, so that reading goes
        // on; a receipt beyond is asked for again.
        let max = self.link.config.window.get() - 1;
        let Some(_waiting) = Waiting::enter(&self.waiting, max) else {
            return Match::NotYet;
        };
        let registration = self.link.early.register(&forms, horizon);
        let deadline = tokio::time::Instant::now() + EARLY_RECEIPT_WAIT;
        loop {
            if let Some(found) = self.look(&forms, horizon) {
                return found;
            }
            if tokio::time::timeout_at(deadline, registration.woken())
                .await
                .is_err()
            {
                return Match::NotYet;
            }
        }
    }

    /// What a receipt in any of `forms`, read when `horizon` was the next submit's ticket,
    /// matches now; `None` while a submit older than the receipt is unanswered and none of
    /// the forms is recorded (that submit's may be the one).
    fn look(&self, forms: &[String], horizon: u64) -> Option<Match> {
        // Asked before the lookup, not after: a submit's carrier id is recorded before its
        // ticket is settled (`dispatch::settle`), so when none older than the receipt is
        // unanswered here, the lookup below finds every id those submits recorded. Asked
        // after, a dispatch recorded between the lookup and the question was taken for unknown.
        let older_unanswered = self.link.unanswered_before(horizon);
        match self.lookup(forms.iter().map(String::as_str)) {
            Some(id) => Some(Match::Found(id)),
            None if older_unanswered => None,
            None => Some(Match::Unknown),
        }
    }

    /// The gateway id recorded for the first of `forms` this link knows.
    fn lookup<'a>(&self, forms: impl IntoIterator<Item = &'a str>) -> Option<MessageId> {
        forms.into_iter().find_map(|form| {
            self.carriers
                .store
                .by_carrier_id(self.link.name(), form)
                .ok()
                .flatten()
        })
    }
}

impl Service for Intake {
    async fn request(&self, _session: Arc<SessionInfo>, pdu: Pdu) -> Reply {
        let seq = pdu.sequence_number;
        match &pdu.body {
            Body::DeliverSm(sm) => {
                let status = self.deliver(sm).await;
                let body = Body::DeliverSmResp(MessageIdResp::default());
                Reply::Respond(Pdu::with_status(seq, status, body))
            }
            // SMPP 3.4 §4.7: a carrier may send receipts and MO as data_sm, content in TLVs.
            Body::DataSm(data) => {
                let status = self.deliver(&as_deliver_sm(data)).await;
                let body = Body::DataSmResp(MessageIdResp::default());
                Reply::Respond(Pdu::with_status(seq, status, body))
            }
            _ => match pdu.response_with_status(CommandStatus::ESME_RINVBNDSTS) {
                Some(resp) => Reply::Respond(resp),
                None => Reply::Nothing,
            },
        }
    }

    fn closed(&self, _session: &SessionInfo) {}
}

/// A data_sm in the shape of the deliver_sm it stands for (its text stays in message_payload).
fn as_deliver_sm(data: &DataSm) -> SubmitSm {
    // data_sm addresses may be up to 64 characters; deliver_sm's 20 hold every real one.
    let narrow = |address: &smpp_proto::pdu::Address<65>| {
        let addr = smpp_proto::COctetString::new(address.addr.to_bytes()).unwrap_or_default();
        smpp_proto::pdu::Address::new(address.ton, address.npi, addr)
    };
    SubmitSm {
        service_type: data.service_type.clone(),
        source: narrow(&data.source),
        destination: narrow(&data.destination),
        esm_class: data.esm_class,
        registered_delivery: data.registered_delivery,
        data_coding: data.data_coding,
        tlvs: data.tlvs.clone(),
        ..SubmitSm::default()
    }
}

/// The gateway state a carrier's message_state means.
fn state_of(state: MessageState) -> State {
    match state {
        MessageState::DELIVERED => State::Delivered,
        MessageState::EXPIRED => State::Expired,
        MessageState::DELETED => State::Deleted,
        MessageState::UNDELIVERABLE => State::Undeliverable,
        MessageState::ACCEPTED => State::Accepted,
        MessageState::REJECTED => State::Rejected,
        MessageState::ENROUTE | MessageState::SCHEDULED => State::Enroute,
        _ => State::Unknown,
    }
}

/// The forms a carrier id may have taken between submit_sm_resp and receipt: as is, other
/// case, without leading zeros, and the other base (hex ↔ decimal), per the link's setting.
fn id_forms(id: &str, format: crate::config::IdFormat) -> Vec<String> {
    use crate::config::IdFormat;
    let id = id.trim();
    let mut forms = vec![
        id.to_owned(),
        id.to_ascii_lowercase(),
        id.to_ascii_uppercase(),
    ];
    let stripped = id.trim_start_matches('0');
    if !stripped.is_empty() && stripped != id {
        forms.push(stripped.to_owned());
        forms.push(stripped.to_ascii_lowercase());
    }
    // A decimal receipt id for a hex response id, and the other way round.
    if matches!(format, IdFormat::Auto | IdFormat::Decimal) {
        if let Ok(n) = id.parse::<u128>() {
            forms.push(format!("{n:x}"));
            forms.push(format!("{n:X}"));
        }
    }
    if matches!(format, IdFormat::Auto | IdFormat::Hex) {
        if let Ok(n) = u128::from_str_radix(id, 16) {
            forms.push(n.to_string());
        }
    }
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IdFormat;
    use crate::live::Live;
    use crate::message::Message;
    use crate::outbox::Outboxes;
    use crate::store::Store;
    use smpp_proto::Tlv;
    use tokio_util::sync::CancellationToken;

    /// A gateway's carrier side without its tasks: a store in `dir`, link "c" with a window
    /// of 2 (one receipt may wait for its carrier id), and its intake.
    fn intake(dir: &tempfile::TempDir) -> (Store, Arc<Link>, Arc<Intake>) {
        let mut config = crate::config::Config::parse(
            "[[carriers]]\nname = \"c\"\nhost = \"127.0.0.1\"\nport = 2776\n\
             system_id = \"s\"\npassword = \"p\"\nwindow = 2\n",
        )
        .unwrap();
        config.store.path = dir.path().join("store");
        config.store.min_free_space = 0;
        let store = Store::open(&config.store).unwrap();
        let outboxes = Outboxes::new(store.clone(), CancellationToken::new());
        let live = Live::new(Arc::new(config));
        let carriers = Carriers::new(live, store.clone(), outboxes, Arc::default()).unwrap();
        let link = carriers.link("c").unwrap();
        let intake = Arc::new(Intake::new(carriers, Arc::clone(&link)));
        (store, link, intake)
    }

    /// The carrier's receipt for `carrier_id`: delivered.
    fn receipt_for(carrier_id: &str) -> SubmitSm {
        let mut sm = SubmitSm {
            esm_class: esm_class::DELIVERY_RECEIPT,
            ..SubmitSm::default()
        };
        sm.tlvs.push(Tlv::receipted_message_id(carrier_id).unwrap());
        sm.tlvs.push(Tlv::message_state(MessageState::DELIVERED));
        sm
    }

    /// Lets the intake's other tasks run until `n` receipts wait for their carrier id.
    async fn until_waiting(intake: &Intake, n: usize) {
        while intake.waiting.load(Ordering::Acquire) != n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_receipt_that_found_no_room_to_wait_is_asked_for_until_its_id_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (store, link, intake) = intake(&dir);
        let message = Message::example(store.allocate_id());
        let id = message.id;
        store.accept(vec![message]).await.unwrap();
        // Its submit is out: the carrier accepted it as "a1", and its receipt comes before
        // the gateway has recorded that.
        let mut ticket = link.submit_started();
        ticket.written();
        // Another receipt, whose submit's answer was lost, holds the one place to wait.
        let orphan = tokio::spawn({
            let intake = Arc::clone(&intake);
            async move { intake.receipt(&receipt_for("b2")).await }
        });
        until_waiting(&intake, 1).await;
        // The receipt finds no room to wait, and is refused; the carrier sends it again a
        // moment later, and the dispatch is still not recorded (a slow commit, say).
        let early = receipt_for("a1");
        assert_eq!(intake.receipt(&early).await, CommandStatus::ESME_RX_T_APPN);
        assert_eq!(
            intake.receipt(&early).await,
            CommandStatus::ESME_RX_T_APPN,
            "a receipt whose submit is still unanswered was acknowledged: the carrier drops it"
        );
        // The dispatch is recorded, as `dispatch::settle` does it, and its ticket settled.
        ticket.recording();
        store
            .record_dispatch(id, "c", "a1", true, None)
            .await
            .unwrap();
        link.early.recorded("a1");
        drop(ticket);
        // Every submit before it settled: the other one is unknown now.
        assert_eq!(orphan.await.unwrap(), CommandStatus::ESME_RX_T_APPN);
        // The carrier's next try is matched.
        assert_eq!(intake.receipt(&early).await, CommandStatus::ESME_ROK);
        let stored = store.stored(id).unwrap().unwrap();
        assert_eq!(stored.state, State::Delivered);
    }

    #[test]
    fn at_most_max_receipts_wait() {
        let count = AtomicUsize::new(0);
        let first = Waiting::enter(&count, 2).unwrap();
        let _second = Waiting::enter(&count, 2).unwrap();
        assert!(Waiting::enter(&count, 2).is_none());
        drop(first);
        assert!(Waiting::enter(&count, 2).is_some());
        assert_eq!(count.load(Ordering::Acquire), 1);
    }

    #[test]
    fn id_forms_cover_carrier_quirks() {
        let forms = id_forms("0268435456", IdFormat::Auto);
        assert!(forms.contains(&"10000000".to_owned()), "{forms:?}");
        assert!(forms.contains(&"268435456".to_owned()));
        let forms = id_forms("1A2B", IdFormat::Auto);
        assert!(forms.contains(&"1a2b".to_owned()));
        assert!(forms.contains(&"6699".to_owned()));
        assert!(!id_forms("268435456", IdFormat::Hex).contains(&"10000000".to_owned()));
    }
}
