//! The bounds that keep one route or one client from filling the gateway, through the real
//! `smppd serve` and a carrier simulator: a route's `max_queue` and a client's `max_outbox`,
//! each refusing with ESME_RMSGQFUL at the bound and taking traffic again once it drains.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    carrier, eventually, message_id, mo_route, post_ok, routed_config, sim_in_process, submit,
    temp_dir, wait_link_up, Client, Gateway,
};
use smpp_proto::{CommandId, CommandStatus};
use smppd::simulator::{Error as SimError, SimulatorHandle};
use std::net::SocketAddr;
use std::time::Duration;

/// A gateway routing everything to `sim`, with `route_extra` keys on the route and `rest`
/// (client keys, MO routes) appended.
fn gateway(name: &str, sim: &SimulatorHandle, route_extra: &str) -> Gateway {
    let dir = temp_dir(name);
    let carriers = [carrier("sim", sim.addr().port(), "")];
    Gateway::start(
        &dir,
        &routed_config(&dir, &carriers, &["sim"], route_extra, ""),
    )
}

/// The value of the `smppd_refused_full_total` sample for `bound` and `name`, 0 if absent.
async fn refused_full(admin: SocketAddr, bound: &str, name: &str) -> f64 {
    let sample = format!("smppd_refused_full_total{{bound=\"{bound}\",name=\"{name}\"}}");
    common::metric_sample(admin, &sample).await.unwrap_or(0.0)
}

/// A paused route fills up to `max_queue`; the next submit gets ESME_RMSGQFUL without an id,
/// what was accepted stays; resumed, the queue drains to the carrier and submits are taken
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_route_queue_refuses_with_rmsgqful_until_it_drains() {
    let sim = sim_in_process(|_| {}).await;
    let gw = gateway("route-queue", &sim, "max_queue = 5");
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;
    post_ok(admin, "/api/routes/default/pause", None).await;

    let mut c = Client::bound(gw.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    for i in 0..5 {
        c.submit_ok(submit("447700900123", &format!("queued {i}")))
            .await;
    }
    let resp = c.request(submit("447700900123", "one too many")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_RMSGQFUL);
    assert!(message_id(&resp).is_empty(), "a refused submit has no id");
    assert_eq!(refused_full(admin, "route_queue", "default").await, 1.0);
    assert_eq!(sim.submits_received(), 0, "the route was paused");

    post_ok(admin, "/api/routes/default/resume", None).await;
    eventually(Duration::from_secs(20), "the queue drains", || {
        sim.submits_received() == 5
    })
    .await;
    // Depth is counted when a carrier takes a message: room again once it is gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let resp = c.request(submit("447700900123", "room again")).await;
        if resp.command_status == CommandStatus::ESME_ROK {
            break;
        }
        assert_eq!(resp.command_status, CommandStatus::ESME_RMSGQFUL);
        assert!(tokio::time::Instant::now() < deadline, "no room came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eventually(Duration::from_secs(20), "the last one is delivered", || {
        sim.submits_received() == 6
    })
    .await;
}

/// A client whose receipts pile up unread (it binds as a transmitter only) is refused new
/// submits with ESME_RMSGQFUL once `max_outbox` are waiting, and MO for it is refused to the
/// carrier with a transient status; once a receiver bind reads them, both flow again and no
/// receipt was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_refuses_submits_and_mo_until_read() {
    let sim = sim_in_process(|_| {}).await;
    let dir = temp_dir("outbox-full");
    let carriers = [carrier("sim", sim.addr().port(), "")];
    let text = (routed_config(&dir, &carriers, &["sim"], "", "") + &mo_route("88000", "shop"))
        .replace("window = 100\n", "window = 100\nmax_outbox = 3\n");
    let gw = Gateway::start(&dir, &text);
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;

    let mut tx = Client::bound(gw.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    // Each accepted submit's receipt lands in the outbox, which nobody reads: the submit
    // after the third receipt is refused.
    let mut accepted = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let resp = tx.request(submit("447700900123", "receipt please")).await;
        if resp.command_status == CommandStatus::ESME_RMSGQFUL {
            break;
        }
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        accepted.push(message_id(&resp));
        assert!(
            tokio::time::Instant::now() < deadline,
            "never refused; {} accepted",
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(accepted.len() >= 3, "refused after {}", accepted.len());
    assert!(refused_full(admin, "client_outbox", "shop").await >= 1.0);

    // MO for the client is refused to the carrier (transient: it will resend).
    match sim.send_mo("smppd", "447700900999", "88000", "hello").await {
        Err(SimError::Refused(status)) => assert_eq!(status, CommandStatus::ESME_RX_T_APPN),
        other => panic!("MO with a full outbox: {other:?}"),
    }

    // A receiver reads every receipt owed, none lost; then submits and MO are taken again.
    let mut rx = Client::bound(gw.addr, CommandId::BindReceiver, "shop", "secret1").await;
    let mut receipted = Vec::new();
    while receipted.len() < accepted.len() {
        let (id, stat) = rx.next_receipt().await;
        assert_eq!(stat, "DELIVRD");
        receipted.push(id);
    }
    receipted.sort();
    accepted.sort();
    assert_eq!(receipted, accepted);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let resp = tx.request(submit("447700900123", "read now")).await;
        if resp.command_status == CommandStatus::ESME_ROK {
            break;
        }
        assert_eq!(resp.command_status, CommandStatus::ESME_RMSGQFUL);
        assert!(tokio::time::Instant::now() < deadline, "still refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sim.send_mo("smppd", "447700900999", "88000", "hello again")
        .await
        .unwrap();
}
