//! Message classes through the real gateway: a client's class rules and smppd's vendor TLVs
//! decide each message's class at accept; the admin API shows it with what decided it and the
//! labels; the accepted counter is labelled by class; the carrier (the real simulator, its
//! submit log) never sees smppd's TLVs; a bad vendor TLV gets ESME_RINVOPTPARAMVAL; and the
//! class survives a kill -9.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{
    carrier, client, get_ok, message_id, preamble, route, submit_sm, temp_dir, wait_link_up,
    Client, Gateway, Simulator,
};
use smpp_proto::pdu::{Address, SubmitSm};
use smpp_proto::{Body, CommandId, CommandStatus, Tag, Tlv, TlvValue};
use std::net::SocketAddr;
use std::time::Duration;

const CLASS_RULES: &str = "default_class = \"transactional\"\n\
     class_by_service_type = { MKT = \"marketing\" }\n\
     class_by_source = { \"36*\" = \"marketing\", \"36100\" = \"transactional\" }";

fn tlv(tag: u16, value: &[u8]) -> Tlv {
    Tlv::new(Tag(tag), TlvValue::Octets(Bytes::copy_from_slice(value))).unwrap()
}

/// A submit_sm to `to` from `from` with `service_type` and TLVs.
fn submit(to: &str, from: &str, service_type: &str, tlvs: &[Tlv]) -> Body {
    let mut sm = SubmitSm {
        service_type: service_type.try_into().unwrap(),
        source: Address::new(5, 0, from.try_into().unwrap()),
        ..submit_sm(to, "Les soldes commencent demain")
    };
    if from.bytes().all(|b| b.is_ascii_digit()) {
        sm.source.ton = 3; // a short code
    }
    for t in tlvs {
        sm.tlvs.push(t.clone());
    }
    Body::SubmitSm(sm)
}

async fn view(admin: SocketAddr, id: &str) -> serde_json::Value {
    get_ok(admin, &format!("/api/messages/{id}")).await
}

#[tokio::test]
async fn each_message_gets_its_class_from_the_first_rule_that_says() {
    let dir = temp_dir("message-class");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "50ms"]);
    let config = preamble(&dir, "", "", "")
        + &client("shop", "secret1", CLASS_RULES)
        + &carrier("sim", sim.addr.port(), "")
        + &route("default", &["sim"], "");
    let mut gw = Gateway::start(&dir, &config);
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;
    let mut esme = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;

    // (destination, source, service_type, TLVs) → (class, what decided it)
    let cases = [
        (
            "33600000001",
            "38100",
            "",
            vec![
                tlv(0x1500, &[1]),
                tlv(0x1501, b"soldes-hiver\0"),
                tlv(0x1502, b"cart-981"),
                tlv(0x1503, b"promo,fr"),
            ],
            "marketing",
            "tlv",
        ),
        // The TLV wins over service_type and source.
        (
            "33600000002",
            "36200",
            "MKT",
            vec![tlv(0x1500, &[0])],
            "transactional",
            "tlv",
        ),
        (
            "33600000003",
            "38100",
            "MKT",
            vec![],
            "marketing",
            "service_type",
        ),
        ("33600000004", "36200", "", vec![], "marketing", "source"),
        // The exact source beats the prefix.
        (
            "33600000005",
            "36100",
            "",
            vec![],
            "transactional",
            "source",
        ),
        (
            "33600000006",
            "Shop",
            "",
            vec![],
            "transactional",
            "default_class",
        ),
    ];
    let mut ids = Vec::new();
    for (to, from, service_type, tlvs, class, from_rule) in &cases {
        let resp = esme.request(submit(to, from, service_type, tlvs)).await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{to}");
        let id = message_id(&resp);
        let message = view(admin, &id).await;
        assert_eq!(message["class"], *class, "{to}: {message}");
        assert_eq!(message["class_from"], *from_rule, "{to}: {message}");
        let accepted = &message["history"][0]["detail"];
        assert!(
            accepted.as_str().unwrap().contains(&format!("as {class}")),
            "{accepted}"
        );
        ids.push(id);
    }
    let first = view(admin, &ids[0]).await;
    assert_eq!(first["campaign"], "soldes-hiver");
    assert_eq!(first["client_ref"], "cart-981");
    assert_eq!(first["tags"], serde_json::json!(["promo", "fr"]));
    assert_eq!(
        view(admin, &ids[2]).await["campaign"],
        serde_json::Value::Null
    );

    // Bad vendor TLVs: refused with a precise status, nothing stored.
    for bad in [
        vec![tlv(0x1500, &[7])],
        vec![tlv(0x1501, &[b'x'; 65])],
        vec![tlv(0x1503, b"a,,b")],
        vec![tlv(0x1500, &[1]), tlv(0x1500, &[1])],
    ] {
        let resp = esme.request(submit("33600000009", "Shop", "", &bad)).await;
        assert_eq!(
            resp.command_status,
            CommandStatus::ESME_RINVOPTPARAMVAL,
            "{bad:?}"
        );
    }

    // The counter by class: three marketing, three transactional.
    for (class, count) in [("marketing", 3.0), ("transactional", 3.0)] {
        let sample = format!("smppd_messages_accepted_total{{client=\"shop\",class=\"{class}\"}}");
        assert_eq!(
            common::metric_sample(admin, &sample).await,
            Some(count),
            "{sample}"
        );
    }

    // Every message reached the carrier, none with smppd's TLVs.
    let mut submits = Vec::new();
    common::eventually(
        Duration::from_secs(10),
        "six submits at the carrier",
        || {
            submits = sim.submits();
            submits.len() >= cases.len()
        },
    )
    .await;
    for s in &submits {
        let tags: Vec<u16> = s.submit_sm().tlvs.iter().map(|t| t.tag().0).collect();
        assert!(
            tags.iter().all(|t| !(0x1500..=0x15FF).contains(t)),
            "{tags:x?}"
        );
    }

    // The class and labels are on the disk with the message.
    gw.kill();
    gw.restart();
    for ((_, _, _, _, class, from_rule), id) in cases.iter().zip(&ids) {
        let message = view(gw.admin.unwrap(), id).await;
        assert_eq!(message["class"], *class);
        assert_eq!(message["class_from"], *from_rule);
    }
    assert_eq!(
        view(gw.admin.unwrap(), &ids[0]).await["campaign"],
        "soldes-hiver"
    );
}

