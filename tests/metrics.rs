//! `/metrics` scraped while messages flow through the real `smppd serve` to a carrier simulator:
//! the counters, histograms and gauges move as the traffic says they must.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    api, carrier, post_ok, routed_config, submit, temp_dir, wait_link_up, Client, Gateway,
    Simulator,
};
use serde_json::json;
use smpp_proto::pdu::{Address, ShortMessage, SubmitSm};
use smpp_proto::{Body, CommandId, CommandStatus};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// One scrape: `name{k="v",…}` (labels sorted) → value.
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    async fn take(admin: SocketAddr) -> Self {
        let url = format!("http://{admin}/metrics");
        let text = tokio::task::spawn_blocking(move || {
            let mut response = ureq::get(&url).call().unwrap();
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
            response.body_mut().read_to_string().unwrap()
        })
        .await
        .unwrap();
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let key = match series.split_once('{') {
                Some((name, labels)) => {
                    let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                    labels.sort_unstable();
                    format!("{name}{{{}}}", labels.join(","))
                }
                None => series.to_owned(),
            };
            samples.insert(key, value.parse().unwrap());
        }
        Self(samples)
    }

    /// The sample's value; 0 if the series is not there (yet).
    fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// Whether some series of `name` has these labels among its own.
    fn has(&self, name: &str, labels: &[&str]) -> bool {
        self.0.keys().any(|key| {
            key.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('{'))
                .is_some_and(|rest| labels.iter().all(|l| rest.contains(l)))
        })
    }
}

/// The real gateway routing to a simulator, its link up, and a transceiver of `shop` bound.
async fn flowing(name: &str) -> (Simulator, Gateway, SocketAddr, Client) {
    let dir = temp_dir(name);
    let sim = Simulator::start(&dir, "sim", &[]);
    let carriers = [carrier("sim", sim.addr.port(), "")];
    let gw = Gateway::start(&dir, &routed_config(&dir, &carriers, &["sim"], "", ""));
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;
    let esme = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    (sim, gw, admin, esme)
}

