//! Typed PDUs: one [`Body`] variant per SMPP 3.4 command, decoded from one frame and encoded
//! back into a `BytesMut`.

mod address;
mod bind;
mod content;
mod deliver;
mod link;
mod query;
mod submit;

pub use address::Address;
pub(crate) use address::AddressFields;
pub use bind::{Bind, BindResp, Outbind};
pub use content::PartError;
pub use deliver::{DataSm, DataSmResp, DeliverSmResp};
pub use link::AlertNotification;
pub use query::{CancelSm, QuerySm, QuerySmResp, ReplaceSm};
pub use submit::{
    DeliverSm, DestAddress, MessageIdResp, SubmitMulti, SubmitMultiResp, SubmitSm, SubmitSmResp,
    UnsuccessSme,
};

use crate::error::{DecodeError, ErrorKind};
use crate::header::{CommandId, Header, HEADER_LEN};
use crate::parse::Reader;
use crate::status::CommandStatus;
pub use crate::types::hex;
use crate::types::COctetString;
use bytes::{BufMut, Bytes, BytesMut};

/// `esm_class` bits (SMPP 3.4 §5.2.12).
pub mod esm_class {
    /// Mask of the message-type bits (5–2).
    pub const TYPE_MASK: u8 = 0x3C;
    /// Message type: SMSC delivery receipt.
    pub const DELIVERY_RECEIPT: u8 = 0x04;
    /// Message type: SME delivery acknowledgement.
    pub const DELIVERY_ACK: u8 = 0x08;
    /// Message type: manual/user acknowledgement.
    pub const USER_ACK: u8 = 0x10;
    /// Message type: intermediate delivery notification.
    pub const INTERMEDIATE_NOTIFICATION: u8 = 0x20;
    /// GSM feature: `short_message` starts with a User Data Header.
    pub const UDHI: u8 = 0x40;
    /// GSM feature: reply path.
    pub const REPLY_PATH: u8 = 0x80;

    /// Whether a deliver_sm / data_sm with this esm_class is a delivery receipt.
    pub fn is_receipt(esm_class: u8) -> bool {
        esm_class & TYPE_MASK == DELIVERY_RECEIPT
    }

    /// Whether a deliver_sm / data_sm with this esm_class is an intermediate delivery
    /// notification (SMPP 3.4 §5.2.12: a receipt that does not end the message).
    pub fn is_intermediate_notification(esm_class: u8) -> bool {
        esm_class & TYPE_MASK == INTERMEDIATE_NOTIFICATION
    }
}

/// `short_message`: at most 254 octets (`sm_length` is one octet, 255 is reserved).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ShortMessage(Bytes);

impl ShortMessage {
    /// The largest `sm_length` SMPP 3.4 allows.
    pub const MAX: usize = 254;

    /// Wraps `data` if it fits; `None` if it is longer than 254 octets.
    pub fn new(data: impl Into<Bytes>) -> Option<Self> {
        let data = data.into();
        (data.len() <= Self::MAX).then_some(Self(data))
    }

    /// Wraps data the caller has bounded to 254 octets.
    pub(crate) fn from_bounded(data: Bytes) -> Self {
        debug_assert!(data.len() <= Self::MAX);
        Self(data)
    }

    /// The octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The octets as a cheap `Bytes` handle.
    pub fn to_bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// `sm_length`.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `sm_length` is 0.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn encoded_len(&self) -> usize {
        1 + self.0.len()
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let sm_length = usize::from(r.u8("sm_length")?);
        if sm_length > Self::MAX {
            return Err(DecodeError::new(
                "sm_length",
                ErrorKind::Invalid {
                    reason: "must be 0 to 254",
                },
            ));
        }
        Ok(Self(r.octets("short_message", sm_length)?))
    }

    fn encode(&self, out: &mut BytesMut) {
        // The constructor bounds the length to 254.
        out.put_u8(self.0.len() as u8);
        out.put_slice(&self.0);
    }
}

impl std::fmt::Debug for ShortMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShortMessage({})", hex(&self.0))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ShortMessage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex(&self.0))
    }
}

