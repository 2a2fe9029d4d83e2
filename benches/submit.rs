//! Submit throughput of the real gateway: the `smppd` binary (as built by cargo for this bench)
//! on a port-0 listener with its store in a temp dir, loaded over real TCP by 4 transmitter
//! binds with 64 pipelined submit_sm each (160-character GSM text).
//!
//! Measures, per durability mode: submit_sm accepted per second (status OK), the latency from
//! writing a submit_sm to reading its submit_sm_resp (p50, p99, max), smppd's peak RSS (VmHWM),
//! the group commits it logged (commits, mean batch, mean flush + fsync time) and its write
//! syscalls per accepted message (`syscw` of /proc/PID/io: write/writev/pwrite on sockets and
//! files; how well responses share a write).
//!
//! `cargo bench --bench submit`. Environment:
//! - `SMPPD_BENCH_MESSAGES`: submits per mode (default 200000), all binds together;
//! - `SMPPD_BENCH_SECONDS`: time limit per mode (default 60);
//! - `SMPPD_BENCH_MODES`: comma-separated modes (default "durable,relaxed");
//! - `SMPPD_BENCH_DIR`: parent directory of the temp store (default: the system temp dir;
//!   point it at the disk you mean to measure, as a tmpfs fsync is free).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness, like a test

use bytes::{Buf, BytesMut};
use smpp_proto::pdu::{Bind, ShortMessage, SubmitSm};
use smpp_proto::{Body, CommandId, Header, Pdu, HEADER_LEN};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BINDS: usize = 4;
const WINDOW: usize = 64;
/// Send times by sequence number modulo this: far more than a window, so no slot is reused
/// while its request is in flight.
const RING: usize = 4096;
/// 160 characters of the GSM 7-bit default alphabet, one octet each unpacked (data_coding 0).
const TEXT: &str = "Your verification code is 482913. It expires in 10 minutes. Do not share \
                    it with anyone, including our staff. Questions? Call 0800 123 456, any time, day/night.";

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    assert_eq!(TEXT.len(), 160);
    let messages = env_u64("SMPPD_BENCH_MESSAGES", 200_000);
    let limit = Duration::from_secs(env_u64("SMPPD_BENCH_SECONDS", 60));
    let modes = std::env::var("SMPPD_BENCH_MODES").unwrap_or_else(|_| "durable,relaxed".into());
    let parent = std::env::var_os("SMPPD_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "submit benchmark: {messages} submit_sm per mode (limit {limit:?}), {BINDS} transmitter \
         binds x window {WINDOW}, 160-char GSM text; {cpus} CPUs; store under {}",
        parent.display()
    );
    let mut results = Vec::new();
    for mode in modes.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let result = run(mode, messages, limit, &parent);
        println!(
            "  {mode}: done ({} accepted in {:.2?})",
            result.accepted, result.elapsed
        );
        results.push(result);
    }
    print_table(&results);
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?}: not a number")),
        Err(_) => default,
    }
}

struct Outcome {
    mode: String,
    accepted: u64,
    refused: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
    peak_rss_kib: Option<u64>,
    /// smppd's write syscalls (sockets and files), from /proc/PID/io.
    writes: Option<u64>,
    commits: Commits,
}

#[derive(Default, Clone, Copy)]
struct Commits {
    count: u64,
    ops: u64,
    sync_us: u64,
}

fn run(mode: &str, messages: u64, limit: Duration, parent: &Path) -> Outcome {
    let dir = tempfile::Builder::new()
        .prefix("smppd-bench-")
        .tempdir_in(parent)
        .unwrap();
    let mut gateway = Gateway::start(dir.path(), mode);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = gateway.addr;
    let per_bind = messages.div_ceil(BINDS as u64);
    let (loads, elapsed) = runtime.block_on(async move {
        let mut binds = Vec::new();
        for _ in 0..BINDS {
            binds.push(Load::bind(addr).await);
        }
        // The clock starts once every bind is up: binding is not submitting.
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + limit;
        let tasks: Vec<_> = binds
            .into_iter()
            .map(|load| tokio::spawn(load.run(per_bind, deadline)))
            .collect();
        let mut loads = Vec::new();
        for task in tasks {
            loads.push(task.await.unwrap());
        }
        (loads, started.elapsed())
    });
    let peak_rss_kib = gateway.peak_rss_kib();
    let writes = gateway.write_syscalls();
    gateway.stop();
    let commits = gateway.commits();
    let mut latencies_us = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for load in loads {
        accepted += load.accepted;
        refused += load.refused;
        latencies_us.extend(load.latencies_us);
    }
    latencies_us.sort_unstable();
    Outcome {
        mode: mode.to_owned(),
        accepted,
        refused,
        elapsed,
        latencies_us,
        peak_rss_kib,
        writes,
        commits,
    }
}

