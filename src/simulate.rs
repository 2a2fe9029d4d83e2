//! A carrier SMSC simulator (`smppd simulate`): the peer that carrier links, tests and the
//! benchmarks submit to. It plays the SMSC role on our own session machinery and answers
//! submits with carrier message ids, then sends delivery receipts — with the quirks real
//! carriers have (ids in another base in the receipt, receipts before the submit_sm_resp,
//! throttling, rejections, slow responses) switchable one by one.
//!
//! Everything pseudo-random is derived from a message id or a counter, so a test that sends
//! the same submits sees the same outcomes.
//!
//! Faults for testing a gateway's recovery: `drop_every` closes a session abruptly with a
//! window of submits unanswered, `withhold_percent` leaves some submits without any answer,
//! `throttle` refuses submits over a rate, `garbage_every` answers some submit_sm with bytes
//! no SMPP peer should send. `log_submits` appends every submit received, with
//! what became of it, to a file a test can read while the simulator runs in another process.

use crate::config::SessionConfig;
use crate::session::{self, BindKind, Reply, RequestError, Role, Service, SessionHandle};
use crate::session::{SessionInfo, SessionLimits};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use smpp_proto::pdu::{
    esm_class, BindResp, DataSm, DeliverSm, DestAddress, MessageIdResp, ShortMessage, SubmitMulti,
    SubmitMultiResp, SubmitSm, UnsuccessSme,
};
use smpp_proto::receipt::Receipt;
use smpp_proto::{Body, COctetString, CommandStatus, MessageState, Pdu, Tlv, Tlvs};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The system_id the simulator names itself in bind responses.
const SMSC_SYSTEM_ID: &str = "smppd-sim";

/// Receipts in flight (sent, deliver_sm_resp not yet back) across all binds, at most: the
/// rest wait in the bounded queue instead of as tasks.
const MAX_RECEIPTS_IN_FLIGHT: usize = 10_000;

/// A receipt the peer refused (or that got no answer) is tried again after this long…
const RECEIPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// … at most this many times, then dropped and counted.
const RECEIPT_MAX_ATTEMPTS: u32 = 10;

/// `drop_every`: how long a session holds its last submits unanswered before it closes, so
/// the peer's window fills up and the responses already made are written out first.
const DROP_LINGER: Duration = Duration::from_millis(50);

/// `garbage_every`: the command_id of the unknown request sent (not in SMPP 3.4's table).
const UNKNOWN_COMMAND_ID: u32 = 0x0000_0111;

/// `log_submits`: lines waiting for the writer thread, at most; a submit waits beyond that
/// (the log is for tests, which want every line rather than speed).
const SUBMIT_LOG_QUEUE: usize = 64 * 1024;

/// How the simulator writes a message id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdFormat {
    /// Lower-case hex without prefix (`10000000`).
    Hex,
    /// Decimal (`268435456`).
    Decimal,
}

/// How the id in a receipt (text `id:` and `receipted_message_id`) is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptIdFormat {
    /// As in the submit_sm_resp.
    Same,
    /// Lower-case hex.
    Hex,
    /// Decimal.
    Decimal,
    /// Decimal zero-padded to 10 digits, as cloudhopper's `%010d`.
    DecimalPadded,
}

/// Which parts of a receipt carry its outcome (smpp34.md §10.1: some carriers send one only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptForm {
    /// The text in short_message and the receipted_message_id / message_state TLVs.
    Both,
    /// The text only.
    Text,
    /// The TLVs only; short_message empty.
    Tlv,
}

/// What `garbage_every` sends in place of a submit_sm_resp, in this order, round and round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Garbage {
    /// A header-only request with an unknown command_id and the submit's sequence number
    /// (the peer answers generic_nack ESME_RINVCMDID); the submit stays unanswered.
    UnknownCommand,
    /// A submit_sm_resp (status OK, an id) with a sequence number the peer never sent; the
    /// submit stays unanswered.
    WrongSequence,
    /// A submit_sm_resp with the submit's sequence number whose message_id has no NUL: the
    /// header reads, the body does not.
    MalformedResp,
    /// A header whose command_length (8) is below the 16-octet minimum: framing is lost, the
    /// peer answers generic_nack ESME_RINVCMDLEN and closes.
    BadLength,
    /// 64 pseudo-random octets, the first 0xFF so that the command_length they start with is
    /// far beyond any limit (a plausible one would swallow what follows): framing is lost.
    RandomBytes,
}

impl Garbage {
    /// Every kind, in the order they are sent.
    pub const ALL: [Self; 5] = [
        Self::UnknownCommand,
        Self::WrongSequence,
        Self::MalformedResp,
        Self::BadLength,
        Self::RandomBytes,
    ];

    /// Its name in the submit log (`garbage=NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Self::UnknownCommand => "unknown-command",
            Self::WrongSequence => "wrong-sequence",
            Self::MalformedResp => "malformed-resp",
            Self::BadLength => "bad-length",
            Self::RandomBytes => "random-bytes",
        }
    }

    /// The octets sent in place of the response to request `seq`; `seed` feeds the random
    /// ones.
    pub fn bytes(self, seq: u32, seed: u64) -> bytes::Bytes {
        let header = |length: u32, command_id: u32, seq: u32| {
            let mut out = Vec::with_capacity(16);
            for word in [length, command_id, 0, seq] {
                out.extend_from_slice(&word.to_be_bytes());
            }
            out
        };
        let submit_sm_resp = smpp_proto::CommandId::SubmitSmResp.as_u32();
        let out = match self {
            Self::UnknownCommand => header(16, UNKNOWN_COMMAND_ID, seq),
            Self::WrongSequence => {
                // Our own ids are below 2^31: flipping bit 30 of a sequence number gives one
                // the peer is not waiting for (it counts up from 1).
                let mut out = header(16 + 9, submit_sm_resp, seq ^ 0x4000_0000);
                out.extend_from_slice(b"deadbeef\0");
                out
            }
            Self::MalformedResp => {
                let mut out = header(16 + 8, submit_sm_resp, seq);
                out.extend_from_slice(b"deadbeef");
                out
            }
            Self::BadLength => header(8, submit_sm_resp, seq),
            Self::RandomBytes => {
                let mut out: Vec<u8> = (0..8u64)
                    .flat_map(|i| mix(seed.wrapping_add(i)).to_be_bytes())
                    .collect();
                if let Some(first) = out.first_mut() {
                    *first = 0xFF;
                }
                out
            }
        };
        bytes::Bytes::from(out)
    }
}

/// An option value that is not one of the allowed words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not one of: {allowed}")]
pub struct ParseChoiceError {
    given: String,
    allowed: &'static str,
}

fn choice<T: Copy>(
    given: &str,
    table: &[(&str, T)],
    allowed: &'static str,
) -> Result<T, ParseChoiceError> {
    table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(given))
        .map(|&(_, value)| value)
        .ok_or_else(|| ParseChoiceError {
            given: given.to_owned(),
            allowed,
        })
}

impl FromStr for IdFormat {
    type Err = ParseChoiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        choice(
            s,
            &[("hex", Self::Hex), ("decimal", Self::Decimal)],
            "hex, decimal",
        )
    }
}

