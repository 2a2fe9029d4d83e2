//! Interoperability on the client side: two independent SMPP implementations, python
//! `smpplib` 2.2.4 and the node `smpp` package 0.5.1, bind to the real `smppd` as ESMEs and
//! run scenarios with their own encoders, splitters and decoders (`tests/interop/esme_*`).
//! The carrier is the in-process simulator, whose submit log shows what went upstream.
//!
//! Each peer reports every PDU it wrote and read, whole; the checks decode those bytes with
//! `smpp-proto` and compare them with what reached the carrier: data_coding, esm_class, the
//! UDH, the TLVs, and the ids of receipts against the ids of submit_sm_resp. Where a library
//! deviates from SMPP 3.4 the check says so (docs/interop.md).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::peers::{self, unhex, Lines};
use common::{
    carrier_table, client, mo_route, preamble, read_submit_log, route, temp_dir, Gateway,
    LoggedSubmit,
};
use serde_json::Value;
use smpp_proto::coding::{decode_text, encode_ucs2, Encoding};
use smpp_proto::concat::parse_udh;
use smpp_proto::pdu::{esm_class, SubmitSm};
use smpp_proto::{receipt, Body, CommandId, CommandStatus, MessageState, Pdu, Tag};
use smppd::simulator::{Simulator, SimulatorConfig, SimulatorHandle};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The account the peers bind with.
const SYSTEM_ID: &str = "interop";
const PASSWORD: &str = "secret1";
/// Where the peers send (the scripts use the same number).
const TO: &str = "447700900123";
/// The MO short code routed to the peers' account.
const SHORT_CODE: &str = "12345";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Library {
    Smpplib,
    NodeSmpp,
}

impl Library {
    fn command(self, scenario: &str, gw: &Gateway) -> std::process::Command {
        let args: Vec<String> = [
            scenario,
            "127.0.0.1",
            &gw.addr.port().to_string(),
            SYSTEM_ID,
            PASSWORD,
        ]
        .map(str::to_owned)
        .to_vec();
        match self {
            Self::Smpplib => peers::python_script("esme_smpplib.py", &args),
            Self::NodeSmpp => peers::node_script("esme_node.js", &args),
        }
    }
}

/// The gateway with one client account, a route to the simulator and an MO route back.
/// enquire_link is sent after 300 ms of silence, so that the peers have to answer it too.
fn gateway_config(dir: &Path, carrier_port: u16) -> String {
    let server =
        "system_id = \"smppd-interop\"\n\n[server.session]\nenquire_link_interval = \"300ms\"";
    let carrier_keys = "reconnect_min = \"50ms\"\nreconnect_max = \"200ms\"";
    preamble(dir, server, "", "")
        + &client(
            SYSTEM_ID,
            PASSWORD,
            "class_by_service_type = { MKT = \"marketing\" }",
        )
        + &carrier_table("sim", carrier_port, carrier_keys)
        + &route("default", &["sim"], "")
        + &mo_route(SHORT_CODE, SYSTEM_ID)
}

/// A gateway, its carrier (the simulator, in this process) and the carrier's submit log.
struct Rig {
    gw: Gateway,
    carrier: SimulatorHandle,
    log: PathBuf,
}

impl Rig {
    async fn start(name: &str) -> Self {
        let dir = temp_dir(name);
        let log = dir.join("carrier.log");
        let carrier = Simulator::start(SimulatorConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            log_submits: Some(log.clone()),
            receipt_delay: Duration::from_millis(20),
            ..SimulatorConfig::default()
        })
        .await
        .unwrap();
        let gw = Gateway::start(&dir, &gateway_config(&dir, carrier.addr().port()));
        Self { gw, carrier, log }
    }

    /// Runs `scenario` with `library` to its end; its lines.
    async fn run(&self, library: Library, scenario: &str) -> Lines {
        let command = library.command(scenario, &self.gw);
        tokio::task::spawn_blocking(move || peers::run_script(command, Duration::from_secs(60)))
            .await
            .unwrap()
    }

    /// The submits the carrier logged, once there are at least `n`.
    async fn carrier_submits(&self, n: usize) -> Vec<LoggedSubmit> {
        let mut submits = Vec::new();
        common::eventually(Duration::from_secs(10), "submits at the carrier", || {
            submits = read_submit_log(&self.log);
            submits.len() >= n
        })
        .await;
        submits
    }
}