/// One bind's load: keeps `WINDOW` submits in flight, writing every free slot's submit in one
/// write, reading responses as they come.
struct Load {
    stream: TcpStream,
    rbuf: BytesMut,
    template: Vec<u8>,
    accepted: u64,
    refused: u64,
    latencies_us: Vec<u32>,
}

impl Load {
    async fn bind(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let sm = SubmitSm {
            source_addr_ton: 5,
            source_addr: "Shop".try_into().unwrap(),
            dest_addr_ton: 1,
            dest_addr_npi: 1,
            destination_addr: "447700900123".try_into().unwrap(),
            registered_delivery: 1,
            short_message: ShortMessage::new(TEXT.as_bytes().to_vec()).unwrap(),
            ..SubmitSm::default()
        };
        let mut load = Self {
            stream,
            rbuf: BytesMut::with_capacity(64 * 1024),
            template: Pdu::new(0, Body::SubmitSm(sm)).to_bytes().to_vec(),
            accepted: 0,
            refused: 0,
            latencies_us: Vec::new(),
        };
        let bind = Bind {
            system_id: "bench".try_into().unwrap(),
            password: "bench".try_into().unwrap(),
            interface_version: 0x34,
            ..Bind::default()
        };
        let bytes = Pdu::new(1, Body::BindTransmitter(bind)).to_bytes();
        load.stream.write_all(&bytes).await.unwrap();
        let header = load.next_header().await.expect("bind_transmitter_resp");
        assert_eq!(header.command_id, CommandId::BindTransmitterResp.as_u32());
        assert!(
            header.command_status.is_ok(),
            "bind refused: {}",
            header.command_status
        );
        load
    }

    async fn run(mut self, total: u64, deadline: tokio::time::Instant) -> Self {
        let mut sent_at: Vec<Option<Instant>> = vec![None; RING];
        self.latencies_us
            .reserve(usize::try_from(total).unwrap_or(0));
        let mut wbuf = Vec::with_capacity(WINDOW * self.template.len());
        let (mut sent, mut done, mut in_flight) = (0u64, 0u64, 0usize);
        let mut seq: u32 = 1; // 1 was the bind.
        while done < total {
            let stop_sending = tokio::time::Instant::now() >= deadline;
            if stop_sending && in_flight == 0 {
                break;
            }
            if !stop_sending {
                let now = Instant::now();
                while in_flight < WINDOW && sent < total {
                    seq += 1;
                    let at = wbuf.len();
                    wbuf.extend_from_slice(&self.template);
                    wbuf[at + 12..at + 16].copy_from_slice(&seq.to_be_bytes());
                    sent_at[seq as usize % RING] = Some(now);
                    sent += 1;
                    in_flight += 1;
                }
                if !wbuf.is_empty() {
                    self.stream.write_all(&wbuf).await.unwrap();
                    wbuf.clear();
                }
            }
            // At least one response, then whatever else is already buffered.
            let header = self
                .next_header()
                .await
                .expect("gateway closed the connection");
            self.settle(header, &mut sent_at, &mut in_flight, &mut done);
            while let Some(header) = self.buffered_header() {
                self.settle(header, &mut sent_at, &mut in_flight, &mut done);
            }
        }
        self
    }

    fn settle(
        &mut self,
        header: Header,
        sent_at: &mut [Option<Instant>],
        in_flight: &mut usize,
        done: &mut u64,
    ) {
        if header.command_id != CommandId::SubmitSmResp.as_u32() {
            // enquire_link from the gateway would need an answer; a run is shorter than its
            // interval, so anything else is a failure of the run.
            panic!("unexpected PDU from the gateway: {header:?}");
        }
        let Some(at) = sent_at[header.sequence_number as usize % RING].take() else {
            panic!("response to no request: {header:?}");
        };
        let us = at.elapsed().as_micros();
        self.latencies_us
            .push(u32::try_from(us).unwrap_or(u32::MAX));
        if header.command_status.is_ok() {
            self.accepted += 1;
        } else {
            self.refused += 1;
        }
        *in_flight -= 1;
        *done += 1;
    }

