//! On the wire and on the disk: for every submit_sm_resp the gateway sends, the message it
//! acknowledges was written to a store file and that file was fsynced (the call returned)
//! before the response's first byte was written to the socket (design.md, "Durable means on
//! the disk, not in the page cache").
//!
//! The real binary runs under `strace -f`; one client submits N messages one at a time (window
//! 1), so each submit has its own commit. The trace is then read back:
//! - the client connection's bytes, in (reads) and out (writes), are reassembled into PDUs;
//! - each submit_sm is *received* when the read that completes it returns, each
//!   submit_sm_resp is *sent* when the write that carries its first byte starts;
//! - in between there must be a write to a file in the store directory (entered after the
//!   submit arrived, returned before the sync) and an `fsync`/`fdatasync` of that same file,
//!   entered after the write returned and returned before the response was sent.
//!
//! Order is the order of lines in the trace. strace stops a thread at every syscall entry and
//! exit and logs the event before letting the thread go on, so a syscall's exit line is
//! written before anything the thread does next, including waking the thread that sends the
//! response. `<unfinished ...>` / `<... resumed>` pairs are joined: a call is entered at its
//! first line and has returned at its second.
//!
//! strace is required: the test installs it from Debian's packages when it runs as root, and
//! fails (never skips) when it cannot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    client, config, lines_of, printed_addr, submit, temp_dir, until_ready, with_store_keys, Client,
};
use smpp_proto::{CommandId, CommandStatus, Header};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Submits, one at a time.
const SUBMITS: usize = 50;

/// Syscalls traced: the socket's reads and writes as the gateway may make them, file writes,
/// and every kind of sync (sync_file_range and msync are recorded to be shown, never counted as
/// durability).
const TRACE: &str = "trace=read,readv,recvfrom,recvmsg,write,writev,sendto,sendmsg,pwrite64,\
                     pwritev,pwritev2,fsync,fdatasync,sync_file_range,msync";