/// The PDUs a peer reported as `ev` ("sent" or "recv"), on connection `conn` or all.
fn pdus(lines: &Lines, ev: &str, conn: Option<&str>) -> Vec<Pdu> {
    lines
        .events(ev)
        .into_iter()
        .filter(|l| match conn {
            Some(c) => l["conn"] == c,
            None => true,
        })
        .map(|l| {
            let hex = l["hex"].as_str().unwrap();
            Pdu::decode(&bytes::Bytes::from(unhex(hex)))
                .unwrap_or_else(|e| panic!("{ev} {hex} does not decode: {e}"))
        })
        .collect()
}

fn as_sm(pdu: &Pdu) -> Option<&SubmitSm> {
    match &pdu.body {
        Body::SubmitSm(sm) | Body::DeliverSm(sm) => Some(sm),
        _ => None,
    }
}

/// One submit as the peer made it: its `submitted` line and the submit_sm it wrote.
#[derive(Debug)]
struct Submitted {
    label: String,
    text: String,
    id: String,
    sm: SubmitSm,
}

/// Every submit of the run, in order; each answered with status 0 and a decimal id.
fn submitted(lines: &Lines) -> Vec<Submitted> {
    let sent: Vec<SubmitSm> = pdus(lines, "sent", None)
        .iter()
        .filter(|p| p.command_id() == CommandId::SubmitSm)
        .map(|p| as_sm(p).unwrap().clone())
        .collect();
    let events = lines.events("submitted");
    assert_eq!(sent.len(), events.len(), "a submitted line per submit_sm");
    events
        .into_iter()
        .zip(sent)
        .map(|(e, sm)| {
            assert_eq!(e["status"], 0, "{e}");
            let id = e["id"].as_str().unwrap().to_owned();
            assert!(
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
                "gateway ids are decimal: {e}"
            );
            Submitted {
                label: e["label"].as_str().unwrap().to_owned(),
                text: e["text"].as_str().unwrap().to_owned(),
                id,
                sm,
            }
        })
        .collect()
}

/// The submit_sm the gateway sends upstream for `sm`: the same fields, octets and TLVs, but
/// always asking for a receipt and without times (it keeps schedules itself).
fn upstream_form(sm: &SubmitSm) -> SubmitSm {
    let mut upstream = sm.clone();
    upstream.registered_delivery = 1;
    upstream.schedule_delivery_time = smpp_proto::COctetString::empty();
    upstream.validity_period = smpp_proto::COctetString::empty();
    upstream
}

/// Each submit reached the carrier once, field for field and octet for octet as the library
/// wrote it.
async fn check_relayed(rig: &Rig, submits: &[Submitted]) {
    let carrier = rig.carrier_submits(submits.len()).await;
    for s in submits {
        let expected = upstream_form(&s.sm);
        let matching: Vec<&LoggedSubmit> = carrier
            .iter()
            .filter(|c| c.submit_sm().short_message == s.sm.short_message)
            .filter(|c| c.submit_sm().tlvs == s.sm.tlvs)
            .collect();
        assert_eq!(matching.len(), 1, "{}: {matching:?}", s.label);
        assert_eq!(matching[0].submit_sm(), &expected, "{}", s.label);
        assert!(matching[0].id().is_some(), "{:?}", matching[0]);
    }
}

