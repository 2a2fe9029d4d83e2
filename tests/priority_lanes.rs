//! Priority lanes through the real gateway and the real carrier simulator (its submit log says
//! when each message reached the carrier): transactional messages overtake a marketing backlog
//! of 50,000 on a route capped at 500/s and keep their normal latency; a transactional flood
//! still leaves marketing its minimum share; marketing caps per route and per campaign count
//! segments.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{
    carrier, client, preamble, route, submit_sm, temp_dir, wait_link_up, Esme, Gateway,
    LoggedSubmit, Simulator,
};
use smpp_proto::{Body, CommandId, Tag, Tlv, TlvValue};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn tlv(tag: u16, value: &[u8]) -> Tlv {
    Tlv::new(Tag(tag), TlvValue::Octets(Bytes::copy_from_slice(value))).unwrap()
}

/// A submit whose text names it; marketing (the class TLV) in `campaign` if given.
fn submit(text: &str, marketing: bool, campaign: Option<&str>) -> Body {
    let mut sm = submit_sm("33612345678", text);
    sm.registered_delivery = 0;
    if marketing {
        sm.tlvs.push(tlv(0x1500, &[1]));
    }
    if let Some(campaign) = campaign {
        sm.tlvs
            .push(tlv(0x1501, format!("{campaign}\0").as_bytes()));
    }
    Body::SubmitSm(sm)
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn text(s: &LoggedSubmit) -> String {
    String::from_utf8_lossy(s.submit_sm().short_message.as_bytes()).into_owned()
}

/// Submits `n` messages named `prefix0`, `prefix1`… at `rate` per second; when each was sent.
async fn paced(esme: &mut Esme, prefix: &str, n: usize, rate: u64) -> HashMap<String, i64> {
    let mut sent = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    for i in 0..n {
        tick.tick().await;
        let name = format!("{prefix}{i}");
        sent.insert(name.clone(), now_ms());
        esme.send(submit(&name, false, None)).await;
    }
    sent
}

/// Milliseconds from each message's submit to the carrier, sorted.
fn latencies(sim: &Simulator, sent: &HashMap<String, i64>) -> Vec<i64> {
    let mut at_carrier: HashMap<String, i64> = HashMap::new();
    for s in sim.submits() {
        at_carrier.entry(text(&s)).or_insert(s.at_ms);
    }
    let mut latencies: Vec<i64> = sent
        .iter()
        .map(|(name, at)| {
            at_carrier
                .get(name)
                .expect("every message reached the carrier")
                - at
        })
        .collect();
    latencies.sort_unstable();
    latencies
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Waits until the carrier logged every message named in `names`.
async fn until_all_reached(sim: &Simulator, names: &HashMap<String, i64>) {
    common::eventually(
        Duration::from_secs(30),
        "every message at the carrier",
        || {
            let seen: std::collections::HashSet<String> = sim.submits().iter().map(text).collect();
            names.keys().all(|n| seen.contains(n))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_overtakes_a_marketing_backlog_which_keeps_its_share() {
    const BACKLOG: usize = 50_000;
    let dir = temp_dir("priority-lanes");
    let sim = Simulator::start(&dir, "sim", &[]);
    let config = preamble(&dir, "", "", "")
        + &client("shop", "secret1", "window = 256")
        + &carrier("sim", sim.addr.port(), "")
        + &route("default", &["sim"], "throughput = 500");
    let gw = Gateway::start(&dir, &config);
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let mut esme = Esme::bind(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;

    // The normal latency: transactional alone on the capped route.
    let alone = paced(&mut esme, "alone", 100, 50).await;
    until_all_reached(&sim, &alone).await;
    let normal = latencies(&sim, &alone);

    // 50,000 marketing messages wait: at 500/s, a hundred seconds of them.
    let bodies = (0..BACKLOG).map(|i| submit(&format!("M{i}"), true, None));
    let ids = esme.submit_all(bodies).await;
    assert_eq!(ids.len(), BACKLOG);

    // Transactional messages interleaved while the backlog drains.
    let interleaved = paced(&mut esme, "T", 200, 50).await;
    until_all_reached(&sim, &interleaved).await;
    let with_backlog = latencies(&sim, &interleaved);

    // A transactional flood at twice the route's cap: marketing keeps its minimum share.
    let flood = paced(&mut esme, "F", 2_000, 1_000).await;
    until_all_reached(&sim, &flood).await;
    let log = sim.submits();
    let flood_at: Vec<i64> = log
        .iter()
        .filter(|s| text(s).starts_with('F'))
        .map(|s| s.at_ms)
        .collect();
    let (from, to) = (
        flood_at[flood_at.len() / 10],
        flood_at[flood_at.len() * 9 / 10],
    );
    let window = log.iter().filter(|s| (from..=to).contains(&s.at_ms));
    let (mut marketing, mut total) = (0, 0);
    for s in window {
        total += 1;
        marketing += usize::from(text(s).starts_with('M'));
    }
    let share = marketing as f64 / total as f64;
    let marketing_sent = log.iter().filter(|s| text(s).starts_with('M')).count();

    eprintln!(
        "transactional latency ms, alone: p50 {} p99 {} max {}; behind {BACKLOG} marketing: \
         p50 {} p99 {} max {}; marketing share during a transactional flood: {:.1} % of {total} \
         sends; marketing sent in all: {marketing_sent}",
        percentile(&normal, 0.5),
        percentile(&normal, 0.99),
        normal.last().unwrap(),
        percentile(&with_backlog, 0.5),
        percentile(&with_backlog, 0.99),
        with_backlog.last().unwrap(),
        share * 100.0,
    );
    assert!(
        percentile(&with_backlog, 0.99) <= percentile(&normal, 0.99) + 100,
        "transactional waits behind the backlog: {with_backlog:?} against {normal:?}"
    );
    assert!(
        (0.08..=0.2).contains(&share),
        "marketing got {:.1} % while both lanes waited, configured 10 %",
        share * 100.0
    );
    assert!(
        marketing_sent < BACKLOG,
        "the backlog did not outrun the cap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketing_caps_count_segments_per_route_and_per_campaign() {
    let dir = temp_dir("marketing-caps");
    let sim = Simulator::start(&dir, "sim", &[]);
    let config = preamble(&dir, "", "", "")
        + &client("shop", "secret1", "window = 256\ncampaign_throughput = 20")
        + &carrier("sim", sim.addr.port(), "")
        + &route("default", &["sim"], "marketing_throughput = 100");
    let gw = Gateway::start(&dir, &config);
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let mut esme = Esme::bind(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;

    // Three campaigns of 20/s under a route cap of 100/s, one long message (a 2-segment
    // message_payload) each tenth: none held back by another, none over its cap.
    let mut bodies = Vec::new();
    for i in 0..300 {
        let campaign = ["spring", "summer", "autumn"][i % 3];
        let mut body = submit(&format!("{campaign}{i}"), true, Some(campaign));
        if i % 10 == 0 {
            let Body::SubmitSm(sm) = &mut body else {
                unreachable!()
            };
            sm.short_message = Default::default();
            let long = format!("{campaign}{i} {}", "x".repeat(200));
            sm.tlvs
                .push(Tlv::message_payload(Bytes::from(long.into_bytes())).unwrap());
        }
        bodies.push(body);
    }
    // And one without a campaign, and transactional messages, which no cap holds.
    bodies.extend((0..100).map(|i| submit(&format!("free{i}"), true, None)));
    bodies.extend((0..300).map(|i| submit(&format!("order{i}"), false, None)));
    let started = now_ms();
    esme.submit_all(bodies).await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    let log = sim.submits();
    let name = |s: &LoggedSubmit| -> String {
        let sm = s.submit_sm();
        let text = match sm.tlvs.message_payload() {
            Some(payload) => String::from_utf8_lossy(payload).into_owned(),
            None => String::from_utf8_lossy(sm.short_message.as_bytes()).into_owned(),
        };
        text.chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect()
    };
    let segments = |s: &LoggedSubmit| {
        if s.submit_sm().tlvs.message_payload().is_some() {
            2
        } else {
            1
        }
    };
    let mut per: HashMap<String, (u32, i64)> = HashMap::new();
    for s in &log {
        let entry = per.entry(name(s)).or_default();
        entry.0 += segments(s);
        entry.1 = entry.1.max(s.at_ms);
    }
    let seconds = (now_ms() - started) as f64 / 1000.0;
    eprintln!("segments at the carrier in {seconds:.1} s: {per:?}");
    let count = |n: &str| per.get(n).map_or(0, |(segments, _)| *segments);
    assert_eq!(count("order"), 300, "transactional is not capped");
    for campaign in ["spring", "summer", "autumn"] {
        // 20/s, plus the cap's first second's worth at once.
        let most = 20.0 * seconds + 20.0;
        let got = f64::from(count(campaign));
        assert!(
            got <= most && got >= most * 0.5,
            "{campaign}: {got} segments in {seconds:.1} s at 20/s"
        );
    }
    let marketing: u32 = ["spring", "summer", "autumn", "free"]
        .iter()
        .map(|n| count(n))
        .sum();
    let most = 100.0 * seconds + 100.0;
    assert!(
        f64::from(marketing) <= most,
        "{marketing} marketing segments in {seconds:.1} s over a cap of 100/s"
    );
    // Behind the capped campaigns in the lane, it gets what they leave of the route's cap.
    assert!(
        count("free") >= 20,
        "marketing without a campaign goes under the route's cap alone"
    );
}
