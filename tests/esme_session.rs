//! The client-facing server over real TCP: binds, state rules, submits, queries, timers,
//! windows and throttling. Every assertion is about PDUs on the wire (or the connection
//! closing); waits are for a PDU, bounded in time, never a sleep before an assertion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    client, config, message_id, query, raw_pdu, submit, submit_sm, temp_dir, Client, Gateway,
};
use smpp_proto::pdu::{
    Address, CancelSm, DataSm, DestAddress, ReplaceSm, ShortMessage, SubmitMulti, SubmitSm,
};
use smpp_proto::{Body, CommandId, CommandStatus, MessageState, Tlv, Tlvs};
use std::collections::HashSet;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// Bind failures are answered after this delay (`bind_failure_delay`), short for the tests.
const BIND_FAILURE_DELAY: Duration = Duration::from_millis(300);

/// A gateway with `session` keys in `[server.session]` and `clients` as accounts.
fn start(name: &str, session: &str, clients: &str) -> Gateway {
    let dir = temp_dir(name);
    let delay = BIND_FAILURE_DELAY.as_millis();
    let session = format!("bind_failure_delay = \"{delay}ms\"\n{session}");
    Gateway::start(&dir, &config(&dir, &session, clients))
}

/// The usual account: `shop`, sending as "Shop", with `extra` keys.
fn shop(extra: &str) -> String {
    client(
        "shop",
        "secret1",
        &format!("allowed_sources = [\"Shop\"]\n{extra}"),
    )
}

fn gateway(name: &str) -> Gateway {
    start(name, "", &shop(""))
}

/// The common submit_sm with some fields changed.
fn submit_with(change: impl FnOnce(&mut SubmitSm)) -> Body {
    let mut sm = submit_sm("447700900123", "hello");
    change(&mut sm);
    Body::SubmitSm(sm)
}

/// Connects and binds `shop` as a transceiver.
async fn bound(gw: &Gateway) -> Client {
    Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await
}

