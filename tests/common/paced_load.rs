//! A paced load for fault runs against one gateway or several cluster nodes: one transceiver
//! bind of client `shop` per node, a fixed total rate spread over the binds that are up and
//! have room in their window, each submit_sm's text `load-SEQ` with a unique SEQ and
//! registered_delivery 1. It records every acknowledged submit (seq, gateway id, node) and
//! every receipt (gateway id). A bind whose node dies, or stops answering for
//! [`RESPONSE_TIMEOUT`], is dropped and bound again once the node answers; its submits without
//! a response are counted as unanswered, never as acknowledged, and are not sent again (the
//! load is paced, not a fixed set of messages).

use bytes::BytesMut;
use smpp_proto::frame::{split_frame, DEFAULT_MAX_PDU_LEN};
use smpp_proto::pdu::esm_class;
use smpp_proto::{receipt, Body, CommandId, CommandStatus, Pdu};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Submits in flight per bind.
pub const WINDOW: usize = 64;
/// A bind whose oldest submit has waited this long for its response is dropped (its node is
/// dead or paused) and bound again.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a bind waits for its bind_resp.
const BIND_TIMEOUT: Duration = Duration::from_secs(5);
/// The text of submit SEQ is this and SEQ.
pub const SEQ_PREFIX: &str = "load-";
/// The credentials the load binds with (client `shop` of the rigs' configs).
const SYSTEM_ID: &str = "shop";
const PASSWORD: &str = "secret1";

/// The SEQ of a load submit's text, if it is one.
pub fn seq_of(text: &[u8]) -> Option<u64> {
    std::str::from_utf8(text)
        .ok()?
        .strip_prefix(SEQ_PREFIX)?
        .parse()
        .ok()
}

/// An acknowledged submit.
#[derive(Clone, Debug)]
pub struct Acked {
    /// The gateway's message id.
    pub id: String,
    /// The node that acknowledged it.
    pub node: String,
    /// Wall-clock ms when the response came.
    pub at_ms: i64,
}

/// What the load saw.
#[derive(Clone, Debug, Default)]
pub struct LoadRecord {
    /// Acknowledged submits by seq.
    pub acked: BTreeMap<u64, Acked>,
    /// Every gateway id acknowledged.
    pub ids: HashSet<String>,
    /// Gateway ids acknowledged for a second seq (an id given out twice; must not happen).
    pub reissued: Vec<String>,
    /// Receipts by gateway id: how many came, and the node of the first.
    pub receipts: HashMap<String, (u32, String)>,
    /// Submits sent (written to a socket).
    pub sent: u64,
    /// submit_sm_resp with an error status, by status.
    pub refused: BTreeMap<String, u64>,
    /// Submits whose response never came (the bind broke or timed out).
    pub unanswered: u64,
    /// Messages the pacer could not place: no bind up, or every window full.
    pub unplaced: u64,
    /// Binds that went through, by node.
    pub binds: BTreeMap<String, u64>,
    /// Binds dropped because their node stopped answering ([`RESPONSE_TIMEOUT`]).
    pub timeouts: u64,
    /// Bound connections that broke.
    pub broken: u64,
    /// What went wrong in a way the load does not expect (a PDU it cannot place).
    pub errors: Vec<String>,
}

impl LoadRecord {
    /// Submits sent whose response has not come yet (nor been given up on).
    pub fn pending(&self) -> u64 {
        let answered =
            self.acked.len() as u64 + self.refused.values().sum::<u64>() + self.unanswered;
        self.sent.saturating_sub(answered)
    }

    /// Acknowledged ids with no receipt yet.
    pub fn missing_receipts(&self) -> Vec<(u64, &Acked)> {
        self.acked
            .iter()
            .filter(|(_, a)| !self.receipts.contains_key(&a.id))
            .map(|(seq, a)| (*seq, a))
            .collect()
    }

    /// Acknowledged submits by node.
    pub fn acked_by_node(&self) -> BTreeMap<String, usize> {
        let mut by = BTreeMap::new();
        for a in self.acked.values() {
            *by.entry(a.node.clone()).or_default() += 1;
        }
        by
    }
}

