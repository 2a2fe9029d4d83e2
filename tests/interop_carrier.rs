//! Interoperability on the carrier side: a carrier SMSC written with the node `smpp` package
//! (`tests/interop/carrier_node.js`) receives the real `smppd`'s submits, and sends receipts
//! in the forms carriers do (text only, TLVs only, decimal ids for hex ids, before its own
//! submit_sm_resp), MO, ESME_RTHROTTLED under load, and drops the connection mid-window.
//! A raw ESME (this test) submits and receives through the gateway.
//!
//! The carrier reports every PDU it wrote and read, whole, and node smpp's reading of each
//! submit; the checks decode those octets with `smpp-proto` and compare them with what the
//! ESME sent and received.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::peers::{self, unhex, Lines, Running};
use common::{
    carrier, client, eventually, mo_route, preamble, routed_config, temp_dir, Esme, Gateway,
};
use serde_json::{json, Value};
use smpp_proto::coding::{encode_ucs2, Encoding};
use smpp_proto::pdu::{esm_class, SubmitSm};
use smpp_proto::{receipt, Body, CommandId, CommandStatus, MessageState, Pdu, Tag, Tlv, Tlvs};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

const TO: &str = "447700900123";
/// The carrier reports messages to a number ending in 0 as undeliverable (UNDELIV err:042).
const UNDELIVERABLE: &str = "447700900120";
const SHORT_CODE: &str = "12345";

/// The node carrier, started with `args`.
struct Carrier(Running);

impl Carrier {
    fn start(args: &[&str]) -> (Self, u16) {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let mut running = Running::start(peers::node_script("carrier_node.js", &args));
        let lines = running.wait_for(Duration::from_secs(20), "the carrier listening", |l| {
            !l.events("listening").is_empty()
        });
        let port = lines.events("listening")[0]["port"].as_u64().unwrap();
        (Self(running), u16::try_from(port).unwrap())
    }

    fn lines(&self) -> Lines {
        self.0.lines()
    }

    /// Waits until `condition` holds on the carrier's lines.
    fn wait(&mut self, what: &str, condition: impl FnMut(&Lines) -> bool) -> Lines {
        self.0.wait_for(Duration::from_secs(20), what, condition)
    }

    /// Waits for the gateway's bind.
    fn bound(&mut self) -> Value {
        let lines = self.wait("the gateway's bind", |l| !l.events("bind").is_empty());
        lines.events("bind")[0].clone()
    }

    /// The submits it accepted so far.
    fn accepted(lines: &Lines) -> Vec<&Value> {
        lines
            .events("submit")
            .into_iter()
            .filter(|s| s["outcome"] == "accepted")
            .collect()
    }
}

/// A PDU the carrier reported, decoded.
fn decode(line: &Value) -> Pdu {
    let hex = line["hex"].as_str().unwrap();
    Pdu::decode(&Bytes::from(unhex(hex))).unwrap_or_else(|e| panic!("{hex}: {e}"))
}

fn sm(pdu: &Pdu) -> &SubmitSm {
    match &pdu.body {
        Body::SubmitSm(sm) | Body::DeliverSm(sm) => sm,
        other => panic!("not a submit_sm or deliver_sm: {other:?}"),
    }
}

/// The PDUs the carrier wrote, in order.
fn sent(lines: &Lines) -> Vec<Pdu> {
    lines.events("sent").into_iter().map(decode).collect()
}

/// The gateway: client "shop", the node carrier with `carrier_extra` keys (quick timers, a
/// response timeout of 2 s), one route to it and an MO route back.
fn gateway_config(dir: &Path, carrier_port: u16, carrier_extra: &str) -> String {
    let keys = format!("response_timeout = \"2s\"\n{carrier_extra}");
    routed_config(
        dir,
        &[carrier("node", carrier_port, &keys)],
        &["node"],
        "",
        "",
    ) + &mo_route(SHORT_CODE, "shop")
}

/// The node carrier with `args` and the gateway in front of it.
fn start(name: &str, args: &[&str], carrier_extra: &str) -> (Carrier, Gateway) {
    let (carrier, port) = Carrier::start(args);
    let dir = temp_dir(name);
    let gw = Gateway::start(&dir, &gateway_config(&dir, port, carrier_extra));
    (carrier, gw)
}

