//! Campaign statistics through the real gateway and the real carrier simulator: a campaign
//! sent over HTTP and SMPP (some messages delivered, some undelivered or refused by the
//! simulator, some suppressed by an opt-out, some held by a sending window, one expired before
//! its window opens) is counted as its messages' states say, with the delivery rate and the
//! cost, in the HTTP API (`GET /api/v1/campaigns/{id}`), the admin API, `smppctl campaign` and
//! `smppctl stats`; and after a SIGKILL in the middle of a run, the counters still match the
//! states of the messages (they change in one commit).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{
    api, api_key_hash, carrier, client, get_ok, get_ok_blocking, http, metric_sample, preamble,
    route, submit_sm, temp_dir, wait_link_up, Esme, Gateway, Simulator,
};
use jiff::ToSpan;
use serde_json::{json, Value};
use smpp_proto::{Body, CommandId, Tag, Tlv, TlvValue};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SHOP: (&str, &str) = ("shop", "shop-key-0123456789");
const OTHER: (&str, &str) = ("other", "other-key-0123456789");
/// Micro-euros per SMS, by destination prefix (the config's `[[prices]]`).
const PRICES: [(&str, u64); 2] = [("33", 45_000), ("44", 30_000)];
const OPTED_OUT: &str = "+33612345699";

fn price_of(destination: &str) -> u64 {
    let digits = destination.trim_start_matches('+');
    PRICES
        .iter()
        .find(|(prefix, _)| digits.starts_with(prefix))
        .map_or(0, |(_, micros)| *micros)
}

/// Shop (MKT is marketing, API key) and other, a route to the simulator that refuses for
/// good what it refuses (no transient statuses), prices, consent on, and `extra`.
fn config(dir: &Path, sim: &Simulator, extra: &str) -> String {
    let rules =
        "default_class = \"transactional\"\nclass_by_service_type = { MKT = \"marketing\" }";
    let keys = |key: &str| format!("{rules}\napi_keys = [{:?}]", api_key_hash(key));
    preamble(dir, "", "", "")
        + "[http_api]\nlisten = [\"127.0.0.1:0\"]\n\n"
        + &client(SHOP.0, "secret1", &keys(SHOP.1))
        + &client(OTHER.0, "secret1", &keys(OTHER.1))
        + &carrier("sim", sim.addr.port(), "transient_statuses = []")
        + &route("default", &["sim"], "")
        + "\n[[prices]]\nprefix = \"33\"\nper_segment = \"0.045\"\ncurrency = \"EUR\"\n"
        + "\n[[prices]]\nprefix = \"44\"\nper_segment = \"0.03\"\ncurrency = \"EUR\"\n"
        + "\n[consent]\nenabled = true\n\n[numbering]\ndefault_country = \"FR\"\n"
        + extra
}

/// A window for marketing to the UK closed today and the next two days (London time): what
/// it holds waits three days.
fn uk_window() -> String {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let today = jiff::Timestamp::now()
        .in_tz("Europe/London")
        .unwrap()
        .date();
    let closed: Vec<usize> = (0..3)
        .map(|i| {
            let day = today.checked_add(i.days()).unwrap();
            usize::try_from(day.weekday().to_monday_zero_offset()).unwrap()
        })
        .collect();
    let open: Vec<String> = (0..7)
        .filter(|d| !closed.contains(d))
        .map(|d| format!("\"{}\"", DAYS[d]))
        .collect();
    format!(
        "\n[[sending_windows]]\nname = \"uk-hours\"\ndays = [{}]\nfrom = \"09:00\"\n\
         until = \"18:00\"\nholidays = \"none\"\n\n[[window_policies]]\nclass = \"marketing\"\n\
         destinations = [\"+44\"]\nwindow = \"uk-hours\"\n",
        open.join(", ")
    )
}

/// A submit_sm to `to`, marketing of `campaign` when it has one (service_type MKT and the
/// `smppd_campaign` TLV), transactional without.
fn submit(to: &str, campaign: Option<&str>) -> Body {
    let mut sm = submit_sm(to, "Les soldes commencent demain");
    if let Some(campaign) = campaign {
        sm.service_type = "MKT".try_into().unwrap();
        let value = TlvValue::Octets(Bytes::copy_from_slice(campaign.as_bytes()));
        sm.tlvs.push(Tlv::new(Tag(0x1501), value).unwrap());
    }
    Body::SubmitSm(sm)
}

