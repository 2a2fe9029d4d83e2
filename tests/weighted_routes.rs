//! A route with weights spreads messages over its carriers in those proportions, with the real
//! gateway and two `smppd simulate` carriers; when one carrier goes down its share fails over to
//! the other and nothing is lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{carrier, routed_config, submit, temp_dir, Client, Gateway, Simulator};
use smpp_proto::CommandId;
use std::time::Duration;
use tokio::time::Instant;

const MESSAGES: usize = 400;

async fn wait_for(sims: &[&Simulator], total: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sims.iter().map(|s| s.submits().len()).sum::<usize>() < total {
        assert!(
            Instant::now() < deadline,
            "not all messages reached a carrier"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn weights_split_traffic_and_a_down_carrier_fails_over() {
    let dir = temp_dir("weighted");
    let a = Simulator::start(&dir, "a", &[]);
    let b_addr = Simulator::reserve_port();
    let mut b = Simulator::start_on(&dir, "b", b_addr, &[]);
    let carriers = [
        carrier("a", a.addr.port(), ""),
        carrier("b", b_addr.port(), ""),
    ];
    let text = routed_config(&dir, &carriers, &["a", "b"], "weights = [3, 1]", "");
    let gateway = Gateway::start(&dir, &text);
    common::wait_link_up(gateway.admin.unwrap(), "a").await;
    common::wait_link_up(gateway.admin.unwrap(), "b").await;

    let mut esme = Client::bound(gateway.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    for n in 0..MESSAGES {
        esme.submit_ok(submit("447700900123", &format!("w{n}")))
            .await;
    }
    wait_for(&[&a, &b], MESSAGES).await;
    let share_a = a.submits().len() as f64 / MESSAGES as f64;
    assert!(
        (0.65..=0.85).contains(&share_a),
        "carrier a got {:.0}% of the traffic, weights say 75%",
        share_a * 100.0
    );

    // b goes down: every message goes to a, none waits for b.
    b.kill();
    let before_a = a.submits().len();
    for n in 0..100 {
        esme.submit_ok(submit("447700900123", &format!("f{n}")))
            .await;
    }
    wait_for(&[&a], before_a + 100).await;
}
