//! The admin API against the real `smppd serve` and carrier simulators (`smppd simulate`): what
//! it shows while messages flow, what its actions do to them, and how it refuses bad requests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    api, carrier, get_ok, post_ok, routed_config, submit, temp_dir, wait_link_up, Client, Gateway,
    Simulator,
};
use serde_json::{json, Value};
use smpp_proto::{Body, CommandId, CommandStatus};
use std::net::SocketAddr;
use std::time::Duration;

/// A gateway whose route `default` goes to one simulator `sim`, its link up.
struct Setup {
    gw: Gateway,
    sim: Simulator,
    admin: SocketAddr,
}

async fn setup(
    name: &str,
    sim_args: &[&str],
    carrier_extra: &str,
    route_extra: &str,
    admin_extra: &str,
) -> Setup {
    let dir = temp_dir(name);
    let sim = Simulator::start(&dir, "sim", sim_args);
    let carriers = [carrier("sim", sim.addr.port(), carrier_extra)];
    let config = routed_config(&dir, &carriers, &["sim"], route_extra, admin_extra);
    let gw = Gateway::start(&dir, &config);
    let admin = gw.admin.unwrap();
    if admin_extra.is_empty() {
        wait_link_up(admin, "sim").await;
    }
    Setup { gw, sim, admin }
}

async fn transceiver(gw: &Gateway) -> Client {
    Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await
}

