//! The gateway's message model: what is stored, queued, dispatched and relayed. No I/O here; the
//! store (`store/`) decides how these types sit on the disk.
//!
//! The serde derives are the on-disk format (postcard, behind a version byte in
//! `store/layout.rs`): fields and enum variants may only be appended, never reordered or
//! removed, or old stores stop decoding.

use serde::{Deserialize, Serialize};
use smpp_proto::MessageState;
use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The gateway message id given to the ESME in `submit_sm_resp`: unique across restarts.
///
/// Shown as plain decimal. Ids stay below 10^16 so they fit the 16 digits that receipts and
/// `message_id` fields of common carriers and clients accept (SMPP 3.4 allows 64 octets).
///
/// `Default` is 0, which the store never allocates (ids start at 1): a placeholder, not an id.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct MessageId(pub u64);

impl MessageId {
    /// Most decimal digits an id has, and so the longest text [`FromStr`] accepts.
    pub const MAX_DIGITS: usize = 16;

    /// An id from its number; the store allocates new ones (`Store::allocate_id`).
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    /// The number behind the id.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A `message_id` text that is not one of ours.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    /// No digits at all.
    #[error("empty message id")]
    Empty,
    /// More digits than any id we give out.
    #[error("message id longer than {max} digits", max = MessageId::MAX_DIGITS)]
    TooLong,
    /// Something other than the ASCII digits 0-9.
    #[error("message id is not decimal")]
    NotDecimal,
}

impl FromStr for MessageId {
    type Err = ParseIdError;

    /// Strict decimal: `u64::from_str` would also take a leading `+`, which no id of ours has.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ParseIdError::Empty);
        }
        if s.len() > Self::MAX_DIGITS {
            return Err(ParseIdError::TooLong);
        }
        let mut id = 0u64;
        for b in s.bytes() {
            if !b.is_ascii_digit() {
                return Err(ParseIdError::NotDecimal);
            }
            // At most 16 digits: 10^16 - 1 < u64::MAX, so neither step overflows.
            id = id * 10 + u64::from(b - b'0');
        }
        Ok(Self(id))
    }
}

/// An SMPP address: type of number, numbering plan indicator and the digits (or alphanumeric
/// sender) as received.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Address {
    /// `*_addr_ton`.
    pub ton: u8,
    /// `*_addr_npi`.
    pub npi: u8,
    /// `*_addr`.
    pub addr: String,
}

impl<const N: usize> From<&smpp_proto::pdu::Address<N>> for Address {
    /// A PDU's address as received (invalid UTF-8 replaced): submits, replace_sm and MOs.
    fn from(address: &smpp_proto::pdu::Address<N>) -> Self {
        Self {
            ton: address.ton,
            npi: address.npi,
            addr: address.addr.to_string_lossy(),
        }
    }
}

/// Where a message went upstream: the carrier link and the id that carrier gave it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierRef {
    /// Carrier link name (config `[[carriers]] name`).
    pub link: String,
    /// `message_id` from the carrier's `submit_sm_resp`, as received.
    pub carrier_id: String,
}

/// One accepted short message and everything the gateway knows about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Gateway id, as given to the client.
    pub id: MessageId,
    /// `system_id` of the client that submitted it.
    pub client: String,
    /// Route that carries it (the queue it waits in).
    pub route: String,
    /// `service_type`.
    pub service_type: String,
    /// `source_addr_ton`, `source_addr_npi`, `source_addr`.
    pub source: Address,
    /// `dest_addr_ton`, `dest_addr_npi`, `destination_addr`.
    pub destination: Address,
    /// `esm_class`.
    pub esm_class: u8,
    /// `protocol_id`.
    pub protocol_id: u8,
    /// `priority_flag`.
    pub priority_flag: u8,
    /// `registered_delivery`.
    pub registered_delivery: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// `replace_if_present_flag`.
    pub replace_if_present_flag: u8,
    /// `sm_default_msg_id`.
    pub sm_default_msg_id: u8,
    /// `short_message` as received, user data header included.
    pub short_message: Vec<u8>,
    /// Optional parameters to relay upstream, raw and in wire order.
    pub tlvs: Vec<(u16, Vec<u8>)>,
    /// `schedule_delivery_time` resolved to unix ms (UTC); `None` = at once.
    pub schedule_at: Option<i64>,
    /// `validity_period` resolved to unix ms (UTC); `None` = the gateway's default.
    pub expire_at: Option<i64>,
    /// When the gateway accepted it, unix ms.
    pub received_at: i64,
    /// Where it is in its life.
    pub state: State,
    /// Submit attempts towards carriers so far.
    pub attempts: u32,
    /// The carrier that accepted it, once one has.
    pub carrier: Option<CarrierRef>,
    /// Every state change, oldest first.
    pub history: Vec<Event>,
    /// What it is for: decides the rules it meets (consent, sending hours, lanes).
    pub class: Class,
    /// What decided its class.
    pub class_from: ClassFrom,
    /// The client's campaign, reference and tags, as given at submit.
    pub labels: Labels,
}

