//! The whole path: a client submits to smppd, smppd submits to the carrier simulator, the
//! carrier's receipt comes back, is matched, and reaches the client with the gateway's id.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    carrier_table, client, mo_route, preamble, route, sim_in_process, submit, temp_dir, Client,
    InProcess,
};
use smpp_proto::pdu::esm_class;
use smpp_proto::{Body, CommandId, CommandStatus, MessageState, Pdu};
use smppd::simulator::{ReceiptIdFormat, SimulatorConfig, SimulatorHandle};
use std::path::Path;
use std::time::Duration;

/// The carrier: the simulator in process, receipts after 20 ms, changed by `tweak`.
async fn simulator(tweak: impl FnOnce(&mut SimulatorConfig)) -> SimulatorHandle {
    sim_in_process(|config| {
        config.receipt_delay = Duration::from_millis(20);
        tweak(config);
    })
    .await
}

/// Carrier link "sim" to `port`, reconnecting and retrying within 1 s, with `extra` keys.
fn sim_carrier(port: u16, extra: &str) -> String {
    let keys = format!(
        "reconnect_min = \"50ms\"\nreconnect_max = \"1s\"\nretry_min = \"100ms\"\n\
         retry_max = \"1s\"\n{extra}"
    );
    carrier_table("sim", port, &keys)
}

/// The gateway: client "shop", `carriers`, route "default" over `route_carriers` with
/// `route_keys`, and an MO route to "shop".
fn routes_config(
    dir: &Path,
    carriers: &[String],
    route_carriers: &[&str],
    route_keys: &str,
) -> String {
    preamble(dir, "", "", "")
        + &client("shop", "secret1", "")
        + &carriers.concat()
        + &route("default", route_carriers, route_keys)
        + &mo_route("12345", "shop")
}

/// The gateway with one carrier, `sim`, whose link has `extra` keys.
fn gateway_config(dir: &Path, sim: &SimulatorHandle, extra: &str) -> String {
    routes_config(dir, &[sim_carrier(sim.addr().port(), extra)], &["sim"], "")
}

/// The next deliver_sm, answered OK.
async fn next_deliver_sm(client: &mut Client) -> smpp_proto::pdu::SubmitSm {
    loop {
        let pdu = client.recv().await.expect("connection closed");
        client.answer(&pdu).await;
        if let Body::DeliverSm(sm) = pdu.body {
            return sm;
        }
    }
}

async fn bound_client(gw: &InProcess) -> Client {
    Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await
}

async fn submit_and_get_receipt(tweak: impl FnOnce(&mut SimulatorConfig)) {
    let sim = simulator(tweak).await;
    let dir = temp_dir("flow");
    let gw = InProcess::start(&dir, &gateway_config(&dir, &sim, "")).await;
    let mut client = bound_client(&gw).await;
    let id = client
        .submit_ok(submit("447700900123", "Your order shipped"))
        .await;

    let receipt = next_deliver_sm(&mut client).await;
    assert!(esm_class::is_receipt(receipt.esm_class));
    assert_eq!(receipt.tlvs.receipted_message_id(), Some(id.as_str()));
    assert_eq!(receipt.tlvs.message_state(), Some(MessageState::DELIVERED));
    let text = String::from_utf8(receipt.short_message.as_bytes().to_vec()).unwrap();
    assert!(text.starts_with(&format!("id:{id} ")), "{text}");
    assert!(text.contains("stat:DELIVRD"), "{text}");
    // Addresses are those of the original message, swapped.
    assert_eq!(receipt.source.addr.to_string(), "447700900123");
    assert_eq!(receipt.destination.addr.to_string(), "Shop");
    assert_eq!(sim.submits_received(), 1);
}

#[tokio::test]
async fn receipt_comes_back_with_the_gateway_id() {
    submit_and_get_receipt(|_| {}).await;
}

#[tokio::test]
async fn decimal_receipt_ids_match_hex_response_ids() {
    submit_and_get_receipt(|c| c.receipt_id_format = ReceiptIdFormat::Decimal).await;
}

#[tokio::test]
async fn zero_padded_receipt_ids_match() {
    submit_and_get_receipt(|c| c.receipt_id_format = ReceiptIdFormat::DecimalPadded).await;
}

#[tokio::test]
async fn receipt_before_the_submit_sm_resp_is_matched() {
    submit_and_get_receipt(|c| {
        c.receipt_before_response = true;
        c.receipt_delay = Duration::ZERO;
    })
    .await;
}