#[tokio::test]
async fn counters_move_as_messages_flow() {
    let (_sim, _gw, admin, mut esme) = flowing("metrics").await;

    let before = Scrape::take(admin).await;
    assert_eq!(before.get("smppd_link_up{link=\"sim\"}"), 1.0);
    assert_eq!(before.get("smppd_link_sessions_up{link=\"sim\"}"), 1.0);
    assert_eq!(before.get("smppd_binds{client=\"shop\"}"), 1.0);
    assert_eq!(
        before.get("smppd_submits_total{client=\"shop\",status=\"ESME_ROK\"}"),
        0.0
    );

    const N: usize = 20;
    for i in 0..N {
        esme.submit_ok(submit("447700900001", &format!("counted {i}")))
            .await;
    }
    // One refused: no destination.
    let refused = esme
        .request(Body::SubmitSm(SubmitSm {
            source: Address::new(0, 0, "Shop".try_into().unwrap()),
            short_message: ShortMessage::new(b"nowhere".to_vec()).unwrap(),
            ..SubmitSm::default()
        }))
        .await;
    assert_ne!(refused.command_status, CommandStatus::ESME_ROK);
    for _ in 0..N {
        assert_eq!(esme.next_receipt().await.1, "DELIVRD");
    }

    // The receipts reached the client a moment before their counters may have moved.
    let receipts = "smppd_receipts_total{link=\"sim\",stat=\"DELIVRD\"}";
    let mut after = Scrape::take(admin).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while after.get(receipts) < N as f64 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = Scrape::take(admin).await;
    }
    let n = N as f64;
    assert_eq!(after.get(receipts), n);
    assert_eq!(
        after.get("smppd_submits_total{client=\"shop\",status=\"ESME_ROK\"}"),
        n
    );
    let refused_key = format!(
        "smppd_submits_total{{client=\"shop\",status=\"{}\"}}",
        refused.command_status
    );
    assert_eq!(after.get(&refused_key), 1.0);
    assert_eq!(
        after.get(
            "smppd_messages_ended_total{class=\"transactional\",route=\"default\",\
             state=\"delivered\"}"
        ),
        n
    );
    assert_eq!(
        after.get("smppd_messages_accepted_total{class=\"transactional\",client=\"shop\"}"),
        n
    );
    assert_eq!(after.get("smppd_submit_latency_seconds_count"), n + 1.0);
    assert!(after.get("smppd_submit_latency_seconds_sum") > 0.0);
    assert_eq!(
        after.get("smppd_delivery_latency_seconds_count{route=\"default\"}"),
        n
    );
    // Every submit → receipt took at least the simulator's 100 ms receipt delay.
    assert_eq!(
        after.get("smppd_delivery_latency_seconds_bucket{le=\"0.1\",route=\"default\"}"),
        0.0
    );
    assert!(after.get("smppd_store_commits_total") > before.get("smppd_store_commits_total"));
    assert!(after.get("smppd_store_flush_microseconds_total") > 0.0);
    // One flush latency per durable group commit, in buckets fine enough for a disk's fsync.
    let flushes = after.get("smppd_store_flush_seconds_count");
    assert!(flushes >= 1.0, "no flush latency recorded");
    assert!(after.get("smppd_store_flush_seconds_sum") > 0.0);
    assert_eq!(
        after.get("smppd_store_flush_seconds_bucket{le=\"+Inf\"}"),
        flushes
    );
    assert!(after.has("smppd_store_flush_seconds_bucket", &["le=\"0.001\""]));
    assert!(after.get("smppd_store_size_bytes") > 0.0);
    assert_eq!(after.get("smppd_queue_depth{route=\"default\"}"), 0.0);
    // Receipts leave the outbox once answered: the gauge is there, its value in passing.
    assert!(after.has("smppd_outbox_depth", &["client=\"shop\""]));
    assert_eq!(
        after.get("smppd_session_window_size{link=\"sim\",slot=\"0\"}"),
        10.0
    );
    assert!(after.has(
        "smppd_session_window_size",
        &["client=\"shop\"", "session="]
    ));
    assert!(after.has("smppd_session_window_used", &["link=\"sim\""]));

    // A paused route: the queue gauges show what waits, and how long.
    post_ok(admin, "/api/routes/default/pause", None).await;
    for i in 0..3 {
        esme.submit_ok(submit("447700900001", &format!("held {i}")))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let paused = Scrape::take(admin).await;
    assert_eq!(paused.get("smppd_queue_depth{route=\"default\"}"), 3.0);
    assert_eq!(paused.get("smppd_route_paused{route=\"default\"}"), 1.0);
    assert!(paused.get("smppd_queue_oldest_seconds{route=\"default\"}") >= 0.05);
    post_ok(admin, "/api/routes/default/resume", None).await;
    for _ in 0..3 {
        esme.next_receipt().await;
    }

    // A link capped at 1/s holds messages back, and says so.
    let body = Some(json!({"rate": 1}));
    post_ok(admin, "/api/links/sim/throughput", body).await;
    for i in 0..3 {
        esme.submit_ok(submit("447700900001", &format!("slow {i}")))
            .await;
    }
    for _ in 0..3 {
        esme.next_receipt().await;
    }
    let throttled = Scrape::take(admin).await;
    assert!(throttled.get("smppd_throttled_total{name=\"sim\",scope=\"link\"}") >= 1.0);
    assert_eq!(
        throttled.get(
            "smppd_messages_ended_total{class=\"transactional\",route=\"default\",\
             state=\"delivered\"}"
        ),
        n + 6.0
    );
}

#[tokio::test]
async fn metrics_need_the_token_unless_left_open() {
    const TOKEN: &str = "metrics-token-0123456789";
    let dir = temp_dir("metrics-token");
    let carriers = [carrier("sim", 1, "")];
    let admin_extra = format!("token = \"{TOKEN}\"");
    let gw = Gateway::start(
        &dir,
        &routed_config(&dir, &carriers, &["sim"], "", &admin_extra),
    );
    let admin = gw.admin.unwrap();
    let (status, json) = api(admin, "GET", "/metrics", None, None).await;
    assert_eq!(status, 401, "{json}");
    let (status, _) = api(admin, "GET", "/metrics", Some(TOKEN), None).await;
    assert_eq!(status, 200);
}

/// The recorder keeps every histogram sample until it folds them into buckets: the gateway
/// does that itself every few seconds, not only when Prometheus scrapes (an unscraped gateway
/// grew by 24 bytes a sample, two samples a message, for good).
#[tokio::test]
async fn histograms_are_folded_without_a_scrape() {
    let (_sim, gw, admin, mut esme) = flowing("metrics-upkeep").await;
    const N: usize = 5;
    for i in 0..N {
        esme.submit_ok(submit("447700900001", &format!("folded {i}")))
            .await;
    }
    for _ in 0..N {
        esme.next_receipt().await;
    }
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", gw.pid()))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect();
    assert!(
        threads.iter().any(|name| name == "smppd-metrics"),
        "{threads:?}"
    );
    // Past an upkeep: the folded samples are all still counted.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let scrape = Scrape::take(admin).await;
    assert_eq!(scrape.get("smppd_submit_latency_seconds_count"), N as f64);
    assert_eq!(
        scrape.get("smppd_delivery_latency_seconds_count{route=\"default\"}"),
        N as f64
    );
}
