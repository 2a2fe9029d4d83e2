//! Consent through the real gateway: an operator's opt-out (`smppctl suppress add`, the admin
//! API) holds back that client's marketing to the number, in any form the number is written,
//! while transactional messages and other clients' messages still go; a marketing message
//! that waited (scheduled) is held back at dispatch by an opt-out that came meanwhile; the
//! refused or rejected message never reaches the carrier (the real simulator's submit log);
//! an opt-out acknowledged is there after kill -9; and a STOP to a short code two clients
//! share goes on the list of the client that sent the number marketing from it, or on both
//! lists when neither did.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    api, carrier, client, get_ok, message_id, preamble, route, submit_sm, temp_dir, wait_link_up,
    Client, Gateway, Simulator,
};
use serde_json::json;
use smpp_proto::pdu::{Address, SubmitSm};
use smpp_proto::{Body, CommandId, CommandStatus};
use smppd::simulator::SimulatorHandle;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const SHOP: &str =
    "default_class = \"transactional\"\nclass_by_service_type = { MKT = \"marketing\" }";

/// A submit_sm to `to` (TON `ton`) from "Shop"; marketing with service_type MKT.
fn submit(ton: u8, to: &str, marketing: bool, schedule: &str) -> Body {
    let mut sm = SubmitSm {
        destination: Address::new(ton, 1, to.try_into().unwrap()),
        schedule_delivery_time: schedule.try_into().unwrap(),
        ..submit_sm("33600000000", "Les soldes commencent demain")
    };
    if marketing {
        sm.service_type = "MKT".try_into().unwrap();
    }
    Body::SubmitSm(sm)
}

fn gateway(name: &str, consent_extra: &str) -> (Gateway, Simulator) {
    let dir = temp_dir(name);
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "50ms"]);
    let config = preamble(&dir, "", "", "")
        + &client("shop", "secret1", SHOP)
        + &client("other", "secret1", SHOP)
        + &carrier("sim", sim.addr.port(), "")
        + &route("default", &["sim"], "")
        + &format!(
            "\n[consent]\nenabled = true\n{consent_extra}\n[numbering]\ndefault_country = \"FR\"\n"
        );
    (Gateway::start(&dir, &config), sim)
}

async fn opt_out(admin: SocketAddr, number: &str, scope: &str) -> serde_json::Value {
    let body = json!({"scope": scope, "choice": "opted_out", "evidence": "unsubscribe form"});
    let path = format!("/api/suppressions/{}", number.replace('+', "%2B"));
    let (status, answer) = api(admin, "PUT", &path, None, Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The numbers of a list or log answer, in order.
fn numbers_of(entries: &serde_json::Value) -> Vec<&str> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["number"].as_str().unwrap())
        .collect()
}

async fn state_of(admin: SocketAddr, id: &str, want: &str) -> serde_json::Value {
    let mut message = serde_json::Value::Null;
    common::eventually(Duration::from_secs(10), "the message's final state", || {
        message = common::get_ok_blocking(admin, &format!("/api/messages/{id}"));
        message["state"] == want
    })
    .await;
    message
}

