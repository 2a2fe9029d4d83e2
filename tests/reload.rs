//! SIGHUP with the real binary: the config file is re-read and applied to the running gateway
//! without dropping unaffected sessions. A new client binds, a removed client is unbound, a new
//! route takes traffic and a route cap changes, while a bound client keeps submitting on the
//! same session. An invalid file, or one that changes carriers, is refused and the running
//! config stays.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{carrier, get_ok, submit, temp_dir, Client, Gateway, Simulator};
use smpp_proto::{Body, CommandId, CommandStatus};
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// The gateway's config: `clients` and `routes` (TOML tables) over carrier `sim`.
fn config_text(dir: &Path, sim_port: u16, clients: &str, routes: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[store]\npath = \"{}\"\n\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\n{clients}\n{}\n{routes}\n",
        dir.join("store").display(),
        carrier("sim", sim_port, ""),
    )
}

const CLIENTS: &str = "[[clients]]\nsystem_id = \"shop\"\npassword = \"secret1\"\n\n\
                       [[clients]]\nsystem_id = \"crm\"\npassword = \"secret2\"\n";
const ROUTES: &str = "[[routes]]\nname = \"default\"\ncarriers = [\"sim\"]\n";

/// Rewrites the config file and sends SIGHUP; waits for the gateway to log the outcome.
async fn reload(gateway: &Gateway, text: &str, outcome: &str) {
    let before = gateway.logs().matches(outcome).count();
    std::fs::write(gateway.dir.join("smppd.toml"), text).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &gateway.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while gateway.logs().matches(outcome).count() == before {
        assert!(
            Instant::now() < deadline,
            "no `{outcome}` after SIGHUP; logs:\n{}",
            gateway.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    let gateway = Gateway::start(&dir, &config_text(&dir, sim.addr.port(), CLIENTS, ROUTES));

    let mut shop = Client::connect(gateway.addr).await;
    shop.bind_ok(CommandId::BindTransceiver, "shop", "secret1")
        .await;
    let mut crm = Client::connect(gateway.addr).await;
    crm.bind_ok(CommandId::BindTransceiver, "crm", "secret2")
        .await;
    let first = shop.submit_ok(submit("33612345678", "before")).await;
    assert_eq!(route_of(&gateway, &first).await, "default");

    // crm goes, otp comes; French numbers get their own capped route.
    let clients = "[[clients]]\nsystem_id = \"shop\"\npassword = \"secret1\"\n\n\
                   [[clients]]\nsystem_id = \"otp\"\npassword = \"secret3\"\n";
    let routes = "[[routes]]\nname = \"france\"\ndestination_prefixes = [\"33\"]\n\
                  carriers = [\"sim\"]\nthroughput = 50\n\n"
        .to_owned()
        + ROUTES;
    reload(
        &gateway,
        &config_text(&dir, sim.addr.port(), clients, &routes),
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
    let mut otp = Client::connect(gateway.addr).await;
    otp.bind_ok(CommandId::BindTransmitter, "otp", "secret3")
        .await;
    let mut crm_again = Client::connect(gateway.addr).await;
    let refused = crm_again
        .bind(CommandId::BindTransmitter, "crm", "secret2")
        .await;
    assert_ne!(refused.command_status, CommandStatus::ESME_ROK);

    // An invalid file is refused with its errors; everything keeps running as it was.
    reload(&gateway, "[[routes]]\nname = 7\n", "reload refused").await;
    assert!(
        gateway.logs().contains("routes[0].name"),
        "{}",
        gateway.logs()
    );
    let third = shop.submit_ok(submit("33612345678", "still")).await;
    assert_eq!(route_of(&gateway, &third).await, "france");

    // A carrier change needs a restart: refused as a whole, the route change with it.
    let moved = config_text(&dir, sim.addr.port() + 1, clients, ROUTES);
    reload(&gateway, &moved, "reload refused").await;
    let fourth = shop.submit_ok(submit("33612345678", "still")).await;
    assert_eq!(route_of(&gateway, &fourth).await, "france");
    let resp = shop.request(Body::EnquireLink).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
}
