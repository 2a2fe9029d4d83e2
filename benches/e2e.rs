//! The full path, end to end: ESME load → `smppd serve` → `smppd simulate` (a carrier) →
//! receipt → smppd → back to the ESME. Both are the real binary as built by cargo for this
//! bench, on port-0 listeners, the store in a temp dir, durability "durable" (unless
//! `SMPPD_E2E_DURABILITY` says otherwise).
//!
//! The load generator binds `SMPPD_E2E_BINDS` transceivers (default 4), keeps up to
//! `SMPPD_E2E_WINDOW` (default 64) submit_sm in flight on each (registered_delivery=1),
//! optionally paced to an offered rate, answers every deliver_sm, and checks every receipt
//! against what it submitted: its receipted_message_id must be an id it got in a
//! submit_sm_resp. A long message is 2 or 3 submit_sm (UDH concatenation, esm_class 0x40),
//! each given its own id and receipt by smppd, so the bookkeeping is per submit_sm (part);
//! receipts may come back on any bind of the client, so it is shared by all binds.
//!
//! Reports: messages and submit_sm accepted per second, submit_sm taken by the carrier per
//! second (the simulator's counters), receipts relayed back per second, submit_sm_resp
//! latency (p50/p99/max), submit → receipt latency (p50/p99), smppd's RSS (sampled every
//! second with the count of accepted submit_sm: at the `SMPPD_E2E_RSS_FROM`-th and at the
//! last, the growth between, the growth of the least-squares line through every sample between,
//! and the peak), its CPU (mean and busiest second), group commits
//! and store operations per submit_sm, and the receipts lost (an accepted id with no receipt
//! `SMPPD_E2E_RECEIPT_WAIT` after the last submit), duplicated or unknown. The tables go to
//! stdout and to `target/bench-results/e2e-<UTC time>.md`.
//!
//! `cargo bench --bench e2e`. Environment:
//! - `SMPPD_E2E_MESSAGES`: messages, all binds together (default 100000; a long one is 2–3
//!   submit_sm);
//! - `SMPPD_E2E_BINDS`, `SMPPD_E2E_WINDOW`: transceiver binds and window per bind (4, 64);
//! - `SMPPD_E2E_RATE`: messages per second offered over all binds, spread evenly over each
//!   bind's second (default: as fast as the windows allow). Latency is measured from the
//!   write, so check that the achieved rate is the offered one: a full window delays sends;
//! - `SMPPD_E2E_MIX`: the share of each kind of message, e.g. `gsm=80,ucs2=15,long=5`
//!   (default `gsm=100`): `gsm` 160 characters GSM 7-bit; `ucs2` 70 characters UCS-2
//!   (data_coding 8); `long` GSM 7-bit of 2 or 3 parts (alternately) with an 8-bit UDH;
//! - `SMPPD_E2E_RSS_FROM`: the accepted submit_sm count from which RSS must stay flat
//!   (default 200000, or a fifth of the messages if fewer);
//! - `SMPPD_E2E_RECEIPT_WAIT`: seconds to wait for receipts after the last submit (30);
//! - `SMPPD_E2E_RECEIPT_DELAY`: the simulator's submit → receipt delay (default "10ms");
//! - `SMPPD_E2E_RETENTION`: `[store] retention` of the gateway (default: its default, 7 days;
//!   a short one keeps the database, and sled's memory for it, from growing over the run);
//! - `SMPPD_E2E_CARRIER_SESSIONS`, `SMPPD_E2E_CARRIER_WINDOW`: the carrier link's sessions and
//!   window per session (2, 128; the simulator's window is twice the link's);
//! - `SMPPD_E2E_DURABILITY`: the gateway's `[store] durability` (default "durable");
//! - `SMPPD_E2E_CONSENT`: 1 to send marketing with `[consent]` on, so that every message is
//!   looked up in the suppression list at accept and at dispatch (default 0);
//! - `SMPPD_E2E_SENDING_WINDOW`: 1 to send marketing under a sending-window policy that is
//!   open all day, so that every message is checked against it at accept and at dispatch
//!   (default 0);
//! - `SMPPD_E2E_MARKETING`: 1 to send every message as marketing (the client's
//!   `default_class`), through the marketing lane of the route queue (default 0);
//! - `SMPPD_E2E_PROGRESS`: 0 to leave out the per-second progress lines (default 1);
//! - `SMPPD_BENCH_DIR`: parent directory of the temp store (default: the system temp dir;
//!   point it at the disk you mean to measure, as a tmpfs fsync is free);
//! - `SMPPD_BENCH_RESULTS`: where the results file goes (default `target/bench-results`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness, like a test

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "load/mod.rs"]
mod load;

