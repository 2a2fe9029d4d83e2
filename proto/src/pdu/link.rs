//! alert_notification (SMPP 3.4 §4.12). The other session PDUs (enquire_link, unbind,
//! generic_nack and the header-only responses) have no body.

use crate::error::DecodeError;
use crate::parse::Reader;
use crate::pdu::{put_c_string, Wire};
use crate::tlv::Tlvs;
use crate::types::COctetString;
use bytes::{BufMut, BytesMut};

/// alert_notification: a subscriber for whom `set_dpf` was requested is reachable again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AlertNotification {
    /// Subscriber TON.
    pub source_addr_ton: u8,
    /// Subscriber NPI.
    pub source_addr_npi: u8,
    /// Subscriber address (up to 64 characters per the spec's tables).
    pub source_addr: COctetString<65>,
    /// ESME TON.
    pub esme_addr_ton: u8,
    /// ESME NPI.
    pub esme_addr_npi: u8,
    /// ESME address.
    pub esme_addr: COctetString<65>,
    /// Optional parameters; `ms_availability_status`.
    pub tlvs: Tlvs,
}

impl Wire for AlertNotification {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.c_string("source_addr")?,
            esme_addr_ton: r.u8("esme_addr_ton")?,
            esme_addr_npi: r.u8("esme_addr_npi")?,
            esme_addr: r.c_string("esme_addr")?,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        4 + self.source_addr.encoded_len() + self.esme_addr.encoded_len() + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.source_addr_ton);
        out.put_u8(self.source_addr_npi);
        put_c_string(out, &self.source_addr);
        out.put_u8(self.esme_addr_ton);
        out.put_u8(self.esme_addr_npi);
        put_c_string(out, &self.esme_addr);
        self.tlvs.encode(out);
    }
}
