//! Hostile clients against the real gateway binary over real sockets: random bytes, random
//! frames, truncated PDUs, out-of-bounds command_length, requests before bind, bind floods,
//! password guessing (and its timing), slowloris, thousands of idle connections, and a client
//! that never reads. Each case checks the status or the closed connection SMPP 3.4 calls for,
//! then that the gateway still serves a normal client and that its RSS stayed bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    carrier_table, message_id, preamble, raw_pdu, route, sim_in_process, submit, submit_sm,
    temp_dir, Client, Gateway,
};
use smpp_proto::pdu::{
    Address, AlertNotification, CancelSm, DataSm, DestAddress, Outbind, QuerySm, ReplaceSm,
    SubmitMulti, SubmitSm,
};
use smpp_proto::{Body, CommandId, CommandStatus, Pdu, Tlv};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// `bind_failure_delay` in these tests.
const BIND_FAILURE_DELAY: Duration = Duration::from_millis(300);
/// `session_init_timeout` unless a test needs connections to live longer.
const SESSION_INIT_TIMEOUT: Duration = Duration::from_secs(2);
/// `max_pdu_bytes`, the smallest the config allows.
const MAX_PDU_BYTES: u32 = 4096;
/// The gateway's resident memory must stay below this after every attack. It runs at about
/// 55 MiB (debug build, 1 MiB store cache); 1000 idle sessions add about 30 MiB.
const RSS_LIMIT_MIB: u64 = 160;

/// What differs between the gateways of these tests.
struct Setup {
    /// Extra `[server]` keys.
    server: String,
    /// `[server.session]` keys besides `bind_failure_delay`.
    session: String,
    /// Accounts, carriers and routes.
    rest: String,
    /// `bind_failure_delay`.
    delay: Duration,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            server: String::new(),
            session: format!(
                "session_init_timeout = \"{}ms\"",
                SESSION_INIT_TIMEOUT.as_millis()
            ),
            rest: shop(),
            delay: BIND_FAILURE_DELAY,
        }
    }
}

/// The normal account: `shop` / `secret1`, at most 4 binds.
fn shop() -> String {
    common::client("shop", "secret1", "max_binds = 4")
}

fn start(name: &str, setup: Setup) -> Gateway {
    let dir = temp_dir(name);
    let server = format!(
        "system_id = \"smppd-test\"\nmax_pdu_bytes = {MAX_PDU_BYTES}\n{}\n\n\
         [server.session]\nbind_failure_delay = \"{}ms\"\n{}",
        setup.server,
        setup.delay.as_millis(),
        setup.session
    );
    let text = preamble(&dir, &server, "cache_bytes = 1048576", "") + &setup.rest;
    Gateway::start(&dir, &text)
}

/// The gateway's resident set in MiB, from /proc.
fn rss_mib(gw: &Gateway) -> u64 {
    gw.rss_kib().expect("VmRSS in /proc/PID/status") / 1024
}

