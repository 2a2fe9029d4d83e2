//! The carrier: `smppd simulate` as a child process ([`Simulator`]), with its submit log or its
//! periodic counters, or the simulator library serving in this process ([`sim_in_process`]).

use super::process::{
    cpu_seconds, field, free_port, lines_of, printed_addr, signal, stop_child, until_ready,
};
use smpp_proto::pdu::SubmitSm;
use smpp_proto::{Body, Pdu};
use smppd::simulator::{SimulatorConfig, SimulatorHandle};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a measured simulator ([`Simulator::start_measured`]) prints its counters: the
/// resolution of carrier-side rates.
pub const STATS_EVERY: Duration = Duration::from_millis(200);

/// A running `smppd simulate` (the carrier SMSC simulator) as a child process: with its submit
/// log (`--log-submits`) in a file the test reads, or (for benchmarks) printing its counters
/// every [`STATS_EVERY`].
pub struct Simulator {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// When the process (the last one, after a restart) was spawned.
    pub started: Instant,
    /// The `--log-submits` file, if it keeps one.
    log: Option<PathBuf>,
    args: Vec<String>,
    /// The stdout lines after "ready" (stats lines), each with the time it was read.
    stdout: Arc<Mutex<Vec<(Instant, String)>>>,
    /// The thread that collects them.
    stdout_reader: Option<JoinHandle<()>>,
}

/// One line of the simulator's submit log.
#[derive(Clone, Debug)]
pub struct LoggedSubmit {
    /// When the simulator read it (ms since the epoch).
    pub at_ms: i64,
    /// The simulator's session id.
    pub session: u64,
    /// `id=…`, `status=…`, `withheld`, `dropped` or `held`.
    pub outcome: String,
    pub pdu: Pdu,
}

impl LoggedSubmit {
    /// The simulator's message id, when it accepted the submit.
    pub fn id(&self) -> Option<&str> {
        self.outcome.strip_prefix("id=")
    }

    pub fn submit_sm(&self) -> &SubmitSm {
        match &self.pdu.body {
            Body::SubmitSm(sm) => sm,
            other => panic!("not a submit_sm: {other:?}"),
        }
    }
}

/// What `smppd simulate` counted, from one of its stats lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimStats {
    pub submits_received: u64,
    pub submits_throttled: u64,
    pub submits_withheld: u64,
    pub receipts_sent: u64,
    /// The most sessions of one system_id bound at once (`--max-binds` caps it).
    pub binds_peak: u64,
    /// Binds refused by `--max-binds`.
    pub binds_refused: u64,
}

impl SimStats {
    /// The counters of a stats line (`name=value …`).
    pub fn parse(line: &str) -> Self {
        Self {
            submits_received: field(line, "submits_received="),
            submits_throttled: field(line, "submits_throttled="),
            submits_withheld: field(line, "submits_withheld="),
            receipts_sent: field(line, "receipts_sent="),
            binds_peak: field(line, "binds_peak="),
            binds_refused: field(line, "binds_refused="),
        }
    }

    /// Submits the carrier took (given an id and a receipt): received, less those it
    /// throttled or withheld.
    pub fn delivered(&self) -> u64 {
        self.submits_received - self.submits_throttled - self.submits_withheld
    }
}

/// The stats line prefix, after "ready".
const STATS: &str = "smppd-simulate: stats ";

impl Simulator {
    /// `smppd simulate` on a free port with `args`, logging submits to `dir/NAME.log`.
    pub fn start(dir: &Path, name: &str, args: &[&str]) -> Self {
        Self::start_on(dir, name, "127.0.0.1:0".parse().unwrap(), args)
    }

    /// Like `start`, on `addr`; while the port is not free yet, tries again for up to 5 s.
    pub fn start_on(dir: &Path, name: &str, addr: SocketAddr, args: &[&str]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let mut all = vec!["--log-submits", log.to_str().unwrap()];
        all.extend_from_slice(args);
        Self::launch(addr, Some(log.clone()), &all)
    }

