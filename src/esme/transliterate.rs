//! Opt-in transliteration of SMPP submits (`[[clients]] transliterate = true`, shop-fit §5.8):
//! a whole message a client submitted in UCS-2 goes as GSM 7-bit when `crate::transliterate`
//! finds a GSM look-alike for every character and the text then takes no more SMS: French copy
//! written with ’ « » … œ ê costs half the SMS.
//!
//! Only whole texts: data_coding 8 exactly, no UDH (esm_class UDHI clear) and no `sar_*` TLVs.
//! A part of a long message cannot be re-split here (its siblings went or go on their own), a
//! binary or other coding is not text to rewrite. A message rewritten gets a history line
//! ([`DETAIL`]); `replace_sm` reads it to take a replacement as UCS-2, which is what the client
//! believes it submitted.
//!
//! Called by `submit.rs` on each validated message of a client with the option, and by
//! `query.rs` on a replacement; pure, never fails: a text it cannot rewrite stays as it came.

use crate::message::{Event, Message, State};
use crate::transliterate::{transliterate, Mode, Outcome};
use smpp_proto::coding::{self, Encoding};
use smpp_proto::pdu::esm_class;
use smpp_proto::Tag;

/// The history line of a message submitted in UCS-2 and stored as GSM 7-bit.
pub(crate) const DETAIL: &str =
    "transliterated from UCS-2 to GSM 7-bit (client transliterate = true)";

/// Most octets a short_message holds (SMPP 3.4 §5.2.21: sm_length 0–254).
const SHORT_MESSAGE_MAX: usize = 254;

/// Rewrites `message` (validated, data_coding 8) as GSM 7-bit unpacked, data_coding 0, when its
/// whole text has GSM look-alikes in no more SMS; its text stays where it came (short_message,
/// or message_payload). Returns whether it did.
pub(crate) fn apply(message: &mut Message, now: i64) -> bool {
    if message.data_coding != Encoding::Ucs2.data_coding()
        || message.esm_class & esm_class::UDHI != 0
    {
        return false;
    }
    let sar = [
        Tag::SAR_MSG_REF_NUM,
        Tag::SAR_TOTAL_SEGMENTS,
        Tag::SAR_SEGMENT_SEQNUM,
    ];
    if message
        .tlvs
        .iter()
        .any(|(tag, _)| sar.iter().any(|s| s.0 == *tag))
    {
        return false;
    }
    let payload = message
        .tlvs
        .iter()
        .position(|(tag, _)| *tag == Tag::MESSAGE_PAYLOAD.0);
    let user_data = match payload.and_then(|i| message.tlvs.get(i)) {
        Some((_, value)) => value.as_slice(),
        None => message.short_message.as_slice(),
    };
    // An unpaired surrogate decodes to U+FFFD, which has no look-alike: the text stays.
    let text = coding::decode_ucs2(user_data);
    let done = transliterate(&text, Mode::Auto);
    // A UCS-2 text GSM 7-bit already carries goes as GSM 7-bit too: fewer SMS, same text.
    if !matches!(done.outcome, Outcome::Transliterated | Outcome::AlreadyGsm7) {
        return false;
    }
    let Ok(septets) = coding::encode_gsm7_unpacked(&done.text) else {
        return false;
    };
    match payload.and_then(|i| message.tlvs.get_mut(i)) {
        Some((_, value)) => *value = septets,
        // `…` takes 3 septets for one UCS-2 unit: a text may no longer fit the field.
        None if septets.len() > SHORT_MESSAGE_MAX => return false,
        None => message.short_message = septets,
    }
    message.data_coding = Encoding::Gsm7.data_coding();
    message.history.push(Event {
        at: now,
        state: State::Queued,
        detail: DETAIL.to_owned(),
    });
    true
}

/// Whether `message` was submitted in UCS-2 and stored as GSM 7-bit by [`apply`].
pub(crate) fn applied(message: &Message) -> bool {
    message.history.iter().any(|e| e.detail == DETAIL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageId;

    fn ucs2(text: &str) -> Message {
        Message {
            data_coding: 8,
            short_message: coding::encode_ucs2(text),
            ..Message::example(MessageId::new(1))
        }
    }

    fn text_of(message: &Message) -> String {
        let data = message
            .tlvs
            .iter()
            .find(|(tag, _)| *tag == Tag::MESSAGE_PAYLOAD.0)
            .map_or(message.short_message.as_slice(), |(_, v)| v.as_slice());
        coding::decode_text(message.data_coding, data)
    }

    #[test]
    fn a_whole_french_text_goes_as_gsm7() {
        let mut message = ucs2("Votre commande n° 8812 arrive… « bientôt »");
        assert!(apply(&mut message, 7));
        assert_eq!(message.data_coding, 0);
        assert_eq!(
            text_of(&message),
            "Votre commande no 8812 arrive... \" bientot \""
        );
        assert!(applied(&message));
        assert_eq!(message.history.last().map(|e| e.at), Some(7));
        // GSM 7-bit already: only the coding changes.
        let mut plain = ucs2("Code 1234 @ vous");
        assert!(apply(&mut plain, 0));
        assert_eq!(text_of(&plain), "Code 1234 @ vous");
    }

    #[test]
    fn a_text_in_message_payload_stays_there() {
        let text = "Votre colis « 8812 » arrive aujourd’hui. ".repeat(8);
        let mut message = Message {
            short_message: Vec::new(),
            tlvs: vec![(Tag::MESSAGE_PAYLOAD.0, coding::encode_ucs2(&text))],
            ..ucs2("")
        };
        assert!(apply(&mut message, 0));
        assert!(message.short_message.is_empty());
        assert_eq!(
            text_of(&message),
            text.replace(['«', '»'], "\"").replace('’', "'")
        );
    }

    #[test]
    fn anything_else_stays_as_it_came() {
        let unchanged = |mut message: Message| {
            let before = message.clone();
            assert!(!apply(&mut message, 0));
            assert_eq!(message, before);
        };
        // An emoji has no look-alike: the accents stay with it, in UCS-2.
        unchanged(ucs2("Votre commande arrive bientôt 🚚"));
        // Other codings, binary among them.
        unchanged(Message {
            data_coding: 4,
            ..ucs2("« bientôt »")
        });
        unchanged(Message {
            data_coding: 0x18,
            ..ucs2("« bientôt »")
        });
        // A part of a long message: UDH, or sar_* TLVs.
        let mut udh = vec![5, 0, 3, 42, 2, 1];
        udh.extend(coding::encode_ucs2("« bientôt »"));
        unchanged(Message {
            esm_class: esm_class::UDHI,
            short_message: udh,
            ..ucs2("")
        });
        unchanged(Message {
            tlvs: vec![
                (Tag::SAR_MSG_REF_NUM.0, vec![0, 42]),
                (Tag::SAR_TOTAL_SEGMENTS.0, vec![2]),
                (Tag::SAR_SEGMENT_SEQNUM.0, vec![1]),
            ],
            ..ucs2("« bientôt »")
        });
        // More SMS in GSM 7-bit (each … three septets), or past short_message's 254 octets.
        unchanged(ucs2(&"…".repeat(70)));
        unchanged(ucs2(&format!("{}{}", "a".repeat(60), "…".repeat(66))));
        // A lone surrogate.
        unchanged(Message {
            short_message: vec![0xD8, 0x3D, 0, 0x41],
            ..ucs2("")
        });
    }
}