/// strace's version line. A machine without strace gets it from Debian's packages when the test
/// runs as root (as CI and fresh development machines here do); otherwise the test fails and
/// says how to install it. It never skips.
fn strace_version() -> String {
    let version = || {
        Command::new("strace")
            .arg("-V")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()
                    .unwrap_or("strace")
                    .to_owned()
            })
    };
    if let Some(found) = version() {
        return found;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    if root {
        eprintln!("strace is missing: installing it with apt-get");
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-qq", "strace"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    version().unwrap_or_else(|| {
        panic!(
            "strace is not installed and could not be installed; this test needs it to watch \
             the gateway's syscalls: install it (Debian/Ubuntu: apt-get install -y strace)"
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_fsync_returns_before_every_submit_sm_resp() {
    let strace = strace_version();

    let dir = temp_dir("fsync-order");
    // Explicitly the mode under test, whatever the default becomes.
    let text = with_store_keys(
        &config(&dir, "", &client("shop", "secret1", "")),
        "durability = \"durable\"",
    );
    assert!(text.contains("durability = \"durable\""));
    let log = dir.join("strace.log");
    let mut gw = Traced::start(&dir, &text, &log);
    let store_dir = dir.join("store").canonicalize().unwrap();

    let mut c = Client::connect(gw.addr).await;
    let client_addr = c.stream.local_addr().unwrap();
    let resp = c.bind(CommandId::BindTransmitter, "shop", "secret1").await;
    assert_eq!(
        resp.command_status,
        CommandStatus::ESME_ROK,
        "{}",
        gw.output()
    );
    for n in 0..SUBMITS {
        let resp = c
            .request(submit("447700900123", &format!("message {n}")))
            .await;
        assert_eq!(
            resp.command_status,
            CommandStatus::ESME_ROK,
            "{}",
            gw.output()
        );
    }
    drop(c);
    gw.stop();

    let trace = std::fs::read_to_string(&log).unwrap();
    let calls = parse(&trace);
    let verdict = check(&calls, client_addr, &store_dir);
    eprintln!(
        "{strace}; {} trace lines, {} syscalls",
        trace.lines().count(),
        calls.len()
    );
    match verdict {
        Ok(summary) => {
            eprintln!("{summary}");
            assert_eq!(summary.submits, SUBMITS);
            let _ = std::fs::remove_dir_all(&dir);
        }
        Err(e) => panic!(
            "{e}\n(trace kept in {}; gateway output:\n{})",
            log.display(),
            gw.output()
        ),
    }
}

/// `smppd serve` under strace.
struct Traced {
    strace: Option<Child>,
    addr: SocketAddr,
    /// strace's and smppd's stderr so far.
    output: Arc<Mutex<String>>,
}

impl Traced {
    fn start(dir: &Path, config_text: &str, log: &Path) -> Self {
        let config_path = dir.join("smppd.toml");
        std::fs::write(&config_path, config_text).unwrap();
        let mut strace = Command::new("strace")
            .args(["-f", "-tt", "-yy", "-xx", "-s", "65536", "-e", TRACE, "-o"])
            .arg(log)
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_smppd"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run strace");
        let output = Arc::new(Mutex::new(String::new()));
        let stderr = strace.stderr.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut out = sink.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
        let stdout = lines_of(strace.stdout.take().unwrap());
        let Ok(lines) = until_ready(&stdout, "smppd", Duration::from_secs(60)) else {
            let _ = strace.kill();
            panic!(
                "smppd did not start under strace (is ptrace allowed here?); output:\n{}",
                output.lock().unwrap()
            );
        };
        Self {
            strace: Some(strace),
            addr: printed_addr(&lines, "smppd: listening on smpp://")
                .expect("no listening address printed"),
            output,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// SIGTERM to smppd; strace exits with it, and its log is then complete.
    fn stop(&mut self) {
        let Some(mut strace) = self.strace.take() else {
            return;
        };
        let smppd = child_of(strace.id()).expect("smppd is not running under strace");
        let _ = Command::new("kill")
            .args(["-TERM", &smppd.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while strace.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = Command::new("kill")
                    .args(["-KILL", &smppd.to_string()])
                    .status();
                strace.wait().unwrap();
                panic!("smppd did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if let Some(mut strace) = self.strace.take() {
            if let Some(smppd) = child_of(strace.id()) {
                let _ = Command::new("kill")
                    .args(["-KILL", &smppd.to_string()])
                    .status();
            }
            let _ = strace.kill();
            let _ = strace.wait();
        }
    }
}

/// The pid of a child process of `parent`, from /proc.
fn child_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // pid (comm) state ppid …; comm may hold spaces and parentheses.
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == parent).then_some(pid)
    })
}

/// One syscall, its entry and exit joined.
#[derive(Debug)]
struct Call {
    /// Line (0-based) where it was entered and where it returned.
    entry: usize,
    exit: usize,
    /// Microseconds since midnight at entry and exit.
    entry_us: u64,
    exit_us: u64,
    tid: u32,
    name: String,
    /// The fd's `-yy` annotation: a path (decoded) or `TCP:[local->remote]`.
    target: String,
    /// The byte strings among the arguments, decoded, in order.
    data: Vec<u8>,
    /// Return value; negative for an error.
    ret: i64,
}

/// Joins the trace's lines into calls.
fn parse(trace: &str) -> Vec<Call> {
    let mut pending: HashMap<u32, (usize, u64, String)> = HashMap::new();
    let mut calls = Vec::new();
    for (n, line) in trace.lines().enumerate() {
        // "TID HH:MM:SS.uuuuuu rest"; the tid column may be padded.
        let Some((tid, rest)) = line.trim_start().split_once(char::is_whitespace) else {
            continue;
        };
        let Some((time, rest)) = rest.trim_start().split_once(char::is_whitespace) else {
            continue;
        };
        let (Ok(tid), Some(at)) = (tid.parse::<u32>(), micros(time)) else {
            continue;
        };
        let rest = rest.trim_start();
        if rest.starts_with("---") || rest.starts_with("+++") {
            continue; // Signals and exits.
        }
        if let Some(resumed) = rest.strip_prefix("<... ") {
            let (name, tail) = resumed.split_once(" resumed>").expect(line);
            let (entry, entry_us, head) = pending
                .remove(&tid)
                .unwrap_or_else(|| panic!("line {}: resumes nothing: {line}", n + 1));
            assert!(
                head.starts_with(name),
                "line {}: resumes another call",
                n + 1
            );
            calls.push(call(entry, n, entry_us, at, tid, &format!("{head}{tail}")));
        } else if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(tid, (n, at, head.to_owned()));
        } else {
            calls.push(call(n, n, at, at, tid, rest));
        }
    }
    calls
}

/// `HH:MM:SS.uuuuuu` → microseconds since midnight.
fn micros(time: &str) -> Option<u64> {
    let (hms, us) = time.split_once('.')?;
    let mut fields = hms.split(':').map(|f| f.parse::<u64>().ok());
    let (h, m, s) = (fields.next()??, fields.next()??, fields.next()??);
    Some(((h * 60 + m) * 60 + s) * 1_000_000 + us.parse::<u64>().ok()?)
}

/// One whole `name(args) = ret` text.
fn call(entry: usize, exit: usize, entry_us: u64, exit_us: u64, tid: u32, text: &str) -> Call {
    let (name, args) = text.split_once('(').expect(text);
    let (args, ret) = text
        .rsplit_once(") = ")
        .map_or((args, "-1"), |(a, r)| (&a[name.len() + 1..], r));
    let ret = ret.split_whitespace().next().unwrap_or("-1");
    // fd<annotation>: a socket's annotation holds "->", a path's is hex-escaped (-xx).
    let target = args
        .split_once('<')
        .filter(|(fd, _)| fd.chars().all(|c| c.is_ascii_digit()))
        .map(|(_, tail)| {
            let end = if tail.starts_with("TCP") || tail.starts_with("UDP") {
                tail.find("]>").map(|i| i + 1)
            } else {
                tail.find('>')
            };
            unescape(&tail[..end.unwrap_or(0)])
        })
        .unwrap_or_default();
    Call {
        entry,
        exit,
        entry_us,
        exit_us,
        tid,
        name: name.trim().to_owned(),
        target: String::from_utf8_lossy(&target).into_owned(),
        data: strings(args),
        ret: ret.parse().unwrap_or(-1),
    }
}

/// The quoted strings of an argument list, concatenated and decoded. A string strace cut
/// short (`"…"...`) would make the reassembled stream wrong: refused.
fn strings(args: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = args;
    while let Some(start) = rest.find('"') {
        let tail = &rest[start + 1..];
        let end = tail.find('"').expect(args); // -xx: no quote inside a string.
        out.extend(unescape(&tail[..end]));
        rest = &tail[end + 1..];
        assert!(
            !rest.starts_with("..."),
            "strace truncated a string: {args}"
        );
    }
    out
}

/// Decodes `\xHH` (all strace prints with -xx) and takes anything else literally.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            if let Some(b) = s
                .get(i + 2..i + 4)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// A PDU on the client connection and the call that moved it.
struct WirePdu {
    header: Header,
    /// The read that completed it, or the write that carried its first byte.
    call: usize,
}

/// Reassembles one direction of the connection into PDUs.
fn pdus<'a>(calls: impl Iterator<Item = (usize, &'a Call)>, take_first_byte: bool) -> Vec<WirePdu> {
    let mut stream: Vec<u8> = Vec::new();
    let mut owner: Vec<usize> = Vec::new(); // The call each byte came in or went out with.
    for (i, c) in calls {
        let n = usize::try_from(c.ret).unwrap_or(0);
        assert!(
            c.data.len() >= n,
            "{} returned {n} but shows {} bytes",
            c.name,
            c.data.len()
        );
        stream.extend_from_slice(&c.data[..n]);
        owner.extend(std::iter::repeat_n(i, n));
    }
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(header) = Header::peek(&stream[at..]) {
        let len = header.command_length as usize;
        if stream.len() < at + len {
            break;
        }
        let call = if take_first_byte {
            owner[at]
        } else {
            owner[at + len - 1]
        };
        out.push(WirePdu { header, call });
        at += len;
    }
    out
}

