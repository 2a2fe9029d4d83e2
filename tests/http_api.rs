//! The shops' HTTP API through the real gateway process and the real carrier simulator: a
//! message sent over HTTP reaches the carrier (its submit log) and shows one status for all
//! its parts; API keys and client isolation; precise errors for bad requests; an
//! `Idempotency-Key` replays the first answer (also to 100 concurrent retries, and after a
//! kill -9 between the commit and the answer), and refuses another body.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    api_key_hash, carrier, client, eventually, http, preamble, route, temp_dir, wait_link_up,
    Gateway, HttpAnswer, Simulator,
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
    // Each part with the carrier that took it and its history, the receipt last.
    let part = &shown["parts"][0];
    assert_eq!(part["carrier"]["link"], "sim", "{shown}");
    let history = part["history"].as_array().unwrap();
    let last = history.last().unwrap();
    assert_eq!(last["state"], "delivered", "{shown}");
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .starts_with("receipt from sim"),
        "{shown}"
    );
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
    // With an Idempotency-Key, a DELETE's answer is replayed; the key on another request 422.
    let second = post(
        addr,
        None,
        json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": "Votre panier vous attend",
               "schedule_at": tomorrow.to_string()}),
    )
    .await;
    let second_path = format!("/api/v1/messages/{}", second.json["id"].as_str().unwrap());
    let key = Some("cart-8812-done");
    let first = http(addr, "DELETE", &second_path, SHOP, key, None)
        .await
        .unwrap();
    assert_eq!(
        (first.status, first.replayed),
        (200, false),
        "{}",
        first.json
    );
    let again = http(addr, "DELETE", &second_path, SHOP, key, None)
        .await
        .unwrap();
    assert_eq!(
        (again.status, again.replayed),
        (200, true),
        "{}",
        again.json
    );
    assert_eq!(again.json, first.json);
    let other = http(addr, "DELETE", &path, SHOP, key, None).await.unwrap();
    assert_eq!(other.status, 422, "{}", other.json);
    assert_eq!(other.json["error"], "idempotency_key_reused");
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
async fn a_batch_with_a_send_rate_reaches_the_carrier_at_that_pace() {
    let dir = temp_dir("http-batch-rate");
    let sim = Simulator::start(&dir, "sim", &[]);
    let gw = Gateway::start(&dir, &config(&dir, &sim));
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let addr = gw.http.unwrap();
    let batch = |send_rate: Value| {
        let messages: Vec<Value> = (0..20)
            .map(|k| {
                json!({"to": format!("+336123457{k:02}"), "from": "MABOUTIQUE",
                       "text": format!("Votre code promo {k}")})
            })
            .collect();
        json!({"send_rate": send_rate, "messages": messages})
    };
    let send = |body| {
        http(
            addr,
            "POST",
            "/api/v1/messages:batch",
            SHOP,
            None,
            Some(body),
        )
    };

    // A bad rate refuses the whole batch, naming the field.
    for (rate, status) in [(json!(0), 422), (json!(10_001), 422), (json!("10/s"), 400)] {
        let refused = send(batch(rate.clone())).await.unwrap();
        assert_eq!(refused.status, status, "{rate}: {}", refused.json);
        let message = refused.json["message"].as_str().unwrap();
        assert!(message.contains("send_rate"), "{message}");
    }
    assert!(sim.submits().is_empty());

    // 20 at 10 a second: the k-th leaves k/10 s after the batch came, not before.
    let before = jiff::Timestamp::now().as_millisecond();
    let answer = send(batch(json!(10))).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["accepted"], 20, "{}", answer.json);
    let results = answer.json["results"].as_array().unwrap();
    for result in &results[10..] {
        let accepted = &result["accepted"];
        assert_eq!(accepted["state"], "scheduled", "{accepted}");
        assert!(accepted["send_at"].is_string(), "{accepted}");
    }
    eventually(Duration::from_secs(15), "20 submits at the carrier", || {
        sim.submits().len() >= 20
    })
    .await;
    let mut arrivals = Vec::new();
    for submit in sim.submits() {
        let to = submit.submit_sm().destination.addr.to_string();
        let k: i64 = to.strip_prefix("336123457").unwrap().parse().unwrap();
        assert!(
            submit.at_ms >= before + k * 100,
            "message {k} reached the carrier {} ms after the batch came, before its turn",
            submit.at_ms - before
        );
        arrivals.push(submit.at_ms - before);
    }
    arrivals.sort_unstable();
    assert_eq!(arrivals.len(), 20);
    let spread = arrivals[19] - arrivals[0];
    eprintln!("20 messages at send_rate 10 reached the carrier over {spread} ms");
    assert!(
        spread >= 1_000,
        "spread over {spread} ms only: {arrivals:?}"
    );
}