/// What a receipt's `text:` must say about `sm`: its first 20 characters (UDH left out, the
/// text decoded per data_coding), in GSM 03.38 like the rest of the receipt (data_coding 0),
/// with `?` for what GSM cannot write and a space for control characters.
fn receipt_text(sm: &SubmitSm) -> String {
    let data = sm
        .tlvs
        .message_payload()
        .map_or_else(|| sm.short_message.as_bytes().to_vec(), |p| p.to_vec());
    let data = if sm.esm_class & esm_class::UDHI != 0 {
        parse_udh(&data).unwrap().1.to_vec()
    } else {
        data
    };
    decode_text(sm.data_coding, &data)
        .chars()
        .take(20)
        .map(|c| match c {
            c if c.is_control() => ' ',
            c if Encoding::Gsm7.char_units(c).is_some() => c,
            _ => '?',
        })
        .collect()
}

/// One receipt per submit came on `conn`: the gateway's id in both forms, DELIVRD, the text in
/// GSM 03.38; and the library read it the same way and acknowledged it.
fn check_receipts(lines: &Lines, conn: &str, submits: &[&Submitted]) {
    check_receipts_and_deleted(lines, conn, submits, &[]);
}

/// [`check_receipts`], where the messages `cancelled` (by cancel_sm) may have had their
/// DELETED receipt by the time the library stopped reading.
fn check_receipts_and_deleted(
    lines: &Lines,
    conn: &str,
    submits: &[&Submitted],
    cancelled: &[&str],
) {
    let ids: Vec<String> = submits.iter().map(|s| s.id.clone()).collect();
    let received = pdus(lines, "recv", Some(conn));
    let receipts: Vec<(&Pdu, &SubmitSm)> = received
        .iter()
        .filter_map(|p| as_sm(p).map(|sm| (p, sm)))
        .filter(|(p, sm)| p.command_id() == CommandId::DeliverSm && sm.esm_class == 4)
        .filter(|(_, sm)| {
            let id = sm.tlvs.receipted_message_id().unwrap_or_default();
            if !cancelled.contains(&id) {
                return true;
            }
            assert_eq!(
                sm.tlvs.message_state(),
                Some(MessageState::DELETED),
                "{sm:?}"
            );
            false
        })
        .collect();
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for (_, sm) in &receipts {
        let id = sm.tlvs.receipted_message_id().unwrap().to_owned();
        let octets = sm.short_message.as_bytes();
        assert!(
            octets.iter().all(|&o| o < 0x80),
            "data_coding 0 holds GSM 7-bit septets: {:?}",
            String::from_utf8_lossy(octets)
        );
        let text = receipt::parse(&decode_text(0, octets)).unwrap();
        assert_eq!(text.id, id, "text and TLV ids agree");
        let submit = submits.iter().find(|s| s.id == id).unwrap();
        assert_eq!(
            text.text.as_deref().map(str::trim_end),
            Some(receipt_text(&submit.sm).trim_end()),
            "text: of the receipt for {:?}",
            submit.text
        );
        assert_eq!(text.stat.as_deref(), Some("DELIVRD"), "{sm:?}");
        assert_eq!(sm.tlvs.message_state(), Some(MessageState::DELIVERED));
        assert_eq!(sm.data_coding, 0);
        assert_eq!(sm.destination.addr.to_string(), "Shop");
        assert_eq!(sm.source.addr.to_string(), TO);
        *by_id.entry(id).or_default() += 1;
    }
    let wanted: BTreeMap<String, usize> = ids.iter().map(|id| (id.clone(), 1)).collect();
    assert_eq!(by_id, wanted, "one receipt per submit_sm_resp id");
    // The library's own reading of them.
    let views = lines.events("deliver");
    for id in &ids {
        let views: Vec<&&Value> = views
            .iter()
            .filter(|v| v["conn"] == conn && v["receipted_message_id"] == id.as_str())
            .collect();
        assert_eq!(views.len(), 1, "the library read receipt {id}");
        assert_eq!(views[0]["esm_class"], 4);
        assert_eq!(views[0]["message_state"], 2);
        // node smpp decodes short_message itself (GSM 03.38 for data_coding 0).
        if let Some(text) = views[0].get("text") {
            let octets = unhex(views[0]["short_message"].as_str().unwrap());
            assert_eq!(text.as_str(), Some(decode_text(0, &octets).as_str()));
        }
    }
    // Every deliver_sm answered, status 0, same sequence number.
    let answers: HashSet<u32> = pdus(lines, "sent", Some(conn))
        .iter()
        .filter(|p| p.command_id() == CommandId::DeliverSmResp && p.command_status.is_ok())
        .map(|p| p.sequence_number)
        .collect();
    for (p, _) in &receipts {
        assert!(answers.contains(&p.sequence_number), "{p:?} unanswered");
    }
}

