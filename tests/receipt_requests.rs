//! What smppd asks a carrier for in `registered_delivery`, per `[[carriers]]`
//! `registered_delivery` and `intermediate_notifications`, seen by the real carrier simulator
//! (`smppd simulate`, its submit log), and what the client gets back: final receipts, the
//! intermediate notifications it asked for, and a final state for every message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    carrier, get_ok, routed_config, submit_sm, temp_dir, wait_link_up, Client, Gateway, Simulator,
};
use smpp_proto::pdu::{esm_class, SubmitSm};
use smpp_proto::{receipt, Body, CommandId, MessageState};
use std::net::SocketAddr;
use std::time::Duration;

struct Setup {
    gw: Gateway,
    sim: Simulator,
    admin: SocketAddr,
    client: Client,
}

/// A gateway whose one link to a simulator has `carrier_extra` keys, and a bound transceiver.
async fn setup(name: &str, carrier_extra: &str) -> Setup {
    let dir = temp_dir(name);
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "200ms"]);
    let carriers = [carrier("sim", sim.addr.port(), carrier_extra)];
    let gw = Gateway::start(&dir, &routed_config(&dir, &carriers, &["sim"], "", ""));
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;
    let client = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    Setup {
        gw,
        sim,
        admin,
        client,
    }
}

/// The kit's submit_sm to `to` asking for `registered_delivery`.
fn submit(to: &str, registered_delivery: u8) -> Body {
    Body::SubmitSm(SubmitSm {
        registered_delivery,
        ..submit_sm(to, "Your parcel is on its way")
    })
}

/// The registered_delivery the carrier saw on the submit to `to`, once it has it.
async fn carrier_saw(sim: &Simulator, to: &str) -> u8 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = sim
            .submits()
            .into_iter()
            .find(|s| s.submit_sm().destination.addr.to_string() == to);
        if let Some(seen) = seen {
            return seen.submit_sm().registered_delivery;
        }
        assert!(tokio::time::Instant::now() < deadline, "no submit to {to}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The message's state in the admin API once it is `state` (10 s at most).
async fn until_state(admin: SocketAddr, id: &str, state: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let message = get_ok(admin, &format!("/api/messages/{id}")).await;
        if message["state"] == state {
            return message;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never became {state}: {message}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The deliver_sm the client gets within `limit` (answered), in order; stops early at a final
/// receipt for `id`.
async fn reports_for(client: &mut Client, id: &str, limit: Duration) -> Vec<SubmitSm> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut reports = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(pdu) = client.recv_within(left).await else {
            return reports;
        };
        let pdu = pdu.expect("connection closed");
        client.answer(&pdu).await;
        let Body::DeliverSm(sm) = pdu.body else {
            continue;
        };
        assert_eq!(sm.tlvs.receipted_message_id(), Some(id), "{sm:?}");
        let last = esm_class::is_receipt(sm.esm_class);
        reports.push(sm);
        if last {
            return reports;
        }
    }
}

#[tokio::test]
async fn by_default_every_part_asks_for_a_receipt_and_intermediate_notifications_are_relayed() {
    let mut s = setup("receipts-default", "").await;

    // A client that asks for nothing: the carrier is asked all the same (0x01), and the
    // message reaches its final state, with no receipt to the client.
    let quiet = s.client.submit_ok(submit("447700900001", 0x00)).await;
    assert_eq!(carrier_saw(&s.sim, "447700900001").await, 0x01);
    until_state(s.admin, &quiet, "delivered").await;

    // A client that asks for intermediate notifications too: passed on (0x11), and the
    // carrier's ENROUTE notification reaches the client, before the final receipt, both with
    // the gateway's id.
    let asked = s.client.submit_ok(submit("447700900002", 0x11)).await;
    assert_eq!(carrier_saw(&s.sim, "447700900002").await, 0x11);
    let reports = reports_for(&mut s.client, &asked, Duration::from_secs(10)).await;
    assert_eq!(reports.len(), 2, "{reports:?}");
    let (notification, receipt) = (&reports[0], &reports[1]);
    assert!(esm_class::is_intermediate_notification(
        notification.esm_class
    ));
    assert_eq!(
        notification.tlvs.message_state(),
        Some(MessageState::ENROUTE)
    );
    let text = receipt::parse_bytes(notification.short_message.as_bytes()).unwrap();
    assert_eq!(text.id, asked);
    assert_eq!(text.stat.as_deref(), Some("ENROUTE"));
    assert!(esm_class::is_receipt(receipt.esm_class));
    assert_eq!(receipt.tlvs.message_state(), Some(MessageState::DELIVERED));
    let message = until_state(s.admin, &asked, "delivered").await;
    let history = message["history"].to_string();
    assert!(
        history.contains("intermediate notification from sim"),
        "{history}"
    );
    drop(s.gw);
}

#[tokio::test]
async fn a_link_can_ask_only_for_the_receipts_clients_asked_for_and_drop_intermediates() {
    let extra = "registered_delivery = \"requested\"\nintermediate_notifications = false";
    let mut s = setup("receipts-requested", extra).await;

    // Asked for nothing: the carrier is asked for nothing, and the message ends SENT (final,
    // ACCEPTED to query_sm) once the carrier took it.
    let quiet = s.client.submit_ok(submit("447700900011", 0x00)).await;
    assert_eq!(carrier_saw(&s.sim, "447700900011").await, 0x00);
    let message = until_state(s.admin, &quiet, "sent").await;
    assert!(message["carrier"].is_object(), "{message}");

    // Failures only: the carrier is asked for the final receipt (smppd needs the outcome);
    // the client gets none for a delivered message.
    let failures = s.client.submit_ok(submit("447700900012", 0x02)).await;
    assert_eq!(carrier_saw(&s.sim, "447700900012").await, 0x01);
    until_state(s.admin, &failures, "delivered").await;

    // Intermediate notifications asked for, not passed on: only the final receipt.
    let asked = s.client.submit_ok(submit("447700900013", 0x11)).await;
    assert_eq!(carrier_saw(&s.sim, "447700900013").await, 0x01);
    let reports = reports_for(&mut s.client, &asked, Duration::from_secs(10)).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(esm_class::is_receipt(reports[0].esm_class));
    until_state(s.admin, &asked, "delivered").await;
    drop(s.gw);
}
