//! What the `submit`, `e2e` and `backlog` benchmarks share: the `smppd serve` and
//! `smppd simulate` child processes, the environment, the submit_sm they send, a submitting
//! bind, the admin API, the numbers they print and the results file. Included by each with
//! `#[path = "support/mod.rs"] mod support;`; each uses only part of it.

#![allow(dead_code)] // each bench uses a different part of it

use bytes::{Buf, BytesMut};
use smpp_proto::pdu::{Bind, ShortMessage, SubmitSm};
use smpp_proto::{Body, CommandId, Header, Pdu, HEADER_LEN};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 160 characters of the GSM 7-bit default alphabet, one octet each unpacked (data_coding 0).
pub(crate) const TEXT: &str = "Your verification code is 482913. It expires in 10 minutes. Do not share \
                    it with anyone, including our staff. Questions? Call 0800 123 456, any time, day/night.";
const _: () = assert!(TEXT.len() == 160);

pub(crate) fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?}: not a number")),
        Err(_) => default,
    }
}

/// Where the temp store goes: `SMPPD_BENCH_DIR`, else the system temp dir.
pub(crate) fn store_parent() -> PathBuf {
    std::env::var_os("SMPPD_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// CPUs available to this process, 0 if unknown.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// The submit_sm every bind sends (sequence number 0, to be stamped by `push_submit`):
/// `TEXT` from "Shop" to an international number, registered_delivery=1.
pub(crate) fn submit_template() -> Vec<u8> {
    template(&submit_sm(1))
}

/// `TEXT` (GSM 7-bit, data_coding 0) from "Shop" to an international number, with
/// `registered_delivery`.
pub(crate) fn submit_sm(registered_delivery: u8) -> SubmitSm {
    SubmitSm {
        source_addr_ton: 5,
        source_addr: "Shop".try_into().unwrap(),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: "447700900123".try_into().unwrap(),
        registered_delivery,
        short_message: ShortMessage::new(TEXT.as_bytes().to_vec()).unwrap(),
        ..SubmitSm::default()
    }
}

/// `sm` encoded with sequence number 0, to be stamped by `push_submit`.
pub(crate) fn template(sm: &SubmitSm) -> Vec<u8> {
    Pdu::new(0, Body::SubmitSm(sm.clone())).to_bytes().to_vec()
}

/// Appends `template` to `wbuf` with its sequence number set to `seq`.
pub(crate) fn push_submit(wbuf: &mut Vec<u8>, template: &[u8], seq: u32) {
    let at = wbuf.len();
    wbuf.extend_from_slice(template);
    wbuf[at + 12..at + 16].copy_from_slice(&seq.to_be_bytes());
}

/// The bind of the bench client account (sequence number 1), `body` choosing its kind.
pub(crate) fn bind_bytes(body: fn(Bind) -> Body) -> bytes::Bytes {
    let bind = Bind {
        system_id: "bench".try_into().unwrap(),
        password: "bench".try_into().unwrap(),
        interface_version: 0x34,
        ..Bind::default()
    };
    Pdu::new(1, body(bind)).to_bytes()
}

/// A read buffer for one bind.
pub(crate) fn read_buffer() -> BytesMut {
    BytesMut::with_capacity(64 * 1024)
}

/// Group commits smppd logged: how many, their operations, their flush + fsync time.
#[derive(Default, Clone, Copy)]
pub(crate) struct Commits {
    pub(crate) count: u64,
    pub(crate) ops: u64,
    pub(crate) sync_us: u64,
    /// The longest flush + fsync since the last [`Gateway::take_max_sync_us`].
    pub(crate) max_sync_us: u64,
}

impl Commits {
    /// Mean operations per commit, "-" without commits.
    pub(crate) fn mean_batch(&self) -> String {
        self.per_commit(|c| format!("{:.1}", c.ops as f64 / c.count as f64))
    }

    /// Mean flush + fsync time per commit in ms, "-" without commits.
    pub(crate) fn mean_sync_ms(&self) -> String {
        self.per_commit(|c| format!("{:.3}", c.sync_us as f64 / c.count as f64 / 1000.0))
    }

    fn per_commit(&self, f: impl FnOnce(&Self) -> String) -> String {
        if self.count == 0 {
            "-".to_owned()
        } else {
            f(self)
        }
    }
}

/// `smppd serve` with `config` (written to `dir`, its working directory), logging its group
/// commits; started once it prints "ready".
pub(crate) struct Gateway {
    pub(crate) child: Option<Child>,
    pub(crate) addr: SocketAddr,
    /// The admin API, if the config enables it.
    pub(crate) admin: Option<SocketAddr>,
    /// When the process was spawned, and how long after it printed "ready".
    pub(crate) spawned: Instant,
    pub(crate) ready_after: Duration,
    commits: Arc<Mutex<Commits>>,
    log_reader: Option<std::thread::JoinHandle<()>>,
}

impl Gateway {
    pub(crate) fn start(dir: &Path, config: &str) -> Self {
        Self::start_logging(dir, config, "warn")
    }

    /// As `start`, with `RUST_LOG` = `filter` (the group commits' debug lines added).
    pub(crate) fn start_logging(dir: &Path, config: &str, filter: &str) -> Self {
        let config_path = dir.join("smppd.toml");
        std::fs::write(&config_path, config).unwrap();
        let spawned = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_smppd"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .current_dir(dir)
            // Group commits are logged at debug: one line per commit, not per message.
            .env(
                "RUST_LOG",
                format!("{filter},smppd::store::commit=debug,smppd::store::checkpoint=debug"),
            )
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
                    let sync_us = field(&line, "sync_us=");
                    c.sync_us += sync_us;
                    c.max_sync_us = c.max_sync_us.max(sync_us);
                } else {
                    eprintln!("smppd: {line}");
                }
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let lines = lines_until_ready(&mut stdout, "smppd");
        let ready_after = spawned.elapsed();
        let after = |prefix: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(prefix))
                .map(|a| a.trim().parse::<SocketAddr>().unwrap())
        };
        let addr =
            after("smppd: listening on smpp://").expect("smppd printed no listening address");
        let admin = after("smppd: admin on http://");
        Self {
            child: Some(child),
            addr,
            admin,
            spawned,
            ready_after,
            commits,
            log_reader: Some(log_reader),
        }
    }

    /// write, writev, pwrite… calls so far (`syscw` of /proc/PID/io; send* not included).
    pub(crate) fn write_syscalls(&self) -> Option<u64> {
        proc_value(self.child.as_ref()?, "io", "syscw:")
    }

    pub(crate) fn peak_rss_kib(&self) -> Option<u64> {
        proc_value(self.child.as_ref()?, "status", "VmHWM:")
    }

    /// The resident set now (VmRSS).
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        proc_value(self.child.as_ref()?, "status", "VmRSS:")
    }

    /// User + system CPU seconds so far.
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.child.as_ref()?)
    }

    /// Terminates smppd (see `terminate`, whose message names it `who`) and waits for the
    /// rest of its log.
    pub(crate) fn stop(&mut self, who: &str) {
        if let Some(child) = self.child.take() {
            terminate(child, who);
        }
        self.join_log();
    }

    /// SIGKILL: no shutdown at all, as a crash or the OOM killer would end it.
    pub(crate) fn kill(&mut self) {
        kill(self.child.take());
        self.join_log();
    }

    fn join_log(&mut self) {
        if let Some(reader) = self.log_reader.take() {
            let _ = reader.join();
        }
    }

    pub(crate) fn commits(&self) -> Commits {
        *self.commits.lock().unwrap()
    }

    /// The longest group commit flush + fsync since the last call.
    pub(crate) fn take_max_sync_us(&self) -> u64 {
        std::mem::take(&mut self.commits.lock().unwrap().max_sync_us)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        kill(self.child.take());
    }
}

