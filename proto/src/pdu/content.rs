//! What a submit_sm / deliver_sm carries: its user data and, for long messages, which part it
//! is. Ties the wire types to [`crate::concat`].

use crate::concat::{parse_udh, ConcatError, ConcatInfo, Sar, Segment, UdhError};
use crate::pdu::{esm_class, ShortMessage, SubmitSm};
use crate::tlv::{Tag, Tlv};
use bytes::Bytes;

/// Why a received part's concatenation data is unusable. Per 3GPP 23.040 a bad
/// concatenation IE is ignored, so callers usually deliver such a message as it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PartError {
    /// The UDH is malformed.
    #[error("user data header: {0}")]
    Udh(#[from] UdhError),
    /// The sar_* TLVs are out of range.
    #[error("sar_* TLVs: {0}")]
    Sar(#[from] ConcatError),
}

impl SubmitSm {
    /// The user data: `message_payload` when present, else `short_message` (UDH included).
    pub fn user_data(&self) -> Bytes {
        match self.tlvs.message_payload() {
            Some(payload) => payload.clone(),
            None => self.short_message.to_bytes(),
        }
    }

    /// Puts one part from [`crate::concat::split`] into this PDU: `short_message`, the UDHI
    /// bit of `esm_class`, and the sar_* TLVs.
    pub fn set_segment(&mut self, segment: &Segment) {
        // split() never makes a part longer than 140 octets plus UDH, within sm_length's 254.
        self.short_message = ShortMessage::from_bounded(segment.short_message.clone());
        if segment.needs_udhi() {
            self.esm_class |= esm_class::UDHI;
        } else {
            self.esm_class &= !esm_class::UDHI;
        }
        for tag in [
            Tag::SAR_MSG_REF_NUM,
            Tag::SAR_TOTAL_SEGMENTS,
            Tag::SAR_SEGMENT_SEQNUM,
        ] {
            self.tlvs.remove(tag);
        }
        if let Some(sar) = segment.sar {
            self.tlvs.push(Tlv::sar_msg_ref_num(sar.msg_ref_num));
            self.tlvs.push(Tlv::sar_total_segments(sar.total_segments));
            self.tlvs.push(Tlv::sar_segment_seqnum(sar.segment_seqnum));
        }
    }

    /// Which part of a long message this is, from the UDH (when esm_class has UDHI) or the
    /// sar_* TLVs, with the part's text octets (UDH removed). `None` for a whole message.
    pub fn part(&self) -> Result<Option<(ConcatInfo, Bytes)>, PartError> {
        let data = self.user_data();
        let (from_udh, payload) = if self.esm_class & esm_class::UDHI != 0 {
            let (udh, payload) = parse_udh(&data)?;
            (udh.concat(), data.slice_ref(payload))
        } else {
            (None, data)
        };
        let info = match (from_udh, self.sar()) {
            (Some(info), _) => info,
            (None, Some(sar)) => ConcatInfo::try_from(sar)?,
            (None, None) => return Ok(None),
        };
        Ok(Some((info, payload)))
    }

    /// The sar_* TLVs, when all three are present.
    pub fn sar(&self) -> Option<Sar> {
        let int = |tag| self.tlvs.get_int(tag);
        Some(Sar {
            msg_ref_num: u16::try_from(int(Tag::SAR_MSG_REF_NUM)?).ok()?,
            total_segments: u8::try_from(int(Tag::SAR_TOTAL_SEGMENTS)?).ok()?,
            segment_seqnum: u8::try_from(int(Tag::SAR_SEGMENT_SEQNUM)?).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::{decode_text, Encoding};
    use crate::concat::{split, ConcatMethod};
    use crate::{Body, Pdu};

    fn round_trip(text: &str, encoding: Encoding, method: ConcatMethod) -> String {
        let segments = split(text, encoding, method, 0x42).unwrap();
        let mut parts = vec![Bytes::new(); segments.len()];
        for segment in &segments {
            let mut sm = SubmitSm {
                data_coding: encoding.data_coding(),
                ..SubmitSm::default()
            };
            sm.set_segment(segment);
            let wire = Pdu::new(1, Body::SubmitSm(sm)).to_bytes();
            let Body::SubmitSm(sm) = Pdu::decode(&wire).unwrap().body else {
                panic!("not a submit_sm");
            };
            match sm.part().unwrap() {
                Some((info, payload)) => {
                    assert_eq!(usize::from(info.total()), segments.len());
                    assert_eq!(info.reference(), 0x42);
                    parts[usize::from(info.seqnum()) - 1] = payload;
                }
                None => {
                    assert_eq!(segments.len(), 1);
                    parts[0] = sm.user_data();
                }
            }
        }
        decode_text(encoding.data_coding(), &parts.concat())
    }

    #[test]
    fn split_parts_survive_the_wire_and_reassemble() {
        let long_gsm = "Your parcel {ABC-123} is on its way € ".repeat(12);
        let long_ucs2 = "Ваш заказ отправлен 😀 ".repeat(9);
        for method in [ConcatMethod::Udh8, ConcatMethod::Udh16, ConcatMethod::Sar] {
            assert_eq!(round_trip(&long_gsm, Encoding::Gsm7, method), long_gsm);
            assert_eq!(round_trip(&long_ucs2, Encoding::Ucs2, method), long_ucs2);
            assert_eq!(round_trip("short", Encoding::Gsm7, method), "short");
        }
    }

    #[test]
    fn bad_sar_values_are_reported() {
        let mut sm = SubmitSm::default();
        sm.tlvs.push(Tlv::sar_msg_ref_num(1));
        sm.tlvs.push(Tlv::sar_total_segments(2));
        sm.tlvs.push(Tlv::sar_segment_seqnum(3));
        assert!(matches!(sm.part(), Err(PartError::Sar(_))));
    }
}
