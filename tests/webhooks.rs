//! Webhooks through the real gateway, the real carrier simulator and a real HTTP receiver
//! (`tests/interop/hook_receiver.py`) that checks every request with Standard Webhooks'
//! python reference library (`standardwebhooks`, pinned in the interop venv):
//!
//! - messages sent over HTTP come back as one signed `message.delivered` or `message.failed`
//!   each (a long message once, with its parts), MO as `mo.received`, an operator's opt-out
//!   as `consent.changed`; no message text in any payload;
//! - an endpoint that answers 503, then hangs past the timeout, then comes back loses nothing,
//!   gets each message's events in order (`message.deferred` before `message.delivered`), and
//!   while down is probed once per `probe_interval`, not sent every event;
//! - events survive a kill -9 while their endpoint is down; an endpoint that never comes back
//!   within `give_up_after` gets its events buried in the dead letters, which `smppctl hooks`
//!   lists and replays with their event ids. The give-up time is a config value the test sets
//!   to seconds: that is the clock it controls.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::peers::{python_script, Running};
use common::{
    api_key_hash, carrier, client, eventually, http, mo_route, preamble, route, temp_dir,
    wait_link_up, Gateway, HttpAnswer, Simulator,
};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SHOP: (&str, &str) = ("shop", "shop-key-0123456789");
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A receiver on its own port, answering as told.
struct Receiver(Running);

impl Receiver {
    fn start() -> (Self, u16) {
        let mut running = Running::start(python_script("hook_receiver.py", &[SECRET.to_owned()]));
        let lines = running.wait_for(Duration::from_secs(30), "the receiver listening", |l| {
            !l.events("listening").is_empty()
        });
        let port = lines.events("listening")[0]["port"].as_u64().unwrap();
        (Self(running), u16::try_from(port).unwrap())
    }

    fn mode(&mut self, mode: &str) {
        self.0.send(&json!({ "mode": mode }));
    }

    /// Every request so far, in arrival order.
    fn requests(&self) -> Vec<Value> {
        let lines = self.0.lines();
        lines.events("request").into_iter().cloned().collect()
    }

    /// Requests answered 200, in arrival order (what the shop took).
    fn taken(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["mode"] == "ok")
            .collect()
    }
}

/// `[[clients.webhooks]]` tables for `endpoints`: (name, port, extra keys).
fn hooks(dir: &Path, endpoints: &[(&str, u16, &str)]) -> String {
    let secret_file = dir.join("hook.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    endpoints
        .iter()
        .map(|(name, port, extra)| {
            format!(
                "\n[[clients.webhooks]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:{port}/hooks/sms\"\n\
                 secret_file = {:?}\n{extra}\n",
                secret_file.display().to_string()
            )
        })
        .collect()
}

fn config(dir: &Path, sim: &Simulator, client_extra: &str, hooks: &str) -> String {
    let keys = format!(
        "api_keys = [{:?}]\ndefault_class = \"transactional\"\n{client_extra}",
        api_key_hash(SHOP.1)
    );
    preamble(dir, "", "", "")
        + "[http_api]\nlisten = [\"127.0.0.1:0\"]\n\n"
        + &client(SHOP.0, "secret1", &keys)
        + hooks
        + &carrier("sim", sim.addr.port(), "")
        + &route("default", &["sim"], "")
        + &mo_route("36123", "shop")
        + "\n[[prices]]\nprefix = \"33\"\nper_segment = \"0.045\"\ncurrency = \"EUR\"\n"
        + "\n[numbering]\ndefault_country = \"FR\"\n"
}

async fn post(addr: SocketAddr, body: Value) -> HttpAnswer {
    let answer = http(addr, "POST", "/api/v1/messages", SHOP, None, Some(body))
        .await
        .unwrap();
    assert_eq!(answer.status, 202, "{}", answer.json);
    answer
}

fn id_of(answer: &HttpAnswer) -> String {
    answer.json["id"].as_str().unwrap().to_owned()
}

/// The events of `kind` taken by the receiver, by message id.
fn by_message<'a>(requests: &'a [Value], kind: &str) -> HashMap<String, &'a Value> {
    requests
        .iter()
        .filter(|r| r["body"]["type"] == kind)
        .map(|r| (r["body"]["id"].as_str().unwrap().to_owned(), r))
        .collect()
}

