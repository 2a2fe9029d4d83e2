//! Queries on the bound client's own messages: query_sm reads one, cancel_sm ends a queued
//! one (DELETED, with its receipt), replace_sm rewrites a queued one. Each finds the message
//! through `owned`, so no client reaches another's messages.
//!
//! The `Service` impl in `mod.rs` calls `query_sm`, `cancel_sm` and `replace_sm`.

use super::transliterate;
use super::validate::{validate, Submission};
use super::EsmeService;
use crate::message::{Address, Message, MessageId, State};
use crate::sender;
use crate::session::SessionInfo;
use smpp_proto::coding::Encoding;
use smpp_proto::pdu::{CancelSm, QuerySm, QuerySmResp, ReplaceSm};
use smpp_proto::{time, Body, CommandStatus, Pdu, Tlvs};

impl EsmeService {
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

    /// [`Self::owned`], and in cluster mode a final message that another node ended.
    async fn owned_anywhere(
        &self,
        session: &SessionInfo,
        message_id: &str,
    ) -> Result<Message, CommandStatus> {
        let local = self.owned(session, message_id);
        let Some(handoff) = self.handoff.get() else {
            return local;
        };
        if local != Err(CommandStatus::ESME_RINVMSGID) {
            return local;
        }
        let id: MessageId = message_id
            .parse()
            .map_err(|_| CommandStatus::ESME_RINVMSGID)?;
        let config = self.config();
        let client = Self::client_of(&config, session).ok_or(CommandStatus::ESME_RINVBNDSTS)?;
        match handoff.message(id).await {
            Ok(Some(message)) if message.client == client.system_id => Ok(message),
            Ok(_) => Err(CommandStatus::ESME_RINVMSGID),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a final state from the engine");
                Err(CommandStatus::ESME_RSYSERR)
            }
        }
    }

    pub(super) async fn query_sm(&self, session: &SessionInfo, seq: u32, q: &QuerySm) -> Pdu {
        let found = self
            .owned_anywhere(session, &q.message_id.to_string_lossy())
            .await;
        let Ok(message) = found else {
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

    pub(super) async fn cancel_sm(&self, session: &SessionInfo, seq: u32, c: &CancelSm) -> Pdu {
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

    /// Cancels message `id` while it still waits in its queue: DELETED, with the receipt its
    /// client asked for (`Outboxes::cancel`). The HTTP API cancels through it, one message
    /// (`DELETE`) or a campaign's.
    pub(crate) async fn cancel_queued(
        &self,
        id: MessageId,
        detail: &str,
    ) -> Result<Message, crate::store::Error> {
        self.outboxes.cancel(id, detail.to_owned()).await
    }

    pub(super) async fn replace_sm(&self, session: &SessionInfo, seq: u32, r: &ReplaceSm) -> Pdu {
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
        // A message stored as GSM 7-bit though submitted in UCS-2: its client replaces it
        // with UCS-2 text too.
        let as_submitted = transliterate::applied(&message);
        let data_coding = if as_submitted {
            Encoding::Ucs2.data_coding()
        } else {
            message.data_coding
        };
        // The replacement is checked as if it were submitted with the original's other fields.
        let submission = Submission {
            service_type: message.service_type.clone(),
            source: Address::from(&r.source),
            destination: message.destination.clone(),
            esm_class: message.esm_class,
            protocol_id: message.protocol_id,
            priority_flag: message.priority_flag,
            schedule_delivery_time: r.schedule_delivery_time.as_bytes(),
            validity_period: r.validity_period.as_bytes(),
            registered_delivery: r.registered_delivery,
            replace_if_present_flag: 0,
            data_coding,
            sm_default_msg_id: r.sm_default_msg_id,
            short_message: r.short_message.as_bytes(),
            tlvs: &Tlvs::new(),
        };
        if submission.source != message.source {
            return fail(CommandStatus::ESME_RREPLACEFAIL);
        }
        // The sender is the original's, which passed the sender rules with the class the
        // message keeps (a replace changes neither): no sender rules here.
        let no_rules = sender::Rules {
            rules: &[],
            numbering: &config.numbering,
        };
        let now = crate::message::now_ms();
        let mut replacement = match validate(client, no_rules, &submission, now) {
            Ok(replacement) => replacement,
            Err(status) => return fail(status),
        };
        if as_submitted && client.transliterate {
            transliterate::apply(&mut replacement, now);
        }
        let update = self
            .store
            .update(message.id, move |m| {
                if m.state != State::Queued {
                    return Err(crate::store::UpdateRefused::new("no longer queued"));
                }
                m.short_message = replacement.short_message;
                m.data_coding = replacement.data_coding;
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