/// What a message is for. Decided once, at accept (`class.rs`), and never changed: every rule
/// about consent, sending hours and lanes is keyed on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Class {
    /// Expected by the person: an order or payment confirmation, a shipping alert, a code.
    /// Leaves at once, at any hour. The class of messages stored before classes existed.
    #[default]
    Transactional,
    /// Sent to win a sale: a promotion, an abandoned-cart reminder, a survey. Needs consent
    /// and is sent only at allowed hours.
    Marketing,
}

impl Class {
    /// Every class, for labels and help texts.
    pub const ALL: [Self; 2] = [Self::Transactional, Self::Marketing];

    /// As written in config, the admin API and metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Transactional => "transactional",
            Self::Marketing => "marketing",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Class {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|class| class.name() == s)
            .ok_or_else(|| format!("{s:?} is not a class (transactional or marketing)"))
    }
}

/// What decided a message's class, highest precedence first (`class.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClassFrom {
    /// The message's `smppd_class` TLV (0x1500).
    Tlv,
    /// Its `service_type`, by the client's `class_by_service_type`.
    ServiceType,
    /// Its source address, by the client's `class_by_source`.
    Source,
    /// The client's `default_class`.
    ClientDefault,
    /// Nothing: transactional. Also messages stored before classes existed.
    #[default]
    Default,
    /// Its text's opt-out mention ("STOP au 36123"), by the client's `reclassify_on_mention`.
    Mention,
}

impl ClassFrom {
    /// As shown in the admin API.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tlv => "tlv",
            Self::ServiceType => "service_type",
            Self::Source => "source",
            Self::ClientDefault => "default_class",
            Self::Default => "default",
            Self::Mention => "mention",
        }
    }
}

/// What a client says about a message beyond SMPP's fields, kept for its own reports: which
/// campaign it belongs to, the client's own reference for it, and free tags.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labels {
    /// Campaign name.
    pub campaign: Option<String>,
    /// The client's reference (an order number, a cart id).
    pub client_ref: Option<String>,
    /// Free tags, in the order given.
    pub tags: Vec<String>,
}

impl Message {
    /// A plain queued message `id` of client `shop` on route `default`, from `Shop` to
    /// 447700900123, "Your code is 123456" in GSM 7-bit, a receipt asked for. For tests and
    /// benchmarks, which set what they need on top (`Message { route: …, ..Message::example(id) }`).
    #[doc(hidden)]
    pub fn example(id: MessageId) -> Self {
        Self {
            id,
            client: "shop".into(),
            route: "default".into(),
            service_type: String::new(),
            source: Address {
                ton: 5,
                npi: 0,
                addr: "Shop".into(),
            },
            destination: Address {
                ton: 1,
                npi: 1,
                addr: "447700900123".into(),
            },
            esm_class: 0,
            protocol_id: 0,
            priority_flag: 0,
            registered_delivery: 1,
            data_coding: 0,
            replace_if_present_flag: 0,
            sm_default_msg_id: 0,
            short_message: b"Your code is 123456".to_vec(),
            tlvs: vec![],
            schedule_at: None,
            expire_at: None,
            received_at: 1_700_000_000_000,
            state: State::Queued,
            attempts: 0,
            carrier: None,
            history: vec![],
            class: Class::Transactional,
            class_from: ClassFrom::Default,
            labels: Labels::default(),
        }
    }