/// The ESME: a bind (`kind`) of "shop" (the kit's pipelined ESME).
async fn esme(addr: SocketAddr, kind: CommandId) -> Esme {
    Esme::bind(addr, kind, "shop", "secret1").await
}

/// Submits all, pipelined; the gateway's ids in order (each accepted).
async fn submit_all(esme: &mut Esme, submits: &[SubmitSm]) -> Vec<String> {
    esme.submit_all(submits.iter().cloned().map(Body::SubmitSm))
        .await
}

/// Waits until every id has a receipt; the receipts by id. Fails on a second receipt for
/// an id, or one for an id not asked about.
async fn receipts(esme: &Esme, ids: &[String], limit: Duration) -> HashMap<String, SubmitSm> {
    let deadline = Instant::now() + limit;
    loop {
        let mut by_id: HashMap<String, SubmitSm> = HashMap::new();
        for pdu in esme.delivers() {
            let sm = sm(&pdu).clone();
            assert!(esm_class::is_receipt(sm.esm_class), "not a receipt: {sm:?}");
            let id = sm.tlvs.receipted_message_id().unwrap().to_owned();
            assert!(ids.contains(&id), "receipt for {id}, not ours");
            assert!(
                by_id.insert(id.clone(), sm).is_none(),
                "two receipts for {id}"
            );
        }
        if by_id.len() == ids.len() {
            return by_id;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} receipts after {limit:?}",
            by_id.len(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A receipt as the gateway sent it: (text stat, text err, message_state); both forms carry
/// the gateway's id.
fn read_receipt(id: &str, sm: &SubmitSm) -> (String, String, MessageState) {
    let text = receipt::parse_bytes(sm.short_message.as_bytes()).unwrap();
    assert_eq!(text.id, id);
    assert_eq!(sm.tlvs.receipted_message_id(), Some(id));
    (
        text.stat.unwrap_or_default(),
        text.err.unwrap_or_default(),
        sm.tlvs.message_state().unwrap(),
    )
}

fn message(to: &str, esm: u8, data_coding: u8, octets: Vec<u8>, tlvs: Vec<Tlv>) -> SubmitSm {
    let mut list = Tlvs::new();
    for tlv in tlvs {
        list.push(tlv);
    }
    SubmitSm {
        esm_class: esm,
        data_coding,
        tlvs: list,
        ..common::submit_sm(to, octets)
    }
}

fn gsm(to: &str, text: &str) -> SubmitSm {
    message(to, 0, 0, Encoding::Gsm7.encode(text).unwrap(), vec![])
}

fn hex(octets: &[u8]) -> String {
    octets.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn submits_reach_a_node_smpp_carrier_as_sent() {
    let (mut carrier, gw) = start("interop-carrier-submits", &[], "");
    let mut esme = esme(gw.addr, CommandId::BindTransceiver).await;
    let long = "مرحبا بكم في خدمة الرسائل 👋 ".repeat(8);
    let ucs2_parts = ["Première partie, ", "deuxième partie 😀"];
    let gsm_parts = ["First SAR part, ", "second SAR part"];
    let mut submits = vec![
        gsm(TO, "Hello from smppd: 5€ [x] {y}"),
        message(TO, 0, 8, encode_ucs2("مرحبا 👋 Ça va?"), vec![]),
    ];
    for (i, part) in ucs2_parts.iter().enumerate() {
        let mut octets = vec![0x05, 0x00, 0x03, 0x7A, 0x02, i as u8 + 1];
        octets.extend(encode_ucs2(part));
        submits.push(message(TO, esm_class::UDHI, 8, octets, vec![]));
    }
    for (i, part) in gsm_parts.iter().enumerate() {
        let sar = vec![
            Tlv::sar_msg_ref_num(0x0102),
            Tlv::sar_total_segments(2),
            Tlv::sar_segment_seqnum(i as u8 + 1),
        ];
        submits.push(message(TO, 0, 0, Encoding::Gsm7.encode(part).unwrap(), sar));
    }
    let payload = Tlv::message_payload(Bytes::from(encode_ucs2(&long))).unwrap();
    submits.push(message(TO, 0, 8, vec![], vec![payload]));
    let ids = submit_all(&mut esme, &submits).await;

    let lines = carrier.wait("7 submits", |l| Carrier::accepted(l).len() >= 7);
    let bind = &lines.events("bind")[0];
    assert_eq!(bind["command"], "bind_transceiver");
    assert_eq!(bind["system_id"], "smppd");
    assert_eq!(bind["password"], "secret");
    assert_eq!(bind["interface_version"], 0x34);
    let accepted = Carrier::accepted(&lines);
    assert_eq!(accepted.len(), 7, "each once");
    // What node smpp read, and the octets under it: as the ESME wrote them.
    let find = |sent: &SubmitSm| -> &Value {
        let found: Vec<&&Value> = accepted
            .iter()
            .filter(|a| {
                let got = decode(a);
                sm(&got).short_message == sent.short_message && sm(&got).tlvs == sent.tlvs
            })
            .collect();
        assert_eq!(found.len(), 1, "{sent:?}");
        found[0]
    };
    for sent in &submits {
        let view = find(sent);
        assert_eq!(sm(&decode(view)), sent, "the submit_sm on the wire");
        assert_eq!(view["esm_class"], sent.esm_class);
        assert_eq!(view["data_coding"], sent.data_coding);
        assert_eq!(view["registered_delivery"], 1);
        assert_eq!(view["destination_addr"], TO);
    }
    let text = |i: usize| find(&submits[i])["text"].clone();
    assert_eq!(
        text(0),
        "Hello from smppd: 5€ [x] {y}",
        "GSM 03.38, read by node"
    );
    assert_eq!(text(1), "مرحبا 👋 Ça va?", "UCS-2, read by node");
    for (i, part) in ucs2_parts.iter().enumerate() {
        let view = find(&submits[2 + i]);
        assert_eq!(view["text"], *part);
        assert_eq!(view["udh"], json!([format!("00037a02{:02x}", i + 1)]));
    }
    for (i, part) in gsm_parts.iter().enumerate() {
        let view = find(&submits[4 + i]);
        assert_eq!(view["text"], *part);
        assert_eq!(view["sar_msg_ref_num"], 0x0102);
        assert_eq!(view["sar_total_segments"], 2);
        assert_eq!(view["sar_segment_seqnum"], i + 1);
    }
    assert_eq!(find(&submits[6])["payload_text"], long.as_str());

    let receipts = receipts(&esme, &ids, Duration::from_secs(10)).await;
    for id in &ids {
        let (stat, err, state) = read_receipt(id, &receipts[id]);
        assert_eq!(
            (stat.as_str(), err.as_str(), state),
            ("DELIVRD", "000", MessageState::DELIVERED)
        );
    }
}

/// Submits one message to TO and one to UNDELIVERABLE through a carrier started with `args`;
/// checks the receipts the ESME gets (DELIVRD; UNDELIV with `undeliv_err`), and returns the
/// receipts the carrier wrote.
async fn receipts_through(name: &str, args: &[&str], undeliv_err: &str) -> Vec<SubmitSm> {
    let (mut carrier, gw) = start(name, args, "");
    let mut esme = esme(gw.addr, CommandId::BindTransceiver).await;
    let ids = submit_all(
        &mut esme,
        &[gsm(TO, "Delivered"), gsm(UNDELIVERABLE, "Not delivered")],
    )
    .await;
    let receipts = receipts(&esme, &ids, Duration::from_secs(10)).await;
    assert_eq!(
        read_receipt(&ids[0], &receipts[&ids[0]]),
        ("DELIVRD".into(), "000".into(), MessageState::DELIVERED)
    );
    assert_eq!(
        read_receipt(&ids[1], &receipts[&ids[1]]),
        (
            "UNDELIV".into(),
            undeliv_err.into(),
            MessageState::UNDELIVERABLE
        )
    );
    // The gateway acknowledged each receipt.
    let lines = carrier.wait("2 deliver_sm_resp", |l| l.events("deliver_resp").len() >= 2);
    for resp in lines.events("deliver_resp") {
        assert_eq!(resp["status"], 0, "{resp}");
    }
    sent(&lines)
        .iter()
        .filter(|p| p.command_id() == CommandId::DeliverSm)
        .map(|p| sm(p).clone())
        .collect()
}

#[tokio::test]
async fn receipts_in_text_form_only() {
    let written = receipts_through("interop-carrier-text", &["--receipt", "text"], "042").await;
    assert_eq!(written.len(), 2);
    for r in &written {
        assert_eq!(r.esm_class, esm_class::DELIVERY_RECEIPT);
        assert!(r.tlvs.is_empty(), "text only: {r:?}");
        assert!(r.short_message.as_bytes().starts_with(b"id:"));
    }
}

#[tokio::test]
async fn receipts_in_tlv_form_only() {
    // Without a text there is no err: to pass on.
    let written = receipts_through("interop-carrier-tlv", &["--receipt", "tlv"], "000").await;
    assert_eq!(written.len(), 2);
    for r in &written {
        assert_eq!(r.esm_class, esm_class::DELIVERY_RECEIPT);
        assert!(r.short_message.is_empty(), "TLVs only: {r:?}");
        assert!(r.tlvs.receipted_message_id().is_some());
        assert!(r.tlvs.message_state().is_some());
    }
}

#[tokio::test]
async fn decimal_receipt_ids_for_hex_message_ids() {
    for format in ["auto", "decimal"] {
        let args = ["--ids", "hex", "--receipt-ids", "decimal"];
        let extra = format!("receipt_id_format = \"{format}\"");
        let (mut carrier, gw) = start(&format!("interop-carrier-ids-{format}"), &args, &extra);
        let mut esme = esme(gw.addr, CommandId::BindTransceiver).await;
        let submits: Vec<SubmitSm> = (0..3).map(|i| gsm(TO, &format!("id form {i}"))).collect();
        let ids = submit_all(&mut esme, &submits).await;
        let receipts = receipts(&esme, &ids, Duration::from_secs(10)).await;
        for id in &ids {
            assert_eq!(read_receipt(id, &receipts[id]).2, MessageState::DELIVERED);
        }
        // On the carrier's wire: hex in the responses, the same numbers in decimal in both
        // forms of the receipts.
        let lines = carrier.wait("3 receipts", |l| l.events("receipt").len() >= 3);
        for r in lines.events("receipt") {
            let (id, rid) = (r["id"].as_str().unwrap(), r["rid"].as_str().unwrap());
            assert_eq!(u64::from_str_radix(id, 16).unwrap().to_string(), rid);
            assert_ne!(id, rid);
            let written = sent(&lines)
                .into_iter()
                .find(|p| p.command_id() == CommandId::DeliverSm && p.sequence_number == r["seq"])
                .unwrap();
            let written = sm(&written).clone();
            assert_eq!(written.tlvs.receipted_message_id(), Some(rid));
            let text = receipt::parse_bytes(written.short_message.as_bytes()).unwrap();
            assert_eq!(text.id, rid, "{format}");
        }
    }
}

/// Five messages through a node carrier started with `args` (which send each receipt before
/// its submit_sm_resp): every receipt reaches the client as DELIVERED and the carrier had each
/// answered OK (matched, not turned away as unknown). The carrier's lines, for more checks.
async fn early_receipts_matched(name: &str, args: &[&str]) -> Lines {
    let (mut carrier, gw) = start(name, args, "");
    let mut esme = esme(gw.addr, CommandId::BindTransceiver).await;
    let submits: Vec<SubmitSm> = (0..5).map(|i| gsm(TO, &format!("early {i}"))).collect();
    let ids = submit_all(&mut esme, &submits).await;
    let receipts = receipts(&esme, &ids, Duration::from_secs(15)).await;
    for id in &ids {
        assert_eq!(read_receipt(id, &receipts[id]).2, MessageState::DELIVERED);
    }
    let lines = carrier.wait("5 deliver_sm_resp", |l| l.events("deliver_resp").len() >= 5);
    for resp in lines.events("deliver_resp") {
        assert_eq!(resp["status"], 0, "matched, not refused: {resp}");
    }
    lines
}

#[tokio::test]
async fn receipts_before_their_submit_sm_resp() {
    let lines =
        early_receipts_matched("interop-carrier-early", &["--receipt-before-response"]).await;
    // On the wire, each receipt went out before the response that gave its id.
    let written = sent(&lines);
    let position = |wanted: &dyn Fn(&Pdu) -> bool| written.iter().position(wanted).unwrap();
    for submit in Carrier::accepted(&lines) {
        let id = submit["id"].as_str().unwrap();
        let receipt = position(&|p| {
            p.command_id() == CommandId::DeliverSm && sm(p).tlvs.receipted_message_id() == Some(id)
        });
        let response = position(&|p| match &p.body {
            Body::SubmitSmResp(r) => r.message_id.to_string() == id,
            _ => false,
        });
        assert!(
            receipt < response,
            "{id}: receipt at {receipt}, response at {response}"
        );
    }
}

#[tokio::test]
async fn early_receipts_in_another_id_form_wait_for_that_form() {
    // The receipt names the message in decimal before the hex id is even known: it must be
    // woken when the hex id is recorded, not turned away as unknown.
    let args = [
        "--receipt-before-response",
        "--ids",
        "hex",
        "--receipt-ids",
        "decimal",
    ];
    early_receipts_matched("interop-carrier-early-forms", &args).await;
}

#[tokio::test]
async fn mo_from_the_carrier_reaches_the_client() {
    let (mut carrier, gw) = start("interop-carrier-mo", &[], "");
    let esme = esme(gw.addr, CommandId::BindReceiver).await;
    carrier.bound();
    let from = json!({"source_addr_ton": 1, "source_addr_npi": 1, "source_addr": "4915112345678",
        "dest_addr_ton": 0, "dest_addr_npi": 1, "destination_addr": SHORT_CODE});
    let mo = |label: &str, fields: Value| {
        let mut all = from.clone();
        all["label"] = json!(label);
        for (k, v) in fields.as_object().unwrap() {
            all[k] = v.clone();
        }
        json!({ "mo": all })
    };
    let parts = ["Erster Teil, ", "zweiter Teil 😀"];
    let long = "هذه رسالة طويلة من المشترك. ".repeat(10);
    let commands = [
        mo(
            "gsm",
            json!({"data_coding": 0, "short_message": {"text": "Hello from node: 5€ [ok]"}}),
        ),
        mo(
            "ucs2",
            json!({"data_coding": 8, "short_message": {"text": "مرحبا 👋"}}),
        ),
        mo(
            "udh1",
            json!({"esm_class": 0x40, "data_coding": 8,
                "short_message": {"hex": format!("0500034b0201{}", hex(&encode_ucs2(parts[0])))}}),
        ),
        mo(
            "udh2",
            json!({"esm_class": 0x40, "data_coding": 8,
                "short_message": {"hex": format!("0500034b0202{}", hex(&encode_ucs2(parts[1])))}}),
        ),
        mo(
            "sar",
            json!({"data_coding": 0, "short_message": {"text": "SAR part one"},
                "sar_msg_ref_num": 7, "sar_total_segments": 2, "sar_segment_seqnum": 1}),
        ),
        mo(
            "payload",
            json!({"data_coding": 8, "message_payload": {"text": long}}),
        ),
        mo(
            "unrouted",
            json!({"destination_addr": "99999", "short_message": {"text": "nobody"}}),
        ),
    ];
    for command in &commands {
        carrier.0.send(command);
    }
    let lines = carrier.wait("7 MO answered", |l| {
        l.events("deliver_resp")
            .iter()
            .filter(|r| r["kind"] == "mo")
            .count()
            >= 7
    });
    let status = |label: &str| {
        lines
            .events("deliver_resp")
            .into_iter()
            .find(|r| r["label"] == label)
            .unwrap()["status"]
            .as_u64()
            .unwrap()
    };
    for label in ["gsm", "ucs2", "udh1", "udh2", "sar", "payload"] {
        assert_eq!(status(label), 0, "{label}");
    }
    // No [[mo_routes]] entry for 99999: refused permanently.
    assert_eq!(
        status("unrouted"),
        u64::from(CommandStatus::ESME_RX_P_APPN.0)
    );

    // What node smpp wrote for each, as the client got it.
    let written: HashMap<String, SubmitSm> = lines
        .events("mo_sent")
        .into_iter()
        .map(|m| {
            let pdu = sent(&lines)
                .into_iter()
                .find(|p| p.command_id() == CommandId::DeliverSm && p.sequence_number == m["seq"])
                .unwrap();
            (m["label"].as_str().unwrap().to_owned(), sm(&pdu).clone())
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while esme.delivers().len() < 6 {
        assert!(Instant::now() < deadline, "{:?}", esme.delivers());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got: Vec<SubmitSm> = esme.delivers().iter().map(|p| sm(p).clone()).collect();
    assert_eq!(got.len(), 6, "the unrouted one is not delivered");
    let mut matched = BTreeMap::new();
    for (label, w) in &written {
        if label == "unrouted" {
            continue;
        }
        let g = got
            .iter()
            .find(|g| g.short_message == w.short_message && g.tlvs == w.tlvs)
            .unwrap_or_else(|| panic!("{label} not delivered as written: {w:?}"));
        assert_eq!(g.esm_class, w.esm_class, "{label}");
        assert_eq!(g.data_coding, w.data_coding, "{label}");
        assert_eq!(
            (g.source.ton, g.source.npi, g.source.addr.to_string()),
            (1, 1, "4915112345678".to_owned())
        );
        assert_eq!(
            (
                g.destination.ton,
                g.destination.npi,
                g.destination.addr.to_string()
            ),
            (0, 1, SHORT_CODE.to_owned())
        );
        matched.insert(label.clone(), g.clone());
    }
    // node smpp's own encodings, as the client reads them.
    let octets = |label: &str| matched[label].short_message.as_bytes().to_vec();
    assert_eq!(
        octets("gsm"),
        Encoding::Gsm7.encode("Hello from node: 5€ [ok]").unwrap()
    );
    assert_eq!(octets("ucs2"), encode_ucs2("مرحبا 👋"));
    assert_eq!(matched["udh1"].esm_class, esm_class::UDHI);
    assert_eq!(
        matched["sar"].tlvs.get_int(Tag::SAR_SEGMENT_SEQNUM),
        Some(1)
    );
    assert_eq!(
        matched["payload"]
            .tlvs
            .message_payload()
            .map(|p| p.to_vec()),
        Some(encode_ucs2(&long))
    );
}

#[tokio::test]
async fn throttled_submits_are_sent_again_without_using_up_attempts() {
    // One attempt only: a throttled submit that counted as one would end UNDELIV.
    let (carrier, gw) = start(
        "interop-carrier-throttle",
        &["--throttle", "20"],
        "max_attempts = 1",
    );
    let mut esme = esme(gw.addr, CommandId::BindTransceiver).await;
    let submits: Vec<SubmitSm> = (0..40).map(|i| gsm(TO, &format!("load {i:02}"))).collect();
    let started = Instant::now();
    let ids = submit_all(&mut esme, &submits).await;
    let receipts = receipts(&esme, &ids, Duration::from_secs(30)).await;
    let took = started.elapsed();
    for id in &ids {
        assert_eq!(read_receipt(id, &receipts[id]).0, "DELIVRD");
    }
    let lines = carrier.lines();
    let submitted = lines.events("submit");
    let throttled = submitted
        .iter()
        .filter(|s| s["outcome"] == "throttled")
        .count();
    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    for s in Carrier::accepted(&lines) {
        *accepted
            .entry(s["text"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    eprintln!(
        "throttle 20/s: 40 messages, {} submits, {throttled} ESME_RTHROTTLED, all receipts in \
         {took:?}",
        submitted.len()
    );
    assert!(throttled > 0, "the carrier never throttled");
    assert_eq!(accepted.len(), 40);
    assert!(accepted.values().all(|&n| n == 1), "{accepted:?}");
    // The gateway pauses on ESME_RTHROTTLED instead of hammering the carrier: submits come in
    // bursts (about a window's worth), and after a throttled burst the next one waits for the
    // link's pause, 100 ms doubling while throttling goes on. (A few submits may leave while
    // the first throttled response is being settled, so a measured pause can be shorter.)
    let mut bursts: Vec<Vec<&Value>> = Vec::new();
    let mut last_t = None;
    for s in &submitted {
        let t = s["t"].as_i64().unwrap();
        let gap = last_t.map(|last| t - last);
        if !matches!(gap, Some(gap) if gap <= 50) {
            bursts.push(Vec::new());
        }
        bursts.last_mut().unwrap().push(s);
        last_t = Some(t);
    }
    let mut pauses = Vec::new();
    for pair in bursts.windows(2) {
        if pair[0].last().unwrap()["outcome"] == "throttled" {
            let pause =
                pair[1][0]["t"].as_i64().unwrap() - pair[0].last().unwrap()["t"].as_i64().unwrap();
            pauses.push(pause);
        }
    }
    eprintln!(
        "bursts of {:?} submits; pauses after throttled bursts: {pauses:?} ms",
        bursts.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert!(pauses.len() >= 2, "{pauses:?}");
    assert!(pauses.iter().all(|&p| p >= 60), "{pauses:?}");
    assert!(pauses.last() >= Some(&300), "the pause grows: {pauses:?}");
}

#[tokio::test]
async fn connection_dropped_mid_window_loses_nothing() {
    let (mut carrier, gw) = start("interop-carrier-drop", &["--drop-at", "5"], "window = 10");
    let mut esme = esme(gw.addr, CommandId::BindTransceiver).await;
    let submits: Vec<SubmitSm> = (0..30).map(|i| gsm(TO, &format!("drop {i:02}"))).collect();
    let ids = submit_all(&mut esme, &submits).await;
    let receipts = receipts(&esme, &ids, Duration::from_secs(20)).await;
    for id in &ids {
        assert_eq!(read_receipt(id, &receipts[id]).0, "DELIVRD");
    }
    let lines = carrier.wait("the drop", |l| !l.events("dropped").is_empty());
    let dropped_conn = lines.events("dropped")[0]["conn"].clone();
    let submitted = lines.events("submit");
    let held: Vec<&str> = submitted
        .iter()
        .filter(|s| s["outcome"] == "held")
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    eprintln!(
        "dropped with {} submits of the window unanswered: {held:?}",
        held.len()
    );
    assert!(held.len() >= 2, "mid-window: {held:?}");
    let mut accepted: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for s in Carrier::accepted(&lines) {
        accepted
            .entry(s["text"].as_str().unwrap())
            .or_default()
            .push(s);
    }
    assert_eq!(accepted.len(), 30, "every message accepted");
    assert!(
        accepted.values().all(|a| a.len() == 1),
        "none twice: {accepted:?}"
    );
    for text in &held {
        let again = &accepted[text][0];
        assert_ne!(
            again["conn"], dropped_conn,
            "{text} sent again on the new session"
        );
    }
}

/// Whether the carrier read an unbind on each of the connections it saw bind, and the
/// commands of those that did not.
fn unbound_on_every_bind(lines: &Lines) -> Result<(), String> {
    let mut missing = Vec::new();
    for bind in lines.events("bind") {
        let conn = &bind["conn"];
        let unbound = lines
            .events("recv")
            .into_iter()
            .filter(|l| &l["conn"] == conn)
            .any(|l| decode(l).command_id() == CommandId::Unbind);
        if !unbound {
            missing.push(format!("{} ({})", conn, bind["command"]));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("closed without an unbind: {missing:?}"))
    }
}

/// A `bind = "pair"` slot is two sessions: at SIGTERM both unbind before their connections
/// close, the receiver too (a strict carrier logs an abnormal disconnect otherwise).
#[tokio::test]
async fn a_pair_unbinds_its_transmitter_and_its_receiver_at_stop() {
    let (mut carrier, mut gw) = start("interop-pair-stop", &[], "bind = \"pair\"");
    carrier.wait("a transmitter and a receiver", |l| {
        l.events("bind").len() >= 2
    });
    assert!(gw.terminate().success(), "logs:\n{}", gw.logs());
    let lines = carrier.wait("both connections closed", |l| l.events("closed").len() >= 2);
    let binds: Vec<&Value> = lines.events("bind");
    assert_eq!(binds.len(), 2, "{binds:?}");
    unbound_on_every_bind(&lines).unwrap();
}

/// The same when a reload removes the carrier: its drained pair unbinds both sessions.
#[tokio::test]
async fn a_pair_removed_by_reload_unbinds_both_sessions() {
    let (mut carrier, gw) = start("interop-pair-reload", &[], "bind = \"pair\"");
    carrier.wait("a transmitter and a receiver", |l| {
        l.events("bind").len() >= 2
    });
    let without_carrier = preamble(&gw.dir, "", "", "") + &client("shop", "secret1", "");
    gw.write_config(&without_carrier);
    gw.hup();
    let lines = carrier.wait("both connections closed", |l| l.events("closed").len() >= 2);
    unbound_on_every_bind(&lines).unwrap();
    eventually(Duration::from_secs(10), "the retired link closed", || {
        gw.logs().contains("retired link unbound and closed")
    })
    .await;
}
