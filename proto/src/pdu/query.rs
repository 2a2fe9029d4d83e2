//! query_sm, cancel_sm, replace_sm and their responses (SMPP 3.4 §4.8–§4.10).
//! SMPP 3.4 gives these no TLVs; they are decoded anyway (5.0 adds some) and kept.

use crate::error::DecodeError;
use crate::parse::Reader;
#[cfg(feature = "serde")]
use crate::pdu::address::named;
use crate::pdu::{put_c_string, Address, AddressFields, ShortMessage, Wire};
use crate::tlv::Tlvs;
use crate::types::{COctetString, MessageState};
use bytes::{BufMut, BytesMut};

/// query_sm.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct QuerySm {
    /// The id from submit_sm_resp.
    pub message_id: COctetString<65>,
    /// Source of the original submit (`source_addr_ton`, `source_addr_npi`, `source_addr`).
    #[cfg_attr(feature = "serde", serde(flatten, serialize_with = "named::source"))]
    pub source: Address<21>,
    /// Optional parameters.
    pub tlvs: Tlvs,
}

impl Wire for QuerySm {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            message_id: r.c_string("message_id")?,
            source: Address::decode(r, AddressFields::SOURCE)?,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.message_id.encoded_len() + self.source.encoded_len() + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.message_id);
        self.source.encode(out);
        self.tlvs.encode(out);
    }
}

/// query_sm_resp.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct QuerySmResp {
    /// The id queried.
    pub message_id: COctetString<65>,
    /// When the message reached a final state; NULL while not final.
    pub final_date: COctetString<17>,
    /// Current state.
    pub message_state: MessageState,
    /// Network-specific error code.
    pub error_code: u8,
    /// Optional parameters.
    pub tlvs: Tlvs,
}

impl Wire for QuerySmResp {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if r.is_empty() {
            return Ok(Self::default());
        }
        Ok(Self {
            message_id: r.c_string("message_id")?,
            final_date: r.time("final_date")?,
            message_state: MessageState(r.u8("message_state")?),
            error_code: r.u8("error_code")?,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.message_id.encoded_len() + self.final_date.encoded_len() + 2 + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.message_id);
        put_c_string(out, &self.final_date);
        out.put_u8(self.message_state.0);
        out.put_u8(self.error_code);
        self.tlvs.encode(out);
    }

    fn is_absent(&self) -> bool {
        *self == Self::default()
    }
}

/// cancel_sm.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CancelSm {
    /// Service type of the message(s) to cancel.
    pub service_type: COctetString<6>,
    /// The id to cancel; NULL cancels all matching source, destination and service_type.
    pub message_id: COctetString<65>,
    /// Source of the original submit (`source_addr_ton`, `source_addr_npi`, `source_addr`).
    #[cfg_attr(feature = "serde", serde(flatten, serialize_with = "named::source"))]
    pub source: Address<21>,
    /// Destination of the original submit (`dest_addr_ton`, `dest_addr_npi`,
    /// `destination_addr`).
    #[cfg_attr(
        feature = "serde",
        serde(flatten, serialize_with = "named::destination")
    )]
    pub destination: Address<21>,
    /// Optional parameters.
    pub tlvs: Tlvs,
}

impl Wire for CancelSm {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            service_type: r.c_string("service_type")?,
            message_id: r.c_string("message_id")?,
            source: Address::decode(r, AddressFields::SOURCE)?,
            destination: Address::decode(r, AddressFields::DESTINATION)?,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.service_type.encoded_len()
            + self.message_id.encoded_len()
            + self.source.encoded_len()
            + self.destination.encoded_len()
            + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.service_type);
        put_c_string(out, &self.message_id);
        self.source.encode(out);
        self.destination.encode(out);
        self.tlvs.encode(out);
    }
}

/// replace_sm.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ReplaceSm {
    /// The id to replace.
    pub message_id: COctetString<65>,
    /// Source of the original submit (`source_addr_ton`, `source_addr_npi`, `source_addr`).
    #[cfg_attr(feature = "serde", serde(flatten, serialize_with = "named::source"))]
    pub source: Address<21>,
    /// New schedule; NULL keeps none.
    pub schedule_delivery_time: COctetString<17>,
    /// New validity; NULL keeps the default.
    pub validity_period: COctetString<17>,
    /// New receipt request.
    pub registered_delivery: u8,
    /// Canned message id.
    pub sm_default_msg_id: u8,
    /// New text; `sm_length` is derived.
    pub short_message: ShortMessage,
    /// Optional parameters.
    pub tlvs: Tlvs,
}

impl Wire for ReplaceSm {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            message_id: r.c_string("message_id")?,
            source: Address::decode(r, AddressFields::SOURCE)?,
            schedule_delivery_time: r.time("schedule_delivery_time")?,
            validity_period: r.time("validity_period")?,
            registered_delivery: r.u8("registered_delivery")?,
            sm_default_msg_id: r.u8("sm_default_msg_id")?,
            short_message: ShortMessage::decode(r)?,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.message_id.encoded_len()
            + self.source.encoded_len()
            + self.schedule_delivery_time.encoded_len()
            + self.validity_period.encoded_len()
            + 2
            + self.short_message.encoded_len()
            + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.message_id);
        self.source.encode(out);
        put_c_string(out, &self.schedule_delivery_time);
        put_c_string(out, &self.validity_period);
        out.put_u8(self.registered_delivery);
        out.put_u8(self.sm_default_msg_id);
        self.short_message.encode(out);
        self.tlvs.encode(out);
    }
}