#[tokio::test]
async fn outcomes_mo_and_consent_reach_the_shop_signed_and_without_text() {
    let dir = temp_dir("webhooks");
    let (receiver, port) = Receiver::start();
    let sim = Simulator::start(
        &dir,
        "sim",
        &[
            "--receipt-delay",
            "20ms",
            "--delivered-percent",
            "50",
            "--mo-every",
            "1s",
            "--mo-from",
            "33698765432",
            "--mo-to",
            "36123",
        ],
    );
    // A shop that only uses HTTP: it cannot bind to receive, so its MO wait in no outbox.
    let http_only = "bind_types = [\"transmitter\"]";
    let config = config(
        &dir,
        &sim,
        http_only,
        &hooks(&dir, &[("default", port, "")]),
    );
    let gw = Gateway::start(&dir, &config);
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let addr = gw.http.unwrap();

    let mut ids = Vec::new();
    for n in 0..6 {
        let answer = post(
            addr,
            json!({"to": "+33612345678", "from": "MABOUTIQUE",
                   "text": format!("Commande {n} expédiée"), "client_ref": format!("order-{n}"),
                   "campaign": "noel", "tags": ["shipping"]}),
        )
        .await;
        ids.push(id_of(&answer));
    }
    let long = post(
        addr,
        json!({"to": "+33612345678", "from": "MABOUTIQUE",
               "text": "Votre colis est en route. ".repeat(8), "client_ref": "long-1"}),
    )
    .await;
    assert_eq!(long.json["parts"].as_array().unwrap().len(), 2);
    ids.push(id_of(&long));

    // An operator's opt-out of the shop's messages.
    let admin = gw.admin.unwrap();
    let change = common::api(
        admin,
        "PUT",
        "/api/suppressions/+33611111111",
        None,
        Some(json!({"scope": "client:shop", "choice": "opted_out", "evidence": "letter of 3 Dec"})),
    )
    .await;
    assert_eq!(change.0, 200, "{}", change.1);

    let ended = |r: &Value| {
        matches!(
            r["body"]["type"].as_str(),
            Some("message.delivered" | "message.failed")
        )
    };
    eventually(
        Duration::from_secs(20),
        "an outcome per message, an MO and the consent change",
        || {
            let taken = receiver.taken();
            taken.iter().filter(|r| ended(r)).count() >= ids.len()
                && taken.iter().any(|r| r["body"]["type"] == "mo.received")
                && taken.iter().any(|r| r["body"]["type"] == "consent.changed")
        },
    )
    .await;
    let requests = receiver.requests();
    for request in &requests {
        assert_eq!(
            request["verified"], true,
            "standardwebhooks refused: {request}"
        );
        assert!(
            request["body"].get("text").is_none() || request["body"]["type"] == "mo.received",
            "no message text in payloads: {request}"
        );
        assert_eq!(request["id"], request["body"]["event_id"], "{request}");
    }
    let outcomes: Vec<&Value> = requests.iter().filter(|r| ended(r)).collect();
    let told: Vec<&str> = outcomes
        .iter()
        .map(|r| r["body"]["id"].as_str().unwrap())
        .collect();
    let mut sorted = told.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        told.len(),
        "one outcome per message: {told:?}"
    );
    assert_eq!(
        told.iter().copied().collect::<HashSet<_>>(),
        ids.iter().map(String::as_str).collect::<HashSet<_>>()
    );

    let delivered = by_message(&requests, "message.delivered");
    let failed = by_message(&requests, "message.failed");
    assert!(!failed.is_empty(), "the simulator fails half: {told:?}");
    for (id, request) in delivered.iter().chain(failed.iter()) {
        let body = &request["body"];
        let n = ids.iter().position(|i| i == id).unwrap();
        if n < 6 {
            assert_eq!(body["client_ref"], format!("order-{n}"), "{body}");
            assert_eq!(body["campaign"], "noel");
            assert_eq!(body["tags"], json!(["shipping"]));
            assert_eq!(body["parts"]["total"], 1);
        }
        assert_eq!(body["to"], "+33612345678");
        assert_eq!(body["class"], "transactional");
        assert_eq!(body["carrier"]["link"], "sim");
        assert!(body["done_at"].is_string(), "{body}");
    }
    let long_told = delivered
        .get(&ids[6])
        .or_else(|| failed.get(&ids[6]))
        .unwrap();
    assert_eq!(long_told["body"]["parts"]["total"], 2, "{long_told}");
    assert_eq!(
        long_told["body"]["parts"]["ids"], long.json["parts"],
        "{long_told}"
    );
    let parts = &long_told["body"]["parts"];
    assert_eq!(
        parts["delivered"].as_u64().unwrap() + parts["failed"].as_u64().unwrap(),
        2
    );
    if long_told["body"]["type"] == "message.delivered" {
        assert_eq!(
            long_told["body"]["cost"],
            json!({"amount": "0.090", "currency": "EUR"})
        );
    }
    let one = delivered
        .values()
        .find(|r| r["body"]["parts"]["total"] == 1);
    if let Some(one) = one {
        assert_eq!(
            one["body"]["cost"],
            json!({"amount": "0.045", "currency": "EUR"})
        );
        assert_eq!(one["body"]["state"], "delivered");
    }
    for request in failed.values() {
        assert_eq!(request["body"]["state"], "undeliverable", "{request}");
        assert_eq!(request["body"]["carrier"]["err"], "001", "{request}");
    }

    let mo = requests
        .iter()
        .find(|r| r["body"]["type"] == "mo.received")
        .unwrap();
    assert_eq!(mo["body"]["from"], "+33698765432", "{mo}");
    assert_eq!(mo["body"]["to"], "36123");
    assert!(
        mo["body"]["text"].as_str().unwrap().starts_with("ping"),
        "{mo}"
    );
    let consent = requests
        .iter()
        .find(|r| r["body"]["type"] == "consent.changed")
        .unwrap();
    assert_eq!(consent["body"]["number"], "+33611111111", "{consent}");
    assert_eq!(consent["body"]["choice"], "opted_out");
    assert_eq!(
        consent["body"]["scope"],
        json!({"kind": "client", "name": "shop"})
    );
    let status = common::get_ok(admin, "/api/status").await;
    assert_eq!(
        status["outbox"], 0,
        "nothing kept for binds that cannot come: {status}"
    );
}