    /// Its text's octets, as a person would read them once decoded per `data_coding`:
    /// `message_payload` if it has one, else `short_message`, without a user data header.
    pub fn user_data(&self) -> &[u8] {
        let payload = self
            .tlvs
            .iter()
            .find(|(tag, _)| *tag == smpp_proto::Tag::MESSAGE_PAYLOAD.0)
            .map(|(_, value)| value.as_slice());
        let data = payload.unwrap_or(&self.short_message);
        if self.esm_class & smpp_proto::pdu::esm_class::UDHI == 0 {
            return data;
        }
        smpp_proto::concat::parse_udh(data).map_or(&[][..], |(_, text)| text)
    }

    /// Where it stands in a long message: its UDH concatenation element, else its `sar_*`
    /// TLVs; `None` for a whole message (or a part that says nothing readable).
    pub fn part(&self) -> Option<smpp_proto::concat::ConcatInfo> {
        use smpp_proto::concat::{parse_udh, ConcatInfo, Sar};
        use smpp_proto::Tag;
        let data = self
            .tlvs
            .iter()
            .find(|(tag, _)| *tag == Tag::MESSAGE_PAYLOAD.0)
            .map_or(self.short_message.as_slice(), |(_, value)| value.as_slice());
        if self.esm_class & smpp_proto::pdu::esm_class::UDHI != 0 {
            if let Some(info) = parse_udh(data).ok().and_then(|(udh, _)| udh.concat()) {
                return Some(info);
            }
        }
        // Big-endian integers of 1 or 2 octets, as the spec sizes these TLVs.
        let int = |tag: Tag| -> Option<u16> {
            let (_, value) = self.tlvs.iter().find(|(t, _)| *t == tag.0)?;
            match value.as_slice() {
                [b] => Some(u16::from(*b)),
                [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
                _ => None,
            }
        };
        let sar = Sar {
            msg_ref_num: int(Tag::SAR_MSG_REF_NUM)?,
            total_segments: u8::try_from(int(Tag::SAR_TOTAL_SEGMENTS)?).ok()?,
            segment_seqnum: u8::try_from(int(Tag::SAR_SEGMENT_SEQNUM)?).ok()?,
        };
        ConcatInfo::try_from(sar).ok()
    }

    /// The SMS it costs on the air: one for a `short_message` (a part of a long message is one
    /// message here), more for a `message_payload` longer than one SMS, which the carrier splits
    /// (GSM 7-bit payloads are unpacked: an octet a septet).
    pub fn segments(&self) -> u32 {
        let Some(len) = self
            .tlvs
            .iter()
            .find(|(tag, _)| *tag == smpp_proto::Tag::MESSAGE_PAYLOAD.0)
            .map(|(_, value)| value.len())
        else {
            return 1;
        };
        let (single, part) = match self.data_coding {
            0x00 | 0x01 => (160, 153),
            _ => (140, 134),
        };
        if len <= single {
            1
        } else {
            u32::try_from(len.div_ceil(part)).unwrap_or(u32::MAX)
        }
    }

    /// Moves to `next` and records why, or refuses if the current state is final.
    pub fn transition(
        &mut self,
        next: State,
        at: i64,
        detail: impl Into<String>,
    ) -> Result<(), UpdateRefused> {
        if !self.state.can_become(next) {
            return Err(UpdateRefused::Final(self.state));
        }
        self.state = next;
        self.history.push(Event {
            at,
            state: next,
            detail: detail.into(),
        });
        Ok(())
    }
}

/// The gateway's view of a message's life. `Queued`, `Dispatched` and `Enroute` are ENROUTE to a
/// client (`query_sm`); the others are final and name their `message_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    /// Stored, waiting in its route queue (or for its `schedule_delivery_time`).
    Queued,
    /// Sent to a carrier, awaiting its `submit_sm_resp`; still in the queue so a crash re-sends.
    Dispatched,
    /// A carrier accepted it (we have its carrier id); awaiting a receipt.
    Enroute,
    /// The carrier reported delivery.
    Delivered,
    /// The validity period ran out, at the gateway or at the carrier.
    Expired,
    /// Cancelled (`cancel_sm` or an operator).
    Deleted,
    /// The carrier or the gateway gave up on it.
    Undeliverable,
    /// The carrier reported ACCEPTED (SMPP 3.4 §5.2.28: final).
    Accepted,
    /// The carrier reported UNKNOWN.
    Unknown,
    /// Refused by a carrier or by the gateway.
    Rejected,
    /// A carrier accepted it and was asked for no receipt (`registered_delivery =
    /// "requested"`, a client that asked for none): nothing more will be known of it.
    /// `query_sm` says ACCEPTED. Last in the list: stored records name states by position.
    Sent,
}