/// A list whose count travels in one octet, bounded by `MAX` so that the count always fits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundedVec<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> BoundedVec<T, MAX> {
    /// An empty list.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends `item`, or gives it back when the list is full.
    pub fn try_push(&mut self, item: T) -> Result<(), T> {
        if self.0.len() >= MAX {
            return Err(item);
        }
        self.0.push(item);
        Ok(())
    }

    /// The items.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn len_u8(&self) -> u8 {
        // MAX ≤ 255 for every use in this crate.
        u8::try_from(self.0.len()).unwrap_or(u8::MAX)
    }
}

impl<T, const MAX: usize> Default for BoundedVec<T, MAX> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const MAX: usize> TryFrom<Vec<T>> for BoundedVec<T, MAX> {
    type Error = Vec<T>;
    fn try_from(items: Vec<T>) -> Result<Self, Self::Error> {
        if items.len() > MAX {
            return Err(items);
        }
        Ok(Self(items))
    }
}

#[cfg(feature = "serde")]
impl<T: serde::Serialize, const MAX: usize> serde::Serialize for BoundedVec<T, MAX> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// How each body type reads and writes itself.
pub(crate) trait Wire: Sized {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    fn encoded_len(&self) -> usize;
    fn encode(&self, out: &mut BytesMut);
    /// Whether an error response may be sent header-only (SMPP 3.4 §4.4.2: no body when
    /// `command_status` ≠ 0).
    fn is_absent(&self) -> bool {
        false
    }
}

pub(crate) fn put_c_string<const MAX: usize>(out: &mut BytesMut, value: &COctetString<MAX>) {
    out.put_slice(value.as_bytes());
    out.put_u8(0);
}

/// The body of a PDU, one variant per SMPP 3.4 command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(untagged))]
#[allow(missing_docs)]
pub enum Body {
    GenericNack,
    BindReceiver(Bind),
    BindReceiverResp(BindResp),
    BindTransmitter(Bind),
    BindTransmitterResp(BindResp),
    QuerySm(QuerySm),
    QuerySmResp(QuerySmResp),
    SubmitSm(SubmitSm),
    SubmitSmResp(SubmitSmResp),
    DeliverSm(DeliverSm),
    DeliverSmResp(DeliverSmResp),
    Unbind,
    UnbindResp,
    ReplaceSm(ReplaceSm),
    ReplaceSmResp,
    CancelSm(CancelSm),
    CancelSmResp,
    BindTransceiver(Bind),
    BindTransceiverResp(BindResp),
    Outbind(Outbind),
    EnquireLink,
    EnquireLinkResp,
    SubmitMulti(SubmitMulti),
    SubmitMultiResp(SubmitMultiResp),
    AlertNotification(AlertNotification),
    DataSm(DataSm),
    DataSmResp(DataSmResp),
}

/// Applies `$f` to the typed body of every variant that has one, or evaluates `$none`.
macro_rules! with_body {
    ($body:expr, $b:ident => $f:expr, $none:expr) => {
        match $body {
            Body::BindReceiver($b) | Body::BindTransmitter($b) | Body::BindTransceiver($b) => $f,
            Body::BindReceiverResp($b)
            | Body::BindTransmitterResp($b)
            | Body::BindTransceiverResp($b) => $f,
            Body::Outbind($b) => $f,
            Body::QuerySm($b) => $f,
            Body::QuerySmResp($b) => $f,
            Body::SubmitSm($b) | Body::DeliverSm($b) => $f,
            Body::SubmitSmResp($b) | Body::DeliverSmResp($b) | Body::DataSmResp($b) => $f,
            Body::ReplaceSm($b) => $f,
            Body::CancelSm($b) => $f,
            Body::SubmitMulti($b) => $f,
            Body::SubmitMultiResp($b) => $f,
            Body::AlertNotification($b) => $f,
            Body::DataSm($b) => $f,
            Body::GenericNack
            | Body::Unbind
            | Body::UnbindResp
            | Body::ReplaceSmResp
            | Body::CancelSmResp
            | Body::EnquireLink
            | Body::EnquireLinkResp => $none,
        }
    };
}

