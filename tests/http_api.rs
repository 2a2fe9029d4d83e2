//! The shops' HTTP API through the real gateway process and the real carrier simulator: a
//! message sent over HTTP reaches the carrier (its submit log) and shows one status for all
//! its parts; API keys and client isolation; precise errors for bad requests; an
//! `Idempotency-Key` replays the first answer (also to 100 concurrent retries, and after a
//! kill -9 between the commit and the answer), and refuses another body.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    api_key_hash, carrier, client, http, preamble, route, temp_dir, wait_link_up, Gateway,
    HttpAnswer, Simulator,
};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const SHOP: (&str, &str) = ("shop", "shop-key-0123456789");
const OTHER: (&str, &str) = ("other", "other-key-0123456789");

fn config(dir: &Path, sim: &Simulator) -> String {
    let keys = |key: &str| {
        format!(
            "api_keys = [{:?}]\ndefault_class = \"transactional\"",
            api_key_hash(key)
        )
    };
    preamble(dir, "", "", "")
        + "[http_api]\nlisten = [\"127.0.0.1:0\"]\n\n"
        + &client(SHOP.0, "secret1", &keys(SHOP.1))
        + &client(OTHER.0, "secret1", &keys(OTHER.1))
        + &carrier("sim", sim.addr.port(), "")
        + &route("default", &["sim"], "")
        + "\n[[prices]]\nprefix = \"33\"\nper_segment = \"0.045\"\ncurrency = \"EUR\"\n"
        + "\n[numbering]\ndefault_country = \"FR\"\n"
}

async fn post(addr: SocketAddr, key: Option<&str>, body: Value) -> HttpAnswer {
    http(addr, "POST", "/api/v1/messages", SHOP, key, Some(body))
        .await
        .unwrap()
}

/// The message's status once it is `want` (within 10 s).
async fn status_of(addr: SocketAddr, id: &str, want: &str) -> Value {
    let path = format!("/api/v1/messages/{id}");
    let mut last = Value::Null;
    for _ in 0..200 {
        let answer = http(addr, "GET", &path, SHOP, None, None).await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.json);
        if answer.json["status"] == want {
            return answer.json;
        }
        last = answer.json;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} not {want}: {last}");
}

/// Texts the carrier received, decoded as GSM (unpacked) or UCS-2 per part, UDH skipped.
fn texts_at_carrier(sim: &Simulator) -> Vec<String> {
    sim.submits()
        .iter()
        .map(|s| {
            let sm = s.submit_sm();
            let data = sm.short_message.as_bytes();
            let text = if sm.esm_class & 0x40 != 0 {
                &data[usize::from(data[0]) + 1..]
            } else {
                data
            };
            smpp_proto::coding::decode_text(sm.data_coding, text)
        })
        .collect()
}

