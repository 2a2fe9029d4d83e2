//! kill -9 under load, through the real gateway: a `submit_sm_resp` with an id is a promise
//! (design.md, "How a message flows" 1), so every id the clients were given must still be
//! there after SIGKILL and a restart on the same store.
//!
//! Four transmitter binds submit continuously with 64 submits in flight each; about a second
//! and a half into the load the gateway is SIGKILLed, restarted on the same store, and every
//! id acknowledged so far (this round and every earlier one) is looked up with query_sm. Three
//! rounds, each submitting anew on top of the recovered store, so recovery of a recovered store
//! and id reuse after a crash are covered too.
//!
//! A killed process leaves the page cache behind, so this proves "acknowledged after the write
//! reached the OS", not "on the disk": `tests/fsync_order.rs` proves the fsync before each
//! submit_sm_resp.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{client, config, query, temp_dir, with_store_keys, Client, Gateway};
use smpp_proto::{Body, CommandId, CommandStatus, MessageState, Pdu};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

const BINDS: usize = 4;
const WINDOW: usize = 64;
/// Load time before each SIGKILL, counted from the first acknowledgement of the round; varied
/// so that the kills land at different points of the group-commit cycle.
const LOAD_FOR: [Duration; 3] = [
    Duration::from_millis(1200),
    Duration::from_millis(1500),
    Duration::from_millis(1800),
];

fn gateway(name: &str, durability: &str) -> Gateway {
    let dir = temp_dir(name);
    let shop = client(
        "shop",
        "secret1",
        &format!("max_binds = {BINDS}\nwindow = {WINDOW}"),
    );
    let text = with_store_keys(
        &config(&dir, "", &shop),
        &format!("durability = \"{durability}\""),
    );
    Gateway::start(&dir, &text)
}

/// Acknowledged ids of one round, in the order their submit_sm_resp arrived.
#[derive(Default, Debug)]
struct Round {
    acked: Vec<u64>,
    refused: usize,
    /// The status of the first refused submit, if any: what to look at when a bind got nowhere.
    first_refusal: Option<CommandStatus>,
}

/// One bind: submits until the connection breaks (the kill), `WINDOW` in flight, and returns
/// the id of every submit_sm_resp with status OK it read before that.
async fn submit_until_killed(
    addr: SocketAddr,
    tag: usize,
    stop: Arc<AtomicBool>,
    under_way: mpsc::Sender<()>,
) -> Round {
    let mut c = bind_when_free(addr).await;
    let mut round = Round::default();
    let mut seq: u32 = 1_000; // Above the bind's; our own numbering from here.
    let mut in_flight = 0;
    let mut sent = 0u64;
    loop {
        // Keep the window full. A write error means the gateway is gone.
        let mut burst = bytes::BytesMut::new();
        while in_flight < WINDOW && !stop.load(Ordering::Relaxed) {
            seq += 1;
            sent += 1;
            let to = format!("4477{tag}{:07}", sent % 10_000_000);
            Pdu::new(seq, submit(&to)).encode(&mut burst);
            in_flight += 1;
        }
        if !burst.is_empty() && c.stream.write_all(&burst).await.is_err() {
            break;
        }
        if in_flight == 0 {
            break; // Stopped without a kill (only if the kill never came).
        }
        // A response, or the connection's end; nothing at all for long is a hang.
        match c.recv_within(Duration::from_secs(10)).await {
            None => panic!("bind {tag}: no response within 10 s"),
            Some(None) => break,
            Some(Some(pdu)) => {
                let Body::SubmitSmResp(resp) = &pdu.body else {
                    panic!("bind {tag}: unexpected {pdu:?}");
                };
                in_flight -= 1;
                if pdu.command_status == CommandStatus::ESME_ROK {
                    if round.acked.is_empty() {
                        // The main task may have stopped listening; nothing to tell then.
                        let _ = under_way.try_send(());
                    }
                    round
                        .acked
                        .push(resp.message_id.to_string().parse().unwrap());
                } else {
                    round.refused += 1;
                    round.first_refusal.get_or_insert(pdu.command_status);
                }
            }
        }
    }
    round
}

/// A transmitter bind of `shop`. The lookup bind of the round before may still count against
/// max_binds for a moment after it closed: the kit tries again while it is refused so.
async fn bind_when_free(addr: SocketAddr) -> Client {
    Client::bind_when_free(addr, CommandId::BindTransmitter, "shop", "secret1").await
}

/// The kit's submit_sm to `to` with this test's text.
fn submit(to: &str) -> Body {
    common::submit(to, "Your code is 123456. It expires in 10 minutes.")
}