/// After an attack: a normal client binds (as soon as the attack's sessions have been torn
/// down), submits, is answered and unbinds; the gateway's memory stayed bounded.
async fn assert_serves(gw: &Gateway) {
    // A transmitter: no receipts come its way to race its unbind. Binds of sessions still
    // closing count against max_binds for a moment.
    let mut c =
        Client::bind_when_free(gw.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    let resp = c.request(submit("447700900123", "still here")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
    assert!(!message_id(&resp).is_empty());
    let resp = c.request(Body::Unbind).await;
    assert_eq!(resp.body, Body::UnbindResp);
    c.expect_closed().await;
    let rss = rss_mib(gw);
    assert!(rss < RSS_LIMIT_MIB, "RSS {rss} MiB");
}

/// Deterministic pseudo-random bytes (xorshift64), so that a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

async fn bound(gw: &Gateway, kind: CommandId) -> Client {
    Client::bound(gw.addr, kind, "shop", "secret1").await
}

// ---- Garbage ----------------------------------------------------------------------------------

/// Bytes that do not frame: generic_nack ESME_RINVCMDLEN, then the gateway closes, bound or not.
/// The bind slots of the closed sessions come free again.
#[tokio::test]
async fn random_bytes_get_rinvcmdlen_and_a_close() {
    let gw = start("random-bytes", Setup::default());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut tasks = Vec::new();
    for n in 0..8 {
        let len = 16 + rng.below(1024);
        let mut bytes = rng.bytes(len);
        // The first word is the command_length: keep it out of 16..=max, or the gateway
        // rightly waits for the rest of a frame.
        while (16..=MAX_PDU_BYTES).contains(&u32::from_be_bytes(bytes[..4].try_into().unwrap())) {
            bytes = rng.bytes(bytes.len());
        }
        let addr = gw.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            if n % 2 == 0 {
                c.bind_ok(CommandId::BindTransceiver, "shop", "secret1")
                    .await;
            }
            c.send_raw(&bytes).await;
            let nack = c.recv().await.expect("a generic_nack before the close");
            assert_eq!(nack.body, Body::GenericNack);
            assert_eq!(nack.command_status, CommandStatus::ESME_RINVCMDLEN);
            c.expect_closed().await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_serves(&gw).await;
}

/// Random bodies under well-formed headers, pipelined on a bound session: every request gets
/// exactly one answer with its sequence number (its own `_resp` or generic_nack), and the
/// session goes on.
#[tokio::test]
async fn random_frames_are_each_answered_and_the_session_goes_on() {
    let gw = start("random-frames", Setup::default());
    let mut c = bound(&gw, CommandId::BindTransmitter).await;
    // Requests an ESME may send or not, and unknown ids (0x0A is unassigned in 3.4, 0x111 is
    // 5.0's broadcast_sm); not bind and unbind, which change the session when their random
    // body happens to decode.
    use CommandId as C;
    let known = [
        C::QuerySm,
        C::SubmitSm,
        C::DeliverSm,
        C::ReplaceSm,
        C::CancelSm,
        C::Outbind,
        C::EnquireLink,
        C::SubmitMulti,
        C::AlertNotification,
        C::DataSm,
    ];
    let ids: Vec<u32> = known
        .map(CommandId::as_u32)
        .into_iter()
        .chain([0x0A, 0x111, 0x1000, 0x7FFF_FFFF])
        .collect();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut sent: HashMap<u32, u32> = HashMap::new();
    let mut wire = Vec::new();
    for sequence in 1..=400 {
        let id = ids[rng.below(ids.len())];
        let len = rng.below(300);
        wire.extend_from_slice(&raw_pdu(id, sequence, &rng.bytes(len)));
        sent.insert(sequence, id);
    }
    c.send_raw(&wire).await;
    while !sent.is_empty() {
        let pdu = c.recv().await.expect("closed with requests unanswered");
        let id = sent
            .remove(&pdu.sequence_number)
            .unwrap_or_else(|| panic!("no request (left) for {pdu:?}"));
        let own = CommandId::from_u32(id).and_then(CommandId::response);
        assert!(
            pdu.body == Body::GenericNack || Some(pdu.command_id()) == own,
            "{id:#x} answered with {pdu:?}"
        );
        match CommandId::from_u32(id) {
            None => assert_eq!(pdu.command_status, CommandStatus::ESME_RINVCMDID, "{pdu:?}"),
            // SMSC-to-ESME requests are refused whatever their body.
            Some(C::DeliverSm | C::Outbind | C::AlertNotification) => {
                assert!(!pdu.command_status.is_ok(), "{id:#x} answered with {pdu:?}")
            }
            Some(_) => {}
        }
    }
    let resp = c.request(submit("447700900123", "after the noise")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
    drop(c);
    assert_serves(&gw).await;
}

// ---- Truncated PDUs ---------------------------------------------------------------------------

/// A submit_sm cut at every octet, its command_length matching the cut: each cut is answered
/// with submit_sm_resp and an error status naming what is missing; the session goes on.
#[tokio::test]
async fn submit_sm_cut_short_anywhere_is_answered_with_an_error() {
    let gw = start("truncated", Setup::default());
    let mut c = bound(&gw, CommandId::BindTransmitter).await;
    let whole = Pdu::new(1, submit("447700900123", "cut me anywhere")).to_bytes();
    let body = &whole[16..];
    for cut in 0..body.len() {
        let seq = u32::try_from(cut).unwrap() + 100;
        c.send_raw(&raw_pdu(0x04, seq, &body[..cut])).await;
        let resp = c.recv().await.expect("closed on a truncated body");
        assert_eq!(resp.sequence_number, seq);
        assert_eq!(resp.command_id(), CommandId::SubmitSmResp, "cut at {cut}");
        assert!(!resp.command_status.is_ok(), "cut at {cut}: {resp:?}");
    }
    let resp = c.request(submit("447700900123", "whole")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
    drop(c);
    assert_serves(&gw).await;
}

/// Frames that never finish: a header cut short then EOF is just a closed connection; half a
/// frame and silence is closed by session_init_timeout before a bind, and by the unanswered
/// enquire_link after one.
#[tokio::test]
async fn frames_that_never_finish_are_closed() {
    let gw = start(
        "unfinished",
        Setup {
            session: format!(
                "session_init_timeout = \"{}ms\"\nenquire_link_interval = \"500ms\"\n\
                 response_timeout = \"500ms\"\ninactivity_timeout = \"5s\"",
                SESSION_INIT_TIMEOUT.as_millis()
            ),
            ..Setup::default()
        },
    );
    let half_frame = &raw_pdu(0x04, 7, &[0u8; 84])[..50];

    let mut eof = Client::connect(gw.addr).await;
    eof.send_raw(&half_frame[..10]).await;
    eof.stream.shutdown().await.unwrap();
    eof.expect_closed().await;

    let mut unbound = Client::connect(gw.addr).await;
    let started = Instant::now();
    unbound.send_raw(half_frame).await;
    unbound.expect_closed().await;
    assert!(started.elapsed() >= SESSION_INIT_TIMEOUT - Duration::from_millis(100));

    let mut bound = bound(&gw, CommandId::BindTransceiver).await;
    bound.send_raw(half_frame).await;
    let enquire = bound.recv().await.expect("an enquire_link first");
    assert_eq!(enquire.body, Body::EnquireLink);
    // Not answered (the frame in progress would swallow the answer anyway): closed.
    bound.expect_closed().await;
    assert_serves(&gw).await;
}

/// command_length below 16 or above max_pdu_bytes: generic_nack ESME_RINVCMDLEN and a close,
/// before a bind or after. Exactly max_pdu_bytes is a frame like any other.
#[tokio::test]
async fn command_length_out_of_bounds_is_rinvcmdlen_then_close() {
    let gw = start("command-length", Setup::default());
    let lengths = [0, 1, 15, MAX_PDU_BYTES + 1, 0x7FFF_FFFF, u32::MAX];
    for (n, length) in lengths.into_iter().enumerate() {
        let mut c = if n % 2 == 0 {
            Client::connect(gw.addr).await
        } else {
            bound(&gw, CommandId::BindTransmitter).await
        };
        let mut header = raw_pdu(0x15, 9, &[0u8; 32]);
        header[..4].copy_from_slice(&length.to_be_bytes());
        c.send_raw(&header).await;
        let nack = c.recv().await.expect("a generic_nack before the close");
        assert_eq!(nack.body, Body::GenericNack, "command_length {length}");
        assert_eq!(nack.command_status, CommandStatus::ESME_RINVCMDLEN);
        c.expect_closed().await;
    }

    let mut c = bound(&gw, CommandId::BindTransmitter).await;
    let mut sm = submit_sm("447700900123", "");
    let overhead = Pdu::new(1, Body::SubmitSm(sm.clone())).to_bytes().len() + 4;
    let payload = vec![b'x'; MAX_PDU_BYTES as usize - overhead];
    sm.tlvs.push(Tlv::message_payload(payload.into()).unwrap());
    let biggest = Pdu::new(77, Body::SubmitSm(sm));
    assert_eq!(biggest.to_bytes().len(), MAX_PDU_BYTES as usize);
    c.send_pdu(&biggest).await;
    let resp = c.recv().await.expect("answered");
    assert_eq!(resp.command_id(), CommandId::SubmitSmResp, "{resp:?}");
    assert_eq!(resp.sequence_number, 77);
    drop(c);
    assert_serves(&gw).await;
}

// ---- State ------------------------------------------------------------------------------------

/// Before a bind only bind and enquire_link are taken: every other request is answered with
/// ESME_RINVBNDSTS (generic_nack for those without a response), an unknown one with
/// ESME_RINVCMDID, and the connection may still bind.
#[tokio::test]
async fn requests_before_bind_are_rinvbndsts() {
    let gw = start("before-bind", Setup::default());
    let mut c = Client::connect(gw.addr).await;
    let requests = [
        submit("447700900123", "too early"),
        Body::SubmitMulti(SubmitMulti {
            dest_address: vec![DestAddress::Sme(Address::new(
                1,
                1,
                "447700900123".try_into().unwrap(),
            ))]
            .try_into()
            .unwrap(),
            ..SubmitMulti::default()
        }),
        Body::DataSm(DataSm::default()),
        Body::QuerySm(QuerySm::default()),
        Body::CancelSm(CancelSm::default()),
        Body::ReplaceSm(ReplaceSm::default()),
        Body::DeliverSm(SubmitSm::default()),
        Body::Unbind,
        Body::Outbind(Outbind::default()),
        Body::AlertNotification(AlertNotification::default()),
    ];
    for body in requests {
        let command = body.command_id();
        let resp = c.request(body).await;
        let expected = command.response().unwrap_or(CommandId::GenericNack);
        assert_eq!(resp.command_id(), expected, "{command}");
        assert_eq!(
            resp.command_status,
            CommandStatus::ESME_RINVBNDSTS,
            "{command}"
        );
    }
    let resp = c.request(Body::EnquireLink).await;
    assert_eq!(
        (resp.body, resp.command_status),
        (Body::EnquireLinkResp, CommandStatus::ESME_ROK)
    );
    c.send_raw(&raw_pdu(0x111, 4242, &[])).await;
    let nack = c.recv().await.unwrap();
    assert_eq!(
        (nack.body, nack.command_status, nack.sequence_number),
        (Body::GenericNack, CommandStatus::ESME_RINVCMDID, 4242)
    );
    c.bind_ok(CommandId::BindTransmitter, "shop", "secret1")
        .await;
    drop(c);
    assert_serves(&gw).await;
}

// ---- Binds ------------------------------------------------------------------------------------

/// Binds pipelined on one connection: the first binds, every other gets ESME_RALYBND and the
/// session stays bound. Binds from many connections at once: max_binds hold exactly, the rest
/// get ESME_RBINDFAIL after bind_failure_delay and a close, and the slots come back.
#[tokio::test]
async fn bind_flood() {
    let gw = start("bind-flood", Setup::default());
    let mut one = Client::connect(gw.addr).await;
    let bind = Pdu::new(
        1,
        Body::BindTransceiver(smpp_proto::pdu::Bind {
            system_id: "shop".try_into().unwrap(),
            password: "secret1".try_into().unwrap(),
            interface_version: 0x34,
            ..Default::default()
        }),
    );
    let mut wire = Vec::new();
    for seq in 1..=20u32 {
        let mut pdu = bind.clone();
        pdu.sequence_number = seq;
        wire.extend_from_slice(&pdu.to_bytes());
    }
    one.send_raw(&wire).await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let resp = one.recv().await.expect("every bind answered");
        assert_eq!(resp.command_id(), CommandId::BindTransceiverResp);
        statuses.push(resp.command_status);
    }
    let ok = statuses.iter().filter(|s| s.is_ok()).count();
    let ralybnd = statuses
        .iter()
        .filter(|&&s| s == CommandStatus::ESME_RALYBND)
        .count();
    assert_eq!((ok, ralybnd), (1, 19), "{statuses:?}");
    let resp = one.request(submit("447700900123", "bound once")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);

    // 60 connections bind at once; `one` holds the first of the 4 binds allowed.
    let mut clients = Vec::new();
    for _ in 0..60 {
        clients.push(Client::connect(gw.addr).await);
    }
    let started = Instant::now();
    let binds = clients.into_iter().map(|mut c| async move {
        let resp = c.bind(CommandId::BindTransmitter, "shop", "secret1").await;
        (resp.command_status, c)
    });
    let results = futures_util::future::join_all(binds).await;
    let mut kept = Vec::new();
    let mut refused = 0;
    for (status, mut c) in results {
        if status.is_ok() {
            kept.push(c);
        } else {
            assert_eq!(status, CommandStatus::ESME_RBINDFAIL);
            c.expect_closed().await;
            refused += 1;
        }
    }
    assert_eq!((kept.len(), refused), (3, 57));
    assert!(started.elapsed() >= BIND_FAILURE_DELAY);
    drop(kept);
    drop(one);
    assert_serves(&gw).await;
}

/// One failed bind, timed from the request to the response; the connection must close.
async fn timed_bind(addr: std::net::SocketAddr, system_id: &str, password: &str) -> Duration {
    let mut c = Client::connect(addr).await;
    let started = Instant::now();
    let resp = c
        .bind(CommandId::BindTransmitter, system_id, password)
        .await;
    let took = started.elapsed();
    assert!(
        [CommandStatus::ESME_RINVPASWD, CommandStatus::ESME_RINVSYSID]
            .contains(&resp.command_status),
        "{resp:?}"
    );
    c.expect_closed().await;
    took
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// How much later a known id's refusal came than the unknown id's refused beside it, as the
/// median over the pairs (negative: earlier). The two of a pair run at the same moment, so a
/// loaded machine slows both alike and the difference keeps only what tells them apart; a
/// difference of medians over all rounds would mix in the load of each round.
fn median_pair_gap(known: &[Duration], unknown: &[Duration]) -> i128 {
    let mut gaps: Vec<i128> = known
        .iter()
        .zip(unknown)
        .map(|(k, u)| k.as_micros() as i128 - u.as_micros() as i128)
        .collect();
    gaps.sort_unstable();
    gaps[gaps.len() / 2]
}

/// Wrong guesses for `system_id` and for an unknown id, interleaved (4 pairs at a time, 24
/// pairs): how long each took to be refused. Every guess must be refused after
/// bind_failure_delay and its connection closed.
async fn guess_timings(gw: &Gateway, system_id: &'static str) -> (Vec<Duration>, Vec<Duration>) {
    guess_timings_in(gw, system_id, 4).await
}

/// [`guess_timings`] with `at_once` pairs per round (6 rounds).
async fn guess_timings_in(
    gw: &Gateway,
    system_id: &'static str,
    at_once: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for round in 0..6 {
        let guesses = (0..at_once).map(|n| {
            let password = format!("guess{round}{n}");
            let addr = gw.addr;
            async move {
                tokio::join!(
                    timed_bind(addr, system_id, &password),
                    timed_bind(addr, "nobody", &password),
                )
            }
        });
        for (k, u) in futures_util::future::join_all(guesses).await {
            known.push(k);
            unknown.push(u);
        }
    }
    for took in known.iter().chain(&unknown) {
        assert!(*took >= BIND_FAILURE_DELAY, "answered after {took:?}");
    }
    (known, unknown)
}

/// Password guessing: every wrong guess is answered after bind_failure_delay and the
/// connection closed, and a known system_id with a wrong password is answered no faster and no
/// slower than an unknown one (medians compared), so response times do not tell which accounts
/// exist. Nothing guessed reaches the logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_delayed_alike_for_known_and_unknown_ids() {
    let gw = start("wrong-passwords", Setup::default());
    let (known, unknown) = guess_timings(&gw, "shop").await;
    let gap = median_pair_gap(&known, &unknown);
    eprintln!(
        "failed bind, median: known id {:?}, unknown id {:?}; median gap in a pair {gap} µs",
        median(known.clone()),
        median(unknown.clone())
    );
    assert!(
        gap.abs() < 10_000,
        "a known id is refused {gap} µs apart from an unknown one: {known:?} vs {unknown:?}"
    );
    let logs = gw.logs();
    assert!(logs.contains("bind refused"), "failed binds are logged");
    assert!(
        !logs.contains("guess"),
        "a guessed password reached the logs"
    );
    assert_serves(&gw).await;
}

/// The same for an account whose password is an argon2 hash: checking it takes a while, but the
/// refusal still comes after the same delay as for an id that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_for_an_argon2_account_are_delayed_alike() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(b"smppd-test-salt").unwrap();
    let phc = argon2::Argon2::default()
        .hash_password(b"right123", &salt)
        .unwrap()
        .to_string();
    let gw = start(
        "wrong-passwords-argon2",
        Setup {
            rest: shop() + &common::client("crm", &phc, ""),
            // Longer than the guesses' argon2 checks take, queued 4 at a time in a debug
            // build on a busy machine: every refusal then comes exactly this long after its
            // bind, as in production, where a check takes tens of milliseconds.
            delay: Duration::from_secs(3),
            ..Setup::default()
        },
    );
    // One pair at a time: the two checks never queue behind other guesses' (the queue is the
    // flood defence, measured elsewhere), so both refusals come at the delay.
    let (known, unknown) = guess_timings_in(&gw, "crm", 1).await;
    // Both pay for a hash (the checks queue): an oracle would differ by the whole hash time,
    // tens of milliseconds; the two of a pair are refused at the same delay.
    let gap = median_pair_gap(&known, &unknown);
    assert!(
        gap.abs() < 10_000,
        "a known id is refused {gap} µs apart from an unknown one: {known:?} vs {unknown:?}"
    );
    assert_serves(&gw).await;
}

/// From a network the account may not bind from, the right password and a wrong one get the
/// same answer: the password is not even checked there.
#[tokio::test]
async fn a_bind_from_a_network_not_allowed_does_not_tell_the_password_is_right() {
    let branch = common::client("branch", "right12", "allowed_ips = [\"10.0.0.0/8\"]");
    let gw = start(
        "allowed-ips-oracle",
        Setup {
            rest: shop() + &branch,
            ..Setup::default()
        },
    );
    let status = |password: &'static str| {
        let addr = gw.addr;
        async move {
            let mut c = Client::connect(addr).await;
            let resp = c.bind(CommandId::BindTransmitter, "branch", password).await;
            c.expect_closed().await;
            resp.command_status
        }
    };
    let (right, wrong) = tokio::join!(status("right12"), status("wrong12"));
    assert_eq!(
        right, wrong,
        "from 127.0.0.1: right password {right}, wrong one {wrong}"
    );
    assert_serves(&gw).await;
}

// ---- Slow and idle connections ----------------------------------------------------------------

/// Slowloris: connections that send a bind one byte a second are closed by
/// session_init_timeout, not kept open by the trickle.
#[tokio::test]
async fn slowloris_is_closed_by_session_init_timeout() {
    let gw = start("slowloris", Setup::default());
    let bind = Pdu::new(
        1,
        Body::BindTransmitter(smpp_proto::pdu::Bind {
            system_id: "shop".try_into().unwrap(),
            password: "secret1".try_into().unwrap(),
            ..Default::default()
        }),
    )
    .to_bytes();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (addr, bind) = (gw.addr, bind.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            let started = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            for &byte in bind.iter() {
                tokio::select! {
                    _ = tick.tick() => {
                        if c.stream.write_all(&[byte]).await.is_err() {
                            break;
                        }
                    }
                    closed = c.recv_within(Duration::from_secs(60)) => {
                        assert_eq!(closed, Some(None), "a PDU instead of a close");
                        break;
                    }
                }
            }
            c.expect_closed().await;
            started.elapsed()
        }));
    }
    for task in tasks {
        let took = task.await.unwrap();
        assert!(
            took >= SESSION_INIT_TIMEOUT - Duration::from_millis(100)
                && took < SESSION_INIT_TIMEOUT + Duration::from_millis(1500),
            "closed after {took:?}"
        );
    }
    assert_serves(&gw).await;
}