#[tokio::test]
async fn idempotency_keys_past_their_window_leave_the_store() {
    let dir = temp_dir("http-idempotency-sweep");
    let sim = Simulator::start(&dir, "sim", &[]);
    let text =
        config(&dir, &sim).replace("[http_api]\n", "[http_api]\nidempotency_window = \"1s\"\n");
    let mut gw = Gateway::start(&dir, &text);
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let body = json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": "Commande 78 en route"});
    let first = post(gw.http.unwrap(), Some("order-78"), body).await;
    assert_eq!(first.status, 202, "{}", first.json);
    // The sweep runs every second with a 1 s window; its log line says when it removed it.
    eventually(
        Duration::from_secs(10),
        "a sweep that removes the key",
        || {
            gw.logs()
                .contains("idempotency: removed keys past their window")
        },
    )
    .await;
    assert!(gw.terminate().success());
    let store_config = smppd::config::Config::parse(&text).unwrap().store;
    let store = smppd::store::Store::open(&store_config).unwrap();
    assert_eq!(store.idempotent("shop", "order-78").unwrap(), None);
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

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Consent on, and a sending window for marketing to France that is closed today and the
/// next two days (Paris time) and open the four others; the first day it opens.
fn consent_and_window() -> (String, jiff::civil::Date) {
    use jiff::ToSpan;
    let today = jiff::Timestamp::now().in_tz("Europe/Paris").unwrap().date();
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
    let extra = format!(
        "\n[consent]\nenabled = true\nrequire_mention = \"warn\"\n\n\
         [[sending_windows]]\nname = \"shop-hours\"\ndays = [{}]\nfrom = \"09:00\"\n\
         until = \"18:00\"\nholidays = \"none\"\nspread = \"10m\"\n\n\
         [[window_policies]]\nclass = \"marketing\"\ndestinations = [\"+33\"]\n\
         window = \"shop-hours\"\n",
        open.join(", ")
    );
    (extra, today.checked_add(3.days()).unwrap())
}

async fn preview(addr: SocketAddr, key: Option<&str>, body: Value) -> HttpAnswer {
    http(addr, "POST", "/api/v1/preview", SHOP, key, Some(body))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_preview_says_what_a_send_would_do_and_stores_nothing() {
    let dir = temp_dir("http-preview");
    let sim = Simulator::start(&dir, "sim", &[]);
    let (extra, first_open) = consent_and_window();
    let gw = Gateway::start(&dir, &(config(&dir, &sim) + &extra));
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;
    let addr = gw.http.unwrap();

    // French typography: UCS-2 in two SMS as written, one in GSM 7-bit once transliterated.
    let text = "L’e-commerce progresse : aujourd’hui, 8 Français sur 10 achètent en ligne… \
                Livraison offerte dès 49 €";
    let answer = preview(
        addr,
        None,
        json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": text,
               "client_ref": "preview-1"}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let p = &answer.json;
    assert_eq!(
        (p["encoding_before"].clone(), p["segments_before"].clone()),
        (json!("ucs2"), json!(2)),
        "{p}"
    );
    assert_eq!(
        (p["encoding"].clone(), p["segments"].clone()),
        (json!("gsm7"), json!(1))
    );
    let replaced: Vec<&str> = p["replaced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["from"].as_str().unwrap())
        .collect();
    assert_eq!(replaced, ["’", "ç", "…"], "{p}");
    assert_eq!(p["cost"], json!({"amount": "0.045", "currency": "EUR"}));
    assert_eq!(
        (p["class"].clone(), p["class_from"].clone()),
        (json!("transactional"), json!("default_class"))
    );
    assert_eq!(p["state"], "queued");
    assert_eq!(p["send_at"], Value::Null);
    assert_eq!(p["opt_out_mention"], false);
    assert_eq!(p["suppressed"], false);
    assert_eq!(p["refusal"], Value::Null);
    assert_eq!(p["warnings"], json!([]));

    // Marketing outside its window waits for it; without "STOP au …" it is said so.
    let answer = preview(
        addr,
        None,
        json!({"to": "+33612345678", "from": "36123", "text": "Soldes -50% ce week-end",
               "class": "marketing"}),
    )
    .await;
    let p = &answer.json;
    assert_eq!(
        (answer.status, p["state"].clone()),
        (200, json!("deferred")),
        "{p}"
    );
    assert_eq!(p["class_from"], "tlv");
    let send_at: jiff::Timestamp = p["send_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        send_at.in_tz("Europe/Paris").unwrap().date(),
        first_open,
        "{p}"
    );
    assert_eq!(p["opt_out_mention"], false);
    assert!(
        p["warnings"][0]
            .as_str()
            .unwrap()
            .contains("opt-out mention"),
        "{p}"
    );
    // With the mention: nothing to warn of.
    let with_mention = json!({"to": "+33612345678", "from": "36123",
                              "text": "Soldes -50% STOP au 36123", "class": "marketing"});
    let answer = preview(addr, None, with_mention.clone()).await;
    assert_eq!(answer.json["opt_out_mention"], true, "{}", answer.json);
    assert_eq!(answer.json["warnings"], json!([]));
    // A validity that ends before the window opens: it would end expired.
    let mut short = with_mention.clone();
    short["validity"] = json!("1h");
    let answer = preview(addr, None, short).await;
    assert_eq!(answer.json["state"], "expired", "{}", answer.json);
    assert_eq!(answer.json["send_at"], Value::Null);
    assert!(answer.json["warnings"][0]
        .as_str()
        .unwrap()
        .contains("shop-hours"));

    // A number on the client's opt-out list: marketing to it would be suppressed (accepted
    // only to end REJECTED, on_suppressed = "receipt"), transactional still goes.
    let body = json!({"scope": "client:shop", "choice": "opted_out", "evidence": "form"});
    let (status, answer) = common::api(
        admin,
        "PUT",
        "/api/suppressions/%2B33612345699",
        None,
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let mut to_opted_out = with_mention.clone();
    to_opted_out["to"] = json!("0612345699");
    let answer = preview(addr, None, to_opted_out.clone()).await;
    assert_eq!(
        (
            answer.json["suppressed"].clone(),
            answer.json["state"].clone()
        ),
        (json!(true), json!("suppressed")),
        "{}",
        answer.json
    );
    to_opted_out["class"] = json!("transactional");
    let answer = preview(addr, None, to_opted_out).await;
    assert_eq!(
        (
            answer.json["suppressed"].clone(),
            answer.json["state"].clone()
        ),
        (json!(true), json!("queued")),
        "{}",
        answer.json
    );
    // Another client's list is not this one's.
    let theirs = http(addr, "POST", "/api/v1/preview", OTHER, None, Some(json!(
        {"to": "+33612345699", "from": "36123", "text": "Soldes STOP au 36123", "class": "marketing"}
    ))).await.unwrap();
    assert_eq!(theirs.json["suppressed"], false, "{}", theirs.json);

    // Bad input is refused exactly as a send refuses it.
    for body in [
        json!({"to": "+33612345678", "from": "SHOP", "text": "x", "schedule_at": "2026-12-07T08:00:00"}),
        json!({"to": "not a number", "from": "SHOP", "text": "x"}),
        json!({"to": "+33612345678", "from": "SHOP", "text": ""}),
        json!({"to": "+33612345678", "from": "SHOP", "text": "x".repeat(1000)}),
        json!({"to": "+33612345678", "from": "SHOP", "text": "x", "class": "promo"}),
        json!({"to": "+33612345678", "from": "SHOP", "text": "x", "colour": "red"}),
        json!({"to": "+33612345678", "from": "SHOP", "text": "x", "client_ref": ""}),
        json!({"to": "+33612345678", "from": "SHOP", "text": "x", "validity": "soon"}),
        json!({"to": "+33612345678", "from": "SHOP", "text": "x", "max_segments": 0}),
        json!(["not", "an", "object"]),
    ] {
        let previewed = preview(addr, None, body.clone()).await;
        let sent = post(addr, None, body.clone()).await;
        assert!((400..500).contains(&sent.status), "{body}: {}", sent.json);
        assert_eq!(
            (previewed.status, &previewed.json),
            (sent.status, &sent.json),
            "{body}"
        );
    }

    // Nothing was stored or sent, and no Idempotency-Key was kept: the key is free for a send
    // of another body.
    let answer = preview(addr, Some("order-5"), with_mention).await;
    assert_eq!(answer.status, 200);
    let sent = post(
        addr,
        Some("order-5"),
        json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": "Commande 5 expédiée"}),
    )
    .await;
    assert_eq!((sent.status, sent.replayed), (202, false), "{}", sent.json);
    let by_ref = http(
        addr,
        "GET",
        "/api/v1/messages?client_ref=preview-1",
        SHOP,
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(by_ref.status, 404, "{}", by_ref.json);
    status_of(addr, sent.json["id"].as_str().unwrap(), "delivered").await;
    assert_eq!(texts_at_carrier(&sim), ["Commande 5 expédiée"]);
}

#[tokio::test]
async fn a_client_ref_finds_and_cancels_its_message_and_a_batch_does_not_send_it_twice() {
    let dir = temp_dir("http-client-ref");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "20ms"]);
    let gw = Gateway::start(&dir, &config(&dir, &sim));
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let addr = gw.http.unwrap();
    let get = |credentials, path: String| async move {
        http(addr, "GET", &path, credentials, None, None).await
    };
    let delete = |credentials, path: String| async move {
        http(addr, "DELETE", &path, credentials, None, None).await
    };
    let by_ref = |r: &str| format!("/api/v1/messages?client_ref={r}");

    // The abandoned-cart reminder, for tomorrow, found by the cart's reference.
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let reminder = post(
        addr,
        None,
        json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": "Votre panier vous attend",
               "client_ref": "cart-8812", "schedule_at": tomorrow.to_string()}),
    )
    .await;
    assert_eq!(reminder.status, 202, "{}", reminder.json);
    let found = get(SHOP, by_ref("cart-8812")).await.unwrap();
    assert_eq!(found.status, 200, "{}", found.json);
    assert_eq!(found.json["id"], reminder.json["id"]);
    assert_eq!(found.json["status"], "scheduled");
    assert_eq!(found.json["client_ref"], "cart-8812");
    // The same body as GET by id.
    let by_id = get(
        SHOP,
        format!("/api/v1/messages/{}", reminder.json["id"].as_str().unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(found.json, by_id.json);

    // Unknown references, another client's, and no reference at all.
    for (credentials, path, status, field) in [
        (SHOP, by_ref("cart-0000"), 404, None),
        (OTHER, by_ref("cart-8812"), 404, None),
        (SHOP, by_ref(""), 400, Some("client_ref")),
        (SHOP, "/api/v1/messages".to_owned(), 400, Some("client_ref")),
        (
            SHOP,
            "/api/v1/messages?ref=cart-8812".to_owned(),
            400,
            Some("ref"),
        ),
    ] {
        for method in ["GET", "DELETE"] {
            let answer = http(addr, method, &path, credentials, None, None)
                .await
                .unwrap();
            assert_eq!(answer.status, status, "{method} {path}: {}", answer.json);
            let code = if status == 404 {
                "not_found"
            } else {
                "bad_request"
            };
            assert_eq!(answer.json["error"], code, "{method} {path}");
            if let Some(field) = field {
                assert!(
                    answer.json["message"].as_str().unwrap().contains(field),
                    "{method} {path}: {}",
                    answer.json
                );
            }
        }
    }

    // The order is placed: the reminder is cancelled by its reference, twice harmlessly.
    for _ in 0..2 {
        let cancelled = delete(SHOP, by_ref("cart-8812")).await.unwrap();
        assert_eq!(cancelled.status, 200, "{}", cancelled.json);
        assert_eq!(cancelled.json["status"], "cancelled");
        assert_eq!(cancelled.json["parts"][0]["state"], "deleted");
    }
    // One that has left cannot be.
    let order = post(
        addr,
        None,
        json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": "Commande 8812 expédiée",
               "client_ref": "order-8812"}),
    )
    .await;
    status_of(addr, order.json["id"].as_str().unwrap(), "delivered").await;
    let late = delete(SHOP, by_ref("order-8812")).await.unwrap();
    assert_eq!(
        (late.status, late.json["error"].clone()),
        (409, json!("already_sent"))
    );

    // A batch retried without its key (or with a new one) does not send a message whose
    // reference names one sent within the window, nor one named twice in the batch.
    let batch = json!({"messages": [
        {"to": "+33612345601", "from": "MABOUTIQUE", "text": "Relance 1", "client_ref": "r-1"},
        {"to": "+33612345602", "from": "MABOUTIQUE", "text": "Relance 2", "client_ref": "r-2"},
        {"to": "+33612345601", "from": "MABOUTIQUE", "text": "Relance 1", "client_ref": "r-1"},
        {"to": "+33612345603", "from": "MABOUTIQUE", "text": "Sans référence"},
    ]});
    let send = || {
        http(
            addr,
            "POST",
            "/api/v1/messages:batch",
            SHOP,
            None,
            Some(batch.clone()),
        )
    };
    let first = send().await.unwrap();
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(
        (
            first.json["accepted"].clone(),
            first.json["duplicates"].clone()
        ),
        (json!(3), json!(1)),
        "{}",
        first.json
    );
    let results = first.json["results"].as_array().unwrap();
    assert_eq!(
        (
            results[2]["status"].clone(),
            results[2]["duplicate"].clone()
        ),
        (json!(200), json!(true))
    );
    assert_eq!(results[2]["existing"]["id"], results[0]["accepted"]["id"]);
    let again = send().await.unwrap();
    assert_eq!(
        (
            again.json["accepted"].clone(),
            again.json["duplicates"].clone()
        ),
        (json!(1), json!(3)),
        "{}",
        again.json
    );
    assert_eq!(
        again.json["results"][1]["existing"]["id"],
        results[1]["accepted"]["id"]
    );
    assert_eq!(again.json["results"][1]["existing"]["client_ref"], "r-2");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let texts = texts_at_carrier(&sim);
    for (text, times) in [("Relance 1", 1), ("Relance 2", 1), ("Sans référence", 2)] {
        assert_eq!(
            texts.iter().filter(|t| *t == text).count(),
            times,
            "{text}: {texts:?}"
        );
    }
}

#[tokio::test]
async fn cancelling_a_campaign_ends_its_waiting_messages_and_only_those() {
    use smpp_proto::{Body, CommandId, Tag, Tlv, TlvValue};
    let dir = temp_dir("http-campaign-cancel");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "20ms"]);
    let gw = Gateway::start(&dir, &config(&dir, &sim));
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let addr = gw.http.unwrap();
    let tomorrow = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24)).to_string();
    let message = |text: &str, campaign: &str, at: Option<&str>| {
        let mut body = json!({"to": "+33612345678", "from": "MABOUTIQUE", "text": text,
                              "campaign": campaign});
        if let Some(at) = at {
            body["schedule_at"] = json!(at);
        }
        body
    };
    let mut waiting = Vec::new();
    for text in [
        "Relance panier 1".to_owned(),
        // A long one: three parts, each in the queue; one message.
        format!(
            "Relance panier ✨ {}",
            "n'oubliez pas vos articles. ".repeat(5)
        ),
    ] {
        let answer = post(addr, None, message(&text, "relance", Some(&tomorrow))).await;
        assert_eq!(answer.status, 202, "{}", answer.json);
        waiting.push(answer.json["id"].as_str().unwrap().to_owned());
    }
    // Kept: another campaign, another client's campaign of the same name, and one sent.
    let other_campaign = post(addr, None, message("Autre", "autre", Some(&tomorrow))).await;
    let theirs = http(
        addr,
        "POST",
        "/api/v1/messages",
        OTHER,
        None,
        Some(message("Leur relance", "relance", Some(&tomorrow))),
    )
    .await
    .unwrap();
    let sent = post(addr, None, message("Relance envoyée", "relance", None)).await;
    status_of(addr, sent.json["id"].as_str().unwrap(), "delivered").await;
    // And one over SMPP, asking for a receipt: it gets it, DELETED, as cancel_sm gives.
    let mut shop =
        common::Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let mut sm = common::submit_sm("33612345678", "Relance SMPP");
    sm.schedule_delivery_time = "000001000000000R".try_into().unwrap();
    let campaign = TlvValue::Octets(bytes::Bytes::from_static(b"relance"));
    sm.tlvs.push(Tlv::new(Tag(0x1501), campaign).unwrap());
    let over_smpp = shop.submit_ok(Body::SubmitSm(sm)).await;
    waiting.push(over_smpp.clone());

    let cancel = || {
        http(
            addr,
            "POST",
            "/api/v1/campaigns/relance/cancel",
            SHOP,
            Some("cancel-relance"),
            None,
        )
    };
    let answer = cancel().await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json, json!({"campaign": "relance", "cancelled": 3}));
    for id in &waiting {
        let shown = status_of(addr, id, "cancelled").await;
        assert!(shown["parts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["state"] == "deleted"));
    }
    assert_eq!(
        status_of(addr, waiting[1].as_str(), "cancelled").await["parts"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(shop.next_receipt().await, (over_smpp, "DELETED".to_owned()));
    status_of(
        addr,
        other_campaign.json["id"].as_str().unwrap(),
        "scheduled",
    )
    .await;
    let path = format!("/api/v1/messages/{}", theirs.json["id"].as_str().unwrap());
    let theirs = http(addr, "GET", &path, OTHER, None, None).await.unwrap();
    assert_eq!(theirs.json["status"], "scheduled", "{}", theirs.json);
    status_of(addr, sent.json["id"].as_str().unwrap(), "delivered").await;

    // A retry with the key gets the first answer; without one, there is nothing left.
    let retry = cancel().await.unwrap();
    assert_eq!((retry.status, retry.replayed), (200, true));
    assert_eq!(retry.json, answer.json);
    let again = http(
        addr,
        "POST",
        "/api/v1/campaigns/relance/cancel",
        SHOP,
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(again.json, json!({"campaign": "relance", "cancelled": 0}));
    assert_eq!(texts_at_carrier(&sim), ["Relance envoyée"]);
}
