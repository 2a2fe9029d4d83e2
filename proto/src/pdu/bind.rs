//! bind_transmitter / bind_receiver / bind_transceiver (+ `_resp`) and outbind (SMPP 3.4
//! §4.1, §4.1.7).

use crate::error::DecodeError;
use crate::parse::Reader;
#[cfg(feature = "serde")]
use crate::pdu::address::named;
use crate::pdu::{put_c_string, Address, AddressFields, Wire};
use crate::tlv::{Tlv, Tlvs};
use crate::types::COctetString;
use bytes::{BufMut, BytesMut};

/// The body shared by the three bind requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Bind {
    /// ESME identity (username).
    pub system_id: COctetString<16>,
    /// Password.
    pub password: COctetString<9>,
    /// ESME type, often NULL.
    pub system_type: COctetString<13>,
    /// 0x34 for SMPP 3.4.
    pub interface_version: u8,
    /// Addresses the ESME serves (`addr_ton`, `addr_npi`, `address_range`); usually NULL.
    #[cfg_attr(feature = "serde", serde(flatten, serialize_with = "named::range"))]
    pub address_range: Address<41>,
}

impl Wire for Bind {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            system_id: r.c_string("system_id")?,
            password: r.c_string("password")?,
            system_type: r.c_string("system_type")?,
            interface_version: r.u8("interface_version")?,
            address_range: Address::decode(r, AddressFields::RANGE)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.system_id.encoded_len()
            + self.password.encoded_len()
            + self.system_type.encoded_len()
            + 1
            + self.address_range.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.system_id);
        put_c_string(out, &self.password);
        put_c_string(out, &self.system_type);
        out.put_u8(self.interface_version);
        self.address_range.encode(out);
    }
}

/// The body shared by the three bind responses. An error response may be header-only; it
/// decodes with an empty `system_id`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BindResp {
    /// The SMSC's identity.
    pub system_id: COctetString<16>,
    /// Optional parameters; `sc_interface_version` in 3.4.
    pub tlvs: Tlvs,
}

impl BindResp {
    /// A successful response announcing SMPP 3.4 (the `sc_interface_version` TLV tells the
    /// ESME that TLVs are understood).
    pub fn v34(system_id: COctetString<16>) -> Self {
        let mut tlvs = Tlvs::new();
        tlvs.push(Tlv::sc_interface_version(0x34));
        Self { system_id, tlvs }
    }
}

impl Wire for BindResp {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if r.is_empty() {
            return Ok(Self::default());
        }
        Ok(Self {
            system_id: r.c_string("system_id")?,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.system_id.encoded_len() + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.system_id);
        self.tlvs.encode(out);
    }

    fn is_absent(&self) -> bool {
        self.system_id.is_empty() && self.tlvs.is_empty()
    }
}

/// outbind: the SMSC asks the ESME to bind_receiver on this connection. No response PDU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Outbind {
    /// The SMSC's identity.
    pub system_id: COctetString<16>,
    /// Password.
    pub password: COctetString<9>,
}

impl Wire for Outbind {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            system_id: r.c_string("system_id")?,
            password: r.c_string("password")?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.system_id.encoded_len() + self.password.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.system_id);
        put_c_string(out, &self.password);
    }
}
