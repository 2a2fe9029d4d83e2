//! The transceiver load of the full-path benchmarks (`e2e`, `cluster`): binds of the bench
//! client that keep up to a window of submit_sm in flight each (registered_delivery=1),
//! optionally paced to an offered rate, answer every deliver_sm, and check every receipt
//! against what was submitted: its receipted_message_id must be an id given in a
//! submit_sm_resp. A long message is 2 or 3 submit_sm (UDH concatenation, esm_class 0x40),
//! each given its own id and receipt, so the bookkeeping ([`Ledger`]) is per submit_sm (part);
//! receipts may come back on any bind of the client (of any node), so it is shared by all
//! binds. [`drive`] runs one load to its end: every submit answered, then every receipt in
//! or the wait over.

use super::micros;
use bytes::BytesMut;
use smpp_proto::coding::Encoding;
use smpp_proto::concat::{self, ConcatMethod};
use smpp_proto::pdu::{MessageIdResp, ShortMessage};
use smpp_proto::{frame, receipt, Body, CommandId, Pdu};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

/// One load: its binds, their window, what they send.
pub(crate) struct Drive<'a> {
    /// Where each bind goes, one entry per bind (the same address several times for several
    /// binds to one gateway).
    pub(crate) addrs: &'a [SocketAddr],
    /// submit_sm in flight per bind, at most.
    pub(crate) window: usize,
    /// Messages, all binds together (rounded up to a multiple of the binds); a long one is
    /// 2–3 submit_sm.
    pub(crate) messages: u64,
    /// Messages per second offered over all binds, spread evenly over each bind's second;
    /// `None`: as fast as the windows allow.
    pub(crate) rate: Option<f64>,
    pub(crate) mix: &'a Mix,
    /// How long to wait for receipts once every submit_sm was answered.
    pub(crate) receipt_wait: Duration,
}

/// When [`drive`] calls its observer: once every bind is up and the clock starts, once a
/// second, and once the load is over (every receipt in, or the wait over).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tick {
    Start,
    Second,
    End,
}

/// What a load did.
pub(crate) struct Driven {
    /// Latencies sorted.
    pub(crate) ledger: Ledger,
    /// Once every bind was up.
    pub(crate) started: Instant,
    /// When the load ended (all receipts in, or the wait over).
    pub(crate) ended: Instant,
    /// Messages and submit_sm written, and messages by kind ([`Kind::ALL`]'s order).
    pub(crate) messages: u64,
    pub(crate) parts: u64,
    pub(crate) by_kind: [u64; 3],
}

impl Driven {
    /// Seconds from the first submit to the last submit_sm_resp, if there was one.
    pub(crate) fn submit_secs(&self) -> Option<f64> {
        self.ledger
            .last_submit_resp
            .map(|t| t.duration_since(self.started).as_secs_f64())
    }

    /// Seconds from the first submit to the last receipt, if there was one.
    pub(crate) fn receipt_secs(&self) -> Option<f64> {
        self.ledger
            .last_receipt
            .map(|t| t.duration_since(self.started).as_secs_f64())
    }
}

