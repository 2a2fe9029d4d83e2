//! Test harness: the real `smppd` binary on port 0 in a temp dir, and a raw SMPP client over a
//! real socket that speaks through `smpp-proto`.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use bytes::BytesMut;
use smpp_proto::frame::{split_frame, DEFAULT_MAX_PDU_LEN};
use smpp_proto::pdu::{Bind, ShortMessage, SubmitSm};
use smpp_proto::{Body, CommandId, CommandStatus, Pdu};
use smppd::app::App;
use smppd::config::Config;
use smppd::outbox::Outboxes;
use smppd::store::Store;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

pub mod peers;

/// A config with one plain listener on port 0, the store in `dir`, and `clients` appended
/// (TOML `[[clients]]` tables). The free-space guard is off: a test host's disk may be nearly
/// full, and tests of the guard set their own limit.
pub fn config(dir: &Path, session: &str, clients: &str) -> String {
    format!(
        r#"
[server]
system_id = "smppd-test"
listen = ["127.0.0.1:0"]

[server.session]
{session}

[store]
path = "{store}"
min_free_space = "off"

[admin]
listen = "127.0.0.1:0"

{clients}
"#,
        store = dir.join("store").display()
    )
}

/// A client account for `config`.
pub fn client(system_id: &str, password: &str, extra: &str) -> String {
    format!("[[clients]]\nsystem_id = \"{system_id}\"\npassword = \"{password}\"\n{extra}\n")
}

/// A running `smppd serve`.
pub struct Gateway {
    child: Option<Child>,
    pub dir: PathBuf,
    pub addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    /// The admin API, unless `[admin] enabled = false`.
    pub admin: Option<SocketAddr>,
    config_path: PathBuf,
    /// Its `RUST_LOG`.
    log_filter: String,
    /// stderr of the process so far (logs), collected by a thread.
    logs: Arc<std::sync::Mutex<String>>,
    /// A command the gateway runs under (`start_wrapped`): program and arguments, then the
    /// smppd binary and its own arguments. Empty: smppd itself.
    wrapper: Vec<String>,
}

/// A fresh, unique temp directory.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("smppd-test-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Gateway {
    /// Writes `config_text` into `dir/smppd.toml` and starts the gateway on it.
    pub fn start(dir: &Path, config_text: &str) -> Self {
        Self::launch(dir, config_text, "smppd=debug", &[])
    }

    /// Like `start`, run as `WRAPPER... SMPPD serve --config FILE`: e.g. `unshare -m sh -c
    /// 'mount … && exec "$@"' sh`, where the script ends in `exec "$@"` so that the child's pid
    /// is smppd's. A wrapper that fails before smppd runs fails the start, with its stderr.
    pub fn start_wrapped(dir: &Path, config_text: &str, wrapper: &[&str]) -> Self {
        Self::launch(dir, config_text, "smppd=debug", wrapper)
    }

    /// Like [`Gateway::start`], logging at `filter` (`RUST_LOG`): under a load of many
    /// thousand messages, debug logs (lines per message, kept in memory) would slow it down.
    pub fn start_logging(dir: &Path, config_text: &str, filter: &str) -> Self {
        Self::launch(dir, config_text, filter, &[])
    }

    fn launch(dir: &Path, config_text: &str, filter: &str, wrapper: &[&str]) -> Self {
        let config_path = dir.join("smppd.toml");
        std::fs::write(&config_path, config_text).unwrap();
        let mut gateway = Self {
            child: None,
            dir: dir.to_path_buf(),
            addr: "127.0.0.1:0".parse().unwrap(),
            tls_addr: None,
            admin: None,
            config_path,
            log_filter: filter.to_owned(),
            logs: Default::default(),
            wrapper: wrapper.iter().map(|w| (*w).to_owned()).collect(),
        };
        gateway.spawn();
        gateway
    }

    fn spawn(&mut self) {
        let smppd = env!("CARGO_BIN_EXE_smppd");
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(smppd);
                command
            }
            None => Command::new(smppd),
        };
        let mut child = command
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .current_dir(&self.dir)
            .env("RUST_LOG", &self.log_filter)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = self.logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut logs = logs.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        // The gateway prints its listening addresses on stdout once it serves.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.child = Some(child);
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("smppd did not start; logs:\n{}", self.logs()));
            if let Some(addr) = line.strip_prefix("smppd: listening on smpp://") {
                self.addr = addr.trim().parse().unwrap();
            } else if let Some(addr) = line.strip_prefix("smppd: listening on smpps://") {
                self.tls_addr = Some(addr.trim().parse().unwrap());
            } else if let Some(addr) = line.strip_prefix("smppd: admin on http://") {
                self.admin = Some(addr.trim().parse().unwrap());
            } else if line.starts_with("smppd: ready") {
                break;
            }
        }
    }

    /// What the gateway logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().unwrap()
    }

    /// Starts again on the same config and store (the port may change).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The exit status, once the process has exited on its own within `limit`; None if it is
    /// still running then.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let child = self.child.as_mut()?;
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The admin API's base URL.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin.expect("the admin API is off"))
    }
}