use bytes::BytesMut;
use smpp_proto::coding::Encoding;
use smpp_proto::concat::{self, ConcatMethod};
use smpp_proto::pdu::{MessageIdResp, ShortMessage};
use smpp_proto::{frame, receipt, Body, CommandId, Pdu};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use common::{carrier_table, client, preamble, route, Commits, Gateway, SimStats, Simulator};
use load::{env_count, env_u64, micros, ms, percentile, Report};

/// Send times by sequence number modulo this: far more than a window, so no slot is reused
/// while its request is in flight.
const RING: usize = 8192;
/// Carrier link: sessions and window toward the simulator, unless the environment says.
const CARRIER_SESSIONS: u64 = 2;
const CARRIER_WINDOW: u64 = 128;

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

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let messages = env_u64("SMPPD_E2E_MESSAGES", 100_000);
    let params = Params {
        messages,
        binds: env_count("SMPPD_E2E_BINDS", 4),
        window: env_count("SMPPD_E2E_WINDOW", 64),
        rate: match env_u64("SMPPD_E2E_RATE", 0) {
            0 => None,
            r => Some(r as f64),
        },
        mix: Mix::parse(&std::env::var("SMPPD_E2E_MIX").unwrap_or_else(|_| "gsm=100".into())),
        rss_from: env_u64("SMPPD_E2E_RSS_FROM", 200_000.min(messages / 5)),
        receipt_wait: Duration::from_secs(env_u64("SMPPD_E2E_RECEIPT_WAIT", 30)),
        receipt_delay: std::env::var("SMPPD_E2E_RECEIPT_DELAY").unwrap_or_else(|_| "10ms".into()),
        retention: std::env::var("SMPPD_E2E_RETENTION").ok(),
        progress: env_u64("SMPPD_E2E_PROGRESS", 1) != 0,
        carrier_sessions: env_u64("SMPPD_E2E_CARRIER_SESSIONS", CARRIER_SESSIONS).max(1),
        carrier_window: env_u64("SMPPD_E2E_CARRIER_WINDOW", CARRIER_WINDOW).max(1),
        durability: std::env::var("SMPPD_E2E_DURABILITY").unwrap_or_else(|_| "durable".into()),
        consent: env_u64("SMPPD_E2E_CONSENT", 0) != 0,
        sending_window: env_u64("SMPPD_E2E_SENDING_WINDOW", 0) != 0,
        marketing: env_u64("SMPPD_E2E_MARKETING", 0) != 0,
    };
    assert!(params.window < RING / 2, "window too large");
    let parent = load::store_parent();
    let offered = params
        .rate
        .map_or_else(|| "unlimited".to_owned(), |r| format!("{r:.0} messages/s"));
    println!(
        "e2e benchmark: {} messages ({}), {} transceiver binds x window {}, offered {offered}, \
         registered_delivery=1; carrier: simulator, {} sessions x window {}, receipt delay {}; \
         durability {}; {} CPUs; store under {}",
        params.messages,
        params.mix,
        params.binds,
        params.window,
        params.carrier_sessions,
        params.carrier_window,
        params.receipt_delay,
        params.durability,
        load::cpus(),
        parent.display()
    );
    let outcome = run(&params, &parent);
    report(&params, &parent, &outcome).save("e2e");
}