/// Runs the load `d` on a runtime of its own: binds (the clock starts once all are up),
/// submits, then waits until every submit_sm was answered and every accepted one got its
/// receipt, or `receipt_wait` passed after the last answer. `observe` is called with the
/// ledger locked at each [`Tick`], with the seconds since the start.
pub(crate) fn drive(d: &Drive<'_>, mut observe: impl FnMut(Tick, f64, &Ledger)) -> Driven {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let written = Arc::new(Written::default());
    let templates = Arc::new(Templates::new());
    let mix = Arc::new(d.mix.clone());
    let binds = d.addrs.len();
    assert!(binds > 0, "a load needs at least one bind");
    assert!(d.window < RING / 2, "window too large");
    let per_bind = d.messages.div_ceil(binds as u64);
    let per_bind_rate = d.rate.map(|r| r / binds as f64);
    let shared = ledger.clone();
    let counts = written.clone();
    let (started, ended) = runtime.block_on(async {
        let stop = CancellationToken::new();
        let mut loads = Vec::new();
        for addr in d.addrs {
            loads.push(Load::bind(*addr, d.window, shared.clone()).await);
        }
        // The clock starts once every bind is up: binding is not submitting.
        let started = Instant::now();
        observe(Tick::Start, 0.0, &shared.lock().unwrap());
        let tasks: Vec<_> = loads
            .into_iter()
            .enumerate()
            .map(|(i, load)| {
                let source = Source {
                    templates: templates.clone(),
                    mix: mix.clone(),
                    total: per_bind,
                    pace: per_bind_rate.map(|per_sec| Pace {
                        start: started,
                        per_sec,
                    }),
                    // Each bind its own concatenation references.
                    first_reference: (i * 64) as u8,
                };
                tokio::spawn(load.run(source, stop.clone(), counts.clone()))
            })
            .collect();
        // Submits done: every submit_sm answered. Then receipts: all in, or the wait is over.
        let mut receipts_deadline = None;
        let mut next_sample = started;
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let ledger = shared.lock().unwrap();
            let now = Instant::now();
            if now >= next_sample {
                next_sample += Duration::from_secs(1);
                observe(
                    Tick::Second,
                    now.duration_since(started).as_secs_f64(),
                    &ledger,
                );
            }
            let answered = ledger.accepted + ledger.refused;
            let all_written = counts.messages.load(Ordering::Relaxed) == per_bind * binds as u64;
            if !all_written || answered < counts.parts.load(Ordering::Relaxed) {
                continue;
            }
            let deadline =
                *receipts_deadline.get_or_insert_with(|| Instant::now() + d.receipt_wait);
            if ledger.waiting.is_empty() || Instant::now() >= deadline {
                break;
            }
        }
        let ended = Instant::now();
        // Once more: the run may end between two seconds.
        observe(
            Tick::End,
            ended.duration_since(started).as_secs_f64(),
            &shared.lock().unwrap(),
        );
        stop.cancel();
        for task in tasks {
            task.await.unwrap();
        }
        (started, ended)
    });
    drop(shared);
    let mut ledger = Arc::try_unwrap(ledger)
        .ok()
        .expect("load tasks are done")
        .into_inner()
        .unwrap();
    ledger.submit_latency_us.sort_unstable();
    ledger.receipt_latency_us.sort_unstable();
    Driven {
        ledger,
        started,
        ended,
        messages: written.messages.load(Ordering::Relaxed),
        parts: written.parts.load(Ordering::Relaxed),
        by_kind: written
            .by_kind
            .each_ref()
            .map(|c| c.load(Ordering::Relaxed)),
    }
}

/// Send times by sequence number modulo this: far more than a window, so no slot is reused
/// while its request is in flight.
pub(crate) const RING: usize = 8192;

/// 70 characters of UCS-2 (Cyrillic), a full single UCS-2 SMS (140 octets).
const UCS2_TEXT: &str = "Ваш код подтверждения 482913. Никому его не сообщайте. Спасибо! До 10:00";
/// GSM 7-bit texts of 2 parts (153 + up to 153 septets) and of 3.
const LONG_TEXT_2: &str = "Your parcel 7731-0045-2281 has left our depot and will be delivered \
    tomorrow between 9:00 and 13:00. If nobody is at home, the driver will leave it with a \
    neighbour or take it to the nearest pick-up point; you can change this at any time.";
const LONG_TEXT_3: &str = "Dear customer, your monthly statement for account 4471-2290 is \
    ready. Balance: 1,284.50 EUR. Minimum payment: 45.00 EUR, due on the 28th. Pay online, by \
    phone on 0800 123 456 or at any branch. To stop paper statements, reply PAPER OFF. For \
    help with your account, visit our website or call us any day between 8:00 and 22:00. \
    Thank you for banking with us - your bank team.";

/// The kinds of message the load sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Gsm,
    Ucs2,
    Long,
}

impl Kind {
    pub(crate) const ALL: [(Self, &'static str); 3] = [
        (Self::Gsm, "gsm"),
        (Self::Ucs2, "ucs2"),
        (Self::Long, "long"),
    ];
}

/// Shares of the kinds of message, as weights (`gsm=80,ucs2=15,long=5`).
#[derive(Clone)]
pub(crate) struct Mix {
    weights: Vec<(Kind, u64)>,
    total: u64,
}

impl Mix {
    pub(crate) fn parse(text: &str) -> Self {
        let weights: Vec<(Kind, u64)> = text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                let (name, weight) = t
                    .split_once('=')
                    .unwrap_or_else(|| panic!("mix: {t:?} is not kind=weight"));
                let kind = Kind::ALL
                    .iter()
                    .find(|(_, n)| *n == name.trim())
                    .unwrap_or_else(|| panic!("mix: {name:?} is not gsm, ucs2 or long"))
                    .0;
                let weight = weight
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("mix: {weight:?} is not a number"));
                (kind, weight)
            })
            .filter(|(_, w)| *w > 0)
            .collect();
        let total = weights.iter().map(|(_, w)| w).sum();
        assert!(total > 0, "mix: no kind has a weight");
        Self { weights, total }
    }

    /// The kind of message number `n` of a bind: spread by a multiplicative hash, so the
    /// kinds interleave in the given shares.
    fn kind(&self, n: u64) -> Kind {
        let mut slot = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % self.total;
        for &(kind, weight) in &self.weights {
            if slot < weight {
                return kind;
            }
            slot -= weight;
        }
        unreachable!("slot < total, the sum of the weights")
    }
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .weights
            .iter()
            .map(|(kind, w)| {
                let name = Kind::ALL.iter().find(|(k, _)| k == kind).unwrap().1;
                format!("{name}={w}")
            })
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

