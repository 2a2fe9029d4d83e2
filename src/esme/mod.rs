//! The ESME-facing server: listeners, bind authentication and per-client limits, submit
//! handling (validate → store durably → submit_sm_resp), query/cancel/replace against the
//! store, and delivery of each client's outbox.

pub(crate) mod bind;

mod validate;

pub mod listener;
pub use listener::{serve, Listeners};

use crate::config::{ClientConfig, Config};
use crate::live::Live;
use crate::message::{Address, Message, MessageId, State};
use crate::outbox::Outboxes;
use crate::session::{BindKind, Reply, Service, SessionHandle, SessionInfo};
use crate::store::Store;
use crate::telemetry::{self, Bound, Scope};
use dashmap::DashMap;
use smpp_proto::pdu::{
    BindResp, CancelSm, DataSm, DestAddress, MessageIdResp, QuerySm, QuerySmResp, ReplaceSm,
    SubmitMulti, SubmitMultiResp, SubmitSm, UnsuccessSme,
};
use smpp_proto::{time, Body, CommandStatus, Pdu, Tlvs};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;
use validate::{validate, Submission};

/// The [`Submission`] of a submit_sm or submit_multi (same fields from `esm_class` on) for one
/// destination.
macro_rules! submission_of {
    ($sm:expr, $destination:expr) => {
        Submission {
            service_type: $sm.service_type.to_string_lossy(),
            source: address($sm.source_addr_ton, $sm.source_addr_npi, &$sm.source_addr),
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

/// The queue messages wait in when the config has no `[[routes]]` at all.
pub const DEFAULT_ROUTE: &str = "default";

/// One live bind of a client, as the admin API shows it.
#[derive(Clone, Debug)]
pub struct LiveBind {
    /// The session's id, unique in this process.
    pub session: u64,
    /// The account.
    pub system_id: String,
    /// The bind type.
    pub kind: BindKind,
    /// Where the client connects from.
    pub peer: SocketAddr,
    /// When it bound, unix ms.
    pub since: i64,
    /// Its session: live figures, unbind, close.
    pub handle: SessionHandle,
}

/// The gateway's side of every client session.
pub struct EsmeService {
    /// The running configuration, routing table and client caps: each request reads the one
    /// in force when it starts.
    live: Live,
    store: Store,
    /// Live binds per system_id.
    binds: DashMap<String, Vec<LiveBind>>,
    outboxes: Arc<Outboxes>,
    /// Tells the carrier side that messages were queued.
    queued: Arc<Notify>,
}

impl EsmeService {
    /// A service over `store` for the clients of the running configuration, delivering to
    /// their `outboxes`.
    pub fn new(live: Live, store: Store, outboxes: Arc<Outboxes>, queued: Arc<Notify>) -> Self {
        Self {
            live,
            outboxes,
            queued,
            store,
            binds: DashMap::new(),
        }
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.live.config()
    }

    /// After a reload (new binds and submits see its clients, routes and caps already):
    /// unbinds the binds of clients it removed. Binds of other clients stay.
    pub fn unbind_removed(&self, removed_clients: &[String]) {
        for system_id in removed_clients {
            if let Some((_, binds)) = self.binds.remove(system_id) {
                for bind in binds {
                    tracing::info!(client = %system_id, session = bind.session, "client removed by reload; unbinding");
                    tokio::spawn(async move { bind.handle.unbind().await });
                }
            }
        }
    }

    /// How many binds `system_id` has now.
    pub fn bind_count(&self, system_id: &str) -> usize {
        self.binds.get(system_id).map_or(0, |b| b.len())
    }

    /// Every live bind, by client and then oldest first.
    pub fn binds(&self) -> Vec<LiveBind> {
        let mut all: Vec<LiveBind> = self
            .binds
            .iter()
            .flat_map(|binds| binds.value().clone())
            .collect();
        all.sort_by(|a, b| (&a.system_id, a.since).cmp(&(&b.system_id, b.since)));
        all
    }

    /// The live bind on session `session`.
    pub fn live_bind(&self, session: u64) -> Option<LiveBind> {
        self.binds
            .iter()
            .find_map(|binds| binds.iter().find(|b| b.session == session).cloned())
    }

    /// The bound account's settings, from the config in force (`config`, read once per
    /// request).
    fn client_of<'c>(config: &'c Config, session: &SessionInfo) -> Option<&'c ClientConfig> {
        let (system_id, _) = session.bound.as_ref()?;
        config.client(system_id)
    }

    async fn bind(&self, session: Arc<SessionInfo>, pdu: Pdu, kind: BindKind) -> Reply {
        let (Body::BindTransmitter(bind) | Body::BindReceiver(bind) | Body::BindTransceiver(bind)) =
            &pdu.body
        else {
            return Reply::Nothing;
        };
        let system_id = bind.system_id.to_string_lossy();
        let config = self.config();
        // Every refusal is answered this long after the bind came, however long the checks
        // took (an argon2 hash takes a while, an unknown id nothing): no timing oracle.
        let refuse_at = tokio::time::Instant::now() + config.server.session.bind_failure_delay;
        let verdict = bind::authenticate(&config, bind, kind, session.peer.ip()).await;
        let verdict =
            verdict.and_then(|client| self.register(client, &session, kind).map(|()| client));
        match verdict {
            Ok(client) => {
                tracing::info!(client = %system_id, peer = %session.peer, bind = kind.name(), "bound");
                if kind.can_receive() {
                    self.outboxes.bind(
                        &client.system_id,
                        session.id,
                        session.handle.clone(),
                        client.window.get(),
                    );
                }
                let response = Pdu::new(
                    pdu.sequence_number,
                    resp_body(kind, BindResp::v34(self.our_system_id())),
                );
                Reply::Bound {
                    response,
                    system_id: client.system_id.clone(),
                    kind,
                    window: client.window.get(),
                }
            }
            Err(status) => {
                // Logged without the password; delayed against guessing; then the
                // connection closes so one connection cannot try again and again.
                tracing::warn!(client = %system_id, peer = %session.peer, %status, "bind refused");
                tokio::time::sleep_until(refuse_at).await;
                Reply::Close(pdu.response_with_status(status))
            }
        }
    }

    fn our_system_id(&self) -> smpp_proto::COctetString<16> {
        self.config()
            .server
            .system_id
            .as_str()
            .try_into()
            .unwrap_or_default()
    }

    /// Counts the bind against the account's max_binds, atomically.
    fn register(
        &self,
        client: &ClientConfig,
        session: &SessionInfo,
        kind: BindKind,
    ) -> Result<(), CommandStatus> {
        let mut binds = self.binds.entry(client.system_id.clone()).or_default();
        if binds.len() >= client.max_binds.get() as usize {
            return Err(CommandStatus::ESME_RBINDFAIL);
        }
        binds.push(LiveBind {
            session: session.id,
            system_id: client.system_id.clone(),
            kind,
            peer: session.peer,
            since: crate::message::now_ms(),
            handle: session.handle.clone(),
        });
        Ok(())
    }

    fn throttled(&self, client: &ClientConfig, messages: u32) -> bool {
        let live = self.live.load();
        let Some(limiter) = live.client_caps.get(&client.system_id) else {
            return false;
        };
        let throttled = match std::num::NonZeroU32::new(messages) {
            Some(n) => !matches!(limiter.check_n(n), Ok(Ok(()))),
            None => false,
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
    async fn accept(&self, mut messages: Vec<Message>) -> Result<Vec<MessageId>, CommandStatus> {
        if self.store.refuses_new() {
            return Err(CommandStatus::ESME_RMSGQFUL);
        }
        let mut ids = Vec::with_capacity(messages.len());
        for message in &mut messages {
            message.route = self.route_of(message)?;
            message.id = self.store.allocate_id();
            ids.push(message.id);
        }
        match self.store.accept(messages).await {
            Ok(()) => {
                tracing::debug!(ids = ?ids, "accepted");
                self.queued.notify_waiters();
                Ok(ids)
            }
            // The guard turned on between the check above and the store's own.
            Err(crate::store::Error::LowDiskSpace) => Err(CommandStatus::ESME_RMSGQFUL),
            Err(e) => {
                tracing::error!(error = %e, "store refused a submit");
                Err(CommandStatus::ESME_RSYSERR)
            }
        }
    }

    /// The route that carries `message`. With no `[[routes]]` configured, every message waits in
    /// the default queue; with routes, a message none matches is refused: its destination is
    /// one this gateway cannot reach.
    fn route_of(&self, message: &Message) -> Result<String, CommandStatus> {
        let live = self.live.load();
        let routes = &live.routes;
        if routes.routes().is_empty() {
            return Ok(DEFAULT_ROUTE.to_owned());
        }
        match routes.route(
            &message.client,
            &message.source.addr,
            &message.destination.addr,
        ) {
            // Counted, not reserved: concurrent submits may pass the bound by a window or so.
            Some(route) if self.store.queue_depth(route.name()) >= route.max_queue() => {
                tracing::debug!(route = %route.name(), "route queue full; submit refused");
                telemetry::refused_full(Bound::RouteQueue, route.name());
                Err(CommandStatus::ESME_RMSGQFUL)
            }
            Some(route) => Ok(route.name().to_owned()),
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
        let message = validate(client, submission, crate::message::now_ms())?;
        self.accept(vec![message]).await.and_then(first)
    }

    async fn submit_sm(&self, session: &SessionInfo, seq: u32, sm: &SubmitSm) -> Pdu {
        let destination = address(sm.dest_addr_ton, sm.dest_addr_npi, &sm.destination_addr);
        let submission = submission_of!(sm, destination);
        let result = self.submit_one(session, &submission).await;
        id_response(seq, result, Body::SubmitSmResp)
    }

    async fn data_sm(&self, session: &SessionInfo, seq: u32, sm: &DataSm) -> Pdu {
        // data_sm has no priority, times, replace flag or canned message: their NULL values.
        let submission = Submission {
            service_type: sm.service_type.to_string_lossy(),
            source: address(sm.source_addr_ton, sm.source_addr_npi, &sm.source_addr),
            destination: address(sm.dest_addr_ton, sm.dest_addr_npi, &sm.destination_addr),
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

    async fn submit_multi(&self, session: &SessionInfo, seq: u32, sm: &SubmitMulti) -> Pdu {
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
        let mut unsuccess = Vec::new();
        for dest in sm.dest_address.iter() {
            let (ton, npi, addr) = match dest {
                DestAddress::Sme {
                    dest_addr_ton,
                    dest_addr_npi,
                    destination_addr,
                } => (*dest_addr_ton, *dest_addr_npi, destination_addr.clone()),
                DestAddress::DistributionList { dl_name } => {
                    // smppd keeps no distribution lists.
                    unsuccess.push(UnsuccessSme {
                        dest_addr_ton: 0,
                        dest_addr_npi: 0,
                        destination_addr: dl_name.clone(),
                        error_status_code: CommandStatus::ESME_RCNTSUBDL,
                    });
                    continue;
                }
            };
            let submission = submission_of!(sm, address(ton, npi, &addr));
            match validate(client, &submission, now) {
                Ok(message) => messages.push(message),
                Err(status) => unsuccess.push(UnsuccessSme {
                    dest_addr_ton: ton,
                    dest_addr_npi: npi,
                    destination_addr: addr,
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
        match self.accept(messages).await {
            // One message per destination; the response names the first. Each destination's
            // receipt carries its own id.
            Ok(ids) => Pdu::new(
                seq,
                Body::SubmitMultiResp(SubmitMultiResp {
                    message_id: message_id_resp(ids.first().copied().unwrap_or_default())
                        .message_id,
                    unsuccess_sme: unsuccess.try_into().unwrap_or_default(),
                    tlvs: Tlvs::new(),
                }),
            ),
            Err(status) => refuse(status),
        }
    }

    /// The stored message `message_id` names, if it belongs to the bound client.
    fn owned(&self, session: &SessionInfo, message_id: &str) -> Result<Message, CommandStatus> {
        let config = self.config();
        let client = Self::client_of(&config, session).ok_or(CommandStatus::ESME_RINVBNDSTS)?;
        let id: MessageId = message_id
            .parse()
            .map_err(|_| CommandStatus::ESME_RINVMSGID)?;
        match self.store.message(id) {
            Ok(Some(message)) if message.client == client.system_id => Ok(message),
            Ok(_) => Err(CommandStatus::ESME_RINVMSGID),
            Err(e) => {
                tracing::error!(error = %e, "store read failed");
                Err(CommandStatus::ESME_RSYSERR)
            }
        }
    }

    fn query_sm(&self, session: &SessionInfo, seq: u32, q: &QuerySm) -> Pdu {
        let Ok(message) = self.owned(session, &q.message_id.to_string_lossy()) else {
            return Pdu::with_status(
                seq,
                CommandStatus::ESME_RQUERYFAIL,
                Body::QuerySmResp(QuerySmResp::default()),
            );
        };
        let final_date = if message.state.is_final() {
            let at = message.history.last().map_or(message.received_at, |e| e.at);
            time::SmppTime::from_utc_epoch(at.div_euclid(1000))
                .and_then(|t| smpp_proto::COctetString::new(t.to_bytes().to_vec()).ok())
                .unwrap_or_default()
        } else {
            smpp_proto::COctetString::empty()
        };
        Pdu::new(
            seq,
            Body::QuerySmResp(QuerySmResp {
                message_id: q.message_id.clone(),
                final_date,
                message_state: message.state.to_message_state(),
                error_code: 0,
                tlvs: Tlvs::new(),
            }),
        )
    }

    async fn cancel_sm(&self, session: &SessionInfo, seq: u32, c: &CancelSm) -> Pdu {
        let fail = Pdu::with_status(seq, CommandStatus::ESME_RCANCELFAIL, Body::CancelSmResp);
        // Cancelling by address (NULL message_id) is not offered: one id at a time.
        let Ok(message) = self.owned(session, &c.message_id.to_string_lossy()) else {
            return fail;
        };
        if message.state != State::Queued {
            return fail;
        }
        // DELETED, with the receipt the client asked for at submit, as any other end.
        let ended = self.outboxes.end(
            message.id,
            State::Deleted,
            |_| "cancelled by the client (cancel_sm)".to_owned(),
            0,
        );
        match ended.await {
            Ok(_) => Pdu::new(seq, Body::CancelSmResp),
            Err(_) => fail,
        }
    }

    async fn replace_sm(&self, session: &SessionInfo, seq: u32, r: &ReplaceSm) -> Pdu {
        let fail = |status| Pdu::with_status(seq, status, Body::ReplaceSmResp);
        let Ok(message) = self.owned(session, &r.message_id.to_string_lossy()) else {
            return fail(CommandStatus::ESME_RREPLACEFAIL);
        };
        let config = self.config();
        let Some(client) = Self::client_of(&config, session) else {
            return fail(CommandStatus::ESME_RINVBNDSTS);
        };
        if message.state != State::Queued {
            return fail(CommandStatus::ESME_RREPLACEFAIL);
        }
        // The replacement is checked as if it were submitted with the original's other fields.
        let submission = Submission {
            service_type: message.service_type.clone(),
            source: address(r.source_addr_ton, r.source_addr_npi, &r.source_addr),
            destination: message.destination.clone(),
            esm_class: message.esm_class,
            protocol_id: message.protocol_id,
            priority_flag: message.priority_flag,
            schedule_delivery_time: r.schedule_delivery_time.as_bytes(),
            validity_period: r.validity_period.as_bytes(),
            registered_delivery: r.registered_delivery,
            replace_if_present_flag: 0,
            data_coding: message.data_coding,
            sm_default_msg_id: r.sm_default_msg_id,
            short_message: r.short_message.as_bytes(),
            tlvs: &Tlvs::new(),
        };
        if submission.source != message.source {
            return fail(CommandStatus::ESME_RREPLACEFAIL);
        }
        let replacement = match validate(client, &submission, crate::message::now_ms()) {
            Ok(replacement) => replacement,
            Err(status) => return fail(status),
        };
        let update = self
            .store
            .update(message.id, move |m| {
                if m.state != State::Queued {
                    return Err(crate::store::UpdateRefused::new("no longer queued"));
                }
                m.short_message = replacement.short_message;
                m.registered_delivery = replacement.registered_delivery;
                m.schedule_at = replacement.schedule_at;
                m.expire_at = replacement.expire_at;
                Ok(())
            })
            .await;
        match update {
            Ok(_) => Pdu::new(seq, Body::ReplaceSmResp),
            Err(_) => fail(CommandStatus::ESME_RREPLACEFAIL),
        }
    }
}

impl Service for EsmeService {
    async fn request(&self, session: Arc<SessionInfo>, pdu: Pdu) -> Reply {
        let seq = pdu.sequence_number;
        let started = Instant::now();
        let response = match &pdu.body {
            Body::BindTransmitter(_) => {
                return self.bind(session, pdu, BindKind::Transmitter).await
            }
            Body::BindReceiver(_) => return self.bind(session, pdu, BindKind::Receiver).await,
            Body::BindTransceiver(_) => {
                return self.bind(session, pdu, BindKind::Transceiver).await
            }
            Body::SubmitSm(sm) => self.submit_sm(&session, seq, sm).await,
            Body::DataSm(sm) => self.data_sm(&session, seq, sm).await,
            Body::SubmitMulti(sm) => self.submit_multi(&session, seq, sm).await,
            Body::QuerySm(q) => self.query_sm(&session, seq, q),
            Body::CancelSm(c) => self.cancel_sm(&session, seq, c).await,
            Body::ReplaceSm(r) => self.replace_sm(&session, seq, r).await,
            // The session admits nothing else from an ESME.
            _ => match pdu.response_with_status(CommandStatus::ESME_RINVBNDSTS) {
                Some(response) => response,
                None => return Reply::Nothing,
            },
        };
        if let (Body::SubmitSm(_) | Body::DataSm(_) | Body::SubmitMulti(_), Some((client, _))) =
            (&pdu.body, &session.bound)
        {
            telemetry::submit(client, response.command_status, started.elapsed());
        }
        Reply::Respond(response)
    }

    fn closed(&self, session: &SessionInfo) {
        // By session id, not by `session.bound`: a bind accepted here whose response never
        // reached the session (the peer vanished meanwhile) must not leak its slot.
        for mut binds in self.binds.iter_mut() {
            binds.retain(|bind| bind.session != session.id);
        }
        self.outboxes.forget(session.id);
        if let Some((system_id, kind)) = &session.bound {
            tracing::info!(client = %system_id, peer = %session.peer, bind = kind.name(), "unbound");
        }
    }
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

fn address<const MAX: usize>(ton: u8, npi: u8, addr: &smpp_proto::COctetString<MAX>) -> Address {
    Address {
        ton,
        npi,
        addr: addr.to_string_lossy(),
    }
}

fn resp_body(kind: BindKind, resp: BindResp) -> Body {
    match kind {
        BindKind::Transmitter => Body::BindTransmitterResp(resp),
        BindKind::Receiver => Body::BindReceiverResp(resp),
        BindKind::Transceiver => Body::BindTransceiverResp(resp),
    }
}
