//! `[log] format = "json"`: the gateway's log is one JSON object per line, each event's fields
//! at the top level, so that log shippers can index binds, unbinds and link state changes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{carrier, routed_config, temp_dir, Client, Gateway};
use serde_json::Value;
use smpp_proto::{Body, CommandId};
use std::time::Duration;

#[tokio::test]
async fn json_logs_have_one_object_per_line_with_the_events_fields() {
    let dir = temp_dir("logs-json");
    // A carrier nobody answers for: its link goes down, again and again.
    let carriers = [carrier("sim", 1, "")];
    let mut config = routed_config(&dir, &carriers, &["sim"], "", "");
    config.push_str("\n[log]\nformat = \"json\"\n");
    let gw = Gateway::start(&dir, &config);

    let mut esme = Client::bound(gw.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    let resp = esme.request(Body::Unbind).await;
    assert_eq!(resp.body, Body::UnbindResp);
    esme.expect_closed().await;

    let find = |message: &str| {
        let logs = gw.logs();
        logs.lines()
            .map(|line| {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .find(|event| event["message"] == message)
    };
    // The carrier's connection failure is logged by its own task, in its own time.
    common::eventually(
        Duration::from_secs(5),
        "`unbound` and `link down` events",
        || find("unbound").is_some() && find("link down").is_some(),
    )
    .await;
    let bound = find("bound").unwrap();
    assert_eq!(bound["level"], "INFO");
    assert_eq!(bound["client"], "shop");
    assert_eq!(bound["bind"], "transmitter");
    assert_eq!(bound["peer"], esme.stream.local_addr().unwrap().to_string());
    assert!(bound["timestamp"].is_string(), "{bound}");
    let unbound = find("unbound").unwrap();
    assert_eq!(unbound["client"], "shop");

    let down = find("link down").unwrap();
    assert_eq!(down["level"], "WARN");
    assert_eq!(down["carrier"], "sim");
    assert!(
        down["reason"].as_str().unwrap().contains("127.0.0.1:1"),
        "{down}"
    );
}