/// One submit_sm as sent (sequence number 0), and where its UDH concatenation reference is.
struct Part {
    bytes: Vec<u8>,
    reference_at: Option<usize>,
}

/// The submit_sm of each message variant: GSM, UCS-2, long of 2 parts, long of 3.
struct Templates {
    variants: [Vec<Part>; 4],
}

impl Templates {
    fn new() -> Self {
        let gsm = vec![Part {
            bytes: super::submit_template(),
            reference_at: None,
        }];
        let mut ucs2 = super::submit_sm(1);
        ucs2.data_coding = 8;
        ucs2.short_message = ShortMessage::new(Encoding::Ucs2.encode(UCS2_TEXT).unwrap()).unwrap();
        let ucs2 = vec![Part {
            bytes: super::template(&ucs2),
            reference_at: None,
        }];
        let long = |text: &str, parts: usize| -> Vec<Part> {
            let segments = concat::split(text, Encoding::Gsm7, ConcatMethod::Udh8, 0).unwrap();
            assert_eq!(segments.len(), parts, "{text:?}");
            segments
                .iter()
                .map(|segment| {
                    let mut sm = super::submit_sm(1);
                    sm.set_segment(segment);
                    let bytes = super::template(&sm);
                    // short_message ends the PDU (no TLVs); `05 00 03 RR TT SS` starts it.
                    let reference_at = bytes.len() - segment.short_message.len() + 3;
                    assert_eq!(bytes[reference_at - 3..reference_at], [0x05, 0x00, 0x03]);
                    Part {
                        bytes,
                        reference_at: Some(reference_at),
                    }
                })
                .collect()
        };
        Self {
            variants: [gsm, ucs2, long(LONG_TEXT_2, 2), long(LONG_TEXT_3, 3)],
        }
    }

    /// The variant of message `n` of kind `kind`: long ones alternate 2 and 3 parts.
    fn variant(kind: Kind, n: u64) -> usize {
        match kind {
            Kind::Gsm => 0,
            Kind::Ucs2 => 1,
            Kind::Long => 2 + (n % 2) as usize,
        }
    }
}

/// What all binds learn, together (a receipt may come back on any bind of the client).
#[derive(Default)]
pub(crate) struct Ledger {
    /// Accepted ids still waiting for their receipt, with the time their submit was written.
    pub(crate) waiting: HashMap<String, Instant>,
    /// Ids whose receipt came.
    pub(crate) receipted: HashSet<String>,
    /// Receipts whose id was not (yet) given in a submit_sm_resp: id → time received.
    pub(crate) early: HashMap<String, Instant>,
    pub(crate) accepted: u64,
    pub(crate) refused: u64,
    /// Refusals by command_status, to tell backpressure (ESME_RMSGQFUL …) from errors.
    pub(crate) refused_by_status: std::collections::BTreeMap<String, u64>,
    pub(crate) duplicated: u64,
    pub(crate) submit_latency_us: Vec<u32>,
    pub(crate) receipt_latency_us: Vec<u32>,
    pub(crate) last_submit_resp: Option<Instant>,
    pub(crate) last_receipt: Option<Instant>,
}

impl Ledger {
    fn accepted(&mut self, id: String, sent: Instant) {
        self.accepted += 1;
        if let Some(at) = self.early.remove(&id) {
            // The receipt overtook the submit_sm_resp: latency as seen then.
            self.receipt_latency_us
                .push(micros(at.duration_since(sent)));
            self.receipted.insert(id);
        } else {
            self.waiting.insert(id, sent);
        }
    }

    fn receipt(&mut self, id: String, now: Instant) {
        self.last_receipt = Some(now);
        if let Some(sent) = self.waiting.remove(&id) {
            self.receipt_latency_us
                .push(micros(now.duration_since(sent)));
            self.receipted.insert(id);
        } else if self.receipted.contains(&id) || self.early.contains_key(&id) {
            self.duplicated += 1;
        } else {
            self.early.insert(id, now);
        }
    }
}

