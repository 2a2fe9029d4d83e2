//! Optional parameters (SMPP 3.4 §5.3): tag + length + value. Every 3.4 tag is known with its
//! name and value type; other tags (vendor 0x1400–0x3FFF, SMPP 5.0, reserved) are kept raw and
//! re-encoded byte for byte.

use crate::error::{DecodeError, ErrorKind};
use crate::parse::Reader;
use crate::types::MessageState;
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// A TLV tag: an open code space, so a newtype with the spec's names as constants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u16);

/// The shape of a known tag's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 1-octet integer.
    U8,
    /// 2-octet integer.
    U16,
    /// 4-octet integer.
    U32,
    /// C-Octet String of at most `max` octets, NUL included.
    CString {
        /// Maximum encoded size.
        max: usize,
    },
    /// Octet string of `min..=max` octets.
    Octets {
        /// Minimum length.
        min: usize,
        /// Maximum length.
        max: usize,
    },
}

macro_rules! tags {
    ($($konst:ident = $value:literal, $name:literal, $kind:expr;)*) => {
        #[allow(missing_docs)]
        impl Tag {
            $(pub const $konst: Self = Self($value);)*
        }

        /// (tag, spec name, value shape), sorted by tag.
        const TAGS: &[(Tag, &str, Kind)] = &[$((Tag($value), $name, $kind),)*];
    };
}

tags! {
    DEST_ADDR_SUBUNIT = 0x0005, "dest_addr_subunit", Kind::U8;
    DEST_NETWORK_TYPE = 0x0006, "dest_network_type", Kind::U8;
    DEST_BEARER_TYPE = 0x0007, "dest_bearer_type", Kind::U8;
    DEST_TELEMATICS_ID = 0x0008, "dest_telematics_id", Kind::U16;
    SOURCE_ADDR_SUBUNIT = 0x000D, "source_addr_subunit", Kind::U8;
    SOURCE_NETWORK_TYPE = 0x000E, "source_network_type", Kind::U8;
    SOURCE_BEARER_TYPE = 0x000F, "source_bearer_type", Kind::U8;
    SOURCE_TELEMATICS_ID = 0x0010, "source_telematics_id", Kind::U8;
    QOS_TIME_TO_LIVE = 0x0017, "qos_time_to_live", Kind::U32;
    PAYLOAD_TYPE = 0x0019, "payload_type", Kind::U8;
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D, "additional_status_info_text",
        Kind::CString { max: 256 };
    RECEIPTED_MESSAGE_ID = 0x001E, "receipted_message_id", Kind::CString { max: 65 };
    MS_MSG_WAIT_FACILITIES = 0x0030, "ms_msg_wait_facilities", Kind::U8;
    PRIVACY_INDICATOR = 0x0201, "privacy_indicator", Kind::U8;
    SOURCE_SUBADDRESS = 0x0202, "source_subaddress", Kind::Octets { min: 2, max: 23 };
    DEST_SUBADDRESS = 0x0203, "dest_subaddress", Kind::Octets { min: 2, max: 23 };
    USER_MESSAGE_REFERENCE = 0x0204, "user_message_reference", Kind::U16;
    USER_RESPONSE_CODE = 0x0205, "user_response_code", Kind::U8;
    SOURCE_PORT = 0x020A, "source_port", Kind::U16;
    DESTINATION_PORT = 0x020B, "destination_port", Kind::U16;
    SAR_MSG_REF_NUM = 0x020C, "sar_msg_ref_num", Kind::U16;
    LANGUAGE_INDICATOR = 0x020D, "language_indicator", Kind::U8;
    SAR_TOTAL_SEGMENTS = 0x020E, "sar_total_segments", Kind::U8;
    SAR_SEGMENT_SEQNUM = 0x020F, "sar_segment_seqnum", Kind::U8;
    SC_INTERFACE_VERSION = 0x0210, "sc_interface_version", Kind::U8;
    CALLBACK_NUM_PRES_IND = 0x0302, "callback_num_pres_ind", Kind::U8;
    CALLBACK_NUM_ATAG = 0x0303, "callback_num_atag", Kind::Octets { min: 0, max: 65 };
    NUMBER_OF_MESSAGES = 0x0304, "number_of_messages", Kind::U8;
    CALLBACK_NUM = 0x0381, "callback_num", Kind::Octets { min: 4, max: 19 };
    DPF_RESULT = 0x0420, "dpf_result", Kind::U8;
    SET_DPF = 0x0421, "set_dpf", Kind::U8;
    MS_AVAILABILITY_STATUS = 0x0422, "ms_availability_status", Kind::U8;
    NETWORK_ERROR_CODE = 0x0423, "network_error_code", Kind::Octets { min: 3, max: 3 };
    MESSAGE_PAYLOAD = 0x0424, "message_payload", Kind::Octets { min: 0, max: 65535 };
    DELIVERY_FAILURE_REASON = 0x0425, "delivery_failure_reason", Kind::U8;
    MORE_MESSAGES_TO_SEND = 0x0426, "more_messages_to_send", Kind::U8;
    MESSAGE_STATE = 0x0427, "message_state", Kind::U8;
    USSD_SERVICE_OP = 0x0501, "ussd_service_op", Kind::U8;
    DISPLAY_TIME = 0x1201, "display_time", Kind::U8;
    SMS_SIGNAL = 0x1203, "sms_signal", Kind::U16;
    MS_VALIDITY = 0x1204, "ms_validity", Kind::U8;
    ALERT_ON_MESSAGE_DELIVERY = 0x130C, "alert_on_message_delivery",
        Kind::Octets { min: 0, max: 1 };
    ITS_REPLY_TYPE = 0x1380, "its_reply_type", Kind::U8;
    ITS_SESSION_INFO = 0x1383, "its_session_info", Kind::Octets { min: 2, max: 2 };
}