#[tokio::test]
async fn permanent_carrier_refusal_ends_rejected_with_a_receipt() {
    let sim = simulator(|c| c.reject_percent = 100).await;
    let dir = temp_dir("flow-reject");
    // ESME_RSUBMITFAIL is transient by default; make every status permanent here.
    let extra = "transient_statuses = [\"ESME_RTHROTTLED\"]";
    let gw = InProcess::start(&dir, &gateway_config(&dir, &sim, extra)).await;
    let mut client = bound_client(&gw).await;
    let id = client.submit_ok(submit("447700900123", "nope")).await;
    let receipt = next_deliver_sm(&mut client).await;
    assert_eq!(receipt.tlvs.receipted_message_id(), Some(id.as_str()));
    assert_eq!(receipt.tlvs.message_state(), Some(MessageState::REJECTED));
}

#[tokio::test]
async fn transient_refusals_are_retried_then_end_undeliverable() {
    let sim = simulator(|c| c.reject_percent = 100).await;
    let dir = temp_dir("flow-retry");
    let gw = InProcess::start(&dir, &gateway_config(&dir, &sim, "max_attempts = 3")).await;
    let mut client = bound_client(&gw).await;
    let id = client.submit_ok(submit("447700900123", "retry me")).await;
    let receipt = next_deliver_sm(&mut client).await;
    assert_eq!(receipt.tlvs.receipted_message_id(), Some(id.as_str()));
    assert_eq!(
        receipt.tlvs.message_state(),
        Some(MessageState::UNDELIVERABLE)
    );
    assert_eq!(sim.submits_received(), 3);
}

#[tokio::test]
async fn mo_reaches_the_client_of_its_mo_route() {
    let sim = simulator(|_| {}).await;
    let dir = temp_dir("flow-mo");
    let gw = InProcess::start(&dir, &gateway_config(&dir, &sim, "")).await;
    let mut client = bound_client(&gw).await;
    // The gateway's carrier link binds as "smppd"; wait until it is up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim
        .send_mo("smppd", "447700900123", "12345", "STOP")
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "carrier link never bound"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mo = next_deliver_sm(&mut client).await;
    assert_eq!(mo.esm_class, 0);
    assert_eq!(mo.short_message.as_bytes(), b"STOP");
    assert_eq!(mo.destination.addr.to_string(), "12345");
}

#[tokio::test]
async fn submit_without_a_route_is_refused() {
    let sim = simulator(|_| {}).await;
    let dir = temp_dir("flow-noroute");
    let carriers = [sim_carrier(sim.addr().port(), "")];
    let text = routes_config(&dir, &carriers, &["sim"], "destination_prefixes = [\"33\"]");
    let gw = InProcess::start(&dir, &text).await;
    let mut client = bound_client(&gw).await;
    let resp = client.request(submit("447700900123", "where to?")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_RINVDSTADR);
}

#[tokio::test]
async fn pair_bind_carries_submits_and_receipts() {
    let sim = simulator(|_| {}).await;
    let dir = temp_dir("flow-pair");
    let gw = InProcess::start(&dir, &gateway_config(&dir, &sim, "bind = \"pair\"")).await;
    let mut client = bound_client(&gw).await;
    let id = client
        .submit_ok(submit("447700900123", "over a pair"))
        .await;
    let receipt = next_deliver_sm(&mut client).await;
    assert_eq!(receipt.tlvs.receipted_message_id(), Some(id.as_str()));
    assert_eq!(receipt.tlvs.message_state(), Some(MessageState::DELIVERED));
}

#[tokio::test]
async fn throttled_link_slows_down_and_delivers_everything() {
    // 20 messages/s per bind at the carrier; 40 submitted at once.
    let sim = simulator(|c| c.throttle = std::num::NonZeroU32::new(20)).await;
    let dir = temp_dir("flow-throttle");
    let gw = InProcess::start(&dir, &gateway_config(&dir, &sim, "")).await;
    let mut client = bound_client(&gw).await;
    for i in 0..40 {
        client.send(submit("447700900123", &format!("m{i}"))).await;
    }
    let (mut acked, mut receipts) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while acked.len() < 40 || receipts.len() < 40 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} acked, {} receipts",
            acked.len(),
            receipts.len()
        );
        let pdu = client.recv().await.expect("connection closed");
        client.answer(&pdu).await;
        match &pdu.body {
            Body::SubmitSmResp(_) => {
                assert_eq!(pdu.command_status, CommandStatus::ESME_ROK, "{pdu:?}");
                acked.insert(common::message_id(&pdu));
            }
            Body::DeliverSm(receipt) => {
                assert_eq!(receipt.tlvs.message_state(), Some(MessageState::DELIVERED));
                receipts.insert(receipt.tlvs.receipted_message_id().unwrap().to_owned());
            }
            _ => {}
        }
    }
    assert_eq!(acked, receipts);
    // Throttled submits were resent, so the carrier saw more submits than messages.
    assert!(sim.submits_received() > 40, "{}", sim.submits_received());
}

