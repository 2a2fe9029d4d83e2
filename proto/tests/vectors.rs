//! Hand-assembled PDUs (built octet by octet from the SMPP 3.4 tables, not by our encoder)
//! checked against the typed values they must decode to, and malformed PDUs checked against
//! the status SMPP 3.4 answers them with.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

use bytes::Bytes;
use smpp_proto::pdu::{esm_class, Address, Bind, BindResp, MessageIdResp, ShortMessage, SubmitSm};
use smpp_proto::{Body, CommandId, CommandStatus, MessageState, Pdu, Tag, Tlv, Tlvs};

fn frame(hex_text: &str) -> Bytes {
    Bytes::from(hex::decode(hex_text).unwrap())
}

fn cs<const MAX: usize>(s: &str) -> smpp_proto::COctetString<MAX> {
    s.try_into().unwrap()
}

/// A PDU in hex with its `command_length` computed from the body.
fn assemble(command_id: u32, status: u32, seq: u32, body_hex: &str) -> String {
    format!(
        "{:08x}{command_id:08x}{status:08x}{seq:08x}{body_hex}",
        16 + body_hex.len() / 2
    )
}

/// Decodes `hex_text`, checks it equals `expected`, and that encoding gives the same octets.
fn check(hex_text: &str, expected: Pdu) {
    let decoded = Pdu::decode(&frame(hex_text)).unwrap();
    assert_eq!(decoded, expected);
    assert_eq!(hex::encode(expected.to_bytes()), hex_text);
}

#[test]
fn enquire_link() {
    check(
        "00000010000000150000000000000001",
        Pdu::new(1, Body::EnquireLink),
    );
}

#[test]
fn generic_nack_with_status() {
    check(
        "00000010800000000000000300000005",
        Pdu::with_status(5, CommandStatus::ESME_RINVCMDID, Body::GenericNack),
    );
}

#[test]
fn bind_transmitter() {
    let bind = Bind {
        system_id: cs("smppclient1"),
        password: cs("password"),
        system_type: cs(""),
        interface_version: 0x34,
        address_range: Address::new(1, 1, cs("")),
    };
    check(
        "0000002a000000020000000000000001736d7070636c69656e74310070617373776f7264000034010100",
        Pdu::new(1, Body::BindTransmitter(bind)),
    );
}

#[test]
fn bind_transmitter_resp_with_sc_interface_version() {
    check(
        "0000001a800000020000000000000001534d5343000210000134",
        Pdu::new(1, Body::BindTransmitterResp(BindResp::v34(cs("SMSC")))),
    );
}

#[test]
fn submit_sm_and_resp() {
    let submit = SubmitSm {
        source: Address::new(5, 0, cs("Shop")),
        destination: Address::new(1, 1, cs("447700900123")),
        validity_period: cs("000001000000000R"),
        registered_delivery: 1,
        short_message: ShortMessage::new(&b"hello"[..]).unwrap(),
        ..SubmitSm::default()
    };
    check(
        "0000004600000004000000000000000200050053686f700001013434373730303930303132330000000000\
         3030303030313030303030303030305200010000000568656c6c6f",
        Pdu::new(2, Body::SubmitSm(submit)),
    );
    let resp = MessageIdResp {
        message_id: cs("0A1B2C"),
        tlvs: Tlvs::new(),
    };
    check(
        "0000001780000004000000000000000230413142324300",
        Pdu::new(2, Body::SubmitSmResp(resp)),
    );
}