struct Params {
    messages: u64,
    binds: usize,
    window: usize,
    /// Messages per second offered over all binds; `None`: as fast as the windows allow.
    rate: Option<f64>,
    mix: Mix,
    rss_from: u64,
    receipt_wait: Duration,
    receipt_delay: String,
    /// `[store] retention`; `None`: the gateway's default.
    retention: Option<String>,
    progress: bool,
    /// The carrier link toward the simulator: session slots and window per session.
    carrier_sessions: u64,
    carrier_window: u64,
    /// `[store] durability`.
    durability: String,
    /// Marketing with `[consent]` on.
    consent: bool,
    /// Marketing under a window policy, open all day.
    sending_window: bool,
    /// Every message marketing.
    marketing: bool,
}

/// The kinds of message the load sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gsm,
    Ucs2,
    Long,
}

impl Kind {
    const ALL: [(Self, &'static str); 3] = [
        (Self::Gsm, "gsm"),
        (Self::Ucs2, "ucs2"),
        (Self::Long, "long"),
    ];
}

/// Shares of the kinds of message, as weights (`gsm=80,ucs2=15,long=5`).
struct Mix {
    weights: Vec<(Kind, u64)>,
    total: u64,
}

impl Mix {
    fn parse(text: &str) -> Self {
        let weights: Vec<(Kind, u64)> = text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                let (name, weight) = t
                    .split_once('=')
                    .unwrap_or_else(|| panic!("SMPPD_E2E_MIX: {t:?} is not kind=weight"));
                let kind = Kind::ALL
                    .iter()
                    .find(|(_, n)| *n == name.trim())
                    .unwrap_or_else(|| panic!("SMPPD_E2E_MIX: {name:?} is not gsm, ucs2 or long"))
                    .0;
                let weight = weight
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("SMPPD_E2E_MIX: {weight:?} is not a number"));
                (kind, weight)
            })
            .filter(|(_, w)| *w > 0)
            .collect();
        let total = weights.iter().map(|(_, w)| w).sum();
        assert!(total > 0, "SMPPD_E2E_MIX: no kind has a weight");
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
            bytes: load::submit_template(),
            reference_at: None,
        }];
        let mut ucs2 = load::submit_sm(1);
        ucs2.data_coding = 8;
        ucs2.short_message = ShortMessage::new(Encoding::Ucs2.encode(UCS2_TEXT).unwrap()).unwrap();
        let ucs2 = vec![Part {
            bytes: load::template(&ucs2),
            reference_at: None,
        }];
        let long = |text: &str, parts: usize| -> Vec<Part> {
            let segments = concat::split(text, Encoding::Gsm7, ConcatMethod::Udh8, 0).unwrap();
            assert_eq!(segments.len(), parts, "{text:?}");
            segments
                .iter()
                .map(|segment| {
                    let mut sm = load::submit_sm(1);
                    sm.set_segment(segment);
                    let bytes = load::template(&sm);
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
struct Ledger {
    /// Accepted ids still waiting for their receipt, with the time their submit was written.
    waiting: HashMap<String, Instant>,
    /// Ids whose receipt came.
    receipted: HashSet<String>,
    /// Receipts whose id was not (yet) given in a submit_sm_resp: id → time received.
    early: HashMap<String, Instant>,
    accepted: u64,
    refused: u64,
    /// Refusals by command_status, to tell backpressure (ESME_RMSGQFUL …) from errors.
    refused_by_status: std::collections::BTreeMap<String, u64>,
    duplicated: u64,
    submit_latency_us: Vec<u32>,
    receipt_latency_us: Vec<u32>,
    last_submit_resp: Option<Instant>,
    last_receipt: Option<Instant>,
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

/// Growth of the least-squares line through the RSS samples taken from `from` to `to` (seconds
/// since the start), in % of the line's value at `from`. Two single samples say little: the
/// store's in-memory layers fill and empty every few seconds, swinging RSS by tens of MiB.
fn rss_trend(samples: &[Sample], from: f64, to: f64) -> Option<f64> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.at >= from && s.at <= to)
        .filter_map(|s| Some((s.at, s.rss_kib? as f64)))
        .collect();
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_r = points.iter().map(|p| p.1).sum::<f64>() / n;
    let var_t: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    let cov: f64 = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_r)).sum();
    let slope = cov / var_t;
    let at_from = mean_r + slope * (from - mean_t);
    Some(slope * (to - from) * 100.0 / at_from)
}