/// An HTTP send as shop: the ids of its parts.
async fn send(addr: SocketAddr, body: Value) -> Vec<String> {
    let sent = http(addr, "POST", "/api/v1/messages", SHOP, None, Some(body))
        .await
        .unwrap();
    assert_eq!(sent.status, 202, "{}", sent.json);
    sent.json["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect()
}

/// What the counters should say of `messages` (admin API views), by the rules of
/// `store/stats.rs`, from their states alone.
#[derive(Debug, Default, PartialEq, Eq)]
struct Expected {
    accepted: u64,
    segments: u64,
    suppressed: u64,
    deferred: u64,
    sent: u64,
    delivered: u64,
    undelivered: u64,
    expired: u64,
    rejected: u64,
    cost_micro: u64,
}

impl Expected {
    fn of(messages: &[Value]) -> Self {
        let mut e = Self::default();
        for m in messages {
            let history = m["history"].as_array().unwrap();
            let detail = |e: &Value| e["detail"].as_str().unwrap_or_default().to_owned();
            let carried = !m["carrier"].is_null();
            e.accepted += 1;
            // Every message here is one short_message: one SMS.
            e.segments += 1;
            if history
                .iter()
                .any(|h| detail(h).starts_with("held by sending window"))
            {
                e.deferred += 1;
            }
            e.sent += u64::from(carried);
            let last = history.last().map(detail).unwrap_or_default();
            match m["state"].as_str().unwrap() {
                "delivered" => e.delivered += 1,
                "undeliverable" => e.undelivered += 1,
                "expired" => e.expired += 1,
                "rejected" if !carried && last.contains(" opted out of ") => e.suppressed += 1,
                "rejected" => e.rejected += 1,
                _ => {}
            }
            // A message costs once a carrier took it, or while it may still reach one.
            if carried || !m["final"].as_bool().unwrap() {
                e.cost_micro += price_of(m["destination"]["addr"].as_str().unwrap());
            }
        }
        e
    }

    fn rate(&self) -> Option<f64> {
        let ended = self.delivered + self.undelivered + self.expired + self.rejected;
        (ended > 0).then(|| self.delivered as f64 / ended as f64)
    }

    /// Checks a figures object of the APIs (`totals`) against these.
    fn check(&self, figures: &Value, what: &str) {
        let n = |key: &str| {
            figures[key]
                .as_u64()
                .unwrap_or_else(|| panic!("{what}: {key}"))
        };
        let found = Self {
            accepted: n("accepted"),
            segments: n("segments"),
            suppressed: n("suppressed"),
            deferred: n("deferred"),
            sent: n("sent"),
            delivered: n("delivered"),
            undelivered: n("undelivered"),
            expired: n("expired"),
            rejected: n("rejected"),
            cost_micro: figures["cost"]["amount"]
                .as_str()
                .unwrap()
                .parse::<smppd::price::Amount>()
                .unwrap()
                .micros(),
        };
        assert_eq!(&found, self, "{what}: {figures}");
        assert_eq!(figures["cost"]["currency"], "EUR", "{what}");
        match self.rate() {
            Some(rate) => {
                let said = figures["delivery_rate"].as_f64().unwrap();
                assert!((said - rate).abs() < 1e-9, "{what}: rate {said} vs {rate}");
            }
            None => assert!(figures["delivery_rate"].is_null(), "{what}: {figures}"),
        }
    }
}

/// The admin API's view of each message, once every one that can end has ended (held ones
/// stay queued).
async fn settled(admin: SocketAddr, ids: &[String]) -> Vec<Value> {
    let ids = ids.to_vec();
    let mut views = Vec::new();
    common::eventually(Duration::from_secs(30), "every message ended", || {
        views = ids
            .iter()
            .map(|id| get_ok_blocking(admin, &format!("/api/messages/{id}")))
            .collect();
        views.iter().all(|m| {
            m["final"].as_bool().unwrap()
                || m["schedule_at"].as_str().is_some_and(|s| {
                    s.parse::<jiff::Timestamp>().unwrap() > jiff::Timestamp::now() + 1.hour()
                })
        })
    })
    .await;
    views
}

/// smppctl against `admin`, `args`; its stdout (it must succeed).
async fn smppctl(admin: SocketAddr, args: &[&str]) -> String {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_smppctl"));
    command
        .arg("--admin")
        .arg(format!("http://{admin}"))
        .args(args)
        .env_remove("SMPPCTL_TOKEN")
        .env_remove("SMPPCTL_TOKEN_FILE");
    let out = command.output().await.unwrap();
    assert!(
        out.status.success(),
        "smppctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_campaign_is_counted_as_its_messages_end() {
    let dir = temp_dir("campaign-stats");
    let sim = Simulator::start(
        &dir,
        "sim",
        &[
            "--receipt-delay",
            "50ms",
            "--delivered-percent",
            "50",
            "--reject-percent",
            "20",
        ],
    );
    let gw = Gateway::start(&dir, &config(&dir, &sim, &uk_window()));
    let (admin, web) = (gw.admin.unwrap(), gw.http.unwrap());
    wait_link_up(admin, "sim").await;
    let body = json!({"scope": "client:shop", "choice": "opted_out", "evidence": "form"});
    let path = format!("/api/suppressions/{}", OPTED_OUT.replace('+', "%2B"));
    let (status, answer) = api(admin, "PUT", &path, None, Some(body)).await;
    assert_eq!(status, 200, "{answer}");

    // Over HTTP: eight to France (one long, in two parts), one to the number that opted out,
    // two to the UK held by its window, and one there that expires before it opens.
    let mut promo = Vec::new();
    let marketing = |to: &str, text: &str| json!({"to": to, "from": "SHOP", "text": text, "class": "marketing", "campaign": "promo"});
    for n in 0..7 {
        let to = format!("+3361234560{n}");
        promo.extend(send(web, marketing(&to, "Soldes : -30 % ce week-end")).await);
    }
    let long = send(web, marketing("+33612345607", &"Soldes ! ".repeat(25))).await;
    assert_eq!(long.len(), 2, "{long:?}");
    promo.extend(long);
    promo.extend(send(web, marketing(OPTED_OUT, "Soldes")).await);
    promo.extend(send(web, marketing("+447700900001", "Sale")).await);
    promo.extend(send(web, marketing("+447700900002", "Sale")).await);
    let mut brief = marketing("+447700900003", "Sale tonight");
    brief["validity"] = json!("1h");
    promo.extend(send(web, brief).await);

    // Over SMPP: six more of the campaign, one to the number that opted out, and three
    // transactional messages of no campaign.
    let mut shop = Esme::bind(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let smpp: Vec<Body> = (0..6)
        .map(|n| submit(&format!("3361234570{n}"), Some("promo")))
        .chain([submit(OPTED_OUT.trim_start_matches('+'), Some("promo"))])
        .collect();
    promo.extend(shop.submit_all(smpp).await);
    let plain = shop
        .submit_all((0..3).map(|n| submit(&format!("3361234580{n}"), None)))
        .await;

    let views = settled(admin, &promo).await;
    let want = Expected::of(&views);
    // The run had every kind of outcome the test is about.
    assert_eq!(want.accepted, 20);
    assert_eq!(want.suppressed, 2, "{want:?}");
    assert_eq!(want.deferred, 2, "{want:?}");
    assert_eq!(want.expired, 1, "{want:?}");
    assert!(want.delivered > 0 && want.rejected > 0, "{want:?}");
    assert!(want.sent < want.accepted - 5, "{want:?}");

    // HTTP, the client's own campaign.
    let shown = http(web, "GET", "/api/v1/campaigns/promo", SHOP, None, None)
        .await
        .unwrap();
    assert_eq!(shown.status, 200, "{}", shown.json);
    assert_eq!(shown.json["campaign"], "promo");
    want.check(&shown.json["totals"], "HTTP totals");
    let days = shown.json["days"].as_array().unwrap();
    let today = jiff::Timestamp::now().to_string()[..10].to_owned();
    assert!(
        days.iter()
            .all(|d| d["class"] == "marketing" && d["day"].as_str().unwrap() <= today.as_str()),
        "{days:?}"
    );
    let per_day: u64 = days.iter().map(|d| d["accepted"].as_u64().unwrap()).sum();
    assert_eq!(per_day, want.accepted);
    // Another client's campaign of that name is none of its business; no credentials, 401.
    let theirs = http(web, "GET", "/api/v1/campaigns/promo", OTHER, None, None)
        .await
        .unwrap();
    assert_eq!(theirs.status, 404, "{}", theirs.json);
    let anonymous = http(
        web,
        "GET",
        "/api/v1/campaigns/promo",
        ("shop", "x"),
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(anonymous.status, 401);

    // The admin API and smppctl say the same.
    let view = get_ok(admin, "/api/campaigns/shop/promo").await;
    want.check(&view["totals"], "admin totals");
    let (status, _) = api(admin, "GET", "/api/campaigns/shop/nope", None, None).await;
    assert_eq!(status, 404);
    let (status, refused) = api(admin, "GET", "/api/stats?since=soon", None, None).await;
    assert_eq!(status, 400, "{refused}");
    let printed: Value =
        serde_json::from_str(&smppctl(admin, &["campaign", "shop", "promo", "--json"]).await)
            .unwrap();
    want.check(&printed["totals"], "smppctl campaign --json");
    let table = smppctl(admin, &["campaign", "shop", "promo"]).await;
    for word in [
        "campaign promo of shop",
        "DELIVERED",
        "COST EUR",
        "TOTAL",
        "marketing",
    ] {
        assert!(table.contains(word), "{word}:\n{table}");
    }
    // All of shop's traffic: the campaign and the three messages of none.
    let plain = settled(admin, &plain).await;
    let mut all = views.clone();
    all.extend(plain);
    let printed: Value = serde_json::from_str(
        &smppctl(
            admin,
            &["stats", "--client", "shop", "--since", "1d", "--json"],
        )
        .await,
    )
    .unwrap();
    Expected::of(&all).check(&printed["totals"], "smppctl stats --json");
    let classes: Vec<&str> = printed["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["class"].as_str().unwrap())
        .collect();
    assert!(
        classes.contains(&"transactional") && classes.contains(&"marketing"),
        "{printed}"
    );
    let table = smppctl(admin, &["stats"]).await;
    assert!(
        table.contains("CLIENT") && table.contains("shop") && table.contains("TOTAL"),
        "{table}"
    );

    // Prometheus: per window and per route and class only.
    let deferred = metric_sample(admin, "smppd_deferred_total{window=\"uk-hours\"}").await;
    assert_eq!(deferred, Some(2.0));
    let sent_marketing = views.iter().filter(|m| !m["carrier"].is_null()).count();
    let segments = metric_sample(
        admin,
        "smppd_segments_sent_total{route=\"default\",class=\"marketing\"}",
    )
    .await;
    assert_eq!(segments, Some(sent_marketing as f64));
}

/// Submits `flash` campaign messages in rounds until the gateway goes; the ids acknowledged.
async fn submit_until_gone(addr: SocketAddr, acked: Arc<Mutex<Vec<String>>>) {
    let mut shop = Esme::bind(addr, CommandId::BindTransceiver, "shop", "secret1").await;
    for round in 0..100 {
        let bodies = (0..20).map(|n| submit(&format!("33612{round:03}{n:03}"), Some("flash")));
        // Panics (ending this task) once the connection is gone.
        let ids = shop.submit_all(bodies).await;
        acked.lock().unwrap().extend(ids);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_sigkill_the_counters_match_the_states() {
    let dir = temp_dir("campaign-stats-kill");
    let sim = Simulator::start(
        &dir,
        "sim",
        &[
            "--receipt-delay",
            "150ms",
            "--receipt-jitter",
            "150ms",
            "--delivered-percent",
            "70",
            "--reject-percent",
            "10",
        ],
    );
    let mut gw = Gateway::start_logging(&dir, &config(&dir, &sim, ""), "smppd=info");
    wait_link_up(gw.admin.unwrap(), "sim").await;

    let acked = Arc::new(Mutex::new(Vec::new()));
    let load = tokio::spawn(submit_until_gone(gw.addr, acked.clone()));
    common::eventually(Duration::from_secs(30), "load under way", || {
        acked.lock().unwrap().len() >= 200
    })
    .await;
    // Dispatches, acceptances and receipts are in flight now.
    gw.kill();
    assert!(load.await.is_err(), "the load ended with the gateway");
    let acked = acked.lock().unwrap().clone();

    gw.restart();
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;
    // Receipts the client asked for are taken, so its outbox never fills.
    let mut shop = Esme::bind(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    // Every id before this one that is stored is the campaign's (unacknowledged ones too).
    let probe: u64 = shop.submit_all([submit("33699999999", None)]).await[0]
        .parse()
        .unwrap();
    let mut ids = Vec::new();
    for id in 1..probe {
        let (status, _) = api(admin, "GET", &format!("/api/messages/{id}"), None, None).await;
        if status == 200 {
            ids.push(id.to_string());
        }
    }
    for id in &acked {
        assert!(ids.contains(id), "acknowledged {id} lost");
    }
    let views = settled(admin, &ids).await;
    let want = Expected::of(&views);
    assert!(want.delivered > 0 && want.rejected > 0, "{want:?}");
    let view = get_ok(admin, "/api/campaigns/shop/flash").await;
    want.check(&view["totals"], "after SIGKILL");
    drop(shop);
}