#[test]
fn deliver_sm_receipt_with_tlvs() {
    let text = "id:0A1B2C sub:001 dlvrd:001 submit date:2501311200 done date:2501311201 \
                stat:DELIVRD err:000 text:hello";
    let mut tlvs = Tlvs::new();
    tlvs.push(Tlv::receipted_message_id("0A1B2C").unwrap());
    tlvs.push(Tlv::message_state(MessageState::DELIVERED));
    let receipt = SubmitSm {
        source: Address::new(1, 1, cs("447700900123")),
        destination: Address::new(5, 0, cs("Shop")),
        esm_class: esm_class::DELIVERY_RECEIPT,
        short_message: ShortMessage::new(text.as_bytes().to_vec()).unwrap(),
        tlvs,
        ..SubmitSm::default()
    };
    let hex_text = "000000a800000005000000000000000900010134343737303039303031323300050053686f70\
        000400000000000000006769643a304131423243207375623a30303120646c7672643a30303120737562\
        6d697420646174653a3235303133313132303020646f6e6520646174653a323530313331313230312073\
        7461743a44454c49565244206572723a30303020746578743a68656c6c6f001e000730413142324300\
        0427000102";
    check(hex_text, Pdu::new(9, Body::DeliverSm(receipt)));
    let Body::DeliverSm(sm) = Pdu::decode(&frame(hex_text)).unwrap().body else {
        panic!("not a deliver_sm");
    };
    assert!(esm_class::is_receipt(sm.esm_class));
    assert_eq!(sm.tlvs.receipted_message_id(), Some("0A1B2C"));
    assert_eq!(sm.tlvs.message_state(), Some(MessageState::DELIVERED));
}

#[test]
fn error_response_without_body() {
    // SMPP 3.4 §4.4.2: no body with an error status; many SMSCs send a NULL message_id anyway.
    let expected = Pdu::with_status(
        3,
        CommandStatus::ESME_RTHROTTLED,
        Body::SubmitSmResp(MessageIdResp::default()),
    );
    check("00000010800000040000005800000003", expected.clone());
    let with_null = Pdu::decode(&frame("0000001180000004000000580000000300")).unwrap();
    assert_eq!(with_null, expected);
}

/// A malformed PDU, the field the error must name, and the status SMPP 3.4 gives it.
fn check_error(hex_text: &str, field: &str, status: CommandStatus) {
    let err = Pdu::decode(&frame(hex_text)).unwrap_err();
    assert_eq!(err.field, field, "{err}");
    assert_eq!(err.status(), status, "{err}");
    assert!(err.to_string().starts_with(field), "{err}");
}

#[test]
fn malformed_pdus_map_to_their_status() {
    // Unknown command (SMPP 5.0 broadcast_sm): generic_nack ESME_RINVCMDID.
    let err = Pdu::decode(&frame("00000010000001110000000000000001")).unwrap_err();
    assert_eq!(err.status(), CommandStatus::ESME_RINVCMDID);
    assert!(err.wants_generic_nack());
    assert_eq!(err.header.unwrap().sequence_number, 1);

    // Header-only PDU with trailing octets.
    check_error(
        "0000001100000015000000000000000100",
        "command_length",
        CommandStatus::ESME_RINVCMDLEN,
    );
    // command_length disagrees with the frame.
    check_error(
        "00000020000000150000000000000001",
        "command_length",
        CommandStatus::ESME_RINVCMDLEN,
    );
    // destination_addr of 21 characters (max 20 + NUL) in a submit_sm.
    let mut body = hex::encode(b"\0\x05\x00Shop\0\x01\x01");
    body += &hex::encode("1".repeat(21));
    body += "00";
    body += &hex::encode(b"\0\0\0\0\0\x01\0\0\0\0");
    check_error(
        &assemble(4, 0, 10, &body),
        "destination_addr",
        CommandStatus::ESME_RINVDSTADR,
    );
    // source_addr with no NUL before the end of the PDU.
    check_error(
        &assemble(4, 0, 10, "0005005368"),
        "source_addr",
        CommandStatus::ESME_RINVSRCADR,
    );
    // sm_length larger than what is left.
    // service_type, src ton/npi/"447", dst ton/npi/"447", 9 one-octet fields and NULL times.
    let head = "00".to_owned() + "0000" + "34343700" + "0000" + "34343700";
    let body = head.clone() + "000000" + "00" + "00" + "00000000" + "05" + "68656c";
    check_error(
        &assemble(4, 0, 10, &body),
        "short_message",
        CommandStatus::ESME_RINVMSGLEN,
    );
    // validity_period that is neither NULL nor 16 characters.
    let body = head + "000000" + "00" + "31323300" + "00000000" + "05" + "68656c6c6f";
    check_error(
        &assemble(4, 0, 10, &body),
        "validity_period",
        CommandStatus::ESME_RINVEXPIRY,
    );
    // A mandatory field missing altogether.
    check_error(
        &assemble(4, 0, 1, "000000"),
        "source_addr",
        CommandStatus::ESME_RINVCMDLEN,
    );
    // system_id longer than 15 characters in a bind.
    let body = hex::encode(format!("{}\0pw\0\0\x34\0\0\0", "s".repeat(16)));
    check_error(
        &assemble(0x0000_0009, 0, 1, &body),
        "system_id",
        CommandStatus::ESME_RINVSYSID,
    );
    // TLV with the wrong length for its tag: message_state is one octet.
    check_error(
        &assemble(0x8000_0004, 0, 1, "410004270002000200"),
        "message_state",
        CommandStatus::ESME_RINVPARLEN,
    );
    // TLV running past the end of the PDU.
    check_error(
        &assemble(0x8000_0004, 0, 1, "4100042400090102"),
        "message_payload",
        CommandStatus::ESME_RINVOPTPARSTREAM,
    );
    // submit_multi with a bad dest_flag.
    let body = "0000003403003100000000000000000000000000";
    check_error(
        &assemble(0x0000_0021, 0, 1, body),
        "dest_flag",
        CommandStatus::ESME_RINVDESTFLAG,
    );
}