/// An admin API request (`body`, if any, is JSON) with an optional bearer token: the HTTP
/// status and the JSON answer (`Value::Null` if it was not JSON).
pub async fn api(
    admin: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let url = format!("http://{admin}{path}");
    let (method, token) = (method.to_owned(), token.map(str::to_owned));
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let auth = token.map(|t| format!("Bearer {t}"));
        let sent = match method.as_str() {
            "GET" => {
                let mut request = agent.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            "POST" => {
                let mut request = agent.post(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                match body {
                    Some(body) => request.send_json(body),
                    None => request.send_empty(),
                }
            }
            other => panic!("method {other}"),
        };
        let mut response = sent.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        (status, json)
    })
    .await
    .unwrap()
}

/// `GET /metrics`: the value of `sample`, written as the exporter writes it (the name, then
/// its labels in braces if it has any), if it is there.
pub async fn metric_sample(admin: SocketAddr, sample: &str) -> Option<f64> {
    let url = format!("http://{admin}/metrics");
    let text = tokio::task::spawn_blocking(move || {
        ureq::get(&url)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    })
    .await
    .unwrap();
    let prefix = format!("{sample} ");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map(|value| value.trim().parse().unwrap())
}

/// `GET path` that must answer 200; its JSON.
pub async fn get_ok(admin: SocketAddr, path: &str) -> serde_json::Value {
    let (status, json) = api(admin, "GET", path, None, None).await;
    assert_eq!(status, 200, "GET {path}: {json}");
    json
}

