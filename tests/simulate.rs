//! The carrier simulator over real TCP: started in-process through its Rust API on port 0,
//! driven by the raw test client; and the `smppd simulate` binary itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{lines_of, message_id, printed_addr, signal, sim_config, submit, until_ready, Client};
use smpp_proto::pdu::esm_class;
use smpp_proto::receipt::{self, Receipt};
use smpp_proto::{Body, CommandId, CommandStatus, MessageState, Pdu};
use smppd::simulator::{ReceiptIdFormat, Simulator, SimulatorConfig, SimulatorHandle};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// Port 0 and a short receipt delay: tests wait for PDUs, never for time.
fn config() -> SimulatorConfig {
    let mut config = sim_config();
    // Our clients do not answer the unbind of shutdown(): do not wait long for them.
    config.timers.unbind_timeout = Duration::from_millis(100);
    config
}

async fn start(config: SimulatorConfig) -> SimulatorHandle {
    Simulator::start(config).await.unwrap()
}

async fn bound(sim: &SimulatorHandle, kind: CommandId, system_id: &str) -> Client {
    Client::bound(sim.addr(), kind, system_id, "secret").await
}

/// The next request the simulator sends (answered with status 0), skipping nothing else.
async fn next_deliver_sm(client: &mut Client) -> Pdu {
    let pdu = client.recv().await.expect("connection closed");
    assert_eq!(pdu.command_id(), CommandId::DeliverSm, "{pdu:?}");
    client.answer(&pdu).await;
    pdu
}

/// The receipt's text form and TLVs, checked for agreement: (text, TLV id, TLV state).
fn receipt_of(pdu: &Pdu) -> (Receipt, String, MessageState) {
    let Body::DeliverSm(sm) = &pdu.body else {
        panic!("not a deliver_sm: {pdu:?}");
    };
    assert_eq!(sm.esm_class, esm_class::DELIVERY_RECEIPT);
    let text = receipt::parse_bytes(sm.short_message.as_bytes()).unwrap();
    let tlv_id = sm.tlvs.receipted_message_id().unwrap().to_owned();
    let state = sm.tlvs.message_state().unwrap();
    assert_eq!(text.id, tlv_id, "text id and receipted_message_id differ");
    (text, tlv_id, state)
}

