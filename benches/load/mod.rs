//! What the `submit`, `e2e`, `cluster` and `backlog` benchmarks share on top of the test kit
//! (`tests/common`, which each includes beside this as `common`, for the `smppd serve` and
//! `smppd simulate` child processes, config builders and the admin API): the environment, the
//! submit_sm they send, binds submitting as fast as their window allows, the transceiver load
//! of the full-path benchmarks ([`trx`]), the numbers they print and the results file.
//! Included by each with `#[path = "load/mod.rs"] mod load;`; each uses only part of it.

#![allow(dead_code)] // each bench uses a different part of it

pub(crate) mod trx;

use crate::common;
use bytes::{Buf, BytesMut};
use smpp_proto::pdu::SubmitSm;
use smpp_proto::{Body, CommandId, Header, Pdu, HEADER_LEN};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
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

/// A count from the environment (binds, a window): at least 1.
pub(crate) fn env_count(name: &str, default: u64) -> usize {
    usize::try_from(env_u64(name, default)).unwrap().max(1)
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

/// `TEXT` (GSM 7-bit, data_coding 0) from "Shop" to an international number (the kit's
/// submit_sm), with `registered_delivery`.
pub(crate) fn submit_sm(registered_delivery: u8) -> SubmitSm {
    SubmitSm {
        registered_delivery,
        ..common::submit_sm("447700900123", TEXT)
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

/// The bind (`kind`) of the bench client account, sequence number 1.
pub(crate) fn bind_bytes(kind: CommandId) -> bytes::Bytes {
    Pdu::new(1, common::bind(kind, "bench", "bench")).to_bytes()
}

/// A read buffer for one bind.
pub(crate) fn read_buffer() -> BytesMut {
    BytesMut::with_capacity(64 * 1024)
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

/// Messages waiting in smppd's route queues (`queued` of `/api/status`).
pub(crate) fn queued(admin: SocketAddr) -> u64 {
    common::get_ok_blocking(admin, "/api/status")["queued"]
        .as_u64()
        .unwrap()
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
            let bind = bind_bytes(CommandId::BindTransmitter);
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

/// What transmitter binds submitting together did.
pub(crate) struct Submitted {
    pub(crate) accepted: u64,
    pub(crate) refused: u64,
    /// From the moment every bind was up to the last response.
    pub(crate) elapsed: Duration,
    /// submit_sm written → submit_sm_resp read, µs, sorted.
    pub(crate) latencies_us: Vec<u32>,
}

/// `binds` transmitter binds of the bench client to `addr`, on a runtime of their own, each
/// keeping `window` copies of `template` in flight until it has submitted `per_bind` or
/// `limit` has passed; the clock starts once every bind is up (binding is not submitting).
pub(crate) fn submit_load(
    addr: SocketAddr,
    binds: usize,
    window: usize,
    template: &[u8],
    per_bind: u64,
    limit: Duration,
) -> Submitted {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (loads, elapsed) = runtime.block_on(async move {
        let mut loads = Vec::new();
        for _ in 0..binds {
            loads.push(Transmitter::bind(addr, window, template.to_vec()).await);
        }
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + limit;
        let tasks: Vec<_> = loads
            .into_iter()
            .map(|load| tokio::spawn(load.run(per_bind, deadline)))
            .collect();
        let mut loads = Vec::new();
        for task in tasks {
            loads.push(task.await.unwrap());
        }
        (loads, started.elapsed())
    });
    let mut submitted = Submitted {
        accepted: 0,
        refused: 0,
        elapsed,
        latencies_us: Vec::new(),
    };
    for load in loads {
        submitted.accepted += load.accepted;
        submitted.refused += load.refused;
        submitted.latencies_us.extend(load.latencies_us);
    }
    submitted.latencies_us.sort_unstable();
    submitted
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
        let bytes = bind_bytes(CommandId::BindTransmitter);
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
pub(crate) fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
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