/// `POST path` that must answer 200; its JSON.
pub async fn post_ok(
    admin: SocketAddr,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let (status, json) = api(admin, "POST", path, None, body).await;
    assert_eq!(status, 200, "POST {path}: {json}");
    json
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `smppd simulate` (the carrier SMSC simulator) as a child process, with its submit
/// log (`--log-submits`) in a file the test reads.
pub struct Simulator {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// The `--log-submits` file.
    pub log: PathBuf,
    args: Vec<String>,
    /// The stdout lines after "ready" (the stats line at SIGTERM).
    stdout: Arc<std::sync::Mutex<Vec<String>>>,
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

impl Simulator {
    /// `smppd simulate` on a free port with `args`, logging submits to `dir/NAME.log`.
    pub fn start(dir: &Path, name: &str, args: &[&str]) -> Self {
        Self::start_on(dir, name, "127.0.0.1:0".parse().unwrap(), args)
    }

    /// Like `start`, on `addr`; while the port is not free yet, tries again for up to 5 s.
    pub fn start_on(dir: &Path, name: &str, addr: SocketAddr, args: &[&str]) -> Self {
        let mut sim = Self {
            child: None,
            addr,
            log: dir.join(format!("{name}.log")),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            stdout: Default::default(),
        };
        sim.spawn();
        sim
    }

    /// A port that was free a moment ago (for a simulator that must come back on it).
    pub fn reserve_port() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }

    fn spawn(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match self.try_spawn() {
                Ok(()) => return,
                Err(why) if std::time::Instant::now() < deadline => {
                    eprintln!("simulator on {}: {why}; trying again", self.addr);
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(why) => panic!("simulator on {} did not start: {why}", self.addr),
            }
        }
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smppd"))
            .arg("simulate")
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--log-submits")
            .arg(&self.log)
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let errors = Arc::new(std::sync::Mutex::new(String::new()));
        let errors_in = errors.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[simulator] {line}");
                errors_in.lock().unwrap().push_str(&line);
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let after_ready = self.stdout.clone();
        std::thread::spawn(move || {
            let mut ready = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if ready {
                    after_ready.lock().unwrap().push(line);
                    continue;
                }
                ready = line == "smppd-simulate: ready";
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("smppd-simulate: listening on smpp://") {
                        self.addr = addr.trim().parse().unwrap();
                    } else if line == "smppd-simulate: ready" {
                        self.child = Some(child);
                        return Ok(());
                    }
                }
                Err(_) => {
                    // Exited before "ready" (the port is taken), or hangs: either way, gone.
                    let _ = child.kill();
                    let status = child.wait().unwrap();
                    std::thread::sleep(Duration::from_millis(20));
                    return Err(format!("{status}: {}", errors.lock().unwrap()));
                }
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
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let status = child.wait().unwrap();
        assert!(status.success(), "simulator exit: {status:?}");
        // The stdout thread may still hold the last line for a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let stats = self.stdout.lock().unwrap().iter().find_map(|line| {
                line.strip_prefix("smppd-simulate: stats ")
                    .map(str::to_owned)
            });
            if let Some(stats) = stats {
                return stats;
            }
            assert!(std::time::Instant::now() < deadline, "no stats line");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every submit the simulator logged so far (over all its runs), in order.
    pub fn submits(&self) -> Vec<LoggedSubmit> {
        read_submit_log(&self.log)
    }
}

/// Every submit in a simulator's `--log-submits` file (`log_submits` in process), in order.
pub fn read_submit_log(path: &Path) -> Vec<LoggedSubmit> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A line still being written has no newline yet.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete.lines().map(parse_logged_submit).collect()
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

impl Drop for Simulator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The gateway started in this process through the library, for tests that need its handles
/// (outbox pushes, the store). Stops serving and removes its directory on drop.
pub struct InProcess {
    pub dir: PathBuf,
    pub addr: SocketAddr,
    /// The clients' outboxes, cloned before `serve` took the app.
    pub outboxes: Arc<Outboxes>,
    pub store: Store,
    shutdown: CancellationToken,
}

impl InProcess {
    /// Parses `config_text` and serves it on the current runtime.
    pub async fn start(dir: &Path, config_text: &str) -> Self {
        let config = Config::parse(config_text).unwrap();
        let shutdown = CancellationToken::new();
        let app = App::start(config, &shutdown).await.unwrap();
        let (addr, outboxes, store) = (app.plain_addrs[0], app.outboxes.clone(), app.store.clone());
        tokio::spawn(app.serve(shutdown.clone()));
        Self {
            dir: dir.to_path_buf(),
            addr,
            outboxes,
            store,
            shutdown,
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `condition` until it holds; panics with `what` if it does not within `limit`.
pub async fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A PDU as raw bytes: the header (`command_length` computed), then `body` as given. For what
/// the codec will not encode: unknown commands, overlong fields.
pub fn raw_pdu(command_id: u32, sequence_number: u32, body: &[u8]) -> Vec<u8> {
    let length = u32::try_from(16 + body.len()).unwrap();
    let mut bytes = Vec::with_capacity(16 + body.len());
    for word in [length, command_id, 0, sequence_number] {
        bytes.extend_from_slice(&word.to_be_bytes());
    }
    bytes.extend_from_slice(body);
    bytes
}

/// The message_id of a submit_sm_resp, data_sm_resp or submit_multi_resp.
pub fn message_id(pdu: &Pdu) -> String {
    match &pdu.body {
        Body::SubmitSmResp(r) | Body::DataSmResp(r) => r.message_id.to_string(),
        Body::SubmitMultiResp(r) => r.message_id.to_string(),
        _ => panic!("no message_id in {pdu:?}"),
    }
}

/// A raw SMPP peer over any stream.
pub struct Client<S = TcpStream> {
    pub stream: S,
    buf: BytesMut,
    seq: u32,
    /// deliver_sm that arrived (and were answered) while `request` waited for a response.
    delivered: std::collections::VecDeque<Pdu>,
}

impl Client<TcpStream> {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Self::over(stream)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn over(stream: S) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
            seq: 0,
            delivered: Default::default(),
        }
    }

    /// Sends a request with the next sequence number; returns it.
    pub async fn send(&mut self, body: Body) -> u32 {
        self.seq += 1;
        self.send_pdu(&Pdu::new(self.seq, body)).await;
        self.seq
    }

    pub async fn send_pdu(&mut self, pdu: &Pdu) {
        self.stream.write_all(&pdu.to_bytes()).await.unwrap();
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next PDU, or None if the connection closed. Panics after 10 s.
    pub async fn recv(&mut self) -> Option<Pdu> {
        self.recv_within(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no PDU within 10 s"))
    }

    /// Some(next PDU or None on close), or None if nothing came within `limit`.
    pub async fn recv_within(&mut self, limit: Duration) -> Option<Option<Pdu>> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(frame) = split_frame(&mut self.buf, DEFAULT_MAX_PDU_LEN).unwrap() {
                return Some(Some(Pdu::decode(&frame).unwrap()));
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return Some(None),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Asserts that the gateway closes the connection (within 10 s) without sending anything.
    pub async fn expect_closed(&mut self) {
        if let Some(pdu) = self.recv().await {
            panic!("expected the connection to close, got {pdu:?}");
        }
    }

    /// Asserts that no PDU arrives within `limit` (and the connection stays open).
    pub async fn expect_silence(&mut self, limit: Duration) {
        match self.recv_within(limit).await {
            None => {}
            Some(Some(pdu)) => panic!("expected nothing for {limit:?}, got {pdu:?}"),
            Some(None) => panic!("expected nothing for {limit:?}, the connection closed"),
        }
    }

    /// Sends a request and returns its response, answering (and skipping) anything else.
    pub async fn request(&mut self, body: Body) -> Pdu {
        let seq = self.send(body).await;
        loop {
            let pdu = self.recv().await.expect("connection closed");
            if pdu.sequence_number == seq && pdu.command_id().is_response() {
                return pdu;
            }
            self.answer(&pdu).await;
            if pdu.command_id() == CommandId::DeliverSm {
                self.delivered.push_back(pdu);
            }
        }
    }

    /// Answers a request from the gateway (deliver_sm, enquire_link) with status OK.
    pub async fn answer(&mut self, pdu: &Pdu) {
        if let Some(resp) = pdu.response_with_status(CommandStatus::ESME_ROK) {
            if !pdu.command_id().is_response() {
                self.send_pdu(&resp).await;
            }
        }
    }

    pub async fn bind(&mut self, kind: CommandId, system_id: &str, password: &str) -> Pdu {
        let bind = Bind {
            system_id: system_id.try_into().unwrap(),
            password: password.try_into().unwrap(),
            interface_version: 0x34,
            ..Bind::default()
        };
        let body = match kind {
            CommandId::BindTransmitter => Body::BindTransmitter(bind),
            CommandId::BindReceiver => Body::BindReceiver(bind),
            _ => Body::BindTransceiver(bind),
        };
        self.request(body).await
    }

    /// Binds and asserts success.
    pub async fn bind_ok(&mut self, kind: CommandId, system_id: &str, password: &str) {
        let resp = self.bind(kind, system_id, password).await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
    }
}

/// A plain submit_sm from "Shop" to `to`, asking for a receipt.
pub fn submit(to: &str, text: &str) -> Body {
    Body::SubmitSm(SubmitSm {
        source_addr_ton: 5,
        source_addr: "Shop".try_into().unwrap(),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: to.try_into().unwrap(),
        registered_delivery: 1,
        short_message: ShortMessage::new(text.as_bytes().to_vec()).unwrap(),
        ..SubmitSm::default()
    })
}

/// A `[[carriers]]` table for a simulator on `port` that reconnects and retries quickly, with
/// `extra` keys (which replace those timers when they name them).
pub fn carrier(name: &str, port: u16, extra: &str) -> String {
    let timers: String = [
        "reconnect_min = \"50ms\"",
        "reconnect_max = \"200ms\"",
        "retry_min = \"100ms\"",
        "retry_max = \"500ms\"",
        "response_timeout = \"1s\"",
    ]
    .iter()
    .filter(|line| {
        let key = line.split(' ').next().unwrap();
        !extra.lines().any(|l| l.split(' ').next() == Some(key))
    })
    .map(|line| format!("{line}\n"))
    .collect();
    format!(
        r#"
[[carriers]]
name = "{name}"
host = "127.0.0.1"
port = {port}
system_id = "smppd"
password = "secret"
{timers}{extra}
"#
    )
}

/// A gateway config with client `shop` (password `secret1`), `carriers` (tables from
/// [`carrier`]), one route `default` over `route_carriers` with `route_extra` keys, and the
/// admin API on a free port with `admin_extra` keys; the free-space guard off, as in [`config`].
pub fn routed_config(
    dir: &Path,
    carriers: &[String],
    route_carriers: &[&str],
    route_extra: &str,
    admin_extra: &str,
) -> String {
    let names: Vec<String> = route_carriers.iter().map(|c| format!("{c:?}")).collect();
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]

[store]
path = "{store}"
min_free_space = "off"

[admin]
listen = "127.0.0.1:0"
{admin_extra}

[[clients]]
system_id = "shop"
password = "secret1"
window = 100

{carriers}

[[routes]]
name = "default"
carriers = [{names}]
{route_extra}
"#,
        store = dir.join("store").display(),
        carriers = carriers.concat(),
        names = names.join(", "),
    )
}

/// Waits (up to 10 s) until the admin API shows carrier link `name` up.
pub async fn wait_link_up(admin: SocketAddr, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let link = get_ok(admin, &format!("/api/links/{name}")).await;
        if link["state"] == "up" {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "link {name} not up: {link}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Submits `body` and returns the gateway's message id (the submit must be accepted).
    pub async fn submit_ok(&mut self, body: Body) -> String {
        let resp = self.request(body).await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        message_id(&resp)
    }

    /// The next delivery receipt (answered): its receipted_message_id and its `stat:` word.
    pub async fn next_receipt(&mut self) -> (String, String) {
        self.next_receipt_within(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no receipt within 10 s"))
    }

    /// Like [`Client::next_receipt`], or `None` if none came within `limit` (other PDUs that
    /// came meanwhile are answered). Panics if the connection closes.
    pub async fn next_receipt_within(&mut self, limit: Duration) -> Option<(String, String)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let pdu = match self.delivered.pop_front() {
                Some(pdu) => pdu,
                None => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    let pdu = self.recv_within(left).await?.expect("connection closed");
                    self.answer(&pdu).await;
                    pdu
                }
            };
            if let Body::DeliverSm(sm) = &pdu.body {
                let id = sm.tlvs.receipted_message_id().unwrap().to_owned();
                let text = smpp_proto::receipt::parse_bytes(sm.short_message.as_bytes()).unwrap();
                return Some((id, text.stat.unwrap_or_default()));
            }
        }
    }
}
