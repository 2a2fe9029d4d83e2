//! Faults end to end, with real processes: ESMEs (this test, over TCP) submit through
//! `smppd serve` to a `smppd simulate` carrier while things break: the gateway is SIGKILLed
//! again and again under a load of 100,000 messages; the carrier answers with garbage, stops
//! answering for a while with its connections open, or is SIGKILLed and comes back, again and
//! again. Every message the gateway acknowledged must reach the carrier (its `--log-submits`
//! log says what it got) and its receipt must reach the client: nothing lost. Duplicates
//! (at-least-once) are allowed and reported.
//!
//! Each submit carries a unique token as its text: the submit_sm_resp maps the token to the
//! gateway id, the carrier's log shows whether it accepted the token, and the receipt's
//! receipted_message_id names the gateway id. A submit whose response never came (the
//! connection broke) or that was refused is sent again under a new token.
//!
//! Carriers whose connections drop with a full window (`--drop-every`), that throttle, or that
//! die while another takes over are in `tests/carrier_e2e.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::BytesMut;
use common::{
    carrier, get_ok, routed_config, temp_dir, with_store_keys, Gateway, LoggedSubmit, Simulator,
};
use smpp_proto::frame::{split_frame, DEFAULT_MAX_PDU_LEN};
use smpp_proto::pdu::esm_class;
use smpp_proto::{receipt, Body, CommandStatus, Pdu};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Submits in flight per bind.
const WINDOW: usize = 64;
/// A bind with submits in flight that hears nothing for this long has found a stall.
const STALL: Duration = Duration::from_secs(30);

/// What the ESMEs saw, shared by their binds.
#[derive(Default)]
struct Ledger {
    /// Acknowledged submits: token → gateway id.
    acked: HashMap<String, String>,
    /// Every gateway id acknowledged.
    ids: HashSet<String>,
    /// Ids acknowledged for a second token (a gateway id given out twice; must not happen).
    reissued: Vec<String>,
    /// Receipts by gateway id: how many, and the `stat:` of the first.
    receipts: HashMap<String, (u32, String)>,
    /// submit_sm_resp with an error status, by status (each sent again under a new token).
    refused: BTreeMap<String, u64>,
    /// Submits whose response never came because the connection broke (sent again).
    unanswered: u64,
    /// Connections that broke under a bind after it was bound.
    broken: u64,
    /// What went wrong in a bind (it stopped): a stall, a PDU it did not expect.
    errors: Vec<String>,
}

/// A load of `total` messages from several transceiver binds of client `shop`, each keeping
/// `WINDOW` submits in flight, answering every deliver_sm, and binding again whenever its
/// connection breaks (to the gateway's latest address).
struct Load {
    ledger: Arc<Mutex<Ledger>>,
    done: Arc<AtomicBool>,
    addr: watch::Sender<SocketAddr>,
    binds: Vec<JoinHandle<()>>,
    total: usize,
    started: Instant,
}

/// How a bound session ended.
enum Ended {
    /// The test is over.
    Done,
    /// The connection broke, or the bind did not go through: bind again.
    Broken,
}

