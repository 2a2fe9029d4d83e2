//! What a client is told about its message: the deliver_sm a receipt or an intermediate
//! notification goes out as, built from the stored message (its gateway id, the state, the
//! carrier's error, the start of its text).

use crate::config::wants_intermediate;
use crate::message::{now_ms, Message, OutboxItem, OutboxKind, State};
use smpp_proto::coding;
use smpp_proto::pdu::esm_class;
use smpp_proto::{receipt, MessageState, Tag};

/// The receipt a client asked for (registered_delivery) about `message`, which has ended:
/// the gateway id, the final state and the carrier's error, in both the text and the TLV form.
/// `None` if it asked for none.
pub(crate) fn receipt_item(message: &Message, err: u32) -> Option<OutboxItem> {
    let done = message.history.last().map_or_else(now_ms, |e| e.at);
    ended_receipt_item(message, message.state, done, err)
}

/// [`receipt_item`] for `message` once it has ended in `state` at `done` (unix ms): made
/// before the commit that ends it, from the fields that never change.
pub(crate) fn ended_receipt_item(
    message: &Message,
    state: State,
    done: i64,
    err: u32,
) -> Option<OutboxItem> {
    let wanted = match message.registered_delivery & 0x03 {
        1 => true,
        2 => state != State::Delivered,
        _ => false,
    };
    if !wanted {
        return None;
    }
    let state = state.to_message_state();
    Some(report_item(
        message,
        state,
        done,
        err,
        esm_class::DELIVERY_RECEIPT,
    ))
}

/// The intermediate notification (esm_class 0x20) a client asked for (`registered_delivery`
/// 0x10) about `message`, which the carrier says is in `state` at `at` (unix ms): the gateway
/// id, the carrier's state and error. `None` if the client did not ask or the link does not
/// `relay` them.
pub(crate) fn intermediate_item(
    message: &Message,
    state: MessageState,
    at: i64,
    err: u32,
    relay: bool,
) -> Option<OutboxItem> {
    if !relay || !wants_intermediate(message.registered_delivery) {
        return None;
    }
    let esm = esm_class::INTERMEDIATE_NOTIFICATION;
    Some(report_item(message, state, at, err, esm))
}

/// A report to the client about `message`, in `state` at `done` (unix ms): its gateway id,
/// the state and the carrier's error, in the text and in the TLVs, as a deliver_sm of
/// `esm_class` (a receipt or an intermediate notification).
fn report_item(
    message: &Message,
    state: MessageState,
    done: i64,
    err: u32,
    esm_class: u8,
) -> OutboxItem {
    let id = message.id.to_string();
    let mut id_tlv = Vec::with_capacity(id.len() + 1);
    id_tlv.extend_from_slice(id.as_bytes());
    id_tlv.push(0);
    let text = receipt::Receipt::new(
        id,
        state,
        err,
        message.received_at.div_euclid(1000),
        done.div_euclid(1000),
        &message_text(message),
    )
    .format();
    OutboxItem {
        kind: OutboxKind::Receipt {
            message_id: message.id,
            state: state.0,
            err,
        },
        source: message.destination.clone(),
        destination: message.source.clone(),
        esm_class,
        data_coding: 0,
        // In the alphabet data_coding 0 announces: a character GSM cannot write (from a UCS-2
        // message's text) becomes `?`.
        short_message: coding::encode_gsm7_unpacked_lossy(&text),
        tlvs: vec![
            (Tag::RECEIPTED_MESSAGE_ID.0, id_tlv),
            (Tag::MESSAGE_STATE.0, vec![state.0]),
        ],
        created_at: now_ms(),
    }
}

/// The start of `message`'s text as a person would read it, for a receipt's `text:`: the user
/// data (short_message or message_payload) without its UDH, decoded per data_coding. Only the
/// bytes the receipt's characters can take are decoded (at most 4 a character, UCS-2 pairs
/// and UTF-8 included), not a whole long message.
fn message_text(message: &Message) -> String {
    let data = message.user_data();
    let data = &data[..data.len().min(4 * receipt::TEXT_CHARS)];
    coding::decode_text(message.data_coding, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageId;

    #[test]
    fn receipt_text_is_the_decoded_text_in_gsm7() {
        let mut message = Message {
            esm_class: esm_class::UDHI,
            data_coding: 8,
            // UDH, then "Ça 😀€" in UTF-16BE.
            short_message: vec![
                5, 0, 3, 1, 2, 1, 0x00, 0xC7, 0x00, 0x61, 0x00, 0x20, 0xD8, 0x3D, 0xDE, 0x00, 0x20,
                0xAC,
            ],
            state: State::Delivered,
            attempts: 1,
            ..Message::example(MessageId::new(7))
        };
        let item = receipt_item(&message, 0).unwrap();
        // Ç is 0x09 in GSM, the emoji has no GSM form, € is ESC 0x65.
        assert!(
            item.short_message.ends_with(b"text:\x09a ?\x1b\x65"),
            "{:?}",
            item.short_message
        );
        message.esm_class = 0;
        message.data_coding = 0;
        message.short_message = vec![];
        message.tlvs = vec![(Tag::MESSAGE_PAYLOAD.0, b"long text".to_vec())];
        let item = receipt_item(&message, 0).unwrap();
        assert!(item.short_message.ends_with(b"text:long text"));

        // A long message: its first 20 characters, 4 bytes each here (emoji in UTF-16).
        message.data_coding = 8;
        let emoji: Vec<u8> = "😀".encode_utf16().flat_map(u16::to_be_bytes).collect();
        message.tlvs = vec![(Tag::MESSAGE_PAYLOAD.0, emoji.repeat(300))];
        let item = receipt_item(&message, 0).unwrap();
        assert!(item
            .short_message
            .ends_with(&[b"text:".as_slice(), &[b'?'; 20]].concat()));
        assert!(!item.short_message.ends_with(&[b'?'; 21]));
    }
}