impl Tag {
    /// The spec's name, or `None` for a tag SMPP 3.4 does not define.
    pub fn name(self) -> Option<&'static str> {
        self.entry().map(|(_, name, _)| name)
    }

    /// The shape of the value; `None` for a tag SMPP 3.4 does not define.
    pub fn kind(self) -> Option<Kind> {
        self.entry().map(|(_, _, kind)| kind)
    }

    /// Looks a tag up by its spec name.
    pub fn from_name(name: &str) -> Option<Self> {
        TAGS.iter()
            .find(|(_, n, _)| *n == name)
            .map(|(tag, _, _)| *tag)
    }

    /// Every SMPP 3.4 tag.
    pub fn all() -> impl Iterator<Item = Self> {
        TAGS.iter().map(|(tag, _, _)| *tag)
    }

    fn entry(self) -> Option<(Self, &'static str, Kind)> {
        let i = TAGS
            .binary_search_by_key(&self.0, |(tag, _, _)| tag.0)
            .ok()?;
        TAGS.get(i).copied()
    }

    fn field(self) -> &'static str {
        self.name().unwrap_or("tlv")
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "0x{:04X}", self.0),
        }
    }
}

/// A TLV value, typed by its tag's [`Kind`]. Unknown tags always hold `Octets`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlvValue {
    /// 1-octet integer.
    U8(u8),
    /// 2-octet integer.
    U16(u16),
    /// 4-octet integer.
    U32(u32),
    /// C-Octet String, without its NUL.
    CString(Bytes),
    /// Raw octets.
    Octets(Bytes),
}

/// Why a value does not fit its tag.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{tag}: {reason}")]
pub struct TlvError {
    /// The tag.
    pub tag: Tag,
    /// Why.
    pub reason: &'static str,
}

/// One optional parameter. Built only through checked constructors, so its value always fits
/// its tag and it always encodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tlv {
    tag: Tag,
    value: TlvValue,
}

