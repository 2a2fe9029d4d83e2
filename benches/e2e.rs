//! The full path, end to end: ESME load → `smppd serve` → `smppd simulate` (a carrier) →
//! receipt → smppd → back to the ESME. Both are the real binary as built by cargo for this
//! bench, on port-0 listeners, the store in a temp dir, durability "durable".
//!
//! The load generator binds `SMPPD_E2E_BINDS` transceivers (default 4), keeps
//! `SMPPD_E2E_WINDOW` (default 64) submit_sm in flight on each (160-character GSM text,
//! registered_delivery=1), answers every deliver_sm, and checks every receipt against what it
//! submitted: its receipted_message_id must be an id it got in a submit_sm_resp. Receipts may
//! come back on any bind of the client, so the bookkeeping is shared by all binds.
//!
//! Reports: submit_sm accepted per second, receipts relayed back per second, submit_sm_resp
//! latency (p50/p99/max), submit → receipt latency (p50/p99), smppd's peak RSS (VmHWM), its
//! group commits and store operations per message, and the receipts lost (an accepted id with
//! no receipt 30 s after the last submit), duplicated or unknown.
//!
//! `cargo bench --bench e2e`. Environment:
//! - `SMPPD_E2E_MESSAGES`: submits, all binds together (default 100000);
//! - `SMPPD_E2E_BINDS`, `SMPPD_E2E_WINDOW`: transceiver binds and window per bind (4, 64);
//! - `SMPPD_E2E_RECEIPT_WAIT`: seconds to wait for receipts after the last submit (30);
//! - `SMPPD_E2E_RECEIPT_DELAY`: the simulator's submit → receipt delay (default "10ms");
//! - `SMPPD_E2E_PROGRESS`: 0 to leave out the per-second progress lines (default 1);
//! - `SMPPD_BENCH_DIR`: parent directory of the temp store (default: the system temp dir;
//!   point it at the disk you mean to measure, as a tmpfs fsync is free).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness, like a test

#[path = "support/mod.rs"]
mod support;

use bytes::BytesMut;
use smpp_proto::pdu::MessageIdResp;
use smpp_proto::{frame, receipt, Body, CommandId, Pdu};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use support::{env_u64, micros, ms, percentile, Commits, Gateway};

/// Send times by sequence number modulo this: far more than a window, so no slot is reused
/// while its request is in flight.
const RING: usize = 8192;
/// Carrier link: sessions and window toward the simulator.
const CARRIER_SESSIONS: usize = 2;
const CARRIER_WINDOW: usize = 128;

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let params = Params {
        messages: env_u64("SMPPD_E2E_MESSAGES", 100_000),
        binds: usize::try_from(env_u64("SMPPD_E2E_BINDS", 4))
            .unwrap()
            .max(1),
        window: usize::try_from(env_u64("SMPPD_E2E_WINDOW", 64))
            .unwrap()
            .max(1),
        receipt_wait: Duration::from_secs(env_u64("SMPPD_E2E_RECEIPT_WAIT", 30)),
        receipt_delay: std::env::var("SMPPD_E2E_RECEIPT_DELAY").unwrap_or_else(|_| "10ms".into()),
        progress: env_u64("SMPPD_E2E_PROGRESS", 1) != 0,
    };
    let parent = support::store_parent();
    let cpus = support::cpus();
    println!(
        "e2e benchmark: {} submit_sm, {} transceiver binds x window {}, 160-char GSM text, \
         registered_delivery=1; carrier: simulator, {CARRIER_SESSIONS} sessions x window \
         {CARRIER_WINDOW}, receipt delay {}; durability durable; {cpus} CPUs; store under {}",
        params.messages,
        params.binds,
        params.window,
        params.receipt_delay,
        parent.display()
    );
    let outcome = run(&params, &parent);
    print_table(&params, &outcome);
}