    /// For benchmarks: on `addr` (port 0: a free one) with `args`, no submit log, its counters
    /// printed every [`STATS_EVERY`] and kept ([`Simulator::stats`]).
    pub fn start_measured(addr: SocketAddr, args: &[&str]) -> Self {
        let every = format!("{}ms", STATS_EVERY.as_millis());
        let mut all = args.to_vec();
        all.extend_from_slice(&["--stats-every", &every]);
        Self::launch(addr, None, &all)
    }

    fn launch(addr: SocketAddr, log: Option<PathBuf>, args: &[&str]) -> Self {
        let mut sim = Self {
            child: None,
            addr,
            started: Instant::now(),
            log,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            stdout: Default::default(),
            stdout_reader: None,
        };
        sim.spawn();
        sim
    }

    /// A port that was free a moment ago (for a simulator that must come back on it).
    pub fn reserve_port() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], free_port()))
    }

    fn spawn(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.try_spawn() {
                Ok(()) => return,
                Err(why) if Instant::now() < deadline => {
                    eprintln!("simulator on {}: {why}; trying again", self.addr);
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(why) => panic!("simulator on {} did not start: {why}", self.addr),
            }
        }
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        self.started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_smppd"))
            .arg("simulate")
            .arg("--listen")
            .arg(self.addr.to_string())
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let errors = Arc::new(Mutex::new(String::new()));
        let errors_in = errors.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[simulator] {line}");
                errors_in.lock().unwrap().push_str(&line);
            }
        });
        let lines = lines_of(child.stdout.take().unwrap());
        match until_ready(&lines, "smppd-simulate", Duration::from_secs(30)) {
            Ok(before) => {
                if let Some(addr) = printed_addr(&before, "smppd-simulate: listening on smpp://") {
                    self.addr = addr;
                }
                // The lines after "ready": stats, as they come.
                let after_ready = self.stdout.clone();
                self.stdout_reader = Some(std::thread::spawn(move || {
                    for line in lines {
                        after_ready.lock().unwrap().push((Instant::now(), line));
                    }
                }));
                self.child = Some(child);
                Ok(())
            }
            Err(_) => {
                // Exited before "ready" (the port is taken), or hangs: either way, gone.
                let _ = child.kill();
                let status = child.wait().unwrap();
                std::thread::sleep(Duration::from_millis(20));
                Err(format!("{status}: {}", errors.lock().unwrap()))
            }
        }
    }

    /// SIGKILL: the carrier vanishes, no unbind, receipts it still held are lost.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Its process id (for signals: SIGSTOP makes a carrier that hangs, connections open).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Starts it again on the same address, with the same arguments and log file.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGTERM; returns the stats line it prints (`name=value …`) once it has exited.
    pub fn terminate(&mut self) -> String {
        let mut child = self.child.take().unwrap();
        signal(child.id(), "TERM");
        let status = child.wait().unwrap();
        assert!(status.success(), "simulator exit: {status:?}");
        // The stdout thread may still hold the last line for a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stats = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .find_map(|(_, line)| line.strip_prefix(STATS).map(str::to_owned));
            if let Some(stats) = stats {
                return stats;
            }
            assert!(Instant::now() < deadline, "no stats line");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM (SIGKILL after 10 s); waits for its exit and its last stats line.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_child(child, "the simulator", Duration::from_secs(10));
        }
        if let Some(reader) = self.stdout_reader.take() {
            let _ = reader.join();
        }
    }

    /// The stats lines so far, each with the time it was read.
    pub fn stats(&self) -> Vec<(Instant, SimStats)> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(at, line)| Some((*at, SimStats::parse(line.strip_prefix(STATS)?))))
            .collect()
    }

    /// The latest stats line.
    pub fn latest(&self) -> SimStats {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|(_, line)| line.strip_prefix(STATS).map(SimStats::parse))
            .unwrap_or_default()
    }

    /// User + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.child.as_ref()?.id())
    }

    /// The `--log-submits` file.
    pub fn log(&self) -> &Path {
        self.log
            .as_deref()
            .expect("a simulator started with a submit log")
    }

    /// Every submit the simulator logged so far (over all its runs), in order.
    pub fn submits(&self) -> Vec<LoggedSubmit> {
        read_submit_log(self.log())
    }

    /// Every bind, refused bind and end of a bound session so far, in order.
    pub fn sessions(&self) -> Vec<SessionEvent> {
        read_session_log(self.log())
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every submit in a simulator's `--log-submits` file (`log_submits` in process), in order
/// (its session lines left out: [`read_session_log`]).
pub fn read_submit_log(path: &Path) -> Vec<LoggedSubmit> {
    read_log(path)
        .into_iter()
        .filter_map(|line| match line {
            LogLine::Submit(s) => Some(s),
            LogLine::Session(_) => None,
        })
        .collect()
}

/// Every line of a simulator's submit log, submits and session events, in order.
pub fn read_log(path: &Path) -> Vec<LogLine> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A line still being written has no newline yet.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|line| match parse_session_event(line) {
            Some(event) => LogLine::Session(event),
            None => LogLine::Submit(parse_logged_submit(line)),
        })
        .collect()
}

