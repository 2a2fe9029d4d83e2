//! alert_notification (SMPP 3.4 §4.12). The other session PDUs (enquire_link, unbind,
//! generic_nack and the header-only responses) have no body.

use crate::error::DecodeError;
use crate::parse::Reader;
#[cfg(feature = "serde")]
use crate::pdu::address::named;
use crate::pdu::{Address, AddressFields, Wire};
use crate::tlv::Tlvs;
use bytes::BytesMut;

/// alert_notification: a subscriber for whom `set_dpf` was requested is reachable again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AlertNotification {
    /// Subscriber (`source_addr_ton`, `source_addr_npi`, `source_addr`); up to 64 characters
    /// per the spec's tables.
    #[cfg_attr(feature = "serde", serde(flatten, serialize_with = "named::source"))]
    pub source: Address<65>,
    /// ESME (`esme_addr_ton`, `esme_addr_npi`, `esme_addr`).
    #[cfg_attr(feature = "serde", serde(flatten, serialize_with = "named::esme"))]
    pub esme: Address<65>,
    /// Optional parameters; `ms_availability_status`.
    pub tlvs: Tlvs,
}

impl Wire for AlertNotification {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            source: Address::decode(r, AddressFields::SOURCE)?,
            esme: Address::decode(r, AddressFields::ESME)?,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.source.encoded_len() + self.esme.encoded_len() + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        self.source.encode(out);
        self.esme.encode(out);
        self.tlvs.encode(out);
    }
}