impl State {
    /// Whether the message's life is over: no state change, no dispatch, no cancel.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Dispatched | Self::Enroute)
    }

    /// Whether a message in this state holds a route queue entry. `Dispatched` keeps its entry
    /// until the carrier accepts it, so a crash in between sends it again instead of losing it.
    pub fn is_queued(self) -> bool {
        matches!(self, Self::Queued | Self::Dispatched)
    }

    /// Whether a message in this state may move to `next`: a final state never changes.
    pub fn can_become(self, next: Self) -> bool {
        let _ = next; // Today only the origin matters; the target is part of the contract.
        !self.is_final()
    }

    /// Its name in the admin API, logs and metric labels: `queued`, `delivered`, ….
    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Dispatched => "dispatched",
            Self::Enroute => "enroute",
            Self::Delivered => "delivered",
            Self::Expired => "expired",
            Self::Deleted => "deleted",
            Self::Undeliverable => "undeliverable",
            Self::Accepted => "accepted",
            Self::Unknown => "unknown",
            Self::Rejected => "rejected",
            Self::Sent => "sent",
        }
    }

    /// The SMPP 3.4 `message_state` a client sees (`query_sm_resp`, receipts).
    pub fn to_message_state(self) -> MessageState {
        match self {
            Self::Queued | Self::Dispatched | Self::Enroute => MessageState::ENROUTE,
            Self::Delivered => MessageState::DELIVERED,
            Self::Expired => MessageState::EXPIRED,
            Self::Deleted => MessageState::DELETED,
            Self::Undeliverable => MessageState::UNDELIVERABLE,
            Self::Accepted | Self::Sent => MessageState::ACCEPTED,
            Self::Unknown => MessageState::UNKNOWN,
            Self::Rejected => MessageState::REJECTED,
        }
    }
}

/// One entry of a message's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When, unix ms.
    pub at: i64,
    /// The state entered.
    pub state: State,
    /// Why, for operators: the carrier and its status, the error, who cancelled.
    pub detail: String,
}

/// Why an update of a stored message was not applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpdateRefused {
    /// The message is in a final state, which never changes.
    #[error("message is already final ({0:?})")]
    Final(State),
    /// The requester does not own the message (another client or source address).
    #[error("message belongs to another client or source address")]
    NotOwner,
    /// A precondition of the change does not hold (e.g. replace of a message a carrier has).
    #[error("{0}")]
    Precondition(&'static str),
}

impl UpdateRefused {
    /// A refusal for the reason given (a [`UpdateRefused::Precondition`]).
    pub const fn new(reason: &'static str) -> Self {
        Self::Precondition(reason)
    }
}

/// What to deliver to a client with `deliver_sm`: a receipt or a mobile-originated message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Receipt or MO.
    pub kind: OutboxKind,
    /// `source_addr*` of the `deliver_sm`.
    pub source: Address,
    /// `dest_addr*` of the `deliver_sm`.
    pub destination: Address,
    /// `esm_class` (the receipt bit for receipts).
    pub esm_class: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// `short_message` (receipt text, or the MO user data as received).
    pub short_message: Vec<u8>,
    /// Optional parameters, raw and in wire order.
    pub tlvs: Vec<(u16, Vec<u8>)>,
    /// When it was put in the outbox, unix ms.
    pub created_at: i64,
}