/// Messages and submit_sm written, over all binds.
#[derive(Default)]
struct Written {
    messages: AtomicU64,
    parts: AtomicU64,
    by_kind: [AtomicU64; 3],
}

/// Even pacing of one bind: message `n` is due `n / per_sec` seconds after `start`.
#[derive(Clone, Copy)]
struct Pace {
    start: Instant,
    per_sec: f64,
}

impl Pace {
    fn due(&self, n: u64) -> Instant {
        self.start + Duration::from_secs_f64(n as f64 / self.per_sec)
    }
}

/// What one bind sends: `total` messages of the mix, paced or not.
struct Source {
    templates: Arc<Templates>,
    mix: Arc<Mix>,
    total: u64,
    pace: Option<Pace>,
    first_reference: u8,
}

/// One transceiver bind: a writer task keeps `window` submits in flight and writes the
/// deliver_sm_resp the reader hands it; the reader settles responses and receipts.
struct Load {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    rbuf: BytesMut,
    window: usize,
    ledger: Arc<Mutex<Ledger>>,
}

impl Load {
    async fn bind(addr: SocketAddr, window: usize, ledger: Arc<Mutex<Ledger>>) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (reader, writer) = stream.into_split();
        let mut load = Self {
            reader,
            writer,
            rbuf: super::read_buffer(),
            window,
            ledger,
        };
        let bytes = super::bind_bytes(CommandId::BindTransceiver);
        load.writer.write_all(&bytes).await.unwrap();
        let pdu = load.next_pdu().await.expect("bind_transceiver_resp");
        assert_eq!(pdu.command_id(), CommandId::BindTransceiverResp);
        assert!(
            pdu.command_status.is_ok(),
            "bind refused: {}",
            pdu.command_status
        );
        load
    }

    async fn run(self, source: Source, stop: CancellationToken, written: Arc<Written>) {
        let Self {
            reader,
            writer,
            rbuf,
            window,
            ledger,
        } = self;
        let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; RING]));
        let permits = Arc::new(Semaphore::new(window));
        let (resp_tx, resp_rx) = mpsc::channel::<Vec<u8>>(RING);
        let write = tokio::spawn(write_loop(WriteLoop {
            writer,
            source,
            window,
            permits: permits.clone(),
            sent_at: sent_at.clone(),
            responses: resp_rx,
            stop: stop.clone(),
            written,
        }));
        let mut read = ReadLoop {
            reader,
            rbuf,
            permits,
            sent_at,
            responses: resp_tx,
            ledger,
        };
        tokio::select! {
            () = read.run() => {}
            () = stop.cancelled() => {}
        }
        drop(read);
        write.await.unwrap();
    }

    async fn next_pdu(&mut self) -> Option<Pdu> {
        next_pdu(&mut self.reader, &mut self.rbuf).await
    }
}

struct WriteLoop {
    writer: OwnedWriteHalf,
    source: Source,
    window: usize,
    permits: Arc<Semaphore>,
    sent_at: Arc<Mutex<Vec<Option<Instant>>>>,
    responses: mpsc::Receiver<Vec<u8>>,
    stop: CancellationToken,
    written: Arc<Written>,
}

