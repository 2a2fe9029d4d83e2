//! Outbox delivery (receipts and MO as deliver_sm) to receiver and transceiver binds, with
//! the gateway started in this process so the test can push items into a client's outbox.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{client, config, eventually, temp_dir, Client, InProcess};
use smpp_proto::{Body, CommandId, CommandStatus, Pdu};
use smppd::message::{Address, OutboxItem, OutboxKind};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

async fn start(name: &str, session: &str, extra: &str) -> InProcess {
    let dir = temp_dir(name);
    let text = config(&dir, session, &client("shop", "secret1", extra));
    InProcess::start(&dir, &text).await
}

/// A mobile-originated message for `shop` whose text is `text`.
fn mo(text: &str) -> OutboxItem {
    OutboxItem {
        kind: OutboxKind::Mo,
        source: Address {
            ton: 1,
            npi: 1,
            addr: "447700900999".into(),
        },
        destination: Address {
            ton: 0,
            npi: 0,
            addr: "12345".into(),
        },
        esm_class: 0,
        data_coding: 0,
        short_message: text.as_bytes().to_vec(),
        tlvs: Vec::new(),
        created_at: smppd::message::now_ms(),
    }
}

async fn push(gw: &InProcess, texts: impl IntoIterator<Item = String>) {
    let config = gw.live.config();
    let shop = config.client("shop").unwrap();
    for text in texts {
        gw.outboxes.push(shop, mo(&text)).await.unwrap();
    }
}