fn all(submits: &[Submitted]) -> Vec<&Submitted> {
    submits.iter().collect()
}

fn gsm7(text: &str) -> Vec<u8> {
    Encoding::Gsm7.encode(text).unwrap()
}

async fn gsm_7bit(library: Library) {
    let rig = Rig::start("interop-gsm").await;
    let lines = rig.run(library, "gsm").await;
    let submits = submitted(&lines);
    for s in &submits {
        let sm = &s.sm;
        assert_eq!(sm.short_message.as_bytes(), gsm7(&s.text), "{}", s.label);
        assert_eq!(sm.esm_class, 0);
        assert_eq!(sm.registered_delivery, 1);
        let data_coding = match s.label.as_str() {
            "gsm" => 0x00,
            // node smpp picks data_coding itself when not given one: 0x01 (IA5), with the text
            // encoded as GSM 03.38 all the same; smppd relays it as written.
            "auto" => 0x01,
            other => panic!("label {other}"),
        };
        assert_eq!(sm.data_coding, data_coding, "{}", s.label);
    }
    let labels: Vec<&str> = submits.iter().map(|s| s.label.as_str()).collect();
    match library {
        Library::Smpplib => assert_eq!(labels, ["gsm"]),
        Library::NodeSmpp => assert_eq!(labels, ["gsm", "auto"]),
    }
    check_relayed(&rig, &submits).await;
    check_receipts(&lines, "rx", &all(&submits));
}

async fn ucs2(library: Library) {
    let rig = Rig::start("interop-ucs2").await;
    let lines = rig.run(library, "ucs2").await;
    let submits = submitted(&lines);
    let labels: Vec<&str> = submits.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["latin", "arabic", "emoji"]);
    for s in &submits {
        assert_eq!(s.sm.data_coding, 0x08, "{}", s.label);
        assert_eq!(s.sm.esm_class, 0);
        // UTF-16BE, emoji as surrogate pairs.
        assert_eq!(s.sm.short_message.as_bytes(), encode_ucs2(&s.text));
    }
    assert!(submits[2]
        .sm
        .short_message
        .as_bytes()
        .windows(2)
        .any(|w| w == [0xD8, 0x3D]));
    check_relayed(&rig, &submits).await;
    check_receipts(&lines, "trx", &all(&submits));
}

