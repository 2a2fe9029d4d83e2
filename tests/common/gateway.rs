//! The gateway under test: the real `smppd serve` binary as a child process ([`Gateway`]), or
//! the library serving in this process ([`InProcess`]).

use super::process::{
    cpu_seconds, field, lines_of, printed_addr, proc_value, signal, stop_child, until_ready,
};
use smppd::app::App;
use smppd::config::Config;
use smppd::outbox::Outboxes;
use smppd::store::Store;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A running `smppd serve`, its config in `dir/smppd.toml`, its working directory `dir`
/// (removed on drop).
pub struct Gateway {
    child: Option<Child>,
    pub dir: PathBuf,
    pub addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    /// The admin API, unless `[admin] enabled = false`.
    pub admin: Option<SocketAddr>,
    /// The HTTP API (plain), when `[http_api]` listens.
    pub http: Option<SocketAddr>,
    /// When the process (the last one, after a restart) was spawned, and how long after that
    /// it printed "ready".
    pub spawned: Instant,
    pub ready_after: Duration,
    config_path: PathBuf,
    /// Its `RUST_LOG`.
    log_filter: String,
    /// stderr of the process so far (logs), collected by a thread; unless `echo`.
    logs: Arc<Mutex<String>>,
    /// The group commits it logged.
    commits: Arc<Mutex<Commits>>,
    /// The thread reading its stderr.
    log_reader: Option<JoinHandle<()>>,
    /// Its log lines go to this process's stderr (prefixed "smppd: ") instead of `logs`, and
    /// group commits are only counted.
    echo: bool,
    /// A command the gateway runs under (`start_wrapped`): program and arguments, then the
    /// smppd binary and its own arguments. Empty: smppd itself.
    wrapper: Vec<String>,
}

/// Group commits smppd logged (at debug, `smppd::store::commit`): how many, their operations,
/// their flush + fsync time.
#[derive(Default, Clone, Copy, Debug)]
pub struct Commits {
    pub count: u64,
    pub ops: u64,
    pub sync_us: u64,
    /// The longest flush + fsync since the last [`Gateway::take_max_sync_us`].
    pub max_sync_us: u64,
}

impl Commits {
    /// Counts the commit of a "store: group commit" log line.
    fn add(&mut self, line: &str) {
        self.count += 1;
        self.ops += field(line, "ops=");
        let sync_us = field(line, "sync_us=");
        self.sync_us += sync_us;
        self.max_sync_us = self.max_sync_us.max(sync_us);
    }

    /// Mean operations per commit, "-" without commits.
    pub fn mean_batch(&self) -> String {
        self.per_commit(|c| format!("{:.1}", c.ops as f64 / c.count as f64))
    }

    /// Mean flush + fsync time per commit in ms, "-" without commits.
    pub fn mean_sync_ms(&self) -> String {
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

impl Gateway {
    /// Writes `config_text` into `dir/smppd.toml` and starts the gateway on it.
    pub fn start(dir: &Path, config_text: &str) -> Self {
        Self::launch(dir, config_text, "smppd=debug", &[], false)
    }

    /// Like `start`, run as `WRAPPER... SMPPD serve --config FILE`: e.g. `unshare -m sh -c
    /// 'mount … && exec "$@"' sh`, where the script ends in `exec "$@"` so that the child's pid
    /// is smppd's. A wrapper that fails before smppd runs fails the start, with its stderr.
    pub fn start_wrapped(dir: &Path, config_text: &str, wrapper: &[&str]) -> Self {
        Self::launch(dir, config_text, "smppd=debug", wrapper, false)
    }

    /// Like [`Gateway::start`], logging at `filter` (`RUST_LOG`): under a load of many
    /// thousand messages, debug logs (lines per message, kept in memory) would slow it down.
    pub fn start_logging(dir: &Path, config_text: &str, filter: &str) -> Self {
        Self::launch(dir, config_text, filter, &[], false)
    }

    /// For benchmarks: logging at `filter` plus the store's group commits and checkpoints
    /// (one line per commit, not per message; counted in [`Gateway::commits`]); the other
    /// log lines go to this process's stderr, not kept.
    pub fn start_measured(dir: &Path, config_text: &str, filter: &str) -> Self {
        let filter = format!("{filter},smppd::store::commit=debug,smppd::store::checkpoint=debug");
        Self::launch(dir, config_text, &filter, &[], true)
    }

    fn launch(dir: &Path, config_text: &str, filter: &str, wrapper: &[&str], echo: bool) -> Self {
        let config_path = dir.join("smppd.toml");
        std::fs::write(&config_path, config_text).unwrap();
        let mut gateway = Self {
            child: None,
            dir: dir.to_path_buf(),
            addr: "127.0.0.1:0".parse().unwrap(),
            tls_addr: None,
            admin: None,
            http: None,
            spawned: Instant::now(),
            ready_after: Duration::ZERO,
            config_path,
            log_filter: filter.to_owned(),
            logs: Default::default(),
            commits: Default::default(),
            log_reader: None,
            echo,
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
        self.spawned = Instant::now();
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
        let (logs, commits, echo) = (self.logs.clone(), self.commits.clone(), self.echo);
        self.log_reader = Some(std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let commit = line.contains("store: group commit");
                if commit {
                    commits.lock().unwrap().add(&line);
                }
                if !echo {
                    let mut logs = logs.lock().unwrap();
                    logs.push_str(&line);
                    logs.push('\n');
                } else if !commit {
                    eprintln!("smppd: {line}");
                }
            }
        }));
        // The gateway prints its listening addresses on stdout once it serves.
        let stdout = lines_of(child.stdout.take().unwrap());
        self.child = Some(child);
        let lines = until_ready(&stdout, "smppd", Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("smppd did not start; logs:\n{}", self.logs()));
        self.ready_after = self.spawned.elapsed();
        if let Some(addr) = printed_addr(&lines, "smppd: listening on smpp://") {
            self.addr = addr;
        }
        if let Some(addr) = printed_addr(&lines, "smppd: listening on smpps://") {
            self.tls_addr = Some(addr);
        }
        if let Some(addr) = printed_addr(&lines, "smppd: admin on http://") {
            self.admin = Some(addr);
        }
        if let Some(addr) = printed_addr(&lines, "smppd: HTTP API on http://") {
            self.http = Some(addr);
        }
    }

