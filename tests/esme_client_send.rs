//! `smppd::esme_client::send` (what `smppd send`-style health checks and `smppctl send` use) against
//! the real gateway and a `smppd simulate` carrier: one part or many, GSM 7-bit or UCS-2, each
//! part's receipt matched by id; a refused bind and an absent server are clear errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{carrier_table, client, config, route, temp_dir, Gateway, Simulator};
use smpp_proto::coding::Encoding;
use smpp_proto::pdu::esm_class;
use smpp_proto::{CommandStatus, MessageState};
use smppd::esme_client::{send, Error, Message};
use std::time::Duration;

fn gateway(name: &str) -> (Gateway, Simulator) {
    let dir = temp_dir(name);
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "10ms"]);
    let text = config(&dir, "", &client("shop", "secret1", ""))
        + &carrier_table("sim", sim.addr.port(), "")
        + &route("default", &["sim"], "");
    (Gateway::start(&dir, &text), sim)
}

fn message(gateway: &Gateway, text: &str) -> Message {
    Message {
        server: gateway.addr.to_string(),
        system_id: "shop".into(),
        password: "secret1".into(),
        from: "Shop".into(),
        to: "+447700900123".into(),
        text: text.into(),
        wait: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn a_short_gsm_message_gets_its_receipt() {
    let (gateway, sim) = gateway("client-send-gsm");
    let sent = send(&message(&gateway, "Your order {42} has shipped"))
        .await
        .unwrap();
    assert_eq!(sent.encoding, Encoding::Gsm7);
    assert_eq!(sent.parts.len(), 1);
    let receipt = sent.parts[0].receipt.clone().expect("no receipt");
    assert_eq!(receipt.state, MessageState::DELIVERED);
    assert_eq!(receipt.stat, "DELIVRD");

    // What reached the carrier: GSM 7-bit with the extension characters escaped.
    let submits = sim.submits();
    assert_eq!(submits.len(), 1);
    let sm = submits[0].submit_sm();
    assert_eq!(sm.data_coding, 0);
    assert_eq!(sm.destination.addr.to_string(), "447700900123");
    assert_eq!(
        sm.short_message.as_bytes(),
        b"Your order \x1b\x28\x34\x32\x1b\x29 has shipped"
    );
}

#[tokio::test]
async fn a_long_ucs2_message_is_split_and_every_part_receipted() {
    let (gateway, sim) = gateway("client-send-long");
    let text = "Votre commande est expédiée 📦 — merci ! ".repeat(5);
    let sent = send(&message(&gateway, &text)).await.unwrap();
    assert_eq!(sent.encoding, Encoding::Ucs2);
    assert!(sent.parts.len() > 1, "{sent:?}");
    for part in &sent.parts {
        let receipt = part.receipt.clone().unwrap_or_else(|| panic!("{part:?}"));
        assert_eq!(receipt.state, MessageState::DELIVERED);
    }
    let submits = sim.submits();
    assert_eq!(submits.len(), sent.parts.len());
    for (n, submit) in submits.iter().enumerate() {
        let sm = submit.submit_sm();
        assert_eq!(sm.data_coding, 8);
        assert_ne!(sm.esm_class & esm_class::UDHI, 0);
        let udh = &sm.short_message.as_bytes()[..6];
        assert_eq!(&udh[..3], [5, 0, 3]);
        assert_eq!(usize::from(udh[4]), sent.parts.len());
        assert_eq!(usize::from(udh[5]), n + 1);
    }
}

#[tokio::test]
async fn refused_binds_and_absent_servers_are_clear_errors() {
    let (gateway, _sim) = gateway("client-send-errors");
    let mut wrong = message(&gateway, "hello");
    wrong.password = "nope".into();
    match send(&wrong).await {
        Err(Error::BindRefused(status)) => assert_eq!(status, CommandStatus::ESME_RINVPASWD),
        other => panic!("{other:?}"),
    }

    let mut nowhere = message(&gateway, "hello");
    nowhere.server = Simulator::reserve_port().to_string();
    let err = send(&nowhere).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot connect"), "{err}");
}