/// Submits the common message; asserts OK; returns its id.
async fn submit_ok(c: &mut Client) -> String {
    let resp = c.request(submit("447700900123", "hello")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
    message_id(&resp)
}

fn cancel(id: &str) -> Body {
    Body::CancelSm(CancelSm {
        message_id: id.try_into().unwrap(),
        source: Address::new(5, 0, "Shop".try_into().unwrap()),
        destination: Address::new(1, 1, "447700900123".try_into().unwrap()),
        ..CancelSm::default()
    })
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

    let id = submit_ok(&mut c).await;
    assert!(!id.is_empty() && id.len() <= 16);

    let resp = c.request(query(&id)).await;
    let Body::QuerySmResp(q) = &resp.body else {
        panic!("{resp:?}")
    };
    assert_eq!(q.message_state, MessageState::ENROUTE);

    let resp = c.request(Body::Unbind).await;
    assert_eq!(resp.body, Body::UnbindResp);
    c.expect_closed().await;
}

// ---- Bind errors ------------------------------------------------------------------------------

/// Binds with `kind` and returns the status after checking the failure contract: answered no
/// sooner than `bind_failure_delay`, then the connection closes.
async fn failed_bind(
    gw: &Gateway,
    kind: CommandId,
    system_id: &str,
    password: &str,
) -> CommandStatus {
    let mut c = Client::connect(gw.addr).await;
    let started = Instant::now();
    let resp = c.bind(kind, system_id, password).await;
    assert!(
        started.elapsed() >= BIND_FAILURE_DELAY,
        "a failed bind is answered after bind_failure_delay, this one after {:?}",
        started.elapsed()
    );
    assert_eq!(resp.command_id(), kind.response().unwrap(), "{resp:?}");
    c.expect_closed().await;
    resp.command_status
}

#[tokio::test]
async fn bind_unknown_system_id_is_rinvsysid() {
    let gw = gateway("bind-sysid");
    let status = failed_bind(&gw, CommandId::BindTransceiver, "nobody", "secret1").await;
    assert_eq!(status, CommandStatus::ESME_RINVSYSID);
}

#[tokio::test]
async fn bind_wrong_password_is_rinvpaswd_after_the_delay() {
    let gw = gateway("bind-password");
    let status = failed_bind(&gw, CommandId::BindTransmitter, "shop", "wrong").await;
    assert_eq!(status, CommandStatus::ESME_RINVPASWD);
}

#[tokio::test]
async fn bind_type_not_allowed_is_rbindfail() {
    let gw = start("bind-type", "", &shop("bind_types = [\"transmitter\"]"));
    let status = failed_bind(&gw, CommandId::BindReceiver, "shop", "secret1").await;
    assert_eq!(status, CommandStatus::ESME_RBINDFAIL);
    // The allowed type still binds.
    let _c = Client::bound(gw.addr, CommandId::BindTransmitter, "shop", "secret1").await;
}

#[tokio::test]
async fn bind_from_an_address_not_allowed_is_rbindfail() {
    // The test connects from 127.0.0.1, outside the allowed network.
    let gw = start("bind-ip", "", &shop("allowed_ips = [\"10.0.0.0/8\"]"));
    let status = failed_bind(&gw, CommandId::BindTransceiver, "shop", "secret1").await;
    assert_eq!(status, CommandStatus::ESME_RBINDFAIL);
}

#[tokio::test]
async fn max_binds_refuses_the_extra_bind_until_one_unbinds() {
    let gw = start("bind-max", "", &shop("max_binds = 2"));
    let mut current = bound(&gw).await;
    let _other = bound(&gw).await;
    let status = failed_bind(&gw, CommandId::BindTransceiver, "shop", "secret1").await;
    assert_eq!(status, CommandStatus::ESME_RBINDFAIL);

    // A client that binds again the moment it has its unbind_resp finds its slot free. The
    // next connection is open beforehand so that the bind follows the unbind_resp closely;
    // repeated, as the gap it probes is short.
    for _ in 0..30 {
        let mut next = Client::connect(gw.addr).await;
        let resp = current.request(Body::Unbind).await;
        assert_eq!(resp.body, Body::UnbindResp);
        let resp = next
            .bind(CommandId::BindTransceiver, "shop", "secret1")
            .await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        current.expect_closed().await;
        current = next;
    }
}

#[tokio::test]
async fn unbind_is_answered_after_the_requests_before_it() {
    let gw = gateway("unbind-last");
    let mut c = bound(&gw).await;
    let mut pending = HashSet::new();
    for _ in 0..5 {
        pending.insert(c.send(submit("447700900123", "last words")).await);
    }
    let unbind = c.send(Body::Unbind).await;
    // Every submit_sm_resp comes first: a client may close as soon as it has unbind_resp.
    while !pending.is_empty() {
        let resp = c.recv().await.expect("connection closed");
        assert_eq!(resp.command_id(), CommandId::SubmitSmResp, "{resp:?}");
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        assert!(pending.remove(&resp.sequence_number), "{resp:?}");
    }
    let resp = c.recv().await.expect("connection closed");
    assert_eq!(resp.body, Body::UnbindResp);
    assert_eq!(resp.sequence_number, unbind);
    c.expect_closed().await;
}

#[tokio::test]
async fn second_bind_on_a_bound_session_is_ralybnd() {
    let gw = gateway("bind-twice");
    let mut c = bound(&gw).await;
    let resp = c.bind(CommandId::BindTransmitter, "shop", "secret1").await;
    assert_eq!(resp.command_id(), CommandId::BindTransmitterResp);
    assert_eq!(resp.command_status, CommandStatus::ESME_RALYBND);
    // The session stays bound as it was.
    submit_ok(&mut c).await;
}

#[tokio::test]
async fn argon2_hashed_password_binds() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    // Small parameters keep the (debug-built) gateway's verification fast; the PHC string
    // carries them.
    let params = argon2::Params::new(1024, 1, 1, None).unwrap();
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"smppd-test-salt").unwrap();
    let phc = argon2.hash_password(b"hashed1", &salt).unwrap().to_string();
    let gw = start("bind-argon2", "", &client("crm", &phc, ""));

    let _c = Client::bound(gw.addr, CommandId::BindTransceiver, "crm", "hashed1").await;
    let status = failed_bind(&gw, CommandId::BindTransceiver, "crm", "hashed2").await;
    assert_eq!(status, CommandStatus::ESME_RINVPASWD);
}