fn texts(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

async fn bind(gw: &InProcess, kind: CommandId) -> Client {
    Client::bound(gw.addr, kind, "shop", "secret1").await
}

/// The next PDU, which must be a deliver_sm; with its text.
async fn next_deliver(c: &mut Client) -> (Pdu, String) {
    let pdu = c.recv().await.expect("connection closed");
    let Body::DeliverSm(sm) = &pdu.body else {
        panic!("expected deliver_sm, got {pdu:?}")
    };
    let text = String::from_utf8(sm.short_message.as_bytes().to_vec()).unwrap();
    (pdu, text)
}

async fn respond(c: &mut Client, pdu: &Pdu, status: CommandStatus) {
    c.send_pdu(&pdu.response_with_status(status).unwrap()).await;
}

/// Takes `n` reports of `(bind, text)` from the binds' reader tasks.
async fn receive(
    rx: &mut mpsc::Receiver<(&'static str, String)>,
    n: usize,
    into: &mut Vec<(&'static str, String)>,
) {
    for _ in 0..n {
        let report = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("each item within 10 s")
            .unwrap();
        into.push(report);
    }
}

/// Waits until the gateway has every item of `shop` acknowledged.
async fn outbox_drains(gw: &InProcess) {
    eventually(Duration::from_secs(10), "the outbox empties", || {
        gw.store.outbox_len("shop") == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_pushed_while_offline_are_delivered_in_order() {
    // A window of 4 makes the 10 items go out in several rounds.
    let gw = start("outbox-order", "", "window = 4").await;
    let expected = texts("mo-", 10);
    push(&gw, expected.clone()).await;
    assert_eq!(gw.store.outbox_len("shop"), 10);

    let mut c = bind(&gw, CommandId::BindReceiver).await;
    let mut received = Vec::new();
    while received.len() < expected.len() {
        let (pdu, text) = next_deliver(&mut c).await;
        let Body::DeliverSm(sm) = &pdu.body else {
            unreachable!()
        };
        assert_eq!(sm.source.addr.to_string(), "447700900999");
        assert_eq!(sm.destination.addr.to_string(), "12345");
        respond(&mut c, &pdu, CommandStatus::ESME_ROK).await;
        received.push(text);
    }
    assert_eq!(received, expected);
    outbox_drains(&gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_is_spread_over_two_receiver_binds() {
    let gw = start("outbox-spread", "", "window = 2").await;
    // Each bind answers everything in its own task and reports what it got.
    let (tx, mut rx) = mpsc::channel(64);
    let mut readers = Vec::new();
    for name in ["a", "b"] {
        let mut c = bind(&gw, CommandId::BindReceiver).await;
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            loop {
                let (pdu, text) = next_deliver(&mut c).await;
                respond(&mut c, &pdu, CommandStatus::ESME_ROK).await;
                tx.send((name, text)).await.unwrap();
            }
        }));
    }

    // Items that trickle in one at a time (each delivered before the next is pushed) as well
    // as a batch: both must be shared between the binds.
    let mut received = Vec::new();
    let one_by_one = texts("single-", 6);
    for text in &one_by_one {
        push(&gw, [text.clone()]).await;
        receive(&mut rx, 1, &mut received).await;
    }
    let batch = texts("batch-", 8);
    push(&gw, batch.clone()).await;
    receive(&mut rx, batch.len(), &mut received).await;
    for reader in readers {
        reader.abort();
    }

    let mut expected = [one_by_one, batch].concat();
    expected.sort();
    let mut all: Vec<String> = received.iter().map(|(_, text)| text.clone()).collect();
    all.sort();
    assert_eq!(all, expected, "each item once");
    let count = |bind, prefix| {
        received
            .iter()
            .filter(|(name, text)| *name == bind && text.starts_with(prefix))
            .count()
    };
    // One at a time: strictly in turn. A batch: each bind's window refills as it answers,
    // so a faster bind may take more, but both take part.
    assert_eq!(
        (count("a", "single-"), count("b", "single-")),
        (3, 3),
        "round robin over the binds: {received:?}"
    );
    assert!(
        count("a", "batch-") >= 2 && count("b", "batch-") >= 2,
        "the batch spread over both binds: {received:?}"
    );
    outbox_drains(&gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_deliver_sm_is_redelivered() {
    let gw = start("outbox-refused", "", "").await;
    let expected = texts("retry-", 3);
    push(&gw, expected.clone()).await;
    let mut c = bind(&gw, CommandId::BindTransceiver).await;

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut acknowledged = Vec::new();
    while acknowledged.len() < expected.len() {
        let (pdu, text) = next_deliver(&mut c).await;
        let times = seen.entry(text.clone()).or_default();
        *times += 1;
        // The middle item is refused once with a temporary application error.
        if text == "retry-1" && *times == 1 {
            respond(&mut c, &pdu, CommandStatus::ESME_RX_T_APPN).await;
        } else {
            respond(&mut c, &pdu, CommandStatus::ESME_ROK).await;
            acknowledged.push(text);
        }
    }
    assert_eq!(seen.get("retry-1"), Some(&2), "{seen:?}");
    acknowledged.sort();
    assert_eq!(
        acknowledged, expected,
        "nothing lost, nothing acknowledged twice"
    );
    outbox_drains(&gw).await;
    c.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_deliver_sm_is_redelivered_after_the_response_timeout() {
    let gw = start("outbox-timeout", "response_timeout = \"500ms\"", "").await;
    push(&gw, ["late".to_owned()]).await;
    let mut c = bind(&gw, CommandId::BindReceiver).await;

    let (first, text) = next_deliver(&mut c).await;
    assert_eq!(text, "late");
    let sent = Instant::now();
    // Not answered: the gateway gives up after response_timeout and sends it again.
    let (again, text) = next_deliver(&mut c).await;
    assert_eq!(text, "late");
    assert!(
        sent.elapsed() >= Duration::from_millis(500),
        "redelivered after {:?}",
        sent.elapsed()
    );
    assert_ne!(again.sequence_number, first.sequence_number);
    respond(&mut c, &again, CommandStatus::ESME_ROK).await;
    outbox_drains(&gw).await;
}

/// A bind that takes deliver_sm and never answers holds back only the window sent to it: the
/// client's other bind gets everything else at once, not one round per response_timeout. Once
/// the silent bind goes, what it held is delivered to the other; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_bind_does_not_hold_back_the_other() {
    const WINDOW: usize = 4;
    let gw = start(
        "outbox-silent",
        "response_timeout = \"20s\"",
        &format!("window = {WINDOW}"),
    )
    .await;
    let mut silent = bind(&gw, CommandId::BindReceiver).await;
    let (tx, mut rx) = mpsc::channel(64);
    let mut good = bind(&gw, CommandId::BindReceiver).await;
    let reader = tokio::spawn(async move {
        loop {
            let (pdu, text) = next_deliver(&mut good).await;
            respond(&mut good, &pdu, CommandStatus::ESME_ROK).await;
            tx.send(("good", text)).await.unwrap();
        }
    });

    let items = texts("item-", 40);
    push(&gw, items.clone()).await;
    // The silent bind fills its window, then gets nothing more.
    let mut held = Vec::new();
    for _ in 0..WINDOW {
        held.push(next_deliver(&mut silent).await.1);
    }
    // All the rest reach the good bind well before the silent one's 20 s timeout.
    let started = Instant::now();
    let mut received = Vec::new();
    receive(&mut rx, items.len() - WINDOW, &mut received).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the good bind waited {:?}",
        started.elapsed()
    );
    eventually(
        Duration::from_secs(10),
        "only the silent window left",
        || gw.store.outbox_len("shop") == WINDOW,
    )
    .await;

    // The silent bind goes: what it held is delivered to the good one.
    drop(silent);
    receive(&mut rx, WINDOW, &mut received).await;
    reader.abort();
    let mut all: Vec<String> = received.into_iter().map(|(_, text)| text).collect();
    all.sort();
    let mut expected = items;
    expected.sort();
    assert_eq!(
        all, expected,
        "each item once, all at the good bind in the end"
    );
    held.sort();
    assert!(held.iter().all(|h| expected.contains(h)));
    outbox_drains(&gw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_item_is_not_delivered_again() {
    let gw = start("outbox-acked", "", "").await;
    push(&gw, ["once".to_owned()]).await;
    let mut c = bind(&gw, CommandId::BindReceiver).await;
    let (pdu, text) = next_deliver(&mut c).await;
    assert_eq!(text, "once");
    respond(&mut c, &pdu, CommandStatus::ESME_ROK).await;
    let resp = c.request(Body::Unbind).await;
    assert_eq!(resp.body, Body::UnbindResp);
    c.expect_closed().await;

    let mut c = bind(&gw, CommandId::BindReceiver).await;
    c.expect_silence(Duration::from_secs(1)).await;
    assert_eq!(gw.store.outbox_len("shop"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transmitter_bind_gets_no_deliver_sm() {
    let gw = start("outbox-transmitter", "", "").await;
    push(&gw, ["for a receiver".to_owned()]).await;
    let mut tx = bind(&gw, CommandId::BindTransmitter).await;
    tx.expect_silence(Duration::from_secs(1)).await;

    // The item was waiting all along: a receiver gets it.
    let mut rx = bind(&gw, CommandId::BindReceiver).await;
    let (pdu, text) = next_deliver(&mut rx).await;
    assert_eq!(text, "for a receiver");
    respond(&mut rx, &pdu, CommandStatus::ESME_ROK).await;
    outbox_drains(&gw).await;
    tx.expect_silence(Duration::from_millis(100)).await;
}