/// Reads the child's stdout up to "`prefix`: ready"; the address of its
/// "`prefix`: listening on smpp://" line.
pub(crate) fn listening_addr(child: &mut Child, prefix: &str) -> Option<SocketAddr> {
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    listening_addr_in(&lines_until_ready(&mut stdout, prefix), prefix)
}

fn listening_addr_in(lines: &[String], prefix: &str) -> Option<SocketAddr> {
    let listening = format!("{prefix}: listening on smpp://");
    lines
        .iter()
        .find_map(|l| l.strip_prefix(listening.as_str()))
        .map(|a| a.trim().parse().unwrap())
}

/// The lines of `stdout` up to "`prefix`: ready" (not included; all of them if it never
/// comes).
fn lines_until_ready(stdout: &mut impl BufRead, prefix: &str) -> Vec<String> {
    let ready = format!("{prefix}: ready");
    let mut lines = Vec::new();
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        if line.starts_with(ready.as_str()) {
            break;
        }
        lines.push(std::mem::take(&mut line).trim_end().to_owned());
    }
    lines
}

/// What `smppd simulate` counted, from one of its stats lines.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SimStats {
    pub(crate) submits_received: u64,
    pub(crate) submits_throttled: u64,
    pub(crate) submits_withheld: u64,
    pub(crate) receipts_sent: u64,
}