impl Body {
    /// The command this body belongs to.
    pub fn command_id(&self) -> CommandId {
        match self {
            Self::GenericNack => CommandId::GenericNack,
            Self::BindReceiver(_) => CommandId::BindReceiver,
            Self::BindReceiverResp(_) => CommandId::BindReceiverResp,
            Self::BindTransmitter(_) => CommandId::BindTransmitter,
            Self::BindTransmitterResp(_) => CommandId::BindTransmitterResp,
            Self::QuerySm(_) => CommandId::QuerySm,
            Self::QuerySmResp(_) => CommandId::QuerySmResp,
            Self::SubmitSm(_) => CommandId::SubmitSm,
            Self::SubmitSmResp(_) => CommandId::SubmitSmResp,
            Self::DeliverSm(_) => CommandId::DeliverSm,
            Self::DeliverSmResp(_) => CommandId::DeliverSmResp,
            Self::Unbind => CommandId::Unbind,
            Self::UnbindResp => CommandId::UnbindResp,
            Self::ReplaceSm(_) => CommandId::ReplaceSm,
            Self::ReplaceSmResp => CommandId::ReplaceSmResp,
            Self::CancelSm(_) => CommandId::CancelSm,
            Self::CancelSmResp => CommandId::CancelSmResp,
            Self::BindTransceiver(_) => CommandId::BindTransceiver,
            Self::BindTransceiverResp(_) => CommandId::BindTransceiverResp,
            Self::Outbind(_) => CommandId::Outbind,
            Self::EnquireLink => CommandId::EnquireLink,
            Self::EnquireLinkResp => CommandId::EnquireLinkResp,
            Self::SubmitMulti(_) => CommandId::SubmitMulti,
            Self::SubmitMultiResp(_) => CommandId::SubmitMultiResp,
            Self::AlertNotification(_) => CommandId::AlertNotification,
            Self::DataSm(_) => CommandId::DataSm,
            Self::DataSmResp(_) => CommandId::DataSmResp,
        }
    }

    /// The body of `command` with every field NULL/0 and no TLVs; for an error response this
    /// is the header-only form.
    pub fn empty(command: CommandId) -> Self {
        match command {
            CommandId::GenericNack => Self::GenericNack,
            CommandId::BindReceiver => Self::BindReceiver(Bind::default()),
            CommandId::BindReceiverResp => Self::BindReceiverResp(BindResp::default()),
            CommandId::BindTransmitter => Self::BindTransmitter(Bind::default()),
            CommandId::BindTransmitterResp => Self::BindTransmitterResp(BindResp::default()),
            CommandId::QuerySm => Self::QuerySm(QuerySm::default()),
            CommandId::QuerySmResp => Self::QuerySmResp(QuerySmResp::default()),
            CommandId::SubmitSm => Self::SubmitSm(SubmitSm::default()),
            CommandId::SubmitSmResp => Self::SubmitSmResp(MessageIdResp::default()),
            CommandId::DeliverSm => Self::DeliverSm(SubmitSm::default()),
            CommandId::DeliverSmResp => Self::DeliverSmResp(MessageIdResp::default()),
            CommandId::Unbind => Self::Unbind,
            CommandId::UnbindResp => Self::UnbindResp,
            CommandId::ReplaceSm => Self::ReplaceSm(ReplaceSm::default()),
            CommandId::ReplaceSmResp => Self::ReplaceSmResp,
            CommandId::CancelSm => Self::CancelSm(CancelSm::default()),
            CommandId::CancelSmResp => Self::CancelSmResp,
            CommandId::BindTransceiver => Self::BindTransceiver(Bind::default()),
            CommandId::BindTransceiverResp => Self::BindTransceiverResp(BindResp::default()),
            CommandId::Outbind => Self::Outbind(Outbind::default()),
            CommandId::EnquireLink => Self::EnquireLink,
            CommandId::EnquireLinkResp => Self::EnquireLinkResp,
            CommandId::SubmitMulti => Self::SubmitMulti(SubmitMulti::default()),
            CommandId::SubmitMultiResp => Self::SubmitMultiResp(SubmitMultiResp::default()),
            CommandId::AlertNotification => Self::AlertNotification(AlertNotification::default()),
            CommandId::DataSm => Self::DataSm(DataSm::default()),
            CommandId::DataSmResp => Self::DataSmResp(MessageIdResp::default()),
        }
    }