#[tokio::test]
async fn route_fails_over_to_the_next_carrier_when_the_first_is_down() {
    let sim = simulator(|_| {}).await;
    let dir = temp_dir("flow-failover");
    // Carrier "down" points at a port nobody listens on: a listener bound and closed.
    let closed_port = common::free_port();
    let carriers = [
        sim_carrier(sim.addr().port(), ""),
        carrier_table(
            "down",
            closed_port,
            "reconnect_min = \"50ms\"\nreconnect_max = \"200ms\"",
        ),
    ];
    let text = routes_config(&dir, &carriers, &["down", "sim"], "");
    let gw = InProcess::start(&dir, &text).await;
    let mut client = bound_client(&gw).await;
    let id = client
        .submit_ok(submit("447700900123", "via the backup"))
        .await;
    let receipt = next_deliver_sm(&mut client).await;
    assert_eq!(receipt.tlvs.receipted_message_id(), Some(id.as_str()));
    assert_eq!(sim.submits_received(), 1);
}

#[tokio::test]
async fn receipt_sent_as_data_sm_is_matched() {
    // A carrier played by the test: it binds the gateway, accepts the submit as "abc", and
    // reports delivery with a data_sm carrying only TLVs.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = temp_dir("flow-data-sm");
    let text = routes_config(&dir, &[sim_carrier(port, "")], &["sim"], "");
    let gw = InProcess::start(&dir, &text).await;
    let (stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut carrier = Client::over(stream);
    let bind = carrier.recv().await.unwrap();
    assert_eq!(bind.command_id(), CommandId::BindTransceiver);
    carrier
        .send_pdu(&Pdu::new(
            bind.sequence_number,
            Body::BindTransceiverResp(smpp_proto::pdu::BindResp::v34(
                "carrier".try_into().unwrap(),
            )),
        ))
        .await;

    let mut client = bound_client(&gw).await;
    let id = client
        .submit_ok(submit("447700900123", "via data_sm"))
        .await;
    let submitted = loop {
        let pdu = carrier.recv().await.unwrap();
        if pdu.command_id() == CommandId::SubmitSm {
            break pdu;
        }
        carrier.answer(&pdu).await;
    };
    carrier
        .send_pdu(&Pdu::new(
            submitted.sequence_number,
            Body::SubmitSmResp(smpp_proto::pdu::MessageIdResp {
                message_id: "abc".try_into().unwrap(),
                tlvs: smpp_proto::Tlvs::new(),
            }),
        ))
        .await;
    let mut tlvs = smpp_proto::Tlvs::new();
    tlvs.push(smpp_proto::Tlv::receipted_message_id("abc").unwrap());
    tlvs.push(smpp_proto::Tlv::message_state(MessageState::DELIVERED));
    let data_sm = smpp_proto::pdu::DataSm {
        source: smpp_proto::pdu::Address::new(1, 1, "447700900123".try_into().unwrap()),
        destination: smpp_proto::pdu::Address::new(0, 0, "Shop".try_into().unwrap()),
        esm_class: esm_class::DELIVERY_RECEIPT,
        tlvs,
        ..smpp_proto::pdu::DataSm::default()
    };
    // A receipt for an id the gateway does not know: the carrier is asked once to resend it
    // later (its dispatch may be about to be recorded), then it is taken and dropped.
    let mut unknown = data_sm.clone();
    let mut unknown_tlvs = smpp_proto::Tlvs::new();
    unknown_tlvs.push(smpp_proto::Tlv::receipted_message_id("zzz").unwrap());
    unknown_tlvs.push(smpp_proto::Tlv::message_state(MessageState::DELIVERED));
    unknown.tlvs = unknown_tlvs;
    let first = carrier.request(Body::DataSm(unknown.clone())).await;
    assert_eq!(first.command_status, CommandStatus::ESME_RX_T_APPN);
    let second = carrier.request(Body::DataSm(unknown)).await;
    assert_eq!(second.command_status, CommandStatus::ESME_ROK);

    let resp = carrier.request(Body::DataSm(data_sm)).await;
    assert_eq!(resp.command_id(), CommandId::DataSmResp);
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);

    let receipt = next_deliver_sm(&mut client).await;
    assert_eq!(receipt.tlvs.receipted_message_id(), Some(id.as_str()));
    assert_eq!(receipt.tlvs.message_state(), Some(MessageState::DELIVERED));
}