    /// The header of the next whole PDU already buffered, consumed.
    fn buffered_header(&mut self) -> Option<Header> {
        let header = Header::peek(&self.rbuf)?;
        let len = header.command_length as usize;
        assert!(len >= HEADER_LEN, "bad command_length {len}");
        if self.rbuf.len() < len {
            return None;
        }
        self.rbuf.advance(len);
        Some(header)
    }

    /// The header of the next whole PDU, reading as needed; None on close.
    async fn next_header(&mut self) -> Option<Header> {
        loop {
            if let Some(header) = self.buffered_header() {
                return Some(header);
            }
            if self.stream.read_buf(&mut self.rbuf).await.unwrap() == 0 {
                return None;
            }
        }
    }
}

/// `smppd serve` on a port-0 listener, one client account, the store in `dir`.
struct Gateway {
    child: Option<Child>,
    addr: SocketAddr,
    commits: Arc<Mutex<Commits>>,
    log_reader: Option<std::thread::JoinHandle<()>>,
}

impl Gateway {
    fn start(dir: &Path, durability: &str) -> Self {
        let config = format!(
            r#"
[server]
listen = ["127.0.0.1:0"]

[store]
path = "{store}"
durability = "{durability}"

[[clients]]
system_id = "bench"
password = "bench"
bind_types = ["transmitter"]
max_binds = {BINDS}
window = {WINDOW}
"#,
            store = dir.join("store").display()
        );
        let config_path = dir.join("smppd.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_smppd"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .current_dir(dir)
            // Group commits are logged at debug: one line per commit, not per message.
            .env("RUST_LOG", "warn,smppd::store::commit=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let commits = Arc::new(Mutex::new(Commits::default()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&commits);
        let log_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("store: group commit") {
                    let mut c = sink.lock().unwrap();
                    c.count += 1;
                    c.ops += field(&line, "ops=");
                    c.sync_us += field(&line, "sync_us=");
                } else {
                    eprintln!("smppd: {line}");
                }
            }
        });
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut addr = None;
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(a) = line.strip_prefix("smppd: listening on smpp://") {
                addr = Some(a.trim().parse().unwrap());
            } else if line.starts_with("smppd: ready") {
                break;
            }
        }
        Self {
            child: Some(child),
            addr: addr.expect("smppd printed no listening address"),
            commits,
            log_reader: Some(log_reader),
        }
    }

    /// write, writev, pwrite… calls so far (`syscw` of /proc/PID/io; send* not included).
    fn write_syscalls(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
        let line = io.lines().find(|l| l.starts_with("syscw:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// SIGTERM, then wait (SIGKILL after 10 s).
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                eprintln!("smppd did not stop within 10 s of SIGTERM; killing it");
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.wait();
        if let Some(reader) = self.log_reader.take() {
            let _ = reader.join();
        }
    }

    fn commits(&self) -> Commits {
        *self.commits.lock().unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `key=123` in a log line; 0 if absent.
fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(us: u32) -> String {
    format!("{:.2}", f64::from(us) / 1000.0)
}

fn print_table(results: &[Outcome]) {
    println!();
    println!(
        "| durability | accepted | refused | submit_sm/s | p50 ms | p99 ms | max ms | peak RSS MiB \
         | commits | mean batch | mean sync ms | write syscalls/msg |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results {
        let rate = r.accepted as f64 / r.elapsed.as_secs_f64();
        let lat = &r.latencies_us;
        let rss = r
            .peak_rss_kib
            .map_or_else(|| "?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0));
        let c = r.commits;
        let (batch, sync) = if c.count == 0 {
            ("-".to_owned(), "-".to_owned())
        } else {
            (
                format!("{:.1}", c.ops as f64 / c.count as f64),
                format!("{:.3}", c.sync_us as f64 / c.count as f64 / 1000.0),
            )
        };
        let per_msg = r.writes.map_or_else(
            || "?".to_owned(),
            |writes| format!("{:.3}", writes as f64 / r.accepted.max(1) as f64),
        );
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.mode,
            r.accepted,
            r.refused,
            rate,
            ms(percentile(lat, 50.0)),
            ms(percentile(lat, 99.0)),
            ms(lat.last().copied().unwrap_or(0)),
            rss,
            c.count,
            batch,
            sync,
            per_msg,
        );
    }
}
