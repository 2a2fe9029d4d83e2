//! A small ESME: binds to an SMPP server, submits one text (encoded and split as it needs) and
//! waits for the receipts of its parts. `smppctl send` is built on it: the first thing a new
//! operator runs, and a quick health check of a live gateway.

use crate::config::SessionConfig;
use crate::session::{self, Reply, Role, Service, SessionInfo, SessionLimits};
use smpp_proto::coding::{self, Encoding};
use smpp_proto::concat::{self, ConcatMethod};
use smpp_proto::pdu::{esm_class, Address, Bind, ShortMessage, SubmitSm};
use smpp_proto::{receipt, Body, CommandStatus, MessageState, Pdu, Tag};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What to send, where, as whom.
#[derive(Clone, Debug)]
pub struct Message {
    /// `host:port` of the SMPP server.
    pub server: String,
    pub system_id: String,
    pub password: String,
    /// Source address: digits (an international number) or a name (alphanumeric sender).
    pub from: String,
    /// Destination number, digits (a leading `+` is dropped).
    pub to: String,
    pub text: String,
    /// How long to wait for the receipts after the last submit; zero: do not wait.
    pub wait: Duration,
}

/// What happened to the message.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    /// The encoding chosen: GSM 7-bit when every character has a GSM code, else UCS-2.
    pub encoding: Encoding,
    /// One per SMS part, in order.
    pub parts: Vec<Part>,
}

/// One SMS part: its id at the server and its receipt, if one came in time.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    pub id: String,
    pub receipt: Option<Receipt>,
}

/// A delivery receipt as received.
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    /// The final state (`message_state` TLV, else the text's `stat:`).
    pub state: MessageState,
    /// `stat:` of the text, e.g. `DELIVRD`.
    pub stat: String,
    /// `err:` of the text.
    pub err: String,
}

/// Why sending failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to {server}: {reason}")]
    Connect { server: String, reason: String },
    #[error("bind refused: {0}")]
    BindRefused(CommandStatus),
    #[error("submit of part {part} refused: {status}")]
    SubmitRefused { part: usize, status: CommandStatus },
    #[error("the text cannot be sent: {0}")]
    Text(String),
    #[error("the session failed: {0}")]
    Session(String),
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds as a transceiver, submits every part asking for a receipt, waits up to `wait` for the
/// receipts, and unbinds.
pub async fn send(message: &Message) -> Result<Sent, Error> {
    let (encoding, segments) = segments(&message.text)?;
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&message.server))
        .await
        .map_err(|_| connect_error(message, "timed out".to_owned()))?
        .map_err(|e| connect_error(message, e.to_string()))?;
    let peer = stream
        .peer_addr()
        .map_err(|e| connect_error(message, e.to_string()))?;
    let (receipts_tx, mut receipts) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let limits = SessionLimits {
        timers: SessionConfig {
            session_init_timeout: Duration::from_secs(10),
            enquire_link_interval: Duration::from_secs(30),
            inactivity_timeout: Duration::from_secs(120),
            response_timeout: Duration::from_secs(10),
            bind_failure_delay: Duration::ZERO,
            unbind_timeout: Duration::from_secs(2),
        },
        max_pdu_bytes: smpp_proto::frame::DEFAULT_MAX_PDU_LEN,
        window: 16,
        gate: None,
    };
    let collector = Arc::new(Receipts { tx: receipts_tx });
    let (handle, session) =
        session::open(stream, peer, Role::Esme, limits, collector, stop.clone());
    let session = tokio::spawn(session);

    let result = async {
        let bind = Bind {
            system_id: text_field(&message.system_id, "system_id")?,
            password: text_field(&message.password, "password")?,
            interface_version: 0x34,
            ..Bind::default()
        };
        let resp = answer(handle.request(Body::BindTransceiver(bind)).await)?;
        if !resp.command_status.is_ok() {
            return Err(Error::BindRefused(resp.command_status));
        }

        let mut parts = Vec::with_capacity(segments.len());
        for (n, segment) in segments.iter().enumerate() {
            let submit = submit_sm(message, encoding, segment)?;
            let resp = answer(handle.request(Body::SubmitSm(submit)).await)?;
            match (&resp.body, resp.command_status) {
                (Body::SubmitSmResp(r), status) if status.is_ok() => parts.push(Part {
                    id: r.message_id.to_string_lossy(),
                    receipt: None,
                }),
                (_, status) => {
                    return Err(Error::SubmitRefused {
                        part: n + 1,
                        status,
                    })
                }
            }
        }

        let index: HashMap<String, usize> = parts
            .iter()
            .enumerate()
            .map(|(n, p)| (p.id.clone(), n))
            .collect();
        let deadline = tokio::time::Instant::now() + message.wait;
        let mut waiting = parts.len();
        while waiting > 0 && !message.wait.is_zero() {
            let Ok(Some((id, receipt))) = tokio::time::timeout_at(deadline, receipts.recv()).await
            else {
                break;
            };
            if let Some(part) = index.get(&id).and_then(|&n| parts.get_mut(n)) {
                if part.receipt.is_none() {
                    waiting -= 1;
                }
                part.receipt = Some(receipt);
            }
        }
        Ok(Sent { encoding, parts })
    }
    .await;

    handle.unbind().await;
    if tokio::time::timeout(Duration::from_secs(3), session)
        .await
        .is_err()
    {
        stop.cancel();
    }
    result
}