#[tokio::test]
async fn an_opt_out_holds_back_marketing_to_the_number_in_every_form() {
    let (mut gw, sim) = gateway("consent-receipt", "");
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;

    // An operator opts +33612345678 out of shop's messages, with smppctl.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smppctl"))
        .args(["--admin", &gw.admin_url(), "suppress", "add", "0612345678"])
        .args([
            "--scope",
            "client:shop",
            "--evidence",
            "letter of 2026-12-01",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("+33612345678") && shown.contains("opted_out"),
        "{shown}"
    );

    let mut shop = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let mut other = Client::bound(gw.addr, CommandId::BindTransceiver, "other", "secret1").await;
    // Marketing to the number, written three ways: accepted, then REJECTED with a receipt.
    let mut rejected = Vec::new();
    for (ton, to) in [(1, "33612345678"), (2, "0612345678"), (0, "+33612345678")] {
        let resp = shop.request(submit(ton, to, true, "")).await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{to}");
        rejected.push(message_id(&resp));
    }
    for id in &rejected {
        let message = state_of(admin, id, "rejected").await;
        let detail = message["history"].as_array().unwrap().last().unwrap()["detail"].clone();
        assert!(detail.as_str().unwrap().contains("opted out"), "{detail}");
    }
    for _ in &rejected {
        let (id, stat) = shop.next_receipt().await;
        assert!(rejected.contains(&id), "{id}");
        assert_eq!(stat, "REJECTD");
    }
    // Transactional to the same number goes; so does the other client's marketing.
    let order = message_id(&shop.request(submit(1, "33612345678", false, "")).await);
    let promo = message_id(&other.request(submit(1, "33612345678", true, "")).await);
    state_of(admin, &order, "delivered").await;
    state_of(admin, &promo, "delivered").await;

    // A marketing message waiting for its time is held back by an opt-out that came since.
    let later = shop
        .request(submit(1, "33698765432", true, "000000000002000R"))
        .await;
    let later = message_id(&later);
    let answer = opt_out(admin, "+33698765432", "client:shop").await;
    assert_eq!(answer["suppressed"], true);
    assert_eq!(answer["previous"], serde_json::Value::Null);
    state_of(admin, &later, "rejected").await;

    // The carrier got the two that went, and nothing else.
    let mut sent: Vec<String> = sim
        .submits()
        .iter()
        .map(|s| s.submit_sm().destination.addr.to_string())
        .collect();
    sent.sort();
    assert_eq!(sent, ["33612345678", "33612345678"]);

    // The log has both opt-outs, in order; the list has both numbers.
    let log = get_ok(admin, "/api/consent-log").await;
    let numbers = numbers_of(&log);
    assert_eq!(numbers, ["+33612345678", "+33698765432"]);
    assert_eq!(log[0]["evidence"], "letter of 2026-12-01");
    assert_eq!(log[0]["origin"], "operator");

    // An opt-out answered is durable: kill -9 right after one, and it is there.
    opt_out(admin, "+33611111111", "client:shop").await;
    gw.kill();
    gw.restart();
    let admin = gw.admin.unwrap();
    let list = get_ok(admin, "/api/suppressions?scope=client:shop").await;
    let numbers = numbers_of(&list);
    assert_eq!(numbers, ["+33611111111", "+33612345678", "+33698765432"]);
}

#[tokio::test]
async fn refuse_mode_answers_the_configured_status_and_opt_in_lifts_it() {
    // Numbers kept as keyed hashes, too.
    let key = temp_dir("consent-key").join("numbers.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let (gw, sim) = gateway(
        "consent-refuse",
        &format!(
            "on_suppressed = \"refuse\"\nrefuse_status = \"0x401\"\nstore_numbers = \"hmac\"\n\
             hmac_key_file = {:?}\n",
            key.display().to_string()
        ),
    );
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;
    let entry = opt_out(admin, "+33612345678", "client:shop").await;
    let hashed = entry["number"].as_str().unwrap();
    assert!(
        hashed.starts_with("hmac:") && !hashed.contains("612345678"),
        "{entry}"
    );
    // Any form of the number finds its entry; nothing lists it in clear.
    let found = get_ok(admin, "/api/suppressions/0612345678?scope=client:shop").await;
    assert_eq!(found["number"], hashed);
    let mut shop = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let resp = shop.request(submit(1, "33612345678", true, "")).await;
    assert_eq!(resp.command_status, CommandStatus(0x401));

    // Opted back in (evidence required), the same submit goes.
    let path = "/api/suppressions/%2B33612345678";
    let no_evidence = json!({"scope": "client:shop", "choice": "opted_in", "evidence": " "});
    let (status, _) = api(admin, "PUT", path, None, Some(no_evidence)).await;
    assert_eq!(status, 400);
    let body = json!({"scope": "client:shop", "choice": "opted_in", "evidence": "START by phone"});
    let (status, answer) = api(admin, "PUT", path, None, Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["previous"], "opted_out");
    assert_eq!(answer["suppressed"], false);
    let resp = shop.request(submit(1, "33612345678", true, "")).await;
    let id = message_id(&resp);
    state_of(admin, &id, "delivered").await;
    assert_eq!(sim.submits().len(), 1);

    // Bad requests name what is wrong.
    for (path, needle) in [
        ("/api/suppressions/%2B33612345678", "scope is required"),
        (
            "/api/suppressions/abc?scope=client:shop",
            "not a phone number",
        ),
        (
            "/api/suppressions/%2B33612345678?scope=route:x",
            "not a scope",
        ),
    ] {
        let (status, answer) = api(admin, "GET", path, None, None).await;
        assert_eq!(status, 400, "{path}");
        assert!(
            answer["error"].as_str().unwrap().contains(needle),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn marketing_without_an_opt_out_mention_is_counted_or_refused() {
    let with_text = |text: &str, marketing: bool| {
        let Body::SubmitSm(mut sm) = submit(1, "33612345678", marketing, "") else {
            unreachable!()
        };
        sm.short_message = smpp_proto::pdu::ShortMessage::new(text.as_bytes().to_vec()).unwrap();
        Body::SubmitSm(sm)
    };
    for (mode, refused) in [("warn", false), ("refuse", true)] {
        let (gw, _sim) = gateway(
            &format!("consent-mention-{mode}"),
            &format!("require_mention = \"{mode}\"\nmention_status = \"0x00000402\"\n"),
        );
        let admin = gw.admin.unwrap();
        wait_link_up(admin, "sim").await;
        let mut shop = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
        let without = shop
            .request(with_text("Soldes -50% ce week-end", true))
            .await;
        if refused {
            assert_eq!(without.command_status, CommandStatus(0x402), "{mode}");
        } else {
            message_id(&without);
        }
        // With the mention, in any case; transactional needs none.
        for (text, marketing) in [
            ("Soldes -50% ce week-end. Stop au 36123", true),
            ("Soldes -50% ce week-end. STOP SMS", true),
            ("Votre commande 1234 est en route", false),
        ] {
            let resp = shop.request(with_text(text, marketing)).await;
            message_id(&resp);
        }
        let missing =
            common::metric_sample(admin, "smppd_mention_missing_total{client=\"shop\"}").await;
        assert_eq!(missing, Some(1.0), "{mode}");
    }
}

/// The next deliver_sm the client gets (answered), skipping other PDUs.
async fn next_deliver_sm(client: &mut Client) -> SubmitSm {
    loop {
        let pdu = client.recv().await.expect("connection closed");
        client.answer(&pdu).await;
        if let Body::DeliverSm(sm) = pdu.body {
            return sm;
        }
    }
}

#[tokio::test]
async fn a_stop_reply_opts_the_number_out_in_the_mos_own_commit() {
    let dir = temp_dir("consent-mo");
    let log = dir.join("carrier.log");
    let sim = common::sim_in_process(|c| c.log_submits = Some(log.clone())).await;
    let shop_keys =
        format!("{SHOP}\nconfirmation_text = \"{CONFIRMATION}\"\nhelp_text = \"{HELP}\"");
    let clients = client("shop", "secret1", &shop_keys);
    let mut gw = Gateway::start(&dir, &mo_config(&dir, &sim, &clients, ""));
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let mut shop = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;

    // "Stop 🛑" in UCS-2 from a French mobile to the shop's short code. The MO reaches the
    // shop, saying what it did.
    let action = stop_relayed(&sim, "33612345678", "Stop 🛑", &mut shop).await;
    assert_eq!(action, b"opted_out\0");
    // Acknowledged to the carrier means stored: kill -9 now, and the opt-out is there.
    gw.kill();
    gw.restart();
    let admin = gw.admin.unwrap();
    let entry = get_ok(admin, "/api/suppressions/%2B33612345678?scope=client:shop").await;
    assert_eq!(entry["suppressed"], true, "{entry}");
    assert_eq!(entry["origin"], "mo");
    assert_eq!(entry["keyword"], "STOP");

    // Marketing to the number is held back; transactional goes.
    let mut shop = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let promo = message_id(&shop.request(submit(2, "0612345678", true, "")).await);
    let order = message_id(&shop.request(submit(1, "33612345678", false, "")).await);
    state_of(admin, &promo, "rejected").await;
    state_of(admin, &order, "delivered").await;

    // "Start" opts back in; then marketing goes again.
    sim.send_mo("smppd", "33612345678", "36123", "start")
        .await
        .unwrap();
    let entry = get_ok(admin, "/api/suppressions/%2B33612345678?scope=client:shop").await;
    assert_eq!(entry["suppressed"], false, "{entry}");
    assert_eq!(entry["previous"], "opted_out");
    let promo = message_id(&shop.request(submit(1, "33612345678", true, "")).await);
    state_of(admin, &promo, "delivered").await;

    // Not a keyword: relayed as it is, consent untouched.
    sim.send_mo("smppd", "33612345678", "36123", "Non stop, merci")
        .await
        .unwrap();
    let consent_log = get_ok(admin, "/api/consent-log").await;
    assert_eq!(consent_log.as_array().unwrap().len(), 2, "{consent_log}");
    // But it reads like one: counted for the operator, no action taken.
    let suspect = "smppd_mo_optout_suspect_total{client=\"shop\"}";
    assert_eq!(common::metric_sample(admin, suspect).await, Some(1.0));

    // The confirmation of the first STOP went out: from the short code, to the number. (Once,
    // or twice if the kill came between the carrier taking it and smppd recording that: a
    // crash resends what it had not recorded as sent.)
    let confirmations = || sent_texts(&log, CONFIRMATION);
    common::eventually(
        Duration::from_secs(10),
        "the confirmation at the carrier",
        || !confirmations().is_empty(),
    )
    .await;
    let first = confirmations();
    let sm = first[0].submit_sm();
    assert_eq!(sm.destination.addr.to_string(), "33612345678");
    assert_eq!(sm.short_message.as_bytes(), CONFIRMATION.as_bytes());
    let entry = get_ok(admin, "/api/suppressions/%2B33612345678?scope=client:shop").await;
    assert!(entry["confirmed_at"].is_string(), "{entry}");

    // STOP again within 24 h: recorded, but no second confirmation.
    sim.send_mo("smppd", "33612345678", "36123", "STOP")
        .await
        .unwrap();
    let consent_log = get_ok(admin, "/api/consent-log").await;
    let entries = consent_log.as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2]["previous"], "opted_in");
    // A marketing message sent after it is held back and reaches the carrier no sooner than
    // a confirmation would have: once it has ended, nothing more is coming.
    let promo = message_id(&shop.request(submit(1, "33612345678", true, "")).await);
    state_of(admin, &promo, "rejected").await;
    let order = message_id(&shop.request(submit(1, "33612345678", false, "")).await);
    state_of(admin, &order, "delivered").await;
    assert_eq!(confirmations().len(), first.len());

    // HELP ("Aide ?") is answered with the client's text, once per interval; the MO still
    // reaches the client, and consent is untouched.
    let answers = || sent_texts(&log, HELP);
    sim.send_mo("smppd", "33677777777", "36123", "Aide ?")
        .await
        .unwrap();
    common::eventually(
        Duration::from_secs(10),
        "the HELP answer at the carrier",
        || answers().len() == 1,
    )
    .await;
    assert_eq!(
        answers()[0].submit_sm().destination.addr.to_string(),
        "33677777777"
    );
    sim.send_mo("smppd", "33677777777", "36123", "HELP")
        .await
        .unwrap();
    let order = message_id(&shop.request(submit(1, "33677777777", false, "")).await);
    state_of(admin, &order, "delivered").await;
    assert_eq!(answers().len(), 1, "one answer per interval");
    let consent_log = get_ok(admin, "/api/consent-log").await;
    assert_eq!(consent_log.as_array().unwrap().len(), 3);
}

/// Sends `text` from `from` to 36123 through the carrier; returns what the MO, relayed to
/// `client`, says it did to consent (TLV 0x1504).
async fn stop_relayed(
    sim: &SimulatorHandle,
    from: &str,
    text: &str,
    client: &mut Client,
) -> Vec<u8> {
    sim.send_mo("smppd", from, "36123", text).await.unwrap();
    let mo = next_deliver_sm(client).await;
    let action = mo.tlvs.iter().find(|t| t.tag().0 == 0x1504).unwrap();
    action.value_bytes().to_vec()
}

/// A gateway config with `clients` (tables), carrier `sim` (the simulator in process) on one
/// route, MO to 36123 routed to shop, and consent on with `consent_extra` (`[consent]` keys and
/// tables).
fn mo_config(dir: &Path, sim: &SimulatorHandle, clients: &str, consent_extra: &str) -> String {
    preamble(dir, "", "", "")
        + clients
        + &carrier("sim", sim.addr().port(), "")
        + &route("default", &["sim"], "")
        + &common::mo_route("36123", "shop")
        + &format!(
            "\n[consent]\nenabled = true\n{consent_extra}\n[numbering]\ndefault_country = \"FR\"\n"
        )
}

/// The submits in the carrier's log whose text is `text`.
fn sent_texts(log: &Path, text: &str) -> Vec<common::LoggedSubmit> {
    common::read_submit_log(log)
        .into_iter()
        .filter(|s| s.submit_sm().short_message.as_bytes() == text.as_bytes())
        .collect()
}

/// The answer to HELP.
const HELP: &str = "MaBoutique SAS, 1 rue X, Paris. Service client: 01 23 45 67 89";

/// GSM 7-bit, one SMS.
const CONFIRMATION: &str = "MaBoutique: vous ne recevrez plus nos offres par SMS.";

#[tokio::test]
async fn an_import_is_checked_whole_before_anything_is_written() {
    let (gw, _sim) = gateway("consent-import", "");
    let admin = gw.admin.unwrap();
    let dir = temp_dir("consent-import-files");
    let smppctl = |file: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_smppctl"))
            .args(["--admin", &gw.admin_url(), "suppress", "import"])
            .arg(file)
            .output()
            .unwrap()
    };
    let line = |number: &str, choice: &str| {
        json!({"number": number, "scope": "client:shop", "choice": choice,
               "evidence": "CRM export 2026-12-01"})
        .to_string()
    };
    // Line 2 is no number: refused, naming the line; nothing of the file is written.
    let bad = dir.join("bad.ndjson");
    let text = [
        line("+33611111111", "opted_out"),
        line("not-a-number", "opted_out"),
    ];
    std::fs::write(&bad, text.join("\n")).unwrap();
    let out = smppctl(&bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2") && err.contains("not a phone number"),
        "{err}"
    );
    let list = get_ok(admin, "/api/suppressions?scope=client:shop").await;
    assert_eq!(list, json!([]));

    // A good file, a national form and a blank line included.
    let good = dir.join("good.ndjson");
    let text = [
        line("+33611111111", "opted_out"),
        String::new(),
        line("0622222222", "opted_out"),
        line("+33633333333", "opted_out"),
    ];
    std::fs::write(&good, text.join("\n")).unwrap();
    let out = smppctl(&good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 3"));
    let list = get_ok(admin, "/api/suppressions?scope=client:shop").await;
    let numbers = numbers_of(&list);
    assert_eq!(numbers, ["+33611111111", "+33622222222", "+33633333333"]);
    assert_eq!(list[0]["origin"], "import");
}

#[tokio::test]
async fn a_stop_split_over_two_parts_is_read_whole() {
    let sim = common::sim_in_process(|_| {}).await;
    let dir = temp_dir("consent-parts");
    let config = mo_config(&dir, &sim, &client("shop", "secret1", SHOP), "");
    let gw = Gateway::start(&dir, &config);
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;
    // "ST" + "OP merci" in UCS-2, each part with its concatenation UDH (ref 0x42, 2 parts).
    for (seq, text) in [(1u8, "ST"), (2, "OP merci")] {
        let mut short_message = vec![0x05, 0x00, 0x03, 0x42, 2, seq];
        short_message.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        let part = SubmitSm {
            source: Address::new(1, 1, "33612345678".try_into().unwrap()),
            destination: Address::new(0, 1, "36123".try_into().unwrap()),
            esm_class: 0x40,
            data_coding: 8,
            short_message: smpp_proto::pdu::ShortMessage::new(short_message).unwrap(),
            ..SubmitSm::default()
        };
        sim.send_mo_pdu("smppd", part).await.unwrap();
        let entry = api(
            admin,
            "GET",
            "/api/suppressions/%2B33612345678?scope=client:shop",
            None,
            None,
        )
        .await;
        // Not after the first part: "ST" is no keyword. After the second: opted out.
        assert_eq!(entry.0, if seq == 1 { 404 } else { 200 }, "{entry:?}");
    }
}

/// Marketing from the short code 36123 to `to` (international).
fn promo_from_code(to: &str) -> Body {
    let Body::SubmitSm(mut sm) = submit(1, to, true, "") else {
        unreachable!("submit makes a submit_sm")
    };
    sm.source = Address::new(3, 0, "36123".try_into().unwrap());
    Body::SubmitSm(sm)
}

/// Sent by `other` to confirm an opt-out (GSM 7-bit, one SMS).
const OTHER_CONFIRMATION: &str = "AutreBoutique: plus de SMS promotionnels.";

#[tokio::test]
async fn a_stop_to_a_shared_short_code_goes_to_the_client_that_sent_marketing_last() {
    let dir = temp_dir("consent-shared-code");
    let log = dir.join("carrier.log");
    let sim = common::sim_in_process(|c| c.log_submits = Some(log.clone())).await;
    let confirming = |text: &str| format!("{SHOP}\nconfirmation_text = \"{text}\"");
    let clients = client("shop", "secret1", &confirming(CONFIRMATION))
        + &client("other", "secret1", &confirming(OTHER_CONFIRMATION));
    let codes = "[[consent.short_codes]]\nnumber = \"36123\"\nclients = [\"shop\", \"other\"]\n";
    let mut gw = Gateway::start(&dir, &mo_config(&dir, &sim, &clients, codes));
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let bound = |gw: &Gateway, system_id: &'static str| {
        Client::bound(gw.addr, CommandId::BindTransceiver, system_id, "secret1")
    };

    // other sends +33612345678 marketing from the shared code; the carrier takes it. Recorded
    // with the carrier's acceptance: kill -9 after it, and it is still known.
    let mut other = bound(&gw, "other").await;
    let promo = message_id(&other.request(promo_from_code("33612345678")).await);
    state_of(gw.admin.unwrap(), &promo, "delivered").await;
    drop(other);
    gw.kill();
    gw.restart();
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;
    let (mut shop, mut other) = (bound(&gw, "shop").await, bound(&gw, "other").await);

    // The number replies STOP to the code: other's list, not shop's. The MO still reaches shop,
    // the code's [[mo_routes]] client, saying what it did.
    let action = stop_relayed(&sim, "33612345678", "Stop", &mut shop).await;
    assert_eq!(action, b"opted_out\0");
    let suppressed = |number: &str, client: &str| {
        let path = format!("/api/suppressions/%2B{number}?scope=client:{client}");
        async move { api(admin, "GET", &path, None, None).await }
    };
    let (status, entry) = suppressed("33612345678", "other").await;
    assert_eq!(
        (status, &entry["suppressed"]),
        (200, &json!(true)),
        "{entry}"
    );
    assert_eq!(suppressed("33612345678", "shop").await.0, 404);
    // other's next marketing to the number is held back; shop's still goes.
    let held = message_id(&other.request(promo_from_code("33612345678")).await);
    let goes = message_id(&shop.request(promo_from_code("33612345678")).await);
    state_of(admin, &held, "rejected").await;
    state_of(admin, &goes, "delivered").await;

    // A STOP from a number neither sent marketing to: on both lists, logged and counted.
    sim.send_mo("smppd", "33698765432", "36123", "STOP")
        .await
        .unwrap();
    for client in ["shop", "other"] {
        let (status, entry) = suppressed("33698765432", client).await;
        assert_eq!(
            (status, &entry["suppressed"]),
            (200, &json!(true)),
            "{entry}"
        );
    }
    let counted = "smppd_consent_unattributed_total{code=\"36123\"}";
    assert_eq!(common::metric_sample(admin, counted).await, Some(1.0));
    common::eventually(
        Duration::from_secs(10),
        "consent.unattributed logged",
        || {
            gw.logs()
                .lines()
                .any(|l| l.contains("consent.unattributed") && l.contains("+33698765432"))
        },
    )
    .await;
    let held = [
        message_id(&shop.request(promo_from_code("33698765432")).await),
        message_id(&other.request(promo_from_code("33698765432")).await),
    ];
    for id in &held {
        state_of(admin, id, "rejected").await;
    }
    let log_entries = get_ok(admin, "/api/consent-log").await;
    assert_eq!(log_entries.as_array().unwrap().len(), 3, "{log_entries}");

    // One confirmation each: the attributed client's text, and for the unattributed STOP the
    // text of the client the MO is routed to.
    common::eventually(Duration::from_secs(10), "both confirmations", || {
        sent_texts(&log, OTHER_CONFIRMATION).len() == 1 && sent_texts(&log, CONFIRMATION).len() == 1
    })
    .await;
    let to = |text: &str| {
        sent_texts(&log, text)[0]
            .submit_sm()
            .destination
            .addr
            .to_string()
    };
    assert_eq!(to(OTHER_CONFIRMATION), "33612345678");
    assert_eq!(to(CONFIRMATION), "33698765432");
}