struct Params {
    messages: u64,
    binds: usize,
    window: usize,
    receipt_wait: Duration,
    receipt_delay: String,
    progress: bool,
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

struct Outcome {
    ledger: Ledger,
    started: Instant,
    peak_rss_kib: Option<u64>,
    commits: Commits,
    /// CPU seconds (user + system) of smppd and of the simulator over the whole run.
    cpu: [Option<f64>; 2],
}

fn run(params: &Params, parent: &Path) -> Outcome {
    let dir = tempfile::Builder::new()
        .prefix("smppd-e2e-")
        .tempdir_in(parent)
        .unwrap();
    let mut simulator = Simulator::start(&params.receipt_delay);
    let mut gateway = Gateway::start(dir.path(), &config(dir.path(), simulator.addr, params));
    wait_for_carrier();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let addr = gateway.addr;
    let per_bind = params.messages.div_ceil(params.binds as u64);
    let (binds, window, receipt_wait) = (params.binds, params.window, params.receipt_wait);
    let progress = params.progress;
    let shared = ledger.clone();
    let started = runtime.block_on(async move {
        let stop = CancellationToken::new();
        let mut loads = Vec::new();
        for _ in 0..binds {
            loads.push(Load::bind(addr, window, shared.clone()).await);
        }
        // The clock starts once every bind is up: binding is not submitting.
        let started = Instant::now();
        let submitted = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = loads
            .into_iter()
            .map(|load| tokio::spawn(load.run(per_bind, stop.clone(), submitted.clone())))
            .collect();
        // Submits done: every submit_sm answered. Then receipts: all in, or the wait is over.
        let total = per_bind * binds as u64;
        let mut receipts_deadline = None;
        let mut next_report = started + Duration::from_secs(1);
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let ledger = shared.lock().unwrap();
            if progress && Instant::now() >= next_report {
                next_report += Duration::from_secs(1);
                println!(
                    "  {:>5.1}s: accepted {:>7}, receipts {:>7}",
                    started.elapsed().as_secs_f64(),
                    ledger.accepted,
                    ledger.receipted.len()
                );
            }
            let answered = ledger.accepted + ledger.refused;
            if answered < total {
                continue;
            }
            let deadline = *receipts_deadline.get_or_insert_with(|| Instant::now() + receipt_wait);
            if ledger.waiting.is_empty() || Instant::now() >= deadline {
                break;
            }
        }
        stop.cancel();
        for task in tasks {
            task.await.unwrap();
        }
        started
    });
    let peak_rss_kib = gateway.peak_rss_kib();
    let cpu = [gateway.child.as_ref(), simulator.child.as_ref()].map(|c| c.and_then(cpu_seconds));
    gateway.stop("a child");
    simulator.stop();
    let commits = gateway.commits();
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
        peak_rss_kib,
        commits,
        cpu,
    }
}