/// smppd once a second: seconds since the start, submit_sm accepted so far, VmRSS, CPU
/// seconds.
#[derive(Clone, Copy)]
struct Sample {
    at: f64,
    accepted: u64,
    rss_kib: Option<u64>,
    cpu: Option<f64>,
}

struct Outcome {
    ledger: Ledger,
    started: Instant,
    /// When the load loop ended (all receipts in, or the wait over).
    ended: Instant,
    messages: u64,
    parts: u64,
    by_kind: [u64; 3],
    samples: Vec<Sample>,
    peak_rss_kib: Option<u64>,
    commits: Commits,
    /// CPU seconds (user + system) of smppd and of the simulator over the whole run.
    cpu: [Option<f64>; 2],
    /// The simulator's counters over time, and at the end of the load.
    carrier: Vec<(Instant, SimStats)>,
    carrier_final: SimStats,
}

fn run(params: &Params, parent: &Path) -> Outcome {
    let dir = tempfile::Builder::new()
        .prefix("smppd-e2e-")
        .tempdir_in(parent)
        .unwrap();
    let window = (params.carrier_window * 2).to_string();
    let mut simulator = Simulator::start_measured(
        "127.0.0.1:0".parse().unwrap(),
        &[
            "--receipt-delay",
            &params.receipt_delay,
            "--window",
            &window,
        ],
    );
    let config = config(dir.path(), simulator.addr, params);
    let mut gateway = Gateway::start_measured(dir.path(), &config, "warn");
    wait_for_carrier();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let written = Arc::new(Written::default());
    let templates = Arc::new(Templates::new());
    let mix = Arc::new(Mix::parse(&params.mix.to_string()));
    let addr = gateway.addr;
    let binds = params.binds;
    let per_bind = params.messages.div_ceil(binds as u64);
    let per_bind_rate = params.rate.map(|r| r / binds as f64);
    let (window, receipt_wait, progress) = (params.window, params.receipt_wait, params.progress);
    let shared = ledger.clone();
    let counts = written.clone();
    let gw = &gateway;
    let sim = &simulator;
    let mut samples = Vec::new();
    let (started, ended) = runtime.block_on(async {
        let stop = CancellationToken::new();
        let mut loads = Vec::new();
        for _ in 0..binds {
            loads.push(Load::bind(addr, window, shared.clone()).await);
        }
        // The clock starts once every bind is up: binding is not submitting.
        let started = Instant::now();
        let cpu_at_start = gw.cpu_seconds();
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
        // submit_sm_resp latencies seen before this sample: the progress line shows the second's.
        let mut latencies_seen = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let ledger = shared.lock().unwrap();
            let now = Instant::now();
            if now >= next_sample {
                next_sample += Duration::from_secs(1);
                let sample = Sample {
                    at: now.duration_since(started).as_secs_f64(),
                    accepted: ledger.accepted,
                    rss_kib: gw.rss_kib(),
                    cpu: gw.cpu_seconds().zip(cpu_at_start).map(|(c, s)| c - s),
                };
                samples.push(sample);
                let mut second = ledger.submit_latency_us[latencies_seen..].to_vec();
                latencies_seen = ledger.submit_latency_us.len();
                second.sort_unstable();
                if progress && sample.at > 0.5 {
                    println!(
                        "  {:>5.1}s: accepted {:>8}, to carrier {:>8}, receipts {:>8}, RSS {} MiB, \
                         submit_sm_resp p99 {} / max {} ms, longest sync {} ms",
                        sample.at,
                        ledger.accepted,
                        sim.latest().delivered(),
                        ledger.receipted.len(),
                        load::rss_mib(sample.rss_kib),
                        ms(percentile(&second, 99.0)),
                        ms(second.last().copied().unwrap_or(0)),
                        ms(u32::try_from(gw.take_max_sync_us()).unwrap_or(u32::MAX)),
                    );
                }
            }
            let answered = ledger.accepted + ledger.refused;
            let all_written = counts.messages.load(Ordering::Relaxed) == per_bind * binds as u64;
            if !all_written || answered < counts.parts.load(Ordering::Relaxed) {
                continue;
            }
            let deadline = *receipts_deadline.get_or_insert_with(|| Instant::now() + receipt_wait);
            if ledger.waiting.is_empty() || Instant::now() >= deadline {
                break;
            }
        }
        let ended = Instant::now();
        // One more sample: the run may end between two.
        samples.push(Sample {
            at: ended.duration_since(started).as_secs_f64(),
            accepted: shared.lock().unwrap().accepted,
            rss_kib: gw.rss_kib(),
            cpu: gw.cpu_seconds().zip(cpu_at_start).map(|(c, s)| c - s),
        });
        stop.cancel();
        for task in tasks {
            task.await.unwrap();
        }
        (started, ended)
    });
    let peak_rss_kib = gateway.peak_rss_kib();
    let cpu = [gateway.cpu_seconds(), simulator.cpu_seconds()];
    // The simulator's counters once it has seen the last stats interval of the run.
    std::thread::sleep(common::STATS_EVERY * 2);
    let carrier_final = simulator.latest();
    let carrier = simulator.stats();
    gateway.stop();
    simulator.stop();
    let commits = gateway.commits();
    drop(shared);
    let mut ledger = Arc::try_unwrap(ledger)
        .ok()
        .expect("load tasks are done")
        .into_inner()
        .unwrap();
    ledger.submit_latency_us.sort_unstable();
    ledger.receipt_latency_us.sort_unstable();
    Outcome {
        ledger,
        started,
        ended,
        messages: written.messages.load(Ordering::Relaxed),
        parts: written.parts.load(Ordering::Relaxed),
        by_kind: written
            .by_kind
            .each_ref()
            .map(|c| c.load(Ordering::Relaxed)),
        samples,
        peak_rss_kib,
        commits,
        cpu,
        carrier,
        carrier_final,
    }
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
            rbuf: load::read_buffer(),
            window,
            ledger,
        };
        let bytes = load::bind_bytes(CommandId::BindTransceiver);
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
                    load::push_submit(&mut wbuf, &part.bytes, seq);
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