/// `HH:MM` of `at` in a zone where it is not near midnight (so that `until` can follow it the
/// same day), and the zone.
fn window_opening(at: jiff::Timestamp) -> (String, &'static str) {
    let hh_mm = |zone: jiff::tz::TimeZone| {
        let local = at.to_zoned_datetime(zone).datetime();
        (
            format!("{:02}:{:02}", local.hour(), local.minute()),
            local.hour(),
        )
    };
    match hh_mm(jiff::tz::TimeZone::UTC) {
        (text, hour) if hour < 22 => (text, "UTC"),
        // 12 hours behind UTC.
        _ => (
            hh_mm(jiff::tz::TimeZone::get("Etc/GMT+12").unwrap()).0,
            "Etc/GMT+12",
        ),
    }
}

#[tokio::test]
async fn a_down_endpoint_loses_nothing_keeps_order_and_is_only_probed() {
    let faketime = common::peers::libfaketime();
    let dir = temp_dir("webhooks-down");
    let (mut receiver, port) = Receiver::start();
    receiver.mode("503");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "20ms"]);

    // A window that opens at the next minute of a clock started 8 s before it: marketing
    // accepted now is deferred (event 1) and delivered 8 s later (event 2). The fake clock is
    // at most two minutes off the receiver's, well inside the signatures' 5-minute tolerance.
    let now = jiff::Timestamp::now();
    let open = jiff::Timestamp::from_second((now.as_second() / 60 + 2) * 60).unwrap();
    let start = open
        .checked_sub(jiff::SignedDuration::from_secs(8))
        .unwrap();
    let (from, zone) = window_opening(open);
    let hook = "retry = [\"300ms\"]\nprobe_interval = \"2s\"\ntimeout = \"1s\"\n";
    let config = config(&dir, &sim, "", &hooks(&dir, &[("default", port, hook)]))
        + &format!(
            "\n[[sending_windows]]\nname = \"soon\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \
             \"fri\", \"sat\", \"sun\"]\nfrom = \"{from}\"\nuntil = \"23:59\"\nzone = \"{zone}\"\n\
             holidays = \"none\"\nspread = \"1s\"\n\n[[window_policies]]\nclass = \"marketing\"\n\
             destinations = [\"+33\"]\nwindow = \"soon\"\n"
        );
    let fake_start = start.to_zoned_datetime(jiff::tz::TimeZone::UTC).datetime();
    let fake_start = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        fake_start.year(),
        fake_start.month(),
        fake_start.day(),
        fake_start.hour(),
        fake_start.minute(),
        fake_start.second()
    );
    let wrapper = [
        "env".to_owned(),
        format!("LD_PRELOAD={}", faketime.display()),
        format!("FAKETIME=@{fake_start}"),
        "FAKETIME_DONT_FAKE_MONOTONIC=1".to_owned(),
    ];
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let gw = Gateway::start_wrapped(&dir, &config, &wrapper);
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let addr = gw.http.unwrap();
    let began = Instant::now();

    let mut ids = Vec::new();
    for n in 0..10 {
        let answer = post(
            addr,
            json!({"to": "+33612345678", "from": "36123", "class": "marketing",
                   "text": format!("Soldes {n} : -30 % ce week-end. STOP au 36123")}),
        )
        .await;
        assert_eq!(answer.json["state"], "deferred", "{}", answer.json);
        ids.push(id_of(&answer));
    }

    // 503 for 3 s, then no answer at all until 11 s: the window opens meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    receiver.mode("hang");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let while_down = receiver.requests().len();
    let down_for = began.elapsed();
    receiver.mode("ok");
    assert_eq!(
        sim.submits().len(),
        10,
        "the window opened while the endpoint was down"
    );

    eventually(Duration::from_secs(15), "20 events taken", || {
        receiver.taken().len() >= 20
    })
    .await;
    // Down from the first burst (concurrency 4, then down after 3 failures) on: one probe per
    // 2 s, plus the burst.
    let allowed = 4 + usize::try_from(down_for.as_secs() / 2).unwrap() + 1;
    assert!(
        while_down <= allowed,
        "{while_down} requests in {down_for:?} while down; at most {allowed}"
    );
    let taken = receiver.taken();
    for request in &taken {
        assert_eq!(request["verified"], true, "{request}");
    }
    for id in &ids {
        let kinds: Vec<&str> = taken
            .iter()
            .filter(|r| r["body"]["id"] == id.as_str())
            .map(|r| r["body"]["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["message.deferred", "message.delivered"],
            "message {id}: each event once, in order"
        );
    }
    let deferred = by_message(&taken, "message.deferred");
    assert!(deferred[&ids[0]]["body"]["send_at"].is_string());
}

