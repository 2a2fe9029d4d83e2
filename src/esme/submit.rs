//! Submits: submit_sm, data_sm and submit_multi from a bound client. Each is throttled by the
//! client's cap, refused while the client's outbox is full, validated (`validate`), sent as
//! GSM 7-bit if the client asks and its UCS-2 text allows (`transliterate`), routed, stored
//! durably and only then answered with its message id.
//!
//! The `Service` impl in `mod.rs` calls `submit_sm`, `data_sm` and `submit_multi`.

use super::transliterate;
use super::validate::{validate, Submission};
use super::{EsmeService, DEFAULT_ROUTE};
use crate::config::{ClientConfig, Config, OnSuppressed, RequireMention};
use crate::consent::{self, ConsentEvent};
use crate::idempotency::Recorded;
use crate::message::{Address, Class, Event, Message, MessageId, State};
use crate::session::SessionInfo;
use crate::telemetry::{self, Bound, Scope};
use crate::{sender, sending_hours};
use smpp_proto::pdu::{
    DataSm, DestAddress, MessageIdResp, SubmitMulti, SubmitMultiResp, SubmitSm, UnsuccessSme,
};
use smpp_proto::{Body, CommandStatus, Pdu, Tlvs};

/// What a send of one message's parts would do, from [`EsmeService::preview_parts`].
pub(crate) struct Preview {
    /// The messages a send would store (without ids), routed and held for their sending
    /// window.
    pub(crate) messages: Vec<Message>,
    /// The hold of a message whose validity ends before its window opens: a send would
    /// accept it only to end it EXPIRED.
    pub(crate) too_late: Option<sending_hours::Hold>,
    /// The destination's opt-out in the messages' scope (by default the client's list),
    /// whether or not it holds them back.
    pub(crate) opt_out: Option<ConsentEvent>,
    /// What consent makes of them at accept: refused with this status (`require_mention`,
    /// `on_suppressed` "refuse"), accepted only to end REJECTED (`true`), or sent (`false`).
    pub(crate) consent: Result<bool, CommandStatus>,
}

/// Messages given their ids, routes and holds, to be stored in one commit.
struct Prepared {
    messages: Vec<Message>,
    /// Those whose validity ends before their sending window opens, with the hold.
    too_late: Vec<(MessageId, sending_hours::Hold)>,
    /// The windows that hold the others, one per message held (for the metrics).
    held: Vec<String>,
}

/// The [`Submission`] of a submit_sm or submit_multi (same fields from `esm_class` on) for one
/// destination.
macro_rules! submission_of {
    ($sm:expr, $destination:expr) => {
        Submission {
            service_type: $sm.service_type.to_string_lossy(),
            source: Address::from(&$sm.source),
            destination: $destination,
            esm_class: $sm.esm_class,
            protocol_id: $sm.protocol_id,
            priority_flag: $sm.priority_flag,
            schedule_delivery_time: $sm.schedule_delivery_time.as_bytes(),
            validity_period: $sm.validity_period.as_bytes(),
            registered_delivery: $sm.registered_delivery,
            replace_if_present_flag: $sm.replace_if_present_flag,
            data_coding: $sm.data_coding,
            sm_default_msg_id: $sm.sm_default_msg_id,
            short_message: $sm.short_message.as_bytes(),
            tlvs: &$sm.tlvs,
        }
    };
}

impl EsmeService {
    fn throttled(&self, client: &ClientConfig, messages: u32) -> bool {
        let live = self.live.load();
        let Some(limiter) = live.client_caps.get(&client.system_id) else {
            return false;
        };
        let Some(n) = std::num::NonZeroU32::new(messages) else {
            return false;
        };
        // Cluster mode: this node's share of the cap, once the cluster has set it.
        let throttled = match self.shares.get(&client.system_id) {
            Some(share) => !matches!(share.1.check_n(n), Ok(Ok(()))),
            None => !matches!(limiter.check_n(n), Ok(Ok(()))),
        };
        if throttled {
            telemetry::throttled(Scope::Client, &client.system_id);
        }
        throttled
    }

