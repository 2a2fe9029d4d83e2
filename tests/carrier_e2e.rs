//! End to end with real processes: an ESME (this test, over TCP) submits to `smppd serve`, which
//! submits to one or two `smppd simulate` carriers; the carriers' receipts come back through
//! the gateway to the ESME, matched to the gateway's ids. The carriers' side is seen through
//! their submit logs (`--log-submits`): what they received, when, and what they answered.
//! Carriers are killed, restarted, throttle and drop connections; no message may be lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    carrier, eventually, mo_route, routed_config, submit, submit_sm, temp_dir, Esme, Gateway,
    LoggedSubmit, Simulator,
};
use smpp_proto::pdu::{esm_class, SubmitSm};
use smpp_proto::{receipt, Body, CommandId, MessageState};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// The gateway's config: client "shop", `carriers` (tables from [`carrier`]), one route over
/// `route_carriers` with `route_extra` keys, and an MO route.
fn gateway_config(
    dir: &Path,
    carriers: &[String],
    route_carriers: &[&str],
    route_extra: &str,
) -> String {
    routed_config(dir, carriers, route_carriers, route_extra, "") + &mo_route("12345", "shop")
}

/// A delivery receipt as the ESME got it.
#[derive(Clone, Debug)]
struct SeenReceipt {
    /// receipted_message_id.
    tlv_id: String,
    /// `id:` of the text.
    text_id: String,
    /// `stat:` of the text.
    stat: String,
    state: MessageState,
}

/// The ESME: a transceiver bind of "shop" (the kit's pipelined ESME).
async fn bind(addr: SocketAddr) -> Esme {
    Esme::bind(addr, CommandId::BindTransceiver, "shop", "secret1").await
}

/// The receipts the ESME got so far, in order; every deliver_sm must be one.
fn seen_receipts(esme: &Esme) -> Vec<SeenReceipt> {
    esme.delivers()
        .iter()
        .map(|pdu| {
            let Body::DeliverSm(sm) = &pdu.body else {
                unreachable!("the ESME keeps deliver_sm only");
            };
            assert!(esm_class::is_receipt(sm.esm_class), "MO: {sm:?}");
            let text = receipt::parse_bytes(sm.short_message.as_bytes()).unwrap();
            SeenReceipt {
                tlv_id: sm.tlvs.receipted_message_id().unwrap().to_owned(),
                text_id: text.id.clone(),
                stat: text.stat.clone().unwrap_or_default(),
                state: sm.tlvs.message_state().unwrap(),
            }
        })
        .collect()
}

