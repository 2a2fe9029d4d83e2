//! Every way the gateway ends a message itself (a carrier's permanent refusal: REJECTED; the
//! validity period passed: EXPIRED; cancel_sm: DELETED) writes the final state and the receipt
//! its client asked for in one commit. Proved with the real binary killed (SIGKILL) while
//! hundreds of such ends are under way: after the restart every message has its final state
//! and exactly one receipt saying so, none missing, none twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{carrier, client, get_ok, submit_sm, temp_dir, Client, Gateway, Simulator};
use smpp_proto::pdu::{Address, CancelSm, SubmitSm};
use smpp_proto::{receipt, Body, CommandId, CommandStatus};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Messages of each kind.
const EACH: usize = 200;

fn config(dir: &std::path::Path, rejecting: u16, down: u16) -> String {
    // Every error status permanent: the simulator's refusals end messages REJECTED.
    let rejecting = carrier(
        "rejecting",
        rejecting,
        "transient_statuses = []\nwindow = 50",
    );
    let down = carrier("down", down, "");
    let routes = "[[routes]]\nname = \"refused\"\ndestination_prefixes = [\"44\"]\n\
                  carriers = [\"rejecting\"]\n\n[[routes]]\nname = \"waiting\"\n\
                  destination_prefixes = [\"33\"]\ncarriers = [\"down\"]\n";
    let clients = client("shop", "secret1", "window = 100");
    common::config(dir, "", &format!("{clients}{rejecting}{down}{routes}"))
}

/// The kit's submit_sm to `to` with `validity` (`validity_period`).
fn submit(to: &str, validity: &str) -> Body {
    Body::SubmitSm(SubmitSm {
        validity_period: validity.try_into().unwrap(),
        ..submit_sm(to, "Your cart is waiting")
    })
}

async fn transmitter(addr: SocketAddr) -> Client {
    Client::bound(addr, CommandId::BindTransmitter, "shop", "secret1").await
}

/// Submits `count` messages to numbers starting with `prefix`, windowed; their ids.
async fn submit_all(client: &mut Client, prefix: &str, validity: &str, count: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    for i in 0..count {
        seqs.push(
            client
                .send(submit(&format!("{prefix}{i:06}"), validity))
                .await,
        );
    }
    let mut ids = HashMap::new();
    while ids.len() < seqs.len() {
        let resp = client.recv().await.expect("connection closed");
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        let Body::SubmitSmResp(r) = &resp.body else {
            panic!("{resp:?}")
        };
        ids.insert(
            resp.sequence_number,
            r.message_id.to_string().parse().unwrap(),
        );
    }
    seqs.iter().map(|seq| ids[seq]).collect()
}

/// cancel_sm for each id, one at a time, until the connection breaks; the ids whose cancel
/// was answered.
async fn cancel_each(client: &mut Client, ids: &[u64]) -> usize {
    let mut answered = 0;
    for id in ids {
        let cancel = Body::CancelSm(CancelSm {
            message_id: id.to_string().as_str().try_into().unwrap(),
            source: Address::new(5, 0, "Shop".try_into().unwrap()),
            ..CancelSm::default()
        });
        client.send(cancel).await;
        match client.recv().await {
            Some(_) => answered += 1,
            None => break,
        }
    }
    answered
}

/// The message's state in the admin API.
async fn state(admin: SocketAddr, id: u64) -> String {
    let message = get_ok(admin, &format!("/api/messages/{id}")).await;
    message["state"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_end_keeps_its_receipt_through_kill_9() {
    let dir = temp_dir("endings");
    let _rejecting = Simulator::start(&dir, "rejecting", &["--reject-percent", "100"]);
    // A carrier that never answers: its route's messages wait, to expire or be cancelled.
    let down = Simulator::reserve_port();
    let mut gw = Gateway::start_logging(
        &dir,
        &config(&dir, _rejecting.addr.port(), down.port()),
        "smppd=info",
    );
    let mut client = transmitter(gw.addr).await;

    // Validity 2 s: they wait for a carrier that never comes, then expire together.
    let expiring = submit_all(&mut client, "33", "000000000002000R", EACH).await;
    let expire_at = Instant::now() + Duration::from_secs(2);
    let to_cancel = submit_all(&mut client, "33", "000001000000000R", EACH).await;
    let refused = submit_all(&mut client, "44", "", EACH).await;

    // Cancel from a second bind while the expiries and refusals are under way, and kill the
    // gateway once the expiries have begun: hundreds of ends in progress.
    tokio::time::sleep_until(expire_at).await;
    let cancelling = {
        let mut canceller = transmitter(gw.addr).await;
        let ids = to_cancel.clone();
        tokio::spawn(async move { cancel_each(&mut canceller, &ids).await })
    };
    let admin = gw.admin.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let queues = get_ok(admin, "/api/queues").await;
        let waiting = queues["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["route"] == "waiting")
            .map_or(0, |q| q["depth"].as_u64().unwrap());
        // Some expired (or cancelled), others not yet.
        if waiting < 2 * EACH as u64 - 20 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing ended: {queues}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    gw.kill();
    let cancelled_before = cancelling.await.unwrap();
    eprintln!("killed with {cancelled_before} of {EACH} cancels answered");

    gw.restart();
    let admin = gw.admin.unwrap();
    // Cancels that got no answer go again (one already done is refused, which is fine).
    let mut canceller = transmitter(gw.addr).await;
    cancel_each(&mut canceller, &to_cancel).await;

    let expected: Vec<(u64, &str, &str)> = expiring
        .iter()
        .map(|&id| (id, "expired", "EXPIRED"))
        .chain(to_cancel.iter().map(|&id| (id, "deleted", "DELETED")))
        .chain(refused.iter().map(|&id| (id, "rejected", "REJECTD")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    for &(id, final_state, _) in &expected {
        loop {
            let now = state(admin, id).await;
            if now == final_state {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{id} is {now}, not {final_state}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Only now a receiver: every receipt is delivered after the restart, once.
    let mut receiver = Client::bound(gw.addr, CommandId::BindReceiver, "shop", "secret1").await;
    let mut receipts: HashMap<u64, Vec<String>> = HashMap::new();
    while let Some(pdu) = receiver.recv_within(Duration::from_secs(2)).await {
        let pdu = pdu.expect("connection closed");
        receiver.answer(&pdu).await;
        let Body::DeliverSm(sm) = &pdu.body else {
            continue;
        };
        let text = receipt::parse_bytes(sm.short_message.as_bytes()).unwrap();
        let id = text.id.parse().unwrap();
        receipts
            .entry(id)
            .or_default()
            .push(text.stat.unwrap_or_default());
    }
    let mut wrong = Vec::new();
    for &(id, _, stat) in &expected {
        let got = receipts.remove(&id).unwrap_or_default();
        if got != [stat] {
            wrong.push(format!("{id}: {got:?} instead of [{stat}]"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} messages without exactly their receipt: {:?}",
        wrong.len(),
        expected.len(),
        &wrong[..wrong.len().min(10)]
    );
    assert!(receipts.is_empty(), "receipts for others: {receipts:?}");
}