/// Loads the gateway from `BINDS` binds, SIGKILLs it `load_for` after the first
/// acknowledgement, and returns every id acknowledged before the kill.
async fn load_and_kill(gw: &mut Gateway, load_for: Duration) -> (Vec<u64>, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let (under_way, mut started) = mpsc::channel(BINDS);
    let binds: Vec<_> = (0..BINDS)
        .map(|tag| {
            let task = submit_until_killed(gw.addr, tag, stop.clone(), under_way.clone());
            tokio::spawn(task)
        })
        .collect();
    // The clock starts once every bind has its first acknowledgement (bounded: generous, as
    // CI runs this on a busy machine next to the relaxed test's gateway).
    for _ in 0..BINDS {
        let first = tokio::time::timeout(Duration::from_secs(30), started.recv()).await;
        if !matches!(first, Ok(Some(()))) {
            stop.store(true, Ordering::Relaxed);
            gw.kill();
            let mut report = String::new();
            for (tag, b) in binds.into_iter().enumerate() {
                let outcome = match b.await {
                    Ok(r) => format!(
                        "{} acknowledged, {} refused (first: {:?})",
                        r.acked.len(),
                        r.refused,
                        r.first_refusal
                    ),
                    Err(e) => format!("failed: {e}"),
                };
                report.push_str(&format!("bind {tag}: {outcome}\n"));
            }
            panic!(
                "load did not get under way on every bind:\n{report}gateway warnings:\n{}",
                notable_logs(&gw.logs())
            );
        }
    }
    tokio::time::sleep(load_for).await;
    assert!(
        binds.iter().all(|b| !b.is_finished()),
        "a bind ended before the kill"
    );
    gw.kill(); // SIGKILL: no drain, no final commit.
               // Should a bind somehow not see the close, this ends it; otherwise it changes nothing.
    stop.store(true, Ordering::Relaxed);
    let (mut acked, mut refused) = (Vec::new(), 0);
    for b in binds {
        let round = b.await.unwrap();
        acked.extend(round.acked);
        refused += round.refused;
    }
    (acked, refused)
}

