//! submit_sm, submit_multi and their responses (SMPP 3.4 §4.4, §4.5). deliver_sm shares
//! submit_sm's body.

use crate::error::{DecodeError, ErrorKind};
use crate::parse::Reader;
#[cfg(feature = "serde")]
use crate::pdu::address::named;
use crate::pdu::{put_c_string, Address, AddressFields, BoundedVec, ShortMessage, Wire};
use crate::status::CommandStatus;
use crate::tlv::Tlvs;
use crate::types::COctetString;
use bytes::{BufMut, BytesMut};

/// The 18 mandatory fields of submit_sm (and deliver_sm, §4.6.1) plus TLVs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SubmitSm {
    /// Service type; NULL for the default.
    pub service_type: COctetString<6>,
    /// Sender (`source_addr_ton`, `source_addr_npi`, `source_addr`): MSISDN, short code or
    /// alphanumeric.
    #[cfg_attr(feature = "serde", serde(flatten, serialize_with = "named::source"))]
    pub source: Address<21>,
    /// Recipient (`dest_addr_ton`, `dest_addr_npi`, `destination_addr`).
    #[cfg_attr(
        feature = "serde",
        serde(flatten, serialize_with = "named::destination")
    )]
    pub destination: Address<21>,
    /// Messaging mode, message type and GSM features (see [`crate::pdu::esm_class`]).
    pub esm_class: u8,
    /// GSM TP-PID.
    pub protocol_id: u8,
    /// 0–3.
    pub priority_flag: u8,
    /// NULL, or an SMPP time string ([`crate::time`]).
    pub schedule_delivery_time: COctetString<17>,
    /// NULL, or an SMPP time string ([`crate::time`]).
    pub validity_period: COctetString<17>,
    /// Receipt and acknowledgement requests.
    pub registered_delivery: u8,
    /// 0 or 1.
    pub replace_if_present_flag: u8,
    /// Encoding of `short_message`.
    pub data_coding: u8,
    /// Canned message id; 0 for none.
    pub sm_default_msg_id: u8,
    /// User data (with a UDH first when esm_class has UDHI); `sm_length` is derived.
    pub short_message: ShortMessage,
    /// Optional parameters.
    pub tlvs: Tlvs,
}

/// deliver_sm has exactly submit_sm's body (SMPP 3.4 §4.6.1).
pub type DeliverSm = SubmitSm;

impl Wire for SubmitSm {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            service_type: r.c_string("service_type")?,
            source: Address::decode(r, AddressFields::SOURCE)?,
            destination: Address::decode(r, AddressFields::DESTINATION)?,
            esm_class: r.u8("esm_class")?,
            protocol_id: r.u8("protocol_id")?,
            priority_flag: r.u8("priority_flag")?,
            schedule_delivery_time: r.time("schedule_delivery_time")?,
            validity_period: r.time("validity_period")?,
            registered_delivery: r.u8("registered_delivery")?,
            replace_if_present_flag: r.u8("replace_if_present_flag")?,
            data_coding: r.u8("data_coding")?,
            sm_default_msg_id: r.u8("sm_default_msg_id")?,
            short_message: ShortMessage::decode(r)?,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.service_type.encoded_len()
            + self.source.encoded_len()
            + self.destination.encoded_len()
            + self.schedule_delivery_time.encoded_len()
            + self.validity_period.encoded_len()
            + 7
            + self.short_message.encoded_len()
            + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.service_type);
        self.source.encode(out);
        self.destination.encode(out);
        out.put_u8(self.esm_class);
        out.put_u8(self.protocol_id);
        out.put_u8(self.priority_flag);
        put_c_string(out, &self.schedule_delivery_time);
        put_c_string(out, &self.validity_period);
        out.put_u8(self.registered_delivery);
        out.put_u8(self.replace_if_present_flag);
        out.put_u8(self.data_coding);
        out.put_u8(self.sm_default_msg_id);
        self.short_message.encode(out);
        self.tlvs.encode(out);
    }
}