/// Writes the source's messages part by part, each part taking a window slot; a message
/// is started only when its time has come (if paced). Also writes what the reader hands it.
async fn write_loop(mut w: WriteLoop) {
    let mut wbuf = Vec::with_capacity(w.window * 200);
    // Parts of started messages not yet written: (variant, part, reference).
    let mut pending: VecDeque<(usize, usize, u8)> = VecDeque::new();
    let mut started = 0u64;
    let mut reference = w.source.first_reference;
    let mut seq: u32 = 1; // 1 was the bind.
    let permits = w.permits.clone();
    loop {
        let more = !pending.is_empty() || started < w.source.total;
        // Without a part waiting, the next slot is taken only once the next message is due.
        let due = match (pending.is_empty(), w.source.pace) {
            (true, Some(pace)) => Some(pace.due(started)),
            _ => None,
        };
        let slot = async {
            if let Some(due) = due {
                tokio::time::sleep_until(due.into()).await;
            }
            permits.acquire().await
        };
        tokio::select! {
            biased;
            () = w.stop.cancelled() => return,
            frame = w.responses.recv() => match frame {
                Some(frame) => wbuf.extend_from_slice(&frame),
                None => return,
            },
            permit = slot, if more => {
                permit.unwrap().forget();
                let mut have_slot = true;
                let now = Instant::now();
                let (mut messages, mut parts) = (0, 0);
                let mut sent_at = w.sent_at.lock().unwrap();
                loop {
                    if pending.is_empty() {
                        let due = w.source.pace.is_none_or(|p| now >= p.due(started));
                        if started >= w.source.total || !due {
                            break;
                        }
                        let kind = w.source.mix.kind(started);
                        let variant = Templates::variant(kind, started);
                        let n = w.source.templates.variants[variant].len();
                        pending.extend((0..n).map(|part| (variant, part, reference)));
                        if n > 1 {
                            reference = reference.wrapping_add(1);
                        }
                        w.written.by_kind[kind as usize].fetch_add(1, Ordering::Relaxed);
                        started += 1;
                        messages += 1;
                    }
                    if !have_slot {
                        match w.permits.try_acquire() {
                            Ok(p) => p.forget(),
                            Err(_) => break,
                        }
                    }
                    have_slot = false;
                    let (variant, part, reference) = pending.pop_front().unwrap();
                    let part = &w.source.templates.variants[variant][part];
                    seq += 1;
                    let at = wbuf.len();
                    super::push_submit(&mut wbuf, &part.bytes, seq);
                    if let Some(r) = part.reference_at {
                        wbuf[at + r] = reference;
                    }
                    sent_at[seq as usize % RING] = Some(now);
                    parts += 1;
                }
                drop(sent_at);
                if have_slot {
                    // Nothing was due after all: the slot goes back.
                    w.permits.add_permits(1);
                }
                w.written.parts.fetch_add(parts, Ordering::Relaxed);
                w.written.messages.fetch_add(messages, Ordering::Relaxed);
            }
        }
        while let Ok(frame) = w.responses.try_recv() {
            wbuf.extend_from_slice(&frame);
        }
        if !wbuf.is_empty() {
            if w.writer.write_all(&wbuf).await.is_err() {
                return;
            }
            wbuf.clear();
        }
    }
}

struct ReadLoop {
    reader: OwnedReadHalf,
    rbuf: BytesMut,
    permits: Arc<Semaphore>,
    sent_at: Arc<Mutex<Vec<Option<Instant>>>>,
    responses: mpsc::Sender<Vec<u8>>,
    ledger: Arc<Mutex<Ledger>>,
}

impl ReadLoop {
    async fn run(&mut self) {
        while let Some(pdu) = next_pdu(&mut self.reader, &mut self.rbuf).await {
            let now = Instant::now();
            match &pdu.body {
                Body::SubmitSmResp(resp) => {
                    let sent = self.sent_at.lock().unwrap()[pdu.sequence_number as usize % RING]
                        .take()
                        .unwrap_or_else(|| panic!("response to no request: {pdu:?}"));
                    let mut ledger = self.ledger.lock().unwrap();
                    ledger
                        .submit_latency_us
                        .push(micros(now.duration_since(sent)));
                    ledger.last_submit_resp = Some(now);
                    if pdu.command_status.is_ok() {
                        ledger.accepted(resp.message_id.to_string_lossy(), sent);
                    } else {
                        ledger.refused += 1;
                        *ledger
                            .refused_by_status
                            .entry(pdu.command_status.to_string())
                            .or_default() += 1;
                    }
                    drop(ledger);
                    self.permits.add_permits(1);
                }
                Body::DeliverSm(sm) => {
                    let id = sm
                        .tlvs
                        .receipted_message_id()
                        .map(str::to_owned)
                        .or_else(|| {
                            receipt::parse_bytes(sm.short_message.as_bytes())
                                .ok()
                                .map(|r| r.id)
                        })
                        .unwrap_or_else(|| panic!("deliver_sm without a receipt id: {pdu:?}"));
                    self.ledger.lock().unwrap().receipt(id, now);
                    let resp = Pdu::new(
                        pdu.sequence_number,
                        Body::DeliverSmResp(MessageIdResp::default()),
                    );
                    if self.responses.send(resp.to_bytes().to_vec()).await.is_err() {
                        return;
                    }
                }
                Body::EnquireLink => {
                    let resp = pdu.response_with_status(smpp_proto::CommandStatus::ESME_ROK);
                    if let Some(resp) = resp {
                        if self.responses.send(resp.to_bytes().to_vec()).await.is_err() {
                            return;
                        }
                    }
                }
                _ => panic!("unexpected PDU from the gateway: {pdu:?}"),
            }
        }
    }
}

/// The next whole PDU, reading as needed; None on close.
async fn next_pdu(reader: &mut OwnedReadHalf, rbuf: &mut BytesMut) -> Option<Pdu> {
    loop {
        if let Some(frame) = frame::split_frame(rbuf, frame::DEFAULT_MAX_PDU_LEN).unwrap() {
            return Some(Pdu::decode(&frame).unwrap());
        }
        match reader.read_buf(rbuf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}
