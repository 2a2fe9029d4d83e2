//! Sending hours through the real gateway and the real simulator: marketing to France outside
//! its window is accepted, held until the window's next opening (its `schedule_at` and
//! history say so) and does not reach the carrier; transactional goes at once; marketing whose
//! validity ends before the opening ends EXPIRED with its receipt. The window is chosen around
//! the real clock: closed today and the next two days (Paris time), open on the four others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    carrier, client, get_ok, message_id, preamble, route, submit_sm, temp_dir, wait_link_up,
    Client, Gateway, Simulator,
};
use jiff::ToSpan;
use smpp_proto::{Body, CommandId, CommandStatus};
use std::time::Duration;

/// Client shop (MKT is marketing) and a route to the simulator; windows follow.
fn gateway_config(dir: &std::path::Path, sim: &Simulator) -> String {
    preamble(dir, "", "", "")
        + &client(
            "shop",
            "secret1",
            "default_class = \"transactional\"\nclass_by_service_type = { MKT = \"marketing\" }",
        )
        + &carrier("sim", sim.addr.port(), "")
        + &route("default", &["sim"], "")
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[tokio::test]
async fn marketing_outside_its_window_waits_and_transactional_goes() {
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
    let first_open = today.checked_add(3.days()).unwrap();
    let dir = temp_dir("sending-hours");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "50ms"]);
    let config = gateway_config(&dir, &sim)
        + &format!(
            "\n[[sending_windows]]\nname = \"shop-hours\"\ndays = [{}]\nfrom = \"09:00\"\n\
             until = \"18:00\"\nholidays = \"none\"\nspread = \"10m\"\n\n\
             [[window_policies]]\nclass = \"marketing\"\ndestinations = [\"+33\"]\n\
             window = \"shop-hours\"\n",
            open.join(", ")
        );
    let gw = Gateway::start(&dir, &config);
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;
    let mut shop = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;

    let mut promo = submit_sm("33612345678", "Soldes : -30 % ce week-end");
    promo.service_type = "MKT".try_into().unwrap();
    let held = message_id(&shop.request(Body::SubmitSm(promo.clone())).await);
    // The same, valid one hour only: it could never leave in time.
    let mut brief = promo.clone();
    brief.validity_period = "000000010000000R".try_into().unwrap();
    let expired = message_id(&shop.request(Body::SubmitSm(brief)).await);
    let order = shop
        .request(Body::SubmitSm(submit_sm(
            "33612345678",
            "Votre colis est en route",
        )))
        .await;
    assert_eq!(order.command_status, CommandStatus::ESME_ROK);
    let order = message_id(&order);

    // Held until 09:00 Paris on the first open day, plus at most 10 minutes.
    let message = get_ok(admin, &format!("/api/messages/{held}")).await;
    assert_eq!(message["state"], "queued", "{message}");
    let schedule: jiff::Timestamp = message["schedule_at"].as_str().unwrap().parse().unwrap();
    let opening = first_open
        .at(9, 0, 0, 0)
        .in_tz("Europe/Paris")
        .unwrap()
        .timestamp();
    assert!(
        schedule >= opening && schedule < opening + jiff::SignedDuration::from_mins(10),
        "{schedule} against {opening}"
    );
    let history = message["history"].to_string();
    assert!(
        history.contains("held by sending window shop-hours"),
        "{history}"
    );

    // The transactional message went, and got its receipt; the carrier saw nothing else.
    let (id, stat) = shop.next_receipt().await;
    let receipts = [(id, stat), shop.next_receipt().await];
    assert!(
        receipts.contains(&(order.clone(), "DELIVRD".to_owned())),
        "{receipts:?}"
    );
    assert!(
        receipts.contains(&(expired.clone(), "EXPIRED".to_owned())),
        "{receipts:?}"
    );
    let message = get_ok(admin, &format!("/api/messages/{expired}")).await;
    assert_eq!(message["state"], "expired", "{message}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent: Vec<String> = sim
        .submits()
        .iter()
        .map(|s| String::from_utf8_lossy(s.submit_sm().short_message.as_bytes()).into_owned())
        .collect();
    assert_eq!(sent, ["Votre colis est en route"]);
}

/// smppd under libfaketime, its wall clock starting at `utc` and running on from there (its
/// monotonic clock left alone, for the timers).
fn at_time(lib: &std::path::Path, utc: &str) -> Vec<String> {
    vec![
        "env".to_owned(),
        format!("LD_PRELOAD={}", lib.display()),
        format!("FAKETIME=@{utc}"),
        "FAKETIME_DONT_FAKE_MONOTONIC=1".to_owned(),
        "TZ=UTC".to_owned(),
    ]
}

#[tokio::test]
async fn marketing_at_21_31_in_paris_reaches_the_carrier_at_08_00_and_never_before() {
    let faketime = common::peers::libfaketime();
    let dir = temp_dir("sending-hours-clock");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "50ms"]);
    let config = gateway_config(&dir, &sim)
        + "\n[[sending_windows]]\nname = \"fr\"\npreset = \"fr-af2m-2026\"\nspread = \"10m\"\n\n\
           [[window_policies]]\nclass = \"marketing\"\ndestinations = [\"+33\"]\nwindow = \"fr\"\n";
    // Monday 7 December 2026, 21:31 in Paris (20:31 UTC).
    let wrapper = at_time(&faketime, "2026-12-07 20:31:00");
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut gw = Gateway::start_wrapped(&dir, &config, &wrapper);
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let mut shop = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let mut promo = submit_sm("33612345678", "Soldes : -30 % ce week-end");
    promo.service_type = "MKT".try_into().unwrap();
    promo.registered_delivery = 0;
    let held = message_id(&shop.request(Body::SubmitSm(promo)).await);
    let order = message_id(
        &shop
            .request(Body::SubmitSm(submit_sm(
                "33612345678",
                "Votre colis arrive",
            )))
            .await,
    );
    let message = get_ok(gw.admin.unwrap(), &format!("/api/messages/{held}")).await;
    let schedule = message["schedule_at"].as_str().unwrap().to_owned();
    assert!(schedule.starts_with("2026-12-08T07:"), "{message}");
    assert_eq!(shop.next_receipt().await, (order, "DELIVRD".to_owned()));
    drop(shop);

    let texts = |sim: &Simulator| -> Vec<String> {
        sim.submits()
            .iter()
            .map(|s| String::from_utf8_lossy(s.submit_sm().short_message.as_bytes()).into_owned())
            .collect()
    };
    // Tuesday 07:50 in Paris: still closed. Then 08:15, after the opening and its spread.
    for (utc, sent) in [("2026-12-08 06:50:00", 1), ("2026-12-08 07:15:00", 2)] {
        let wrapper = at_time(&faketime, utc);
        let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
        gw.restart_wrapped(&wrapper);
        wait_link_up(gw.admin.unwrap(), "sim").await;
        if sent == 1 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            assert_eq!(texts(&sim), ["Votre colis arrive"], "nothing before 08:00");
        } else {
            common::eventually(
                Duration::from_secs(10),
                "the promotion at the carrier",
                || texts(&sim).len() == sent,
            )
            .await;
            assert_eq!(texts(&sim)[1], "Soldes : -30 % ce week-end");
        }
    }
}