impl FromStr for ReceiptIdFormat {
    type Err = ParseChoiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        choice(
            s,
            &[
                ("same", Self::Same),
                ("hex", Self::Hex),
                ("decimal", Self::Decimal),
                ("decimal-padded", Self::DecimalPadded),
            ],
            "same, hex, decimal, decimal-padded",
        )
    }
}

impl FromStr for ReceiptForm {
    type Err = ParseChoiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        choice(
            s,
            &[
                ("both", Self::Both),
                ("text", Self::Text),
                ("tlv", Self::Tlv),
            ],
            "both, text, tlv",
        )
    }
}

/// Everything the simulator does, with the defaults of `smppd simulate`.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// Where to listen; port 0 picks a free port (see [`SimulatorHandle::addr`]).
    pub listen: SocketAddr,
    /// The only system_id accepted in binds; `None` accepts any.
    pub system_id: Option<String>,
    /// The only password accepted in binds; `None` accepts any.
    pub password: Option<String>,
    /// Requests of the peer processed at once per session, and our receipts in flight.
    pub window: usize,
    /// How the submit_sm_resp writes the message id.
    pub id_format: IdFormat,
    /// How receipts write the message id.
    pub receipt_id_format: ReceiptIdFormat,
    /// The first message id; the default makes hex and decimal visibly different.
    pub id_start: u64,
    /// Time from the submit to its receipt.
    pub receipt_delay: Duration,
    /// Up to this much added to `receipt_delay`, per message (derived from its id).
    pub receipt_jitter: Duration,
    /// Text, TLVs or both in receipts.
    pub receipt_form: ReceiptForm,
    /// Percentage of messages DELIVRD; the rest are UNDELIV with err 001.
    pub delivered_percent: u8,
    /// Send the receipt before the submit_sm_resp (a carrier quirk; ignores `receipt_delay`).
    pub receipt_before_response: bool,
    /// Submits per second per bind; excess ones get ESME_RTHROTTLED. `None`: no limit.
    pub throttle: Option<NonZeroU32>,
    /// Percentage of submits answered ESME_RSUBMITFAIL, evenly spread.
    pub reject_percent: u8,
    /// Percentage of submits never answered (nor receipted), evenly spread over the submits
    /// that pass the throttle: the peer's response timeout has to deal with them.
    pub withhold_percent: u8,
    /// Close a session abruptly (no unbind) at every N-th submit it receives, leaving that
    /// submit and those after it unanswered (see [`DROP_LINGER`]). `None`: never.
    pub drop_every: Option<NonZeroU64>,
    /// Answer every N-th submit_sm received (counted over all sessions) with garbage instead
    /// of its response, the kinds of [`Garbage`] in turn; such a submit gets no id and no
    /// receipt. `None`: never.
    pub garbage_every: Option<NonZeroU64>,
    /// Append a line per submit received to this file: `UNIX_MS SESSION OUTCOME HEX`, the
    /// outcome `id=ID`, `status=NAME`, `withheld`, `dropped` (the submit that closed the
    /// session), `held` (one after it) or `garbage=KIND` ([`Garbage::name`]), and the PDU
    /// re-encoded in hex. `None`: no log.
    pub log_submits: Option<PathBuf>,
    /// Time before each submit response.
    pub response_delay: Duration,
    /// Send an MO "ping N" to every receiver bind this often; `None`: never.
    pub mo_every: Option<Duration>,
    /// source_addr of the periodic MO (the subscriber).
    pub mo_from: String,
    /// destination_addr of the periodic MO (the service's number).
    pub mo_to: String,
    /// Receipts waiting (delayed, or for a receiver bind) at most; beyond, the oldest is
    /// dropped and counted.
    pub max_pending_receipts: usize,
    /// Connections at once, at most.
    pub max_connections: usize,
    /// Largest `command_length` accepted.
    pub max_pdu_bytes: usize,
    /// SMPP timers of every session.
    pub timers: SessionConfig,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 2776)),
            system_id: None,
            password: None,
            window: 10,
            id_format: IdFormat::Hex,
            receipt_id_format: ReceiptIdFormat::Same,
            id_start: 0x1000_0000,
            receipt_delay: Duration::from_millis(100),
            receipt_jitter: Duration::ZERO,
            receipt_form: ReceiptForm::Both,
            delivered_percent: 100,
            receipt_before_response: false,
            throttle: None,
            reject_percent: 0,
            withhold_percent: 0,
            drop_every: None,
            garbage_every: None,
            log_submits: None,
            response_delay: Duration::ZERO,
            mo_every: None,
            mo_from: "15550000001".to_owned(),
            mo_to: "12345".to_owned(),
            max_pending_receipts: 1_000_000,
            max_connections: 1024,
            max_pdu_bytes: 4096,
            timers: SessionConfig {
                session_init_timeout: Duration::from_secs(30),
                enquire_link_interval: Duration::from_secs(30),
                inactivity_timeout: Duration::from_secs(300),
                response_timeout: Duration::from_secs(30),
                bind_failure_delay: Duration::from_millis(100),
                unbind_timeout: Duration::from_secs(2),
            },
        }
    }
}