/// The open-files limit of this process (which the gateway inherits).
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(1024)
}

/// Idle connections up to max_connections (1000, or what the open-files limit allows) are all
/// kept and answered; more are closed at once; the gateway's memory stays bounded; once they
/// go, a normal client is served.
#[tokio::test]
async fn idle_connections_are_capped_at_max_connections() {
    let cap = 1000.min(open_files_limit().saturating_sub(100));
    assert!(cap >= 100, "open-files limit too low for this test");
    let gw = start(
        "idle",
        Setup {
            // All from 127.0.0.1: the per-address bound must not be what is tested here.
            server: format!("max_connections = {cap}\nmax_connections_per_ip = {cap}"),
            session: "session_init_timeout = \"60s\"".to_owned(),
            ..Setup::default()
        },
    );
    let before = rss_mib(&gw);
    let mut idle = Vec::with_capacity(cap);
    for _ in 0..cap {
        idle.push(TcpStream::connect(gw.addr).await.unwrap());
    }
    for _ in 0..10 {
        let mut extra = Client::connect(gw.addr).await;
        extra.expect_closed().await;
    }
    // Every idle connection is still served: an enquire_link on each.
    let mut idle: Vec<Client> = idle.into_iter().map(Client::over).collect();
    let answers = idle.iter_mut().map(|c| async move {
        let resp = c.request(Body::EnquireLink).await;
        assert_eq!(resp.body, Body::EnquireLinkResp);
    });
    futures_util::future::join_all(answers).await;
    let with_idle = rss_mib(&gw);
    eprintln!("RSS {before} MiB, {with_idle} MiB with {cap} idle connections");
    assert!(
        with_idle < before + 64,
        "RSS {before} MiB, then {with_idle} MiB with {cap} idle connections"
    );
    drop(idle);
    assert_serves(&gw).await;
}