/// The gateway's warnings and errors, and its last lines: short enough to survive CI's cut of
/// a failing test's output, unlike its whole debug log.
fn notable_logs(logs: &str) -> String {
    let lines: Vec<&str> = logs.lines().collect();
    let notable = lines
        .iter()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .take(40);
    let tail = lines[lines.len().saturating_sub(10)..].iter();
    notable
        .chain(std::iter::once(&"..."))
        .chain(tail)
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Queries every id (windowed), returning those not found.
async fn missing(addr: SocketAddr, ids: &[u64]) -> Vec<u64> {
    let mut c = Client::connect(addr).await;
    let resp = c.bind(CommandId::BindTransmitter, "shop", "secret1").await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
    let mut lost = Vec::new();
    let mut by_seq: HashMap<u32, u64> = HashMap::new();
    let mut next = ids.iter();
    let mut seq: u32 = 1_000;
    loop {
        let mut burst = bytes::BytesMut::new();
        while by_seq.len() < WINDOW {
            let Some(&id) = next.next() else { break };
            seq += 1;
            by_seq.insert(seq, id);
            Pdu::new(seq, query(&id.to_string())).encode(&mut burst);
        }
        if by_seq.is_empty() {
            break;
        }
        c.stream.write_all(&burst).await.unwrap();
        let pdu = c.recv().await.expect("gateway closed during the queries");
        let id = by_seq
            .remove(&pdu.sequence_number)
            .expect("response to no query");
        let Body::QuerySmResp(q) = &pdu.body else {
            panic!("query of {id}: unexpected {pdu:?}");
        };
        if pdu.command_status == CommandStatus::ESME_ROK {
            assert_eq!(q.message_id.to_string(), id.to_string());
            // A state of SMPP 3.4 §5.2.28 (ENROUTE while queued; anything later is fine).
            assert!(
                (MessageState::ENROUTE.0..=MessageState::REJECTED.0).contains(&q.message_state.0),
                "{id}: state {:?}",
                q.message_state
            );
        } else {
            assert!(
                [
                    CommandStatus::ESME_RQUERYFAIL,
                    CommandStatus::ESME_RINVMSGID
                ]
                .contains(&pdu.command_status),
                "query of {id}: {}",
                pdu.command_status
            );
            lost.push(id);
        }
    }
    // Unbound and closed before the next round binds, so that it finds every slot free.
    let resp = c.request(Body::Unbind).await;
    assert_eq!(resp.body, Body::UnbindResp);
    c.expect_closed().await;
    lost
}

/// Runs `rounds` rounds of load, kill -9, restart and lookup; returns (acknowledged, lost,
/// duplicated) over all rounds.
async fn crash_rounds(gw: &mut Gateway, rounds: &[Duration]) -> (usize, Vec<u64>, Vec<u64>) {
    // Every acknowledged id and the round that acknowledged it.
    let mut acked: HashMap<u64, usize> = HashMap::new();
    let mut duplicated = Vec::new();
    let mut lost = Vec::new();
    for (round, &load_for) in rounds.iter().enumerate() {
        let round = round + 1;
        let (ids, refused) = load_and_kill(gw, load_for).await;
        let new = ids.len();
        for id in ids {
            if let Some(earlier) = acked.insert(id, round) {
                if duplicated.len() < 5 {
                    eprintln!("round {round}: id {id} acknowledged again (first: round {earlier})");
                }
                duplicated.push(id);
            }
        }
        gw.restart();
        let mut all: Vec<u64> = acked.keys().copied().collect();
        all.sort_unstable();
        let gone = missing(gw.addr, &all).await;
        eprintln!(
            "round {round}: {new} acknowledged ({refused} refused) in ~{load_for:?} before \
             SIGKILL; after restart {} of {} acknowledged so far found, {} lost",
            all.len() - gone.len(),
            all.len(),
            gone.len()
        );
        lost.extend(gone);
    }
    lost.sort_unstable();
    lost.dedup();
    (acked.len() + duplicated.len(), lost, duplicated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_submits_survive_kill_9() {
    let mut gw = gateway("durability-durable", "durable");
    let (acked, lost, duplicated) = crash_rounds(&mut gw, &LOAD_FOR).await;
    eprintln!(
        "durable: {acked} acknowledged over {} kill -9 rounds; lost {}, duplicated {}",
        LOAD_FOR.len(),
        lost.len(),
        duplicated.len()
    );
    assert!(
        acked > 0,
        "nothing was acknowledged; logs:\n{}",
        notable_logs(&gw.logs())
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged ids LOST after kill -9: {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    assert!(
        duplicated.is_empty(),
        "{} ids acknowledged twice (reissued after a crash): {:?}",
        duplicated.len(),
        &duplicated[..duplicated.len().min(20)]
    );
}

/// `durability = "relaxed"` promises less (config.example.toml: "a crash may lose acknowledged
/// messages"). Nothing is asserted about losses, which may or may not happen: this shows how
/// much is lost here, and that the gateway recovers from kill -9 in this mode all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_recovers_from_kill_9_with_weaker_promises() {
    let mut gw = gateway("durability-relaxed", "relaxed");
    let (acked, lost, duplicated) = crash_rounds(&mut gw, &LOAD_FOR[..1]).await;
    eprintln!(
        "relaxed: {acked} acknowledged over 1 kill -9 round; lost {}, duplicated {} \
         (allowed in this mode)",
        lost.len(),
        duplicated.len()
    );
    assert!(
        acked > 0,
        "nothing was acknowledged; logs:\n{}",
        notable_logs(&gw.logs())
    );
    // It still serves after recovery.
    let mut c = Client::connect(gw.addr).await;
    let resp = c.bind(CommandId::BindTransmitter, "shop", "secret1").await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
    let resp = c.request(submit("447700900123")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
}

/// Submits `n` messages on one bind, one at a time; their ids.
async fn submit_some(addr: SocketAddr, n: usize) -> Vec<u64> {
    let mut c = bind_when_free(addr).await;
    let mut ids = Vec::new();
    for _ in 0..n {
        let resp = c.request(submit("447700900123")).await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK);
        let Body::SubmitSmResp(r) = &resp.body else {
            panic!("{resp:?}")
        };
        ids.push(r.message_id.to_string().parse().unwrap());
    }
    let resp = c.request(Body::Unbind).await;
    assert_eq!(resp.body, Body::UnbindResp);
    ids
}

/// Journal segments with entries in them (spares, kept for reuse, hold none).
fn journal_segments(gw: &Gateway) -> usize {
    std::fs::read_dir(gw.dir.join("store").join("journal"))
        .unwrap()
        .filter(|e| {
            let path = e.as_ref().unwrap().path();
            path.extension().is_some_and(|x| x == "wal")
        })
        .count()
}

/// The gateway's logs once they hold `needle` (10 s at most).
async fn logs_with(gw: &Gateway, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let logs = gw.logs();
        if logs.contains(needle) {
            return logs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no `{needle}` in the logs:\n{}",
            notable_logs(&logs)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A clean stop (SIGTERM) moves the journal into the trees: the next start replays nothing
/// and says so; a replay at start then means that the process did not stop cleanly, as after
/// SIGKILL, which loses nothing either.
#[tokio::test]
async fn a_clean_stop_leaves_nothing_to_replay_and_a_kill_leaves_it_all_to_replay() {
    const REPLAYED: &str = "journal replayed into the trees";
    let mut gw = gateway("durability-clean-stop", "durable");
    let mut ids = submit_some(gw.addr, 200).await;
    assert!(journal_segments(&gw) > 0, "the messages are journaled");
    assert!(gw.terminate().success(), "{}", notable_logs(&gw.logs()));
    logs_with(&gw, "store: closed with everything in the trees").await;
    assert_eq!(journal_segments(&gw), 0, "a clean stop leaves no journal");
    gw.restart();
    // The logs come on their own stream: "ready" on stdout may come first.
    let logs = logs_with(&gw, "store: the last stop was clean: nothing to replay").await;
    assert!(!logs.contains(REPLAYED), "{}", notable_logs(&logs));
    assert_eq!(missing(gw.addr, &ids).await, Vec::<u64>::new());

    ids.extend(submit_some(gw.addr, 200).await);
    gw.kill();
    assert!(journal_segments(&gw) > 0, "a kill leaves the journal");
    gw.restart();
    let logs = logs_with(&gw, REPLAYED).await;
    assert_eq!(logs.matches(REPLAYED).count(), 1, "{logs}");
    assert_eq!(missing(gw.addr, &ids).await, Vec::<u64>::new());
}