    fn decode(command: CommandId, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match command {
            CommandId::GenericNack => Self::GenericNack,
            CommandId::BindReceiver => Self::BindReceiver(Wire::decode(r)?),
            CommandId::BindReceiverResp => Self::BindReceiverResp(Wire::decode(r)?),
            CommandId::BindTransmitter => Self::BindTransmitter(Wire::decode(r)?),
            CommandId::BindTransmitterResp => Self::BindTransmitterResp(Wire::decode(r)?),
            CommandId::QuerySm => Self::QuerySm(Wire::decode(r)?),
            CommandId::QuerySmResp => Self::QuerySmResp(Wire::decode(r)?),
            CommandId::SubmitSm => Self::SubmitSm(Wire::decode(r)?),
            CommandId::SubmitSmResp => Self::SubmitSmResp(Wire::decode(r)?),
            CommandId::DeliverSm => Self::DeliverSm(Wire::decode(r)?),
            CommandId::DeliverSmResp => Self::DeliverSmResp(Wire::decode(r)?),
            CommandId::Unbind => Self::Unbind,
            CommandId::UnbindResp => Self::UnbindResp,
            CommandId::ReplaceSm => Self::ReplaceSm(Wire::decode(r)?),
            CommandId::ReplaceSmResp => Self::ReplaceSmResp,
            CommandId::CancelSm => Self::CancelSm(Wire::decode(r)?),
            CommandId::CancelSmResp => Self::CancelSmResp,
            CommandId::BindTransceiver => Self::BindTransceiver(Wire::decode(r)?),
            CommandId::BindTransceiverResp => Self::BindTransceiverResp(Wire::decode(r)?),
            CommandId::Outbind => Self::Outbind(Wire::decode(r)?),
            CommandId::EnquireLink => Self::EnquireLink,
            CommandId::EnquireLinkResp => Self::EnquireLinkResp,
            CommandId::SubmitMulti => Self::SubmitMulti(Wire::decode(r)?),
            CommandId::SubmitMultiResp => Self::SubmitMultiResp(Wire::decode(r)?),
            CommandId::AlertNotification => Self::AlertNotification(Wire::decode(r)?),
            CommandId::DataSm => Self::DataSm(Wire::decode(r)?),
            CommandId::DataSmResp => Self::DataSmResp(Wire::decode(r)?),
        })
    }

    /// Octets after the header; 0 for an error response sent header-only.
    fn encoded_len(&self, status: CommandStatus) -> usize {
        with_body!(self, b => if omit(b, status) { 0 } else { b.encoded_len() }, 0)
    }

    fn encode(&self, status: CommandStatus, out: &mut BytesMut) {
        with_body!(self, b => if !omit(b, status) { b.encode(out) }, ())
    }
}

fn omit(body: &impl Wire, status: CommandStatus) -> bool {
    !status.is_ok() && body.is_absent()
}

/// One SMPP PDU: header fields and a typed body. `command_length` and `command_id` are
/// derived from the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdu {
    /// `command_status`: 0 in requests.
    pub command_status: CommandStatus,
    /// Correlates a response with its request.
    pub sequence_number: u32,
    /// The command and its fields.
    pub body: Body,
}

impl Pdu {
    /// A request (or any PDU with status 0).
    pub fn new(sequence_number: u32, body: Body) -> Self {
        Self {
            command_status: CommandStatus::ESME_ROK,
            sequence_number,
            body,
        }
    }