/// What the trace showed, for the test's output.
#[derive(Debug)]
struct Summary {
    submits: usize,
    store_writes: usize,
    syncs: HashMap<String, usize>,
    sync_file_ranges: usize,
    /// Per submit: from the fsync's return to the response's write, microseconds.
    sync_to_resp_us: Vec<u64>,
    /// Per submit: from the submit's read to the response's write.
    read_to_resp_us: Vec<u64>,
    example: String,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let median = |v: &[u64]| {
            let mut v = v.to_vec();
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or(0)
        };
        writeln!(
            f,
            "{} submit_sm / submit_sm_resp pairs: each had a store write and an fsync of the \
             written file, returned before the response was written",
            self.submits
        )?;
        writeln!(
            f,
            "store: {} file writes, syncs {:?}, {} sync_file_range (sled's flush; not counted)",
            self.store_writes, self.syncs, self.sync_file_ranges
        )?;
        writeln!(
            f,
            "fsync return -> submit_sm_resp write: min {} us, median {} us; submit read -> \
             resp write: median {} us (under strace)",
            self.sync_to_resp_us.iter().min().copied().unwrap_or(0),
            median(&self.sync_to_resp_us),
            median(&self.read_to_resp_us),
        )?;
        write!(f, "first submit, as traced:\n{}", self.example)
    }
}

