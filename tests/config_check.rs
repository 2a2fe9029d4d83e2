//! `smppd check --config FILE` as an operator runs it: the real binary, its output and exit
//! status.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `smppd check` exits with this when the config is invalid.
const EXIT_CONFIG: i32 = 64;

/// A fresh temp directory (removed on drop) to write config files into.
struct TempDir(tempfile::TempDir);

impl TempDir {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

fn check(config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smppd"))
        .arg("check")
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn good_config_exits_0_with_a_summary() {
    let dir = TempDir::new();
    let path = dir.file(
        "good.toml",
        "[server]\nlisten = [\"127.0.0.1:2775\", \"[::1]:2775\"]\n\
         [[clients]]\nsystem_id = \"shop\"\npassword = \"secret12\"\n\
         [[clients]]\nsystem_id = \"crm\"\npassword = \"crm-pass\"\n",
    );
    let out = check(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("config OK: 2 clients, listeners "),
        "{stdout}"
    );
    assert!(stdout.contains("127.0.0.1:2775, [::1]:2775"), "{stdout}");
    assert!(out.stderr.is_empty());
}

#[test]
fn a_cluster_section_is_checked_offline_and_summarised() {
    // `smppd check` never connects: a [cluster] is checked as text, servers unreached.
    let dir = TempDir::new();
    let good = dir.file(
        "cluster.toml",
        "[cluster]\nnode = \"b\"\nservers = [\"nats://nats.example.invalid:4222\"]\n\
         monitor = [\"http://nats.example.invalid:8222\"]\ndurability = \"quorum+fsync\"\n",
    );
    let out = check(&good);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .trim_end()
            .ends_with("; cluster node b (quorum+fsync)"),
        "{stdout}"
    );

    let bad = dir.file(
        "bad-cluster.toml",
        "[cluster]\nnode = \"b\"\nservers = [\"nats://u:p@nats.example.invalid:4222\"]\n\
         durability = \"quorum+fsync\"\n",
    );
    let out = check(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_CONFIG), "{stderr}");
    assert!(
        stderr.contains(": cluster.servers[0]: credentials in the URL"),
        "{stderr}"
    );
    assert!(
        stderr.contains(": cluster.monitor: required when durability = \"quorum+fsync\""),
        "{stderr}"
    );

    // `smppd cluster check` on a file without [cluster]: a config problem, said so.
    let single = dir.file("single.toml", "");
    let out = Command::new(env!("CARGO_BIN_EXE_smppd"))
        .args(["cluster", "check", "--config"])
        .arg(&single)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [cluster] section"));
}

#[test]
fn the_example_config_passes() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let out = check(&example);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("config OK: 1 client, listeners 127.0.0.1:2775"),
        "{stdout}"
    );
}

#[test]
fn bad_config_exits_64_naming_every_bad_key() {
    let dir = TempDir::new();
    let path = dir.file(
        "bad.toml",
        "[server]\nlisten = [\"127.0.0.1:2775\", \"nowhere\"]\n\
         [server.session]\nenquire_link_interval = \"0s\"\n\
         [[clients]]\nsystem_id = \"shop\"\npassword = \"much-too-long\"\nwindow = 5000\n\
         [[clients]]\nsystem_id = \"shop\"\npassword = \"p\"\nbind_types = []\n",
    );
    let out = check(&path);
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let keys = [
        "server.listen[1]",
        "server.session.enquire_link_interval",
        "clients[0].password",
        "clients[0].window",
        "clients[1].system_id",
        "clients[1].bind_types",
    ];
    assert_eq!(stderr.lines().count(), keys.len(), "{stderr}");
    for key in keys {
        // One problem per line: "FILE: KEY: REASON".
        let line = format!("{}: {key}: ", path.display());
        assert!(
            stderr.lines().any(|l| l.starts_with(&line)),
            "no {key:?} in:\n{stderr}"
        );
    }
    // The password itself never shows.
    assert!(!stderr.contains("much-too-long"), "{stderr}");
}

#[test]
fn unknown_key_exits_64_naming_it() {
    let dir = TempDir::new();
    let path = dir.file("typo.toml", "[server]\nmax_conections = 5\n");
    let out = check(&path);
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("server.max_conections: unknown key"),
        "{stderr}"
    );
    assert!(stderr.contains("line 2, column 1"), "{stderr}");
}

#[test]
fn missing_file_exits_64() {
    let dir = TempDir::new();
    let out = check(&dir.0.path().join("absent.toml"));
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("absent.toml: cannot read the file"),
        "{stderr}"
    );
}