/// What can go wrong starting the simulator or injecting an MO.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is out of range.
    #[error("invalid simulator setting: {0}")]
    Invalid(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No receiver or transceiver bind of that system_id is there to deliver to.
    #[error("no receiver bind of {0:?}")]
    NotBound(String),
    /// The peer answered the deliver_sm with an error status.
    #[error("deliver_sm refused: {0}")]
    Refused(CommandStatus),
    /// The deliver_sm got no response.
    #[error("deliver_sm failed: {0}")]
    Request(#[from] RequestError),
    /// The submit log could not be opened.
    #[error("cannot open the submit log {path}: {source}")]
    Log {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The simulator's side of every session: binds, submits and the receipts they cause.
pub struct Simulator {
    config: SimulatorConfig,
    next_id: AtomicU64,
    submits: AtomicU64,
    /// Submits past the throttle, for `withhold_percent`.
    withhold_counter: AtomicU64,
    /// submit_sm received on bound sessions, for `garbage_every`.
    garbage_counter: AtomicU64,
    log: Option<SubmitLog>,
    binds: Mutex<HashMap<u64, Arc<BindEntry>>>,
    round_robin: AtomicUsize,
    shared: Arc<Shared>,
    /// Stops accepting connections and sending periodic MO (graceful shutdown's first step).
    closing: CancellationToken,
    /// Ends every session and task at once.
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// What receipt deliveries running on their own tasks update.
struct Shared {
    counters: Counters,
    queue: Mutex<ReceiptQueue>,
    /// Wakes the dispatcher: a receipt was queued or a receiver bound.
    wake: Notify,
    in_flight: Arc<Semaphore>,
    max_pending: usize,
}

#[derive(Default)]
struct Counters {
    submits_received: AtomicU64,
    submits_throttled: AtomicU64,
    submits_withheld: AtomicU64,
    connections_dropped: AtomicU64,
    garbage_sent: AtomicU64,
    receipts_sent: AtomicU64,
    receipts_dropped: AtomicU64,
    mo_sent: AtomicU64,
}

/// One bound session.
struct BindEntry {
    session: u64,
    system_id: String,
    kind: BindKind,
    handle: SessionHandle,
    limiter: Option<DefaultDirectRateLimiter>,
    /// Submits received on this session, for `drop_every`.
    submits: AtomicU64,
    /// `drop_every` struck: no submit is answered any more, the session is about to close.
    dropping: AtomicBool,
}

/// A receipt waiting for its time or for a receiver bind.
struct PendingReceipt {
    due: Instant,
    /// Creation order: ties on `due` keep it, and "oldest" means smallest.
    order: u64,
    system_id: String,
    deliver_sm: DeliverSm,
    attempts: u32,
}

impl PartialEq for PendingReceipt {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}
impl Eq for PendingReceipt {}
impl PartialOrd for PendingReceipt {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PendingReceipt {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.order).cmp(&(other.due, other.order))
    }
}

/// Pending receipts: scheduled by due time, or parked per system_id until a receiver binds.
/// Both together hold at most `max_pending_receipts`.
#[derive(Default)]
struct ReceiptQueue {
    scheduled: BinaryHeap<Reverse<PendingReceipt>>,
    parked: HashMap<String, VecDeque<PendingReceipt>>,
    parked_len: usize,
    next_order: u64,
}

impl ReceiptQueue {
    fn len(&self) -> usize {
        self.scheduled.len() + self.parked_len
    }

    /// Drops the oldest receipt: a parked one (it was due first), else the next scheduled.
    fn drop_oldest(&mut self) -> bool {
        let oldest_parked = self
            .parked
            .iter()
            .filter_map(|(system_id, queue)| Some((queue.front()?.order, system_id.clone())))
            .min();
        if let Some((_, system_id)) = oldest_parked {
            if let Some(queue) = self.parked.get_mut(&system_id) {
                queue.pop_front();
                self.parked_len -= 1;
                if queue.is_empty() {
                    self.parked.remove(&system_id);
                }
                return true;
            }
        }
        self.scheduled.pop().is_some()
    }

    fn park(&mut self, receipt: PendingReceipt) {
        self.parked
            .entry(receipt.system_id.clone())
            .or_default()
            .push_back(receipt);
        self.parked_len += 1;
    }

    /// Moves the receipts parked for `system_id` back to the schedule, due now.
    fn unpark(&mut self, system_id: &str, now: Instant) {
        if let Some(queue) = self.parked.remove(system_id) {
            self.parked_len -= queue.len();
            for mut receipt in queue {
                receipt.due = now;
                self.scheduled.push(Reverse(receipt));
            }
        }
    }
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, ReceiptQueue> {
        // Every update of the queue is complete before anything in it can panic.
        crate::sync::lock(&self.queue)
    }

    /// Queues a receipt, dropping the oldest beyond the bound.
    fn schedule(&self, system_id: &str, deliver_sm: DeliverSm, due: Instant, attempts: u32) {
        let mut queue = self.queue();
        let mut dropped = 0;
        while queue.len() >= self.max_pending && queue.drop_oldest() {
            dropped += 1;
        }
        let order = queue.next_order;
        queue.next_order += 1;
        queue.scheduled.push(Reverse(PendingReceipt {
            due,
            order,
            system_id: system_id.to_owned(),
            deliver_sm,
            attempts,
        }));
        drop(queue);
        if dropped > 0 {
            self.count_dropped(dropped, "pending receipts full");
        }
        self.wake.notify_one();
    }

    fn count_dropped(&self, n: u64, why: &str) {
        let before = self
            .counters
            .receipts_dropped
            .fetch_add(n, Ordering::Relaxed);
        // The first drop and then one in 10,000: a full queue drops on every submit.
        if before == 0 || (before + n) / 10_000 > before / 10_000 {
            tracing::warn!(dropped_total = before + n, why, "receipts dropped");
        }
    }
}

/// `log_submits`: lines go to a thread that appends them to the file, flushing whenever it
/// has caught up, so a reader in another process sees a line within milliseconds.
struct SubmitLog {
    lines: SyncSender<String>,
}

impl SubmitLog {
    fn open(path: &Path) -> Result<Self, Error> {
        let failed = |source| Error::Log {
            path: path.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(failed)?;
        let (lines, rx) = sync_channel(SUBMIT_LOG_QUEUE);
        std::thread::Builder::new()
            .name("smppd-sim-log".into())
            .spawn(move || write_submit_log(file, &rx))
            .map_err(failed)?;
        Ok(Self { lines })
    }

    fn append(&self, line: String) {
        // Blocks only when the writer is SUBMIT_LOG_QUEUE lines behind. The writer ends only
        // on a write error, after logging it: the lines after it are lost, as it said.
        let _ = self.lines.send(line);
    }
}

/// The writer thread of [`SubmitLog`]: ends when the simulator is gone or on a write error.
fn write_submit_log(file: File, lines: &Receiver<String>) {
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    while let Ok(first) = lines.recv() {
        let mut next = Some(first);
        while let Some(line) = next {
            if let Err(e) = out.write_all(line.as_bytes()) {
                tracing::error!(error = %e, "cannot write the submit log; logging stops");
                return;
            }
            next = lines.try_recv().ok();
        }
        if let Err(e) = out.flush() {
            tracing::error!(error = %e, "cannot write the submit log; logging stops");
            return;
        }
    }
}

/// The content of one submitted message, as far as a receipt needs it.
struct Submitted {
    source: (u8, u8, String),
    destination: (u8, u8, String),
    text: String,
}

/// A running simulator: its address, counters, MO injection and shutdown.
pub struct SimulatorHandle {
    addr: SocketAddr,
    simulator: Arc<Simulator>,
    sessions: TaskTracker,
}

impl Simulator {
    /// Binds the listener and starts serving on the current tokio runtime.
    pub async fn start(config: SimulatorConfig) -> Result<SimulatorHandle, Error> {
        let simulator = Arc::new(Self::new(config)?);
        let listener = TcpListener::bind(simulator.config.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: simulator.config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: simulator.config.listen,
            source,
        })?;
        let sessions = TaskTracker::new();
        simulator
            .tasks
            .spawn(accept_loop(listener, simulator.clone(), sessions.clone()));
        simulator.tasks.spawn(dispatch_receipts(simulator.clone()));
        if let Some(period) = simulator.config.mo_every {
            simulator
                .tasks
                .spawn(periodic_mo(simulator.clone(), period));
        }
        tracing::info!(%addr, "simulator listening");
        Ok(SimulatorHandle {
            addr,
            simulator,
            sessions,
        })
    }

    /// A simulator without a listener (drive it with [`session::run`]); checks the config.
    /// Receipts need [`Simulator::start`]'s dispatcher, so this is private.
    fn new(config: SimulatorConfig) -> Result<Self, Error> {
        if config.delivered_percent > 100 {
            return Err(Error::Invalid("delivered_percent must be 0..=100".into()));
        }
        if config.reject_percent > 100 {
            return Err(Error::Invalid("reject_percent must be 0..=100".into()));
        }
        if config.withhold_percent > 100 {
            return Err(Error::Invalid("withhold_percent must be 0..=100".into()));
        }
        if config.window == 0 {
            return Err(Error::Invalid("window must be at least 1".into()));
        }
        if config.max_pending_receipts == 0 {
            return Err(Error::Invalid(
                "max_pending_receipts must be at least 1".into(),
            ));
        }
        if config.mo_every.is_some_and(|d| d.is_zero()) {
            return Err(Error::Invalid("mo_every must be more than 0".into()));
        }
        for (name, addr) in [("mo_from", &config.mo_from), ("mo_to", &config.mo_to)] {
            if COctetString::<21>::try_from(addr.as_str()).is_err() {
                return Err(Error::Invalid(format!(
                    "{name} must be at most 20 characters"
                )));
            }
        }
        let log = config
            .log_submits
            .as_deref()
            .map(SubmitLog::open)
            .transpose()?;
        Ok(Self {
            next_id: AtomicU64::new(config.id_start),
            submits: AtomicU64::new(0),
            withhold_counter: AtomicU64::new(0),
            garbage_counter: AtomicU64::new(0),
            log,
            binds: Mutex::new(HashMap::new()),
            round_robin: AtomicUsize::new(0),
            shared: Arc::new(Shared {
                counters: Counters::default(),
                queue: Mutex::new(ReceiptQueue::default()),
                wake: Notify::new(),
                in_flight: Arc::new(Semaphore::new(MAX_RECEIPTS_IN_FLIGHT)),
                max_pending: config.max_pending_receipts,
            }),
            closing: CancellationToken::new(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            config,
        })
    }

    fn binds(&self) -> MutexGuard<'_, HashMap<u64, Arc<BindEntry>>> {
        // A panic while holding this lock leaves a consistent map (inserts and removes only).
        crate::sync::lock(&self.binds)
    }

    /// A receiver or transceiver bind of `system_id`, round robin.
    fn receiver(&self, system_id: &str) -> Option<Arc<BindEntry>> {
        let binds = self.binds();
        let mut receivers: Vec<&Arc<BindEntry>> = binds
            .values()
            .filter(|b| b.system_id == system_id && b.kind.can_receive())
            .filter(|b| !b.handle.is_closed())
            .collect();
        receivers.sort_by_key(|b| b.session);
        let n = self.round_robin.fetch_add(1, Ordering::Relaxed);
        receivers
            .get(n % receivers.len().max(1))
            .map(|b| Arc::clone(b))
    }

    fn format_id(&self, id: u64) -> String {
        match self.config.id_format {
            IdFormat::Hex => format!("{id:x}"),
            IdFormat::Decimal => id.to_string(),
        }
    }

    fn format_receipt_id(&self, id: u64) -> String {
        match self.config.receipt_id_format {
            ReceiptIdFormat::Same => self.format_id(id),
            ReceiptIdFormat::Hex => format!("{id:x}"),
            ReceiptIdFormat::Decimal => id.to_string(),
            ReceiptIdFormat::DecimalPadded => format!("{id:010}"),
        }
    }

    fn bind(&self, session: &SessionInfo, pdu: &Pdu, kind: BindKind) -> Reply {
        let (Body::BindTransmitter(bind) | Body::BindReceiver(bind) | Body::BindTransceiver(bind)) =
            &pdu.body
        else {
            return Reply::Nothing;
        };
        let system_id = bind.system_id.to_string_lossy();
        let refuse = |status| Reply::Close(pdu.response_with_status(status));
        if self
            .config
            .system_id
            .as_ref()
            .is_some_and(|s| *s != system_id)
        {
            tracing::info!(client = %system_id, peer = %session.peer, "bind refused: system_id");
            return refuse(CommandStatus::ESME_RINVSYSID);
        }
        if let Some(password) = &self.config.password {
            if password.as_bytes() != bind.password.as_bytes() {
                tracing::info!(client = %system_id, peer = %session.peer, "bind refused: password");
                return refuse(CommandStatus::ESME_RINVPASWD);
            }
        }
        let entry = BindEntry {
            session: session.id,
            system_id: system_id.clone(),
            kind,
            handle: session.handle.clone(),
            limiter: self
                .config
                .throttle
                .map(|rate| RateLimiter::direct(Quota::per_second(rate))),
            submits: AtomicU64::new(0),
            dropping: AtomicBool::new(false),
        };
        self.binds().insert(session.id, Arc::new(entry));
        if kind.can_receive() {
            // Requests through the handle wait until the session is bound, so receipts can go
            // now: they follow the bind_resp.
            self.shared.queue().unpark(&system_id, Instant::now());
            self.shared.wake.notify_one();
        }
        tracing::info!(client = %system_id, peer = %session.peer, bind = kind.name(), "bound");
        let smsc_id = COctetString::try_from(SMSC_SYSTEM_ID).unwrap_or_default();
        let resp = BindResp::v34(smsc_id);
        let response = Pdu::new(
            pdu.sequence_number,
            match kind {
                BindKind::Transmitter => Body::BindTransmitterResp(resp),
                BindKind::Receiver => Body::BindReceiverResp(resp),
                BindKind::Transceiver => Body::BindTransceiverResp(resp),
            },
        );
        Reply::Bound {
            response,
            system_id,
            kind,
            window: self.config.window,
        }
    }

    /// The common path of submit_sm, data_sm and submit_multi: faults, throttle, reject,
    /// delay, id, receipts. `Some(Ok)` holds the message id as written in the response;
    /// `None`: the submit gets no answer (withheld, or its session is being dropped).
    async fn submit(
        &self,
        session: &SessionInfo,
        pdu: &Pdu,
        messages: Vec<Submitted>,
        registered_delivery: u8,
    ) -> Option<Result<String, CommandStatus>> {
        self.shared
            .counters
            .submits_received
            .fetch_add(1, Ordering::Relaxed);
        let Some((system_id, _)) = &session.bound else {
            return Some(Err(CommandStatus::ESME_RINVBNDSTS));
        };
        let entry = self.binds().get(&session.id).cloned();
        if let Some(entry) = &entry {
            if entry.dropping.load(Ordering::Relaxed) {
                // Read, never answered: the session closes within DROP_LINGER and drops this.
                self.log_submit(session, pdu, &"held");
                return std::future::pending().await;
            }
            let n = entry.submits.fetch_add(1, Ordering::Relaxed) + 1;
            if self
                .config
                .drop_every
                .is_some_and(|every| n % every.get() == 0)
            {
                self.drop_session(session, entry, pdu).await;
                return None;
            }
        }
        let throttled = entry
            .as_ref()
            .and_then(|e| e.limiter.as_ref())
            .is_some_and(|limiter| limiter.check().is_err());
        if throttled {
            // Answered at once, and no id nor receipt: a throttled submit costs the carrier
            // nothing.
            self.shared
                .counters
                .submits_throttled
                .fetch_add(1, Ordering::Relaxed);
            self.log_submit(session, pdu, &"status=ESME_RTHROTTLED");
            return Some(Err(CommandStatus::ESME_RTHROTTLED));
        }
        if self.config.withhold_percent > 0 {
            let n = self.withhold_counter.fetch_add(1, Ordering::Relaxed);
            if spread_hit(n, self.config.withhold_percent) {
                self.shared
                    .counters
                    .submits_withheld
                    .fetch_add(1, Ordering::Relaxed);
                self.log_submit(session, pdu, &"withheld");
                return None;
            }
        }
        let result = self
            .accept(session, system_id, messages, registered_delivery)
            .await;
        if self.log.is_some() {
            match &result {
                Ok(id) => self.log_submit(session, pdu, &format_args!("id={id}")),
                Err(status) => self.log_submit(session, pdu, &format_args!("status={status}")),
            }
        }
        Some(result)
    }

    /// `drop_every` struck on `pdu`: holds it and the session's later submits unanswered for
    /// [`DROP_LINGER`], then closes the connection without unbind.
    async fn drop_session(&self, session: &SessionInfo, entry: &BindEntry, pdu: &Pdu) {
        entry.dropping.store(true, Ordering::Relaxed);
        self.shared
            .counters
            .connections_dropped
            .fetch_add(1, Ordering::Relaxed);
        self.log_submit(session, pdu, &"dropped");
        tokio::time::sleep(DROP_LINGER).await;
        tracing::info!(
            client = %entry.system_id, peer = %session.peer,
            submits = entry.submits.load(Ordering::Relaxed),
            "dropping the connection (drop_every)"
        );
        session.handle.close();
    }

    /// `garbage_every` struck on this submit_sm: the garbage to write in place of its
    /// response (counted and logged as a submit); `None` for every other submit.
    fn garbage(&self, session: &SessionInfo, pdu: &Pdu) -> Option<bytes::Bytes> {
        let every = self.config.garbage_every?;
        session.bound.as_ref()?;
        let n = self.garbage_counter.fetch_add(1, Ordering::Relaxed) + 1;
        if !n.is_multiple_of(every.get()) {
            return None;
        }
        let hit = n / every.get() - 1;
        let kind = Garbage::ALL[usize::try_from(hit % 5).unwrap_or(0)];
        let counters = &self.shared.counters;
        counters.submits_received.fetch_add(1, Ordering::Relaxed);
        counters.garbage_sent.fetch_add(1, Ordering::Relaxed);
        self.log_submit(session, pdu, &format_args!("garbage={}", kind.name()));
        tracing::info!(peer = %session.peer, kind = kind.name(), "garbage instead of a response");
        Some(kind.bytes(pdu.sequence_number, mix(hit)))
    }

    /// Appends a line to the submit log, if there is one.
    fn log_submit(&self, session: &SessionInfo, pdu: &Pdu, outcome: &dyn fmt::Display) {
        let Some(log) = &self.log else { return };
        let bytes = pdu.to_bytes();
        let mut line = String::with_capacity(48 + 2 * bytes.len());
        let now = crate::message::now_ms();
        // Writing to a String cannot fail.
        let _ = write!(line, "{now} {} {outcome} ", session.id);
        for byte in bytes.iter() {
            let _ = write!(line, "{byte:02x}");
        }
        line.push('\n');
        log.append(line);
    }

    /// A submit past the faults and the throttle: rejected, or given an id and receipts.
    async fn accept(
        &self,
        session: &SessionInfo,
        system_id: &str,
        messages: Vec<Submitted>,
        registered_delivery: u8,
    ) -> Result<String, CommandStatus> {
        if !self.config.response_delay.is_zero() {
            tokio::time::sleep(self.config.response_delay).await;
        }
        let n = self.submits.fetch_add(1, Ordering::Relaxed);
        if spread_hit(n, self.config.reject_percent) {
            return Err(CommandStatus::ESME_RSUBMITFAIL);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let delivered = mix(id) % 100 < u64::from(self.config.delivered_percent);
        let wanted = match registered_delivery & 0x03 {
            1 => true,
            2 => !delivered,
            _ => false,
        };
        let now_secs = crate::message::now_ms().div_euclid(1000);
        // Asked for (0x10): an intermediate notification (ENROUTE) halfway to the receipt.
        if registered_delivery & 0x10 != 0 {
            let due = Instant::now() + self.config.receipt_delay / 2;
            for message in &messages {
                let notification = self.report(
                    id,
                    (MessageState::ENROUTE, 0),
                    now_secs,
                    message,
                    esm_class::INTERMEDIATE_NOTIFICATION,
                );
                self.shared.schedule(system_id, notification, due, 0);
            }
        }
        if wanted {
            for message in &messages {
                let deliver_sm = self.receipt(id, delivered, now_secs, message);
                if self.config.receipt_before_response {
                    self.receipt_now(session, system_id, deliver_sm).await;
                } else {
                    let jitter = jitter(id, self.config.receipt_jitter);
                    let due = Instant::now() + self.config.receipt_delay + jitter;
                    self.shared.schedule(system_id, deliver_sm, due, 0);
                }
            }
        }
        Ok(self.format_id(id))
    }

    /// The deliver_sm receipt for message `id` (smpp34.md §10.1): esm_class 0x04, addresses
    /// swapped, the text and/or the TLVs.
    fn receipt(&self, id: u64, delivered: bool, now_secs: i64, message: &Submitted) -> DeliverSm {
        let outcome = if delivered {
            (MessageState::DELIVERED, 0)
        } else {
            (MessageState::UNDELIVERABLE, 1)
        };
        self.report(id, outcome, now_secs, message, esm_class::DELIVERY_RECEIPT)
    }

    /// A report on message `id` in the receipt format: a receipt, or an intermediate
    /// notification, per `esm_class`.
    fn report(
        &self,
        id: u64,
        (state, err): (MessageState, u32),
        now_secs: i64,
        message: &Submitted,
        esm_class: u8,
    ) -> DeliverSm {
        let receipt_id = self.format_receipt_id(id);
        let done_secs = now_secs + i64::try_from(self.config.receipt_delay.as_secs()).unwrap_or(0);
        let mut tlvs = Tlvs::new();
        let mut short_message = ShortMessage::default();
        if self.config.receipt_form != ReceiptForm::Tlv {
            let text = Receipt::new(&*receipt_id, state, err, now_secs, done_secs, &message.text);
            short_message = ShortMessage::new(text.format().into_bytes()).unwrap_or_default();
        }
        if self.config.receipt_form != ReceiptForm::Text {
            // Our ids are at most 20 characters: the TLV's 64 always fit.
            if let Ok(tlv) = Tlv::receipted_message_id(&receipt_id) {
                tlvs.push(tlv);
            }
            tlvs.push(Tlv::message_state(state));
        }
        let (dest_ton, dest_npi, dest) = &message.source;
        let (src_ton, src_npi, src) = &message.destination;
        DeliverSm {
            source_addr_ton: *src_ton,
            source_addr_npi: *src_npi,
            source_addr: src.as_str().try_into().unwrap_or_default(),
            dest_addr_ton: *dest_ton,
            dest_addr_npi: *dest_npi,
            destination_addr: dest.as_str().try_into().unwrap_or_default(),
            esm_class,
            short_message,
            tlvs,
            ..DeliverSm::default()
        }
    }

    /// `--receipt-before-response`: the receipt goes out before this submit's response — on
    /// this session if it can receive (written ahead of the response), else on another bind
    /// (answered before the response). Parked like any receipt if no receiver is bound.
    async fn receipt_now(&self, session: &SessionInfo, system_id: &str, deliver_sm: DeliverSm) {
        let here = self
            .binds()
            .get(&session.id)
            .filter(|b| b.kind.can_receive())
            .cloned();
        let Some(target) = here.clone().or_else(|| self.receiver(system_id)) else {
            self.shared
                .schedule(system_id, deliver_sm, Instant::now(), 0);
            return;
        };
        let pending = PendingReceipt {
            due: Instant::now(),
            order: 0,
            system_id: system_id.to_owned(),
            deliver_sm,
            attempts: 0,
        };
        let (done, wait) = oneshot::channel();
        let same_session = here.is_some();
        let Ok(permit) = self.shared.in_flight.clone().try_acquire_owned() else {
            self.shared
                .schedule(system_id, pending.deliver_sm, Instant::now(), 0);
            return;
        };
        self.tasks.spawn(deliver_receipt(
            self.shared.clone(),
            target,
            pending,
            permit,
            Some((done, same_session)),
        ));
        // Bounded: with the window full of submits waiting like this one, the session stops
        // reading deliver_sm_resps; the quirk then gives way rather than stall the session.
        let _ = tokio::time::timeout(self.config.timers.response_timeout, wait).await;
    }
}

impl Service for Simulator {
    async fn request(&self, session: Arc<SessionInfo>, pdu: Pdu) -> Reply {
        let seq = pdu.sequence_number;
        let response = match &pdu.body {
            Body::BindTransmitter(_) => return self.bind(&session, &pdu, BindKind::Transmitter),
            Body::BindReceiver(_) => return self.bind(&session, &pdu, BindKind::Receiver),
            Body::BindTransceiver(_) => return self.bind(&session, &pdu, BindKind::Transceiver),
            Body::SubmitSm(sm) => {
                if let Some(garbage) = self.garbage(&session, &pdu) {
                    return Reply::Raw(garbage);
                }
                let message = submitted_sm(sm);
                let result = self.submit(&session, &pdu, vec![message], sm.registered_delivery);
                // None (withheld, dropped): no response, as if it never arrived.
                result
                    .await
                    .and_then(|r| id_resp(seq, r, Body::SubmitSmResp))
            }
            Body::DataSm(sm) => {
                let message = submitted_data_sm(sm);
                let result = self.submit(&session, &pdu, vec![message], sm.registered_delivery);
                result.await.and_then(|r| id_resp(seq, r, Body::DataSmResp))
            }
            Body::SubmitMulti(sm) => self.submit_multi(&session, &pdu, sm).await,
            // The simulator keeps no message store to query, cancel or replace in.
            Body::QuerySm(_) => failed(&pdu, CommandStatus::ESME_RQUERYFAIL),
            Body::CancelSm(_) => failed(&pdu, CommandStatus::ESME_RCANCELFAIL),
            Body::ReplaceSm(_) => failed(&pdu, CommandStatus::ESME_RREPLACEFAIL),
            // The session admits nothing else from an ESME.
            _ => failed(&pdu, CommandStatus::ESME_RINVBNDSTS),
        };
        match response {
            Some(response) => Reply::Respond(response),
            None => Reply::Nothing,
        }
    }

    fn closed(&self, session: &SessionInfo) {
        self.binds().remove(&session.id);
        if let Some((system_id, kind)) = &session.bound {
            tracing::info!(client = %system_id, peer = %session.peer, bind = kind.name(), "unbound");
        }
    }
}

impl Simulator {
    async fn submit_multi(
        &self,
        session: &SessionInfo,
        pdu: &Pdu,
        sm: &SubmitMulti,
    ) -> Option<Pdu> {
        let seq = pdu.sequence_number;
        let mut messages = Vec::new();
        let mut unsuccess = Vec::new();
        for dest in sm.dest_address.iter() {
            match dest {
                DestAddress::Sme {
                    dest_addr_ton,
                    dest_addr_npi,
                    destination_addr,
                } => messages.push(Submitted {
                    source: address(sm.source_addr_ton, sm.source_addr_npi, &sm.source_addr),
                    destination: address(*dest_addr_ton, *dest_addr_npi, destination_addr),
                    text: text_of(sm.esm_class, sm.data_coding, sm.short_message.as_bytes()),
                }),
                // A carrier keeps its own lists; ours has none.
                DestAddress::DistributionList { dl_name } => unsuccess.push(UnsuccessSme {
                    dest_addr_ton: 0,
                    dest_addr_npi: 0,
                    destination_addr: dl_name.clone(),
                    error_status_code: CommandStatus::ESME_RINVDLNAME,
                }),
            }
        }
        let refuse = |status| {
            Some(Pdu::with_status(
                seq,
                status,
                Body::SubmitMultiResp(SubmitMultiResp::default()),
            ))
        };
        if messages.is_empty() {
            return refuse(CommandStatus::ESME_RINVDLNAME);
        }
        match self
            .submit(session, pdu, messages, sm.registered_delivery)
            .await?
        {
            // One id for the whole submit: its receipts (one per destination) all name it.
            Ok(id) => Some(Pdu::new(
                seq,
                Body::SubmitMultiResp(SubmitMultiResp {
                    message_id: id.try_into().unwrap_or_default(),
                    unsuccess_sme: unsuccess.try_into().unwrap_or_default(),
                    tlvs: Tlvs::new(),
                }),
            )),
            Err(status) => refuse(status),
        }
    }
}

impl SimulatorHandle {
    /// The address the simulator listens on (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends an MO deliver_sm (esm_class 0) to a receiver or transceiver bind of `system_id`
    /// (round robin) and waits for its deliver_sm_resp.
    pub async fn send_mo(
        &self,
        system_id: &str,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<(), Error> {
        let deliver_sm = mo_deliver_sm(from, to, text)?;
        let target = self
            .simulator
            .receiver(system_id)
            .ok_or_else(|| Error::NotBound(system_id.to_owned()))?;
        let response = target.handle.request(Body::DeliverSm(deliver_sm)).await?;
        if !response.command_status.is_ok() {
            return Err(Error::Refused(response.command_status));
        }
        self.simulator
            .shared
            .counters
            .mo_sent
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// submit_sm, data_sm and submit_multi requests received, whatever their answer.
    pub fn submits_received(&self) -> u64 {
        self.counter(|c| &c.submits_received)
    }

    /// Submits answered ESME_RTHROTTLED (`throttle`).
    pub fn submits_throttled(&self) -> u64 {
        self.counter(|c| &c.submits_throttled)
    }

    /// Submits never answered (`withhold_percent`).
    pub fn submits_withheld(&self) -> u64 {
        self.counter(|c| &c.submits_withheld)
    }

    /// Sessions closed abruptly (`drop_every`).
    pub fn connections_dropped(&self) -> u64 {
        self.counter(|c| &c.connections_dropped)
    }

    /// Submits answered with garbage (`garbage_every`).
    pub fn garbage_sent(&self) -> u64 {
        self.counter(|c| &c.garbage_sent)
    }

    /// The counters in one line, `name=value` separated by spaces (for `smppd simulate`'s
    /// exit, where a test in another process can read them).
    pub fn stats(&self) -> String {
        format!(
            "submits_received={} submits_throttled={} submits_withheld={} \
             connections_dropped={} garbage_sent={} receipts_sent={} receipts_dropped={} \
             receipts_pending={} mo_sent={}",
            self.submits_received(),
            self.submits_throttled(),
            self.submits_withheld(),
            self.connections_dropped(),
            self.garbage_sent(),
            self.receipts_sent(),
            self.receipts_dropped(),
            self.receipts_pending(),
            self.mo_sent(),
        )
    }

    /// Receipts the peer acknowledged with deliver_sm_resp status 0.
    pub fn receipts_sent(&self) -> u64 {
        self.counter(|c| &c.receipts_sent)
    }

    /// Receipts dropped: the pending queue was full, or the peer kept refusing them.
    pub fn receipts_dropped(&self) -> u64 {
        self.counter(|c| &c.receipts_dropped)
    }

    /// MO messages the peer acknowledged.
    pub fn mo_sent(&self) -> u64 {
        self.counter(|c| &c.mo_sent)
    }

    /// Receipts waiting for their time or for a receiver bind (not those in flight).
    pub fn receipts_pending(&self) -> usize {
        self.simulator.shared.queue().len()
    }

    fn counter(&self, which: impl Fn(&Counters) -> &AtomicU64) -> u64 {
        which(&self.simulator.shared.counters).load(Ordering::Relaxed)
    }

    /// Stops: no new connections, unbind every bind (peers get the `unbind_timeout` to
    /// answer), then close what is left and wait for the simulator's tasks.
    pub async fn shutdown(self) {
        let simulator = &self.simulator;
        simulator.closing.cancel();
        let handles: Vec<SessionHandle> = simulator
            .binds()
            .values()
            .map(|b| b.handle.clone())
            .collect();
        let graceful = async {
            for handle in handles {
                handle.unbind().await;
            }
            self.sessions.close();
            self.sessions.wait().await;
        };
        // Each session gives up on its unbind after unbind_timeout by itself; the margin
        // lets it flush and close.
        let grace = simulator.config.timers.unbind_timeout + Duration::from_millis(100);
        if tokio::time::timeout(grace, graceful).await.is_err() {
            tracing::info!("sessions still open after the grace period: closing them");
        }
        simulator.shutdown.cancel();
        self.sessions.close();
        self.sessions.wait().await;
        simulator.tasks.close();
        simulator.tasks.wait().await;
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        // A handle dropped without shutdown() (a failed test) must not leave it serving.
        self.simulator.closing.cancel();
        self.simulator.shutdown.cancel();
    }
}

impl fmt::Debug for SimulatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatorHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

async fn accept_loop(listener: TcpListener, simulator: Arc<Simulator>, sessions: TaskTracker) {
    let connections = Arc::new(Semaphore::new(simulator.config.max_connections));
    let limits = SessionLimits {
        timers: simulator.config.timers.clone(),
        max_pdu_bytes: simulator.config.max_pdu_bytes,
        window: simulator.config.window,
    };
    loop {
        let accepted = tokio::select! {
            () = simulator.closing.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection refused: max_connections reached");
            continue;
        };
        sessions.spawn(connection(
            stream,
            peer,
            limits.clone(),
            simulator.clone(),
            permit,
        ));
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    limits: SessionLimits,
    simulator: Arc<Simulator>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    // Small PDUs both ways: Nagle would add tens of milliseconds to every response.
    let _ = stream.set_nodelay(true);
    let shutdown = simulator.shutdown.clone();
    session::run(stream, peer, Role::Smsc, limits, simulator, shutdown).await;
}

/// Sends due receipts to a receiver bind of their system_id, parks those with none.
async fn dispatch_receipts(simulator: Arc<Simulator>) {
    /// Receipts taken per pass, so a burst does not hold the queue's lock for long.
    const BATCH: usize = 1024;
    let shared = simulator.shared.clone();
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        let next = {
            let mut queue = shared.queue();
            while due.len() < BATCH && queue.scheduled.peek().is_some_and(|r| r.0.due <= now) {
                if let Some(Reverse(receipt)) = queue.scheduled.pop() {
                    due.push(receipt);
                }
            }
            queue.scheduled.peek().map(|r| r.0.due)
        };
        let full_batch = due.len() == BATCH;
        for receipt in due {
            let target = {
                // Checked under the queue's lock: a receiver binding meanwhile unparks after
                // this park (bind() registers before it unparks), so nothing stays parked.
                let mut queue = shared.queue();
                let target = simulator.receiver(&receipt.system_id);
                if target.is_none() {
                    queue.park(receipt);
                    continue;
                }
                drop(queue);
                target
            };
            let Some(target) = target else { continue };
            let permit = tokio::select! {
                () = simulator.shutdown.cancelled() => return,
                permit = shared.in_flight.clone().acquire_owned() => permit,
            };
            let Ok(permit) = permit else { return };
            simulator.tasks.spawn(deliver_receipt(
                shared.clone(),
                target,
                receipt,
                permit,
                None,
            ));
        }
        if full_batch {
            continue;
        }
        let wake_at = next.unwrap_or_else(|| now + Duration::from_secs(3600));
        tokio::select! {
            () = simulator.shutdown.cancelled() => return,
            () = shared.wake.notified() => {}
            () = tokio::time::sleep_until(wake_at) => {}
        }
    }
}

/// Sends one receipt and waits for its deliver_sm_resp; retries it later on failure. With
/// `notify`, tells the submit waiting for it: once written (`true`) or once answered.
async fn deliver_receipt(
    shared: Arc<Shared>,
    target: Arc<BindEntry>,
    receipt: PendingReceipt,
    _permit: tokio::sync::OwnedSemaphorePermit,
    notify: Option<(oneshot::Sender<()>, bool)>,
) {
    let (mut on_write, on_answer) = match notify {
        Some((done, true)) => (Some(done), None),
        Some((done, false)) => (None, Some(done)),
        None => (None, None),
    };
    let body = Body::DeliverSm(receipt.deliver_sm.clone());
    let answer = match target.handle.start_request(body).await {
        Ok(pending) => {
            drop(on_write.take());
            pending.answer().await
        }
        Err(e) => Err(e),
    };
    drop(on_answer);
    match answer {
        Ok(response) if response.command_status.is_ok() => {
            shared
                .counters
                .receipts_sent
                .fetch_add(1, Ordering::Relaxed);
        }
        outcome => {
            let attempts = receipt.attempts + 1;
            tracing::debug!(
                session = target.session,
                attempts,
                ?outcome,
                "receipt not accepted"
            );
            if attempts >= RECEIPT_MAX_ATTEMPTS {
                shared.count_dropped(1, "refused too often");
            } else {
                let due = Instant::now() + RECEIPT_RETRY_DELAY;
                shared.schedule(&receipt.system_id, receipt.deliver_sm, due, attempts);
            }
        }
    }
}

/// `--mo-every`: "ping N" to every receiver bind.
async fn periodic_mo(simulator: Arc<Simulator>, period: Duration) {
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    for n in 1u64.. {
        tokio::select! {
            () = simulator.closing.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let config = &simulator.config;
        let Ok(deliver_sm) = mo_deliver_sm(&config.mo_from, &config.mo_to, &format!("ping {n}"))
        else {
            // Checked at start: the addresses fit and the text is short ASCII.
            return;
        };
        let receivers: Vec<Arc<BindEntry>> = simulator
            .binds()
            .values()
            .filter(|b| b.kind.can_receive())
            .cloned()
            .collect();
        for target in receivers {
            let (shared, body) = (
                simulator.shared.clone(),
                Body::DeliverSm(deliver_sm.clone()),
            );
            // One task per bind: a slow peer does not hold up the others. Each waits at most
            // the response timeout, so at most that many periods' worth exist per bind.
            simulator.tasks.spawn(async move {
                match target.handle.request(body).await {
                    Ok(response) if response.command_status.is_ok() => {
                        shared.counters.mo_sent.fetch_add(1, Ordering::Relaxed);
                    }
                    outcome => {
                        tracing::debug!(session = target.session, ?outcome, "MO not accepted")
                    }
                }
            });
        }
    }
}

/// An MO deliver_sm: esm_class 0, GSM default coding for ASCII text, else UCS-2.
fn mo_deliver_sm(from: &str, to: &str, text: &str) -> Result<DeliverSm, Error> {
    let (data_coding, bytes) = if text.is_ascii() {
        (0, text.as_bytes().to_vec())
    } else {
        (8, text.encode_utf16().flat_map(u16::to_be_bytes).collect())
    };
    let short_message = ShortMessage::new(bytes)
        .ok_or_else(|| Error::Invalid("MO text longer than 254 octets".into()))?;
    let invalid = |what: &str| Error::Invalid(format!("{what} longer than 20 characters"));
    Ok(DeliverSm {
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: from.try_into().map_err(|_| invalid("MO source"))?,
        dest_addr_ton: 0,
        dest_addr_npi: 1,
        destination_addr: to.try_into().map_err(|_| invalid("MO destination"))?,
        esm_class: 0,
        data_coding,
        short_message,
        ..DeliverSm::default()
    })
}

fn submitted_sm(sm: &SubmitSm) -> Submitted {
    Submitted {
        source: address(sm.source_addr_ton, sm.source_addr_npi, &sm.source_addr),
        destination: address(sm.dest_addr_ton, sm.dest_addr_npi, &sm.destination_addr),
        text: text_of(sm.esm_class, sm.data_coding, sm.short_message.as_bytes()),
    }
}

fn submitted_data_sm(sm: &DataSm) -> Submitted {
    let payload = sm
        .tlvs
        .message_payload()
        .map(|b| b.as_ref())
        .unwrap_or_default();
    Submitted {
        source: address(sm.source_addr_ton, sm.source_addr_npi, &sm.source_addr),
        destination: address(sm.dest_addr_ton, sm.dest_addr_npi, &sm.destination_addr),
        text: text_of(sm.esm_class, sm.data_coding, payload),
    }
}

fn address<const MAX: usize>(ton: u8, npi: u8, addr: &COctetString<MAX>) -> (u8, u8, String) {
    (ton, npi, addr.to_string_lossy())
}

/// The message text for the receipt's `text:`, best effort: UDH skipped, UCS-2 decoded,
/// anything else read as ASCII/Latin-ish bytes.
fn text_of(esm: u8, data_coding: u8, bytes: &[u8]) -> String {
    let bytes = if esm & esm_class::UDHI != 0 {
        let udh = bytes.first().map_or(0, |&len| usize::from(len) + 1);
        bytes.get(udh..).unwrap_or_default()
    } else {
        bytes
    };
    if data_coding == 8 {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            // chunks_exact(2): every pair has two octets; an odd last octet is left out.
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

fn id_resp(
    seq: u32,
    result: Result<String, CommandStatus>,
    body: fn(MessageIdResp) -> Body,
) -> Option<Pdu> {
    Some(match result {
        Ok(id) => Pdu::new(
            seq,
            body(MessageIdResp {
                message_id: id.try_into().unwrap_or_default(),
                tlvs: Tlvs::new(),
            }),
        ),
        Err(status) => Pdu::with_status(seq, status, body(MessageIdResp::default())),
    })
}

fn failed(pdu: &Pdu, status: CommandStatus) -> Option<Pdu> {
    pdu.response_with_status(status)
}

/// Whether the `n`th event (from 0) is one of the `percent` in 100, spread evenly: exactly
/// `percent` of every 100 consecutive events, none of them bunched.
fn spread_hit(n: u64, percent: u8) -> bool {
    let (n, p) = (u128::from(n), u128::from(percent));
    (n + 1) * p / 100 > n * p / 100
}

/// splitmix64's finaliser: a well-mixed, repeatable "random" number from a message id.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The extra receipt delay of message `id`: 0..=`max`, repeatable.
fn jitter(id: u64, max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let max_nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    // Mixed with a constant so the delay does not follow the delivered/undelivered outcome.
    Duration::from_nanos(mix(id ^ 0x5EED) % max_nanos.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_hit_is_exact_and_even() {
        for percent in [0u8, 1, 7, 50, 99, 100] {
            let hits = (0..1000).filter(|&n| spread_hit(n, percent)).count();
            assert_eq!(hits, usize::from(percent) * 10, "percent {percent}");
        }
        // 50%: every other one.
        let pattern: Vec<bool> = (0..4).map(|n| spread_hit(n, 50)).collect();
        assert_eq!(pattern, [false, true, false, true]);
    }

    #[test]
    fn receipt_ids_in_each_format() {
        let with = |receipt_id_format| {
            let config = SimulatorConfig {
                receipt_id_format,
                ..SimulatorConfig::default()
            };
            Simulator::new(config).map(|s| s.format_receipt_id(0x1000_0000))
        };
        assert_eq!(
            with(ReceiptIdFormat::Same).ok().as_deref(),
            Some("10000000")
        );
        assert_eq!(with(ReceiptIdFormat::Hex).ok().as_deref(), Some("10000000"));
        assert_eq!(
            with(ReceiptIdFormat::Decimal).ok().as_deref(),
            Some("268435456")
        );
        assert_eq!(
            with(ReceiptIdFormat::DecimalPadded).ok().as_deref(),
            Some("0268435456")
        );
    }

    #[test]
    fn pending_receipts_are_bounded_dropping_the_oldest() {
        let shared = Shared {
            counters: Counters::default(),
            queue: Mutex::new(ReceiptQueue::default()),
            wake: Notify::new(),
            in_flight: Arc::new(Semaphore::new(1)),
            max_pending: 3,
        };
        let now = Instant::now();
        for i in 0..5u8 {
            let sm = DeliverSm {
                esm_class: i,
                ..DeliverSm::default()
            };
            shared.schedule("a", sm, now, 0);
        }
        let mut queue = shared.queue();
        assert_eq!(queue.len(), 3);
        assert_eq!(shared.counters.receipts_dropped.load(Ordering::Relaxed), 2);
        let kept: Vec<u8> = std::iter::from_fn(|| queue.scheduled.pop())
            .map(|r| r.0.deliver_sm.esm_class)
            .collect();
        assert_eq!(kept, [2, 3, 4]);
    }

    #[test]
    fn parked_receipts_count_and_come_back() {
        let mut queue = ReceiptQueue::default();
        let now = Instant::now();
        for order in 0..2 {
            queue.park(PendingReceipt {
                due: now,
                order,
                system_id: "a".into(),
                deliver_sm: DeliverSm::default(),
                attempts: 0,
            });
        }
        assert_eq!(queue.len(), 2);
        assert!(queue.drop_oldest());
        assert_eq!(queue.len(), 1);
        queue.unpark("a", now);
        assert_eq!((queue.scheduled.len(), queue.parked_len), (1, 0));
    }

    #[test]
    fn choices_parse() {
        assert_eq!("decimal-padded".parse(), Ok(ReceiptIdFormat::DecimalPadded));
        assert_eq!("HEX".parse(), Ok(IdFormat::Hex));
        assert_eq!("tlv".parse(), Ok(ReceiptForm::Tlv));
        assert!("octal".parse::<IdFormat>().is_err());
    }
}