impl SimStats {
    fn parse(line: &str) -> Self {
        Self {
            submits_received: field(line, "submits_received="),
            submits_throttled: field(line, "submits_throttled="),
            submits_withheld: field(line, "submits_withheld="),
            receipts_sent: field(line, "receipts_sent="),
        }
    }

    /// Submits the carrier took (given an id and a receipt): received, less those it
    /// throttled or withheld.
    pub(crate) fn delivered(&self) -> u64 {
        self.submits_received - self.submits_throttled - self.submits_withheld
    }
}

/// `smppd simulate` with `args` on a port-0 listener (or the `--listen` among `args`),
/// printing its stats every `STATS_EVERY`; each line is kept with the time it was read.
pub(crate) struct Simulator {
    pub(crate) child: Option<Child>,
    pub(crate) addr: SocketAddr,
    pub(crate) started: Instant,
    stats: Arc<Mutex<Vec<(Instant, SimStats)>>>,
    stdout_reader: Option<std::thread::JoinHandle<()>>,
}

/// How often the simulator prints its counters: the resolution of carrier-side rates.
pub(crate) const STATS_EVERY: Duration = Duration::from_millis(200);

impl Simulator {
    pub(crate) fn start(args: &[&str]) -> Self {
        let listen = if args.contains(&"--listen") {
            &[][..]
        } else {
            &["--listen", "127.0.0.1:0"][..]
        };
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_smppd"))
            .arg("simulate")
            .args(listen)
            .args(args)
            .arg("--stats-every")
            .arg(format!("{}ms", STATS_EVERY.as_millis()))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let lines = lines_until_ready(&mut stdout, "smppd-simulate");
        let addr = listening_addr_in(&lines, "smppd-simulate")
            .expect("the simulator printed no listening address");
        let stats = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stats);
        let stdout_reader = std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("smppd-simulate: stats ") {
                    let parsed = SimStats::parse(rest);
                    sink.lock().unwrap().push((Instant::now(), parsed));
                }
            }
        });
        Self {
            child: Some(child),
            addr,
            started,
            stats,
            stdout_reader: Some(stdout_reader),
        }
    }

    /// The stats lines so far, each with the time it was read.
    pub(crate) fn stats(&self) -> Vec<(Instant, SimStats)> {
        self.stats.lock().unwrap().clone()
    }

    /// The latest stats line.
    pub(crate) fn latest(&self) -> SimStats {
        self.stats
            .lock()
            .unwrap()
            .last()
            .map_or_else(SimStats::default, |s| s.1)
    }

    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.child.as_ref()?)
    }

    /// SIGTERM; waits for its exit and its last stats line.
    pub(crate) fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child, "the simulator");
        }
        if let Some(reader) = self.stdout_reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        kill(self.child.take());
    }
}

/// When `count` first reached `target` in time-stamped `samples`, if it did.
pub(crate) fn reached<T>(
    samples: &[(Instant, T)],
    count: impl Fn(&T) -> u64,
    target: u64,
) -> Option<Instant> {
    samples
        .iter()
        .find(|(_, s)| count(s) >= target)
        .map(|(at, _)| *at)
}

/// SIGTERM, then wait (SIGKILL after 10 s, saying so with `who` as the subject).
pub(crate) fn terminate(mut child: Child, who: &str) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            eprintln!("{who} did not stop within 10 s of SIGTERM; killing it");
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
}

