//! The systemd unit in `systemd/`: `systemd-analyze verify` finds nothing to complain about,
//! `systemd-analyze security` rates its sandbox well, `systemd-sysusers` accepts the user file,
//! and `smppd serve` speaks the `Type=notify` protocol the unit declares (READY=1 once serving,
//! STOPPING=1 on SIGTERM) over a real notify socket.
//!
//! The systemd tools come with the `systemd` package; when they are missing the test installs it
//! (as root, with apt-get) or fails saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{client, config, temp_dir};
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Makes sure `systemd-analyze` and `systemd-sysusers` exist, installing systemd if needed.
fn systemd_tools() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
        if have("systemd-analyze") && have("systemd-sysusers") {
            return;
        }
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        assert!(
            root,
            "systemd-analyze / systemd-sysusers are missing: install the `systemd` package \
             (apt-get install systemd) to run this test"
        );
        let apt = |args: &[&str]| {
            let status = Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .expect("apt-get");
            assert!(status.success(), "apt-get {args:?} failed");
        };
        apt(&["update"]);
        apt(&["install", "-y", "--no-install-recommends", "systemd"]);
    });
}

/// The unit as shipped, with the binary paths pointing at the binary under test (verify
/// checks that they exist), written into `dir`.
fn unit_under_test(dir: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(repo().join("systemd/smppd.service")).unwrap();
    let unit = unit.replace("/usr/local/bin/smppd", env!("CARGO_BIN_EXE_smppd"));
    let path = dir.join("smppd.service");
    std::fs::write(&path, unit).unwrap();
    path
}

fn run(cmd: &mut Command) -> Output {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_unit_verifies_cleanly() {
    systemd_tools();
    let dir = temp_dir("systemd-verify");
    let unit = unit_under_test(&dir);
    let output = run(Command::new("systemd-analyze").arg("verify").arg(&unit));
    // Warnings (unknown keys, bad values, missing executables) go to stderr without failing.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");

    let unit_text = std::fs::read_to_string(&unit).unwrap();
    for line in [
        "Type=notify",
        "User=smppd",
        "StateDirectory=smppd",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "SystemCallFilter=@system-service",
    ] {
        assert!(
            unit_text.lines().any(|l| l == line),
            "the unit lacks `{line}`"
        );
    }
}

#[test]
fn the_sandbox_rates_well() {
    systemd_tools();
    let dir = temp_dir("systemd-security");
    let unit = unit_under_test(&dir);
    let output = run(Command::new("systemd-analyze")
        .args(["security", "--no-pager", "--offline=true"])
        .arg(&unit));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let level = stdout
        .lines()
        .find_map(|l| l.split("Overall exposure level for smppd.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {stdout}"));
    // 0 is fully locked down, 10 unprotected; a network daemon cannot drop its sockets.
    assert!(level <= 2.0, "exposure {level}: {stdout}");
}

#[test]
fn the_sysusers_file_declares_the_user() {
    systemd_tools();
    let file = repo().join("systemd/smppd.sysusers");
    let output = run(Command::new("systemd-sysusers").arg("--dry-run").arg(&file));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("Failed") && !stderr.contains("ignoring"),
        "systemd-sysusers: {stderr}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.lines().any(|l| l.starts_with("u smppd ")), "{text}");
}

#[test]
fn serve_notifies_ready_and_stopping() {
    let dir = temp_dir("systemd-notify");
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let config_path = dir.join("smppd.toml");
    std::fs::write(
        &config_path,
        config(&dir, "", &client("shop", "secret1", "")),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_smppd"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());

    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("no READY=1 from smppd");
    let message = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(message.lines().any(|l| l == "READY=1"), "{message:?}");
    // Ready means serving: the listener is up by then.
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !line.contains("smppd: ready") {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "smppd exited");
        assert!(Instant::now() < deadline);
    }

    let pid = child.id().to_string();
    run(Command::new("kill").args(["-TERM", &pid]));
    let n = socket.recv(&mut buf).expect("no STOPPING=1 from smppd");
    let message = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(message.lines().any(|l| l == "STOPPING=1"), "{message:?}");
    assert!(child.wait().unwrap().success());
}