async fn udh_concatenation(library: Library) {
    let rig = Rig::start("interop-udh").await;
    let lines = rig.run(library, "udh").await;
    let submits = submitted(&lines);
    for (label, encoding) in [("gsm", Encoding::Gsm7), ("ucs2", Encoding::Ucs2)] {
        let parts: Vec<&Submitted> = submits.iter().filter(|s| s.label == label).collect();
        assert!(parts.len() >= 2, "{label}: {parts:?}");
        let mut reference = None;
        let mut whole = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let sm = &part.sm;
            assert_eq!(sm.esm_class, esm_class::UDHI, "{label}");
            assert_eq!(sm.data_coding, encoding.data_coding(), "{label}");
            let (udh, data) = parse_udh(sm.short_message.as_bytes()).unwrap();
            let concat = udh.concat().unwrap();
            assert_eq!(usize::from(concat.total()), parts.len());
            assert_eq!(usize::from(concat.seqnum()), i + 1);
            assert_eq!(
                *reference.get_or_insert(concat.reference()),
                concat.reference()
            );
            // One SMS each: 140 octets of user data, UDH included; in 7-bit, the UDH is
            // padded to whole septets (smpp34.md §12.1).
            let udh_octets = sm.short_message.len() - data.len();
            let octets = match encoding {
                Encoding::Gsm7 => (((udh_octets * 8).div_ceil(7) + data.len()) * 7).div_ceil(8),
                _ => sm.short_message.len(),
            };
            assert!(octets <= 140, "{label} part {i} is {octets} octets");
            whole.extend_from_slice(data);
        }
        assert_eq!(
            encoding.decode(&whole),
            parts[0].text,
            "{label} reassembled"
        );
    }
    check_relayed(&rig, &submits).await;
    check_receipts(&lines, "trx", &all(&submits));
}

async fn sar_tlvs(library: Library) {
    let rig = Rig::start("interop-sar").await;
    let lines = rig.run(library, "sar").await;
    let submits = submitted(&lines);
    assert!(submits.len() >= 2, "{submits:?}");
    let mut whole = Vec::new();
    for (i, s) in submits.iter().enumerate() {
        let sm = &s.sm;
        assert_eq!(sm.esm_class, 0, "SAR parts carry no UDH");
        assert_eq!(sm.data_coding, 0);
        let int = |tag| sm.tlvs.get_int(tag);
        assert_eq!(int(Tag::SAR_MSG_REF_NUM), Some(0x1234));
        assert_eq!(int(Tag::SAR_TOTAL_SEGMENTS), Some(submits.len() as u32));
        assert_eq!(int(Tag::SAR_SEGMENT_SEQNUM), Some(i as u32 + 1));
        assert!(sm.short_message.len() <= 153);
        whole.extend_from_slice(sm.short_message.as_bytes());
    }
    assert_eq!(Encoding::Gsm7.decode(&whole), submits[0].text);
    check_relayed(&rig, &submits).await;
    check_receipts(&lines, "trx", &all(&submits));
}

async fn message_payload(library: Library) {
    let rig = Rig::start("interop-payload").await;
    let lines = rig.run(library, "payload").await;
    let submits = submitted(&lines);
    assert_eq!(submits.len(), 1);
    let sm = &submits[0].sm;
    assert!(
        sm.short_message.is_empty(),
        "sm_length 0 with message_payload"
    );
    assert_eq!(sm.data_coding, 0x08);
    let payload = sm.tlvs.message_payload().unwrap();
    assert_eq!(payload.as_ref(), encode_ucs2(&submits[0].text));
    assert!(payload.len() > 254, "longer than short_message can hold");
    check_relayed(&rig, &submits).await;
    check_receipts(&lines, "trx", &all(&submits));
}