    /// A PDU with the given status.
    pub fn with_status(sequence_number: u32, command_status: CommandStatus, body: Body) -> Self {
        Self {
            command_status,
            sequence_number,
            body,
        }
    }

    /// The command.
    pub fn command_id(&self) -> CommandId {
        self.body.command_id()
    }

    /// generic_nack with `status`.
    pub fn generic_nack(sequence_number: u32, status: CommandStatus) -> Self {
        Self::with_status(sequence_number, status, Body::GenericNack)
    }

    /// The answer SMPP 3.4 gives a PDU that failed to decode: the request's own `_resp`
    /// (header-only) with the error's status, or generic_nack when the command is unknown,
    /// has no response, or is itself a response.
    pub fn error_response(error: &DecodeError) -> Self {
        let sequence_number = error.header.map_or(0, |h| h.sequence_number);
        let response = match error.header.and_then(|h| h.command()) {
            Some(command) if !error.wants_generic_nack() => command.response(),
            _ => None,
        };
        match response {
            Some(command) => {
                Self::with_status(sequence_number, error.status(), Body::empty(command))
            }
            None => Self::generic_nack(sequence_number, error.status()),
        }
    }

    /// The header-only response to this request with `status` (an error answer, or the
    /// success answer of commands whose response has no body). `None` for responses and for
    /// requests SMPP 3.4 gives no response.
    pub fn response_with_status(&self, status: CommandStatus) -> Option<Self> {
        let command = self.command_id().response()?;
        Some(Self::with_status(
            self.sequence_number,
            status,
            Body::empty(command),
        ))
    }

    /// Decodes one whole frame (as cut by [`crate::frame::split_frame`]). Octet strings in the
    /// result share the frame's memory.
    pub fn decode(frame: &Bytes) -> Result<Self, DecodeError> {
        let header = Header::peek(frame)
            .ok_or_else(|| DecodeError::new("command_length", ErrorKind::Truncated))?;
        let declared = header.command_length as usize;
        if declared != frame.len() {
            return Err(DecodeError::new(
                "command_length",
                ErrorKind::Length {
                    declared,
                    actual: frame.len(),
                },
            )
            .with_header(header));
        }
        let command = header.command().ok_or_else(|| {
            DecodeError::new("command_id", ErrorKind::UnknownCommand(header.command_id))
                .with_header(header)
        })?;
        let body = frame.get(HEADER_LEN..).unwrap_or_default();
        let mut reader = Reader::new(frame, body);
        let decoded = Body::decode(command, &mut reader).map_err(|e| e.with_header(header))?;
        if !reader.is_empty() {
            // Only header-only PDUs can have octets left: the others end in TLVs.
            return Err(DecodeError::new(
                "command_length",
                ErrorKind::TrailingOctets {
                    count: reader.remaining(),
                },
            )
            .with_header(header));
        }
        Ok(Self {
            command_status: header.command_status,
            sequence_number: header.sequence_number,
            body: decoded,
        })
    }

    /// Octets on the wire, header included.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body.encoded_len(self.command_status)
    }

    /// Appends the PDU to `out`, reserving its length once.
    pub fn encode(&self, out: &mut BytesMut) {
        let len = self.encoded_len();
        out.reserve(len);
        Header {
            // A body is bounded far below 4 GiB: strings and lists are bounded, TLVs 64 KiB each.
            command_length: u32::try_from(len).unwrap_or(u32::MAX),
            command_id: self.command_id().as_u32(),
            command_status: self.command_status,
            sequence_number: self.sequence_number,
        }
        .encode(out);
        self.body.encode(self.command_status, out);
    }

    /// The PDU as a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Pdu {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("command_length", &self.encoded_len())?;
        map.serialize_entry("command_id", self.command_id().name())?;
        map.serialize_entry("command_status", &self.command_status)?;
        map.serialize_entry("sequence_number", &self.sequence_number)?;
        map.serialize_entry("body", &self.body)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bodies_belong_to_their_command() {
        for command in CommandId::ALL {
            assert_eq!(Body::empty(command).command_id(), command);
        }
    }
}