// ---- State rules and malformed input ----------------------------------------------------------

#[tokio::test]
async fn submit_before_bind_is_rinvbndsts() {
    let gw = gateway("state-open");
    let mut c = Client::connect(gw.addr).await;
    let resp = c.request(submit("447700900123", "hello")).await;
    assert_eq!(resp.command_id(), CommandId::SubmitSmResp);
    assert_eq!(resp.command_status, CommandStatus::ESME_RINVBNDSTS);
    // The connection is still open and may bind.
    c.bind_ok(CommandId::BindTransmitter, "shop", "secret1")
        .await;
}

#[tokio::test]
async fn submit_on_a_receiver_bind_is_rinvbndsts() {
    let gw = gateway("state-rx");
    let mut c = Client::bound(gw.addr, CommandId::BindReceiver, "shop", "secret1").await;
    let resp = c.request(submit("447700900123", "hello")).await;
    assert_eq!(resp.command_id(), CommandId::SubmitSmResp);
    assert_eq!(resp.command_status, CommandStatus::ESME_RINVBNDSTS);
}

#[tokio::test]
async fn enquire_link_before_bind_is_answered() {
    let gw = gateway("state-enquire");
    let mut c = Client::connect(gw.addr).await;
    let resp = c.request(Body::EnquireLink).await;
    assert_eq!(resp.body, Body::EnquireLinkResp);
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
}

#[tokio::test]
async fn unknown_command_id_is_generic_nack_rinvcmdid() {
    let gw = gateway("unknown-command");
    let mut c = bound(&gw).await;
    // 0x00000111 is SMPP 5.0's broadcast_sm: not 3.4.
    c.send_raw(&raw_pdu(0x0000_0111, 4242, &[])).await;
    let nack = c.recv().await.unwrap();
    assert_eq!(nack.body, Body::GenericNack);
    assert_eq!(nack.command_status, CommandStatus::ESME_RINVCMDID);
    assert_eq!(nack.sequence_number, 4242);
    // The session goes on.
    submit_ok(&mut c).await;
}

/// Sends a header claiming `command_length`, expects generic_nack ESME_RINVCMDLEN and the
/// connection closing.
async fn bad_command_length(gw: &Gateway, command_length: u32) {
    let mut c = bound(gw).await;
    let mut header = raw_pdu(0x0000_0004, 77, &[]);
    header[..4].copy_from_slice(&command_length.to_be_bytes());
    c.send_raw(&header).await;
    let nack = c.recv().await.unwrap();
    assert_eq!(nack.body, Body::GenericNack, "{nack:?}");
    assert_eq!(nack.command_status, CommandStatus::ESME_RINVCMDLEN);
    c.expect_closed().await;
}

#[tokio::test]
async fn command_length_too_small_is_rinvcmdlen_then_close() {
    let gw = gateway("cmdlen-small");
    bad_command_length(&gw, 15).await;
}

#[tokio::test]
async fn command_length_too_large_is_rinvcmdlen_then_close() {
    let gw = gateway("cmdlen-large");
    bad_command_length(&gw, 1_000_000).await;
}

#[tokio::test]
async fn malformed_submit_is_answered_and_the_session_goes_on() {
    let gw = gateway("malformed-submit");
    let mut c = bound(&gw).await;
    // submit_sm whose destination_addr has 30 digits (SMPP 3.4 allows 20 + NUL).
    let mut body = Vec::new();
    body.push(0); // service_type
    body.extend_from_slice(&[5, 0]);
    body.extend_from_slice(b"Shop\0");
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(&[b'4'; 30]);
    body.push(0);
    // esm_class … sm_default_msg_id, then sm_length 2 and the text.
    body.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 2]);
    body.extend_from_slice(b"hi");
    c.send_raw(&raw_pdu(0x0000_0004, 901, &body)).await;
    let resp = c.recv().await.unwrap();
    assert_eq!(resp.command_id(), CommandId::SubmitSmResp, "{resp:?}");
    assert_eq!(resp.sequence_number, 901);
    assert_eq!(resp.command_status, CommandStatus::ESME_RINVDSTADR);
    submit_ok(&mut c).await;
}