/// A response whose body is a `message_id` (submit_sm_resp, deliver_sm_resp, data_sm_resp).
/// SMPP 3.4 sends no body with an error status; many SMSCs send a NULL `message_id` anyway,
/// and both decode to an empty id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MessageIdResp {
    /// The SMSC-assigned message id (always NULL in deliver_sm_resp).
    pub message_id: COctetString<65>,
    /// Optional parameters (data_sm_resp; SMPP 5.0 adds them to the others).
    pub tlvs: Tlvs,
}

/// submit_sm_resp.
pub type SubmitSmResp = MessageIdResp;

impl Wire for MessageIdResp {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if r.is_empty() {
            return Ok(Self::default());
        }
        Ok(Self {
            message_id: r.c_string("message_id")?,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.message_id.encoded_len() + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.message_id);
        self.tlvs.encode(out);
    }

    fn is_absent(&self) -> bool {
        self.message_id.is_empty() && self.tlvs.is_empty()
    }
}

/// One destination of a submit_multi.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(untagged))]
pub enum DestAddress {
    /// dest_flag 1: an SME address (`dest_addr_ton`, `dest_addr_npi`, `destination_addr`).
    Sme(#[cfg_attr(feature = "serde", serde(serialize_with = "named::destination"))] Address<21>),
    /// dest_flag 2: a distribution list name.
    DistributionList {
        /// List name.
        dl_name: COctetString<21>,
    },
}

impl DestAddress {
    const SME: u8 = 1;
    const DISTRIBUTION_LIST: u8 = 2;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("dest_flag")? {
            Self::SME => Ok(Self::Sme(Address::decode(r, AddressFields::DESTINATION)?)),
            Self::DISTRIBUTION_LIST => Ok(Self::DistributionList {
                dl_name: r.c_string("dl_name")?,
            }),
            _ => Err(DecodeError::new(
                "dest_flag",
                ErrorKind::Invalid {
                    reason: "must be 1 (SME address) or 2 (distribution list)",
                },
            )),
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            Self::Sme(address) => 1 + address.encoded_len(),
            Self::DistributionList { dl_name } => 1 + dl_name.encoded_len(),
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        match self {
            Self::Sme(address) => {
                out.put_u8(Self::SME);
                address.encode(out);
            }
            Self::DistributionList { dl_name } => {
                out.put_u8(Self::DISTRIBUTION_LIST);
                put_c_string(out, dl_name);
            }
        }
    }
}

/// submit_multi: one message to up to 254 destinations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SubmitMulti {
    /// Service type.
    pub service_type: COctetString<6>,
    /// Sender (`source_addr_ton`, `source_addr_npi`, `source_addr`).
    #[cfg_attr(feature = "serde", serde(flatten, serialize_with = "named::source"))]
    pub source: Address<21>,
    /// Destinations; `number_of_dests` is derived (1–254).
    pub dest_address: BoundedVec<DestAddress, 254>,
    /// As submit_sm.
    pub esm_class: u8,
    /// As submit_sm.
    pub protocol_id: u8,
    /// As submit_sm.
    pub priority_flag: u8,
    /// As submit_sm.
    pub schedule_delivery_time: COctetString<17>,
    /// As submit_sm.
    pub validity_period: COctetString<17>,
    /// As submit_sm.
    pub registered_delivery: u8,
    /// As submit_sm.
    pub replace_if_present_flag: u8,
    /// As submit_sm.
    pub data_coding: u8,
    /// As submit_sm.
    pub sm_default_msg_id: u8,
    /// As submit_sm.
    pub short_message: ShortMessage,
    /// Optional parameters.
    pub tlvs: Tlvs,
}

