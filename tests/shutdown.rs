//! SIGTERM with traffic in flight, with the real binaries: the gateway stops taking work,
//! unbinds its client, waits for the carrier to answer the submits it has in flight, and exits
//! 0; after a restart the messages it had not sent yet go out, and none is sent twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{get_ok, routed_config, submit, temp_dir, Client, Gateway, Simulator};
use smpp_proto::{Body, CommandId, CommandStatus, Pdu};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

const MESSAGES: usize = 40;

#[tokio::test]
async fn sigterm_drains_in_flight_submits_and_loses_nothing() {
    let dir = temp_dir("shutdown");
    // Slow answers: at SIGTERM a window of submits is waiting for the carrier.
    let sim = Simulator::start(&dir, "sim", &["--response-delay", "400ms"]);
    let carrier = common::carrier("sim", sim.addr.port(), "window = 8\n");
    let text = routed_config(&dir, &[carrier], &["sim"], "", "");
    let mut gateway = Gateway::start(&dir, &text);
    common::wait_link_up(gateway.admin.unwrap(), "sim").await;

    let mut esme = Client::bound(gateway.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let mut accepted = Vec::new();
    for n in 0..MESSAGES {
        accepted.push(
            esme.submit_ok(submit("447700900123", &format!("m{n}")))
                .await,
        );
    }
    // Wait until the carrier holds a window of them, unanswered.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.submits().is_empty() {
        assert!(Instant::now() < deadline, "nothing reached the carrier");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let pid = gateway.pid().to_string();
    let started = Instant::now();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    // The client is told to unbind, and answers.
    let unbind: Pdu = loop {
        let pdu = esme.recv().await.expect("closed without unbind");
        if pdu.command_id() == CommandId::Unbind {
            break pdu;
        }
        esme.answer(&pdu).await;
    };
    esme.send_pdu(&Pdu::new(unbind.sequence_number, Body::UnbindResp))
        .await;
    let status = gateway.terminate();
    assert!(status.success(), "{status:?}\n{}", gateway.logs());
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        gateway.logs().contains("stopped cleanly"),
        "{}",
        gateway.logs()
    );

    // Everything the carrier got before the stop was answered (none dropped by the stop).
    let before = sim.submits();
    assert!(!before.is_empty());
    for s in &before {
        assert!(s.id().is_some(), "unanswered at shutdown: {s:?}");
    }

    // After the restart the rest goes out; each message exactly once.
    gateway.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut texts: HashMap<Vec<u8>, usize> = HashMap::new();
        for s in sim.submits() {
            *texts
                .entry(s.submit_sm().short_message.as_bytes().to_vec())
                .or_default() += 1;
        }
        if texts.len() == MESSAGES {
            let twice: Vec<_> = texts.iter().filter(|(_, &n)| n > 1).collect();
            assert!(twice.is_empty(), "sent twice: {twice:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {MESSAGES} reached the carrier; logs:\n{}",
            texts.len(),
            gateway.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut again = Client::connect(gateway.addr).await;
    let resp = again
        .bind(CommandId::BindTransmitter, "shop", "secret1")
        .await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
    // Every id the client was given, before the stop or after, reaches its final state.
    let admin = gateway.admin.unwrap();
    for id in &accepted {
        loop {
            let message = get_ok(admin, &format!("/api/messages/{id}")).await;
            if message["state"] == "delivered" {
                break;
            }
            assert!(Instant::now() < deadline, "{id}: {message}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
