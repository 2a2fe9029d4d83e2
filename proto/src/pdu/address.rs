//! The (ton, npi, address) triple that most PDUs carry once or twice, read and written in one
//! place. Each use keeps the spec's own field names, for decode errors and for JSON.

use crate::error::DecodeError;
use crate::parse::Reader;
use crate::pdu::put_c_string;
use crate::types::COctetString;
use bytes::{BufMut, BytesMut};

/// An SMPP address (SMPP 3.4 §5.2.5–5.2.8): type of number, numbering plan indicator, and the
/// address itself (digits, short code or alphanumeric name), at most `N - 1` octets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Address<const N: usize> {
    /// Type of number (`*_ton`).
    pub ton: u8,
    /// Numbering plan indicator (`*_npi`).
    pub npi: u8,
    /// The address (`source_addr`, `destination_addr`, …).
    pub addr: COctetString<N>,
}

/// The spec's names of one use of the triple: a decode error names the field that failed,
/// and a PDU's JSON keeps the flat spec names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AddressFields {
    ton: &'static str,
    npi: &'static str,
    addr: &'static str,
}

impl AddressFields {
    /// `source_addr_ton`, `source_addr_npi`, `source_addr`.
    pub(crate) const SOURCE: Self = Self {
        ton: "source_addr_ton",
        npi: "source_addr_npi",
        addr: "source_addr",
    };
    /// `dest_addr_ton`, `dest_addr_npi`, `destination_addr`.
    pub(crate) const DESTINATION: Self = Self {
        ton: "dest_addr_ton",
        npi: "dest_addr_npi",
        addr: "destination_addr",
    };
    /// `esme_addr_ton`, `esme_addr_npi`, `esme_addr` (alert_notification).
    pub(crate) const ESME: Self = Self {
        ton: "esme_addr_ton",
        npi: "esme_addr_npi",
        addr: "esme_addr",
    };
    /// `addr_ton`, `addr_npi`, `address_range` (the binds).
    pub(crate) const RANGE: Self = Self {
        ton: "addr_ton",
        npi: "addr_npi",
        addr: "address_range",
    };
}

impl<const N: usize> Address<N> {
    /// An address from its three fields.
    pub fn new(ton: u8, npi: u8, addr: COctetString<N>) -> Self {
        Self { ton, npi, addr }
    }

    pub(crate) fn decode(r: &mut Reader<'_>, names: AddressFields) -> Result<Self, DecodeError> {
        Ok(Self {
            ton: r.u8(names.ton)?,
            npi: r.u8(names.npi)?,
            addr: r.c_string(names.addr)?,
        })
    }

    /// Octets on the wire: ton, npi and the address with its NUL.
    pub(crate) fn encoded_len(&self) -> usize {
        2 + self.addr.encoded_len()
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.ton);
        out.put_u8(self.npi);
        put_c_string(out, &self.addr);
    }
}

/// `serialize_with` targets that write an address as the spec's three flat fields (with
/// `#[serde(flatten)]` in a PDU, or as a whole value in a list entry).
#[cfg(feature = "serde")]
pub(crate) mod named {
    use super::{Address, AddressFields};
    use serde::ser::{SerializeStruct, Serializer};

    fn fields<S: Serializer, const N: usize>(
        address: &Address<N>,
        names: AddressFields,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Address", 3)?;
        st.serialize_field(names.ton, &address.ton)?;
        st.serialize_field(names.npi, &address.npi)?;
        st.serialize_field(names.addr, &address.addr)?;
        st.end()
    }

    pub(crate) fn source<S: Serializer, const N: usize>(
        a: &Address<N>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        fields(a, AddressFields::SOURCE, s)
    }

    pub(crate) fn destination<S: Serializer, const N: usize>(
        a: &Address<N>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        fields(a, AddressFields::DESTINATION, s)
    }

    pub(crate) fn esme<S: Serializer, const N: usize>(
        a: &Address<N>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        fields(a, AddressFields::ESME, s)
    }

    pub(crate) fn range<S: Serializer, const N: usize>(
        a: &Address<N>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        fields(a, AddressFields::RANGE, s)
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::Address;
    use crate::pdu::{DestAddress, SubmitSm, UnsuccessSme};
    use crate::CommandStatus;

    #[test]
    fn pdus_keep_the_flat_spec_names_in_json() {
        let sm = SubmitSm {
            source: Address::new(5, 0, "Shop".try_into().unwrap()),
            destination: Address::new(1, 1, "447700900123".try_into().unwrap()),
            ..SubmitSm::default()
        };
        let json = serde_json::to_string(&sm).unwrap();
        assert!(
            json.starts_with(
                r#"{"service_type":"","source_addr_ton":5,"source_addr_npi":0,"source_addr":"Shop","dest_addr_ton":1,"dest_addr_npi":1,"destination_addr":"447700900123","esm_class":0,"#
            ),
            "{json}"
        );

        let sme = DestAddress::Sme(Address::new(1, 2, "44".try_into().unwrap()));
        assert_eq!(
            serde_json::to_string(&sme).unwrap(),
            r#"{"dest_addr_ton":1,"dest_addr_npi":2,"destination_addr":"44"}"#
        );
        let unsuccess = UnsuccessSme {
            destination: Address::new(1, 2, "44".try_into().unwrap()),
            error_status_code: CommandStatus::ESME_RINVDSTADR,
        };
        let json = serde_json::to_string(&unsuccess).unwrap();
        assert!(
            json.starts_with(r#"{"dest_addr_ton":1,"dest_addr_npi":2,"destination_addr":"44","error_status_code":"#),
            "{json}"
        );
    }
}
