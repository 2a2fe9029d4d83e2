//! The simulator's side of a session ([`Service`] for [`Simulator`]): binds, the submit path
//! shared by submit_sm, data_sm and submit_multi (faults, then reject, id and receipts), and
//! the refusals of what a carrier keeps no store for. `session::run` calls it per PDU.

use super::faults::Verdict;
use super::{jitter, log, mix, spread_hit, BindEntry, Simulator};
use crate::session::{BindKind, Reply, Service, SessionInfo};
use governor::{Quota, RateLimiter};
use smpp_proto::pdu::{
    esm_class, Address, BindResp, DataSm, DestAddress, MessageIdResp, SubmitMulti, SubmitMultiResp,
    SubmitSm, UnsuccessSme,
};
use smpp_proto::{Body, COctetString, CommandStatus, MessageState, Pdu, Tlvs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::time::Instant;

/// The system_id the simulator names itself in bind responses.
const SMSC_SYSTEM_ID: &str = "smppd-sim";

/// The content of one submitted message, as far as a receipt needs it.
pub(super) struct Submitted {
    pub(super) source: (u8, u8, String),
    pub(super) destination: (u8, u8, String),
    pub(super) text: String,
}

impl Simulator {
    fn bind(&self, session: &SessionInfo, pdu: &Pdu, kind: BindKind) -> Reply {
        let (Body::BindTransmitter(bind) | Body::BindReceiver(bind) | Body::BindTransceiver(bind)) =
            &pdu.body
        else {
            return Reply::Nothing;
        };
        let system_id = bind.system_id.to_string_lossy();
        let refuse = |status: CommandStatus| {
            self.log_session(
                session.id,
                &format_args!(
                    "bind-refused={status} system_id={} peer={}",
                    log::field(&system_id),
                    session.peer
                ),
            );
            Reply::Close(pdu.response_with_status(status))
        };
        if self
            .config
            .system_id
            .as_ref()
            .is_some_and(|s| *s != system_id)
        {
            tracing::info!(client = %system_id, peer = %session.peer, "bind refused: system_id");
            return refuse(CommandStatus::ESME_RINVSYSID);
        }
        if let Some(password) = &self.config.password {
            if password.as_bytes() != bind.password.as_bytes() {
                tracing::info!(client = %system_id, peer = %session.peer, "bind refused: password");
                return refuse(CommandStatus::ESME_RINVPASWD);
            }
        }
        let entry = BindEntry {
            session: session.id,
            system_id: system_id.clone(),
            kind,
            handle: session.handle.clone(),
            limiter: self
                .config
                .throttle
                .map(|rate| RateLimiter::direct(Quota::per_second(rate))),
            submits: AtomicU64::new(0),
            dropping: AtomicBool::new(false),
        };
        // Counted and inserted under one lock: two binds racing for the last slot cannot
        // both get it.
        let binds = {
            let mut table = self.binds();
            let bound = table.values().filter(|b| b.system_id == system_id).count();
            if self.config.max_binds.is_some_and(|max| bound >= max.get()) {
                None
            } else {
                table.insert(session.id, Arc::new(entry));
                Some(bound + 1)
            }
        };
        let Some(binds) = binds else {
            self.shared
                .counters
                .binds_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(client = %system_id, peer = %session.peer, "bind refused: max_binds");
            return refuse(CommandStatus::ESME_RALYBND);
        };
        self.shared
            .counters
            .binds_peak
            .fetch_max(u64::try_from(binds).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.log_session(
            session.id,
            &format_args!(
                "bound={} system_id={} peer={} binds={binds}",
                kind.name(),
                log::field(&system_id),
                session.peer
            ),
        );
        if kind.can_receive() {
            // Requests through the handle wait until the session is bound, so receipts can go
            // now: they follow the bind_resp.
            self.shared.queue().unpark(&system_id, Instant::now());
            self.shared.wake.notify_one();
        }
        tracing::info!(client = %system_id, peer = %session.peer, bind = kind.name(), "bound");
        let smsc_id = COctetString::try_from(SMSC_SYSTEM_ID).unwrap_or_default();
        let resp = BindResp::v34(smsc_id);
        let response = Pdu::new(
            pdu.sequence_number,
            match kind {
                BindKind::Transmitter => Body::BindTransmitterResp(resp),
                BindKind::Receiver => Body::BindReceiverResp(resp),
                BindKind::Transceiver => Body::BindTransceiverResp(resp),
            },
        );
        Reply::Bound {
            response,
            system_id,
            kind,
            window: self.config.window,
        }
    }

    /// The common path of submit_sm, data_sm and submit_multi: faults, throttle, reject,
    /// delay, id, receipts. `Some(Ok)` holds the message id as written in the response;
    /// `None`: the submit gets no answer (withheld, or its session is being dropped).
    async fn submit(
        &self,
        session: &SessionInfo,
        pdu: &Pdu,
        messages: Vec<Submitted>,
        registered_delivery: u8,
    ) -> Option<Result<String, CommandStatus>> {
        self.shared
            .counters
            .submits_received
            .fetch_add(1, Ordering::Relaxed);
        let Some((system_id, _)) = &session.bound else {
            return Some(Err(CommandStatus::ESME_RINVBNDSTS));
        };
        match self.faults(session, pdu).await {
            Verdict::Pass => {}
            Verdict::Refuse(status) => return Some(Err(status)),
            Verdict::Unanswered => return None,
        }
        let result = self
            .accept(session, system_id, messages, registered_delivery)
            .await;
        if self.log.is_some() {
            match &result {
                Ok(id) => self.log_submit(session, pdu, &format_args!("id={id}")),
                Err(status) => self.log_submit(session, pdu, &format_args!("status={status}")),
            }
        }
        Some(result)
    }

    /// A submit past the faults and the throttle: rejected, or given an id and receipts.
    async fn accept(
        &self,
        session: &SessionInfo,
        system_id: &str,
        messages: Vec<Submitted>,
        registered_delivery: u8,
    ) -> Result<String, CommandStatus> {
        if !self.config.response_delay.is_zero() {
            tokio::time::sleep(self.config.response_delay).await;
        }
        let n = self.submits.fetch_add(1, Ordering::Relaxed);
        if spread_hit(n, self.config.reject_percent) {
            return Err(CommandStatus::ESME_RSUBMITFAIL);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let delivered = mix(id) % 100 < u64::from(self.config.delivered_percent);
        let wanted = match registered_delivery & 0x03 {
            1 => true,
            2 => !delivered,
            _ => false,
        };
        let now_secs = crate::message::now_ms().div_euclid(1000);
        // Asked for (0x10): an intermediate notification (ENROUTE) halfway to the receipt.
        if registered_delivery & 0x10 != 0 {
            let due = Instant::now() + self.config.receipt_delay / 2;
            for message in &messages {
                let notification = self.report(
                    id,
                    (MessageState::ENROUTE, 0),
                    now_secs,
                    message,
                    esm_class::INTERMEDIATE_NOTIFICATION,
                );
                self.shared.schedule(system_id, notification, due, 0);
            }
        }
        if wanted {
            for message in &messages {
                let deliver_sm = self.receipt(id, delivered, now_secs, message);
                if self.config.receipt_before_response {
                    self.receipt_now(session, system_id, deliver_sm).await;
                } else {
                    let jitter = jitter(id, self.config.receipt_jitter);
                    let due = Instant::now() + self.config.receipt_delay + jitter;
                    self.shared.schedule(system_id, deliver_sm, due, 0);
                }
            }
        }
        Ok(self.format_id(id))
    }

    /// submit_multi: the submit path once for all its SME destinations (a receipt each);
    /// distribution lists are refused destination by destination.
    async fn submit_multi(
        &self,
        session: &SessionInfo,
        pdu: &Pdu,
        sm: &SubmitMulti,
    ) -> Option<Pdu> {
        let seq = pdu.sequence_number;
        let mut messages = Vec::new();
        let mut unsuccess = Vec::new();
        for dest in sm.dest_address.iter() {
            match dest {
                DestAddress::Sme(destination) => messages.push(Submitted {
                    source: address(&sm.source),
                    destination: address(destination),
                    text: text_of(sm.esm_class, sm.data_coding, sm.short_message.as_bytes()),
                }),
                // A carrier keeps its own lists; ours has none.
                DestAddress::DistributionList { dl_name } => unsuccess.push(UnsuccessSme {
                    destination: Address::new(0, 0, dl_name.clone()),
                    error_status_code: CommandStatus::ESME_RINVDLNAME,
                }),
            }
        }
        let refuse = |status| {
            Some(Pdu::with_status(
                seq,
                status,
                Body::SubmitMultiResp(SubmitMultiResp::default()),
            ))
        };
        if messages.is_empty() {
            return refuse(CommandStatus::ESME_RINVDLNAME);
        }
        match self
            .submit(session, pdu, messages, sm.registered_delivery)
            .await?
        {
            // One id for the whole submit: its receipts (one per destination) all name it.
            Ok(id) => Some(Pdu::new(
                seq,
                Body::SubmitMultiResp(SubmitMultiResp {
                    message_id: id.try_into().unwrap_or_default(),
                    unsuccess_sme: unsuccess.try_into().unwrap_or_default(),
                    tlvs: Tlvs::new(),
                }),
            )),
            Err(status) => refuse(status),
        }
    }
}

impl Service for Simulator {
    async fn request(&self, session: Arc<SessionInfo>, pdu: Pdu) -> Reply {
        let seq = pdu.sequence_number;
        let response = match &pdu.body {
            Body::BindTransmitter(_) => return self.bind(&session, &pdu, BindKind::Transmitter),
            Body::BindReceiver(_) => return self.bind(&session, &pdu, BindKind::Receiver),
            Body::BindTransceiver(_) => return self.bind(&session, &pdu, BindKind::Transceiver),
            Body::SubmitSm(sm) => {
                if let Some(garbage) = self.garbage(&session, &pdu) {
                    return Reply::Raw(garbage);
                }
                let message = submitted_sm(sm);
                let result = self.submit(&session, &pdu, vec![message], sm.registered_delivery);
                // None (withheld, dropped): no response, as if it never arrived.
                result
                    .await
                    .and_then(|r| id_resp(seq, r, Body::SubmitSmResp))
            }
            Body::DataSm(sm) => {
                let message = submitted_data_sm(sm);
                let result = self.submit(&session, &pdu, vec![message], sm.registered_delivery);
                result.await.and_then(|r| id_resp(seq, r, Body::DataSmResp))
            }
            Body::SubmitMulti(sm) => self.submit_multi(&session, &pdu, sm).await,
            // The simulator keeps no message store to query, cancel or replace in.
            Body::QuerySm(_) => failed(&pdu, CommandStatus::ESME_RQUERYFAIL),
            Body::CancelSm(_) => failed(&pdu, CommandStatus::ESME_RCANCELFAIL),
            Body::ReplaceSm(_) => failed(&pdu, CommandStatus::ESME_RREPLACEFAIL),
            // The session admits nothing else from an ESME.
            _ => failed(&pdu, CommandStatus::ESME_RINVBNDSTS),
        };
        match response {
            Some(response) => Reply::Respond(response),
            None => Reply::Nothing,
        }
    }

    fn closed(&self, session: &SessionInfo) {
        let ended = {
            let mut table = self.binds();
            table.remove(&session.id).map(|entry| {
                let left = table
                    .values()
                    .filter(|b| b.system_id == entry.system_id)
                    .count();
                (entry, left)
            })
        };
        if let Some((entry, left)) = ended {
            self.log_session(
                session.id,
                &format_args!(
                    "closed system_id={} binds={left}",
                    log::field(&entry.system_id)
                ),
            );
        }
        if let Some((system_id, kind)) = &session.bound {
            tracing::info!(client = %system_id, peer = %session.peer, bind = kind.name(), "unbound");
        }
    }
}

fn submitted_sm(sm: &SubmitSm) -> Submitted {
    Submitted {
        source: address(&sm.source),
        destination: address(&sm.destination),
        text: text_of(sm.esm_class, sm.data_coding, sm.short_message.as_bytes()),
    }
}

fn submitted_data_sm(sm: &DataSm) -> Submitted {
    let payload = sm
        .tlvs
        .message_payload()
        .map(|b| b.as_ref())
        .unwrap_or_default();
    Submitted {
        source: address(&sm.source),
        destination: address(&sm.destination),
        text: text_of(sm.esm_class, sm.data_coding, payload),
    }
}

fn address<const MAX: usize>(address: &Address<MAX>) -> (u8, u8, String) {
    (address.ton, address.npi, address.addr.to_string_lossy())
}

/// The message text for the receipt's `text:`, best effort: UDH skipped, UCS-2 decoded,
/// anything else read as ASCII/Latin-ish bytes.
fn text_of(esm: u8, data_coding: u8, bytes: &[u8]) -> String {
    let bytes = if esm & esm_class::UDHI != 0 {
        let udh = bytes.first().map_or(0, |&len| usize::from(len) + 1);
        bytes.get(udh..).unwrap_or_default()
    } else {
        bytes
    };
    if data_coding == 8 {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            // chunks_exact(2): every pair has two octets; an odd last octet is left out.
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

fn id_resp(
    seq: u32,
    result: Result<String, CommandStatus>,
    body: fn(MessageIdResp) -> Body,
) -> Option<Pdu> {
    Some(match result {
        Ok(id) => Pdu::new(
            seq,
            body(MessageIdResp {
                message_id: id.try_into().unwrap_or_default(),
                tlvs: Tlvs::new(),
            }),
        ),
        Err(status) => Pdu::with_status(seq, status, body(MessageIdResp::default())),
    })
}

fn failed(pdu: &Pdu, status: CommandStatus) -> Option<Pdu> {
    pdu.response_with_status(status)
}