// ---- Validation and the other submit commands ------------------------------------------------

async fn submit_status(c: &mut Client, body: Body) -> CommandStatus {
    let resp = c.request(body).await;
    assert_eq!(resp.command_id(), CommandId::SubmitSmResp, "{resp:?}");
    resp.command_status
}

#[tokio::test]
async fn invalid_fields_get_their_status() {
    let gw = gateway("validation");
    let mut c = bound(&gw).await;
    let cases = [
        (
            submit_with(|sm| sm.source.addr = "Other".try_into().unwrap()),
            CommandStatus::ESME_RINVSRCADR,
        ),
        // SMPP 5.0's ESME_RINVDCS for a reserved data_coding.
        (
            submit_with(|sm| sm.data_coding = 0x20),
            CommandStatus::ESME_RINVDCS,
        ),
        (
            submit_with(|sm| sm.validity_period = "not-a-time".try_into().unwrap()),
            CommandStatus::ESME_RINVEXPIRY,
        ),
        // esm_class message type 0x04: a delivery receipt, which ESMEs do not submit.
        (
            submit_with(|sm| sm.esm_class = 0x04),
            CommandStatus::ESME_RINVESMCLASS,
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            submit_status(&mut c, body.clone()).await,
            expected,
            "{body:?}"
        );
    }
    // None of them hurt the session.
    submit_ok(&mut c).await;
}

#[tokio::test]
async fn data_sm_with_message_payload_is_accepted() {
    let gw = gateway("data-sm");
    let mut c = bound(&gw).await;
    let mut tlvs = Tlvs::new();
    tlvs.push(Tlv::message_payload(vec![b'x'; 300].into()).unwrap());
    let resp = c
        .request(Body::DataSm(DataSm {
            source: Address::new(5, 0, "Shop".try_into().unwrap()),
            destination: Address::new(1, 1, "447700900123".try_into().unwrap()),
            tlvs,
            ..DataSm::default()
        }))
        .await;
    assert_eq!(resp.command_id(), CommandId::DataSmResp, "{resp:?}");
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
    let id = message_id(&resp);
    let resp = c.request(query(&id)).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
}

#[tokio::test]
async fn submit_multi_refuses_only_the_distribution_list() {
    let gw = gateway("submit-multi");
    let mut c = bound(&gw).await;
    let sme = |addr: &str| DestAddress::Sme(Address::new(1, 1, addr.try_into().unwrap()));
    let dest_address = vec![
        sme("447700900001"),
        DestAddress::DistributionList {
            dl_name: "friends".try_into().unwrap(),
        },
        sme("447700900002"),
    ];
    let resp = c
        .request(Body::SubmitMulti(SubmitMulti {
            source: Address::new(5, 0, "Shop".try_into().unwrap()),
            dest_address: dest_address.try_into().unwrap(),
            short_message: ShortMessage::new(b"to all".to_vec()).unwrap(),
            ..SubmitMulti::default()
        }))
        .await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
    let Body::SubmitMultiResp(r) = &resp.body else {
        panic!("{resp:?}")
    };
    assert!(!r.message_id.to_string().is_empty());
    let unsuccess: Vec<_> = r.unsuccess_sme.iter().collect();
    assert_eq!(unsuccess.len(), 1, "{unsuccess:?}");
    assert_eq!(
        unsuccess[0].error_status_code,
        CommandStatus::ESME_RCNTSUBDL
    );
    assert_eq!(unsuccess[0].destination.addr.to_string(), "friends");
}

#[tokio::test]
async fn query_of_another_clients_message_is_rqueryfail() {
    let clients = shop("") + &client("crm", "secret2", "");
    let gw = start("query-other", "", &clients);
    let mut shop = bound(&gw).await;
    let id = submit_ok(&mut shop).await;

    let mut crm = Client::bound(gw.addr, CommandId::BindTransceiver, "crm", "secret2").await;
    let resp = crm.request(query(&id)).await;
    assert_eq!(resp.command_id(), CommandId::QuerySmResp);
    assert_eq!(resp.command_status, CommandStatus::ESME_RQUERYFAIL);
    // Nor may it cancel it.
    let resp = crm.request(cancel(&id)).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_RCANCELFAIL);
    // The owner still sees it queued.
    let resp = shop.request(query(&id)).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
}