/// One transceiver bind: a writer task keeps `window` submits in flight and writes the
/// deliver_sm_resp the reader hands it; the reader settles responses and receipts.
struct Load {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    rbuf: BytesMut,
    template: Vec<u8>,
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
            rbuf: support::read_buffer(),
            template: support::submit_template(),
            window,
            ledger,
        };
        let bytes = support::bind_bytes(Body::BindTransceiver);
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

    async fn run(self, total: u64, stop: CancellationToken, submitted: Arc<AtomicU64>) {
        let Self {
            reader,
            writer,
            rbuf,
            template,
            window,
            ledger,
        } = self;
        let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; RING]));
        let permits = Arc::new(Semaphore::new(window));
        let (resp_tx, resp_rx) = mpsc::channel::<Vec<u8>>(RING);
        let write = tokio::spawn(write_loop(WriteLoop {
            writer,
            template,
            total,
            window,
            permits: permits.clone(),
            sent_at: sent_at.clone(),
            responses: resp_rx,
            stop: stop.clone(),
            submitted,
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
    template: Vec<u8>,
    total: u64,
    window: usize,
    permits: Arc<Semaphore>,
    sent_at: Arc<Mutex<Vec<Option<Instant>>>>,
    responses: mpsc::Receiver<Vec<u8>>,
    stop: CancellationToken,
    submitted: Arc<AtomicU64>,
}

async fn write_loop(mut w: WriteLoop) {
    let mut wbuf = Vec::with_capacity(w.window * w.template.len());
    let mut sent = 0u64;
    let mut seq: u32 = 1; // 1 was the bind.
    loop {
        tokio::select! {
            biased;
            () = w.stop.cancelled() => return,
            frame = w.responses.recv() => match frame {
                Some(frame) => wbuf.extend_from_slice(&frame),
                None => return,
            },
            permit = w.permits.acquire(), if sent < w.total => {
                permit.unwrap().forget();
                let mut n = 1;
                while sent + n < w.total {
                    match w.permits.try_acquire() {
                        Ok(p) => { p.forget(); n += 1; }
                        Err(_) => break,
                    }
                }
                let now = Instant::now();
                let mut sent_at = w.sent_at.lock().unwrap();
                for _ in 0..n {
                    seq += 1;
                    support::push_submit(&mut wbuf, &w.template, seq);
                    sent_at[seq as usize % RING] = Some(now);
                }
                drop(sent_at);
                sent += n;
                w.submitted.fetch_add(n, Ordering::Relaxed);
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

/// `smppd simulate` on a port-0 listener.
struct Simulator {
    child: Option<Child>,
    addr: SocketAddr,
}

impl Simulator {
    fn start(receipt_delay: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smppd"))
            .args(["simulate", "--listen", "127.0.0.1:0", "--receipt-delay"])
            .arg(receipt_delay)
            .args(["--window", &(CARRIER_WINDOW * 2).to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let addr = support::listening_addr(&mut child, "smppd-simulate")
            .expect("the simulator printed no listening address");
        Self {
            child: Some(child),
            addr,
        }
    }

    fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            support::terminate(child, "a child");
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        support::kill(self.child.take());
    }
}

/// The `smppd serve` config: a port-0 listener, one client, one carrier link to the
/// simulator at `carrier`, a catch-all route, the store in `dir`.
fn config(dir: &Path, carrier: SocketAddr, params: &Params) -> String {
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]

[store]
path = "{store}"
durability = "durable"

[admin]
listen = "127.0.0.1:0"

[[clients]]
system_id = "bench"
password = "bench"
bind_types = ["transceiver"]
max_binds = {binds}
window = {window}

[[carriers]]
name = "sim"
host = "{host}"
port = {port}
system_id = "smppd"
password = "secret"
sessions = {CARRIER_SESSIONS}
window = {CARRIER_WINDOW}

[[routes]]
name = "all"
carriers = ["sim"]
"#,
        store = dir.join("store").display(),
        binds = params.binds,
        window = params.window,
        host = carrier.ip(),
        port = carrier.port(),
    )
}

/// Binding to the carrier happens after "ready"; a submit before would only wait in the
/// queue, so give the link a moment (it connects at once to a local simulator).
fn wait_for_carrier() {
    std::thread::sleep(Duration::from_millis(300));
}

/// User + system CPU seconds of a child so far (/proc/PID/stat, clock ticks of 10 ms).
fn cpu_seconds(child: &Child) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn rate(n: u64, started: Instant, last: Option<Instant>) -> String {
    match last {
        Some(last) if last > started => {
            format!(
                "{:.0}",
                n as f64 / last.duration_since(started).as_secs_f64()
            )
        }
        _ => "-".to_owned(),
    }
}

fn print_table(params: &Params, o: &Outcome) {
    let l = &o.ledger;
    let receipts = l.receipted.len() as u64;
    let lost = l.waiting.len() as u64;
    let unknown = l.early.len() as u64;
    let rss = support::rss_mib(o.peak_rss_kib);
    let c = o.commits;
    let (batch, sync) = (c.mean_batch(), c.mean_sync_ms());
    let ops_per_msg = if c.count == 0 {
        "-".to_owned()
    } else {
        format!("{:.2}", c.ops as f64 / l.accepted.max(1) as f64)
    };
    println!();
    println!(
        "| binds x window | accepted | refused | submits/s | receipts | receipts/s \
         | resp p50 ms | resp p99 ms | resp max ms | receipt p50 ms | receipt p99 ms \
         | peak RSS MiB | commits | mean batch | mean sync ms | store ops/msg \
         | smppd CPU µs/msg | simulator CPU µs/msg | lost | duplicated | unknown |"
    );
    println!(
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\
         ---:|---:|---:|---:|"
    );
    let per_msg = |cpu: Option<f64>| {
        cpu.map_or_else(
            || "?".to_owned(),
            |s| format!("{:.0}", s * 1e6 / l.accepted.max(1) as f64),
        )
    };
    println!(
        "| {} x {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} \
         | {} | {} | {} | {} | {} |",
        params.binds,
        params.window,
        l.accepted,
        l.refused,
        rate(l.accepted, o.started, l.last_submit_resp),
        receipts,
        rate(receipts, o.started, l.last_receipt),
        ms(percentile(&l.submit_latency_us, 50.0)),
        ms(percentile(&l.submit_latency_us, 99.0)),
        ms(l.submit_latency_us.last().copied().unwrap_or(0)),
        ms(percentile(&l.receipt_latency_us, 50.0)),
        ms(percentile(&l.receipt_latency_us, 99.0)),
        rss,
        c.count,
        batch,
        sync,
        ops_per_msg,
        per_msg(o.cpu[0]),
        per_msg(o.cpu[1]),
        lost,
        l.duplicated,
        unknown,
    );
}