impl Tlv {
    /// Checks `value` against the tag's shape (unknown tags take `Octets` up to 65535).
    pub fn new(tag: Tag, value: TlvValue) -> Result<Self, TlvError> {
        let err = |reason| Err(TlvError { tag, reason });
        let kind = tag.kind().unwrap_or(Kind::Octets { min: 0, max: 65535 });
        match (kind, &value) {
            (Kind::U8, TlvValue::U8(_))
            | (Kind::U16, TlvValue::U16(_))
            | (Kind::U32, TlvValue::U32(_)) => {}
            (Kind::CString { max }, TlvValue::CString(s)) => {
                if s.len() + 1 > max {
                    return err("too long");
                }
                if s.contains(&0) {
                    return err("contains a NUL octet");
                }
            }
            (Kind::Octets { min, max }, TlvValue::Octets(o)) => {
                if !(min..=max).contains(&o.len()) {
                    return err("length out of range");
                }
            }
            _ => return err("value of the wrong type for this tag"),
        }
        Ok(Self { tag, value })
    }

    /// `message_state` (receipts).
    pub fn message_state(state: MessageState) -> Self {
        Self {
            tag: Tag::MESSAGE_STATE,
            value: TlvValue::U8(state.0),
        }
    }

    /// `sc_interface_version` (bind responses).
    pub fn sc_interface_version(version: u8) -> Self {
        Self {
            tag: Tag::SC_INTERFACE_VERSION,
            value: TlvValue::U8(version),
        }
    }

    /// `sar_msg_ref_num`.
    pub fn sar_msg_ref_num(reference: u16) -> Self {
        Self {
            tag: Tag::SAR_MSG_REF_NUM,
            value: TlvValue::U16(reference),
        }
    }

    /// `sar_total_segments`.
    pub fn sar_total_segments(total: u8) -> Self {
        Self {
            tag: Tag::SAR_TOTAL_SEGMENTS,
            value: TlvValue::U8(total),
        }
    }

    /// `sar_segment_seqnum`.
    pub fn sar_segment_seqnum(seqnum: u8) -> Self {
        Self {
            tag: Tag::SAR_SEGMENT_SEQNUM,
            value: TlvValue::U8(seqnum),
        }
    }

    /// `receipted_message_id` (receipts); at most 64 characters.
    pub fn receipted_message_id(id: &str) -> Result<Self, TlvError> {
        let value = TlvValue::CString(Bytes::copy_from_slice(id.as_bytes()));
        Self::new(Tag::RECEIPTED_MESSAGE_ID, value)
    }

    /// `message_payload`; at most 65535 octets.
    pub fn message_payload(payload: Bytes) -> Result<Self, TlvError> {
        Self::new(Tag::MESSAGE_PAYLOAD, TlvValue::Octets(payload))
    }

    /// A 1-octet integer TLV (`sar_total_segments`, `sc_interface_version`, …).
    pub fn u8(tag: Tag, value: u8) -> Result<Self, TlvError> {
        Self::new(tag, TlvValue::U8(value))
    }

    /// A 2-octet integer TLV (`sar_msg_ref_num`, `source_port`, …).
    pub fn u16(tag: Tag, value: u16) -> Result<Self, TlvError> {
        Self::new(tag, TlvValue::U16(value))
    }

    /// The tag.
    pub fn tag(&self) -> Tag {
        self.tag
    }

    /// The value.
    pub fn value(&self) -> &TlvValue {
        &self.value
    }

    /// The value as it goes on the wire (without tag and length).
    pub fn value_bytes(&self) -> Bytes {
        match &self.value {
            TlvValue::U8(v) => Bytes::copy_from_slice(&[*v]),
            TlvValue::U16(v) => Bytes::copy_from_slice(&v.to_be_bytes()),
            TlvValue::U32(v) => Bytes::copy_from_slice(&v.to_be_bytes()),
            TlvValue::CString(s) => {
                let mut out = BytesMut::with_capacity(s.len() + 1);
                out.put_slice(s);
                out.put_u8(0);
                out.freeze()
            }
            TlvValue::Octets(o) => o.clone(),
        }
    }

    /// Octets on the wire: 4 header octets plus the value.
    pub fn encoded_len(&self) -> usize {
        4 + self.value_len()
    }