#[test]
fn every_command_id_decodes_its_minimal_form_or_names_a_field() {
    for command in CommandId::ALL {
        let hex_text = format!("00000010{:08x}0000000000000001", command.as_u32());
        match Pdu::decode(&frame(&hex_text)) {
            Ok(pdu) => assert_eq!(pdu.command_id(), command),
            Err(err) => assert_eq!(err.status(), CommandStatus::ESME_RINVCMDLEN, "{command}"),
        }
    }
}

#[test]
fn unknown_tlv_survives_byte_for_byte() {
    let hex_text = assemble(0x8000_0004, 0, 1, "41001400000301020314ff0004deadbeef");
    let pdu = Pdu::decode(&frame(&hex_text)).unwrap();
    let Body::SubmitSmResp(resp) = &pdu.body else {
        panic!("not a submit_sm_resp");
    };
    assert_eq!(resp.tlvs.len(), 2);
    assert_eq!(
        resp.tlvs.get_bytes(Tag(0x14ff)).unwrap().as_ref(),
        [0xde, 0xad, 0xbe, 0xef]
    );
    assert_eq!(hex::encode(pdu.to_bytes()), hex_text);
}

#[test]
fn error_responses_follow_smpp_34() {
    // A submit_sm with a bad destination_addr is answered by a header-only submit_sm_resp.
    let mut body = hex::encode(b"\0\x05\x00Shop\0\x01\x01");
    body += &hex::encode("1".repeat(21));
    body += "00";
    body += &hex::encode(b"\0\0\0\0\0\x01\0\0\0\0");
    let err = Pdu::decode(&frame(&assemble(4, 0, 77, &body))).unwrap_err();
    let answer = Pdu::error_response(&err);
    assert_eq!(
        hex::encode(answer.to_bytes()),
        "00000010800000040000000b0000004d"
    );

    // An unknown command is answered by generic_nack ESME_RINVCMDID.
    let err = Pdu::decode(&frame(&assemble(0x111, 0, 5, ""))).unwrap_err();
    assert_eq!(
        hex::encode(Pdu::error_response(&err).to_bytes()),
        "00000010800000000000000300000005"
    );

    // A malformed response is never answered with a response: generic_nack.
    let err = Pdu::decode(&frame(&assemble(0x8000_0004, 0, 6, "41"))).unwrap_err();
    assert_eq!(
        Pdu::error_response(&err).command_id(),
        CommandId::GenericNack
    );

    // RINVBNDSTS to an enquire_link, as a session would answer a PDU in the wrong state.
    let answer = Pdu::new(9, Body::EnquireLink)
        .response_with_status(CommandStatus::ESME_RINVBNDSTS)
        .unwrap();
    assert_eq!(
        hex::encode(answer.to_bytes()),
        "00000010800000150000000400000009"
    );
    let bind = Pdu::new(3, Body::BindTransceiver(Bind::default()));
    let answer = bind
        .response_with_status(CommandStatus::ESME_RINVPASWD)
        .unwrap();
    assert_eq!(
        hex::encode(answer.to_bytes()),
        "00000010800000090000000e00000003"
    );
}
