//! The client-facing server over real TCP: binds, state rules, submits, queries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{client, config, submit, temp_dir, Client, Gateway};
use smpp_proto::pdu::QuerySm;
use smpp_proto::{Body, CommandId, CommandStatus, MessageState};

fn gateway(name: &str) -> Gateway {
    let dir = temp_dir(name);
    let text = config(
        &dir,
        "",
        &client("shop", "secret1", "allowed_sources = [\"Shop\"]"),
    );
    Gateway::start(&dir, &text)
}

#[tokio::test]
async fn bind_submit_query_unbind() {
    let gw = gateway("basic");
    let mut c = Client::connect(gw.addr).await;
    let resp = c.bind(CommandId::BindTransceiver, "shop", "secret1").await;
    assert_eq!(
        resp.command_status,
        CommandStatus::ESME_ROK,
        "{}",
        gw.logs()
    );
    let Body::BindTransceiverResp(bind) = &resp.body else {
        panic!("{resp:?}")
    };
    assert_eq!(bind.system_id.to_string(), "smppd-test");
    assert_eq!(
        bind.tlvs.get_int(smpp_proto::Tag::SC_INTERFACE_VERSION),
        Some(0x34)
    );

    let resp = c.request(submit("447700900123", "hello")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
    let Body::SubmitSmResp(r) = &resp.body else {
        panic!("{resp:?}")
    };
    let id = r.message_id.to_string();
    assert!(!id.is_empty() && id.len() <= 16);

    let resp = c
        .request(Body::QuerySm(QuerySm {
            message_id: id.as_str().try_into().unwrap(),
            source_addr_ton: 5,
            source_addr: "Shop".try_into().unwrap(),
            ..QuerySm::default()
        }))
        .await;
    let Body::QuerySmResp(q) = &resp.body else {
        panic!("{resp:?}")
    };
    assert_eq!(q.message_state, MessageState::ENROUTE);

    let resp = c.request(Body::Unbind).await;
    assert_eq!(resp.body, Body::UnbindResp);
    assert_eq!(c.recv().await, None, "connection closes after unbind");
}
