//! data_sm (SMPP 3.4 §4.7), which travels in both directions and carries its content in TLVs.
//! deliver_sm shares submit_sm's body ([`crate::pdu::SubmitSm`]); the `message_id` responses
//! share [`crate::pdu::MessageIdResp`].

use crate::error::DecodeError;
use crate::parse::Reader;
use crate::pdu::{put_c_string, MessageIdResp, Wire};
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
    /// Source TON.
    pub source_addr_ton: u8,
    /// Source NPI.
    pub source_addr_npi: u8,
    /// Sender (up to 64 characters in data_sm).
    pub source_addr: COctetString<65>,
    /// Destination TON.
    pub dest_addr_ton: u8,
    /// Destination NPI.
    pub dest_addr_npi: u8,
    /// Recipient (up to 64 characters in data_sm).
    pub destination_addr: COctetString<65>,
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
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.c_string("source_addr")?,
            dest_addr_ton: r.u8("dest_addr_ton")?,
            dest_addr_npi: r.u8("dest_addr_npi")?,
            destination_addr: r.c_string("destination_addr")?,
            esm_class: r.u8("esm_class")?,
            registered_delivery: r.u8("registered_delivery")?,
            data_coding: r.u8("data_coding")?,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.service_type.encoded_len()
            + self.source_addr.encoded_len()
            + self.destination_addr.encoded_len()
            + 7
            + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.service_type);
        out.put_u8(self.source_addr_ton);
        out.put_u8(self.source_addr_npi);
        put_c_string(out, &self.source_addr);
        out.put_u8(self.dest_addr_ton);
        out.put_u8(self.dest_addr_npi);
        put_c_string(out, &self.destination_addr);
        out.put_u8(self.esm_class);
        out.put_u8(self.registered_delivery);
        out.put_u8(self.data_coding);
        self.tlvs.encode(out);
    }
}