/// What the pacer, the binds and the test share.
struct Shared {
    record: Mutex<LoadRecord>,
    /// The pacer places messages while this holds.
    submitting: AtomicBool,
    /// The binds stop once this holds.
    done: AtomicBool,
    next_seq: AtomicU64,
    /// The binds up now, each with the channel its messages go to.
    live: Mutex<Vec<(usize, String, mpsc::Sender<u64>)>>,
}

/// A running paced load.
pub struct PacedLoad {
    shared: Arc<Shared>,
    addrs: BTreeMap<String, watch::Sender<SocketAddr>>,
    tasks: Vec<JoinHandle<()>>,
    pub started: Instant,
    /// Messages per second, all binds together.
    pub rate: u32,
}

impl PacedLoad {
    /// Starts one bind per `(node, address)` and the pacer at `rate` messages per second.
    pub fn start(targets: &[(String, SocketAddr)], rate: u32) -> Self {
        let shared = Arc::new(Shared {
            record: Mutex::default(),
            submitting: AtomicBool::new(true),
            done: AtomicBool::new(false),
            next_seq: AtomicU64::new(1),
            live: Mutex::default(),
        });
        let mut addrs = BTreeMap::new();
        let mut tasks = Vec::new();
        for (tag, (node, addr)) in targets.iter().enumerate() {
            let (tx, rx) = watch::channel(*addr);
            addrs.insert(node.clone(), tx);
            let (shared, node) = (shared.clone(), node.clone());
            tasks.push(tokio::spawn(async move {
                bind_loop(tag, node, rx, &shared).await;
            }));
        }
        tasks.push(tokio::spawn(pace(shared.clone(), rate)));
        Self {
            shared,
            addrs,
            tasks,
            started: Instant::now(),
            rate,
        }
    }

    /// A copy of the record so far.
    pub fn record(&self) -> LoadRecord {
        lock(&self.shared.record).clone()
    }

    /// (acknowledged, receipts) so far.
    pub fn progress(&self) -> (usize, usize) {
        let record = lock(&self.shared.record);
        (record.acked.len(), record.receipts.len())
    }

    /// The nodes with a bind up now.
    pub fn bound_nodes(&self) -> HashSet<String> {
        lock(&self.shared.live)
            .iter()
            .map(|(_, node, _)| node.clone())
            .collect()
    }