/// The `smppd serve` config: a port-0 listener, one client, one carrier link to the
/// simulator at `carrier`, a catch-all route, the store in `dir`.
fn config(dir: &Path, carrier: SocketAddr, params: &Params) -> String {
    let mut store = format!("durability = \"{}\"", params.durability);
    if let Some(retention) = &params.retention {
        store.push_str(&format!("\nretention = {retention:?}"));
    }
    let mut client_keys = format!(
        "bind_types = [\"transceiver\"]\nmax_binds = {}\nwindow = {}",
        params.binds, params.window
    );
    let mut shop = String::new();
    if params.consent || params.sending_window || params.marketing {
        client_keys.push_str("\ndefault_class = \"marketing\"");
    }
    if params.consent {
        shop.push_str("\n[consent]\nenabled = true\n\n[numbering]\ndefault_country = \"FR\"\n");
    }
    if params.sending_window {
        shop.push_str(
            "\n[[sending_windows]]\nname = \"all-day\"\n\
             days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n\
             from = \"00:00\"\nuntil = \"23:59\"\n\n\
             [[window_policies]]\nclass = \"marketing\"\nwindow = \"all-day\"\n",
        );
    }
    let carrier_keys = format!(
        "sessions = {}\nwindow = {}",
        params.carrier_sessions, params.carrier_window
    );
    preamble(dir, "", &store, "")
        + &client("bench", "bench", &client_keys)
        + &carrier_table("sim", carrier.port(), &carrier_keys)
        + &route("all", &["sim"], "")
        + &shop
}

/// Binding to the carrier happens after "ready"; a submit before would only wait in the
/// queue, so give the link a moment (it connects at once to a local simulator).
fn wait_for_carrier() {
    std::thread::sleep(Duration::from_millis(300));
}

/// `n` over `from` → `to` per second, "-" for no time.
fn rate(n: u64, from: Instant, to: Option<Instant>) -> String {
    match to {
        Some(to) if to > from => format!("{:.0}", n as f64 / to.duration_since(from).as_secs_f64()),
        _ => "-".to_owned(),
    }
}