    /// What the gateway logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The group commits it logged so far (complete once [`Gateway::stop`] returns).
    pub fn commits(&self) -> Commits {
        *self.commits.lock().unwrap()
    }

    /// The longest group commit flush + fsync since the last call.
    pub fn take_max_sync_us(&self) -> u64 {
        std::mem::take(&mut self.commits.lock().unwrap().max_sync_us)
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        signal(child.id(), "TERM");
        child.wait().unwrap()
    }

    /// SIGTERM, SIGKILL if it has not exited within 10 s (saying so), and the rest of its log
    /// read: for benchmarks, which read [`Gateway::commits`] after.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_child(child, "smppd", Duration::from_secs(10));
        }
        if let Some(reader) = self.log_reader.take() {
            let _ = reader.join();
        }
    }

    /// Starts again on the same config and store (the port may change); SIGKILL first if it
    /// still runs.
    /// Kills it and starts it again under `wrapper` (e.g. `faketime` with another time).
    pub fn restart_wrapped(&mut self, wrapper: &[&str]) {
        self.wrapper = wrapper.iter().map(|w| (*w).to_owned()).collect();
        self.restart();
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The exit status, once the process has exited on its own within `limit`; None if it is
    /// still running then.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            let child = self.child.as_mut()?;
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Rewrites its config file (for a reload).
    pub fn write_config(&self, text: &str) {
        std::fs::write(&self.config_path, text).unwrap();
    }

    /// SIGHUP: re-read the config file.
    pub fn hup(&self) {
        assert!(signal(self.pid(), "HUP"), "kill -HUP {}", self.pid());
    }

    /// SIGHUP, then waits (up to 10 s) for the gateway to log `outcome` once more than before.
    pub async fn hup_and_wait(&self, outcome: &str) {
        let before = self.logs().matches(outcome).count();
        self.hup();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.logs().matches(outcome).count() == before {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no `{outcome}` after SIGHUP; logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Rewrites the config file to `text`, sends SIGHUP and waits for `outcome` in the logs
    /// ("config reloaded", "reload refused").
    pub async fn reload(&self, text: &str, outcome: &str) {
        self.write_config(text);
        self.hup_and_wait(outcome).await;
    }

    /// Its peak resident set (VmHWM) in KiB; None once it has exited.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        proc_value(self.child.as_ref()?.id(), "status", "VmHWM:")
    }

    /// Its resident set now (VmRSS) in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        proc_value(self.child.as_ref()?.id(), "status", "VmRSS:")
    }

    /// write, writev, pwrite… calls so far (`syscw` of /proc/PID/io; send* not included).
    pub fn write_syscalls(&self) -> Option<u64> {
        proc_value(self.child.as_ref()?.id(), "io", "syscw:")
    }

    /// User + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(self.child.as_ref()?.id())
    }

    /// The admin API's base URL.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin.expect("the admin API is off"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
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
    /// The running configuration.
    pub live: smppd::live::Live,
    shutdown: CancellationToken,
}

impl InProcess {
    /// Parses `config_text` and serves it on the current runtime.
    pub async fn start(dir: &Path, config_text: &str) -> Self {
        let config = Config::parse(config_text).unwrap();
        let shutdown = CancellationToken::new();
        let app = App::start(config, &shutdown).await.unwrap();
        let (addr, outboxes, store) = (app.plain_addrs[0], app.outboxes.clone(), app.store.clone());
        let live = app.live.clone();
        tokio::spawn(app.serve(shutdown.clone()));
        Self {
            dir: dir.to_path_buf(),
            addr,
            outboxes,
            store,
            live,
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