fn connect_error(message: &Message, reason: String) -> Error {
    Error::Connect {
        server: message.server.clone(),
        reason,
    }
}

fn answer(answer: session::Answer) -> Result<Pdu, Error> {
    answer.map_err(|e| Error::Session(e.to_string()))
}

fn text_field<const MAX: usize>(
    value: &str,
    name: &str,
) -> Result<smpp_proto::COctetString<MAX>, Error> {
    value
        .try_into()
        .map_err(|_| Error::Text(format!("{name} `{value}` is too long for SMPP")))
}

/// The text as SMS parts: GSM 7-bit if it can be, else UCS-2; long texts with an 8-bit UDH.
fn segments(text: &str) -> Result<(Encoding, Vec<concat::Segment>), Error> {
    let encoding = if coding::gsm7_fits(text) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    };
    // Any reference will do for one message; the clock keeps two sends apart.
    let reference = u16::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().to_le_bytes()[1]),
    );
    let segments = concat::split(text, encoding, ConcatMethod::Udh8, reference)
        .map_err(|e| Error::Text(e.to_string()))?;
    Ok((encoding, segments))
}

fn submit_sm(
    message: &Message,
    encoding: Encoding,
    segment: &concat::Segment,
) -> Result<SubmitSm, Error> {
    let to = message.to.strip_prefix('+').unwrap_or(&message.to);
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !numeric(to) {
        return Err(Error::Text(format!(
            "destination `{}` is not a number",
            message.to
        )));
    }
    let from = message.from.strip_prefix('+').unwrap_or(&message.from);
    // An international number, or an alphanumeric sender name (TON 5, NPI 0).
    let (source_ton, source_npi) = if numeric(from) { (1, 1) } else { (5, 0) };
    let short_message = ShortMessage::new(segment.short_message.clone())
        .ok_or_else(|| Error::Text("a part is longer than short_message holds".to_owned()))?;
    Ok(SubmitSm {
        source: Address::new(source_ton, source_npi, text_field(from, "from")?),
        destination: Address::new(1, 1, text_field(to, "to")?),
        esm_class: if segment.needs_udhi() {
            esm_class::UDHI
        } else {
            0
        },
        registered_delivery: 1,
        data_coding: encoding.data_coding(),
        short_message,
        ..SubmitSm::default()
    })
}

/// Takes the server's deliver_sm: receipts go to the waiting sender, everything is answered.
struct Receipts {
    tx: mpsc::Sender<(String, Receipt)>,
}

impl Service for Receipts {
    async fn request(&self, _session: Arc<SessionInfo>, pdu: Pdu) -> Reply {
        let sequence = pdu.sequence_number;
        match &pdu.body {
            Body::DeliverSm(sm) => {
                if sm.esm_class & esm_class::DELIVERY_RECEIPT != 0 {
                    if let Some(seen) = receipt_of(sm) {
                        // The sender may have stopped waiting; the receipt is answered anyway.
                        let _ = self.tx.try_send(seen);
                    }
                }
                Reply::Respond(Pdu::new(
                    sequence,
                    Body::DeliverSmResp(smpp_proto::pdu::MessageIdResp::default()),
                ))
            }
            _ => match pdu.response_with_status(CommandStatus::ESME_RINVCMDID) {
                Some(response) => Reply::Respond(response),
                None => Reply::Respond(Pdu::generic_nack(sequence, CommandStatus::ESME_RINVCMDID)),
            },
        }
    }

    fn closed(&self, _session: &SessionInfo) {}
}

/// The id and outcome of a receipt: TLVs first, the text for what they lack.
fn receipt_of(sm: &SubmitSm) -> Option<(String, Receipt)> {
    let text = String::from_utf8_lossy(sm.short_message.as_bytes()).into_owned();
    let parsed = receipt::parse(&text).ok();
    let id = sm
        .tlvs
        .receipted_message_id()
        .map(str::to_owned)
        .or_else(|| parsed.as_ref().map(|r| r.id.clone()))?;
    let tlv_state = sm
        .tlvs
        .get_int(Tag::MESSAGE_STATE)
        .and_then(|v| u8::try_from(v).ok())
        .map(MessageState);
    let state = tlv_state
        .or_else(|| parsed.as_ref().and_then(receipt::Receipt::state))
        .unwrap_or(MessageState::UNKNOWN);
    let (stat, err) = parsed
        .map(|r| (r.stat.unwrap_or_default(), r.err.unwrap_or_default()))
        .unwrap_or_default();
    Some((id, Receipt { state, stat, err }))
}
