//! SMPP opt-in transliteration through the real gateway and the real carrier simulator (its
//! submit log): a client with `transliterate = true` that submits a whole UCS-2 French text
//! (submit_sm, or data_sm with message_payload) has it reach the carrier as GSM 7-bit
//! look-alikes, data_coding 0; a text with an emoji, a UDH part, and any text of a client
//! without the option reach it as submitted; replace_sm of a transliterated message takes
//! UCS-2 text, as its client submitted it; the messages are counted by client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{
    carrier, client, eventually, metric_sample, preamble, route, submit_sm, temp_dir, wait_link_up,
    Client, Gateway, LoggedSubmit, Simulator,
};
use smpp_proto::coding;
use smpp_proto::pdu::{Address, DataSm, ReplaceSm, ShortMessage, SubmitSm};
use smpp_proto::{Body, CommandId, CommandStatus, Tlv};
use std::time::Duration;

/// A submit_sm of `text` in UCS-2 (data_coding 8) to `to`.
fn ucs2_submit(to: &str, text: &str) -> SubmitSm {
    SubmitSm {
        data_coding: 8,
        registered_delivery: 0,
        ..submit_sm(to, coding::encode_ucs2(text))
    }
}

/// The carrier's submit to `to` (the last one, once there is one).
fn at_carrier(submits: &[LoggedSubmit], to: &str) -> SubmitSm {
    submits
        .iter()
        .rev()
        .map(LoggedSubmit::submit_sm)
        .find(|sm| sm.destination.addr.to_string() == to)
        .unwrap_or_else(|| panic!("nothing to {to} at the carrier"))
        .clone()
}

/// The text of a submit as its data_coding says (short_message, else message_payload).
fn text_of(sm: &SubmitSm) -> String {
    let data = sm
        .tlvs
        .message_payload()
        .map_or(sm.short_message.as_bytes().to_vec(), |p| p.to_vec());
    coding::decode_text(sm.data_coding, &data)
}

#[tokio::test]
async fn a_whole_ucs2_text_goes_as_gsm7_look_alikes_only_when_its_client_asks() {
    let dir = temp_dir("transliteration");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "20ms"]);
    let config = preamble(&dir, "", "", "")
        + &client("shop", "secret1", "transliterate = true")
        + &client("plain", "secret1", "")
        + &carrier("sim", sim.addr.port(), "")
        + &route("default", &["sim"], "");
    let gw = Gateway::start(&dir, &config);
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;
    let mut shop = Client::bound(gw.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    let mut plain = Client::bound(gw.addr, CommandId::BindTransmitter, "plain", "secret1").await;

    let french = "Votre commande n° 8812 arrive… « bientôt »";
    shop.submit_ok(Body::SubmitSm(ucs2_submit("33600000001", french)))
        .await;
    let emoji = "Votre commande arrive bientôt 🚚";
    shop.submit_ok(Body::SubmitSm(ucs2_submit("33600000002", emoji)))
        .await;
    // Part 1 of 2 of a long message: its sibling was split with it, so it stays UCS-2.
    let mut part = vec![5, 0, 3, 42, 2, 1];
    part.extend(coding::encode_ucs2("« bientôt » "));
    let udh = SubmitSm {
        esm_class: 0x40,
        short_message: ShortMessage::new(part.clone()).unwrap(),
        ..ucs2_submit("33600000003", "")
    };
    shop.submit_ok(Body::SubmitSm(udh)).await;
    // data_sm: the text is in message_payload and stays there.
    let mut data_sm = DataSm {
        source: Address::new(5, 0, "Shop".try_into().unwrap()),
        destination: Address::new(1, 1, "33600000004".try_into().unwrap()),
        data_coding: 8,
        ..DataSm::default()
    };
    let payload = coding::encode_ucs2("Livraison « express » aujourd’hui");
    data_sm
        .tlvs
        .push(Tlv::message_payload(Bytes::from(payload)).unwrap());
    let resp = shop.request(Body::DataSm(data_sm)).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
    // Scheduled in a minute, then replaced (no schedule: it goes now) with UCS-2 text, as
    // the client believes it submitted: with an emoji it stays UCS-2, without it is
    // transliterated again.
    let mut replaced = Vec::new();
    for (to, new_text) in [
        ("33600000005", "Nouveau créneau : 18h–20h 🚚"),
        ("33600000006", "Nouveau créneau : 18h–20h"),
    ] {
        let later = SubmitSm {
            schedule_delivery_time: "000000000100000R".try_into().unwrap(),
            ..ucs2_submit(to, "Créneau de livraison : 14h–16h")
        };
        let id = shop.submit_ok(Body::SubmitSm(later)).await;
        let replace = ReplaceSm {
            message_id: id.as_str().try_into().unwrap(),
            source: Address::new(5, 0, "Shop".try_into().unwrap()),
            short_message: ShortMessage::new(coding::encode_ucs2(new_text)).unwrap(),
            ..ReplaceSm::default()
        };
        let resp = shop.request(Body::ReplaceSm(replace)).await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        replaced.push((to, new_text));
    }
    // A client without the option: as submitted.
    plain
        .submit_ok(Body::SubmitSm(ucs2_submit("33600000007", french)))
        .await;

    eventually(Duration::from_secs(10), "7 submits at the carrier", || {
        sim.submits().len() >= 7
    })
    .await;
    let submits = sim.submits();
    let sent = at_carrier(&submits, "33600000001");
    assert_eq!(sent.data_coding, 0);
    assert_eq!(
        sent.short_message.as_bytes(),
        coding::encode_gsm7_unpacked("Votre commande no 8812 arrive... \" bientot \"").unwrap()
    );
    let sent = at_carrier(&submits, "33600000002");
    assert_eq!(sent.data_coding, 8);
    assert_eq!(sent.short_message.as_bytes(), coding::encode_ucs2(emoji));
    let sent = at_carrier(&submits, "33600000003");
    assert_eq!((sent.data_coding, sent.esm_class), (8, 0x40));
    assert_eq!(sent.short_message.as_bytes(), part);
    let sent = at_carrier(&submits, "33600000004");
    assert_eq!(sent.data_coding, 0);
    assert!(sent.short_message.as_bytes().is_empty());
    assert_eq!(text_of(&sent), "Livraison \" express \" aujourd'hui");
    let sent = at_carrier(&submits, "33600000005");
    assert_eq!(sent.data_coding, 8);
    assert_eq!(text_of(&sent), replaced[0].1);
    let sent = at_carrier(&submits, "33600000006");
    assert_eq!(sent.data_coding, 0);
    assert_eq!(text_of(&sent), "Nouveau créneau : 18h-20h");
    let sent = at_carrier(&submits, "33600000007");
    assert_eq!(sent.data_coding, 8);
    assert_eq!(text_of(&sent), french);
    assert_eq!(submits.len(), 7, "nothing sent twice");

    // The French texts of `shop` as submitted: the first, the data_sm and the two scheduled.
    let counted = |client: &str| format!("smppd_transliterated_total{{client=\"{client}\"}}");
    assert_eq!(metric_sample(admin, &counted("shop")).await, Some(4.0));
    assert_eq!(metric_sample(admin, &counted("plain")).await, None);
}