impl Wire for SubmitMulti {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let service_type = r.c_string("service_type")?;
        let source = Address::decode(r, AddressFields::SOURCE)?;
        let number_of_dests = r.u8("number_of_dests")?;
        if !(1..=254).contains(&number_of_dests) {
            return Err(DecodeError::new(
                "number_of_dests",
                ErrorKind::Invalid {
                    reason: "must be 1 to 254",
                },
            ));
        }
        let mut dest_address = BoundedVec::new();
        for _ in 0..number_of_dests {
            // Cannot overflow: at most 254 iterations.
            dest_address.0.push(DestAddress::decode(r)?);
        }
        Ok(Self {
            service_type,
            source,
            dest_address,
            esm_class: r.u8("esm_class")?,
            protocol_id: r.u8("protocol_id")?,
            priority_flag: r.u8("priority_flag")?,
            schedule_delivery_time: r.time("schedule_delivery_time")?,
            validity_period: r.time("validity_period")?,
            registered_delivery: r.u8("registered_delivery")?,
            replace_if_present_flag: r.u8("replace_if_present_flag")?,
            data_coding: r.u8("data_coding")?,
            sm_default_msg_id: r.u8("sm_default_msg_id")?,
            short_message: ShortMessage::decode(r)?,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.service_type.encoded_len()
            + self.source.encoded_len()
            + 1
            + self
                .dest_address
                .iter()
                .map(DestAddress::encoded_len)
                .sum::<usize>()
            + 7
            + self.schedule_delivery_time.encoded_len()
            + self.validity_period.encoded_len()
            + self.short_message.encoded_len()
            + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.service_type);
        self.source.encode(out);
        out.put_u8(self.dest_address.len_u8());
        for dest in self.dest_address.iter() {
            dest.encode(out);
        }
        out.put_u8(self.esm_class);
        out.put_u8(self.protocol_id);
        out.put_u8(self.priority_flag);
        put_c_string(out, &self.schedule_delivery_time);
        put_c_string(out, &self.validity_period);
        out.put_u8(self.registered_delivery);
        out.put_u8(self.replace_if_present_flag);
        out.put_u8(self.data_coding);
        out.put_u8(self.sm_default_msg_id);
        self.short_message.encode(out);
        self.tlvs.encode(out);
    }
}

/// A destination submit_multi could not accept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct UnsuccessSme {
    /// The destination (`dest_addr_ton`, `dest_addr_npi`, `destination_addr`).
    #[cfg_attr(
        feature = "serde",
        serde(flatten, serialize_with = "named::destination")
    )]
    pub destination: Address<21>,
    /// Why (a command_status value, 4 octets).
    pub error_status_code: CommandStatus,
}

/// submit_multi_resp.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SubmitMultiResp {
    /// The SMSC-assigned message id.
    pub message_id: COctetString<65>,
    /// Destinations that failed; `no_unsuccess` is derived.
    pub unsuccess_sme: BoundedVec<UnsuccessSme, 255>,
    /// Optional parameters (none in 3.4).
    pub tlvs: Tlvs,
}

impl Wire for SubmitMultiResp {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if r.is_empty() {
            return Ok(Self::default());
        }
        let message_id = r.c_string("message_id")?;
        let mut unsuccess_sme = BoundedVec::new();
        if !r.is_empty() {
            let no_unsuccess = r.u8("no_unsuccess")?;
            for _ in 0..no_unsuccess {
                // At most 255 iterations, the bound of the list.
                unsuccess_sme.0.push(UnsuccessSme {
                    destination: Address::decode(r, AddressFields::DESTINATION)?,
                    error_status_code: CommandStatus(r.u32("error_status_code")?),
                });
            }
        }
        Ok(Self {
            message_id,
            unsuccess_sme,
            tlvs: Tlvs::decode(r)?,
        })
    }

    fn encoded_len(&self) -> usize {
        self.message_id.encoded_len()
            + 1
            + self
                .unsuccess_sme
                .iter()
                .map(|u| u.destination.encoded_len() + 4)
                .sum::<usize>()
            + self.tlvs.encoded_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        put_c_string(out, &self.message_id);
        out.put_u8(self.unsuccess_sme.len_u8());
        for u in self.unsuccess_sme.iter() {
            u.destination.encode(out);
            out.put_u32(u.error_status_code.0);
        }
        self.tlvs.encode(out);
    }

    fn is_absent(&self) -> bool {
        self.message_id.is_empty() && self.unsuccess_sme.is_empty() && self.tlvs.is_empty()
    }
}
