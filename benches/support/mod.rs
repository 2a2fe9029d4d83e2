//! What the `submit` and `e2e` benchmarks share: the `smppd serve` child process, the
//! environment, the submit_sm they send and the numbers they print. Included by both with
//! `#[path = "support/mod.rs"] mod support;`; each uses only part of it.

#![allow(dead_code)] // each bench uses a different part of it

use bytes::BytesMut;
use smpp_proto::pdu::{Bind, ShortMessage, SubmitSm};
use smpp_proto::{Body, Pdu};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    Pdu::new(0, Body::SubmitSm(sm)).to_bytes().to_vec()
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
    commits: Arc<Mutex<Commits>>,
    log_reader: Option<std::thread::JoinHandle<()>>,
}

impl Gateway {
    pub(crate) fn start(dir: &Path, config: &str) -> Self {
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
        let addr = listening_addr(&mut child, "smppd").expect("smppd printed no listening address");
        Self {
            child: Some(child),
            addr,
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

    /// Terminates smppd (see `terminate`, whose message names it `who`) and waits for the
    /// rest of its log.
    pub(crate) fn stop(&mut self, who: &str) {
        if let Some(child) = self.child.take() {
            terminate(child, who);
        }
        if let Some(reader) = self.log_reader.take() {
            let _ = reader.join();
        }
    }

    pub(crate) fn commits(&self) -> Commits {
        *self.commits.lock().unwrap()
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
    let listening = format!("{prefix}: listening on smpp://");
    let ready = format!("{prefix}: ready");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut addr = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix(listening.as_str()) {
            addr = Some(a.trim().parse().unwrap());
        } else if line.starts_with(ready.as_str()) {
            break;
        }
    }
    addr
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

/// SIGKILL and reap, if still there (for Drop).
pub(crate) fn kill(child: Option<Child>) {
    if let Some(mut child) = child {
        let _ = child.kill();
        let _ = child.wait();
    }
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