#[tokio::test]
async fn transceiver_gets_hex_id_then_matching_receipt() {
    let sim = start(config()).await;
    let mut client = bound(&sim, CommandId::BindTransceiver, "acme").await;
    let resp = client
        .request(submit("4915112345678", "Your code is 4821"))
        .await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
    // The counter starts at 0x10000000: hex in the response.
    assert_eq!(message_id(&resp), "10000000");

    let pdu = next_deliver_sm(&mut client).await;
    let (text, tlv_id, state) = receipt_of(&pdu);
    assert_eq!(tlv_id, "10000000");
    assert_eq!(text.stat.as_deref(), Some("DELIVRD"));
    assert_eq!(text.err.as_deref(), Some("000"));
    assert_eq!((text.sub, text.dlvrd), (Some(1), Some(1)));
    assert_eq!(text.text.as_deref(), Some("Your code is 4821"));
    assert_eq!(state, MessageState::DELIVERED);
    let Body::DeliverSm(sm) = &pdu.body else {
        unreachable!()
    };
    // Addresses swapped from the submit.
    assert_eq!(sm.source.addr.to_string(), "4915112345678");
    assert_eq!(sm.destination.addr.to_string(), "Shop");

    common::eventually(Duration::from_secs(5), "receipt counted", || {
        sim.receipts_sent() == 1
    })
    .await;
    assert_eq!(sim.submits_received(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn receipt_ids_in_decimal_and_zero_padded() {
    for (format, expected) in [
        (ReceiptIdFormat::Decimal, "268435456"),
        (ReceiptIdFormat::DecimalPadded, "0268435456"),
    ] {
        let sim = start(SimulatorConfig {
            receipt_id_format: format,
            ..config()
        })
        .await;
        let mut client = bound(&sim, CommandId::BindTransceiver, "acme").await;
        let resp = client.request(submit("4915112345678", "hi")).await;
        assert_eq!(message_id(&resp), "10000000", "{format:?}");
        let (_, tlv_id, _) = receipt_of(&next_deliver_sm(&mut client).await);
        assert_eq!(tlv_id, expected, "{format:?}");
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn receipt_of_transmitter_submit_goes_to_receiver_bind_even_if_it_binds_later() {
    let sim = start(config()).await;
    let mut tx = bound(&sim, CommandId::BindTransmitter, "acme").await;
    let mut other = bound(&sim, CommandId::BindReceiver, "someone-else").await;
    let resp = tx.request(submit("4915112345678", "hi")).await;
    let id = message_id(&resp);
    // No receiver of "acme" yet: the receipt waits for one.
    let mut rx = bound(&sim, CommandId::BindReceiver, "acme").await;
    let (_, tlv_id, _) = receipt_of(&next_deliver_sm(&mut rx).await);
    assert_eq!(tlv_id, id);
    // Nothing for the transmitter nor for another system_id.
    other.expect_silence(Duration::from_millis(100)).await;
    tx.expect_silence(Duration::from_millis(1)).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn receipt_before_response_is_on_the_wire_first() {
    let sim = start(SimulatorConfig {
        receipt_before_response: true,
        ..config()
    })
    .await;
    let mut client = bound(&sim, CommandId::BindTransceiver, "acme").await;
    let seq = client.send(submit("4915112345678", "hi")).await;
    let first = next_deliver_sm(&mut client).await;
    let (_, tlv_id, _) = receipt_of(&first);
    let resp = client.recv().await.unwrap();
    assert_eq!(resp.command_id(), CommandId::SubmitSmResp);
    assert_eq!(resp.sequence_number, seq);
    assert_eq!(message_id(&resp), tlv_id);
    sim.shutdown().await;
}

#[tokio::test]
async fn submits_beyond_the_rate_are_throttled() {
    let sim = start(SimulatorConfig {
        throttle: NonZeroU32::new(1),
        ..config()
    })
    .await;
    let mut client = bound(&sim, CommandId::BindTransmitter, "acme").await;
    let mut no_receipt = submit("4915112345678", "hi");
    if let Body::SubmitSm(sm) = &mut no_receipt {
        sm.registered_delivery = 0;
    }
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(client.request(no_receipt.clone()).await.command_status);
    }
    // 1/s with a burst of 1: the second and third, sent at once, are over the rate.
    assert_eq!(
        statuses,
        [
            CommandStatus::ESME_ROK,
            CommandStatus::ESME_RTHROTTLED,
            CommandStatus::ESME_RTHROTTLED
        ]
    );
    assert_eq!(sim.submits_received(), 3);
    sim.shutdown().await;
}

/// `submit` without a receipt request.
fn submit_no_receipt(to: &str, text: &str) -> Body {
    let mut body = submit(to, text);
    if let Body::SubmitSm(sm) = &mut body {
        sm.registered_delivery = 0;
    }
    body
}

#[tokio::test]
async fn throttled_submits_get_no_receipt() {
    let sim = start(SimulatorConfig {
        throttle: NonZeroU32::new(1),
        ..config()
    })
    .await;
    let mut client = bound(&sim, CommandId::BindTransceiver, "acme").await;
    // Pipelined: the first is within the rate, the other two are not.
    for _ in 0..3 {
        client.send(submit("4915112345678", "hi")).await;
    }
    let (mut responses, mut receipts) = (Vec::new(), Vec::new());
    while responses.len() < 3 || receipts.is_empty() {
        let pdu = client.recv().await.expect("connection closed");
        match pdu.command_id() {
            CommandId::SubmitSmResp => responses.push(pdu),
            CommandId::DeliverSm => {
                client.answer(&pdu).await;
                receipts.push(receipt_of(&pdu).1);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let statuses: Vec<_> = responses.iter().map(|r| r.command_status).collect();
    assert_eq!(
        statuses,
        [
            CommandStatus::ESME_ROK,
            CommandStatus::ESME_RTHROTTLED,
            CommandStatus::ESME_RTHROTTLED
        ]
    );
    // One receipt, for the accepted one; none follows for the throttled two.
    assert_eq!(receipts, [message_id(&responses[0])]);
    client.expect_silence(Duration::from_millis(100)).await;
    assert_eq!(sim.submits_throttled(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn withheld_submits_get_neither_response_nor_receipt() {
    let sim = start(SimulatorConfig {
        withhold_percent: 50,
        ..config()
    })
    .await;
    let mut client = bound(&sim, CommandId::BindTransceiver, "acme").await;
    let mut seqs = Vec::new();
    for n in 0..4 {
        seqs.push(client.send(submit("4915112345678", &format!("m{n}"))).await);
    }
    // 50 %, spread evenly from a counter: the 2nd and the 4th are withheld.
    let (mut answered, mut receipts) = (Vec::new(), 0);
    while answered.len() < 2 || receipts < 2 {
        let pdu = client.recv().await.expect("connection closed");
        match pdu.command_id() {
            CommandId::SubmitSmResp => {
                assert_eq!(pdu.command_status, CommandStatus::ESME_ROK);
                answered.push(pdu.sequence_number);
            }
            CommandId::DeliverSm => {
                client.answer(&pdu).await;
                receipts += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(answered, [seqs[0], seqs[2]]);
    client.expect_silence(Duration::from_millis(100)).await;
    assert_eq!(sim.submits_withheld(), 2);
    assert_eq!(sim.submits_received(), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn drop_every_closes_with_the_window_unanswered() {
    let sim = start(SimulatorConfig {
        drop_every: NonZeroU64::new(5),
        ..config()
    })
    .await;
    let mut client = bound(&sim, CommandId::BindTransceiver, "acme").await;
    // Eight in a row: four answered, the fifth drops the session, and it and the three after
    // it (read within the window) get no answer.
    let mut seqs = Vec::new();
    for n in 0..8 {
        seqs.push(
            client
                .send(submit_no_receipt("4915112345678", &format!("m{n}")))
                .await,
        );
    }
    let mut answered = Vec::new();
    while let Some(pdu) = client.recv().await {
        // Neither an unbind nor anything for the fifth and later: the connection just ends.
        assert_eq!(pdu.command_id(), CommandId::SubmitSmResp, "{pdu:?}");
        answered.push(pdu.sequence_number);
    }
    assert_eq!(answered, seqs[..4]);
    assert_eq!(sim.connections_dropped(), 1);
    assert_eq!(sim.submits_received(), 8);

    // The count is per session: a new one starts again from 1.
    let mut client = bound(&sim, CommandId::BindTransceiver, "acme").await;
    for _ in 0..4 {
        let resp = client
            .request(submit_no_receipt("4915112345678", "again"))
            .await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
    }
    client
        .send(submit_no_receipt("4915112345678", "fifth"))
        .await;
    client.expect_closed().await;
    assert_eq!(sim.connections_dropped(), 2);
    sim.shutdown().await;
}

/// `n` raw octets from the simulator (within 10 s): what the codec would refuse to read.
async fn raw_octets(client: &mut Client, n: usize) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut bytes = vec![0; n];
    tokio::time::timeout(
        Duration::from_secs(10),
        client.stream.read_exact(&mut bytes),
    )
    .await
    .expect("no answer within 10 s")
    .unwrap();
    bytes
}

fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
}

#[tokio::test]
async fn garbage_every_answers_with_each_kind_in_turn() {
    let sim = start(SimulatorConfig {
        garbage_every: NonZeroU64::new(2),
        ..config()
    })
    .await;
    let mut client = bound(&sim, CommandId::BindTransmitter, "acme").await;
    // Every 2nd submit_sm gets garbage, the next kind each time; the connection stays open
    // (closing is the peer's business) and the submits in between are answered as usual.
    let sizes = [16, 25, 24, 16, 64];
    let mut garbage = Vec::new();
    for size in sizes {
        let resp = client
            .request(submit_no_receipt("4915112345678", "fine"))
            .await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        let seq = client.send(submit_no_receipt("4915112345678", "bad")).await;
        garbage.push((seq, raw_octets(&mut client, size).await));
    }
    let [unknown, wrong_seq, malformed, bad_length, random] = &garbage[..] else {
        unreachable!()
    };
    // An unknown command_id, with the submit's sequence number.
    assert_eq!(word(&unknown.1, 4), 0x0000_0111);
    assert_eq!(word(&unknown.1, 12), unknown.0);
    // A well-formed submit_sm_resp OK, to a sequence number never sent.
    let pdu = Pdu::decode(&bytes::Bytes::from(wrong_seq.1.clone())).unwrap();
    assert_eq!(pdu.command_id(), CommandId::SubmitSmResp);
    assert_ne!(pdu.sequence_number, wrong_seq.0);
    // The submit's submit_sm_resp, its message_id without the NUL: undecodable.
    assert_eq!(word(&malformed.1, 4), CommandId::SubmitSmResp.as_u32());
    assert_eq!(word(&malformed.1, 12), malformed.0);
    assert!(Pdu::decode(&bytes::Bytes::from(malformed.1.clone())).is_err());
    // command_length 8: below the header's own 16.
    assert_eq!(word(&bad_length.1, 0), 8);
    // Random, starting with a command_length beyond any limit.
    assert_eq!(random.1[0], 0xFF);
    assert_eq!(sim.garbage_sent(), 5);
    assert_eq!(sim.submits_received(), 10);
    sim.shutdown().await;
}

#[tokio::test]
async fn log_submits_records_each_submit_and_its_outcome() {
    let dir = common::temp_dir("sim-log");
    let log = dir.join("submits.log");
    let sim = start(SimulatorConfig {
        reject_percent: 50,
        log_submits: Some(log.clone()),
        ..config()
    })
    .await;
    let mut client = bound(&sim, CommandId::BindTransmitter, "acme").await;
    let sent = [
        submit_no_receipt("4915112345678", "first"),
        submit_no_receipt("4915112345679", "second"),
    ];
    let accepted = message_id(&client.request(sent[0].clone()).await);
    let rejected = client.request(sent[1].clone()).await;
    assert_eq!(rejected.command_status, CommandStatus::ESME_RSUBMITFAIL);

    // The bind's line, then a line per submit, then the close's.
    let mut lines = Vec::new();
    common::eventually(Duration::from_secs(5), "three lines in the log", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        lines = text.lines().map(str::to_owned).collect();
        lines.len() == 3
    })
    .await;
    let first = lines.remove(0);
    let bound: Vec<&str> = first.split(' ').collect();
    assert_eq!(bound.len(), 6, "{bound:?}");
    assert_eq!(bound[2], "bound=transmitter");
    assert_eq!(bound[3], "system_id=acme");
    assert!(bound[4].starts_with("peer=127.0.0.1:"), "{bound:?}");
    assert_eq!(bound[5], "binds=1");
    let session = bound[1];
    let outcomes = [
        format!("id={accepted}"),
        "status=ESME_RSUBMITFAIL".to_owned(),
    ];
    for ((line, body), outcome) in lines.iter().zip(&sent).zip(&outcomes) {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 4, "{line}");
        assert!(
            fields[0].parse::<i64>().unwrap() > 1_600_000_000_000,
            "{line}"
        );
        assert_eq!(fields[1], session, "the submit names its bind");
        assert_eq!(fields[2], outcome);
        let bytes: Vec<u8> = (0..fields[3].len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&fields[3][i..i + 2], 16).unwrap())
            .collect();
        let pdu = Pdu::decode(&bytes.into()).unwrap();
        assert_eq!(&pdu.body, body);
    }
    // The close of the bound session, with the binds left; the common reader tells the two
    // kinds of line apart.
    drop(client);
    common::eventually(Duration::from_secs(5), "the close in the log", || {
        common::read_session_log(&log).len() == 2
    })
    .await;
    let events = common::read_session_log(&log);
    assert_eq!(events[1].kind, common::SessionEventKind::Closed);
    assert_eq!(events[1].session.to_string(), session);
    assert_eq!(
        (events[1].system_id.as_str(), events[1].binds),
        ("acme", Some(0))
    );
    assert_eq!(common::read_submit_log(&log).len(), 2);
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn max_binds_refuses_a_bind_beyond_it_with_esme_ralybnd() {
    let dir = common::temp_dir("sim-max-binds");
    let log = dir.join("submits.log");
    let sim = start(SimulatorConfig {
        max_binds: NonZeroUsize::new(2),
        log_submits: Some(log.clone()),
        ..config()
    })
    .await;
    let first = bound(&sim, CommandId::BindTransceiver, "acme").await;
    let _second = bound(&sim, CommandId::BindTransmitter, "acme").await;
    // Another account has binds of its own.
    let _other = bound(&sim, CommandId::BindTransceiver, "other").await;

    // A third of acme: ESME_RALYBND, then the connection closes.
    let mut third = Client::connect(sim.addr()).await;
    let resp = third
        .bind(CommandId::BindTransceiver, "acme", "secret")
        .await;
    assert_eq!(resp.command_status, CommandStatus::ESME_RALYBND);
    third.expect_closed().await;
    assert_eq!(sim.binds_refused(), 1);

    // One unbinds: its slot is free again.
    drop(first);
    common::eventually(Duration::from_secs(5), "the slot freed", || {
        sim.binds() == 2
    })
    .await;
    let _again = bound(&sim, CommandId::BindReceiver, "acme").await;
    assert_eq!(sim.binds_peak(), 2);
    assert!(
        sim.stats().contains("binds_peak=2 binds_refused=1"),
        "{}",
        sim.stats()
    );

    // The log: three binds of acme, one refused, one close, in that order.
    common::eventually(Duration::from_secs(5), "six session lines", || {
        common::read_session_log(&log).len() == 6
    })
    .await;
    let events = common::read_session_log(&log);
    let summary: Vec<(String, &str, Option<usize>)> = events
        .iter()
        .map(|e| (format!("{:?}", e.kind), e.system_id.as_str(), e.binds))
        .collect();
    assert_eq!(
        summary,
        [
            ("Bound(\"transceiver\")".to_owned(), "acme", Some(1)),
            ("Bound(\"transmitter\")".to_owned(), "acme", Some(2)),
            ("Bound(\"transceiver\")".to_owned(), "other", Some(1)),
            ("Refused(\"ESME_RALYBND\")".to_owned(), "acme", None),
            ("Closed".to_owned(), "acme", Some(1)),
            ("Bound(\"receiver\")".to_owned(), "acme", Some(2)),
        ]
    );
    // Sessions are numbered once each.
    let mut sessions: Vec<u64> = events.iter().map(|e| e.session).collect();
    sessions.sort_unstable();
    sessions.dedup();
    assert_eq!(sessions.len(), 5);
    assert!(events
        .iter()
        .all(|e| e.kind == common::SessionEventKind::Closed
            || e.peer.is_some_and(|p| p.ip().is_loopback())));
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn reject_percent_100_fails_every_submit() {
    let sim = start(SimulatorConfig {
        reject_percent: 100,
        ..config()
    })
    .await;
    let mut client = bound(&sim, CommandId::BindTransceiver, "acme").await;
    for _ in 0..3 {
        let resp = client.request(submit("4915112345678", "hi")).await;
        assert_eq!(resp.command_status, CommandStatus::ESME_RSUBMITFAIL);
    }
    // A rejected submit has no receipt.
    client.expect_silence(Duration::from_millis(100)).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn delivered_percent_0_gives_undeliv_receipts() {
    let sim = start(SimulatorConfig {
        delivered_percent: 0,
        ..config()
    })
    .await;
    let mut client = bound(&sim, CommandId::BindTransceiver, "acme").await;
    client.request(submit("4915112345678", "hi")).await;
    let (text, _, state) = receipt_of(&next_deliver_sm(&mut client).await);
    assert_eq!(text.stat.as_deref(), Some("UNDELIV"));
    assert_eq!(text.err.as_deref(), Some("001"));
    assert_eq!(text.dlvrd, Some(0));
    assert_eq!(state, MessageState::UNDELIVERABLE);
    assert_eq!(state.0, 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_mo_arrives_as_plain_deliver_sm() {
    let sim = start(config()).await;
    assert!(sim.send_mo("acme", "4917", "12345", "hi").await.is_err());
    let mut client = bound(&sim, CommandId::BindReceiver, "acme").await;
    let (sent, pdu) = tokio::join!(
        sim.send_mo("acme", "4915112345678", "12345", "hello there"),
        next_deliver_sm(&mut client)
    );
    sent.unwrap();
    let Body::DeliverSm(sm) = &pdu.body else {
        unreachable!()
    };
    assert_eq!(sm.esm_class, 0);
    assert_eq!(sm.source.addr.to_string(), "4915112345678");
    assert_eq!(sm.destination.addr.to_string(), "12345");
    assert_eq!(sm.short_message.as_bytes(), b"hello there");
    assert_eq!(sim.mo_sent(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn periodic_mo_pings_receivers() {
    let sim = start(SimulatorConfig {
        mo_every: Some(Duration::from_millis(20)),
        ..config()
    })
    .await;
    let mut client = bound(&sim, CommandId::BindTransceiver, "acme").await;
    let Body::DeliverSm(sm) = next_deliver_sm(&mut client).await.body else {
        panic!("not a deliver_sm");
    };
    assert_eq!(sm.esm_class, 0);
    assert!(sm.short_message.as_bytes().starts_with(b"ping "), "{sm:?}");
    assert_eq!(sm.source.addr.to_string(), "15550000001");
    sim.shutdown().await;
}

#[tokio::test]
async fn bind_credentials_are_checked_when_configured() {
    let sim = start(SimulatorConfig {
        system_id: Some("acme".into()),
        password: Some("secret".into()),
        ..config()
    })
    .await;
    let mut wrong = Client::connect(sim.addr()).await;
    let resp = wrong
        .bind(CommandId::BindTransmitter, "acme", "guess")
        .await;
    assert_eq!(resp.command_status, CommandStatus::ESME_RINVPASWD);
    let mut other = Client::connect(sim.addr()).await;
    let resp = other
        .bind(CommandId::BindTransmitter, "evil", "secret")
        .await;
    assert_eq!(resp.command_status, CommandStatus::ESME_RINVSYSID);
    bound(&sim, CommandId::BindTransmitter, "acme").await;
    sim.shutdown().await;
}

/// The lines `smppd simulate` prints on stdout, read up to "ready" (within 10 s each), and
/// the address it printed it listens on.
fn printed_address(child: &mut Child) -> (Receiver<String>, SocketAddr) {
    let lines = lines_of(child.stdout.take().unwrap());
    let before = until_ready(&lines, "smppd-simulate", Duration::from_secs(10)).unwrap();
    let addr = printed_addr(&before, "smppd-simulate: listening on smpp://");
    (lines, addr.expect("no address printed"))
}

#[tokio::test]
async fn cli_starts_prints_its_address_and_exits_0_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smppd"))
        .args(["simulate", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (_stdout, addr) = printed_address(&mut child);
    let mut client = Client::bound(addr, CommandId::BindTransceiver, "acme", "x").await;

    assert!(signal(child.id(), "TERM"));
    // A graceful stop: the simulator unbinds, we answer, it closes and exits.
    let unbind = client.recv().await.expect("closed without unbind");
    assert_eq!(unbind.command_id(), CommandId::Unbind);
    client.answer(&unbind).await;
    client.expect_closed().await;
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn cli_stats_every_prints_the_counters_while_it_runs() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smppd"))
        .args([
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--stats-every",
            "20ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (rx, addr) = printed_address(&mut child);
    let mut client = Client::bound(addr, CommandId::BindTransmitter, "acme", "x").await;
    client
        .submit_ok(submit_no_receipt("447700900123", "hi"))
        .await;
    // Lines keep coming without a signal; one of them counts the submit.
    let counted = loop {
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let stats = line
            .strip_prefix("smppd-simulate: stats ")
            .expect("only stats lines after ready");
        if stats.contains("submits_received=1 ") {
            break stats.to_owned();
        }
    };
    assert!(counted.contains("submits_throttled=0 "), "{counted}");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn cli_max_binds_caps_binds_and_reports_the_peak() {
    let dir = common::temp_dir("sim-cli-max-binds");
    let mut sim = common::Simulator::start(&dir, "sim", &["--max-binds", "1"]);
    let first = Client::bound(sim.addr, CommandId::BindTransceiver, "acme", "x").await;
    let mut second = Client::connect(sim.addr).await;
    let resp = second.bind(CommandId::BindTransceiver, "acme", "x").await;
    assert_eq!(resp.command_status, CommandStatus::ESME_RALYBND);
    second.expect_closed().await;
    drop(first);
    let stats = tokio::task::spawn_blocking(move || {
        let line = sim.terminate();
        (line, sim.sessions())
    });
    let (line, sessions) = stats.await.unwrap();
    let stats = common::SimStats::parse(&line);
    assert_eq!((stats.binds_peak, stats.binds_refused), (1, 1), "{line}");
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
