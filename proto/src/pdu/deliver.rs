//! data_sm (SMPP 3.4 §4.7), which travels in both directions and carries its content in TLVs.
//! deliver_sm shares submit_sm's body ([`crate::pdu::SubmitSm`]); the `message_id` responses
//! share [`crate::pdu::MessageIdResp`].

use crate::error::DecodeError;
use crate::parse::Reader;
#[cfg(feature = "serde")]
use crate::pdu::address::named;
use crate::pdu::{put_c_string, Address, AddressFields, MessageIdResp, Wire};
use crate::tlv::Tlvs;
use crate::types::COctetString;
use bytes::{BufMut, BytesMut};

/// deliver_sm_resp: `message_id` is always NULL.
pub type DeliverSmResp = MessageIdResp;

/// data_sm_resp.
pub type DataSmResp = MessageIdResp;

/// data_sm.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DataSm {
    /// Service type.
    pub service_type: COctetString<6>,
    /// Sender (`source_addr_ton`, `source_addr_npi`, `source_addr`); up to 64 characters in
    /// data_sm.
    #[cfg_attr(feature = "serde", serde(flatten, serialize_with = "named::source"))]
    pub source: Address<65>,
    /// Recipient (`dest_addr_ton`, `dest_addr_npi`, `destination_addr`); up to 64 characters
    /// in data_sm.
    #[cfg_attr(
        feature = "serde",
        serde(flatten, serialize_with = "named::destination")
    )]
    pub destination: Address<65>,
    /// As submit_sm.
    pub esm_class: u8,
    /// As submit_sm.
    pub registered_delivery: u8,
    /// Encoding of `message_payload`.
    pub data_coding: u8,
    /// Optional parameters; `message_payload` carries the data.
    pub tlvs: Tlvs,
}

impl Wire for DataSm {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            service_type: r.c_string("service_type")?,
            source: Address::decode(r, AddressFields::SOURCE)?,
            destination: Address::decode(r, AddressFields::DESTINATION)?,
            esm_class: r.u8("esm_class")?,
            registered_delivery: r.u8("registered_delivery")?,
            data_coding: r.u8("data_coding")?,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.service_type.encoded_len()
            + self.source.encoded_len()
            + self.destination.encoded_len()
            + 3
            + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.service_type);
        self.source.encode(out);
        self.destination.encode(out);
        out.put_u8(self.esm_class);
        out.put_u8(self.registered_delivery);
        out.put_u8(self.data_coding);
        self.tlvs.encode(out);
    }
}
