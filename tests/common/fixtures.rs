//! The PDUs tests send: binds, the usual submit_sm and query_sm, raw octets for what the codec
//! will not encode; and the message_id of a response.

use smpp_proto::pdu::{Address, Bind, QuerySm, ShortMessage, SubmitSm};
use smpp_proto::{Body, CommandId, Pdu};

/// A bind of `kind` (bind_transmitter, bind_receiver; anything else: bind_transceiver) as
/// `system_id`, SMPP 3.4.
pub fn bind(kind: CommandId, system_id: &str, password: &str) -> Body {
    let bind = Bind {
        system_id: system_id.try_into().unwrap(),
        password: password.try_into().unwrap(),
        interface_version: 0x34,
        ..Bind::default()
    };
    match kind {
        CommandId::BindTransmitter => Body::BindTransmitter(bind),
        CommandId::BindReceiver => Body::BindReceiver(bind),
        _ => Body::BindTransceiver(bind),
    }
}

/// A plain submit_sm from "Shop" (alphanumeric) to international number `to`, `text` as its
/// octets (GSM 7-bit unpacked for ASCII letters, data_coding 0), asking for a receipt: the
/// struct, for tests that set more fields.
pub fn submit_sm(to: &str, text: impl AsRef<[u8]>) -> SubmitSm {
    SubmitSm {
        source: Address::new(5, 0, "Shop".try_into().unwrap()),
        destination: Address::new(1, 1, to.try_into().unwrap()),
        registered_delivery: 1,
        short_message: ShortMessage::new(text.as_ref().to_vec()).unwrap(),
        ..SubmitSm::default()
    }
}

/// A plain submit_sm from "Shop" to `to`, asking for a receipt.
pub fn submit(to: &str, text: &str) -> Body {
    Body::SubmitSm(submit_sm(to, text))
}

/// A query_sm of message `id`, submitted by "Shop".
pub fn query(id: &str) -> Body {
    Body::QuerySm(QuerySm {
        message_id: id.try_into().unwrap(),
        source: Address::new(5, 0, "Shop".try_into().unwrap()),
        ..QuerySm::default()
    })
}

/// A PDU as raw bytes: the header (`command_length` computed), then `body` as given. For what
/// the codec will not encode: unknown commands, overlong fields.
pub fn raw_pdu(command_id: u32, sequence_number: u32, body: &[u8]) -> Vec<u8> {
    let length = u32::try_from(16 + body.len()).unwrap();
    let mut bytes = Vec::with_capacity(16 + body.len());
    for word in [length, command_id, 0, sequence_number] {
        bytes.extend_from_slice(&word.to_be_bytes());
    }
    bytes.extend_from_slice(body);
    bytes
}

/// The message_id of a submit_sm_resp, data_sm_resp or submit_multi_resp.
pub fn message_id(pdu: &Pdu) -> String {
    match &pdu.body {
        Body::SubmitSmResp(r) | Body::DataSmResp(r) => r.message_id.to_string(),
        Body::SubmitMultiResp(r) => r.message_id.to_string(),
        _ => panic!("no message_id in {pdu:?}"),
    }
}