fn states(message: &Value) -> Vec<String> {
    message["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls `GET path` until `check` holds on its JSON (10 s at most); returns that JSON.
async fn until_shows(admin: SocketAddr, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let value = get_ok(admin, path).await;
        if check(&value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "GET {path} never showed what was expected: {value}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn reads_show_status_links_binds_queues_routes_and_messages() {
    let s = setup(
        "admin-reads",
        &[],
        "throughput = 400",
        "throughput = 500",
        "",
    )
    .await;
    let mut esme = transceiver(&s.gw).await;
    let id = esme.submit_ok(submit("447700900001", "hello admin")).await;
    assert_eq!(
        esme.next_receipt().await,
        (id.clone(), "DELIVRD".to_owned())
    );

    // The client may have its receipt a moment before the gateway counts it.
    let status = until_shows(s.admin, "/api/status", |v| v["totals"]["receipts"] == 1).await;
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["totals"]["submits_accepted"], 1, "{status}");
    assert_eq!(status["totals"]["receipts"], 1, "{status}");
    assert_eq!(status["totals"]["messages_ended"], 1, "{status}");
    assert_eq!(
        (status["links_up"].as_u64(), status["links"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(status["binds"], 1);
    assert!(
        status["store"]["commits"].as_u64().unwrap() >= 2,
        "{status}"
    );
    assert!(
        status["store"]["size_bytes"].as_u64().unwrap() > 0,
        "{status}"
    );
    assert!(status["started_at"].as_str().unwrap().ends_with('Z'));

    let links = get_ok(s.admin, "/api/links").await;
    let link = &links[0];
    assert_eq!(link["name"], "sim");
    assert_eq!(link["state"], "up");
    assert_eq!(link["port"], s.sim.addr.port());
    assert_eq!(
        (link["sessions_up"].as_u64(), link["sessions"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(link["throughput"], 400);
    assert_eq!(link["configured_throughput"], 400);
    assert_eq!(link["window"], 10);
    let slot = &link["slots"][0];
    assert_eq!(slot["state"], "bound");
    assert!(slot["session"].is_u64(), "{slot}");
    assert_eq!(slot["window"], 10);
    assert!(link["rate"]["out"].is_f64(), "{link}");

    let binds = get_ok(s.admin, "/api/binds").await;
    assert_eq!(binds.as_array().unwrap().len(), 1, "{binds}");
    let bind = &binds[0];
    assert_eq!(bind["system_id"], "shop");
    assert_eq!(bind["bind"], "transceiver");
    assert_eq!(bind["peer"], esme.stream.local_addr().unwrap().to_string());
    assert_eq!(bind["window"], 100);
    // The bind and the submit in; the receipt out.
    assert!(bind["requests_in"].as_u64().unwrap() >= 2, "{bind}");
    assert!(bind["requests_out"].as_u64().unwrap() >= 1, "{bind}");

    let queues = get_ok(s.admin, "/api/queues").await;
    assert_eq!(
        queues["routes"],
        json!([{"route": "default", "depth": 0, "marketing": 0, "oldest_age_seconds": null, "paused": false, "routed": true}])
    );
    assert_eq!(queues["outboxes"][0]["client"], "shop");
    assert_eq!(queues["outboxes"][0]["binds"], 1);

    let routes = get_ok(s.admin, "/api/routes").await;
    assert_eq!(routes[0]["name"], "default");
    assert_eq!(routes[0]["carriers"], json!(["sim"]));
    assert_eq!(routes[0]["throughput"], 500);
    assert_eq!(routes[0]["paused"], false);

    let message = get_ok(s.admin, &format!("/api/messages/{id}")).await;
    assert_eq!(message["id"], id);
    assert_eq!(message["state"], "delivered");
    assert_eq!(message["final"], true);
    assert_eq!(message["client"], "shop");
    assert_eq!(message["route"], "default");
    assert_eq!(message["text"], "hello admin");
    assert_eq!(message["destination"]["addr"], "447700900001");
    assert_eq!(message["carrier"]["link"], "sim");
    assert_eq!(states(&message), ["queued", "enroute", "delivered"]);
    let receipt = message["history"][2]["detail"].as_str().unwrap();
    assert!(receipt.contains("receipt from sim: DELIVERED"), "{message}");

    // The carrier's own id finds the same message, in either case.
    let carrier_id = message["carrier"]["carrier_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for form in [
        carrier_id.to_ascii_lowercase(),
        carrier_id.to_ascii_uppercase(),
    ] {
        let found = get_ok(s.admin, &format!("/api/links/sim/messages/{form}")).await;
        assert_eq!(found["id"], id);
    }
}

#[tokio::test]
async fn bad_input_is_400_unknown_things_404_with_a_message() {
    let s = setup("admin-errors", &[], "", "", "").await;
    let expect = |status: u16, json: &Value, expected: u16, needle: &str| {
        assert_eq!(status, expected, "{json}");
        let error = json["error"].as_str().unwrap_or_else(|| panic!("{json}"));
        assert!(error.contains(needle), "{error:?} lacks {needle:?}");
    };
    let (status, json) = api(s.admin, "GET", "/api/messages/12ab", None, None).await;
    expect(status, &json, 400, "not a gateway message id");
    let (status, json) = api(s.admin, "GET", "/api/messages/99999", None, None).await;
    expect(status, &json, 404, "no message with id 99999");
    let (status, json) = api(s.admin, "GET", "/api/links/nope", None, None).await;
    expect(status, &json, 404, "the links are: sim");
    let (status, json) = api(s.admin, "GET", "/api/links/sim/messages/abc", None, None).await;
    expect(status, &json, 404, "carrier id `abc`");
    let (status, json) = api(s.admin, "POST", "/api/routes/nope/pause", None, None).await;
    expect(status, &json, 404, "no route named `nope`");
    let (status, json) = api(s.admin, "GET", "/api/nothing", None, None).await;
    expect(status, &json, 404, "no such endpoint");
    let (status, json) = api(s.admin, "GET", "/api/links/sim/pause", None, None).await;
    expect(status, &json, 405, "method");
    for body in [json!({"rate": 0}), json!({"rate": "fast"}), json!({})] {
        let path = "/api/links/sim/throughput";
        let (status, json) = api(s.admin, "POST", path, None, Some(body)).await;
        expect(status, &json, 400, "messages per second");
    }
    let (status, json) = api(s.admin, "POST", "/api/binds/x/disconnect", None, None).await;
    expect(status, &json, 400, "not a session id");
    let (status, json) = api(s.admin, "POST", "/api/binds/424242/disconnect", None, None).await;
    expect(status, &json, 404, "no live bind");
    let body = Some(json!({"confirm": "yes"}));
    let (status, json) = api(s.admin, "POST", "/api/routes/default/purge", None, body).await;
    expect(status, &json, 400, "must be JSON like");

    // A message that has ended cannot be cancelled or retried.
    let mut esme = transceiver(&s.gw).await;
    let id = esme.submit_ok(submit("447700900001", "done")).await;
    esme.next_receipt().await;
    for action in ["cancel", "retry"] {
        let path = format!("/api/messages/{id}/{action}");
        let (status, json) = api(s.admin, "POST", &path, None, None).await;
        expect(status, &json, 409, "has ended (delivered)");
    }
}

#[tokio::test]
async fn a_configured_token_guards_everything_but_an_open_metrics() {
    const TOKEN: &str = "0123456789abcdef-token";
    let admin_extra = format!("token = \"{TOKEN}\"\nmetrics_open = true");
    let s = setup("admin-token", &[], "", "", &admin_extra).await;
    let (status, json) = api(s.admin, "GET", "/api/status", None, None).await;
    assert_eq!(status, 401, "{json}");
    assert!(json["error"]
        .as_str()
        .unwrap()
        .contains("Authorization: Bearer"));
    let (status, json) = api(
        s.admin,
        "GET",
        "/api/status",
        Some("wrong-token-000000"),
        None,
    )
    .await;
    assert_eq!(status, 401, "{json}");
    assert!(json["error"]
        .as_str()
        .unwrap()
        .contains("wrong admin token"));
    let (status, _) = api(s.admin, "POST", "/api/links/sim/pause", None, None).await;
    assert_eq!(status, 401);
    let (status, json) = api(s.admin, "GET", "/api/status", Some(TOKEN), None).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    // metrics_open: Prometheus scrapes without the token.
    let (status, _) = api(s.admin, "GET", "/metrics", None, None).await;
    assert_eq!(status, 200);
    // The pause above was refused: the link still takes messages.
    let (_, link) = api(s.admin, "GET", "/api/links/sim", Some(TOKEN), None).await;
    assert_eq!(link["paused"], false, "{link}");
}

#[tokio::test]
async fn a_paused_link_is_failed_over_and_takes_traffic_again_when_resumed() {
    let dir = temp_dir("admin-pause-link");
    let a = Simulator::start(&dir, "a", &[]);
    let b = Simulator::start(&dir, "b", &[]);
    let carriers = [
        carrier("a", a.addr.port(), ""),
        carrier("b", b.addr.port(), ""),
    ];
    let gw = Gateway::start(&dir, &routed_config(&dir, &carriers, &["a", "b"], "", ""));
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "a").await;
    wait_link_up(admin, "b").await;
    let mut esme = transceiver(&gw).await;

    let link = post_ok(admin, "/api/links/a/pause", None).await;
    assert_eq!(
        (link["state"].as_str(), link["paused"].as_bool()),
        (Some("paused"), Some(true))
    );
    let id = esme
        .submit_ok(submit("447700900001", "while a rests"))
        .await;
    esme.next_receipt().await;
    let message = get_ok(admin, &format!("/api/messages/{id}")).await;
    assert_eq!(message["carrier"]["link"], "b", "{message}");
    // Paused, its session stays bound: receipts for what it carries keep coming.
    assert_eq!(get_ok(admin, "/api/links/a").await["sessions_up"], 1);

    let link = post_ok(admin, "/api/links/a/resume", None).await;
    assert_eq!(link["state"], "up");
    let id = esme.submit_ok(submit("447700900001", "a is back")).await;
    esme.next_receipt().await;
    let message = get_ok(admin, &format!("/api/messages/{id}")).await;
    assert_eq!(message["carrier"]["link"], "a", "{message}");
    assert_eq!(a.submits().len(), 1);
    assert_eq!(b.submits().len(), 1);
}

#[tokio::test]
async fn a_paused_route_holds_its_queue_for_cancel_and_purge() {
    let s = setup("admin-pause-route", &[], "", "", "").await;
    let mut esme = transceiver(&s.gw).await;
    let route = post_ok(s.admin, "/api/routes/default/pause", None).await;
    assert_eq!(route["paused"], true);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            esme.submit_ok(submit("447700900001", &format!("held {i}")))
                .await,
        );
    }
    let queues = get_ok(s.admin, "/api/queues").await;
    assert_eq!(queues["routes"][0]["depth"], 3, "{queues}");
    assert_eq!(queues["routes"][0]["paused"], true);
    assert!(queues["routes"][0]["oldest_age_seconds"].as_f64().unwrap() >= 0.0);

    // Cancel one: it ends DELETED and its client gets the receipt it asked for.
    let cancelled = post_ok(s.admin, &format!("/api/messages/{}/cancel", ids[0]), None).await;
    assert_eq!(cancelled["state"], "deleted");
    assert_eq!(states(&cancelled), ["queued", "deleted"]);
    assert_eq!(
        cancelled["history"][1]["detail"],
        "cancelled by an operator"
    );
    assert_eq!(
        esme.next_receipt().await,
        (ids[0].clone(), "DELETED".to_owned())
    );

    // Purge asks for a confirmation, then ends the rest.
    let (status, json) = api(s.admin, "POST", "/api/routes/default/purge", None, None).await;
    assert_eq!(status, 400, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("all 2 messages"),
        "{json}"
    );
    assert_eq!(
        get_ok(s.admin, "/api/queues").await["routes"][0]["depth"],
        2
    );
    let purged = post_ok(
        s.admin,
        "/api/routes/default/purge",
        Some(json!({"confirm": true})),
    )
    .await;
    assert_eq!(
        purged,
        json!({"queue": "default", "purged": 2, "failed": 0})
    );
    let mut receipts = vec![esme.next_receipt().await, esme.next_receipt().await];
    receipts.sort();
    let deleted = |id: &String| (id.clone(), "DELETED".to_owned());
    assert_eq!(receipts, [deleted(&ids[1]), deleted(&ids[2])]);
    let message = get_ok(s.admin, &format!("/api/messages/{}", ids[2])).await;
    assert_eq!(message["history"][1]["detail"], "purged by an operator");
    assert_eq!(
        get_ok(s.admin, "/api/queues").await["routes"][0]["depth"],
        0
    );

    // Resumed, the route carries new traffic, and none of the ended messages went out.
    post_ok(s.admin, "/api/routes/default/resume", None).await;
    let id = esme.submit_ok(submit("447700900001", "after")).await;
    assert_eq!(esme.next_receipt().await, (id, "DELIVRD".to_owned()));
    let texts: Vec<Vec<u8>> = s
        .sim
        .submits()
        .iter()
        .map(|l| l.submit_sm().short_message.as_bytes().to_vec())
        .collect();
    assert_eq!(texts, [b"after".to_vec()]);
}

#[tokio::test]
async fn a_throughput_cap_changes_at_runtime() {
    let s = setup("admin-throttle", &[], "", "", "").await;
    let mut esme = transceiver(&s.gw).await;
    let route = post_ok(
        s.admin,
        "/api/routes/default/throughput",
        Some(json!({"rate": 5})),
    )
    .await;
    assert_eq!(
        (
            route["throughput"].as_u64(),
            route["configured_throughput"].as_u64()
        ),
        (Some(5), None)
    );
    // 15 messages at 5/s: a burst of 5, then 10 more over 2 s.
    for i in 0..15 {
        esme.submit_ok(submit("447700900001", &format!("capped {i}")))
            .await;
    }
    for _ in 0..15 {
        esme.next_receipt().await;
    }
    let span = |from: usize, to: usize| {
        let submits = s.sim.submits();
        submits[to].at_ms - submits[from].at_ms
    };
    assert!(
        span(0, 14) >= 1_600,
        "15 messages at 5/s took {} ms",
        span(0, 14)
    );

    // Lifted: 20 more go at once, far faster than 5/s would let them (3 s).
    let route = post_ok(
        s.admin,
        "/api/routes/default/throughput",
        Some(json!({"rate": null})),
    )
    .await;
    assert_eq!(route["throughput"], Value::Null);
    for i in 0..20 {
        esme.submit_ok(submit("447700900001", &format!("free {i}")))
            .await;
    }
    for _ in 0..20 {
        esme.next_receipt().await;
    }
    assert!(
        span(15, 34) < 2_000,
        "20 uncapped messages took {} ms",
        span(15, 34)
    );

    // A link's cap the same way.
    let link = post_ok(
        s.admin,
        "/api/links/sim/throughput",
        Some(json!({"rate": 7})),
    )
    .await;
    assert_eq!(link["throughput"], 7);
}

#[tokio::test]
async fn retry_sends_a_message_waiting_out_its_backoff_now() {
    // Every submit is refused with a transient status; the next attempt is a minute away.
    let s = setup(
        "admin-retry",
        &["--reject-percent", "100"],
        "retry_min = \"1m\"\nretry_max = \"1m\"",
        "",
        "",
    )
    .await;
    let mut esme = transceiver(&s.gw).await;
    let id = esme.submit_ok(submit("447700900001", "try again")).await;
    let path = format!("/api/messages/{id}");
    let waiting = until_shows(s.admin, &path, |m| m["attempts"] == 1).await;
    assert_eq!(waiting["state"], "queued");
    assert!(waiting["schedule_at"].is_string(), "{waiting}");
    assert_eq!(s.sim.submits().len(), 1);

    let retried = post_ok(s.admin, &format!("{path}/retry"), None).await;
    assert_eq!(retried["attempts"], 0);
    assert_eq!(retried["schedule_at"], Value::Null);
    let last = retried["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["detail"], "retry now, by an operator");
    // Sent again at once, not a minute later.
    common::eventually(Duration::from_secs(5), "a second submit", || {
        s.sim.submits().len() == 2
    })
    .await;
}

#[tokio::test]
async fn an_offline_clients_outbox_can_be_purged() {
    let s = setup("admin-purge-outbox", &[], "", "", "").await;
    // A transmitter cannot receive: its receipts wait in the outbox.
    let mut esme = Client::bound(s.gw.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    for i in 0..2 {
        esme.submit_ok(submit("447700900001", &format!("no one listens {i}")))
            .await;
    }
    let queues = until_shows(s.admin, "/api/queues", |q| q["outboxes"][0]["depth"] == 2).await;
    assert!(
        queues["outboxes"][0]["oldest_age_seconds"]
            .as_f64()
            .is_some(),
        "{queues}"
    );
    let (status, json) = api(s.admin, "POST", "/api/outboxes/shop/purge", None, None).await;
    assert_eq!(status, 400, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("the 2 receipts and MO"),
        "{json}"
    );
    let purged = post_ok(
        s.admin,
        "/api/outboxes/shop/purge",
        Some(json!({"confirm": true})),
    )
    .await;
    assert_eq!(purged["purged"], 2);
    assert_eq!(
        get_ok(s.admin, "/api/queues").await["outboxes"][0]["depth"],
        0
    );
    let (status, _) = api(s.admin, "POST", "/api/outboxes/nobody/purge", None, None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn disconnect_unbinds_a_bind_or_closes_it() {
    let s = setup("admin-disconnect", &[], "", "", "").await;
    let mut gentle = transceiver(&s.gw).await;
    let mut rough = transceiver(&s.gw).await;
    let session_of = |binds: &Value, client: &Client| {
        let peer = client.stream.local_addr().unwrap().to_string();
        binds
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["peer"] == peer.as_str())
            .map(|b| b["session"].as_u64().unwrap())
            .unwrap()
    };
    let binds = get_ok(s.admin, "/api/binds").await;
    let (gentle_id, rough_id) = (session_of(&binds, &gentle), session_of(&binds, &rough));

    let done = post_ok(s.admin, &format!("/api/binds/{gentle_id}/disconnect"), None).await;
    assert_eq!(done["how"], "unbind");
    assert_eq!(done["system_id"], "shop");
    let unbind = gentle.recv().await.unwrap();
    assert_eq!(unbind.body, Body::Unbind);
    gentle
        .send_pdu(&smpp_proto::Pdu::new(
            unbind.sequence_number,
            Body::UnbindResp,
        ))
        .await;
    gentle.expect_closed().await;

    let body = Some(json!({"force": true}));
    let done = post_ok(s.admin, &format!("/api/binds/{rough_id}/disconnect"), body).await;
    assert_eq!(done["how"], "close");
    rough.expect_closed().await;

    until_shows(s.admin, "/api/binds", |b| b.as_array().unwrap().is_empty()).await;
    // The account's bind slots are free again.
    let mut again = transceiver(&s.gw).await;
    let resp = again.request(Body::EnquireLink).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
}

/// The figures of `GET /api/links` add up while messages flow through a small window: the
/// link's window use is the sum of its slots', never more than its window, and submits outside
/// any window (handed to a session and not written, accepted and being recorded) are shown
/// under their own names.
#[tokio::test]
async fn a_links_window_is_the_sum_of_its_slots() {
    let s = setup(
        "admin-window-sum",
        &["--response-delay", "2ms", "--receipt-delay", "50ms"],
        "window = 10\nsessions = 2",
        "",
        "",
    )
    .await;
    // A transmitter: no receipts come back to it, only submit_sm_resp.
    let mut esme = Client::bound(s.gw.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    let load = tokio::spawn(async move {
        let mut sent = 0;
        for burst in 0..20 {
            let seqs: Vec<u32> = {
                let mut seqs = Vec::new();
                for i in 0..50 {
                    let to = format!("4477009{burst:02}{i:03}");
                    seqs.push(esme.send(submit(&to, "window sums")).await);
                }
                seqs
            };
            for _ in &seqs {
                let resp = esme.recv().await.unwrap();
                assert_eq!(resp.command_id(), CommandId::SubmitSmResp);
                assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
                sent += 1;
            }
        }
        sent
    });
    let (mut samples, mut busy, mut outside) = (0, 0, 0);
    while !load.is_finished() || samples < 50 {
        let links = get_ok(s.admin, "/api/links").await;
        let link = &links[0];
        let slots = link["slots"].as_array().unwrap();
        let sum = |key: &str| slots.iter().map(|s| s[key].as_u64().unwrap()).sum::<u64>();
        let (used, window) = (
            link["window_used"].as_u64().unwrap(),
            link["window"].as_u64().unwrap(),
        );
        assert_eq!(used, sum("window_used"), "{link}");
        assert_eq!(window, sum("window"), "{link}");
        assert_eq!(window, 20, "{link}");
        assert!(used <= window, "{link}");
        let (sending, recording) = (
            link["sending"].as_u64().unwrap(),
            link["recording"].as_u64().unwrap(),
        );
        samples += 1;
        busy += usize::from(used > 0);
        outside += usize::from(sending + recording > 0);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    assert_eq!(load.await.unwrap(), 1000);
    eprintln!(
        "{samples} samples: {busy} with the window in use, {outside} with submits outside it"
    );
    assert!(busy > 0, "no sample saw the window in use");
}