fn report(params: &Params, parent: &Path, o: &Outcome) -> Report {
    let l = &o.ledger;
    let receipts = l.receipted.len() as u64;
    let lost = l.waiting.len() as u64;
    let unknown = l.early.len() as u64;
    let c = o.commits;
    let offered = params
        .rate
        .map_or_else(|| "unlimited".to_owned(), |r| format!("{r:.0} messages/s"));
    let mut report = Report::new(
        "smppd end-to-end benchmark (benches/e2e.rs)",
        &[
            ("messages", params.messages.to_string()),
            ("mix", params.mix.to_string()),
            (
                "transceiver binds x window",
                format!("{} x {}", params.binds, params.window),
            ),
            ("offered rate", offered),
            (
                "carrier",
                format!(
                    "smppd simulate, {} sessions x window {}, receipt delay {}",
                    params.carrier_sessions, params.carrier_window, params.receipt_delay
                ),
            ),
            ("durability", params.durability.clone()),
            (
                "class",
                if params.consent || params.sending_window || params.marketing {
                    "marketing"
                } else {
                    "transactional"
                }
                .to_owned(),
            ),
            (
                "consent",
                if params.consent {
                    "on, marketing"
                } else {
                    "off"
                }
                .to_owned(),
            ),
            (
                "retention",
                params
                    .retention
                    .clone()
                    .unwrap_or_else(|| "default (7d)".to_owned()),
            ),
            ("store under", parent.display().to_string()),
        ],
    );
    // The carrier took its last submit_sm when its counter first showed the final count.
    let carrier_done = load::reached(&o.carrier, SimStats::delivered, o.carrier_final.delivered());
    let elapsed = l
        .last_submit_resp
        .map(|t| t.duration_since(o.started).as_secs_f64());
    let messages_per_s = elapsed.map_or_else(
        || "-".to_owned(),
        |e| format!("{:.0}", o.messages as f64 / e),
    );
    let per_msg = |cpu: Option<f64>| {
        cpu.map_or_else(
            || "?".to_owned(),
            |s| format!("{:.0}", s * 1e6 / l.accepted.max(1) as f64),
        )
    };
    let wall = o.ended.duration_since(o.started).as_secs_f64();
    let mean_cpu = o
        .samples
        .last()
        .and_then(|s| Some(s.cpu? * 100.0 / s.at))
        .map_or_else(|| "?".to_owned(), |p| format!("{p:.0}"));
    let peak_cpu = o
        .samples
        .windows(2)
        .filter_map(|w| Some((w[1].cpu? - w[0].cpu?) * 100.0 / (w[1].at - w[0].at)))
        .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))))
        .map_or_else(|| "?".to_owned(), |p| format!("{p:.0}"));
    let by_kind = Kind::ALL
        .iter()
        .map(|(k, name)| format!("{name} {}", o.by_kind[*k as usize]))
        .collect::<Vec<_>>()
        .join(", ");
    // RSS from the `rss_from`-th accepted submit_sm to the last.
    let rss_at = |count: u64| {
        o.samples
            .iter()
            .find(|s| s.accepted >= count && s.rss_kib.is_some())
    };
    let (from, last) = (rss_at(params.rss_from.max(1)), rss_at(l.accepted.max(1)));
    let growth = match (from.and_then(|s| s.rss_kib), last.and_then(|s| s.rss_kib)) {
        (Some(a), Some(b)) => format!("{:+.1}", (b as f64 - a as f64) * 100.0 / a as f64),
        _ => "-".to_owned(),
    };
    let trend = match (from, last) {
        (Some(a), Some(b)) => {
            rss_trend(&o.samples, a.at, b.at).map_or_else(|| "-".to_owned(), |g| format!("{g:+.1}"))
        }
        _ => "-".to_owned(),
    };
    let rss_of = |s: Option<&Sample>| {
        s.map_or_else(
            || "-".to_owned(),
            |s| {
                format!(
                    "{} MiB (at {:.1} s, {} accepted)",
                    load::rss_mib(s.rss_kib),
                    s.at,
                    s.accepted
                )
            },
        )
    };
    let row = |name: &str, value: String| vec![name.to_owned(), value];
    report.table(
        &["measure", "value"],
        &[
            row(
                "messages written (by kind)",
                format!("{} ({by_kind})", o.messages),
            ),
            row("submit_sm written", o.parts.to_string()),
            row(
                "submit_sm accepted / refused",
                format!("{} / {}", l.accepted, l.refused),
            ),
            row(
                "refused by status",
                if l.refused_by_status.is_empty() {
                    "-".to_owned()
                } else {
                    l.refused_by_status
                        .iter()
                        .map(|(status, n)| format!("{status}: {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ),
            row(
                "messages/s (first submit → last submit_sm_resp)",
                messages_per_s,
            ),
            row(
                "submit_sm accepted/s",
                rate(l.accepted, o.started, l.last_submit_resp),
            ),
            row(
                "submit_sm taken by the carrier (throttled, withheld)",
                format!(
                    "{} ({}, {})",
                    o.carrier_final.delivered(),
                    o.carrier_final.submits_throttled,
                    o.carrier_final.submits_withheld
                ),
            ),
            row(
                "submit_sm taken by the carrier/s",
                rate(o.carrier_final.delivered(), o.started, carrier_done),
            ),
            row("receipts relayed back", receipts.to_string()),
            row(
                "receipts relayed back/s",
                rate(receipts, o.started, l.last_receipt),
            ),
            row(
                "submit_sm_resp p50 / p99 / max ms",
                format!(
                    "{} / {} / {}",
                    ms(percentile(&l.submit_latency_us, 50.0)),
                    ms(percentile(&l.submit_latency_us, 99.0)),
                    ms(l.submit_latency_us.last().copied().unwrap_or(0))
                ),
            ),
            row(
                "submit → receipt p50 / p99 ms",
                format!(
                    "{} / {}",
                    ms(percentile(&l.receipt_latency_us, 50.0)),
                    ms(percentile(&l.receipt_latency_us, 99.0))
                ),
            ),
            row(
                "smppd peak RSS (VmHWM)",
                format!("{} MiB", load::rss_mib(o.peak_rss_kib)),
            ),
            row(
                &format!("smppd RSS at the {}th accepted", params.rss_from),
                rss_of(from),
            ),
            row("smppd RSS at the last accepted", rss_of(last)),
            row("smppd RSS growth between, %", growth),
            row("smppd RSS growth between, trend of all samples, %", trend),
            row(
                "smppd CPU mean / busiest second, % of a core",
                format!("{mean_cpu} / {peak_cpu}"),
            ),
            row("smppd CPU µs per submit_sm", per_msg(o.cpu[0])),
            row("simulator CPU µs per submit_sm", per_msg(o.cpu[1])),
            row(
                "group commits, mean batch, mean sync ms",
                format!("{}, {}, {}", c.count, c.mean_batch(), c.mean_sync_ms()),
            ),
            row(
                "store ops per submit_sm",
                if c.count == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.2}", c.ops as f64 / l.accepted.max(1) as f64)
                },
            ),
            row("lost receipts", lost.to_string()),
            row("duplicated receipts", l.duplicated.to_string()),
            row("unknown receipts", unknown.to_string()),
            row(
                "run (first submit → last receipt or end of wait), s",
                format!("{wall:.1}"),
            ),
        ],
    );
    let verdict = if lost == 0 && l.duplicated == 0 && unknown == 0 && l.refused == 0 {
        "Every accepted submit_sm got exactly one receipt."
    } else {
        "NOT every accepted submit_sm got exactly one receipt: see lost / duplicated / unknown."
    };
    report.line(verdict);
    report.detail(
        "smppd once a second (seconds since the first submit, submit_sm accepted, VmRSS, CPU \
         seconds since the first submit):",
    );
    report.detail_table(
        &["s", "accepted", "RSS MiB", "CPU s"],
        &o.samples
            .iter()
            .map(|s| {
                vec![
                    format!("{:.1}", s.at),
                    s.accepted.to_string(),
                    load::rss_mib(s.rss_kib),
                    s.cpu.map_or_else(|| "?".to_owned(), |c| format!("{c:.2}")),
                ]
            })
            .collect::<Vec<_>>(),
    );
    report
}