#[tokio::test]
async fn sender_rules_refuse_a_sender_a_country_does_not_allow() {
    let dir = temp_dir("sender-rules");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "50ms"]);
    let rules = "\n[[sender_rules]]\nprefix = \"+33\"\n\
                 alnum_pattern = \"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*\"\n\
                 marketing_sources = [\"36*\"]\n";
    let config = preamble(&dir, "", "", "")
        + &client("shop", "secret1", CLASS_RULES)
        + &carrier("sim", sim.addr.port(), "")
        + &route("default", &["sim"], "")
        + rules;
    let gw = Gateway::start(&dir, &config);
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let mut esme = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let bad = CommandStatus::ESME_RINVSRCADR;
    // (destination, source, service_type) → status
    let cases = [
        // Marketing to France from a 36xxx code: allowed; from a 38xxx one or a name: not.
        ("33600000001", "36200", "", CommandStatus::ESME_ROK),
        ("33600000002", "38100", "MKT", bad),
        ("33600000003", "Shop", "MKT", bad),
        // Transactional may use a name that fits the pattern, not one with a space.
        ("33600000004", "Shop", "", CommandStatus::ESME_ROK),
        ("33600000005", "Ma Shop", "", bad),
        // Another country: no rule.
        ("447700900123", "38100", "MKT", CommandStatus::ESME_ROK),
    ];
    for (to, from, service_type, status) in cases {
        let resp = esme.request(submit(to, from, service_type, &[])).await;
        assert_eq!(resp.command_status, status, "{to} from {from}");
    }
    let mut submits = Vec::new();
    common::eventually(
        Duration::from_secs(10),
        "three submits at the carrier",
        || {
            submits = sim.submits();
            submits.len() >= 3
        },
    )
    .await;
    let mut sent: Vec<String> = submits
        .iter()
        .map(|s| s.submit_sm().destination.addr.to_string())
        .collect();
    sent.sort();
    assert_eq!(sent, ["33600000001", "33600000004", "447700900123"]);
}