    /// A client whose receipts pile up unread gets ESME_RMSGQFUL until it reads them: each
    /// message it sends would add one more.
    fn check_outbox(&self, client: &ClientConfig) -> Result<(), CommandStatus> {
        if self.outboxes.is_full(client) {
            tracing::debug!(client = %client.system_id, "outbox full; submit refused");
            telemetry::refused_full(Bound::ClientOutbox, &client.system_id);
            return Err(CommandStatus::ESME_RMSGQFUL);
        }
        Ok(())
    }

    /// Assigns ids, stores durably, and only then answers (a message id is a promise).
    ///
    /// While the disk is nearly full (`[store] min_free_space`) every new message is refused with
    /// ESME_RMSGQFUL: a transient status, so clients retry later, and no id is given. A store
    /// that fails the write answers ESME_RSYSERR, with no id either: nothing of that group
    /// commit is acknowledged (the gateway then exits to be restarted, see `Store::failed`).
    async fn accept(
        &self,
        client: &ClientConfig,
        messages: Vec<Message>,
    ) -> Result<Vec<MessageId>, CommandStatus> {
        let prepared = self.prepare(messages)?;
        let ids = prepared.messages.iter().map(|m| m.id).collect();
        self.commit(client, prepared, None).await?;
        Ok(ids)
    }

    /// Gives `messages` consecutive ids (the parts of one message: the first id names them
    /// all), their route, and their hold for a sending window.
    fn prepare(&self, mut messages: Vec<Message>) -> Result<Prepared, CommandStatus> {
        if self.store.refuses_new() {
            return Err(CommandStatus::ESME_RMSGQFUL);
        }
        let config = self.config();
        let now = crate::message::now_ms();
        let first = match self.handoff.get() {
            Some(handoff) => handoff
                .allocate_ids(messages.len())
                .ok_or(CommandStatus::ESME_RSYSERR)?,
            None => self.store.allocate_ids(messages.len()),
        }
        .as_u64();
        // Messages whose validity ends before their sending window opens: ended at once.
        let mut too_late = Vec::new();
        let mut held = Vec::new();
        for (n, message) in (0..).zip(&mut messages) {
            message.route = self.route_of(message)?;
            message.id = MessageId::new(first + n);
            match hold_for_window(&config, message, now) {
                Some(WindowHold::TooLate(hold)) => too_late.push((message.id, hold)),
                Some(WindowHold::Held(window)) => held.push(window),
                None => {}
            }
        }
        Ok(Prepared {
            messages,
            too_late,
            held,
        })
    }