/// The two things a client receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboxKind {
    /// A delivery receipt for one of the client's messages.
    Receipt {
        /// The gateway id the client knows the message by.
        message_id: MessageId,
        /// SMPP 3.4 `message_state` value ([`MessageState`]`.0`).
        state: u8,
        /// Network error code for the receipt's `err:` field.
        err: u32,
    },
    /// A mobile-originated message routed to the client.
    Mo,
}

/// Now as unix milliseconds, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        // A clock set before 1970: negative, so the order of timestamps still holds.
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// Unix ms as RFC 3339 UTC with milliseconds, as the admin API and webhooks show times;
/// times before 1970 show as 1970.
pub fn rfc3339(unix_ms: i64) -> String {
    let ms = u64::try_from(unix_ms).unwrap_or(0);
    humantime::format_rfc3339_millis(UNIX_EPOCH + std::time::Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_count_what_the_carrier_sends() {
        let with_payload = |data_coding, len| Message {
            data_coding,
            short_message: vec![],
            tlvs: vec![(smpp_proto::Tag::MESSAGE_PAYLOAD.0, vec![b'a'; len])],
            ..Message::example(MessageId::new(1))
        };
        assert_eq!(Message::example(MessageId::new(1)).segments(), 1);
        assert_eq!(with_payload(0x00, 160).segments(), 1);
        assert_eq!(with_payload(0x00, 161).segments(), 2);
        assert_eq!(with_payload(0x00, 306).segments(), 2);
        assert_eq!(with_payload(0x00, 307).segments(), 3);
        assert_eq!(with_payload(0x08, 140).segments(), 1);
        assert_eq!(with_payload(0x08, 141).segments(), 2);
        assert_eq!(with_payload(0x08, 0).segments(), 1);
    }

    #[test]
    fn id_text_round_trips() {
        let id = MessageId::new(9_999_999_999_999_999);
        assert_eq!(id.to_string(), "9999999999999999");
        assert_eq!("9999999999999999".parse(), Ok(id));
        assert_eq!(MessageId::new(42).to_string(), "42");
        assert_eq!("0042".parse(), Ok(MessageId::new(42)));
        assert_eq!("".parse::<MessageId>(), Err(ParseIdError::Empty));
        assert_eq!(
            "12345678901234567".parse::<MessageId>(),
            Err(ParseIdError::TooLong)
        );
        assert_eq!("+1".parse::<MessageId>(), Err(ParseIdError::NotDecimal));
        assert_eq!("1a".parse::<MessageId>(), Err(ParseIdError::NotDecimal));
    }

    #[test]
    fn final_states_never_change() {
        let all = [
            State::Queued,
            State::Dispatched,
            State::Enroute,
            State::Delivered,
            State::Expired,
            State::Deleted,
            State::Undeliverable,
            State::Accepted,
            State::Unknown,
            State::Rejected,
            State::Sent,
        ];
        for from in all {
            // Our notion of final matches the spec's, through the mapping.
            assert_eq!(
                from.is_final(),
                from.to_message_state().is_final(),
                "{from:?}"
            );
            for to in all {
                assert_eq!(from.can_become(to), !from.is_final(), "{from:?} -> {to:?}");
            }
        }
        assert_eq!(State::Dispatched.to_message_state(), MessageState::ENROUTE);
        assert_eq!(State::Deleted.to_message_state(), MessageState::DELETED);
    }

    #[test]
    fn transition_records_history() {
        let mut m = Message {
            registered_delivery: 0,
            short_message: b"hi".to_vec(),
            received_at: 0,
            ..Message::example(MessageId::new(1))
        };
        assert_eq!(m.transition(State::Enroute, 5, "carrier a"), Ok(()));
        assert_eq!(m.transition(State::Delivered, 6, "receipt"), Ok(()));
        assert_eq!(
            m.transition(State::Deleted, 7, "cancel"),
            Err(UpdateRefused::Final(State::Delivered))
        );
        assert_eq!(m.history.len(), 2);
        assert_eq!(m.history[1].state, State::Delivered);
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }
}