/// The ordering check over the whole trace.
fn check(calls: &[Call], client: SocketAddr, store_dir: &Path) -> Result<Summary, String> {
    let socket = format!("->{client}]");
    let on_socket = |c: &&Call| c.target.contains(&socket) && c.ret > 0;
    let is = |c: &Call, names: &[&str]| names.contains(&c.name.as_str());
    let reads = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| on_socket(c) && is(c, &["read", "readv", "recvfrom", "recvmsg"]));
    let mut reads: Vec<_> = reads.collect();
    reads.sort_by_key(|(_, c)| c.exit); // Data arrives when a read returns.
    let writes = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| on_socket(c) && is(c, &["write", "writev", "sendto", "sendmsg"]));
    let mut writes: Vec<_> = writes.collect();
    writes.sort_by_key(|(_, c)| c.entry); // Data leaves when a write starts.
    if reads.is_empty() || writes.is_empty() {
        return Err(format!(
            "no traffic on the client connection ({client}) in the trace"
        ));
    }
    let inbound = pdus(reads.into_iter(), false);
    let outbound = pdus(writes.into_iter(), true);

    let in_store = |c: &Call| Path::new(&c.target).starts_with(store_dir);
    let store_writes: Vec<&Call> = calls
        .iter()
        .filter(|c| in_store(c) && c.ret > 0)
        .filter(|c| is(c, &["write", "writev", "pwrite64", "pwritev", "pwritev2"]))
        .collect();
    let syncs: Vec<&Call> = calls
        .iter()
        .filter(|c| in_store(c) && c.ret == 0 && is(c, &["fsync", "fdatasync"]))
        .collect();

    let responses: HashMap<u32, &WirePdu> = outbound
        .iter()
        .filter(|p| p.header.command_id == CommandId::SubmitSmResp.as_u32())
        .map(|p| (p.header.sequence_number, p))
        .collect();
    let mut summary = Summary {
        submits: 0,
        store_writes: store_writes.len(),
        syncs: HashMap::new(),
        sync_file_ranges: calls
            .iter()
            .filter(|c| c.name == "sync_file_range" && in_store(c))
            .count(),
        sync_to_resp_us: Vec::new(),
        read_to_resp_us: Vec::new(),
        example: String::new(),
    };
    for s in &syncs {
        *summary
            .syncs
            .entry(format!("{} {}", s.name, s.target))
            .or_default() += 1;
    }
    for submit in inbound
        .iter()
        .filter(|p| p.header.command_id == CommandId::SubmitSm.as_u32())
    {
        let seq = submit.header.sequence_number;
        let arrived = &calls[submit.call];
        let Some(resp) = responses.get(&seq) else {
            return Err(format!(
                "submit_sm seq {seq}: no submit_sm_resp in the trace"
            ));
        };
        let sent = &calls[resp.call];
        if !resp.header.command_status.is_ok() {
            return Err(format!(
                "submit_sm seq {seq}: answered {}",
                resp.header.command_status
            ));
        }
        // A sync that started after the submit arrived and returned before the response left,
        // of a file written after the submit arrived and before the sync started.
        let covering = syncs.iter().find(|s| {
            s.entry > arrived.exit
                && s.exit < sent.entry
                && store_writes
                    .iter()
                    .any(|w| w.target == s.target && w.entry > arrived.exit && w.exit < s.entry)
        });
        let Some(sync) = covering else {
            let between: Vec<String> = calls
                .iter()
                .filter(|c| c.entry > arrived.exit && c.entry < sent.entry && in_store(c))
                .map(|c| {
                    let (from, to, tid) = (c.entry + 1, c.exit + 1, c.tid);
                    format!(
                        "  lines {from}-{to} tid {tid}: {}({}) = {}",
                        c.name, c.target, c.ret
                    )
                })
                .collect();
            return Err(format!(
                "submit_sm seq {seq} (read returned at trace line {}) was answered (write \
                 entered at line {}) with no store write + fsync/fdatasync of that file \
                 completed in between; store calls in between (if any):\n{}",
                arrived.exit + 1,
                sent.entry + 1,
                between.join("\n")
            ));
        };
        summary.submits += 1;
        summary
            .sync_to_resp_us
            .push(sent.entry_us.saturating_sub(sync.exit_us));
        summary
            .read_to_resp_us
            .push(sent.entry_us.saturating_sub(arrived.exit_us));
        if summary.example.is_empty() {
            let line = |what: &str, c: &Call, at: usize, us: u64| {
                format!(
                    "  line {:>5} tid {} {:>6} us  {what}: {} {}\n",
                    at + 1,
                    c.tid,
                    us.saturating_sub(arrived.exit_us),
                    c.name,
                    c.target
                )
            };
            let write = store_writes
                .iter()
                .find(|w| w.target == sync.target && w.entry > arrived.exit && w.exit < sync.entry)
                .expect("found above");
            summary.example = [
                line(
                    "submit_sm read returned",
                    arrived,
                    arrived.exit,
                    arrived.exit_us,
                ),
                line("store write entered", write, write.entry, write.entry_us),
                line("store write returned", write, write.exit, write.exit_us),
                line("sync entered", sync, sync.entry, sync.entry_us),
                line("sync returned", sync, sync.exit, sync.exit_us),
                line(
                    "submit_sm_resp write entered",
                    sent,
                    sent.entry,
                    sent.entry_us,
                ),
            ]
            .concat();
        }
    }
    if summary.submits == 0 {
        return Err("no submit_sm found on the client connection".into());
    }
    Ok(summary)
}