    /// The messages `submissions` make for `client`, each checked as a bound client's
    /// submit_sm is (`validate`: fields, class and labels, sender rules).
    fn check_parts(
        client: &ClientConfig,
        config: &Config,
        submissions: &[Submission<'_>],
        now: i64,
    ) -> Result<Vec<Message>, CommandStatus> {
        submissions
            .iter()
            .map(|submission| validate(client, sender::Rules::of(config), submission, now))
            .collect()
    }

    /// What [`Self::submit_parts`] would make of the parts of one message, with nothing
    /// stored or sent: refused as a send would be for what the messages are (validation, no
    /// route), else the messages with their route and their hold for a sending window (the
    /// hold of one whose validity ends before its window opens, returned: a send would end
    /// it EXPIRED at once). Nothing is taken from the client's caps, outbox or route queues,
    /// nothing is counted, and what consent would do is returned, not refused: a preview
    /// reports it.
    pub(crate) fn preview_parts(
        &self,
        client: &ClientConfig,
        submissions: &[Submission<'_>],
    ) -> Result<Preview, CommandStatus> {
        let config = self.config();
        let now = crate::message::now_ms();
        let mut messages = Self::check_parts(client, &config, submissions, now)?;
        let mut too_late = None;
        for message in &mut messages {
            message.route = self.route_for(message)?.0;
            if let Some(WindowHold::TooLate(hold)) = hold_for_window(&config, message, now) {
                too_late.get_or_insert(hold);
            }
        }
        // The parts share destination, sender and class: one list to read.
        let first = messages.first().ok_or(CommandStatus::ESME_RSYSERR)?;
        let opt_out = self.store.opted_out(&config, first).map_err(|e| {
            tracing::error!(error = %e, "cannot read the suppression list");
            CommandStatus::ESME_RSYSERR
        })?;
        // As `consent_at_accept` decides, counting nothing: the mention first, then the list.
        let mention = messages
            .iter()
            .any(|m| consent::misses_mention(&config.consent, m));
        let consent = match (mention, config.consent.require_mention) {
            (true, RequireMention::Refuse(status)) => Err(status),
            _ if opt_out.is_some() && consent::applies(&config.consent, first.class) => {
                match config.consent.on_suppressed {
                    OnSuppressed::Refuse(status) => Err(status),
                    OnSuppressed::Receipt => Ok(true),
                }
            }
            _ => Ok(false),
        };
        Ok(Preview {
            messages,
            too_late,
            opt_out,
            consent,
        })
    }

    /// Stores prepared messages in one commit, with the answer kept for an idempotency key
    /// (`idempotent`: the key and the answer) if there is one.
    async fn commit(
        &self,
        client: &ClientConfig,
        prepared: Prepared,
        idempotent: Option<(&str, &Recorded)>,
    ) -> Result<(), CommandStatus> {
        let Prepared {
            messages,
            too_late,
            held,
        } = prepared;
        let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
        let classes: Vec<Class> = messages.iter().map(|m| m.class).collect();
        if let Some(handoff) = self.handoff.get() {
            return self
                .hand_off(handoff.as_ref(), client, messages, idempotent)
                .await;
        }
        let stored = match idempotent {
            None => self.store.accept(messages).await,
            Some((key, answer)) => {
                let accepted =
                    self.store
                        .accept_idempotent(messages, &client.system_id, key, answer);
                accepted.await
            }
        };
        match stored {
            Ok(()) => {
                tracing::debug!(ids = ?ids, "accepted");
                for class in classes {
                    telemetry::accepted(&client.system_id, class);
                }
                for window in held {
                    telemetry::deferred(&window);
                }
                for (id, hold) in too_late {
                    self.end_too_late(id, hold).await;
                }
                self.queued.notify_waiters();
                Ok(())
            }
            // The guard turned on between the check above and the store's own.
            Err(crate::store::Error::LowDiskSpace) => Err(CommandStatus::ESME_RMSGQFUL),
            Err(e) => {
                tracing::error!(error = %e, "store refused a submit");
                Err(CommandStatus::ESME_RSYSERR)
            }
        }
    }

    /// The parts of one message from the HTTP API, checked exactly as a bound client's
    /// submit_sm (caps, outbox, validation, class, sender rules, consent, routes, windows) and
    /// stored in one commit. `schedule_at` (unix ms), if any, is when they may leave, to the
    /// millisecond: the submissions carry it to the second only (SMPP times), too coarse for a
    /// paced batch. `answer` builds the reply from the messages as they will be stored; with an
    /// idempotency `key` it is kept in the same commit. Returns the messages as stored and the
    /// reply; a message held back by an opt-out is ended REJECTED afterwards, as for SMPP.
    pub(crate) async fn submit_parts<A>(
        &self,
        client: &ClientConfig,
        submissions: &[Submission<'_>],
        schedule_at: Option<i64>,
        key: Option<&str>,
        answer: A,
    ) -> Result<(Vec<Message>, Recorded), CommandStatus>
    where
        A: FnOnce(&[Message], &[Option<ConsentEvent>]) -> Recorded,
    {
        let config = self.config();
        let parts = u32::try_from(submissions.len()).unwrap_or(u32::MAX);
        if self.throttled(client, parts) {
            return Err(CommandStatus::ESME_RTHROTTLED);
        }
        self.check_outbox(client)?;
        let now = crate::message::now_ms();
        let mut messages = Self::check_parts(client, &config, submissions, now)?;
        if let Some(at) = schedule_at {
            for message in &mut messages {
                message.schedule_at = Some(at);
            }
        }
        let opt_outs = messages
            .iter()
            .map(|message| self.consent_at_accept(&config, message))
            .collect::<Result<Vec<_>, _>>()?;
        let prepared = self.prepare(messages)?;
        let stored = prepared.messages.clone();
        let reply = answer(&stored, &opt_outs);
        self.commit(client, prepared, key.map(|key| (key, &reply)))
            .await?;
        for (message, opt_out) in stored.iter().zip(opt_outs) {
            if let Some(opt_out) = opt_out {
                self.end_opted_out(message.id, opt_out).await;
            }
        }
        Ok((stored, reply))
    }

    /// The route that carries `message`. With no `[[routes]]` configured, every message waits in
    /// the default queue; with routes, a message none matches is refused: its destination is
    /// one this gateway cannot reach.
    fn route_of(&self, message: &Message) -> Result<String, CommandStatus> {
        let (route, most) = self.route_for(message)?;
        // Counted, not reserved: concurrent submits may pass the bound by a window or so.
        if most.is_some_and(|most| self.store.queue_depth(&route) >= most) {
            tracing::debug!(route = %route, "route queue full; submit refused");
            telemetry::refused_full(Bound::RouteQueue, &route);
            return Err(CommandStatus::ESME_RMSGQFUL);
        }
        Ok(route)
    }

    /// [`Self::route_of`] without the queue's bound: the route's name and the most its queue
    /// may hold (`None` for the default queue).
    fn route_for(&self, message: &Message) -> Result<(String, Option<usize>), CommandStatus> {
        let live = self.live.load();
        let routes = &live.routes;
        if routes.routes().is_empty() {
            return Ok((DEFAULT_ROUTE.to_owned(), None));
        }
        match routes.route(
            &message.client,
            &message.source.addr,
            &message.destination.addr,
        ) {
            Some(route) => Ok((route.name().to_owned(), Some(route.max_queue()))),
            None => {
                tracing::debug!(
                    client = %message.client,
                    destination = %message.destination.addr,
                    "no route matches; submit refused"
                );
                Err(CommandStatus::ESME_RINVDSTADR)
            }
        }
    }

    /// One message from the bound client: throttle, validate, store durably.
    async fn submit_one(
        &self,
        session: &SessionInfo,
        submission: &Submission<'_>,
    ) -> Result<MessageId, CommandStatus> {
        let config = self.config();
        let client = Self::client_of(&config, session).ok_or(CommandStatus::ESME_RINVBNDSTS)?;
        if self.throttled(client, 1) {
            return Err(CommandStatus::ESME_RTHROTTLED);
        }
        self.check_outbox(client)?;
        let now = crate::message::now_ms();
        let mut message = validate(client, sender::Rules::of(&config), submission, now)?;
        let transliterated = client.transliterate && transliterate::apply(&mut message, now);
        let opt_out = self.consent_at_accept(&config, &message)?;
        let id = self.accept(client, vec![message]).await.and_then(first)?;
        if transliterated {
            telemetry::transliterated(&client.system_id, 1);
        }
        if let Some(opt_out) = opt_out {
            self.end_opted_out(id, opt_out).await;
        }
        Ok(id)
    }

    /// Consent at accept. `Ok(None)`: the message goes. `Ok(Some(opt-out))`: it is accepted
    /// only to end REJECTED at once, with its receipt (`on_suppressed = "receipt"`). `Err`:
    /// it is refused with that status (`"refuse"`, or the list could not be read).
    fn consent_at_accept(
        &self,
        config: &Config,
        message: &Message,
    ) -> Result<Option<ConsentEvent>, CommandStatus> {
        consent::check_mention(&config.consent, message)?;
        let opt_out = match self.store.holding_back(config, message) {
            Ok(None) => return Ok(None),
            Ok(Some(opt_out)) => opt_out,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the suppression list; submit refused");
                return Err(CommandStatus::ESME_RSYSERR);
            }
        };
        telemetry::suppressed(&message.client);
        match config.consent.on_suppressed {
            OnSuppressed::Refuse(status) => Err(status),
            OnSuppressed::Receipt => Ok(Some(opt_out)),
        }
    }

    /// Cluster mode's [`Self::commit`]: the messages are acknowledged once the engine holds
    /// them. Their ends at accept (too late for a window, opted out) are left to the owner's
    /// dispatch, which finds them again. An idempotency key's answer is kept on this node only.
    async fn hand_off(
        &self,
        handoff: &dyn crate::handoff::Handoff,
        client: &ClientConfig,
        messages: Vec<Message>,
        idempotent: Option<(&str, &Recorded)>,
    ) -> Result<(), CommandStatus> {
        let classes: Vec<Class> = messages.iter().map(|m| m.class).collect();
        match handoff.accept(messages).await {
            Ok(()) => {}
            Err(crate::handoff::HandoffError::Full) => return Err(CommandStatus::ESME_RMSGQFUL),
            Err(e) => {
                tracing::error!(error = %e, "the engine refused a submit");
                return Err(CommandStatus::ESME_RSYSERR);
            }
        }
        for class in classes {
            telemetry::accepted(&client.system_id, class);
        }
        if let Some((key, answer)) = idempotent {
            let kept = self
                .store
                .accept_idempotent(Vec::new(), &client.system_id, key, answer);
            if let Err(e) = kept.await {
                tracing::warn!(error = %e, "cannot keep an idempotency key's answer");
            }
        }
        Ok(())
    }

    /// Ends an accepted message whose validity ends before its sending window opens: EXPIRED
    /// now rather than sent after the client's deadline. Should this fail, dispatch expires
    /// it when its validity passes.
    async fn end_too_late(&self, id: MessageId, hold: sending_hours::Hold) {
        if self.handoff.get().is_some() {
            return; // Not in this node's store: the owner's dispatch expires it.
        }
        let detail =
            move |_: &Message| format!("validity ends before sending window {} opens", hold.window);
        let ended = self
            .outboxes
            .end(id, State::Expired, detail, sending_hours::ERR_TOO_LATE)
            .await;
        if let Err(e) = ended {
            tracing::warn!(%id, error = %e, "cannot expire a message held past its validity");
        }
    }

    /// Ends an accepted message whose number opted out, with its receipt in the same commit.
    /// Should this fail, or the gateway stop first, dispatch finds the opt-out again.
    async fn end_opted_out(&self, id: MessageId, opt_out: ConsentEvent) {
        if self.handoff.get().is_some() {
            return; // Not in this node's store: the owner's dispatch refuses it.
        }
        let detail = move |m: &Message| consent::refusal_detail(m, &opt_out);
        let ended = self
            .outboxes
            .end(id, State::Rejected, detail, consent::ERR_OPTED_OUT)
            .await;
        match ended {
            Ok(_) => {}
            // Dispatch, woken by the accept, found the opt-out first and ended it.
            Err(crate::store::Error::Final { .. }) => {}
            Err(e) => {
                tracing::warn!(%id, error = %e, "cannot end an opted-out message; dispatch will");
            }
        }
    }

    pub(super) async fn submit_sm(&self, session: &SessionInfo, seq: u32, sm: &SubmitSm) -> Pdu {
        let submission = submission_of!(sm, Address::from(&sm.destination));
        let result = self.submit_one(session, &submission).await;
        id_response(seq, result, Body::SubmitSmResp)
    }

    pub(super) async fn data_sm(&self, session: &SessionInfo, seq: u32, sm: &DataSm) -> Pdu {
        // data_sm has no priority, times, replace flag or canned message: their NULL values.
        let submission = Submission {
            service_type: sm.service_type.to_string_lossy(),
            source: Address::from(&sm.source),
            destination: Address::from(&sm.destination),
            esm_class: sm.esm_class,
            protocol_id: 0,
            priority_flag: 0,
            schedule_delivery_time: b"",
            validity_period: b"",
            registered_delivery: sm.registered_delivery,
            replace_if_present_flag: 0,
            data_coding: sm.data_coding,
            sm_default_msg_id: 0,
            short_message: b"",
            tlvs: &sm.tlvs,
        };
        let result = self.submit_one(session, &submission).await;
        id_response(seq, result, Body::DataSmResp)
    }

    pub(super) async fn submit_multi(
        &self,
        session: &SessionInfo,
        seq: u32,
        sm: &SubmitMulti,
    ) -> Pdu {
        let refuse = |status| {
            Pdu::with_status(
                seq,
                status,
                Body::SubmitMultiResp(SubmitMultiResp::default()),
            )
        };
        let config = self.config();
        let Some(client) = Self::client_of(&config, session) else {
            return refuse(CommandStatus::ESME_RINVBNDSTS);
        };
        let count = u32::try_from(sm.dest_address.len()).unwrap_or(u32::MAX);
        if self.throttled(client, count) {
            return refuse(CommandStatus::ESME_RTHROTTLED);
        }
        if let Err(status) = self.check_outbox(client) {
            return refuse(status);
        }
        let now = crate::message::now_ms();
        let mut messages = Vec::new();
        let mut opt_outs = Vec::new();
        let mut unsuccess = Vec::new();
        let mut transliterated = 0;
        for dest in sm.dest_address.iter() {
            let destination = match dest {
                DestAddress::Sme(destination) => destination,
                DestAddress::DistributionList { dl_name } => {
                    // smppd keeps no distribution lists.
                    unsuccess.push(UnsuccessSme {
                        destination: smpp_proto::pdu::Address::new(0, 0, dl_name.clone()),
                        error_status_code: CommandStatus::ESME_RCNTSUBDL,
                    });
                    continue;
                }
            };
            let submission = submission_of!(sm, Address::from(destination));
            let checked = validate(client, sender::Rules::of(&config), &submission, now).and_then(
                |mut message| {
                    if client.transliterate && transliterate::apply(&mut message, now) {
                        transliterated += 1;
                    }
                    let opt_out = self.consent_at_accept(&config, &message)?;
                    Ok((message, opt_out))
                },
            );
            match checked {
                Ok((message, opt_out)) => {
                    messages.push(message);
                    opt_outs.push(opt_out);
                }
                Err(status) => unsuccess.push(UnsuccessSme {
                    destination: destination.clone(),
                    error_status_code: status,
                }),
            }
        }
        if messages.is_empty() {
            let status = unsuccess
                .first()
                .map_or(CommandStatus::ESME_RINVNUMDESTS, |u| u.error_status_code);
            return refuse(status);
        }
        match self.accept(client, messages).await {
            // One message per destination; the response names the first. Each destination's
            // receipt carries its own id.
            Ok(ids) => {
                if transliterated > 0 {
                    telemetry::transliterated(&client.system_id, transliterated);
                }
                for (id, opt_out) in ids.iter().zip(opt_outs) {
                    if let Some(opt_out) = opt_out {
                        self.end_opted_out(*id, opt_out).await;
                    }
                }
                Pdu::new(
                    seq,
                    Body::SubmitMultiResp(SubmitMultiResp {
                        message_id: message_id_resp(ids.first().copied().unwrap_or_default())
                            .message_id,
                        unsuccess_sme: unsuccess.try_into().unwrap_or_default(),
                        tlvs: Tlvs::new(),
                    }),
                )
            }
            Err(status) => refuse(status),
        }
    }
}

/// Holds `message` for its sending window, if one is closed (`sending_hours::hold_together`):
/// its `schedule_at` moves to the opening, with a history line. Or it is too late: its validity
/// ends before the window opens (it is to end EXPIRED), and it is left as it is.
fn hold_for_window(config: &Config, message: &mut Message, now: i64) -> Option<WindowHold> {
    let hold = sending_hours::hold_together(config, message, now)?;
    if message.expire_at.is_some_and(|end| hold.until >= end) {
        return Some(WindowHold::TooLate(hold));
    }
    message.schedule_at = Some(hold.until);
    message.history.push(Event {
        at: now,
        state: State::Queued,
        detail: hold.detail(),
    });
    Some(WindowHold::Held(hold.window))
}

/// What a sending window did to a message at accept.
enum WindowHold {
    /// Held until it opens, by this window.
    Held(String),
    /// Its validity ends before the window opens.
    TooLate(sending_hours::Hold),
}

fn first(ids: Vec<MessageId>) -> Result<MessageId, CommandStatus> {
    ids.first().copied().ok_or(CommandStatus::ESME_RSYSERR)
}

/// A `_resp` carrying the new message's id, or the error status with no body.
fn id_response(
    seq: u32,
    result: Result<MessageId, CommandStatus>,
    body: fn(MessageIdResp) -> Body,
) -> Pdu {
    match result {
        Ok(id) => Pdu::new(seq, body(message_id_resp(id))),
        Err(status) => Pdu::with_status(seq, status, body(MessageIdResp::default())),
    }
}

fn message_id_resp(id: MessageId) -> MessageIdResp {
    MessageIdResp {
        // Decimal, at most 16 digits: always fits.
        message_id: id.to_string().try_into().unwrap_or_default(),
        tlvs: Tlvs::new(),
    }
}