#[tokio::test]
async fn cancel_of_a_queued_message_then_query_shows_deleted() {
    let gw = gateway("cancel");
    let mut c = bound(&gw).await;
    let id = submit_ok(&mut c).await;

    let resp = c.request(cancel(&id)).await;
    assert_eq!(resp.body, Body::CancelSmResp);
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);

    let resp = c.request(query(&id)).await;
    let Body::QuerySmResp(q) = &resp.body else {
        panic!("{resp:?}")
    };
    assert_eq!(q.message_state, MessageState::DELETED);
    assert!(
        !q.final_date.to_string().is_empty(),
        "a final state has a final_date"
    );

    let resp = c.request(cancel(&id)).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_RCANCELFAIL);
}

#[tokio::test]
async fn replace_of_a_queued_message_is_ok() {
    let gw = gateway("replace");
    let mut c = bound(&gw).await;
    let id = submit_ok(&mut c).await;
    let resp = c
        .request(Body::ReplaceSm(ReplaceSm {
            message_id: id.as_str().try_into().unwrap(),
            source: Address::new(5, 0, "Shop".try_into().unwrap()),
            short_message: ShortMessage::new(b"hello again".to_vec()).unwrap(),
            ..ReplaceSm::default()
        }))
        .await;
    assert_eq!(resp.body, Body::ReplaceSmResp);
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
    let resp = c.request(query(&id)).await;
    let Body::QuerySmResp(q) = &resp.body else {
        panic!("{resp:?}")
    };
    assert_eq!(q.message_state, MessageState::ENROUTE);
}

// ---- Timers -----------------------------------------------------------------------------------

#[tokio::test]
async fn session_init_timeout_closes_an_unbound_connection() {
    let gw = start("timer-init", "session_init_timeout = \"300ms\"", &shop(""));
    let started = Instant::now();
    let mut c = Client::connect(gw.addr).await;
    c.expect_closed().await;
    // At the timeout: not before, and not long after (a timer of another value would fail).
    let after = started.elapsed();
    assert!(
        after >= Duration::from_millis(300) && after < Duration::from_millis(1500),
        "closed after {after:?}"
    );
}

#[tokio::test]
async fn idle_bound_session_gets_enquire_link() {
    let session = "enquire_link_interval = \"300ms\"\ninactivity_timeout = \"10s\"";
    let gw = start("timer-enquire", session, &shop(""));
    // Taken before the last traffic (the bind), so the idle time measured is never more than
    // the gateway's.
    let mut idle_since = Instant::now();
    let mut c = bound(&gw).await;
    for _ in 0..2 {
        let pdu = c.recv().await.unwrap();
        assert_eq!(pdu.body, Body::EnquireLink, "{pdu:?}");
        assert!(
            idle_since.elapsed() >= Duration::from_millis(300),
            "enquire_link after {:?} of idle",
            idle_since.elapsed()
        );
        idle_since = Instant::now();
        c.answer(&pdu).await;
    }
    // Answered, the session is alive and bound.
    submit_ok(&mut c).await;
}

#[tokio::test]
async fn silent_bound_client_is_unbound_then_closed() {
    // The enquire_link's response_timeout is longer than the inactivity timeout, so what ends
    // the session is inactivity: unbind, and with no unbind_resp, close.
    let session = "enquire_link_interval = \"300ms\"\ninactivity_timeout = \"1s\"\n\
                   response_timeout = \"10s\"\nunbind_timeout = \"300ms\"";
    let gw = start("timer-inactive", session, &shop(""));
    // Taken before the last thing the client sends (the bind).
    let started = Instant::now();
    let mut c = bound(&gw).await;
    let enquire = c.recv().await.unwrap();
    assert_eq!(enquire.body, Body::EnquireLink, "{enquire:?}");
    let unbind = c.recv().await.unwrap();
    assert_eq!(unbind.body, Body::Unbind, "{unbind:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "unbind after {:?}",
        started.elapsed()
    );
    c.expect_closed().await;
}