/// One address may hold `max_connections_per_ip` connections; more from it are closed at
/// once, while another address (127.0.0.2, also loopback) still connects, binds and submits.
#[tokio::test]
async fn connections_per_address_are_capped() {
    let gw = start(
        "per-ip",
        Setup {
            server: "max_connections_per_ip = 5".to_owned(),
            session: "session_init_timeout = \"60s\"".to_owned(),
            ..Setup::default()
        },
    );
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(gw.addr).await.unwrap());
    }
    for _ in 0..3 {
        let mut extra = Client::connect(gw.addr).await;
        extra.expect_closed().await;
    }
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = Client::over(socket.connect(gw.addr).await.unwrap());
    other
        .bind_ok(CommandId::BindTransmitter, "shop", "secret1")
        .await;
    let resp = other.request(submit("447700900123", "other host")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
    // The held ones are still served, and their slots come back when they go.
    let mut first = Client::over(held.remove(0));
    let resp = first.request(Body::EnquireLink).await;
    assert_eq!(resp.body, Body::EnquireLinkResp);
    drop((first, held, other));
    // Closing sessions give their slots back a moment after the sockets close.
    served_again(
        &gw,
        Duration::from_secs(10),
        "the address's slots never came back",
    )
    .await;
    assert_serves(&gw).await;
}