#[tokio::test]
async fn a_message_sent_over_http_reaches_the_carrier_with_one_status_for_its_parts() {
    let dir = temp_dir("http-api");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "20ms"]);
    let gw = Gateway::start(&dir, &config(&dir, &sim));
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let addr = gw.http.expect("the HTTP API listens");

    // One SMS.
    let answer = post(
        addr,
        None,
        json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": "Votre commande 8812 est en route",
               "client_ref": "order-8812", "tags": ["shipping"]}),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.json);
    let accepted = answer.json;
    assert_eq!(accepted["segments"], 1);
    assert_eq!(accepted["encoding"], "gsm7");
    assert_eq!(accepted["class"], "transactional");
    assert_eq!(accepted["state"], "queued");
    assert_eq!(
        accepted["cost"],
        json!({"amount": "0.045", "currency": "EUR"})
    );
    assert_eq!(accepted["replaced"], json!([]));
    let id = accepted["id"].as_str().unwrap();
    let shown = status_of(addr, id, "delivered").await;
    assert_eq!(shown["client_ref"], "order-8812");
    assert_eq!(shown["tags"], json!(["shipping"]));
    assert_eq!(shown["parts"].as_array().unwrap().len(), 1);

    // A long one, in UCS-2: three parts, one status, delivered once every part is.
    let long = format!(
        "Soldes d’hiver ✨ {}",
        "jusqu'à -50% sur tout le site. ".repeat(5)
    );
    let answer = post(
        addr,
        None,
        json!({"to": "0612345678", "from": "36123", "text": long, "class": "marketing",
               "campaign": "soldes-hiver"}),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.json);
    assert_eq!(answer.json["encoding"], "ucs2");
    assert_eq!(answer.json["class"], "marketing");
    let parts: Vec<&str> = answer.json["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(answer.json["segments"], 3);
    // A national number is priced by the default country.
    assert_eq!(
        answer.json["cost"],
        json!({"amount": "0.135", "currency": "EUR"})
    );
    // An emoji keeps UCS-2: nothing half transliterated.
    assert_eq!(answer.json["replaced"], json!([]));
    let shown = status_of(addr, parts[0], "delivered").await;
    assert_eq!(shown["campaign"], "soldes-hiver");
    assert_eq!(shown["parts"].as_array().unwrap().len(), 3);
    // Asked by any part's id, the same message.
    let by_last = status_of(addr, parts[2], "delivered").await;
    assert_eq!(by_last["id"], parts[0]);
    let carrier_texts = texts_at_carrier(&sim);
    assert_eq!(carrier_texts.len(), 4);
    assert_eq!(carrier_texts[1..].concat(), long);

    // French typography that GSM 7-bit lacks goes as its GSM look-alikes, in fewer SMS.
    let typographic = "« L’e-commerce … aujourd’hui »\u{202f}!";
    let answer = post(
        addr,
        None,
        json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": typographic}),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.json);
    assert_eq!(answer.json["encoding"], "gsm7");
    let replaced: Vec<&str> = answer.json["replaced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["from"].as_str().unwrap())
        .collect();
    assert!(
        replaced.contains(&"’") && replaced.contains(&"«"),
        "{replaced:?}"
    );
    status_of(addr, answer.json["id"].as_str().unwrap(), "delivered").await;
    let sent = texts_at_carrier(&sim).pop().unwrap();
    assert_eq!(sent, "\" L'e-commerce ... aujourd'hui \" !");
    // Sent as written when asked.
    let answer = post(
        addr,
        None,
        json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": typographic, "transliterate": "off"}),
    )
    .await;
    assert_eq!(answer.json["encoding"], "ucs2");

    // The abandoned-cart reminder, scheduled for tomorrow, is cancelled once the order is
    // placed: every part ends, a second cancel is harmless, and nothing reaches the carrier.
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let reminder = post(
        addr,
        None,
        json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": "Votre panier vous attend",
               "schedule_at": tomorrow.to_string()}),
    )
    .await;
    assert_eq!(reminder.json["state"], "scheduled", "{}", reminder.json);
    let path = format!("/api/v1/messages/{}", reminder.json["id"].as_str().unwrap());
    for _ in 0..2 {
        let cancelled = http(addr, "DELETE", &path, SHOP, None, None).await.unwrap();
        assert_eq!(cancelled.status, 200, "{}", cancelled.json);
        assert_eq!(cancelled.json["status"], "cancelled");
    }
    // A message that has left cannot be.
    let sent = http(
        addr,
        "DELETE",
        &format!("/api/v1/messages/{id}"),
        SHOP,
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(sent.status, 409, "{}", sent.json);
    assert_eq!(sent.json["error"], "already_sent");

    // Keys and clients: a wrong key is refused; another client's message does not exist.
    let wrong = http(
        addr,
        "GET",
        &format!("/api/v1/messages/{id}"),
        (SHOP.0, "nope"),
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(wrong.status, 401);
    let theirs = http(
        addr,
        "GET",
        &format!("/api/v1/messages/{id}"),
        OTHER,
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(theirs.status, 404);

    // Bad requests name what is wrong, and nothing reaches the carrier.
    for (body, status, code) in [
        (
            json!({"to": "+33612345678", "from": "SHOP", "text": "x", "schedule_at": "2026-12-07T08:00:00"}),
            422,
            "invalid_schedule",
        ),
        (
            json!({"to": "not a number", "from": "SHOP", "text": "x"}),
            422,
            "invalid_destination",
        ),
        (
            json!({"to": "+33612345678", "from": "SHOP", "text": ""}),
            422,
            "invalid",
        ),
        (
            json!({"to": "+33612345678", "from": "SHOP", "text": "x".repeat(1000)}),
            422,
            "too_many_segments",
        ),
        (
            json!({"to": "+33612345678", "from": "SHOP", "text": "x", "class": "promo"}),
            422,
            "invalid",
        ),
        (
            json!({"to": "+33612345678", "from": "SHOP", "text": "x", "colour": "red"}),
            400,
            "bad_request",
        ),
    ] {
        let answer = post(addr, None, body.clone()).await;
        assert_eq!(answer.status, status, "{body}: {}", answer.json);
        assert_eq!(answer.json["error"], code, "{body}: {}", answer.json);
        assert!(answer.json["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(sim.submits().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_replays_the_first_answer_even_to_a_hundred_at_once() {
    let dir = temp_dir("http-idempotency");
    let sim = Simulator::start(&dir, "sim", &[]);
    let gw = Gateway::start(&dir, &config(&dir, &sim));
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let addr = gw.http.unwrap();
    let body =
        json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": "Panier 42 : il vous attend"});

    let first = post(addr, Some("cart-42:reminder"), body.clone()).await;
    assert_eq!(first.status, 202, "{}", first.json);
    assert!(!first.replayed);
    let again = post(addr, Some("cart-42:reminder"), body.clone()).await;
    assert_eq!((again.status, again.replayed), (202, true));
    assert_eq!(again.json, first.json);
    // The same key with another body is a mistake, said so.
    let other = post(
        addr,
        Some("cart-42:reminder"),
        json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": "autre chose"}),
    )
    .await;
    assert_eq!(other.status, 422);
    assert_eq!(other.json["error"], "idempotency_key_reused");
    let bad_key = post(addr, Some("with space"), body.clone()).await;
    assert_eq!(bad_key.status, 400);

    // A hundred at once with a fresh key: one message; every answer its id or "in progress".
    let body = json!({"to": "+33612345679", "from": "MABOUTIQUE", "text": "Code 991204"});
    let answers = futures_util::future::join_all(
        (0..100).map(|_| post(addr, Some("otp-991204"), body.clone())),
    )
    .await;
    let mut ids = std::collections::BTreeSet::new();
    let mut conflicts = 0;
    for answer in &answers {
        match answer.status {
            202 => {
                ids.insert(answer.json["id"].as_str().unwrap().to_owned());
            }
            409 => {
                assert_eq!(answer.json["error"], "in_progress");
                conflicts += 1;
            }
            other => panic!("{other}: {}", answer.json),
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    eprintln!(
        "100 concurrent posts with one key: {} answered 202, {conflicts} 409",
        100 - conflicts
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let texts = texts_at_carrier(&sim);
    assert_eq!(
        texts.iter().filter(|t| *t == "Code 991204").count(),
        1,
        "{texts:?}"
    );
    assert_eq!(
        texts.iter().filter(|t| t.starts_with("Panier 42")).count(),
        1
    );
}

#[tokio::test]
async fn a_batch_answers_each_message_and_a_retried_batch_sends_nothing_twice() {
    let dir = temp_dir("http-batch");
    let sim = Simulator::start(&dir, "sim", &[]);
    let gw = Gateway::start(&dir, &config(&dir, &sim));
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let addr = gw.http.unwrap();
    let batch = json!({
        "campaign": "soldes-hiver",
        "class": "marketing",
        "messages": [
            {"to": "+33612345601", "from": "36123", "text": "Soldes : -50% STOP au 36123"},
            {"to": "not a number", "from": "36123", "text": "Soldes : -50% STOP au 36123"},
            {"to": "+33612345603", "from": "36123", "text": "Soldes : -30% STOP au 36123", "campaign": "vip"},
        ]
    });
    let send = || {
        http(
            addr,
            "POST",
            "/api/v1/messages:batch",
            SHOP,
            Some("campaign-1"),
            Some(batch.clone()),
        )
    };
    let first = send().await.unwrap();
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(
        (
            first.json["accepted"].clone(),
            first.json["refused"].clone()
        ),
        (json!(2), json!(1))
    );
    let results = first.json["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], 202);
    assert_eq!(results[1]["status"], 422);
    assert_eq!(results[1]["error"], "invalid_destination");
    assert_eq!(results[2]["accepted"]["class"], "marketing");
    // Batch defaults fill in what a message does not say.
    let shown = |result: &Value| {
        format!(
            "/api/v1/messages/{}",
            result["accepted"]["id"].as_str().unwrap()
        )
    };
    for (result, campaign) in [(&results[0], "soldes-hiver"), (&results[2], "vip")] {
        let message = http(addr, "GET", &shown(result), SHOP, None, None)
            .await
            .unwrap();
        assert_eq!(message.json["campaign"], campaign, "{}", message.json);
    }
    // The same batch again with its key: the same answers, nothing sent twice.
    let again = send().await.unwrap();
    assert_eq!(again.json["results"][0], first.json["results"][0]);
    assert_eq!(again.json["results"][2], first.json["results"][2]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.submits().len(), 2);
    // An empty batch, or one over max_batch, is refused whole.
    let empty = http(
        addr,
        "POST",
        "/api/v1/messages:batch",
        SHOP,
        None,
        Some(json!({"messages": []})),
    )
    .await
    .unwrap();
    assert_eq!(
        (empty.status, empty.json["error"].clone()),
        (422, json!("batch_size"))
    );
}

#[tokio::test]
async fn a_crash_between_the_commit_and_the_answer_is_answered_on_retry_with_the_same_message() {
    let dir = temp_dir("http-crash");
    let sim = Simulator::start(&dir, "sim", &[]);
    // The fault point aborts the process after the commit, before the answer goes out.
    let mut gw = Gateway::start_wrapped(
        &dir,
        &config(&dir, &sim),
        &["env", "SMPPD_FAULT=abort-after-http-commit"],
    );
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let body = json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": "Commande 77 confirmée"});
    let lost = http(
        gw.http.unwrap(),
        "POST",
        "/api/v1/messages",
        SHOP,
        Some("order-77"),
        Some(body.clone()),
    )
    .await;
    assert!(lost.is_err(), "the answer was not to come: {lost:?}");
    assert!(
        gw.wait_exit(Duration::from_secs(5)).is_some(),
        "the gateway aborted"
    );

    // The client retries with the same key once the gateway is back.
    gw.restart_wrapped(&[]);
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let retry = post(gw.http.unwrap(), Some("order-77"), body).await;
    assert_eq!(
        (retry.status, retry.replayed),
        (202, true),
        "{}",
        retry.json
    );
    let id = retry.json["id"].as_str().unwrap().to_owned();
    status_of(gw.http.unwrap(), &id, "delivered").await;
    let texts = texts_at_carrier(&sim);
    assert_eq!(
        texts
            .iter()
            .filter(|t| *t == "Commande 77 confirmée")
            .count(),
        1,
        "one SMS, not two: {texts:?}"
    );
}
