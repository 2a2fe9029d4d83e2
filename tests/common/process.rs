//! Child processes: temp dirs, free ports, the lines a child prints, signals, and what /proc
//! says of a process (memory, CPU, write syscalls).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A fresh, unique temp directory.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("smppd-test-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port free on 127.0.0.1 a moment ago (for a config that must name its port before the
/// process starts: a restart on the same address, a carrier that comes up later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The lines of a child's stdout or stderr, as a thread reads them; it stops reading (and
/// closes the pipe) once the receiver is gone.
pub fn lines_of(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The lines from `lines` before "`prefix`: ready" (smppd's and the simulator's sign that they
/// serve), each within `limit`; an error if a line does not come in time or the stream ends.
pub fn until_ready(
    lines: &Receiver<String>,
    prefix: &str,
    limit: Duration,
) -> Result<Vec<String>, RecvTimeoutError> {
    let ready = format!("{prefix}: ready");
    let mut before = Vec::new();
    loop {
        let line = lines.recv_timeout(limit)?;
        if line.starts_with(&ready) {
            return Ok(before);
        }
        before.push(line);
    }
}

/// The address a line of `lines` gives after `prefix` ("smppd: listening on smpp://").
pub fn printed_addr(lines: &[String], prefix: &str) -> Option<SocketAddr> {
    lines
        .iter()
        .find_map(|line| line.strip_prefix(prefix))
        .map(|addr| addr.trim().parse().unwrap())
}

/// Sends `signal` ("TERM", "HUP", "STOP"…) to process `pid`; whether `kill` succeeded.
pub fn signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|status| status.success())
}

/// SIGTERM, then wait; SIGKILL if it has not exited within `limit`, saying so with `who` as
/// the subject.
pub fn stop_child(mut child: Child, who: &str, limit: Duration) {
    signal(child.id(), "TERM");
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            eprintln!("{who} did not stop within {limit:?} of SIGTERM; killing it");
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
}

/// User + system CPU seconds of process `pid` so far (/proc/PID/stat, clock ticks of 10 ms).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The number after `key` in /proc/`pid`/`file` ("status", "VmHWM:": the peak resident set
/// in KiB).
pub fn proc_value(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `key=123` in a log or stats line; 0 if absent.
pub fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
