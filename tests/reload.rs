//! SIGHUP with the real binary: the config file is re-read and applied to the running gateway
//! without dropping unaffected sessions. A new client binds, a removed client is unbound, a new
//! route takes traffic and a route cap changes, while a bound client keeps submitting on the
//! same session. An invalid file is refused and the running config stays. Carriers added,
//! removed and re-pointed (each a `smppd simulate` process) take effect while the client's bind
//! and the other carriers' links keep their connections, and no accepted message is lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    carrier, client, eventually, get_ok, preamble, route, submit, temp_dir, Client, Gateway,
    Simulator,
};
use smpp_proto::{Body, CommandId, CommandStatus};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// The gateway's config: `clients` and `routes` (TOML tables) over carrier `sim`.
fn config_text(dir: &Path, sim_port: u16, clients: &str, routes: &str) -> String {
    preamble(dir, "", "", "") + clients + &carrier("sim", sim_port, "") + routes
}

/// Accounts (system_id, password) as `[[clients]]` tables.
fn clients(accounts: &[(&str, &str)]) -> String {
    accounts
        .iter()
        .map(|(system_id, password)| client(system_id, password, ""))
        .collect()
}

async fn route_of(gateway: &Gateway, id: &str) -> String {
    let admin = gateway.admin.unwrap();
    let message = get_ok(admin, &format!("/api/messages/{id}")).await;
    message["route"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn sighup_applies_clients_and_routes_and_keeps_sessions() {
    let dir = temp_dir("reload");
    let sim = Simulator::start(&dir, "sim", &[]);
    let shop_and_crm = clients(&[("shop", "secret1"), ("crm", "secret2")]);
    let all_to_sim = route("default", &["sim"], "");
    let gateway = Gateway::start(
        &dir,
        &config_text(&dir, sim.addr.port(), &shop_and_crm, &all_to_sim),
    );

    let mut shop = Client::bound(gateway.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let mut crm = Client::bound(gateway.addr, CommandId::BindTransceiver, "crm", "secret2").await;
    let first = shop.submit_ok(submit("33612345678", "before")).await;
    assert_eq!(route_of(&gateway, &first).await, "default");

    // crm goes, otp comes; French numbers get their own capped route.
    let shop_and_otp = clients(&[("shop", "secret1"), ("otp", "secret3")]);
    let france = "destination_prefixes = [\"33\"]\nthroughput = 50";
    let routes = route("france", &["sim"], france) + &all_to_sim;
    gateway
        .reload(
            &config_text(&dir, sim.addr.port(), &shop_and_otp, &routes),
            "config reloaded",
        )
        .await;

    // The same session of shop keeps working, under the new routes.
    let second = shop.submit_ok(submit("33612345678", "after")).await;
    assert_eq!(route_of(&gateway, &second).await, "france");
    let other = shop.submit_ok(submit("447700900123", "after")).await;
    assert_eq!(route_of(&gateway, &other).await, "default");
    let france = get_ok(gateway.admin.unwrap(), "/api/routes/france").await;
    assert_eq!(france["throughput"], 50, "{france}");

    // crm was removed: the gateway unbinds its session.
    let unbind = crm
        .recv()
        .await
        .expect("crm's session closed without unbind");
    assert_eq!(unbind.command_id(), CommandId::Unbind, "{unbind:?}");
    let _otp = Client::bound(gateway.addr, CommandId::BindTransmitter, "otp", "secret3").await;
    let mut crm_again = Client::connect(gateway.addr).await;
    let refused = crm_again
        .bind(CommandId::BindTransmitter, "crm", "secret2")
        .await;
    assert_ne!(refused.command_status, CommandStatus::ESME_ROK);

    // An invalid file is refused with its errors; everything keeps running as it was.
    gateway
        .reload("[[routes]]\nname = 7\n", "reload refused")
        .await;
    assert!(
        gateway.logs().contains("routes[0].name"),
        "{}",
        gateway.logs()
    );
    let third = shop.submit_ok(submit("33612345678", "still")).await;
    assert_eq!(route_of(&gateway, &third).await, "france");

    let resp = shop.request(Body::EnquireLink).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
}

/// Generous bound for what must happen "soon" on a busy CI machine.
const SOON: Duration = Duration::from_secs(60);

/// A gateway config with client `shop`, the `carriers` tables (from [`carrier`]) and `routes`.
fn carriers_config(dir: &Path, carriers: &[String], routes: &str) -> String {
    preamble(dir, "", "", "")
        + &client("shop", "secret1", "window = 100")
        + &carriers.concat()
        + routes
}

/// A `[[routes]]` table: `name` over `carriers`, for destinations starting with `prefix` (all
/// when empty).
fn route_for(name: &str, prefix: &str, carriers: &[&str]) -> String {
    let prefixes = if prefix.is_empty() {
        String::new()
    } else {
        format!("destination_prefixes = [\"{prefix}\"]")
    };
    route(name, carriers, &prefixes)
}

/// Polls the admin API until `check` holds for `path`'s JSON; panics after [`SOON`].
async fn wait_api(
    gateway: &Gateway,
    path: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + SOON;
    loop {
        let json = get_ok(gateway.admin.unwrap(), path).await;
        if check(&json) {
            return json;
        }
        assert!(Instant::now() < deadline, "{what}: {json}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until link `name` is up, bound to `port`.
async fn wait_link_on(gateway: &Gateway, name: &str, port: u16) -> serde_json::Value {
    wait_api(
        gateway,
        &format!("/api/links/{name}"),
        &format!("link {name} up on port {port}"),
        |link| link["state"] == "up" && link["port"] == port,
    )
    .await
}

/// Receipts for every one of `ids` (the shop's session answers everything else meanwhile);
/// their `stat:` words by gateway id.
async fn receipts_for(client: &mut Client, ids: &[String]) -> HashMap<String, String> {
    let mut got = HashMap::new();
    let deadline = Instant::now() + SOON;
    while !ids.iter().all(|id| got.contains_key(id)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some((id, stat)) = client.next_receipt_within(left).await else {
            let missing: Vec<&String> = ids.iter().filter(|id| !got.contains_key(*id)).collect();
            panic!("no receipt within {SOON:?} for {missing:?}");
        };
        got.insert(id, stat);
    }
    got
}

/// Texts of the submits a simulator logged, with the simulator's session id and outcome.
fn texts(sim: &Simulator) -> Vec<(String, u64, String)> {
    sim.submits()
        .iter()
        .map(|s| {
            let text = String::from_utf8_lossy(s.submit_sm().short_message.as_bytes()).into_owned();
            (text, s.session, s.outcome.clone())
        })
        .collect()
}

/// Waits until `sim` has logged a submit with `text`; returns its session id.
async fn wait_submit(sim: &Simulator, text: &str) -> u64 {
    let deadline = Instant::now() + SOON;
    loop {
        if let Some((_, session, _)) = texts(sim).into_iter().find(|(t, _, _)| t == text) {
            return session;
        }
        assert!(
            Instant::now() < deadline,
            "`{text}` never reached {}",
            sim.addr
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sighup_adds_a_carrier_and_keeps_the_other_link() {
    let dir = temp_dir("reload-add");
    let sim_a = Simulator::start(&dir, "a", &[]);
    let sim_b = Simulator::start(&dir, "b", &["--id-start", "0x20000000"]);
    let a = carrier("a", sim_a.addr.port(), "");
    let b = carrier("b", sim_b.addr.port(), "");
    let gateway = Gateway::start(
        &dir,
        &carriers_config(
            &dir,
            std::slice::from_ref(&a),
            &route_for("default", "", &["a"]),
        ),
    );
    let link_a = wait_link_on(&gateway, "a", sim_a.addr.port()).await;
    let mut shop = Client::bound(gateway.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let first = shop.submit_ok(submit("447700900123", "before")).await;
    let session_a = wait_submit(&sim_a, "before").await;
    receipts_for(&mut shop, std::slice::from_ref(&first)).await;

    // b comes, with a route of its own for French numbers.
    let routes = route_for("france", "33", &["b"]) + &route_for("default", "", &["a"]);
    gateway
        .reload(&carriers_config(&dir, &[a, b], &routes), "config reloaded")
        .await;
    wait_link_on(&gateway, "b", sim_b.addr.port()).await;
    let links = get_ok(gateway.admin.unwrap(), "/api/links").await;
    let names: Vec<&str> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"], "{links}");

    // The same client session sends through both; a kept its connection.
    let to_b = shop.submit_ok(submit("33612345678", "to b")).await;
    let to_a = shop.submit_ok(submit("447700900123", "to a")).await;
    assert_eq!(route_of(&gateway, &to_b).await, "france");
    wait_submit(&sim_b, "to b").await;
    assert_eq!(wait_submit(&sim_a, "to a").await, session_a);
    let stats = receipts_for(&mut shop, &[to_b.clone(), to_a.clone()]).await;
    assert!(stats.values().all(|s| s == "DELIVRD"), "{stats:?}");
    assert!(texts(&sim_a).iter().all(|(t, _, _)| t != "to b"));
    let link_a_now = get_ok(gateway.admin.unwrap(), "/api/links/a").await;
    assert_eq!(
        link_a_now["slots"][0]["session"],
        link_a["slots"][0]["session"]
    );
    assert_eq!(link_a_now["slots"][0]["since"], link_a["slots"][0]["since"]);
    assert_eq!(
        link_a_now["reconnects"], link_a["reconnects"],
        "{link_a_now}"
    );
    let resp = shop.request(Body::EnquireLink).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
}

#[tokio::test]
async fn sighup_removes_a_carrier_and_its_queue_moves_to_the_other() {
    const MESSAGES: usize = 30;
    let dir = temp_dir("reload-remove");
    let sim_a = Simulator::start(&dir, "a", &[]);
    // b takes submits and never answers them: at the reload a window of them is in flight,
    // the rest wait in the queue behind it.
    let sim_b = Simulator::start(
        &dir,
        "b",
        &["--withhold-percent", "100", "--id-start", "0x20000000"],
    );
    let a = carrier("a", sim_a.addr.port(), "");
    let b = carrier(
        "b",
        sim_b.addr.port(),
        "window = 5\nresponse_timeout = \"60s\"\n",
    );
    let gateway = Gateway::start(
        &dir,
        &carriers_config(&dir, &[a.clone(), b], &route_for("default", "", &["b"])),
    );
    wait_link_on(&gateway, "a", sim_a.addr.port()).await;
    wait_link_on(&gateway, "b", sim_b.addr.port()).await;
    let link_a = get_ok(gateway.admin.unwrap(), "/api/links/a").await;

    let mut shop = Client::bound(gateway.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let mut ids = Vec::new();
    for n in 0..MESSAGES {
        ids.push(
            shop.submit_ok(submit("447700900123", &format!("m{n}")))
                .await,
        );
    }
    let deadline = Instant::now() + SOON;
    while sim_b.submits().len() < 5 {
        assert!(Instant::now() < deadline, "b's window never filled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let queues = get_ok(gateway.admin.unwrap(), "/api/queues").await;
    assert_eq!(queues["routes"][0]["depth"], MESSAGES, "{queues}");

    // b goes; the route now names a.
    gateway
        .reload(
            &carriers_config(&dir, &[a], &route_for("default", "", &["a"])),
            "config reloaded",
        )
        .await;
    let links = get_ok(gateway.admin.unwrap(), "/api/links").await;
    assert_eq!(links.as_array().unwrap().len(), 1, "{links}");
    assert_eq!(links[0]["name"], "a", "{links}");

    // Every accepted message ends delivered through a, those b held unanswered included, on
    // the shop's one session.
    let stats = receipts_for(&mut shop, &ids).await;
    assert!(stats.values().all(|s| s == "DELIVRD"), "{stats:?}");
    let at_a = texts(&sim_a);
    for n in 0..MESSAGES {
        let text = format!("m{n}");
        assert!(
            at_a.iter()
                .any(|(t, _, o)| *t == text && o.starts_with("id=")),
            "{text} never accepted by a: {at_a:?}"
        );
    }
    let withheld = sim_b.submits();
    assert!(
        withheld.iter().all(|s| s.outcome == "withheld"),
        "{withheld:?}"
    );
    assert!(!withheld.is_empty());
    for id in &ids {
        let message = get_ok(gateway.admin.unwrap(), &format!("/api/messages/{id}")).await;
        assert_eq!(message["carrier"]["link"], "a", "{message}");
        // Going again after b was removed used up no attempt, as after a restart.
        assert_eq!(message["attempts"], 0, "{message}");
    }
    let queues = wait_api(&gateway, "/api/queues", "queue drained", |q| {
        q["routes"][0]["depth"] == 0
    })
    .await;
    assert_eq!(queues["routes"].as_array().unwrap().len(), 1, "{queues}");
    // a kept its connection; b was unbound rather than dropped.
    let link_a_now = get_ok(gateway.admin.unwrap(), "/api/links/a").await;
    assert_eq!(
        link_a_now["slots"][0]["session"],
        link_a["slots"][0]["session"]
    );
    eventually(SOON, "b's link closed", || {
        gateway.logs().contains("retired link unbound and closed")
    })
    .await;
    let resp = shop.request(Body::EnquireLink).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
}

#[tokio::test]
async fn sighup_reconnects_a_carrier_whose_port_changed() {
    let dir = temp_dir("reload-port");
    let sim_1 = Simulator::start(&dir, "one", &[]);
    // Other ids than the first simulator's: the link's name, and so its receipts' key, stays.
    let sim_2 = Simulator::start(&dir, "two", &["--id-start", "0x20000000"]);
    let gateway = Gateway::start(
        &dir,
        &carriers_config(
            &dir,
            &[carrier("c", sim_1.addr.port(), "")],
            &route_for("default", "", &["c"]),
        ),
    );
    wait_link_on(&gateway, "c", sim_1.addr.port()).await;
    let mut shop = Client::bound(gateway.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let first = shop.submit_ok(submit("447700900123", "one")).await;
    wait_submit(&sim_1, "one").await;
    receipts_for(&mut shop, std::slice::from_ref(&first)).await;

    gateway
        .reload(
            &carriers_config(
                &dir,
                &[carrier("c", sim_2.addr.port(), "")],
                &route_for("default", "", &["c"]),
            ),
            "config reloaded",
        )
        .await;
    wait_link_on(&gateway, "c", sim_2.addr.port()).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            shop.submit_ok(submit("447700900123", &format!("two {n}")))
                .await,
        );
    }
    let stats = receipts_for(&mut shop, &ids).await;
    assert!(stats.values().all(|s| s == "DELIVRD"), "{stats:?}");
    for n in 0..5 {
        wait_submit(&sim_2, &format!("two {n}")).await;
    }
    assert_eq!(texts(&sim_1).len(), 1, "{:?}", texts(&sim_1));
    eventually(SOON, "the old link closed", || {
        gateway.logs().contains("retired link unbound and closed")
    })
    .await;
    let links = get_ok(gateway.admin.unwrap(), "/api/links").await;
    assert_eq!(links.as_array().unwrap().len(), 1, "{links}");
    let resp = shop.request(Body::EnquireLink).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
}

#[tokio::test]
async fn sighup_removing_a_route_with_its_carrier_keeps_its_queue_visible() {
    let dir = temp_dir("reload-strand");
    let sim_a = Simulator::start(&dir, "a", &[]);
    // Nothing listens for b: French messages wait in their queue.
    let nowhere = Simulator::reserve_port();
    let a = carrier("a", sim_a.addr.port(), "");
    let b = carrier("b", nowhere.port(), "");
    let routes = route_for("france", "33", &["b"]) + &route_for("default", "", &["a"]);
    let gateway = Gateway::start(&dir, &carriers_config(&dir, &[a.clone(), b], &routes));
    wait_link_on(&gateway, "a", sim_a.addr.port()).await;
    let mut shop = Client::bound(gateway.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            shop.submit_ok(submit("33612345678", &format!("fr{n}")))
                .await,
        );
    }

    // b and its route go: the messages stay, listed, with a warning.
    gateway
        .reload(
            &carriers_config(
                &dir,
                std::slice::from_ref(&a),
                &route_for("default", "", &["a"]),
            ),
            "config reloaded",
        )
        .await;
    assert!(
        gateway.logs().contains("3 messages stay in its queue"),
        "{}",
        gateway.logs()
    );
    let queues = get_ok(gateway.admin.unwrap(), "/api/queues").await;
    let france = queues["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["route"] == "france")
        .unwrap_or_else(|| panic!("france not listed: {queues}"));
    assert_eq!(france["depth"], 3, "{queues}");
    assert_eq!(france["routed"], false, "{queues}");

    // The route comes back over a: they go.
    let routes = route_for("france", "33", &["a"]) + &route_for("default", "", &["a"]);
    gateway
        .reload(&carriers_config(&dir, &[a], &routes), "config reloaded")
        .await;
    let stats = receipts_for(&mut shop, &ids).await;
    assert!(stats.values().all(|s| s == "DELIVRD"), "{stats:?}");
    for n in 0..3 {
        wait_submit(&sim_a, &format!("fr{n}")).await;
    }
}