/// The binds, refused binds and closes in a simulator's submit log, in order.
pub fn read_session_log(path: &Path) -> Vec<SessionEvent> {
    read_log(path)
        .into_iter()
        .filter_map(|line| match line {
            LogLine::Session(e) => Some(e),
            LogLine::Submit(_) => None,
        })
        .collect()
}

/// One line of the submit log.
#[derive(Clone, Debug)]
pub enum LogLine {
    Submit(LoggedSubmit),
    Session(SessionEvent),
}

/// A session line of the submit log: a bind, a refused bind, or the end of a bound session.
#[derive(Clone, Debug)]
pub struct SessionEvent {
    pub at_ms: i64,
    /// The simulator's session id (unique per simulator process).
    pub session: u64,
    pub kind: SessionEventKind,
    pub system_id: String,
    /// The peer's address (binds and refused binds).
    pub peer: Option<SocketAddr>,
    /// Sessions of the system_id bound after the event (binds and closes).
    pub binds: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEventKind {
    /// `bound=KIND`.
    Bound(String),
    /// `bind-refused=STATUS`.
    Refused(String),
    Closed,
}

/// A session line (`UNIX_MS SESSION bound=…|bind-refused=…|closed key=value…`), or None for
/// a submit line.
pub fn parse_session_event(line: &str) -> Option<SessionEvent> {
    let mut fields = line.split(' ');
    let at_ms = fields.next()?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    let event = fields.next()?;
    let kind = if let Some(kind) = event.strip_prefix("bound=") {
        SessionEventKind::Bound(kind.to_owned())
    } else if let Some(status) = event.strip_prefix("bind-refused=") {
        SessionEventKind::Refused(status.to_owned())
    } else if event == "closed" {
        SessionEventKind::Closed
    } else {
        return None;
    };
    let mut parsed = SessionEvent {
        at_ms,
        session,
        kind,
        system_id: String::new(),
        peer: None,
        binds: None,
    };
    for field in fields {
        match field.split_once('=') {
            Some(("system_id", v)) => parsed.system_id = v.to_owned(),
            Some(("peer", v)) => parsed.peer = v.parse().ok(),
            Some(("binds", v)) => parsed.binds = v.parse().ok(),
            _ => {}
        }
    }
    Some(parsed)
}

fn parse_logged_submit(line: &str) -> LoggedSubmit {
    let mut fields = line.split(' ');
    let mut next = || {
        fields
            .next()
            .unwrap_or_else(|| panic!("short line {line:?}"))
    };
    let at_ms = next().parse().unwrap();
    let session = next().parse().unwrap();
    let outcome = next().to_owned();
    let hex = next();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    LoggedSubmit {
        at_ms,
        session,
        outcome,
        pdu: Pdu::decode(&bytes::Bytes::from(bytes)).unwrap(),
    }
}

/// The in-process simulator's config for tests: a free port, receipts after 10 ms.
pub fn sim_config() -> SimulatorConfig {
    SimulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        receipt_delay: Duration::from_millis(10),
        ..SimulatorConfig::default()
    }
}

/// The simulator library serving [`sim_config`] changed by `tweak`, in this process.
pub async fn sim_in_process(tweak: impl FnOnce(&mut SimulatorConfig)) -> SimulatorHandle {
    let mut config = sim_config();
    tweak(&mut config);
    smppd::simulator::Simulator::start(config).await.unwrap()
}