    fn value_len(&self) -> usize {
        match &self.value {
            TlvValue::U8(_) => 1,
            TlvValue::U16(_) => 2,
            TlvValue::U32(_) => 4,
            TlvValue::CString(s) => s.len() + 1,
            TlvValue::Octets(o) => o.len(),
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.tag.0);
        // Fits: every constructor bounds the value to 65535 octets.
        out.put_u16(u16::try_from(self.value_len()).unwrap_or(u16::MAX));
        match &self.value {
            TlvValue::U8(v) => out.put_u8(*v),
            TlvValue::U16(v) => out.put_u16(*v),
            TlvValue::U32(v) => out.put_u32(*v),
            TlvValue::CString(s) => {
                out.put_slice(s);
                out.put_u8(0);
            }
            TlvValue::Octets(o) => out.put_slice(o),
        }
    }

    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if reader.remaining() < 4 {
            return Err(DecodeError::new("tlv", ErrorKind::TlvStream));
        }
        let tag = Tag(reader.u16("tlv")?);
        let length = usize::from(reader.u16("tlv")?);
        if reader.remaining() < length {
            return Err(DecodeError::new(tag.field(), ErrorKind::TlvStream));
        }
        let raw = reader.octets(tag.field(), length)?;
        Self::from_raw(tag, raw)
    }

    /// Types a raw value by its tag, with the same checks as decoding (a stored or relayed
    /// TLV comes back exactly as it was).
    pub fn from_raw(tag: Tag, raw: Bytes) -> Result<Self, DecodeError> {
        let length = raw.len();
        let bad_length =
            || DecodeError::new(tag.field(), ErrorKind::TlvLength { tag: tag.0, length });
        let int = |n: usize| -> Result<u32, DecodeError> {
            if raw.len() != n {
                return Err(bad_length());
            }
            Ok(raw.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)))
        };
        let value = match tag.kind() {
            None => TlvValue::Octets(raw),
            // `int(n)` checked the width, so the casts cannot truncate.
            Some(Kind::U8) => TlvValue::U8(int(1)? as u8),
            Some(Kind::U16) => TlvValue::U16(int(2)? as u16),
            Some(Kind::U32) => TlvValue::U32(int(4)?),
            Some(Kind::CString { max }) => {
                if length > max {
                    return Err(bad_length());
                }
                // Decode liberally: some SMSCs omit the NUL of receipted_message_id. The value
                // must still leave room for the NUL that encoding adds back.
                let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
                if end >= max {
                    return Err(bad_length());
                }
                if raw.get(end + 1..).is_some_and(|after| !after.is_empty()) {
                    return Err(DecodeError::new(
                        tag.field(),
                        ErrorKind::TlvValue { tag: tag.0 },
                    ));
                }
                TlvValue::CString(raw.slice(..end))
            }
            Some(Kind::Octets { min, max }) => {
                if !(min..=max).contains(&length) {
                    return Err(bad_length());
                }
                TlvValue::Octets(raw)
            }
        };
        Ok(Self { tag, value })
    }
}

/// The optional parameters of one PDU, in wire order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tlvs(Vec<Tlv>);

impl Tlvs {
    /// No TLVs.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends a TLV (keeps any earlier one with the same tag).
    pub fn push(&mut self, tlv: Tlv) {
        self.0.push(tlv);
    }

    /// Replaces the first TLV with this tag, or appends it.
    pub fn set(&mut self, tlv: Tlv) {
        match self.0.iter_mut().find(|t| t.tag == tlv.tag) {
            Some(slot) => *slot = tlv,
            None => self.0.push(tlv),
        }
    }

    /// Removes every TLV with this tag.
    pub fn remove(&mut self, tag: Tag) {
        self.0.retain(|t| t.tag != tag);
    }

    /// The first TLV with this tag.
    pub fn get(&self, tag: Tag) -> Option<&TlvValue> {
        self.0.iter().find(|t| t.tag == tag).map(|t| &t.value)
    }