    /// Waits until every node in `nodes` has a bind up; panics after `limit`.
    pub async fn until_bound(&self, nodes: &[&str], limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let bound = self.bound_nodes();
            if nodes.iter().all(|n| bound.contains(*n)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "binds to {nodes:?} not all up within {limit:?}: up {bound:?}; {:?}",
                self.record().errors
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Node `node` moved to `addr` (restarted on another port): its bind connects there.
    pub fn point_to(&self, node: &str, addr: SocketAddr) {
        if let Some(tx) = self.addrs.get(node) {
            tx.send_replace(addr);
        }
    }

    /// Stops placing new messages; the binds keep taking responses and receipts.
    pub fn stop_submitting(&self) {
        self.shared.submitting.store(false, Ordering::Relaxed);
    }

    /// Stops submitting, then waits (up to `limit`) until every acknowledged submit has its
    /// receipt, saying how it goes every 5 s; stops the binds and returns the record.
    pub async fn drain(mut self, limit: Duration) -> LoadRecord {
        self.stop_submitting();
        let deadline = Instant::now() + limit;
        let mut said = Instant::now();
        loop {
            let (missing, pending) = {
                let record = lock(&self.shared.record);
                (record.missing_receipts().len(), record.pending())
            };
            // Responses on their way still add acknowledged submits, which need receipts.
            if (missing == 0 && pending == 0) || Instant::now() >= deadline {
                break;
            }
            if said.elapsed() >= Duration::from_secs(5) {
                let (acked, receipts) = self.progress();
                eprintln!(
                    "drain {:.0?}: {acked} acknowledged, {receipts} receipts, {missing} missing",
                    self.started.elapsed()
                );
                said = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // A last look for responses on their way.
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.shared.done.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut self.tasks) {
            // Each task looks at `done` at least every 200 ms.
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        let record = lock(&self.shared.record).clone();
        record
    }
}

impl Drop for PacedLoad {
    fn drop(&mut self) {
        self.shared.done.store(true, Ordering::Relaxed);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap()
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// The pacer: every 5 ms, the messages due at `rate` since the start (not since the last
/// tick, so the rate holds over time), each handed to the next live bind with room; a message
/// no bind can take is not made (counted as unplaced), so a stall does not bunch up.
async fn pace(shared: Arc<Shared>, rate: u32) {
    let started = Instant::now();
    let mut made: u64 = 0;
    let mut turn = 0usize;
    let mut ticks = tokio::time::interval(Duration::from_millis(5));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !shared.done.load(Ordering::Relaxed) {
        ticks.tick().await;
        if !shared.submitting.load(Ordering::Relaxed) {
            continue;
        }
        let due = (started.elapsed().as_secs_f64() * f64::from(rate)) as u64;
        while made < due {
            made += 1;
            let live: Vec<mpsc::Sender<u64>> = lock(&shared.live)
                .iter()
                .map(|(_, _, tx)| tx.clone())
                .collect();
            let mut placed = false;
            for i in 0..live.len() {
                let tx = &live[(turn + i) % live.len()];
                let seq = shared.next_seq.load(Ordering::Relaxed);
                if tx.try_send(seq).is_ok() {
                    shared.next_seq.fetch_add(1, Ordering::Relaxed);
                    turn = (turn + i + 1) % live.len();
                    placed = true;
                    break;
                }
            }
            if !placed {
                lock(&shared.record).unplaced += 1;
            }
        }
    }
}

/// One node's bind: connects, binds, serves until it breaks, and again, until the load is
/// done.
async fn bind_loop(
    tag: usize,
    node: String,
    mut addr: watch::Receiver<SocketAddr>,
    shared: &Shared,
) {
    while !shared.done.load(Ordering::Relaxed) {
        let target = *addr.borrow_and_update();
        let connect = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(target));
        let Ok(Ok(stream)) = connect.await else {
            // Down or restarting: wait for a new address, or try again soon.
            let _ = tokio::time::timeout(Duration::from_millis(200), addr.changed()).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        let mut session = Session {
            node: node.clone(),
            reader,
            writer,
            buf: BytesMut::new(),
            seq: 1,
            in_flight: HashMap::new(),
        };
        if !session.bind().await {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        *lock(&shared.record).binds.entry(node.clone()).or_default() += 1;
        // Room for a few messages beyond the window: the pacer's ticks come in bursts.
        let (tx, mut rx) = mpsc::channel(16);
        lock(&shared.live).push((tag, node.clone(), tx));
        let ended = session.serve(&mut rx, shared).await;
        lock(&shared.live).retain(|(t, _, _)| *t != tag);
        let mut record = lock(&shared.record);
        record.unanswered += session.in_flight.len() as u64;
        // Placed here and never sent.
        while rx.try_recv().is_ok() {
            record.unplaced += 1;
        }
        match ended {
            Ended::Done => return,
            Ended::Broken => record.broken += 1,
            Ended::TimedOut => record.timeouts += 1,
            Ended::Failed(why) => record.errors.push(format!("{node}: {why}")),
        }
    }
}

/// How a bound connection ended.
enum Ended {
    Done,
    Broken,
    TimedOut,
    Failed(String),
}

/// One connection of a node's bind.
struct Session {
    node: String,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    buf: BytesMut,
    seq: u32,
    /// Submits awaiting their response: sequence number → (load seq, when sent).
    in_flight: HashMap<u32, (u64, Instant)>,
}

impl Session {
    /// Binds as a transceiver of `shop`; false if it did not go through in time.
    async fn bind(&mut self) -> bool {
        let bind = super::bind(CommandId::BindTransceiver, SYSTEM_ID, PASSWORD);
        if self
            .writer
            .write_all(&Pdu::new(self.seq, bind).to_bytes())
            .await
            .is_err()
        {
            return false;
        }
        let deadline = Instant::now() + BIND_TIMEOUT;
        loop {
            match split_frame(&mut self.buf, DEFAULT_MAX_PDU_LEN) {
                Ok(Some(frame)) => {
                    return matches!(Pdu::decode(&frame), Ok(pdu)
                        if pdu.body.command_id() == CommandId::BindTransceiverResp
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

    /// Sends what the pacer hands it (within the window), takes responses and receipts,
    /// until the connection breaks, its node stops answering, or the load is done.
    async fn serve(&mut self, placed: &mut mpsc::Receiver<u64>, shared: &Shared) -> Ended {
        let mut out = BytesMut::new();
        let mut check = tokio::time::interval(Duration::from_millis(200));
        loop {
            let room = self.in_flight.len() < WINDOW;
            tokio::select! {
                seq = placed.recv(), if room => {
                    let Some(seq) = seq else { return Ended::Done };
                    self.seq = self.seq.wrapping_add(1).max(2);
                    let text = format!("{SEQ_PREFIX}{seq}");
                    Pdu::new(self.seq, super::submit("447700900123", &text)).encode(&mut out);
                    self.in_flight.insert(self.seq, (seq, Instant::now()));
                    lock(&shared.record).sent += 1;
                }
                read = self.reader.read_buf(&mut self.buf) => {
                    match read {
                        Ok(0) | Err(_) => return Ended::Broken,
                        Ok(_) => {
                            if let Err(why) = self.take(&mut out, shared) {
                                return why;
                            }
                        }
                    }
                }
                _ = check.tick() => {
                    if shared.done.load(Ordering::Relaxed) {
                        return Ended::Done;
                    }
                    let oldest = self.in_flight.values().map(|(_, at)| *at).min();
                    if oldest.is_some_and(|at| at.elapsed() > RESPONSE_TIMEOUT) {
                        return Ended::TimedOut;
                    }
                }
            }
            if !out.is_empty() {
                if self.writer.write_all(&out).await.is_err() {
                    return Ended::Broken;
                }
                out.clear();
            }
        }
    }

    /// Handles every whole PDU in the buffer; answers go to `out`.
    fn take(&mut self, out: &mut BytesMut, shared: &Shared) -> Result<(), Ended> {
        let node = &self.node;
        loop {
            let frame = match split_frame(&mut self.buf, DEFAULT_MAX_PDU_LEN) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(()),
                Err(e) => return Err(Ended::Failed(format!("framing: {e}"))),
            };
            let pdu = Pdu::decode(&frame).map_err(|e| Ended::Failed(format!("{e}")))?;
            match &pdu.body {
                Body::SubmitSmResp(resp) => {
                    let Some((seq, _)) = self.in_flight.remove(&pdu.sequence_number) else {
                        return Err(Ended::Failed(format!("response to no submit: {pdu:?}")));
                    };
                    let mut record = lock(&shared.record);
                    if pdu.command_status == CommandStatus::ESME_ROK {
                        let id = resp.message_id.to_string();
                        if !record.ids.insert(id.clone()) {
                            record.reissued.push(id.clone());
                        }
                        let acked = Acked {
                            id,
                            node: node.clone(),
                            at_ms: now_ms(),
                        };
                        record.acked.insert(seq, acked);
                    } else {
                        *record
                            .refused
                            .entry(pdu.command_status.to_string())
                            .or_default() += 1;
                    }
                }
                Body::GenericNack => {
                    if self.in_flight.remove(&pdu.sequence_number).is_some() {
                        *lock(&shared.record)
                            .refused
                            .entry(format!("generic_nack {}", pdu.command_status))
                            .or_default() += 1;
                    }
                }
                Body::DeliverSm(sm) => {
                    if esm_class::is_receipt(sm.esm_class) {
                        let id = sm
                            .tlvs
                            .receipted_message_id()
                            .map(str::to_owned)
                            .or_else(|| {
                                receipt::parse_bytes(sm.short_message.as_bytes())
                                    .ok()
                                    .map(|r| r.id)
                            });
                        let Some(id) = id else {
                            return Err(Ended::Failed(format!("receipt without id: {sm:?}")));
                        };
                        lock(&shared.record)
                            .receipts
                            .entry(id)
                            .or_insert((0, node.clone()))
                            .0 += 1;
                    }
                    if let Some(answer) = pdu.response_with_status(CommandStatus::ESME_ROK) {
                        answer.encode(out);
                    }
                }
                Body::EnquireLink => {
                    Pdu::new(pdu.sequence_number, Body::EnquireLinkResp).encode(out);
                }
                Body::Unbind => {
                    // The node is stopping: answer, and bind again once it is back.
                    Pdu::new(pdu.sequence_number, Body::UnbindResp).encode(out);
                }
                Body::EnquireLinkResp | Body::UnbindResp => {}
                _ => return Err(Ended::Failed(format!("unexpected {pdu:?}"))),
            }
        }
    }
}