impl Load {
    fn start(addr: SocketAddr, binds: usize, total: usize) -> Self {
        let ledger: Arc<Mutex<Ledger>> = Arc::default();
        let done = Arc::new(AtomicBool::new(false));
        let (addr, watching) = watch::channel(addr);
        let binds = (0..binds)
            .map(|tag| {
                // The first bind takes the remainder.
                let quota = total / binds + if tag == 0 { total % binds } else { 0 };
                let (ledger, done, addr) = (ledger.clone(), done.clone(), watching.clone());
                tokio::spawn(async move {
                    if let Err(e) = esme(tag, quota, addr, &ledger, &done).await {
                        lock(&ledger).errors.push(e);
                    }
                })
            })
            .collect();
        Self {
            ledger,
            done,
            addr,
            binds,
            total,
            started: Instant::now(),
        }
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.ledger)
    }

    /// (acknowledged, receipts) so far.
    fn progress(&self) -> (usize, usize) {
        let ledger = self.ledger();
        (ledger.acked.len(), ledger.receipts.len())
    }

    /// The gateway moved (restarted on another port): binds connect there from now on.
    fn point_to(&self, addr: SocketAddr) {
        self.addr.send_replace(addr);
    }

    /// Waits until `n` submits are acknowledged; panics with the state of things after `limit`
    /// or when a bind failed.
    async fn until_acked(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            {
                let ledger = self.ledger();
                assert!(
                    ledger.errors.is_empty(),
                    "a bind failed: {:?}",
                    ledger.errors
                );
                if ledger.acked.len() >= n {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "only {} of {n} submits acknowledged after {limit:?} ({} receipts; refused \
                     {:?})",
                    ledger.acked.len(),
                    ledger.receipts.len(),
                    ledger.refused
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (up to `limit`) until every message is acknowledged and every acknowledged one
    /// has its receipt, then stops the binds; what they saw.
    async fn finish(self, limit: Duration) -> Ledger {
        self.finish_unless(limit, HashSet::new).await
    }

    /// Like [`Load::finish`], not waiting for the receipts of the tokens that `excused` names
    /// (asked anew at every look).
    async fn finish_unless(self, limit: Duration, excused: impl Fn() -> HashSet<String>) -> Ledger {
        let deadline = Instant::now() + limit;
        let mut last_said = Instant::now();
        loop {
            let excused = excused();
            let complete = {
                let ledger = self.ledger();
                assert!(
                    ledger.errors.is_empty(),
                    "a bind failed: {:?}",
                    ledger.errors
                );
                ledger.acked.len() >= self.total
                    && ledger.acked.iter().all(|(token, id)| {
                        ledger.receipts.contains_key(id) || excused.contains(token)
                    })
            };
            if complete || Instant::now() >= deadline {
                break;
            }
            if last_said.elapsed() >= Duration::from_secs(5) {
                let (acked, receipts) = self.progress();
                eprintln!(
                    "{:.0?}: {acked} of {} acknowledged, {receipts} receipts",
                    self.started.elapsed(),
                    self.total
                );
                last_said = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.done.store(true, Ordering::Relaxed);
        drop(excused); // It may hold the ledger.
        for bind in self.binds {
            // Each bind looks at `done` at least every 200 ms.
            tokio::time::timeout(Duration::from_secs(10), bind)
                .await
                .expect("a bind did not stop")
                .unwrap();
        }
        let ledger = Arc::try_unwrap(self.ledger).ok().unwrap();
        ledger.into_inner().unwrap()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap()
}

/// One bind of the load: binds (again after every break) and submits until `quota` of its
/// submits are acknowledged, then keeps taking receipts until the test is done.
async fn esme(
    tag: usize,
    quota: usize,
    mut addr: watch::Receiver<SocketAddr>,
    ledger: &Mutex<Ledger>,
    done: &AtomicBool,
) -> Result<(), String> {
    let mut acked = 0;
    let mut sent = 0;
    loop {
        if done.load(Ordering::Relaxed) {
            return Ok(());
        }
        let target = *addr.borrow_and_update();
        let connected = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(target));
        let Ok(Ok(stream)) = connected.await else {
            // The gateway is down or restarting: wait for its new address, or try again soon.
            let _ = tokio::time::timeout(Duration::from_millis(100), addr.changed()).await;
            continue;
        };
        stream.set_nodelay(true).unwrap();
        let (reader, writer) = stream.into_split();
        let mut session = Session {
            tag,
            reader,
            writer,
            buf: BytesMut::new(),
            seq: 1,
            in_flight: HashMap::new(),
        };
        if !session.bind().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let ended = session
            .serve(quota, &mut acked, &mut sent, ledger, done)
            .await;
        let mut ledger = lock(ledger);
        ledger.unanswered += session.in_flight.len() as u64;
        match ended? {
            Ended::Done => return Ok(()),
            Ended::Broken => ledger.broken += 1,
        }
    }
}

/// One connection of a bind.
struct Session {
    tag: usize,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    buf: BytesMut,
    seq: u32,
    /// Submits awaiting their response: sequence number → token.
    in_flight: HashMap<u32, String>,
}

impl Session {
    /// Binds as a transceiver of `shop`; false if that did not work (closed, refused, or
    /// something that is not a gateway answered on a port another process took over).
    async fn bind(&mut self) -> bool {
        let bind = common::bind(smpp_proto::CommandId::BindTransceiver, "shop", "secret1");
        if self
            .writer
            .write_all(&Pdu::new(self.seq, bind).to_bytes())
            .await
            .is_err()
        {
            return false;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match split_frame(&mut self.buf, DEFAULT_MAX_PDU_LEN) {
                Ok(Some(frame)) => {
                    return matches!(Pdu::decode(&frame), Ok(pdu)
                        if pdu.body.command_id() == smpp_proto::CommandId::BindTransceiverResp
                            && pdu.command_status == CommandStatus::ESME_ROK);
                }
                Ok(None) => {}
                Err(_) => return false,
            }
            let read = tokio::time::timeout_at(deadline, self.reader.read_buf(&mut self.buf));
            if !matches!(read.await, Ok(Ok(n)) if n > 0) {
                return false;
            }
        }
    }

    /// Submits and takes receipts until the connection breaks or the test is done.
    async fn serve(
        &mut self,
        quota: usize,
        acked: &mut usize,
        sent: &mut u64,
        ledger: &Mutex<Ledger>,
        done: &AtomicBool,
    ) -> Result<Ended, String> {
        let tag = self.tag;
        let mut out = BytesMut::new();
        let mut heard = Instant::now();
        loop {
            if done.load(Ordering::Relaxed) {
                return Ok(Ended::Done);
            }
            while self.in_flight.len() < WINDOW && *acked + self.in_flight.len() < quota {
                self.seq += 1;
                *sent += 1;
                let token = format!("t{tag}-{sent}");
                Pdu::new(self.seq, submit(&token)).encode(&mut out);
                self.in_flight.insert(self.seq, token);
            }
            if !out.is_empty() {
                if self.writer.write_all(&out).await.is_err() {
                    return Ok(Ended::Broken);
                }
                out.clear();
            }
            let read = tokio::time::timeout(
                Duration::from_millis(200),
                self.reader.read_buf(&mut self.buf),
            );
            match read.await {
                Err(_) => {
                    if !self.in_flight.is_empty() && heard.elapsed() > STALL {
                        return Err(format!(
                            "bind {tag}: {} submits unanswered and nothing heard for {STALL:?}",
                            self.in_flight.len()
                        ));
                    }
                    continue;
                }
                Ok(Ok(0) | Err(_)) => return Ok(Ended::Broken),
                Ok(Ok(_)) => heard = Instant::now(),
            }
            while let Some(frame) = split_frame(&mut self.buf, DEFAULT_MAX_PDU_LEN)
                .map_err(|e| format!("bind {tag}: framing: {e}"))?
            {
                let pdu = Pdu::decode(&frame).map_err(|e| format!("bind {tag}: {e}"))?;
                match &pdu.body {
                    Body::SubmitSmResp(resp) => {
                        let token = self
                            .in_flight
                            .remove(&pdu.sequence_number)
                            .ok_or_else(|| format!("bind {tag}: response to no submit: {pdu:?}"))?;
                        let mut ledger = lock(ledger);
                        if pdu.command_status == CommandStatus::ESME_ROK {
                            *acked += 1;
                            let id = resp.message_id.to_string();
                            if !ledger.ids.insert(id.clone()) {
                                ledger.reissued.push(id.clone());
                            }
                            ledger.acked.insert(token, id);
                        } else {
                            *ledger
                                .refused
                                .entry(pdu.command_status.to_string())
                                .or_default() += 1;
                        }
                    }
                    Body::DeliverSm(sm) => {
                        if !esm_class::is_receipt(sm.esm_class) {
                            return Err(format!("bind {tag}: not a receipt: {sm:?}"));
                        }
                        let id = sm
                            .tlvs
                            .receipted_message_id()
                            .ok_or_else(|| format!("bind {tag}: receipt without id: {sm:?}"))?
                            .to_owned();
                        let stat = receipt::parse_bytes(sm.short_message.as_bytes())
                            .ok()
                            .and_then(|r| r.stat)
                            .unwrap_or_default();
                        lock(ledger).receipts.entry(id).or_insert((0, stat)).0 += 1;
                        let answer = pdu.response_with_status(CommandStatus::ESME_ROK).unwrap();
                        answer.encode(&mut out);
                    }
                    Body::EnquireLink => {
                        Pdu::new(pdu.sequence_number, Body::EnquireLinkResp).encode(&mut out);
                    }
                    _ => return Err(format!("bind {tag}: unexpected {pdu:?}")),
                }
            }
        }
    }
}

/// A submit_sm from "Shop" asking for a receipt, its text the token.
fn submit(token: &str) -> Body {
    common::submit("447700900123", token)
}

/// The load's end, from the ESMEs' side and the carrier's.
#[derive(Debug)]
struct Tally {
    acked: usize,
    /// Acknowledged, and never accepted by the carrier (tokens).
    never_at_carrier: Vec<String>,
    /// Acknowledged, and no receipt came (gateway ids).
    no_receipt: Vec<String>,
    /// Acknowledged and accepted by the carrier more than once.
    carrier_duplicates: usize,
    /// Acknowledged ids whose receipt came more than once.
    receipts_twice: usize,
    /// Final states of the acknowledged (`stat:` of their first receipt).
    stats: BTreeMap<String, usize>,
    /// Receipts for ids the ESMEs were never given (accepted, but the response was lost).
    receipts_unacked: usize,
    /// Tokens the carrier accepted whose submit the gateway never acknowledged.
    carrier_unacked: usize,
    /// What the carrier did with every submit it got, by outcome (`id=` as "accepted").
    carrier_outcomes: BTreeMap<String, usize>,
    /// Of `no_receipt`, those whose receipt a dying carrier took with it (not lost by us).
    carrier_died_with: usize,
}

impl Tally {
    fn of(ledger: &Ledger, submits: &[LoggedSubmit]) -> Self {
        let mut accepted: HashMap<&[u8], usize> = HashMap::new();
        let mut carrier_outcomes: BTreeMap<String, usize> = BTreeMap::new();
        for s in submits {
            let outcome = if s.id().is_some() {
                *accepted
                    .entry(s.submit_sm().short_message.as_bytes())
                    .or_default() += 1;
                "accepted"
            } else {
                &s.outcome
            };
            *carrier_outcomes.entry(outcome.to_owned()).or_default() += 1;
        }
        let mut tally = Self {
            acked: ledger.acked.len(),
            never_at_carrier: Vec::new(),
            no_receipt: Vec::new(),
            carrier_duplicates: 0,
            receipts_twice: 0,
            stats: BTreeMap::new(),
            receipts_unacked: ledger
                .receipts
                .keys()
                .filter(|id| !ledger.ids.contains(*id))
                .count(),
            carrier_unacked: accepted
                .keys()
                .filter(|token| {
                    let token = std::str::from_utf8(token).unwrap_or_default();
                    !ledger.acked.contains_key(token)
                })
                .count(),
            carrier_outcomes,
            carrier_died_with: 0,
        };
        let mut tokens: Vec<(&String, &String)> = ledger.acked.iter().collect();
        tokens.sort();
        for (token, id) in tokens {
            match accepted.get(token.as_bytes()) {
                None => tally.never_at_carrier.push(token.clone()),
                Some(1) => {}
                Some(_) => tally.carrier_duplicates += 1,
            }
            match ledger.receipts.get(id) {
                None => tally.no_receipt.push(id.clone()),
                Some((count, stat)) => {
                    *tally.stats.entry(stat.clone()).or_default() += 1;
                    if *count > 1 {
                        tally.receipts_twice += 1;
                    }
                }
            }
        }
        tally
    }

    /// Acknowledged messages lost: never at the carrier, or no receipt (unless the carrier
    /// died with it).
    fn lost(&self) -> usize {
        self.never_at_carrier.len() + self.no_receipt.len() - self.carrier_died_with
    }

    fn report(&self, what: &str, ledger: &Ledger) {
        eprintln!(
            "{what}: {} acknowledged; LOST {} (never at the carrier {}, no receipt {}, of \
             which the carrier died with {}); duplicated: at the carrier {}, receipts to the client {}; final states {:?}; \
             receipts for unacknowledged submits {}, carrier got unacknowledged tokens {}; \
             refused {:?}, unanswered at a break {}, binds broken {}; carrier outcomes {:?}",
            self.acked,
            self.lost(),
            self.never_at_carrier.len(),
            self.no_receipt.len(),
            self.carrier_died_with,
            self.carrier_duplicates,
            self.receipts_twice,
            self.stats,
            self.receipts_unacked,
            self.carrier_unacked,
            ledger.refused,
            ledger.unanswered,
            ledger.broken,
            self.carrier_outcomes,
        );
    }

    /// Nothing lost, no id given twice, every message delivered; says what and a few examples
    /// otherwise.
    fn assert_nothing_lost(&self, ledger: &Ledger, total: usize) {
        assert!(
            ledger.reissued.is_empty(),
            "{} gateway ids acknowledged for two messages, e.g. {:?}",
            ledger.reissued.len(),
            &ledger.reissued[..ledger.reissued.len().min(5)]
        );
        assert!(
            self.acked >= total,
            "only {} of {total} acknowledged",
            self.acked
        );
        assert!(
            self.never_at_carrier.is_empty(),
            "{} acknowledged messages never accepted by the carrier, e.g. tokens {:?}",
            self.never_at_carrier.len(),
            &self.never_at_carrier[..self.never_at_carrier.len().min(5)]
        );
        assert!(
            self.no_receipt.is_empty(),
            "{} acknowledged messages without a receipt, e.g. ids {:?}",
            self.no_receipt.len(),
            &self.no_receipt[..self.no_receipt.len().min(5)]
        );
        assert_eq!(
            self.stats.get("DELIVRD"),
            Some(&self.acked),
            "final states: {:?}",
            self.stats
        );
    }
}

/// The gateway's warnings and errors (at most 30 lines): short enough to survive CI's cut.
fn warnings(gw: &Gateway) -> String {
    let logs = gw.logs();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    let shown = &lines[lines.len().saturating_sub(30)..];
    format!(
        "{} warnings/errors, the last:\n{}",
        lines.len(),
        shown.join("\n")
    )
}

/// The gateway's record (state and history) of the messages of the first few `tokens`, and
/// the depths of its queues and outboxes: what to look at when some went missing.
async fn explain(gw: &Gateway, ledger: &Ledger, tokens: &[&String]) {
    let admin = gw.admin.unwrap();
    for token in tokens.iter().take(3) {
        let Some(id) = ledger.acked.get(*token) else {
            continue;
        };
        let message = get_ok(admin, &format!("/api/messages/{id}")).await;
        eprintln!("{token} = {id}: {message}");
    }
    eprintln!("queues: {}", get_ok(admin, "/api/queues").await);
}

/// A gateway config: client `shop` with 4 binds, one carrier `sim` with `carrier_extra`, a
/// durable store.
fn gateway(dir: &std::path::Path, sim: &Simulator, carrier_extra: &str) -> Gateway {
    let carriers = [carrier("sim", sim.addr.port(), carrier_extra)];
    let text = with_store_keys(
        &routed_config(dir, &carriers, &["sim"], "", ""),
        "durability = \"durable\"",
    );
    Gateway::start_logging(dir, &text, "smppd=info")
}

/// SIGKILL and start again on the same store, off the runtime's threads (it waits for the
/// gateway to say it is ready).
async fn kill_and_restart(mut gw: Gateway) -> Gateway {
    tokio::task::spawn_blocking(move || {
        gw.restart();
        gw
    })
    .await
    .unwrap()
}

/// Messages in the SIGKILL test: `SMPPD_FAULTS_MESSAGES`, or 100,000.
fn kill_test_messages() -> usize {
    std::env::var("SMPPD_FAULTS_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_kill_9_under_load_loses_nothing_end_to_end() {
    let total = kill_test_messages();
    let dir = temp_dir("faults-kill");
    let sim = Simulator::start(
        &dir,
        "carrier",
        &["--receipt-delay", "10ms", "--window", "64"],
    );
    let mut gw = gateway(&dir, &sim, "sessions = 2\nwindow = 64\nmax_attempts = 20");
    let load = Load::start(gw.addr, 4, total);
    // Early, mid-load twice, and once everything is acknowledged while receipts are still on
    // their way (some in the outbox, some at the carrier).
    let kill_at = [total * 15 / 100, total * 45 / 100, total * 75 / 100, total];
    for (n, &at) in kill_at.iter().enumerate() {
        load.until_acked(at, Duration::from_secs(240)).await;
        // What the kill catches on its way: queued for the carrier, receipts in the outbox.
        let queues = get_ok(gw.admin.unwrap(), "/api/queues").await;
        let (acked, receipts) = load.progress();
        let killed_at = load.started.elapsed();
        gw = kill_and_restart(gw).await;
        load.point_to(gw.addr);
        eprintln!(
            "kill {}: SIGKILL at {acked} acknowledged, {receipts} receipts, {killed_at:.1?} \
             into the load (route queue {}, outbox {}); serving again after {:.1?}",
            n + 1,
            queues["routes"][0]["depth"],
            queues["outboxes"][0]["depth"],
            load.started.elapsed() - killed_at
        );
    }
    let started = load.started;
    let ledger = load.finish(Duration::from_secs(180)).await;
    let took = started.elapsed();
    let tally = Tally::of(&ledger, &sim.submits());
    tally.report(
        &format!("{} SIGKILLs, {total} messages in {took:.1?}", kill_at.len()),
        &ledger,
    );
    if tally.lost() > 0 {
        eprintln!("{}", warnings(&gw));
    }
    tally.assert_nothing_lost(&ledger, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_answering_garbage_loses_nothing() {
    let dir = temp_dir("faults-garbage");
    let sim = Simulator::start(
        &dir,
        "carrier",
        &["--receipt-delay", "10ms", "--garbage-every", "40"],
    );
    // response_timeout 1 s: what the carrier left unanswered goes again soon.
    let gw = gateway(&dir, &sim, "window = 10\nmax_attempts = 20");
    let admin = gw.admin.unwrap();
    let total = 2_000;
    let load = Load::start(gw.addr, 2, total);
    // About 10 s here; receipts for ids lost with a reset connection once held the link's
    // window 10 s at a time, and this took 85 s.
    let ledger = load.finish(Duration::from_secs(45)).await;
    let tally = Tally::of(&ledger, &sim.submits());
    tally.report("garbage every 40th submit_sm", &ledger);
    if tally.lost() > 0 {
        eprintln!("{}", warnings(&gw));
    }
    // Every kind came, the fatal ones too.
    for kind in smppd::simulator::Garbage::ALL {
        let outcome = format!("garbage={}", kind.name());
        assert!(
            tally.carrier_outcomes.get(&outcome).is_some_and(|n| *n > 0),
            "the carrier never sent {outcome}: {:?}",
            tally.carrier_outcomes
        );
    }
    tally.assert_nothing_lost(&ledger, total);
    // The client's binds never noticed: the gateway kept serving them.
    assert_eq!(ledger.broken, 0, "client binds broke");
    // The link was reset by framing errors, and is up again.
    common::wait_link_up(admin, "sim").await;
    let link = get_ok(admin, "/api/links/sim").await;
    let reconnects = link["reconnects"].as_u64().unwrap();
    eprintln!("the link reconnected {reconnects} times");
    assert!(reconnects > 0, "the link was never reset: {link}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_that_stops_answering_loses_nothing() {
    let dir = temp_dir("faults-hang");
    // Besides the hang below, 2 % of submits are never answered at all.
    let sim = Simulator::start(
        &dir,
        "carrier",
        &["--receipt-delay", "10ms", "--withhold-percent", "2"],
    );
    let gw = gateway(&dir, &sim, "window = 10\nmax_attempts = 20");
    let total = 3_000;
    let load = Load::start(gw.addr, 2, total);
    load.until_acked(total / 3, Duration::from_secs(60)).await;
    // SIGSTOP: the carrier hangs with its connections open (the kernel still takes our
    // bytes), answering nothing, for several response timeouts; then it goes on.
    let hang = Duration::from_secs(4);
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(sim.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    };
    signal("STOP");
    let (acked_before, _) = load.progress();
    tokio::time::sleep(hang).await;
    signal("CONT");
    let (acked_after, _) = load.progress();
    eprintln!(
        "carrier hung for {hang:?} at {acked_before} acknowledged ({acked_after} after: the \
         gateway kept accepting)"
    );
    let ledger = load.finish(Duration::from_secs(60)).await;
    let tally = Tally::of(&ledger, &sim.submits());
    tally.report("carrier hung 4 s, 2 % withheld", &ledger);
    if tally.lost() > 0 {
        eprintln!("{}", warnings(&gw));
    }
    assert!(
        tally
            .carrier_outcomes
            .get("withheld")
            .is_some_and(|n| *n > 0),
        "nothing withheld: {:?}",
        tally.carrier_outcomes
    );
    tally.assert_nothing_lost(&ledger, total);
    assert_eq!(ledger.broken, 0, "client binds broke");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_that_flaps_loses_nothing() {
    let dir = temp_dir("faults-flap");
    let port = Simulator::reserve_port();
    // Run n of the carrier counts its ids from n * 0x10000000: the first hex digit of a
    // carrier id says which run accepted the message. (A carrier that restarts does not hand
    // out the ids of its last life again; the gateway would take a receipt for one for the
    // older message.)
    let run = |n: u64| {
        let id_start = format!("{:#x}", 0x1000_0000 * n);
        let args = ["--receipt-delay", "10ms", "--id-start", id_start.as_str()];
        Simulator::start_on(&dir, &format!("carrier{n}"), port, &args)
    };
    const RUNS: u64 = 4;
    let mut sim = run(1);
    let mut logs = vec![sim.log().to_path_buf()];
    let gw = gateway(&dir, &sim, "window = 10\nmax_attempts = 20");
    let total = 3_000;
    let load = Load::start(gw.addr, 2, total);
    let submits = |logs: &[std::path::PathBuf]| -> Vec<LoggedSubmit> {
        logs.iter()
            .flat_map(|l| common::read_submit_log(l))
            .collect()
    };
    // SIGKILL the carrier three times as it gets through the load (at 20, 40 and 60 % of it
    // accepted, so that the last run, which lives to the end, gets the rest); it comes back
    // on its port 300 ms later.
    for n in 1..RUNS {
        let at = total * usize::try_from(n).unwrap() / 5;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let accepted = submits(&logs).iter().filter(|s| s.id().is_some()).count();
            if accepted >= at {
                break;
            }
            if Instant::now() >= deadline {
                eprintln!("{}", warnings(&gw));
                let link = get_ok(gw.admin.unwrap(), "/api/links/sim").await;
                panic!(
                    "the carrier accepted {accepted} submits, not {at}, in 60 s after {} \
                     kills; link: {link}",
                    n - 1
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sim.kill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        // It waits for the simulator to say it is ready.
        sim = tokio::task::block_in_place(|| run(n + 1));
        logs.push(sim.log().to_path_buf());
    }
    // A killed carrier takes the receipts it had not delivered yet with it, and the last lines
    // of its submit log: a message last accepted by a run that was killed may get no receipt,
    // and that is the carrier's loss. The last run lives to the end: it loses nothing.
    let died_with = |logs: &[std::path::PathBuf]| -> HashSet<String> {
        let mut last_run: HashMap<Vec<u8>, u64> = HashMap::new();
        for s in submits(logs) {
            if let Some(id) = s.id() {
                let run = u64::from_str_radix(id, 16).unwrap() >> 28;
                last_run.insert(s.submit_sm().short_message.as_bytes().to_vec(), run);
            }
        }
        last_run
            .into_iter()
            .filter(|(_, run)| *run < RUNS)
            .map(|(token, _)| String::from_utf8(token).unwrap())
            .collect()
    };
    let ledger = {
        let (logs, ledger) = (logs.clone(), load.ledger.clone());
        let last_kill = Instant::now();
        load.finish_unless(Duration::from_secs(60), move || {
            let mut excused = died_with(&logs);
            // A submit log loses its last lines with its run: a few seconds after the last
            // kill, the messages in no log are excused here too (and checked against the
            // gateway's record below).
            if last_kill.elapsed() < Duration::from_secs(5) {
                return excused;
            }
            let logged: HashSet<Vec<u8>> = submits(&logs)
                .iter()
                .map(|s| s.submit_sm().short_message.as_bytes().to_vec())
                .collect();
            let tokens: Vec<String> = lock(&ledger).acked.keys().cloned().collect();
            excused.extend(
                tokens
                    .into_iter()
                    .filter(|t| !logged.contains(t.as_bytes())),
            );
            excused
        })
        .await
    };
    let mut excused = died_with(&logs);
    let all_submits = submits(&logs);
    let mut tally = Tally::of(&ledger, &all_submits);
    let last_run = all_submits
        .iter()
        .filter(|s| s.id().is_some_and(|id| id.starts_with(&RUNS.to_string())))
        .count();
    // What the log lost with a killed run: the gateway's record must show a carrier id of a
    // killed run.
    let admin = gw.admin.unwrap();
    let mut unlogged_by_run: BTreeMap<u64, usize> = BTreeMap::new();
    for token in std::mem::take(&mut tally.never_at_carrier) {
        let id = &ledger.acked[&token];
        let message = get_ok(admin, &format!("/api/messages/{id}")).await;
        let carrier_id = message["carrier"]["carrier_id"]
            .as_str()
            .unwrap_or_default();
        let run = u64::from_str_radix(carrier_id, 16).map_or(0, |id| id >> 28);
        *unlogged_by_run.entry(run).or_default() += 1;
        if (1..RUNS).contains(&run) {
            excused.insert(token);
        } else {
            tally.never_at_carrier.push(token);
        }
    }
    let no_receipt: Vec<&String> = ledger
        .acked
        .iter()
        .filter(|(token, id)| !ledger.receipts.contains_key(*id) && !excused.contains(*token))
        .map(|(token, _)| token)
        .collect();
    tally.carrier_died_with = tally.no_receipt.len() - no_receipt.len();
    tally.report(
        &format!(
            "carrier SIGKILLed {} times ({} messages last accepted by a run that was killed, \
             {last_run} by the last run; accepted, by the gateway's record, without a line in \
             the log, by run: {unlogged_by_run:?})",
            RUNS - 1,
            excused.len()
        ),
        &ledger,
    );
    if tally.lost() > 0 {
        eprintln!("{}", warnings(&gw));
        explain(&gw, &ledger, &no_receipt).await;
    }
    assert!(
        tally.never_at_carrier.is_empty(),
        "{} acknowledged messages never accepted by the carrier, e.g. tokens {:?}",
        tally.never_at_carrier.len(),
        &tally.never_at_carrier[..tally.never_at_carrier.len().min(5)]
    );
    assert!(
        no_receipt.is_empty(),
        "{} acknowledged messages without a receipt the carrier sent, e.g. tokens {:?}",
        no_receipt.len(),
        &no_receipt[..no_receipt.len().min(5)]
    );
    assert!(
        ledger.reissued.is_empty(),
        "ids reissued: {:?}",
        ledger.reissued
    );
    assert_eq!(ledger.broken, 0, "client binds broke");
    assert!(
        last_run > 0,
        "the last run of the carrier got nothing to check"
    );
}