    /// An integer TLV's value, widened.
    pub fn get_int(&self, tag: Tag) -> Option<u32> {
        match self.get(tag)? {
            TlvValue::U8(v) => Some(u32::from(*v)),
            TlvValue::U16(v) => Some(u32::from(*v)),
            TlvValue::U32(v) => Some(*v),
            _ => None,
        }
    }

    /// A C-string or octet TLV's bytes.
    pub fn get_bytes(&self, tag: Tag) -> Option<&Bytes> {
        match self.get(tag)? {
            TlvValue::CString(b) | TlvValue::Octets(b) => Some(b),
            _ => None,
        }
    }

    /// `receipted_message_id`, as text.
    pub fn receipted_message_id(&self) -> Option<&str> {
        let bytes = self.get_bytes(Tag::RECEIPTED_MESSAGE_ID)?;
        std::str::from_utf8(bytes).ok()
    }

    /// `message_state`.
    pub fn message_state(&self) -> Option<MessageState> {
        match self.get(Tag::MESSAGE_STATE)? {
            TlvValue::U8(v) => Some(MessageState(*v)),
            _ => None,
        }
    }

    /// `message_payload`.
    pub fn message_payload(&self) -> Option<&Bytes> {
        self.get_bytes(Tag::MESSAGE_PAYLOAD)
    }

    /// All TLVs in wire order.
    pub fn iter(&self) -> impl Iterator<Item = &Tlv> {
        self.0.iter()
    }

    /// Number of TLVs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Octets on the wire.
    pub fn encoded_len(&self) -> usize {
        self.0.iter().map(Tlv::encoded_len).sum()
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) {
        for tlv in &self.0 {
            tlv.encode(out);
        }
    }

    /// Reads TLVs until the body ends.
    pub(crate) fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut tlvs = Vec::new();
        while !reader.is_empty() {
            tlvs.push(Tlv::decode(reader)?);
        }
        Ok(Self(tlvs))
    }
}

