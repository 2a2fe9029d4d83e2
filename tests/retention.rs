//! Retention with the real binaries: `smppd serve` with `[store] retention = "1s"` and a
//! `smppd simulate` carrier. A delivered message is queryable until its retention passes, then
//! gone; a message still waiting for its carrier is kept however old.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    carrier_table, client, config, free_port, message_id, route, submit, temp_dir, with_store_keys,
    Client, Gateway, Simulator,
};
use smpp_proto::{Body, CommandId, CommandStatus, MessageState, Pdu};
use std::time::Duration;
use tokio::time::Instant;

/// query_sm of `id`: its state, or None when the gateway no longer knows it.
async fn query(c: &mut Client, id: &str) -> Option<MessageState> {
    let resp = c.request(common::query(id)).await;
    match (&resp.body, resp.command_status) {
        (Body::QuerySmResp(r), CommandStatus::ESME_ROK) => Some(r.message_state),
        (_, CommandStatus::ESME_RQUERYFAIL) => None,
        _ => panic!("query of {id}: {resp:?}"),
    }
}

/// Submits and returns the gateway id.
async fn submit_one(c: &mut Client, to: &str) -> String {
    let resp: Pdu = c.request(submit(to, "retention test")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
    message_id(&resp)
}

#[tokio::test]
async fn finished_messages_go_after_retention_and_pending_ones_stay() {
    let dir = temp_dir("retention");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "10ms"]);
    let accounts = config(&dir, "", &client("shop", "secret1", ""));
    let text = with_store_keys(&accounts, "retention = \"1s\"")
        + &carrier_table("sim", sim.addr.port(), "")
        + &carrier_table("down", free_port(), "")
        + &route("stuck", &["down"], "destination_prefixes = [\"999\"]")
        + &route("default", &["sim"], "");
    let gateway = Gateway::start(&dir, &text);
    let mut c = Client::bound(gateway.addr, CommandId::BindTransceiver, "shop", "secret1").await;

    let delivered = submit_one(&mut c, "447700900123").await;
    // Routed to a carrier that never comes up: stays queued, however long it waits.
    let pending = submit_one(&mut c, "999123").await;

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match query(&mut c, &delivered).await {
            Some(MessageState::DELIVERED) => break,
            Some(_) => {}
            None => panic!("{delivered} gone before its receipt"),
        }
        assert!(Instant::now() < deadline, "{delivered} never delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Retention is 1 s, checked every second: gone within a few seconds of its delivery.
    let deadline = Instant::now() + Duration::from_secs(8);
    while query(&mut c, &delivered).await.is_some() {
        assert!(
            Instant::now() < deadline,
            "{delivered} outlived its retention"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(query(&mut c, &pending).await, Some(MessageState::ENROUTE));
}