/// A client that sends and never reads, until its session ends (inactivity, then an unbind it
/// does not answer): the session, and the connection slot it holds, go. (The session's last
/// flush toward such a peer is bounded by response_timeout.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ending_toward_a_peer_that_never_reads_lets_go() {
    let gw = start(
        "never-reads-end",
        Setup {
            server: "max_connections_per_ip = 1".to_owned(),
            session: "inactivity_timeout = \"2s\"\nenquire_link_interval = \"1s\"\n\
                      unbind_timeout = \"1s\"\nresponse_timeout = \"1s\""
                .to_owned(),
            ..Setup::default()
        },
    );
    let mut deaf = Client::bound(gw.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    // Requests whose answers are never read, until the gateway stops reading us too.
    let flood: Vec<u8> = (0..1_500_000u32)
        .flat_map(|seq| Pdu::new(seq + 10, Body::EnquireLink).to_bytes())
        .collect();
    // The write stops when the gateway stops reading (or fails, if it closed on us).
    let _ = tokio::time::timeout(Duration::from_secs(3), deaf.stream.write_all(&flood)).await;
    // Its only slot on this address comes back once the session has ended.
    let what = "the deaf client's session still holds its connection slot";
    served_again(&gw, Duration::from_secs(30), what).await;
    drop(deaf);
}