fn smppctl(gw: &Gateway, args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_smppctl"))
        .args(["--admin", &gw.admin_url()])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "smppctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test]
async fn events_survive_a_kill_and_dead_letters_replay() {
    let dir = temp_dir("webhooks-dead");
    let (mut patient, patient_port) = Receiver::start();
    let (mut hopeless, hopeless_port) = Receiver::start();
    patient.mode("503");
    hopeless.mode("503");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "20ms"]);
    let probe = "retry = [\"200ms\"]\nprobe_interval = \"1s\"\ntimeout = \"1s\"\n";
    let endpoints = [
        (
            "patient",
            patient_port,
            format!("{probe}give_up_after = \"1h\"\n"),
        ),
        (
            "hopeless",
            hopeless_port,
            format!("{probe}give_up_after = \"4s\"\n"),
        ),
    ];
    let endpoints: Vec<(&str, u16, &str)> = endpoints
        .iter()
        .map(|(name, port, extra)| (*name, *port, extra.as_str()))
        .collect();
    let config = config(&dir, &sim, "", &hooks(&dir, &endpoints));
    let mut gw = Gateway::start(&dir, &config);
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let addr = gw.http.unwrap();
    let mut ids = Vec::new();
    for n in 0..5 {
        let answer = post(
            addr,
            json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": format!("Code {n}")}),
        )
        .await;
        ids.push(id_of(&answer));
    }
    eventually(Duration::from_secs(10), "5 receipts", || {
        sim.submits().len() == 5
    })
    .await;
    let admin = gw.admin.unwrap();
    let pending = |name: &str| {
        let name = name.to_owned();
        async move {
            let hooks = common::get_ok(admin, "/api/hooks").await;
            hooks
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["endpoint"] == name.as_str())
                .map_or(0, |h| h["pending"].as_u64().unwrap())
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while pending("patient").await < 5 {
        assert!(
            Instant::now() < deadline,
            "5 events queued for each endpoint"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The events are in the store, not in memory.
    gw.kill();
    gw.restart();
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;

    // `hopeless` gives up 4 s after the events were queued.
    let dead = loop {
        let dead = common::get_ok(admin, "/api/hooks/shop/hopeless/dead").await;
        if dead.as_array().unwrap().len() == 5 {
            break dead;
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(10),
            "5 dead letters: {dead}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let listed = String::from_utf8(smppctl(&gw, &["hooks"]).stdout).unwrap();
    assert!(listed.contains("hopeless"), "{listed}");
    let lines: Vec<&str> = listed.lines().collect();
    let hopeless_line = lines.iter().find(|l| l.contains("hopeless")).unwrap();
    assert!(
        hopeless_line.split_whitespace().any(|c| c == "5"),
        "{listed}"
    );
    let dead_listed =
        String::from_utf8(smppctl(&gw, &["hooks", "dead", "shop", "hopeless"]).stdout).unwrap();
    assert!(dead_listed.contains("message.delivered"), "{dead_listed}");
    let dead_ids: HashSet<String> = dead
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event_id"].as_str().unwrap().to_owned())
        .collect();

    // Both come back: the patient one gets its backlog at the next probe; the dead letters go
    // only once replayed.
    patient.mode("ok");
    hopeless.mode("ok");
    eventually(
        Duration::from_secs(10),
        "the patient endpoint's 5 events",
        || patient.taken().len() >= 5,
    )
    .await;
    let told: HashSet<String> = patient
        .taken()
        .iter()
        .map(|r| r["body"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(told, ids.iter().cloned().collect::<HashSet<_>>());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        hopeless.taken().is_empty(),
        "dead letters wait for a replay"
    );

    let replayed =
        String::from_utf8(smppctl(&gw, &["hooks", "replay", "shop", "hopeless", "--all"]).stdout)
            .unwrap();

    assert!(replayed.contains("replayed 5"), "{replayed}");
    eventually(Duration::from_secs(10), "the replayed events", || {
        hopeless.taken().len() >= 5
    })
    .await;
    let replayed_ids: HashSet<String> = hopeless
        .taken()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(replayed_ids, dead_ids, "replayed with their event ids");
    let dead = common::get_ok(admin, "/api/hooks/shop/hopeless/dead").await;
    assert_eq!(dead, json!([]));
}