/// Waits until every id in `ids` has a receipt; returns them by id (the first of each).
/// On failure, says what is missing and shows the end of the gateway's logs.
async fn receipts_for(
    esme: &Esme,
    ids: &[String],
    limit: Duration,
    gw: &Gateway,
) -> HashMap<String, SeenReceipt> {
    let deadline = Instant::now() + limit;
    loop {
        let mut by_id = HashMap::new();
        for r in seen_receipts(esme) {
            by_id.entry(r.tlv_id.clone()).or_insert(r);
        }
        let missing: Vec<&String> = ids.iter().filter(|id| !by_id.contains_key(*id)).collect();
        if missing.is_empty() {
            return by_id;
        }
        if Instant::now() >= deadline {
            let logs = gw.logs();
            // Above debug, and the ends of sessions: debug has a line per submit.
            let lines: Vec<&str> = logs
                .lines()
                .filter(|l| !l.contains(" DEBUG ") || l.contains("session ended"))
                .collect();
            let tail = lines[lines.len().saturating_sub(80)..].join("\n");
            let about: Vec<&str> = missing
                .iter()
                .take(3)
                .flat_map(|id| {
                    let (mid, end) = (format!("id={id} "), format!("id={id}"));
                    logs.lines()
                        .filter(move |l| l.contains(&mid) || l.ends_with(&end))
                        .take(20)
                })
                .collect();
            panic!(
                "{} of {} receipts missing after {limit:?}, e.g. {:?}; gateway logs:\n{tail}\n\
                 about the first missing:\n{}",
                missing.len(),
                ids.len(),
                &missing[..missing.len().min(5)],
                about.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A submit_sm from "Shop" to `to` asking for a receipt, with `esm_class` and `data_coding`.
fn message(to: &str, esm_class: u8, data_coding: u8, bytes: Vec<u8>) -> Body {
    Body::SubmitSm(SubmitSm {
        esm_class,
        data_coding,
        ..submit_sm(to, bytes)
    })
}

/// The texts the carrier logged, with the outcome of each time it got them.
fn outcomes_by_text(submits: &[LoggedSubmit]) -> BTreeMap<String, Vec<String>> {
    let mut by_text: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in submits {
        let text = String::from_utf8_lossy(s.submit_sm().short_message.as_bytes()).into_owned();
        by_text.entry(text).or_default().push(s.outcome.clone());
    }
    by_text
}

/// Texts the carrier accepted (gave an id) more than once, with how many times: the
/// handset would get them twice (allowed, at-least-once; counted).
fn accepted_twice(submits: &[LoggedSubmit]) -> Vec<(String, usize)> {
    outcomes_by_text(submits)
        .into_iter()
        .map(|(text, outcomes)| {
            let accepted = outcomes.iter().filter(|o| o.starts_with("id=")).count();
            (text, accepted)
        })
        .filter(|(_, accepted)| *accepted > 1)
        .collect()
}

/// Submits (that the carrier accepted) per second between the `from`-th and the `to`-th
/// accepted one, by the carrier's clock: the rate the gateway really sends at, past its burst.
fn accepted_rate(submits: &[LoggedSubmit], from: usize, to: usize) -> f64 {
    let accepted: Vec<&LoggedSubmit> = submits.iter().filter(|s| s.id().is_some()).collect();
    let (first, last) = (accepted[from].at_ms, accepted[to].at_ms);
    let secs = (last - first) as f64 / 1000.0;
    (to - from) as f64 / secs
}

#[tokio::test]
async fn gsm_ucs2_and_concatenated_messages_get_their_receipts() {
    let dir = temp_dir("e2e-coding");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "20ms"]);
    let config = gateway_config(&dir, &[carrier("sim", sim.addr.port(), "")], &["sim"], "");
    let gw = Gateway::start(&dir, &config);
    let mut esme = bind(gw.addr).await;

    let gsm = b"Hello from smppd: plain GSM 7-bit text".to_vec();
    let ucs2: Vec<u8> = "Grüße aus Köln 👋"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    // Three parts of one long message: UDH (IEI 0 = 8-bit reference, length 3) then text.
    let parts: Vec<Vec<u8>> = (1..=3u8)
        .map(|i| {
            let mut bytes = vec![0x05, 0x00, 0x03, 0x2A, 0x03, i];
            let body = format!("part {i} of 3 ").repeat(11);
            bytes.extend_from_slice(body.as_bytes());
            bytes
        })
        .collect();
    let mut sent = vec![(0x00, 0x00, gsm.clone()), (0x00, 0x08, ucs2.clone())];
    sent.extend(parts.iter().map(|p| (esm_class::UDHI, 0x00, p.clone())));
    let bodies: Vec<Body> = sent
        .iter()
        .map(|(esm, dcs, bytes)| message("447700900123", *esm, *dcs, bytes.clone()))
        .collect();
    let ids = esme.submit_all(bodies).await;
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "every part has its own id: {ids:?}");

    let receipts = receipts_for(&esme, &ids, Duration::from_secs(10), &gw).await;
    for id in &ids {
        let r = &receipts[id];
        assert_eq!(&r.text_id, id, "{r:?}");
        assert_eq!(r.stat, "DELIVRD", "{r:?}");
        assert_eq!(r.state, MessageState::DELIVERED);
    }
    // One receipt each, no more.
    assert_eq!(seen_receipts(&esme).len(), 5, "{:?}", seen_receipts(&esme));

    // What reached the carrier: the same octets, data_coding and esm_class, one submit each.
    let mut logged = Vec::new();
    eventually(
        Duration::from_secs(5),
        "5 submits in the carrier's log",
        || {
            logged = sim.submits();
            logged.len() >= 5
        },
    )
    .await;
    assert_eq!(logged.len(), 5);
    for (s, (esm, dcs, bytes)) in logged.iter().zip(&sent) {
        let sm = s.submit_sm();
        assert!(s.id().is_some(), "{s:?}");
        assert_eq!(sm.esm_class, *esm);
        assert_eq!(sm.data_coding, *dcs);
        assert_eq!(sm.short_message.as_bytes(), &bytes[..]);
        assert_eq!(sm.destination.addr.to_string(), "447700900123");
        assert_eq!(sm.registered_delivery, 1);
    }
}

#[tokio::test]
async fn traffic_fails_over_to_b_and_comes_back_to_a() {
    let dir = temp_dir("e2e-failover");
    let reserved = Simulator::reserve_port();
    let mut a = Simulator::start_on(&dir, "a", reserved, &["--receipt-delay", "10ms"]);
    let b = Simulator::start(&dir, "b", &["--receipt-delay", "10ms"]);
    let carriers = [
        carrier("a", a.addr.port(), ""),
        carrier("b", b.addr.port(), ""),
    ];
    let gw = Gateway::start(&dir, &gateway_config(&dir, &carriers, &["a", "b"], ""));
    let mut esme = bind(gw.addr).await;
    let batch = |phase: &str, n: usize| -> Vec<Body> {
        (0..n)
            .map(|i| submit("447700900123", &format!("{phase} {i}")))
            .collect()
    };
    let accepted = |sim: &Simulator| sim.submits().iter().filter(|s| s.id().is_some()).count();

    // Both up: everything goes to A, the first in failover order.
    let ids = esme.submit_all(batch("before", 5)).await;
    receipts_for(&esme, &ids, Duration::from_secs(10), &gw).await;
    assert_eq!((accepted(&a), accepted(&b)), (5, 0));

    // A dies (its pending receipts with it; there are none left): B takes over.
    a.kill();
    let ids = esme.submit_all(batch("during", 5)).await;
    receipts_for(&esme, &ids, Duration::from_secs(10), &gw).await;
    assert_eq!(accepted(&a), 5, "A was down");
    assert_eq!(accepted(&b), 5, "B took over");

    // A comes back on the same port; once its link is up, traffic returns to it.
    a.restart();
    assert_eq!(a.addr, reserved);
    let mut probes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while accepted(&a) == 5 {
        assert!(
            Instant::now() < deadline,
            "no traffic back to A within 10 s"
        );
        probes.extend(esme.submit_all(batch("probe", 1)).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b_before = accepted(&b);
    let ids = esme.submit_all(batch("after", 5)).await;
    let mut all = ids.clone();
    all.extend(probes.iter().cloned());
    receipts_for(&esme, &all, Duration::from_secs(10), &gw).await;
    // The last batch went to A only, in order of failover.
    let a_after = a.submits();
    let after_on_a = a_after
        .iter()
        .filter(|s| s.id().is_some())
        .filter(|s| {
            s.submit_sm()
                .short_message
                .as_bytes()
                .starts_with(b"after ")
        })
        .count();
    assert_eq!(after_on_a, 5, "A got the last batch");
    assert_eq!(accepted(&b), b_before, "B got nothing more");
    eprintln!(
        "failover: {} probe(s) before A was back; A accepted {}, B accepted {}",
        probes.len(),
        accepted(&a),
        accepted(&b)
    );
}

#[tokio::test]
async fn route_throughput_caps_the_rate_toward_the_carrier() {
    throughput_cap("route", "", "throughput = 50").await;
}

#[tokio::test]
async fn link_throughput_caps_the_rate_toward_the_carrier() {
    throughput_cap("link", "throughput = 50", "").await;
}

/// 400 messages at once through a cap of 50/s: the carrier must see them at 50/s ± 10 %,
/// measured between its 100th and its 300th accepted submit (past the limiter's burst).
async fn throughput_cap(which: &str, carrier_extra: &str, route_extra: &str) {
    let dir = temp_dir(&format!("e2e-cap-{which}"));
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "10ms"]);
    let carriers = [carrier("sim", sim.addr.port(), carrier_extra)];
    let gw = Gateway::start(
        &dir,
        &gateway_config(&dir, &carriers, &["sim"], route_extra),
    );
    let mut esme = bind(gw.addr).await;
    let bodies: Vec<Body> = (0..400)
        .map(|i| submit("447700900123", &format!("cap {i}")))
        .collect();
    let started = Instant::now();
    let ids = esme.submit_all(bodies).await;
    assert_eq!(ids.len(), 400);
    let accepted_in_time = started.elapsed();
    let mut submits = Vec::new();
    // 300 at 50/s after a burst of up to 50: about 5 s.
    eventually(
        Duration::from_secs(12),
        "300 submits at the carrier",
        || {
            submits = sim.submits();
            submits.iter().filter(|s| s.id().is_some()).count() > 300
        },
    )
    .await;
    let rate = accepted_rate(&submits, 100, 300);
    let burst_rate = accepted_rate(&submits, 0, 50);
    eprintln!(
        "{which} cap 50/s: carrier saw {rate:.1}/s (submits 100..300), first 50 at \
         {burst_rate:.0}/s; the ESME's 400 accepted in {accepted_in_time:?}"
    );
    assert!(
        (45.0..=55.0).contains(&rate),
        "{which} cap 50/s, carrier saw {rate:.1}/s"
    );
}

#[tokio::test]
async fn dropped_connections_with_a_full_window_lose_nothing() {
    let dir = temp_dir("e2e-drop");
    let sim = Simulator::start(
        &dir,
        "sim",
        &["--receipt-delay", "10ms", "--drop-every", "50"],
    );
    // A message may be caught in several drops: enough attempts that none runs out.
    let extra = "window = 10\nmax_attempts = 10";
    let carriers = [carrier("sim", sim.addr.port(), extra)];
    let gw = Gateway::start(&dir, &gateway_config(&dir, &carriers, &["sim"], ""));
    let mut esme = bind(gw.addr).await;
    let bodies: Vec<Body> = (0..300)
        .map(|i| submit("447700900123", &format!("drop {i:03}")))
        .collect();
    let ids = esme.submit_all(bodies).await;
    let receipts = receipts_for(&esme, &ids, Duration::from_secs(30), &gw).await;

    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ids {
        *states.entry(receipts[id].stat.clone()).or_default() += 1;
    }
    let all_receipts = seen_receipts(&esme);
    let submits = sim.submits();
    let by_text = outcomes_by_text(&submits);
    let dropped = submits.iter().filter(|s| s.outcome == "dropped").count();
    let held = submits.iter().filter(|s| s.outcome == "held").count();
    let duplicates = accepted_twice(&submits);
    let resent = by_text.values().filter(|o| o.len() > 1).count();
    eprintln!(
        "drop-every 50: {} submits at the carrier for 300 messages; {dropped} connections \
         dropped, {held} more submits held unanswered with them; {resent} messages sent more \
         than once; {} accepted twice or more (duplicates): {:?}; receipts to the ESME: {} \
         ({states:?})",
        submits.len(),
        duplicates.len(),
        duplicates,
        all_receipts.len(),
    );
    assert!(
        dropped >= 5,
        "the carrier dropped the link only {dropped} times"
    );
    // None lost: every message has a final receipt (checked above) and reached the carrier.
    for n in 0..300 {
        let text = format!("drop {n:03}");
        let outcomes = by_text.get(&text).map(Vec::as_slice).unwrap_or_default();
        assert!(
            outcomes.iter().any(|o| o.starts_with("id=")),
            "{text}: never accepted by the carrier: {outcomes:?}"
        );
    }
    assert_eq!(states.get("DELIVRD"), Some(&300), "{states:?}");
}

#[tokio::test]
async fn throttling_carrier_still_gets_every_message_delivered() {
    let dir = temp_dir("e2e-throttle");
    let mut sim = Simulator::start(
        &dir,
        "sim",
        &["--receipt-delay", "10ms", "--throttle", "100"],
    );
    let carriers = [carrier("sim", sim.addr.port(), "max_attempts = 20")];
    let gw = Gateway::start(&dir, &gateway_config(&dir, &carriers, &["sim"], ""));
    let mut esme = bind(gw.addr).await;
    let bodies: Vec<Body> = (0..500)
        .map(|i| submit("447700900123", &format!("throttle {i:03}")))
        .collect();
    let started = Instant::now();
    let ids = esme.submit_all(bodies).await;
    let receipts = receipts_for(&esme, &ids, Duration::from_secs(30), &gw).await;
    let took = started.elapsed();
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ids {
        *states.entry(receipts[id].stat.clone()).or_default() += 1;
    }
    let submits = sim.submits();
    let throttled = submits
        .iter()
        .filter(|s| s.outcome == "status=ESME_RTHROTTLED")
        .count();
    let duplicates = accepted_twice(&submits);
    let stats = sim.terminate();
    eprintln!(
        "throttle 100/s: 500 messages, {} submits at the carrier, {throttled} answered \
         ESME_RTHROTTLED; {} accepted twice or more (duplicates): {duplicates:?}; all receipts \
         in {took:?} ({states:?}); simulator: {stats}",
        submits.len(),
        duplicates.len(),
    );
    assert!(throttled > 0, "the carrier never throttled");
    assert_eq!(states.get("DELIVRD"), Some(&500), "{states:?}");
}