/// Waits (up to `limit`) until a new connection from 127.0.0.1 gets an enquire_link answered;
/// fails with `what` otherwise.
async fn served_again(gw: &Gateway, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    loop {
        let mut c = Client::connect(gw.addr).await;
        // Refused, the connection may be reset before this write or the read.
        let probe = Pdu::new(1, Body::EnquireLink).to_bytes();
        if c.stream.write_all(&probe).await.is_ok() && c.recv().await.is_some() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- A client that never reads ----------------------------------------------------------------

/// `count` submits one after the other; their latencies, sorted.
async fn latencies(c: &mut Client, count: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let resp = c.request(submit("447700900123", "steady")).await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        out.push(started.elapsed());
    }
    out.sort();
    out
}

/// A transceiver that asks for receipts and then never reads: the receipts and responses for
/// it back up until the gateway stops reading it, while another client's submits keep their
/// latency and the gateway's memory stays bounded. Nothing it was owed is lost: its receipts
/// arrive once it binds again and reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_receipts_stalls_only_itself() {
    let sim = sim_in_process(|_| {}).await;
    let rest = shop()
        + &common::client("lazy", "secret2", "window = 4")
        + &carrier_table("sim", sim.addr().port(), "")
        + &route("all", &["sim"], "");
    let gw = start(
        "never-reads",
        Setup {
            rest,
            ..Setup::default()
        },
    );
    let mut steady = bound(&gw, CommandId::BindTransmitter).await;
    let baseline = latencies(&mut steady, 100).await;

    // The lazy client: a small receive buffer so that what is written to it backs up soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut lazy = Client::over(socket.connect(gw.addr).await.unwrap());
    lazy.bind_ok(CommandId::BindTransceiver, "lazy", "secret2")
        .await;
    // Its submits, answered; the deliver_sm that come meanwhile are read but never answered.
    let mut waiting = HashSet::new();
    for _ in 0..20 {
        waiting.insert(lazy.send(submit("447700900123", "tell me")).await);
    }
    let mut owed = HashSet::new();
    while !waiting.is_empty() {
        let pdu = lazy
            .recv()
            .await
            .expect("closed before its submits were answered");
        if pdu.command_id() == CommandId::SubmitSmResp {
            assert_eq!(pdu.command_status, CommandStatus::ESME_ROK, "{pdu:?}");
            assert!(waiting.remove(&pdu.sequence_number));
            owed.insert(message_id(&pdu));
        }
    }
    // From here on it reads nothing, and writes enquire_links until the gateway stops reading
    // it (a write that cannot finish for 300 ms), for at most 10 s.
    let enquire = Pdu::new(1, Body::EnquireLink).to_bytes().repeat(64);
    let stalled = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let write = lazy.stream.write_all(&enquire);
            match tokio::time::timeout(Duration::from_millis(300), write).await {
                Ok(result) => result.unwrap(),
                Err(_) => return Some(lazy),
            }
        }
        None
    });
    let lazy = stalled
        .await
        .unwrap()
        .expect("the gateway kept reading a client that never reads");

    let during = latencies(&mut steady, 100).await;
    let (base_p50, p50) = (baseline[50], during[50]);
    let (base_max, max) = (baseline[99], during[99]);
    eprintln!("steady client: p50 {base_p50:?} → {p50:?}, max {base_max:?} → {max:?}");
    assert!(
        p50 <= base_p50 * 3 + Duration::from_millis(20) && max < Duration::from_secs(1),
        "steady client: p50 {base_p50:?} → {p50:?}, max {base_max:?} → {max:?}"
    );
    let rss = rss_mib(&gw);
    assert!(rss < RSS_LIMIT_MIB, "RSS {rss} MiB");

    // It goes away; bound again and reading, it gets every receipt it was owed.
    drop(lazy);
    let mut again = Client::bound(gw.addr, CommandId::BindReceiver, "lazy", "secret2").await;
    while !owed.is_empty() {
        let pdu = again.recv().await.expect("closed with receipts owed");
        again.answer(&pdu).await;
        if let Body::DeliverSm(sm) = &pdu.body {
            if let Some(id) = sm.tlvs.receipted_message_id() {
                owed.remove(id);
            }
        }
    }
    drop(again);
    drop(steady);
    assert_serves(&gw).await;
}