/// SIGKILL and reap, if still there.
pub(crate) fn kill(child: Option<Child>) {
    if let Some(mut child) = child {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// User + system CPU seconds of a child so far (/proc/PID/stat, clock ticks of 10 ms).
pub(crate) fn cpu_seconds(child: &Child) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The number after `key` in /proc/PID/`file` of the child.
fn proc_value(child: &Child, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{}/{file}", child.id())).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `key=123` in a log line; 0 if absent.
pub(crate) fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

pub(crate) fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn ms(us: u32) -> String {
    format!("{:.2}", f64::from(us) / 1000.0)
}

/// Peak RSS in MiB, "?" if unknown.
pub(crate) fn rss_mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

/// A port free on 127.0.0.1 a moment ago (for a config that must name its port before the
/// process starts: a restart on the same address, a carrier that comes up later).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on smppd's admin API (no token): the JSON body.
pub(crate) fn admin_get(admin: SocketAddr, path: &str) -> serde_json::Value {
    let mut stream = std::net::TcpStream::connect(admin).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Messages waiting in smppd's route queues (`queued` of `/api/status`).
pub(crate) fn queued(admin: SocketAddr) -> u64 {
    admin_get(admin, "/api/status")["queued"].as_u64().unwrap()
}

/// Connects to `addr` over and over (every 5 ms, for at most `limit`) until a bind of the
/// bench client succeeds and a submit_sm on it is accepted; when that submit_sm_resp came.
/// Plain blocking I/O: it may start before the process listens.
pub(crate) fn probe_submit(addr: SocketAddr, template: &[u8], limit: Duration) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut exchange = |bytes: &[u8], want: CommandId| -> bool {
                if stream.write_all(bytes).is_err() {
                    return false;
                }
                let mut header = [0u8; HEADER_LEN];
                if stream.read_exact(&mut header).is_err() {
                    return false;
                }
                let header = Header::peek(&header).unwrap();
                let mut body = vec![0u8; header.command_length as usize - HEADER_LEN];
                stream.read_exact(&mut body).is_ok()
                    && header.command_id == want.as_u32()
                    && header.command_status.is_ok()
            };
            let bind = bind_bytes(Body::BindTransmitter);
            if exchange(&bind, CommandId::BindTransmitterResp) {
                let mut submit = Vec::new();
                push_submit(&mut submit, template, 2);
                if exchange(&submit, CommandId::SubmitSmResp) {
                    return Some(Instant::now());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// One transmitter bind of the bench client, submitting only: keeps `window` submits in
/// flight, writing every free slot's submit in one write, reading responses as they come.
pub(crate) struct Transmitter {
    stream: TcpStream,
    rbuf: BytesMut,
    template: Vec<u8>,
    window: usize,
    pub(crate) accepted: u64,
    pub(crate) refused: u64,
    /// submit_sm written → submit_sm_resp read, µs, in the order answered.
    pub(crate) latencies_us: Vec<u32>,
}

/// Send times by sequence number modulo this: far more than a window, so no slot is reused
/// while its request is in flight.
const TRANSMITTER_RING: usize = 8192;

impl Transmitter {
    /// Binds; `template` is the submit_sm to send over and over (see `template`).
    pub(crate) async fn bind(addr: SocketAddr, window: usize, template: Vec<u8>) -> Self {
        assert!(window < TRANSMITTER_RING / 2, "window {window} too large");
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut load = Self {
            stream,
            rbuf: read_buffer(),
            template,
            window,
            accepted: 0,
            refused: 0,
            latencies_us: Vec::new(),
        };
        let bytes = bind_bytes(Body::BindTransmitter);
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

    /// Submits `total`, or fewer if `deadline` comes first (those in flight are answered).
    pub(crate) async fn run(mut self, total: u64, deadline: tokio::time::Instant) -> Self {
        let mut sent_at: Vec<Option<Instant>> = vec![None; TRANSMITTER_RING];
        self.latencies_us
            .reserve(usize::try_from(total).unwrap_or(0));
        let mut wbuf = Vec::with_capacity(self.window * self.template.len());
        let (mut sent, mut done, mut in_flight) = (0u64, 0u64, 0usize);
        let mut seq: u32 = 1; // 1 was the bind.
        while done < total {
            let stop_sending = tokio::time::Instant::now() >= deadline;
            if stop_sending && in_flight == 0 {
                break;
            }
            if !stop_sending {
                let now = Instant::now();
                while in_flight < self.window && sent < total {
                    seq += 1;
                    push_submit(&mut wbuf, &self.template, seq);
                    sent_at[seq as usize % TRANSMITTER_RING] = Some(now);
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
        let Some(at) = sent_at[header.sequence_number as usize % TRANSMITTER_RING].take() else {
            panic!("response to no request: {header:?}");
        };
        self.latencies_us.push(micros(at.elapsed()));
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

/// A results file: a title, the machine and the run's parameters, then tables; printed as
/// it is written, and saved by `save`.
pub(crate) struct Report {
    text: String,
    /// For the file only (long series): after `text`.
    detail: String,
}

impl Report {
    /// Starts with `# title`, the date, the machine and the git commit, then `params`
    /// (name, value) as a table.
    pub(crate) fn new(title: &str, params: &[(&str, String)]) -> Self {
        let mut report = Self {
            text: format!("# {title}\n\n"),
            detail: String::new(),
        };
        let mut rows: Vec<(&str, String)> = vec![
            (
                "date",
                humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            ),
            ("machine", machine()),
            ("git commit", git_commit()),
        ];
        rows.extend(params.iter().cloned());
        report.table(
            &["parameter", "value"],
            &rows
                .into_iter()
                .map(|(k, v)| vec![k.to_owned(), v])
                .collect::<Vec<_>>(),
        );
        report
    }

    /// A paragraph of text.
    pub(crate) fn line(&mut self, text: &str) {
        self.text.push_str(text);
        self.text.push_str("\n\n");
    }

    /// A paragraph of text for the file only.
    pub(crate) fn detail(&mut self, text: &str) {
        self.detail.push_str(text);
        self.detail.push_str("\n\n");
    }

    /// A markdown table; numbers (all but the first column) right-aligned.
    pub(crate) fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.text.push_str(&markdown_table(header, rows));
    }

    /// A table for the file only.
    pub(crate) fn detail_table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.detail.push_str(&markdown_table(header, rows));
    }

    /// Prints the report and writes it to `<results>/<name>-<UTC timestamp>.md`, `<results>`
    /// being `SMPPD_BENCH_RESULTS` or `target/bench-results` (of the target directory this
    /// bench was built in).
    pub(crate) fn save(&self, name: &str) {
        println!();
        print!("{}", self.text);
        let dir = std::env::var_os("SMPPD_BENCH_RESULTS").map_or_else(
            || {
                // target/<profile>/deps/<bench>-<hash>: three levels up is target/.
                let exe = std::env::current_exe().unwrap();
                let target = exe.ancestors().nth(3).unwrap().to_path_buf();
                target.join("bench-results")
            },
            PathBuf::from,
        );
        std::fs::create_dir_all(&dir).unwrap();
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .replace(['-', ':'], "");
        let path = dir.join(format!("{name}-{stamp}.md"));
        std::fs::write(&path, format!("{}{}", self.text, self.detail)).unwrap();
        println!("results written to {}", path.display());
    }
}

/// A markdown table; numbers (all but the first column) right-aligned.
fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = format!("| {} |\n|", header.join(" | "));
    for i in 0..header.len() {
        t.push_str(if i == 0 { "---|" } else { "---:|" });
    }
    t.push('\n');
    for row in rows {
        t.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    t.push('\n');
    t
}

/// "N x CPU model, RAM" from /proc/cpuinfo and /proc/meminfo; "?" where unknown.
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("?", |(_, m)| m.trim())
        .to_owned();
    let count = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<u64>().ok())
        .map_or_else(
            || "?".to_owned(),
            |k| format!("{:.1} GiB", k as f64 / 1048576.0),
        );
    format!(
        "{count} x {model} ({} usable by this process), {ram} RAM, {}",
        cpus(),
        std::env::consts::ARCH
    )
}

/// The commit of the working tree (short hash, "+dirty" with uncommitted changes); "?"
/// without git.
fn git_commit() -> String {
    let git = |args: &[&str]| {
        // cargo runs a bench in its package's directory.
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(hash) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{hash}+dirty")
            } else {
                hash
            }
        }
        None => "?".to_owned(),
    }
}

/// `part / whole` as a percentage with one decimal, "-" without a whole.
pub(crate) fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.1}", part * 100.0 / whole)
    } else {
        "-".to_owned()
    }
}