// ---- Windows and backpressure -----------------------------------------------------------------

#[tokio::test]
async fn pipelined_submits_beyond_the_window_are_all_answered() {
    const COUNT: u32 = 50;
    let gw = start("window", "", &shop("window = 4"));
    let mut c = bound(&gw).await;
    let mut sent = HashSet::new();
    for _ in 0..COUNT {
        sent.insert(c.send(submit("447700900123", "pipelined")).await);
    }
    let mut ids = HashSet::new();
    while !sent.is_empty() {
        let resp = c.recv().await.expect("connection closed");
        assert_eq!(resp.command_id(), CommandId::SubmitSmResp, "{resp:?}");
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        assert!(sent.remove(&resp.sequence_number), "{resp:?}");
        ids.insert(message_id(&resp));
    }
    assert_eq!(ids.len(), COUNT as usize, "every submit got its own id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_block_others() {
    let clients = shop("") + &client("other", "secret2", "");
    let gw = start("stuck-reader", "", &clients);

    // The stuck client: a small receive buffer, so the gateway's responses back up quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(gw.addr).await.unwrap();
    let mut stuck = Client::over(stream);
    stuck
        .bind_ok(CommandId::BindTransceiver, "shop", "secret1")
        .await;
    let flood = tokio::spawn(async move {
        // Write submits and never read, until the gateway stops reading (a write that cannot
        // complete for 300 ms), for at most 5 s.
        let pdu = smpp_proto::Pdu::new(1, submit("447700900123", "flood")).to_bytes();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut written = 0u32;
        while Instant::now() < deadline && written < 1_000_000 {
            let write = stuck.stream.write_all(&pdu);
            match tokio::time::timeout(Duration::from_millis(300), write).await {
                Ok(result) => result.unwrap(),
                Err(_) => return (written, true, stuck),
            }
            written += 1;
        }
        (written, false, stuck)
    });

    // Meanwhile another client submits as usual, while the flood lasts and after.
    let mut other = Client::bound(gw.addr, CommandId::BindTransceiver, "other", "secret2").await;
    let mut slowest = Duration::ZERO;
    let mut submitted = 0;
    while !flood.is_finished() || submitted < 10 {
        let started = Instant::now();
        let resp = other.request(submit("447700900123", "normal")).await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        slowest = slowest.max(started.elapsed());
        submitted += 1;
        assert!(submitted < 10_000, "bounded");
    }
    let (written, blocked, _stuck) = flood.await.unwrap();
    // The gateway stopped reading the stuck client once its responses backed up, rather
    // than buffering without bound.
    assert!(
        blocked,
        "{written} submits written and the gateway still reads"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "slowest submit of the other client took {slowest:?} (flood: {written} written, \
         blocked: {blocked})"
    );
}

// ---- Throttling -------------------------------------------------------------------------------

#[tokio::test]
async fn throughput_limit_throttles_the_excess() {
    let gw = start("throttle", "", &shop("throughput = 5"));
    let mut c = bound(&gw).await;
    let started = Instant::now();
    let mut pending = HashSet::new();
    for _ in 0..20 {
        pending.insert(c.send(submit("447700900123", "burst")).await);
    }
    let (mut ok_first_second, mut throttled) = (0, 0);
    while !pending.is_empty() {
        let resp = c.recv().await.expect("connection closed");
        assert!(pending.remove(&resp.sequence_number), "{resp:?}");
        match resp.command_status {
            CommandStatus::ESME_ROK if started.elapsed() < Duration::from_secs(1) => {
                ok_first_second += 1
            }
            CommandStatus::ESME_ROK => {}
            CommandStatus::ESME_RTHROTTLED => throttled += 1,
            other => panic!("unexpected {other} in {resp:?}"),
        }
    }
    assert!(throttled > 0, "20 submits at once over a limit of 5/s");
    assert!(
        ok_first_second <= 6,
        "{ok_first_second} accepted in the first second at 5/s"
    );
}