impl FromIterator<Tlv> for Tlvs {
    fn from_iter<I: IntoIterator<Item = Tlv>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Tlvs {
    type Item = &'a Tlv;
    type IntoIter = std::slice::Iter<'a, Tlv>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Tlvs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};

        struct Entry<'a>(&'a Tlv);
        impl serde::Serialize for Entry<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let tlv = self.0;
                let mut map = s.serialize_map(Some(3))?;
                map.serialize_entry("tag", &format!("0x{:04X}", tlv.tag.0))?;
                map.serialize_entry("name", &tlv.tag.name())?;
                match &tlv.value {
                    TlvValue::U8(v) => map.serialize_entry("value", v)?,
                    TlvValue::U16(v) => map.serialize_entry("value", v)?,
                    TlvValue::U32(v) => map.serialize_entry("value", v)?,
                    TlvValue::CString(b) => {
                        map.serialize_entry("value", &String::from_utf8_lossy(b))?
                    }
                    TlvValue::Octets(b) => map.serialize_entry("value", &crate::types::hex(b))?,
                }
                map.end()
            }
        }

        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for tlv in &self.0 {
            seq.serialize_element(&Entry(tlv))?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &'static [u8]) -> Result<Tlvs, DecodeError> {
        let frame = Bytes::from_static(bytes);
        Tlvs::decode(&mut Reader::new(&frame, &frame))
    }

    fn encode(tlvs: &Tlvs) -> Vec<u8> {
        let mut out = BytesMut::new();
        tlvs.encode(&mut out);
        assert_eq!(out.len(), tlvs.encoded_len());
        out.to_vec()
    }

    #[test]
    fn table_is_sorted() {
        assert!(TAGS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(Tag::from_name("message_state"), Some(Tag::MESSAGE_STATE));
        assert_eq!(Tag(0x1400).name(), None);
    }

    #[test]
    fn typed_and_unknown_round_trip() {
        let bytes: &[u8] = &[
            0x04, 0x27, 0, 1, 2, // message_state DELIVERED
            0x00, 0x1E, 0, 4, b'a', b'b', b'c', 0, // receipted_message_id "abc"
            0x14, 0x00, 0, 3, 1, 2, 3, // vendor tag, raw
            0x13, 0x0C, 0, 0, // alert_on_message_delivery
        ];
        let tlvs = decode(bytes).unwrap();
        assert_eq!(tlvs.message_state(), Some(MessageState::DELIVERED));
        assert_eq!(tlvs.receipted_message_id(), Some("abc"));
        assert_eq!(
            tlvs.get(Tag(0x1400)),
            Some(&TlvValue::Octets(Bytes::from_static(&[1, 2, 3])))
        );
        assert_eq!(encode(&tlvs), bytes);
    }

    #[test]
    fn raw_values_round_trip() {
        let tlvs = decode(&[
            0x04, 0x27, 0, 1, 2, 0x00, 0x1E, 0, 2, b'7', 0, 0x14, 0, 0, 1, 9,
        ])
        .unwrap();
        for tlv in &tlvs {
            assert_eq!(&Tlv::from_raw(tlv.tag(), tlv.value_bytes()).unwrap(), tlv);
        }
        assert!(Tlv::from_raw(Tag::MESSAGE_STATE, Bytes::from_static(&[1, 2])).is_err());
    }

    #[test]
    fn receipted_message_id_without_nul_is_accepted() {
        let tlvs = decode(&[0x00, 0x1E, 0, 2, b'4', b'2']).unwrap();
        assert_eq!(tlvs.receipted_message_id(), Some("42"));
    }

    #[test]
    fn c_string_without_nul_must_fit_with_it() {
        // 65 octets and no NUL: re-encoding would need 66, over receipted_message_id's 65.
        let mut bytes = vec![0x00, 0x1E, 0, 65];
        bytes.extend([b'7'; 65]);
        let frame = Bytes::from(bytes);
        let err = Tlvs::decode(&mut Reader::new(&frame, &frame)).unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::TlvLength {
                tag: 0x001E,
                length: 65
            }
        );
        let mut bytes = vec![0x00, 0x1E, 0, 64];
        bytes.extend([b'7'; 64]);
        let frame = Bytes::from(bytes);
        let tlvs = Tlvs::decode(&mut Reader::new(&frame, &frame)).unwrap();
        assert_eq!(tlvs.receipted_message_id(), Some(&"7".repeat(64)[..]));
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let err = decode(&[0x04, 0x27, 0, 2, 0, 2]).unwrap_err();
        assert_eq!(err.field, "message_state");
        assert_eq!(
            err.kind,
            ErrorKind::TlvLength {
                tag: 0x0427,
                length: 2
            }
        );
        assert_eq!(err.status(), crate::CommandStatus::ESME_RINVPARLEN);

        let err = decode(&[0x04, 0x24, 0, 9, 1]).unwrap_err();
        assert_eq!(err.status(), crate::CommandStatus::ESME_RINVOPTPARSTREAM);
        let err = decode(&[0x04, 0x24, 0]).unwrap_err();
        assert_eq!(err.status(), crate::CommandStatus::ESME_RINVOPTPARSTREAM);
        let err = decode(&[0x04, 0x23, 0, 2, 1, 2]).unwrap_err();
        assert_eq!(err.status(), crate::CommandStatus::ESME_RINVPARLEN);
    }

    #[test]
    fn constructors_check_the_shape() {
        assert!(Tlv::u8(Tag::SAR_MSG_REF_NUM, 1).is_err());
        assert!(Tlv::u16(Tag::SAR_MSG_REF_NUM, 1).is_ok());
        assert!(Tlv::receipted_message_id(&"x".repeat(65)).is_err());
        assert!(Tlv::receipted_message_id(&"x".repeat(64)).is_ok());
        assert!(Tlv::new(
            Tag::NETWORK_ERROR_CODE,
            TlvValue::Octets(Bytes::from_static(&[1]))
        )
        .is_err());
    }
}