async fn mo(library: Library) {
    let rig = Rig::start("interop-mo").await;
    let texts = [
        ("4915112345678", "Hello from a handset"),
        ("4915112345679", "مرحبا! كيف الحال؟"),
        ("4915112345670", "Ça va ? 😀👍"),
    ];
    // The gateway's link to the carrier binds shortly after start; the MO wait in the
    // client's outbox until the peer binds.
    let deadline = Instant::now() + Duration::from_secs(10);
    for (from, text) in texts {
        while let Err(e) = rig.carrier.send_mo("smppd", from, SHORT_CODE, text).await {
            assert!(Instant::now() < deadline, "MO not taken: {e}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let lines = rig.run(library, "mo").await;
    let received: Vec<Pdu> = pdus(&lines, "recv", Some("rx"))
        .into_iter()
        .filter(|p| p.command_id() == CommandId::DeliverSm)
        .collect();
    assert_eq!(received.len(), 3, "{received:?}");
    let views = lines.events("deliver");
    for (from, text) in texts {
        let (data_coding, bytes) = if text.is_ascii() {
            (0, text.as_bytes().to_vec())
        } else {
            (8, encode_ucs2(text))
        };
        let sm = received
            .iter()
            .filter_map(as_sm)
            .find(|sm| sm.source.addr.to_string() == from)
            .unwrap_or_else(|| panic!("no MO from {from}"));
        assert_eq!(sm.esm_class, 0, "MO, not a receipt");
        assert_eq!(sm.data_coding, data_coding);
        assert_eq!(sm.short_message.as_bytes(), bytes);
        assert_eq!(sm.destination.addr.to_string(), SHORT_CODE);
        assert!(sm.tlvs.is_empty(), "{sm:?}");
        let view = views
            .iter()
            .find(|v| v["source_addr"] == from)
            .unwrap_or_else(|| panic!("the library did not read the MO from {from}"));
        assert_eq!(view["data_coding"], data_coding);
        assert_eq!(view["esm_class"], 0);
        assert_eq!(view["short_message"], hex(&bytes));
        // node smpp decodes the text itself (GSM 03.38 for 0, UTF-16BE for 8).
        if library == Library::NodeSmpp {
            assert_eq!(view["text"], text, "node smpp's reading");
        }
    }
    let answered = pdus(&lines, "sent", Some("rx"))
        .iter()
        .filter(|p| p.command_id() == CommandId::DeliverSmResp && p.command_status.is_ok())
        .count();
    assert_eq!(answered, 3);
}

async fn query_and_cancel(library: Library) {
    let rig = Rig::start("interop-query").await;
    let lines = rig.run(library, "query_cancel").await;
    let submits = submitted(&lines);
    let labels: Vec<&str> = submits.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["scheduled", "now"]);
    let (scheduled, now) = (&submits[0].id, &submits[1].id);
    check_receipts_and_deleted(&lines, "trx", &[&submits[1]], &[scheduled.as_str()]);
    let event = |ev: &str, label: &str| -> Value {
        let found: Vec<&Value> = lines
            .events(ev)
            .into_iter()
            .filter(|e| e["label"] == label)
            .collect();
        assert_eq!(found.len(), 1, "{ev} {label}");
        found[0].clone()
    };
    let status = |ev: &str, label: &str| event(ev, label)["status"].as_u64().unwrap();
    // The library's reading: state, and a final_date only once final (node smpp parses it
    // into a date, smpplib keeps the string).
    let query = |label: &str| {
        let q = event("query", label);
        let date = q["final_date"].as_str().unwrap().to_owned();
        assert!(date != "Invalid Date", "{label}: {q}");
        (
            q["status"].as_u64().unwrap(),
            q["message_state"].as_u64().unwrap(),
            !date.is_empty(),
        )
    };
    assert_eq!(
        query("scheduled"),
        (0, 1, false),
        "ENROUTE, NULL final_date"
    );
    assert_eq!(query("delivered"), (0, 2, true));
    assert_eq!(status("cancel", "scheduled"), 0);
    assert_eq!(query("cancelled"), (0, 4, true), "DELETED");
    let failed = u64::from(CommandStatus::ESME_RCANCELFAIL.0);
    assert_eq!(status("cancel", "again"), failed);
    assert_eq!(status("cancel", "delivered"), failed);
    assert_eq!(
        status("query", "unknown"),
        u64::from(CommandStatus::ESME_RQUERYFAIL.0)
    );

    // On the wire: the cancel_sm the library wrote names the id, the query_sm_resp echoes it.
    let sent = pdus(&lines, "sent", Some("trx"));
    let cancels: Vec<String> = sent
        .iter()
        .filter_map(|p| match &p.body {
            Body::CancelSm(c) => Some(c.message_id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(cancels, [scheduled.clone(), scheduled.clone(), now.clone()]);
    let resps: Vec<(String, MessageState, usize)> = pdus(&lines, "recv", Some("trx"))
        .iter()
        .filter_map(|p| match &p.body {
            Body::QuerySmResp(q) if p.command_status.is_ok() => Some((
                q.message_id.to_string(),
                q.message_state,
                q.final_date.as_bytes().len(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        resps,
        [
            (scheduled.clone(), MessageState::ENROUTE, 0),
            (now.clone(), MessageState::DELIVERED, 16),
            (scheduled.clone(), MessageState::DELETED, 16),
        ]
    );
    // The scheduled message never went upstream.
    let carrier = rig.carrier_submits(1).await;
    let texts: Vec<Vec<u8>> = carrier
        .iter()
        .map(|c| c.submit_sm().short_message.as_bytes().to_vec())
        .collect();
    assert_eq!(texts, [gsm7("Right now")]);
}

async fn binds(library: Library) {
    let rig = Rig::start("interop-binds").await;
    let lines = rig.run(library, "binds").await;
    let kinds = [
        ("transmitter", CommandId::BindTransmitter),
        ("receiver", CommandId::BindReceiver),
        ("transceiver", CommandId::BindTransceiver),
    ];
    for (conn, command) in kinds {
        let sent = pdus(&lines, "sent", Some(conn));
        let recv = pdus(&lines, "recv", Some(conn));
        let bind = sent.iter().find(|p| p.command_id() == command).unwrap();
        let (Body::BindTransmitter(b) | Body::BindReceiver(b) | Body::BindTransceiver(b)) =
            &bind.body
        else {
            unreachable!()
        };
        assert_eq!(b.system_id.to_string(), SYSTEM_ID);
        // node smpp binds as SMPP 5.0 unless told otherwise; smppd answers as 3.4.
        let version = match library {
            Library::Smpplib => 0x34,
            Library::NodeSmpp => 0x50,
        };
        assert_eq!(b.interface_version, version, "{conn}");
        let resp = &recv[0];
        assert_eq!(resp.sequence_number, bind.sequence_number);
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{conn}");
        let (Body::BindTransmitterResp(r)
        | Body::BindReceiverResp(r)
        | Body::BindTransceiverResp(r)) = &resp.body
        else {
            panic!("{conn}: {resp:?}")
        };
        assert_eq!(r.system_id.to_string(), "smppd-interop");
        assert_eq!(r.tlvs.get_int(Tag::SC_INTERFACE_VERSION), Some(0x34));
        let bound = lines
            .events("bound")
            .into_iter()
            .find(|e| e["conn"] == conn)
            .unwrap();
        assert_eq!(bound["status"], 0);
        assert_eq!(bound["system_id"], "smppd-interop");
        assert_eq!(
            bound["sc_interface_version"], 0x34,
            "the library read the TLV"
        );

        // Requests both ways, each answered with its own sequence number.
        let answered = |requests: &[Pdu], responses: &[Pdu], request, response| {
            let asked: Vec<u32> = requests
                .iter()
                .filter(|p| p.command_id() == request)
                .map(|p| p.sequence_number)
                .collect();
            assert!(!asked.is_empty(), "{conn}: no {request:?}");
            for seq in asked {
                assert!(
                    responses.iter().any(|p| p.command_id() == response
                        && p.sequence_number == seq
                        && p.command_status.is_ok()),
                    "{conn}: {request:?} {seq} unanswered"
                );
            }
        };
        answered(
            &sent,
            &recv,
            CommandId::EnquireLink,
            CommandId::EnquireLinkResp,
        );
        answered(
            &recv,
            &sent,
            CommandId::EnquireLink,
            CommandId::EnquireLinkResp,
        );
        answered(&sent, &recv, CommandId::Unbind, CommandId::UnbindResp);
        assert_eq!(
            sent.last().map(Pdu::command_id),
            Some(CommandId::Unbind),
            "{conn}: unbind ends the session"
        );
    }
}

/// Classes from a third-party client: node smpp writes smppd's vendor TLVs (declared with its
/// `addTLV`), both libraries a mapped service_type; the gateway classes each message, keeps the
/// labels, refuses a bad class value, and relays none of its TLVs upstream.
async fn classes(library: Library) {
    let rig = Rig::start("interop-classes").await;
    let lines = rig.run(library, "classes").await;
    let admin = rig.gw.admin.unwrap();
    let submitted: BTreeMap<String, &Value> = lines
        .events("submitted")
        .into_iter()
        .map(|e| (e["label"].as_str().unwrap().to_owned(), e))
        .collect();
    let mut expected = vec![
        ("service_type", "marketing", "service_type"),
        ("default", "transactional", "default"),
    ];
    if library == Library::NodeSmpp {
        expected.push(("tlv", "marketing", "tlv"));
        let bad = submitted["bad"];
        assert_eq!(
            bad["status"],
            CommandStatus::ESME_RINVOPTPARAMVAL.0,
            "{bad}"
        );
        // node smpp really wrote the TLV: our decoder reads it back from its octets.
        let sent: Vec<SubmitSm> = pdus(&lines, "sent", None)
            .iter()
            .filter_map(|p| as_sm(p).cloned())
            .collect();
        let class_tlv = |sm: &SubmitSm| {
            sm.tlvs
                .iter()
                .find(|t| t.tag().0 == 0x1500)
                .map(|t| t.value_bytes().to_vec())
        };
        assert_eq!(class_tlv(&sent[0]), Some(vec![1]));
    }
    assert_eq!(
        submitted.len(),
        expected.len() + usize::from(library == Library::NodeSmpp)
    );
    for (label, class, from) in expected {
        let event = submitted[label];
        assert_eq!(event["status"], 0, "{event}");
        let id = event["id"].as_str().unwrap();
        let message = common::get_ok(admin, &format!("/api/messages/{id}")).await;
        assert_eq!(message["class"], class, "{label}: {message}");
        assert_eq!(message["class_from"], from, "{label}: {message}");
        if label == "tlv" {
            assert_eq!(message["campaign"], "soldes-hiver");
            assert_eq!(message["tags"], serde_json::json!(["promo", "fr"]));
        }
    }
    let accepted = submitted.values().filter(|e| e["status"] == 0).count();
    let carrier = rig.carrier_submits(accepted).await;
    assert_eq!(carrier.len(), accepted);
    for c in &carrier {
        assert!(
            c.submit_sm()
                .tlvs
                .iter()
                .all(|t| !(0x1500..=0x15FF).contains(&t.tag().0)),
            "smppd's TLVs stay in smppd: {:?}",
            c.submit_sm().tlvs
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The installed peers are the pinned versions.
#[test]
fn peers_are_the_pinned_versions() {
    let out = std::process::Command::new(peers::python())
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('smpplib'), m.version('six'))",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2.2.4 1.17.0");
    let package = peers::node_modules().join("smpp").join("package.json");
    let package: Value = serde_json::from_str(&std::fs::read_to_string(package).unwrap()).unwrap();
    assert_eq!(package["version"], "0.5.1");
}

macro_rules! library_tests {
    ($module:ident, $library:expr) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn binds_as_transmitter_receiver_transceiver_with_enquire_link_and_unbind() {
                binds($library).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn gsm_7bit_submit_and_its_receipt_on_a_receiver_bind() {
                gsm_7bit($library).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ucs2_accented_latin_arabic_and_emoji() {
                ucs2($library).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn long_messages_concatenated_with_udh() {
                udh_concatenation($library).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn long_messages_with_sar_tlvs() {
                sar_tlvs($library).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn long_message_in_message_payload() {
                message_payload($library).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mo_reaches_a_receiver_bind() {
                mo($library).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn query_sm_and_cancel_sm() {
                query_and_cancel($library).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn message_classes_from_vendor_tlvs_and_service_type() {
                classes($library).await;
            }
        }
    };
}

library_tests!(smpplib, Library::Smpplib);
library_tests!(node_smpp, Library::NodeSmpp);
